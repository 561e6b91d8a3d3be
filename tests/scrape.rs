//! `/metrics` and `/probe` as Prometheus fetches them: gzip when asked (as Prometheus always
//! does), plain otherwise, the same series either way.

mod lab;

use std::io::Read as _;

use lab::tcp::OpenPort;
use lab::{http_raw, Exporter, Scrape};

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

#[tokio::test]
async fn metrics_and_probe_are_gzip_when_the_client_asks() {
    let port = OpenPort::start().await;
    let origins: String = (0..50)
        .map(|i| {
            format!(
                "  - {{name: o{i}, domain: o{i}.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp], labels: {{team: t{i}}}}}\n",
                port.port()
            )
        })
        .collect();
    let exporter = Exporter::start(&format!(
        "global: {{interval: 2s, timeout: 1s}}\norigins:\n{origins}"
    ))
    .await;
    exporter
        .wait_for("every origin probed", |s| {
            (0..50).all(|i| s.has_origin(&format!("o{i}")))
        })
        .await;

    let (status, headers, plain) = http_raw(exporter.addr, "GET", "/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(headers["vary"], "accept-encoding");

    let (status, headers, packed) = http_raw(
        exporter.addr,
        "GET",
        "/metrics",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    let text = gunzip(&packed);
    assert!(
        packed.len() * 5 < plain.len(),
        "gzip {} bytes vs plain {}",
        packed.len(),
        plain.len()
    );
    // The same series (only the runtime's task gauge may differ between two scrapes).
    let names = |s: &Scrape| {
        let mut n: Vec<String> = s
            .text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("origin_exporter_runtime_tasks"))
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    };
    let plain = Scrape::parse(&String::from_utf8_lossy(&plain));
    let unpacked = Scrape::parse(&text);
    assert_eq!(names(&unpacked), names(&plain));
    unpacked.assert_value("origin_cdn_ready", &[("origin", "o7"), ("team", "t7")], 1.0);

    let (status, headers, packed) = http_raw(
        exporter.addr,
        "GET",
        "/probe?origin=o3",
        &[("accept-encoding", "deflate, gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    Scrape::parse(&gunzip(&packed)).assert_value("origin_cdn_ready", &[("origin", "o3")], 1.0);

    // A client that refuses gzip gets plain text.
    let (_, headers, body) = http_raw(
        exporter.addr,
        "GET",
        "/metrics",
        &[("accept-encoding", "gzip;q=0")],
    )
    .await;
    assert!(headers.get("content-encoding").is_none());
    assert!(String::from_utf8_lossy(&body).contains("origin_cdn_ready"));
    exporter.stop().await;
}

/// Every sample of one origin.
fn series_of<'a>(s: &'a Scrape, origin: &str) -> Vec<&'a lab::Sample> {
    s.samples
        .iter()
        .filter(|x| x.labels.get("origin").map(String::as_str) == Some(origin))
        .collect()
}

/// Large-fleet mode: a healthy origin with every check and one address costs at most 20 series
/// (active causes only, no per-nameserver, protocol-matrix or per-certificate series); an origin
/// with an active cause keeps every series the alerts' descriptions read. Switching the mode
/// by a reload changes the series at once.
#[tokio::test]
async fn large_fleet_mode_writes_detail_series_only_for_origins_with_a_cause() {
    use lab::dns::{DnsLab, Zone};
    use lab::tls::{GoOrigin, LeafSpec, Pki};
    use std::net::{IpAddr, Ipv4Addr};
    const NS1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 51);
    const NS2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 52);
    let pki = Pki::new();
    let healthy = GoOrigin::start(
        &pki,
        &pki.leaf(
            &LeafSpec::new(&["healthy.fleet.test"]).rsa(),
            Some(&pki.inter),
        ),
        &[],
    )
    .await;
    // Valid for 10 more days: cert_expiring_soon, a warning, is active.
    let expiring = GoOrigin::start(
        &pki,
        &pki.leaf(
            &LeafSpec::new(&["expiring.fleet.test"]).valid(-30, 10).rsa(),
            Some(&pki.inter),
        ),
        &[],
    )
    .await;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let zone = Zone::new("fleet.test", 1, &[NS1, NS2])
        .with_record("healthy.fleet.test", loopback)
        .with_record("expiring.fleet.test", loopback);
    let dns = DnsLab::start(vec![zone], &[]).await;
    let config = |large_fleet: bool| {
        format!(
            "global: {{interval: 2s, timeout: 2s, large_fleet: {large_fleet}, ca_file: '{}'{}}}\norigins:\n\
             - {{name: healthy, domain: healthy.fleet.test, https_port: {}, checks: [dns, tcp, tls, http], http: {{path: /}}}}\n\
             - {{name: expiring, domain: expiring.fleet.test, https_port: {}, checks: [dns, tcp, tls, http], http: {{path: /}}}}\n",
            pki.ca_file.display(),
            dns.global_yaml(),
            healthy.port(),
            expiring.port()
        )
    };
    let exporter = lab::Exporter::start(&config(true)).await;
    let s = exporter.wait_cycle(&["healthy", "expiring"]).await;
    assert_eq!(s.active_causes("healthy"), Vec::<String>::new());
    assert_eq!(s.active_causes("expiring"), vec!["cert_expiring_soon"]);
    let lean = series_of(&s, "healthy");
    assert!(
        lean.len() <= 20,
        "{} series for a healthy origin in large-fleet mode: {lean:#?}",
        lean.len()
    );
    // What alerts and the overview read is still there.
    for name in [
        "origin_cdn_ready",
        "origin_address_ready",
        "origin_last_probe_timestamp_seconds",
        "origin_probe_interval_seconds",
        "origin_dns_resolve_success",
        "origin_tcp_port_up",
        "origin_tls_handshake_success",
        "origin_tls_cert_days_remaining",
        "origin_tls_chain_valid",
        "origin_http_status_code",
    ] {
        assert!(
            !s.matching(name, &[("origin", "healthy")]).is_empty(),
            "{name} missing"
        );
    }
    assert_eq!(
        s.matching("origin_probe_success", &[("origin", "healthy")])
            .len(),
        4
    );
    // The details are not.
    for name in [
        "origin_problem",
        "origin_dns_nameserver_up",
        "origin_dns_soa_serial",
        "origin_tls_protocol_supported",
        "origin_tls_cert_not_before_timestamp_seconds",
        "origin_tls_cert_not_after_timestamp_seconds",
        "origin_probe_duration_seconds",
    ] {
        assert!(
            s.matching(name, &[("origin", "healthy")]).is_empty(),
            "{name} written for a healthy origin in large-fleet mode"
        );
    }
    // An origin with a cause: every series, its active cause only in origin_problem.
    assert_eq!(
        s.matching("origin_problem", &[("origin", "expiring")])
            .len(),
        1
    );
    for name in [
        "origin_dns_nameserver_up",
        "origin_tls_protocol_supported",
        "origin_tls_cert_not_after_timestamp_seconds",
        "origin_probe_duration_seconds",
    ] {
        assert!(
            !s.matching(name, &[("origin", "expiring")]).is_empty(),
            "{name} missing for an origin with a cause"
        );
    }

    // Back to the full set by a reload.
    exporter.write_config(&config(false));
    let (status, body) = exporter.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let s = exporter
        .wait_for("every origin_problem series of healthy", |s| {
            s.matching("origin_problem", &[("origin", "healthy")]).len() > 1
        })
        .await;
    let full = series_of(&s, "healthy");
    assert!(
        full.len() > lean.len() + 20,
        "full mode: {} series, large-fleet: {}",
        full.len(),
        lean.len()
    );
    s.assert_value(
        "origin_dns_nameserver_up",
        &[("origin", "healthy"), ("nameserver", "ns2.fleet.test")],
        1.0,
    );
    exporter.stop().await;
}
