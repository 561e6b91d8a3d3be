//! `--web.config.file`: TLS, client certificates and basic auth on every endpoint, with real
//! TLS clients.

mod lab;

use std::time::Duration;

use lab::tcp::OpenPort;
use lab::webpki::{basic, https_get, https_request, WebPki};
use lab::Exporter;

const ENDPOINTS: [&str; 5] = ["/metrics", "/", "/-/healthy", "/-/ready", "/probe?origin=a"];

fn config(port: u16) -> String {
    format!(
        "global: {{interval: 1s, timeout: 500ms}}\norigins:\n  - {{name: a, domain: a.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp]}}\n"
    )
}

#[tokio::test]
async fn tls_and_basic_auth_guard_every_endpoint() {
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = pki.web_config(&format!(
        "tls_server_config: {{cert_file: server.crt, key_file: server.key, min_version: TLS12}}
basic_auth_users: {{prometheus: '{hash}'}}
http_server_config: {{headers: {{X-Frame-Options: deny}}}}
"
    ));
    let exporter = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .unwrap();
    let client = pki.client(None);
    let good = basic("prometheus", "s3cret");

    for path in ENDPOINTS {
        let (status, body) = https_get(exporter.addr, client.clone(), path, Some(&good))
            .await
            .unwrap();
        assert!(
            status == 200 || (path == "/-/ready" && status == 503),
            "{path}: {status} {body}"
        );
        let (status, _) = https_get(exporter.addr, client.clone(), path, None)
            .await
            .unwrap();
        assert_eq!(status, 401, "{path} without credentials");
        let (status, _) = https_get(
            exporter.addr,
            client.clone(),
            path,
            Some(&basic("prometheus", "wrong")),
        )
        .await
        .unwrap();
        assert_eq!(status, 401, "{path} with a wrong password");
        let (status, _) = https_get(
            exporter.addr,
            client.clone(),
            path,
            Some(&basic("intruder", "s3cret")),
        )
        .await
        .unwrap();
        assert_eq!(status, 401, "{path} with an unknown user");
    }
    let (status, _) = https_get(
        exporter.addr,
        client.clone(),
        "/-/reload",
        Some(&basic("x", "y")),
    )
    .await
    .unwrap();
    assert_eq!(status, 401);

    // Plain HTTP to the TLS port gets no answer from the endpoints.
    let plain = tokio::time::timeout(Duration::from_secs(5), async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
        client
            .get(format!("http://{}/metrics", exporter.addr).parse().unwrap())
            .await
    })
    .await;
    assert!(
        !matches!(plain, Ok(Ok(ref r)) if r.status() == 200),
        "plain HTTP was served"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn client_certificates_are_required_and_verified() {
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    let web = pki.web_config(
        "tls_server_config: {cert_file: server.crt, key_file: server.key, client_auth_type: RequireAndVerifyClientCert, client_ca_file: ca.pem}\n",
    );
    let exporter = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .unwrap();

    let trusted = pki.client(Some((&pki.client_crt, &pki.client_key)));
    let (status, body) = https_get(exporter.addr, trusted, "/metrics", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("origin_exporter_build_info"));

    assert!(
        https_get(exporter.addr, pki.client(None), "/metrics", None)
            .await
            .is_err(),
        "no client certificate accepted"
    );
    let stranger = pki.client(Some((&pki.stranger_crt, &pki.stranger_key)));
    assert!(
        https_get(exporter.addr, stranger, "/metrics", None)
            .await
            .is_err(),
        "untrusted client certificate accepted"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn a_bad_web_config_is_a_clear_startup_error() {
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    let web = pki.web_config("tls_server_config: {cert_file: server.crt, key_file: missing.key}\n");
    let err = Exporter::start_with_web(&config(open.port()), Some(web.clone()))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.starts_with(&web.display().to_string()), "{text}");
    assert!(
        text.contains("tls_server_config.key_file") && text.contains("missing.key"),
        "{text}"
    );

    let web = pki.web_config("basic_auth_users: {alice: hunter2}\n");
    let text = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        text.contains("basic_auth_users.alice: not a bcrypt hash"),
        "{text}"
    );
}

#[tokio::test]
async fn the_web_config_is_reread_on_reload_and_a_bad_one_is_kept_out() {
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    let old = bcrypt::hash("old", 4).unwrap();
    let new = bcrypt::hash("new", 4).unwrap();
    let tls = "tls_server_config: {cert_file: server.crt, key_file: server.key}\n";
    let web = pki.web_config(&format!("{tls}basic_auth_users: {{p: '{old}'}}\n"));
    let exporter = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .unwrap();
    let client = pki.client(None);
    let get = |auth: String| {
        let client = client.clone();
        let addr = exporter.addr;
        async move {
            https_get(addr, client, "/-/healthy", Some(&auth))
                .await
                .unwrap()
                .0
        }
    };
    assert_eq!(get(basic("p", "old")).await, 200);

    pki.web_config(&format!("{tls}basic_auth_users: {{p: '{new}'}}\n"));
    let (status, body) = https_request(
        exporter.addr,
        client.clone(),
        "POST",
        "/-/reload",
        Some(&basic("p", "old")),
    )
    .await
    .unwrap();
    // The request was authorised by the old config; the reload then switched to the new one.
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(basic("p", "new")).await, 200);
    assert_eq!(get(basic("p", "old")).await, 401);

    pki.web_config(&format!("{tls}basic_auth_users: {{p: not-a-hash}}\n"));
    let (status, body) = https_request(
        exporter.addr,
        client.clone(),
        "POST",
        "/-/reload",
        Some(&basic("p", "new")),
    )
    .await
    .unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("not a bcrypt hash"), "{body}");
    assert_eq!(
        get(basic("p", "new")).await,
        200,
        "the running web config must stay"
    );
    let (_, metrics) = https_get(
        exporter.addr,
        client.clone(),
        "/metrics",
        Some(&basic("p", "new")),
    )
    .await
    .unwrap();
    let s = lab::Scrape::parse(&metrics);
    s.assert_value(
        "origin_exporter_web_config_last_reload_successful",
        &[],
        0.0,
    );
    exporter.stop().await;
}

