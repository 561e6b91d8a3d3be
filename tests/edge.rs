//! The edge check against a fake CloudFront edge on loopback (tests/lab/edge.rs), in front of lab
//! origins that are healthy or broken: every edge cause, the echo rule, an edge that is slow or
//! down, and what `check` tells a person.

mod lab;

use std::time::Duration;

use lab::edge::{Behaviour, FakeEdge};
use lab::tcp::{closed_port, OpenPort};
use lab::tls::{LeafSpec, Pki, RustlsOrigin};
use lab::{Exporter, Scrape};

/// A TCP-checked origin on 127.0.0.1 whose edge URL is the fake edge's.
fn origin(name: &str, port: u16, edge: &FakeEdge, checks: &str) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [{checks}], edge: {{url: '{}', address: 127.0.0.1}}}}\n",
        edge.url()
    )
}

fn config(extra_global: &str, origins: &[String]) -> String {
    format!(
        "global: {{interval: 1s, timeout: 1s{extra_global}}}\norigins:\n{}",
        origins.concat()
    )
}

#[track_caller]
fn assert_causes(s: &Scrape, origin: &str, causes: &[&str], ready: bool) {
    assert_eq!(s.active_causes(origin), causes, "causes of {origin}");
    s.assert_value(
        "origin_cdn_ready",
        &[("origin", origin)],
        if ready { 1.0 } else { 0.0 },
    );
}

#[tokio::test]
async fn every_x_cache_class_and_its_cause() {
    let port = OpenPort::start().await;
    // (origin name, edge behaviour, active causes)
    let cases: [(&str, Behaviour, &[&str]); 7] = [
        ("hit", Behaviour::Hit, &[]),
        ("miss", Behaviour::Miss, &[]),
        (
            "lambda",
            Behaviour::LambdaValidationError,
            &["edge_lambda_error"],
        ),
        (
            "lambdalimit",
            Behaviour::LambdaLimitExceeded,
            &["edge_lambda_error"],
        ),
        (
            "function",
            Behaviour::FunctionValidationError,
            &["edge_function_error"],
        ),
        (
            "throttled",
            Behaviour::FunctionThrottledError,
            &["edge_function_error"],
        ),
        ("firewall", Behaviour::Error, &["edge_unexplained_error"]),
    ];
    let mut edges = Vec::new();
    let mut origins = Vec::new();
    for (name, behaviour, _) in &cases {
        let edge = FakeEdge::start(*behaviour).await;
        origins.push(origin(name, port.port(), &edge, "tcp, edge"));
        edges.push(edge);
    }
    let exporter = Exporter::start(&config("", &origins)).await;
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let s = exporter.wait_cycle(&names).await;
    for ((name, behaviour, causes), edge) in cases.iter().zip(&edges) {
        assert_causes(&s, name, causes, causes.is_empty());
        let status = behaviour.status().expect("a fixed answer");
        s.assert_value(
            "origin_edge_status_code",
            &[("origin", name)],
            f64::from(status),
        );
        s.assert_value("origin_edge_up", &[("origin", name)], 1.0);
        let result = behaviour.result_label().expect("a class");
        s.assert_value(
            "origin_edge_result_info",
            &[("origin", name), ("result", result)],
            1.0,
        );
        assert!(
            s.value("origin_edge_duration_seconds", &[("origin", name)])
                .is_some_and(|d| d > 0.0 && d < 1.0),
            "{name}"
        );
        s.assert_value(
            "origin_probe_success",
            &[("origin", name), ("check", "edge")],
            if causes.is_empty() { 1.0 } else { 0.0 },
        );
        // SNI and Host are the URL's host.
        let seen = edge.seen();
        assert!(!seen.is_empty(), "{name}: the edge saw no request");
        assert_eq!(seen[0].host.as_deref(), Some(edge.host()));
        assert_eq!(seen[0].sni.as_deref(), Some(edge.host()));
    }
    // The request id and location are evidence, never labels.
    assert!(
        !s.text.contains("x_amz_cf_id") && !s.text.contains("FRA56"),
        "{}",
        s.text
    );
    exporter.stop().await;
}

