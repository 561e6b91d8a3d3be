//! The HTTP check, `/probe`, and the landing page, end to end on loopback.

mod lab;

use std::time::Duration;

use lab::http::HttpOrigin;
use lab::Exporter;

const FAST: Duration = Duration::ZERO;

fn http_only(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  - {{name: {name}, domain: origin.{name}.lab.test, address: 127.0.0.1, protocol_policy: http-only, http_port: {port}, checks: [tcp, http]{extra}}}\n"
    )
}

fn config(global: &str, origins: &[String]) -> String {
    format!(
        "global: {{interval: 1s, timeout: 1s{global}}}\norigins:\n{}",
        origins.concat()
    )
}

#[tokio::test]
async fn status_host_forwarding_and_errors() {
    let ok = HttpOrigin::plain(200, FAST).await;
    let failing = HttpOrigin::plain(503, FAST).await;
    let missing = HttpOrigin::plain(404, FAST).await;
    let strict = HttpOrigin::plain(404, FAST).await;
    let exporter = Exporter::start(&config(
        "",
        &[
            http_only(
                "ok",
                ok.port(),
                ", host_header: www.ok.lab.test, http: {path: /health, method: HEAD}",
            ),
            http_only("failing", failing.port(), ", http: {}"),
            http_only("missing", missing.port(), ", http: {}"),
            http_only(
                "strict",
                strict.port(),
                ", http: {expect_status: [200, 3xx]}",
            ),
        ],
    ))
    .await;
    let s = exporter
        .wait_cycle(&["ok", "failing", "missing", "strict"])
        .await;

    // The request the CDN sends: method, path, and the forwarded Host.
    let seen = ok.seen();
    assert_eq!(seen[0].request_line, "HEAD /health HTTP/1.1");
    assert_eq!(seen[0].host.as_deref(), Some("www.ok.lab.test"));
    assert_eq!(
        failing.seen()[0].host.as_deref(),
        Some("origin.failing.lab.test")
    );

    for (origin, status, ready) in [
        ("ok", 200.0, 1.0),
        ("failing", 503.0, 0.0),
        ("missing", 404.0, 1.0),
        ("strict", 404.0, 0.0),
    ] {
        s.assert_value("origin_http_status_code", &[("origin", origin)], status);
        s.assert_value("origin_cdn_ready", &[("origin", origin)], ready);
        s.assert_value(
            "origin_probe_success",
            &[("origin", origin), ("check", "http")],
            ready,
        );
        s.assert_value(
            "origin_problem",
            &[
                ("origin", origin),
                ("cause", "http_error_status"),
                ("severity", "critical"),
            ],
            1.0 - ready,
        );
        s.assert_value(
            "origin_problem",
            &[("origin", origin), ("cause", "http_timeout")],
            0.0,
        );
        assert!(s
            .value("origin_http_duration_seconds", &[("origin", origin)])
            .is_some());
    }
    exporter.stop().await;
}

