//! The DNS check end to end: lab nameservers on loopback, the exporter in-process, exact values
//! in a scrape. No query leaves 127.0.0.0/8: every config points `resolvers` at the lab.

mod lab;

use std::net::{IpAddr, Ipv4Addr};

use lab::dns::{Behaviour, DnsLab, Zone};
use lab::tcp::OpenPort;
use lab::{Exporter, Scrape};

const NS1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const NS2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 12);
const PARENT_NS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 13);
const ORIGIN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

const DNS_CAUSES: [&str; 6] = [
    "dns_resolution_failed",
    "dns_all_nameservers_down",
    "dns_nameserver_down",
    "dns_lame_delegation",
    "dns_soa_serial_mismatch",
    "dns_delegation_mismatch",
];

/// `healthy.test` (serial 7) on two nameservers, with `origin.healthy.test` in it.
fn healthy_zone() -> Zone {
    Zone::new("healthy.test", 7, &[NS1, NS2]).with_record("origin.healthy.test", ORIGIN_IP)
}

/// An exporter probing one origin with `checks`, its resolver and nameservers in `lab`.
async fn exporter(lab: &DnsLab, domain: &str, extra: &str) -> Exporter {
    Exporter::start(&format!(
        "global: {{interval: 2s, timeout: 2s{}}}\norigins:\n  - {{name: o, domain: {domain}, checks: [dns]{extra}}}\n",
        lab.global_yaml()
    ))
    .await
}

fn server(zone: &str, ns: &str, ip: Ipv4Addr) -> Vec<(&'static str, String)> {
    vec![
        ("origin", "o".into()),
        ("zone", zone.into()),
        ("nameserver", ns.into()),
        ("address", ip.to_string()),
    ]
}