#[tokio::test]
async fn an_edge_502_that_an_origin_cause_explains_is_its_echo() {
    // The origin's certificate expired, so the CDN answers 502 Error from cloudfront: that is
    // cert_expired's confirmation, not an unexplained edge error.
    let pki = Pki::new();
    let leaf = pki.leaf(
        &LeafSpec::new(&["expired.lab.test"]).valid(-100, -1),
        Some(&pki.inter),
    );
    let expired = RustlsOrigin::start(
        vec![leaf.der.clone(), pki.inter.der.clone()],
        &leaf.key_der,
        false,
    )
    .await;
    let edge_for_expired = FakeEdge::start(Behaviour::Error).await;
    // A closed port behind a CDN 502: port_unreachable's echo too.
    let closed = closed_port();
    let edge_for_closed = FakeEdge::start(Behaviour::Error).await;
    let yaml = config(
        &format!(", ca_file: '{}'", pki.ca_file.display()),
        &[
            origin(
                "expired",
                expired.port(),
                &edge_for_expired,
                "tcp, tls, edge",
            ),
            origin("closed", closed, &edge_for_closed, "tcp, edge"),
        ],
    );
    let exporter = Exporter::start(&yaml).await;
    let s = exporter.wait_cycle(&["expired", "closed"]).await;
    assert_causes(&s, "expired", &["cert_expired"], false);
    assert_causes(&s, "closed", &["port_unreachable"], false);
    s.assert_value(
        "origin_problem",
        &[("origin", "expired"), ("cause", "edge_unexplained_error")],
        0.0,
    );
    s.assert_value("origin_edge_status_code", &[("origin", "expired")], 502.0);

    // `check` says the CDN confirms it, with what to quote to support.
    // Off the test's runtime: the lab servers run on it.
    let config_path = exporter.config_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_origin_exporter"))
            .args(["check", "--config.file"])
            .arg(config_path)
            .arg("expired")
            .output()
    })
    .await
    .expect("joined")
    .expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the CDN answers 502 for this origin: confirmed"),
        "{text}"
    );
    assert!(text.contains("X-Amz-Cf-Id: "), "{text}");
    assert!(text.contains("X-Amz-Cf-Pop: FRA56-P1"), "{text}");
    assert!(!text.contains("edge_unexplained_error"), "{text}");
    exporter.stop().await;
}

#[tokio::test]
async fn an_edge_that_is_slow_or_down_is_not_an_origin_cause() {
    let port = OpenPort::start().await;
    let slow = FakeEdge::start(Behaviour::Slow(Duration::from_secs(3))).await;
    let down = FakeEdge::start(Behaviour::Down).await;
    let yaml = config(
        "",
        &[
            origin("slowedge", port.port(), &slow, "tcp, edge"),
            origin("downedge", port.port(), &down, "tcp, edge"),
        ],
    );
    let exporter = Exporter::start(&yaml).await;
    let s = exporter.wait_cycle(&["slowedge", "downedge"]).await;
    for name in ["slowedge", "downedge"] {
        assert_causes(&s, name, &[], true);
        s.assert_value("origin_edge_up", &[("origin", name)], 0.0);
        s.assert_value(
            "origin_probe_success",
            &[("origin", name), ("check", "edge")],
            0.0,
        );
        assert!(
            s.value("origin_edge_status_code", &[("origin", name)])
                .is_none(),
            "{name}"
        );
    }
    let s = exporter
        .wait_for("the edge failures counted", |s| {
            s.value(
                "origin_exporter_probes_total",
                &[("check", "edge"), ("result", "timeout")],
            )
            .is_some_and(|n| n >= 1.0)
                && s.value(
                    "origin_exporter_probes_total",
                    &[("check", "edge"), ("result", "failure")],
                )
                .is_some_and(|n| n >= 1.0)
        })
        .await;
    assert!(s.has_origin("slowedge"));
    exporter.stop().await;
}

#[test]
fn edge_config_errors_name_their_paths() {
    let (code, text) = lab::config_check(
        "origins:\n  - {name: a, domain: a.example, edge: {url: 'ftp://cdn.example/x'}}\n  - {name: b, domain: b.example, edge: {url: 'https://cdn.example/', address: nope, expect_status: [7xx]}}\n  - {name: c, domain: c.example, checks: [tcp, edge]}\n",
        &[],
    );
    assert_eq!(code, 2, "{text}");
    for expected in [
        "origins[0].edge.url: must be an http:// or https:// URL, got \"ftp\"",
        "origins[1].edge.address: must be an IP address, got \"nope\"",
        "origins[1].edge.expect_status[0]: must be a status 100-599 or a class like 2xx",
        "origins[2].checks: edge needs an edge section with its url",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
