//! The origin keys CloudFront defines for an origin, end to end: `ip_address_type` (which
//! resolved addresses every check connects to), `connection_attempts`, and `http.headers` (sent,
//! and never shown). Lab servers on loopback only (127.0.0.0/8 and ::1).

mod lab;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lab::dns::{DnsLab, Zone};
use lab::http::HttpOrigin;
use lab::Exporter;

const NS1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A port open on both 127.0.0.1 and ::1 (the same number on each).
fn dual_port() -> (std::net::TcpListener, std::net::TcpListener) {
    for _ in 0..50 {
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind ::1");
        let port = v6.local_addr().expect("addr").port();
        if let Ok(v4) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return (v4, v6);
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

#[tokio::test]
async fn ip_address_type_picks_the_addresses_every_check_connects_to() {
    let zone = Zone::new("fam.test", 1, &[NS1])
        .with_record("dual.fam.test", V4)
        .with_record("dual.fam.test", V6)
        .with_record("v6only.fam.test", V6)
        .with_record("v4only.fam.test", V4);
    let dns = DnsLab::start(vec![zone], &[]).await;
    let (_v4, _v6) = dual_port();
    let port = _v4.local_addr().expect("addr").port();
    let exporter = Exporter::start(&format!(
        "global: {{interval: 2s, timeout: 2s, checks: [tcp], protocol_policy: http-only, http_port: {port}{}}}
origins:
  - {{name: v4, domain: dual.fam.test}}
  - {{name: v6, domain: dual.fam.test, ip_address_type: ipv6}}
  - {{name: dual, domain: dual.fam.test, ip_address_type: dualstack}}
  - {{name: aaaa_only, domain: v6only.fam.test}}
  - {{name: a_only, domain: v4only.fam.test, ip_address_type: ipv6}}
",
        dns.global_yaml()
    ))
    .await;
    let s = exporter
        .wait_cycle(&["v4", "v6", "dual", "aaaa_only", "a_only"])
        .await;
    let port = port.to_string();
    let up = |origin: &str, address: &str| {
        s.value(
            "origin_tcp_port_up",
            &[("origin", origin), ("address", address), ("port", &port)],
        )
    };
    assert_eq!(up("v4", "127.0.0.1"), Some(1.0));
    assert_eq!(up("v4", "::1"), None);
    assert_eq!(up("v6", "::1"), Some(1.0));
    assert_eq!(up("v6", "127.0.0.1"), None);
    assert_eq!(up("dual", "::1"), Some(1.0));
    assert_eq!(up("dual", "127.0.0.1"), Some(1.0));
    assert_eq!(s.active_causes("aaaa_only"), ["dns_resolution_failed"]);
    assert_eq!(s.active_causes("a_only"), ["dns_resolution_failed"]);
    assert_eq!(
        s.value(
            "origin_tcp_connect_attempts",
            &[("origin", "dual"), ("address", "::1"), ("port", &port)]
        ),
        Some(1.0)
    );
    // The evidence names the missing record type.
    let (_, page) = exporter.get("/").await;
    assert!(
        page.contains("no A record for ip_address_type ipv4; the name has AAAA only (::1)"),
        "{page}"
    );
    assert!(
        page.contains("no AAAA record for ip_address_type ipv6; the name has A only (127.0.0.1)"),
        "{page}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn custom_headers_are_sent_and_never_shown() {
    const SECRET: &str = "s3cr3t-v4lue-never-shown";
    let origin = HttpOrigin::requiring_header(200, "X-Origin-Verify", SECRET).await;
    let port = origin.port();
    let exporter = Exporter::start(&format!(
        "global: {{interval: 2s, timeout: 2s, checks: [tcp, http], protocol_policy: http-only, http_port: {port}}}
origins:
  - {{name: with, domain: with.example, address: 127.0.0.1, connection_attempts: 1, connection_timeout: 1s,
      http: {{path: /health, expect_status: [200], headers: {{X-Origin-Verify: {SECRET}}}}}}}
  - {{name: without, domain: without.example, address: 127.0.0.1, http: {{path: /health, expect_status: [200]}}}}
"
    ))
    .await;
    let s = exporter.wait_cycle(&["with", "without"]).await;
    assert_eq!(s.active_causes("with"), Vec::<String>::new());
    assert_eq!(s.active_causes("without"), ["http_error_status"]);
    assert!(origin.seen().iter().any(|r| r
        .headers
        .contains(&("x-origin-verify".into(), SECRET.into()))));
    for path in ["/metrics", "/", "/sd", "/probe?origin=with"] {
        let (status, body) = exporter.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!body.contains(SECRET), "{path} shows the header value");
    }
    exporter.stop().await;
}

#[tokio::test]
async fn sd_lists_every_origin_with_its_labels() {
    let exporter = Exporter::start(
        "global: {interval: 1m, checks: [tcp], labels: {team: web}}
origins:
  - {name: a, domain: a.example, address: 127.0.0.1, labels: {tier: gold}}
  - {name: b, domain: b.example, address: 127.0.0.1}
",
    )
    .await;
    let (status, body) = exporter.get("/sd").await;
    assert_eq!(status, 200);
    let groups: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        groups,
        serde_json::json!([
            {"targets": ["a"], "labels": {"team": "web", "tier": "gold"}},
            {"targets": ["b"], "labels": {"team": "web"}},
        ])
    );
    exporter.stop().await;
}

#[tokio::test]
async fn connection_keys_are_validated() {
    let err = origin_exporter::config::load_str(
        "origins: [{name: a, domain: a.example, connection_timeout: 11s, connection_attempts: 4,
          ip_address_type: ipv5, http: {headers: {'Bad Name': x, Host: y}}},
          {name: b, domain: b.example, address: '::1', ip_address_type: ipv4},
          {name: c, domain: c.example, address: '::1'}]",
        std::path::Path::new("t.yaml"),
    )
    .expect_err("invalid");
    let text = err.to_string();
    for want in [
        "origins[0].connection_timeout: must be 1s to 10s, got 11s",
        "origins[0].connection_attempts: must be 1-3, got 4",
        "origins[0].ip_address_type: must be one of ipv4, ipv6, dualstack, got \"ipv5\"",
        "origins[0].http.headers.Bad Name: must be an HTTP header name",
        "origins[0].http.headers.Host: Host is set by the exporter itself",
        "origins[1].address: ::1 is not an address the CDN connects to with ip_address_type ipv4",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
}