fn value(s: &Scrape, metric: &str, labels: &[(&'static str, String)]) -> Option<f64> {
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.value(metric, &labels)
}

/// Every DNS cause has its series, and exactly `active` are 1.
#[track_caller]
fn assert_dns_causes(s: &Scrape, active: &[&str]) {
    for cause in DNS_CAUSES {
        let want = f64::from(u8::from(active.contains(&cause)));
        s.assert_value("origin_problem", &[("origin", "o"), ("cause", cause)], want);
    }
    assert_eq!(s.active_causes("o"), active, "active causes");
}

#[tokio::test]
async fn healthy_zone_with_two_nameservers() {
    let lab = DnsLab::start(vec![healthy_zone()], &[]).await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &[]);
    s.assert_value(
        "origin_probe_success",
        &[("origin", "o"), ("check", "dns")],
        1.0,
    );
    s.assert_value("origin_dns_resolve_success", &[("origin", "o")], 1.0);
    s.assert_value("origin_dns_addresses", &[("origin", "o")], 1.0);
    for (ns, ip) in [("ns1.healthy.test", NS1), ("ns2.healthy.test", NS2)] {
        let l = server("healthy.test", ns, ip);
        assert_eq!(value(&s, "origin_dns_nameserver_up", &l), Some(1.0), "{ns}");
        assert_eq!(
            value(&s, "origin_dns_nameserver_authoritative", &l),
            Some(1.0),
            "{ns}"
        );
        assert_eq!(value(&s, "origin_dns_soa_serial", &l), Some(7.0), "{ns}");
        let t = value(&s, "origin_dns_nameserver_response_seconds", &l).expect("response time");
        assert!(t > 0.0 && t < 2.0, "{ns} answered in {t}s");
    }
    // Exactly the two servers, nothing else.
    assert_eq!(
        s.matching("origin_dns_nameserver_up", &[("origin", "o")])
            .len(),
        2
    );
    s.assert_value(
        "origin_dns_delegation_match",
        &[
            ("origin", "o"),
            ("zone", "healthy.test"),
            ("parent_zone", "test"),
        ],
        1.0,
    );
    ex.stop().await;
}

#[tokio::test]
async fn a_name_that_does_not_exist() {
    let lab = DnsLab::start(vec![healthy_zone()], &[]).await;
    let ex = exporter(&lab, "missing.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &["dns_resolution_failed"]);
    s.assert_value("origin_dns_resolve_success", &[("origin", "o")], 0.0);
    s.assert_value("origin_dns_addresses", &[("origin", "o")], 0.0);
    s.assert_value("origin_cdn_ready", &[("origin", "o")], 0.0);
    // The zone itself is fine: its servers answer NXDOMAIN with authority.
    let l = server("healthy.test", "ns1.healthy.test", NS1);
    assert_eq!(
        value(&s, "origin_dns_nameserver_authoritative", &l),
        Some(1.0)
    );
    ex.stop().await;
}

#[tokio::test]
async fn one_nameserver_not_answering() {
    let lab = DnsLab::start(vec![healthy_zone()], &[(NS2, Behaviour::Silent)]).await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &["dns_nameserver_down"]);
    s.assert_value("origin_cdn_ready", &[("origin", "o")], 1.0);
    let (up, down) = (
        server("healthy.test", "ns1.healthy.test", NS1),
        server("healthy.test", "ns2.healthy.test", NS2),
    );
    assert_eq!(value(&s, "origin_dns_nameserver_up", &up), Some(1.0));
    assert_eq!(value(&s, "origin_dns_nameserver_up", &down), Some(0.0));
    assert_eq!(
        value(&s, "origin_dns_nameserver_authoritative", &down),
        Some(0.0)
    );
    assert_eq!(value(&s, "origin_dns_soa_serial", &down), None);
    assert_eq!(
        value(&s, "origin_dns_nameserver_response_seconds", &down),
        None
    );
    ex.stop().await;
}

/// Every server silent: the resolver answers SERVFAIL, so the zone is found from the parent's
/// referral, and its servers are blamed.
#[tokio::test]
async fn every_nameserver_silent() {
    let lab = DnsLab::start(
        vec![healthy_zone()],
        &[(NS1, Behaviour::Silent), (NS2, Behaviour::Silent)],
    )
    .await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(
        &s,
        &[
            "dns_all_nameservers_down",
            "dns_nameserver_down",
            "dns_resolution_failed",
        ],
    );
    s.assert_value("origin_cdn_ready", &[("origin", "o")], 0.0);
    for (ns, ip) in [("ns1.healthy.test", NS1), ("ns2.healthy.test", NS2)] {
        let l = server("healthy.test", ns, ip);
        assert_eq!(value(&s, "origin_dns_nameserver_up", &l), Some(0.0), "{ns}");
    }
    ex.stop().await;
}

/// Every server lame (one REFUSED, one without AA): nothing answers with authority.
#[tokio::test]
async fn every_nameserver_lame() {
    let lab = DnsLab::start(
        vec![healthy_zone()],
        &[(NS1, Behaviour::Refused), (NS2, Behaviour::NoAa)],
    )
    .await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(
        &s,
        &[
            "dns_all_nameservers_down",
            "dns_lame_delegation",
            "dns_resolution_failed",
        ],
    );
    ex.stop().await;
}

#[tokio::test]
async fn refused_is_a_lame_delegation() {
    let lab = DnsLab::start(vec![healthy_zone()], &[(NS2, Behaviour::Refused)]).await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &["dns_lame_delegation"]);
    let lame = server("healthy.test", "ns2.healthy.test", NS2);
    assert_eq!(value(&s, "origin_dns_nameserver_up", &lame), Some(1.0));
    assert_eq!(
        value(&s, "origin_dns_nameserver_authoritative", &lame),
        Some(0.0)
    );
    ex.stop().await;
}

#[tokio::test]
async fn an_answer_without_aa_is_a_lame_delegation() {
    let lab = DnsLab::start(vec![healthy_zone()], &[(NS1, Behaviour::NoAa)]).await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &["dns_lame_delegation"]);
    let lame = server("healthy.test", "ns1.healthy.test", NS1);
    assert_eq!(value(&s, "origin_dns_nameserver_up", &lame), Some(1.0));
    assert_eq!(
        value(&s, "origin_dns_nameserver_authoritative", &lame),
        Some(0.0)
    );
    // A serial without authority is not reported.
    assert_eq!(value(&s, "origin_dns_soa_serial", &lame), None);
    ex.stop().await;
}

#[tokio::test]
async fn nameservers_with_different_serials() {
    let lab = DnsLab::start(vec![healthy_zone()], &[(NS2, Behaviour::Serial(8))]).await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &["dns_soa_serial_mismatch"]);
    let ns1 = server("healthy.test", "ns1.healthy.test", NS1);
    let ns2 = server("healthy.test", "ns2.healthy.test", NS2);
    assert_eq!(value(&s, "origin_dns_soa_serial", &ns1), Some(7.0));
    assert_eq!(value(&s, "origin_dns_soa_serial", &ns2), Some(8.0));
    ex.stop().await;
}