/// A stream of logins with new wrong passwords (each a bcrypt, 50-100 ms of a CPU) does not
/// stall the scraper, whose login is remembered: its scrape is answered while the flood is
/// still being verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_floods_do_not_stall_the_scraper() {
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    // The cost Prometheus's own docs suggest for web config hashes.
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    let web = pki.web_config(&format!("basic_auth_users: {{prometheus: '{hash}'}}\n"));
    let exporter = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .unwrap();
    let good = basic("prometheus", "s3cret");
    let scrape = |auth: String| {
        let addr = exporter.addr;
        async move {
            lab::http_raw(addr, "GET", "/metrics", &[("authorization", &auth)])
                .await
                .0
        }
    };
    // The scraper has logged in once; a remembered login's scrape is the baseline.
    assert_eq!(scrape(good.clone()).await, 200);
    let at = std::time::Instant::now();
    assert_eq!(scrape(good.clone()).await, 200);
    let bound = (at.elapsed() * 10).max(Duration::from_secs(2));

    const FLOOD: usize = 200;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (done, addr) = (std::sync::Arc::clone(&done), exporter.addr);
            tokio::spawn(async move {
                let auth = basic("prometheus", &format!("guess-{i}"));
                let status = lab::http_raw(addr, "GET", "/metrics", &[("authorization", &auth)])
                    .await
                    .0;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                status
            })
        })
        .collect();
    // The flood is being verified: a few of its logins have been answered already.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while done.load(std::sync::atomic::Ordering::SeqCst) < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the flood was never answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    assert_eq!(scrape(good.clone()).await, 200);
    let took = started.elapsed();
    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        finished < FLOOD,
        "the flood was over before the scrape was answered ({took:?})"
    );
    assert!(
        took < bound,
        "the scrape took {took:?} under the flood (bound {bound:?})"
    );
    for status in futures_util::future::join_all(flood).await {
        // Refused, or told to come back while the verification queue is full.
        assert!(matches!(status.unwrap(), 401 | 503));
    }
    exporter.stop().await;
}
