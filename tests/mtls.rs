//! Origin mTLS end to end: servers that ask for the CDN's client certificate and refuse it in the
//! handshake (an alert), right after it (a close), or in their answer (nginx's 400 pages), on
//! nginx, OpenSSL and Go; and the lab's nginx origin itself.

mod lab;

use std::path::Path;

use lab::nginx::{NginxConfig, NginxOrigin, VerifyClient};
use lab::tls::{Files, GoOrigin, LeafSpec, OpenSslOrigin, Pki};
use lab::{check_output, Exporter, Scrape};

/// Exactly these causes are active, and readiness follows from their severity.
#[track_caller]
fn assert_causes(s: &Scrape, origin: &str, causes: &[&str], ready: bool) {
    assert_eq!(s.active_causes(origin), causes, "causes of {origin}");
    s.assert_value(
        "origin_cdn_ready",
        &[("origin", origin)],
        f64::from(u8::from(ready)),
    );
}

/// An origin on 127.0.0.1 with `checks` and `extra` settings.
fn origin(name: &str, port: u16, checks: &str, extra: &str) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, protocol_policy: https-only, checks: [{checks}], http: {{path: /}}{extra}}}\n"
    )
}

/// `client_certificate:` settings for a PEM certificate (with its chain) and key.
fn client(cert: &Path, key: &Path) -> String {
    format!(
        ", client_certificate: {{cert_file: '{}', key_file: '{}'}}",
        cert.display(),
        key.display()
    )
}

/// Servers refuse the CDN's client certificate in the handshake (an alert: OpenSSL, Go), right
/// after it (nginx closing the connection unanswered), or in their answer (nginx's 400 pages):
/// each is `tls_client_certificate_rejected`, its evidence says which, with the status and the
/// server's words. With the TLS check off, nginx's answer is `http_error_status` saying the
/// origin refused the certificate. An ordinary 403 stays an expected status.
#[tokio::test]
async fn refusals_of_the_client_certificate_in_and_after_the_handshake() {
    let pki = Pki::new();
    let files = Files::new();
    let root = files.write("root.pem", &pki.root.pem);
    let good = pki.leaf(&LeafSpec::new(&["cdn-client.lab.test"]), Some(&pki.inter));
    let bad = pki.leaf(
        &LeafSpec::new(&["cdn-client.lab.test"]),
        Some(&pki.stranger),
    );
    let good = client(
        &files.write("good.pem", &format!("{}{}", good.pem, pki.inter.pem)),
        &files.write("good.key", &good.key_pem),
    );
    let bad = client(
        &files.write("bad.pem", &bad.pem),
        &files.write("bad.key", &bad.key_pem),
    );
    let serving = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| format!("{n}.lab.test")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        pki.leaf(&LeafSpec::new(&names).rsa(), Some(&pki.inter))
    };
    let ca = || pki.root.pem.clone();
    // nginx `ssl_verify_client on`: every handshake finishes, the answer is the 400 page.
    let on_leaf = serving(&["ngxgood", "ngxbad", "ngxnone", "ngxhttpbad", "ngxhttpnone"]);
    let nginx_on = NginxOrigin::start(
        &NginxConfig::tls(&pki, &on_leaf).verify_client(VerifyClient::On { ca_pem: ca() }),
    )
    .await;
    // The same, answering an ordinary 403 to a trusted certificate.
    let forbidden_leaf = serving(&["ngx403"]);
    let nginx_403 = NginxOrigin::start(
        &NginxConfig::tls(&pki, &forbidden_leaf)
            .verify_client(VerifyClient::On { ca_pem: ca() })
            .answer(403, "forbidden\n"),
    )
    .await;
    // `optional_no_ca`, closing the connection unanswered (444) unless the certificate verifies.
    let close_leaf = serving(&["ngxclose"]);
    let nginx_close = NginxOrigin::start(
        &NginxConfig::tls(&pki, &close_leaf)
            .verify_client(VerifyClient::OptionalNoCa { ca_pem: ca() })
            .directive("if ($ssl_client_verify != SUCCESS) { return 444; }"),
    )
    .await;
    let root = root.to_str().expect("path");
    let openssl = OpenSslOrigin::start(
        &pki,
        &serving(&["ossl"]),
        &[
            "-tls1_2",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            root,
        ],
    )
    .await;
    let go = GoOrigin::start(
        &pki,
        &serving(&["go"]),
        &["-client-auth", "verify", "-client-ca", root],
    )
    .await;
    let all = "tcp, tls, http";
    let config = format!(
        "global: {{interval: 2s, timeout: 2s, ca_file: '{}'}}\norigins:\n{}",
        pki.ca_file.display(),
        [
            origin("ngxgood", nginx_on.port(), all, &good),
            origin("ngxbad", nginx_on.port(), all, &bad),
            origin("ngxnone", nginx_on.port(), all, ""),
            origin("ngxhttpbad", nginx_on.port(), "tcp, http", &bad),
            origin("ngxhttpnone", nginx_on.port(), "tcp, http", ""),
            origin("ngx403", nginx_403.port(), all, &good),
            origin("ngxclose", nginx_close.port(), all, &bad),
            origin("ngxclosegood", nginx_close.port(), all, &good),
            origin("ossl", openssl.port(), all, &bad),
            origin("go", go.port(), all, &bad),
        ]
        .concat()
    );
    // ngxclosegood's domain is not on the certificate: only the close matters here.
    let config = config.replace("domain: ngxclosegood.lab.test", "domain: ngxclose.lab.test");
    let exporter = Exporter::start(&config).await;
    let names = [
        "ngxgood",
        "ngxbad",
        "ngxnone",
        "ngxhttpbad",
        "ngxhttpnone",
        "ngx403",
        "ngxclose",
        "ngxclosegood",
        "ossl",
        "go",
    ];
    let s = exporter.wait_cycle(&names).await;
    exporter.stop().await;

    // The metrics.
    for o in ["ngxgood", "ngxclosegood"] {
        assert_causes(&s, o, &[], true);
        s.assert_value("origin_http_status_code", &[("origin", o)], 200.0);
    }
    for o in ["ngxbad", "ngxclose", "ossl", "go"] {
        assert_causes(&s, o, &["tls_client_certificate_rejected"], false);
    }
    assert_causes(&s, "ngxnone", &["tls_client_certificate_required"], false);
    for o in ["ngxhttpbad", "ngxhttpnone"] {
        assert_causes(&s, o, &["http_error_status"], false);
        s.assert_value("origin_http_status_code", &[("origin", o)], 400.0);
    }
    assert_causes(&s, "ngx403", &[], true);
    s.assert_value("origin_http_status_code", &[("origin", "ngx403")], 403.0);

    // The evidence: which kind of refusal, with the status and the server's words.
    let evidence = [
        ("ngxbad", "answered the request 400 \"The SSL certificate error\" (nginx"),
        ("ngxclose", "closed the connection right after the handshake, before any answer"),
        ("ossl", "origin sent alert 48 (unknown_ca)"),
        ("go", "origin sent alert 42 (bad_certificate)"),
        (
            "ngxhttpbad",
            "the origin refused the client certificate: 400 \"The SSL certificate error\"",
        ),
        (
            "ngxhttpnone",
            "the origin refused the client certificate: 400 \"No required SSL certificate was sent\"",
        ),
    ];
    for (o, words) in evidence {
        let out = check_output(&config, o).await;
        assert!(out.contains(words), "{o}: {words:?} in\n{out}");
    }
    let out = check_output(&config, "ngx403").await;
    assert!(!out.contains("refused"), "{out}");
}