#[tokio::test]
async fn delegated_subzone_whose_parent_lists_other_nameservers() {
    let parent = Zone::new("parent.test", 3, &[PARENT_NS]);
    let child = Zone::new("sub.parent.test", 5, &[NS1, NS2])
        .with_record("origin.sub.parent.test", ORIGIN_IP)
        .with_parent_ns(&["ns1.sub.parent.test", "ns3.sub.parent.test"]);
    let lab = DnsLab::start(vec![parent, child], &[]).await;
    let ex = exporter(&lab, "origin.sub.parent.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &["dns_delegation_mismatch"]);
    s.assert_value(
        "origin_dns_delegation_match",
        &[
            ("origin", "o"),
            ("zone", "sub.parent.test"),
            ("parent_zone", "parent.test"),
        ],
        0.0,
    );
    // The child's own servers are healthy.
    let ns1 = server("sub.parent.test", "ns1.sub.parent.test", NS1);
    assert_eq!(
        value(&s, "origin_dns_nameserver_authoritative", &ns1),
        Some(1.0)
    );
    ex.stop().await;
}

#[tokio::test]
async fn delegated_subzone_with_matching_parent() {
    let parent = Zone::new("parent.test", 3, &[PARENT_NS]);
    let child = Zone::new("sub.parent.test", 5, &[NS1, NS2])
        .with_record("origin.sub.parent.test", ORIGIN_IP);
    let lab = DnsLab::start(vec![parent, child], &[]).await;
    let ex = exporter(&lab, "origin.sub.parent.test", "").await;
    let s = ex.wait_cycle(&["o"]).await;

    assert_dns_causes(&s, &[]);
    s.assert_value(
        "origin_dns_delegation_match",
        &[
            ("origin", "o"),
            ("zone", "sub.parent.test"),
            ("parent_zone", "parent.test"),
        ],
        1.0,
    );
    ex.stop().await;
}

#[tokio::test]
async fn two_addresses_one_closed_port() {
    let open_ip = Ipv4Addr::new(127, 0, 0, 21);
    let closed_ip = Ipv4Addr::new(127, 0, 0, 22);
    let open = OpenPort::start_on(&format!("{open_ip}:0")).await;
    let port = open.port();
    let zone = healthy_zone()
        .with_record("two.healthy.test", IpAddr::V4(open_ip))
        .with_record("two.healthy.test", IpAddr::V4(closed_ip));
    let lab = DnsLab::start(vec![zone], &[]).await;
    let ex = exporter(
        &lab,
        "two.healthy.test",
        &format!(", https_port: {port}, checks: [dns, tcp]"),
    )
    .await;
    let s = ex.wait_cycle(&["o"]).await;

    s.assert_value("origin_dns_addresses", &[("origin", "o")], 2.0);
    assert_eq!(s.active_causes("o"), ["port_unreachable"]);
    let port = port.to_string();
    s.assert_value(
        "origin_tcp_port_up",
        &[
            ("origin", "o"),
            ("address", &open_ip.to_string()),
            ("port", &port),
        ],
        1.0,
    );
    s.assert_value(
        "origin_tcp_port_up",
        &[
            ("origin", "o"),
            ("address", &closed_ip.to_string()),
            ("port", &port),
        ],
        0.0,
    );
    ex.stop().await;
}

/// After discovery, a cycle asks each nameserver address exactly two questions (the origin's A
/// and the zone's SOA), and the resolver only for the origin's addresses.
#[tokio::test]
async fn a_cycle_costs_two_queries_per_nameserver() {
    let lab = DnsLab::start(vec![healthy_zone()], &[]).await;
    let ex = exporter(&lab, "origin.healthy.test", "").await;
    ex.wait_cycle(&["o"]).await;
    // The first cycle discovered the zone; count over the four cycles after it. Each ends
    // seconds before the next starts, so no cycle straddles a count.
    let before = [lab.queries(NS1), lab.queries(NS2)];
    for _ in 0..4 {
        ex.wait_cycle(&["o"]).await;
    }
    let after = [lab.queries(NS1), lab.queries(NS2)];
    for i in 0..2 {
        assert_eq!(after[i] - before[i], 2 * 4, "server {}", i + 1);
    }
    ex.stop().await;
}

/// Every origin's check asks each nameserver for the zone's SOA itself, also right after another
/// origin of the zone asked: a shared answer could hide a change made since (a silent server, a
/// new serial). Eleven origins of one zone cost each lab nameserver 22 queries.
#[tokio::test]
async fn each_origin_of_a_zone_asks_the_soa_itself() {
    let lab = DnsLab::start(vec![healthy_zone()], &[]).await;
    let mut yaml = format!(
        "global: {{interval: 60s, timeout: 2s{}}}\norigins:\n",
        lab.global_yaml()
    );
    for i in 0..11 {
        yaml.push_str(&format!(
            "  - {{name: o{i}, domain: origin.healthy.test, checks: [dns]}}\n"
        ));
    }
    let cfg = origin_exporter::config::load_str(&yaml, std::path::Path::new("c.yaml"))
        .expect("valid config");
    let ctx = origin_exporter::checks::ProbeContext::new(&cfg.global).expect("context");
    let check = |i: usize| {
        origin_exporter::checks::dns::check(
            &cfg.origins[i],
            ctx.part::<origin_exporter::checks::dns::DnsCheck>(),
        )
    };
    // The first check discovers the zone.
    let first = check(0).await;
    assert_eq!(first.servers[0].soa_serial(), Some(7));
    let before = [lab.queries(NS1), lab.queries(NS2)];
    let reports = futures_util::future::join_all((0..11).map(check)).await;
    let after = [lab.queries(NS1), lab.queries(NS2)];
    for i in 0..2 {
        assert_eq!(after[i] - before[i], 22, "server {}: A and SOA each", i + 1);
    }
    for r in &reports {
        assert!(r.servers.iter().all(|s| s.soa_serial() == Some(7)), "{r:?}");
    }
}

/// `check` explains a DNS cause with the evidence and the `dig` command aimed at the server.
#[tokio::test]
async fn check_command_names_the_silent_nameserver() {
    let lab = DnsLab::start(vec![healthy_zone()], &[(NS2, Behaviour::Silent)]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        format!(
            "global: {{timeout: 2s{}}}\norigins:\n  - {{name: o, domain: origin.healthy.test, checks: [dns]}}\n",
            lab.global_yaml()
        ),
    )
    .expect("write config");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_origin_exporter"))
            .args(["check", "--config.file"])
            .arg(&file)
            .output()
            .expect("run binary")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // A warning only: the origin is still ready.
    assert_eq!(out.status.code(), Some(0), "{text}");
    let port = lab.port;
    for line in [
        "dns_nameserver_down [warning]".to_string(),
        "zone healthy.test: ns2.healthy.test (127.0.0.12): no response within 0.5s".to_string(),
        format!("dig origin.healthy.test A @127.0.0.12 -p {port} +norecurse +time=2 +tries=1"),
        "dns:  zone healthy.test: ns1.healthy.test (127.0.0.11) authoritative, serial 7"
            .to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
}

/// A server that answers with a forged id, garbage, or a 56 KB message gives no usable response:
/// reported as down within the timeout, and the other server's results are unharmed.
#[tokio::test]
async fn hostile_answers_count_as_no_response() {
    for behaviour in [Behaviour::WrongId, Behaviour::Garbage, Behaviour::Oversized] {
        let lab = DnsLab::start(vec![healthy_zone()], &[(NS2, behaviour)]).await;
        let ex = exporter(&lab, "origin.healthy.test", "").await;
        let s = ex.wait_cycle(&["o"]).await;

        assert_dns_causes(&s, &["dns_nameserver_down"]);
        let (good, bad) = (
            server("healthy.test", "ns1.healthy.test", NS1),
            server("healthy.test", "ns2.healthy.test", NS2),
        );
        assert_eq!(
            value(&s, "origin_dns_nameserver_up", &bad),
            Some(0.0),
            "{behaviour:?}"
        );
        assert_eq!(
            value(&s, "origin_dns_soa_serial", &good),
            Some(7.0),
            "{behaviour:?}"
        );
        let took = s
            .value(
                "origin_probe_duration_seconds",
                &[("origin", "o"), ("check", "dns")],
            )
            .expect("duration");
        assert!(
            took < 2.0,
            "{behaviour:?}: the check took {took}s, beyond the timeout"
        );
        ex.stop().await;
    }
}