#[tokio::test]
async fn headers_after_the_read_timeout_are_http_timeout() {
    let slow = HttpOrigin::plain(200, Duration::from_secs(5)).await;
    let exporter = Exporter::start(&config(
        ", interval: 3s",
        &[http_only(
            "slow",
            slow.port(),
            ", read_timeout: 500ms, http: {}",
        )],
    ))
    .await;
    let s = exporter.wait_cycle(&["slow"]).await;
    assert_eq!(s.active_causes("slow"), ["http_timeout"]);
    s.assert_value("origin_cdn_ready", &[("origin", "slow")], 0.0);
    assert!(s
        .value("origin_http_status_code", &[("origin", "slow")])
        .is_none());
    let took = s
        .value(
            "origin_probe_duration_seconds",
            &[("origin", "slow"), ("check", "http")],
        )
        .unwrap();
    assert!(
        took < 2.0,
        "the read timeout of 0.5s was not applied: {took}s"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn https_request_uses_the_cdn_sni_and_is_not_blocked_by_the_certificate() {
    // Self-signed for another name: the TLS check reports that; the HTTP check still answers.
    let origin = HttpOrigin::tls(200, FAST, &["elsewhere.lab.test"]).await;
    let exporter = Exporter::start(&config(
        "",
        &[format!(
            "  - {{name: tls, domain: origin.tls.lab.test, host_header: www.tls.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, http], http: {{}}}}\n",
            origin.port()
        )],
    ))
    .await;
    let s = exporter.wait_cycle(&["tls"]).await;
    s.assert_value("origin_http_status_code", &[("origin", "tls")], 200.0);
    let seen = origin.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("www.tls.lab.test"));
    assert_eq!(seen[0].host.as_deref(), Some("www.tls.lab.test"));
    exporter.stop().await;
}

#[tokio::test]
async fn probe_endpoint_returns_only_that_origin() {
    let a = HttpOrigin::plain(200, FAST).await;
    let b = HttpOrigin::plain(503, FAST).await;
    let exporter = Exporter::start(&config(
        ", interval: 60s, timeout: 2s",
        &[
            http_only("a", a.port(), ", http: {}"),
            http_only("b", b.port(), ", http: {}"),
        ],
    ))
    .await;
    let (status, body) = exporter.get("/probe?origin=b").await;
    assert_eq!(status, 200, "{body}");
    let s = lab::Scrape::parse(&body);
    s.assert_value("origin_http_status_code", &[("origin", "b")], 503.0);
    s.assert_value("origin_cdn_ready", &[("origin", "b")], 0.0);
    assert!(!s.has_origin("a"), "{body}");
    assert!(
        s.matching("origin_exporter_origins", &[]).is_empty(),
        "{body}"
    );

    assert_eq!(exporter.get("/probe?origin=nope").await.0, 404);
    assert_eq!(exporter.get("/probe").await.0, 400);
    let (status, body) = exporter
        .get(&format!(
            "/probe?target=adhoc.lab.test&address=127.0.0.1&http_port={}",
            a.port()
        ))
        .await;
    assert_eq!(status, 403, "{body}");
    exporter.stop().await;
}

#[tokio::test]
async fn adhoc_targets_only_within_the_allowlist() {
    use lab::dns::{DnsLab, Zone};
    let a = HttpOrigin::plain(200, FAST).await;
    // meta.evil.test resolves to the cloud metadata address: it must never be connected to.
    let zone = Zone::new("evil.test", 1, &["127.0.0.11".parse().unwrap()])
        .with_record("meta.evil.test", "169.254.169.254".parse().unwrap())
        .with_record("ok.evil.test", "127.0.0.1".parse().unwrap());
    let dns = DnsLab::start(vec![zone], &[]).await;
    let exporter = Exporter::start(&config(
        &format!(
            ", interval: 60s, timeout: 2s, protocol_policy: http-only, checks: [tcp]{},
             allow_adhoc_targets: true, adhoc_allowed_domains: ['*.lab.test', '*.evil.test'],
             adhoc_allowed_networks: [127.0.0.0/8]",
            dns.global_yaml()
        ),
        &[http_only("a", a.port(), "")],
    ))
    .await;
    let probe = |query: String| {
        let exporter = &exporter;
        async move { exporter.get(&format!("/probe?{query}")).await }
    };
    let port = a.port().to_string();

    let (status, body) = probe(format!(
        "target=adhoc.lab.test&address=127.0.0.1&http_port={port}"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let s = lab::Scrape::parse(&body);
    s.assert_value(
        "origin_tcp_port_up",
        &[
            ("origin", "adhoc.lab.test"),
            ("address", "127.0.0.1"),
            ("port", &port),
        ],
        1.0,
    );
    s.assert_value("origin_cdn_ready", &[("origin", "adhoc.lab.test")], 1.0);
    // Resolved through the lab, then pinned.
    let (status, body) = probe(format!("target=ok.evil.test&http_port={port}")).await;
    assert_eq!(status, 200, "{body}");
    lab::Scrape::parse(&body).assert_value(
        "origin_tcp_port_up",
        &[
            ("origin", "ok.evil.test"),
            ("address", "127.0.0.1"),
            ("port", &port),
        ],
        1.0,
    );

    for (query, why) in [
        (
            "target=elsewhere.example.com&address=127.0.0.1".to_string(),
            "is not in global.adhoc_allowed_domains",
        ),
        (
            "target=x.lab.test&address=192.0.2.1".to_string(),
            "192.0.2.1 is not in global.adhoc_allowed_networks",
        ),
        (
            "target=x.lab.test&address=fd00:ec2::254".to_string(),
            "cloud metadata",
        ),
        (
            format!(
                "target=x.lab.test&address=127.0.0.1&http_port={}",
                exporter.addr.port()
            ),
            "is the exporter itself",
        ),
    ] {
        let (status, body) = probe(query.clone()).await;
        assert_eq!(status, 403, "{query}: {body}");
        assert!(body.contains(why), "{query}: {body}");
    }
    let (status, body) = probe("target=bad%20name".into()).await;
    assert_eq!(status, 400);
    assert!(body.contains("must be a DNS name"), "{body}");
    exporter.stop().await;

    // Without an entry for the link-local range, a name resolving into it is refused before any
    // connection is made.
    let strict = Exporter::start(&config(
        &format!(
            ", interval: 60s, timeout: 2s, protocol_policy: http-only, checks: [tcp]{},
             allow_adhoc_targets: true, adhoc_allowed_domains: ['*.evil.test']",
            dns.global_yaml()
        ),
        &[http_only("a", a.port(), "")],
    ))
    .await;
    let (status, body) = strict.get("/probe?target=meta.evil.test").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("169.254.169.254 is cloud metadata"), "{body}");
    strict.stop().await;
}

#[tokio::test]
async fn probe_honours_the_scrape_timeout() {
    let slow = HttpOrigin::plain(200, Duration::from_secs(20)).await;
    let exporter = Exporter::start(&config(
        ", interval: 60s, timeout: 10s",
        &[http_only(
            "slow",
            slow.port(),
            ", read_timeout: 30s, http: {}",
        )],
    ))
    .await;
    let started = std::time::Instant::now();
    let (status, _, body) = exporter
        .get_with(
            "/probe?origin=slow",
            &[("x-prometheus-scrape-timeout-seconds", "3")],
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    // 3 s less the 0.5 s offset: answered before Prometheus would give up, with the verdict.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let s = lab::Scrape::parse(&body);
    assert_eq!(s.active_causes("slow"), ["http_timeout"]);
    exporter.stop().await;
}

#[tokio::test]
async fn probe_requests_beyond_the_concurrency_wait_then_get_503() {
    let slow = HttpOrigin::plain(200, Duration::from_secs(20)).await;
    let exporter = Exporter::start(&config(
        ", interval: 60s, timeout: 10s, concurrency: 1",
        &[http_only(
            "slow",
            slow.port(),
            ", read_timeout: 30s, http: {}",
        )],
    ))
    .await;
    // The first probe may take ~2.4 s per step of its 9.5 s budget; the second waits at most
    // its own 0.5 s budget for the only slot.
    let (first, second) = tokio::join!(
        exporter.get_with(
            "/probe?origin=slow",
            &[("x-prometheus-scrape-timeout-seconds", "10")]
        ),
        async {
            // Sent once the first probe holds the only slot: its request reached the origin.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while slow.seen().is_empty() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the first probe never reached the origin"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            exporter
                .get_with(
                    "/probe?origin=slow",
                    &[("x-prometheus-scrape-timeout-seconds", "1")],
                )
                .await
        }
    );
    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(
        lab::Scrape::parse(&first.2).active_causes("slow"),
        ["http_timeout"]
    );
    assert_eq!(second.0, 503, "{}", second.2);
    assert!(
        second.2.contains("too many probes in flight"),
        "{}",
        second.2
    );
    exporter.stop().await;
}

/// Each check ends within the bound docs/bounds.md gives it, and `timeout` alone is not that
/// bound for TCP and HTTP: a port whose connections hang takes `connection_attempts` ×
/// `connection_timeout` (2 × 1 s, with a 1 s timeout); a request whose answer never comes takes
/// `read_timeout` (2 s) after connecting, within connect + handshake + `read_timeout`.
#[tokio::test]
async fn tcp_and_http_take_what_their_documented_bounds_say() {
    let hung = lab::tcp::HungPort::start().await;
    let slow = HttpOrigin::plain(200, Duration::from_secs(20)).await;
    // First cycles spread over the interval: a short one.
    let exporter = Exporter::start(&config(
        ", interval: 5s, timeout: 1s",
        &[
            http_only(
                "hung",
                hung.port(),
                ", checks: [tcp], connection_attempts: 2, connection_timeout: 1s",
            ),
            http_only("slow", slow.port(), ", read_timeout: 2s, http: {}"),
        ],
    ))
    .await;
    let s = exporter.wait_cycle(&["hung", "slow"]).await;
    let took = |origin: &str, check: &str| {
        s.value(
            "origin_probe_duration_seconds",
            &[("origin", origin), ("check", check)],
        )
        .unwrap_or_else(|| panic!("no {check} duration for {origin}"))
    };
    // The bound plus the report margin (0.1 s), and a second for a loaded machine.
    let tcp = took("hung", "tcp");
    assert!((2.0..3.1).contains(&tcp), "tcp took {tcp}s");
    let http = took("slow", "http");
    assert!((2.0..5.1).contains(&http), "http took {http}s");
    assert_eq!(s.active_causes("slow"), ["http_timeout"]);
    exporter.stop().await;
}

/// The wait for a slot counts against the scrape timeout: a probe that waited most of it gets
/// only the rest for its checks. The scheduler's cycle of `holder` holds the only slot until its
/// read timeout (2 s) ends; the ad-hoc probe asked meanwhile (scrape timeout 3 s) connects to a
/// port that never completes a handshake, so its TCP check takes all the time it is given: had
/// it been given its whole budget after the wait, it would answer after about 4.5 s.
#[tokio::test]
async fn probe_counts_its_wait_for_a_slot_in_the_scrape_timeout() {
    let holder = HttpOrigin::plain(200, Duration::from_secs(20)).await;
    let hung = lab::tcp::HungPort::start().await;
    let exporter = Exporter::start(&config(
        ", interval: 5s, timeout: 2s, concurrency: 1, checks: [tcp], protocol_policy: https-only,
         allow_adhoc_targets: true, adhoc_allowed_domains: ['*.lab.test'],
         adhoc_allowed_networks: [127.0.0.0/8]",
        &[http_only(
            "holder",
            holder.port(),
            ", read_timeout: 2s, http: {}",
        )],
    ))
    .await;
    // The holder's cycle holds the slot once its request has arrived.
    let deadline = std::time::Instant::now() + lab::WAIT;
    while holder.seen().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder was never asked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let (status, _, body) = exporter
        .get_with(
            &format!(
                "/probe?target=hung.lab.test&address=127.0.0.1&https_port={}",
                hung.port()
            ),
            &[("x-prometheus-scrape-timeout-seconds", "3")],
        )
        .await;
    let took = started.elapsed();
    assert!(status == 200 || status == 503, "{status}: {body}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {body}");
    exporter.stop().await;
}

/// A plain-HTTP server on loopback that answers every request with `response` and closes.
async fn canned(response: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_load_balancers_or_api_gateways_own_502_is_named() {
    let (alb, alb_task) = canned(
        "HTTP/1.1 502 Bad Gateway\r\nServer: awselb/2.0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (apigw, apigw_task) = canned(
        "HTTP/1.1 502 Bad Gateway\r\nx-amzn-RequestId: 5f0c\r\nx-amzn-ErrorType: InternalServerErrorException\r\nx-amz-apigw-id: Ab1=\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let yaml = config(
        "",
        &[
            http_only("alb", alb, ", http: {}"),
            http_only("apigw", apigw, ", http: {}"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_origin_exporter"))
            .args(["check", "--config.file"])
            .arg(&file)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "answered 502 Bad Gateway",
        "the answer comes from an Application Load Balancer (Server: awselb/2.0), not from its targets",
        "the answer comes from Amazon API Gateway (x-amzn-requestid: 5f0c, x-amzn-errortype: InternalServerErrorException, x-amz-apigw-id: Ab1=)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    alb_task.abort();
    apigw_task.abort();
}