/// The lab's nginx answers what its config says, and a reload changes the answer for every new
/// connection once `reconfigure` returns.
#[tokio::test]
async fn the_lab_nginx_answers_and_reloads() {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["nginx.lab.test"]), Some(&pki.inter));
    let mut nginx = NginxOrigin::start(&NginxConfig::tls(&pki, &leaf)).await;
    let config = format!(
        "global: {{interval: 2s, timeout: 2s, ca_file: '{}'}}\norigins:\n  - {{name: nginx, domain: nginx.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls, http], http: {{path: /}}}}\n",
        pki.ca_file.display(),
        nginx.port()
    );
    let exporter = Exporter::start(&config).await;
    let status = |s: &lab::Scrape| s.value("origin_http_status_code", &[("origin", "nginx")]);
    let s = exporter
        .wait_for("nginx answers 200", |s| status(s) == Some(200.0))
        .await;
    assert_eq!(s.active_causes("nginx"), Vec::<String>::new());
    nginx
        .reconfigure(&NginxConfig::tls(&pki, &leaf).answer(503, "down\n"))
        .await;
    // Every cycle that starts now meets the new config.
    exporter.wait_cycle(&["nginx"]).await;
    let s = exporter.wait_cycle(&["nginx"]).await;
    assert_eq!(status(&s), Some(503.0), "{}", nginx.logs());
    // The reload also closed the idle connection a keep-alive watch held: that watch saw an
    // early close (http_keepalive_race) until a watch of the new workers ends.
    exporter
        .wait_for("http_error_status alone", |s| {
            s.active_causes("nginx") == ["http_error_status"]
        })
        .await;
    exporter.stop().await;
}
