//! Ad-hoc probes (`/probe?target=`) fail closed. The name is resolved once, when the request is
//! vetted; a lookup that fails, times out or finds no address is the probe's answer
//! (`dns_resolution_failed`), never a reason to resolve again, so a name that answers nothing
//! first and a loopback address later cannot reach what was never vetted. And the ad-hoc default
//! refuses every non-public address unless `adhoc_allowed_networks` admits it.

mod lab;

use std::time::{Duration, Instant};

use lab::dns::{Behaviour, DnsLab, Zone, RESOLVER};
use lab::tcp::{closed_port, OpenPort};
use lab::{Exporter, Scrape};

/// The lab's name for the listener: `www.flaky.test` is 127.0.0.1.
fn zone() -> Zone {
    Zone::new("flaky.test", 1, &["127.0.0.21".parse().expect("ip")])
        .with_record("www.flaky.test", "127.0.0.1".parse().expect("ip"))
}

fn config(dns: &DnsLab, networks: &str) -> String {
    format!(
        "global: {{interval: 60s, timeout: 1s, checks: [tcp, tls, http], allow_adhoc_targets: true, \
         adhoc_allowed_domains: ['*.flaky.test']{networks}{}}}\n\
         origins:\n  - {{name: quiet, domain: quiet.lab.test, address: 127.0.0.1, \
         https_port: {}, protocol_policy: https-only, checks: [tcp]}}\n",
        dns.global_yaml(),
        closed_port(),
    )
}

/// The vetting lookup gets no answer: the resolver is silent for its first 1.2 s (the lookup and
/// its retries), longer than the probe's 1 s timeout, and answers 127.0.0.1 after. Whether or not
/// loopback is admitted, the probe reports the failed resolution and nothing connects to the
/// listener at 127.0.0.1: a second lookup by the cycle (the fault this guards against) would
/// have had the answer within its own 1 s. Once the name answers, a new request is vetted like
/// any other: refused by the default policy, probed where loopback is admitted (so the
/// listener does count connections).
#[tokio::test]
async fn a_failed_vetting_lookup_is_the_answer_not_a_reason_to_resolve_again() {
    let listener = OpenPort::start().await;
    let port = listener.port();
    let query = format!("/probe?target=www.flaky.test&https_port={port}&http_port={port}");
    for (networks, admitted) in [
        ("", false),
        (", adhoc_allowed_networks: [127.0.0.0/8]", true),
    ] {
        let silent = Behaviour::SilentFor(Duration::from_millis(1200));
        let dns = DnsLab::start(vec![zone()], &[(RESOLVER, silent)]).await;
        let exporter = Exporter::start(&config(&dns, networks)).await;
        let before = listener.accepted();

        let (status, body) = exporter.get(&query).await;
        assert_eq!(status, 200, "{networks}: {body}");
        let s = Scrape::parse(&body);
        assert_eq!(
            s.active_causes("www.flaky.test"),
            ["dns_resolution_failed"],
            "{networks}: {body}"
        );
        s.assert_value(
            "origin_dns_resolve_success",
            &[("origin", "www.flaky.test")],
            0.0,
        );
        assert_eq!(
            listener.accepted(),
            before,
            "{networks}: connected after a failed lookup"
        );

        // Once the name answers, the next request's own lookup vets it.
        let deadline = Instant::now() + lab::WAIT;
        let (status, body) = loop {
            let (status, body) = exporter.get(&query).await;
            let unresolved = status == 200
                && Scrape::parse(&body)
                    .active_causes("www.flaky.test")
                    .contains(&"dns_resolution_failed".to_string());
            if !unresolved || Instant::now() > deadline {
                break (status, body);
            }
        };
        if admitted {
            assert_eq!(status, 200, "{body}");
            Scrape::parse(&body).assert_value(
                "origin_tcp_port_up",
                &[
                    ("origin", "www.flaky.test"),
                    ("address", "127.0.0.1"),
                    ("port", &port.to_string()),
                ],
                1.0,
            );
            assert!(
                listener.accepted() > before,
                "the lab's listener counts connections"
            );
        } else {
            assert_eq!(status, 403, "{body}");
            assert!(body.contains("127.0.0.1 is loopback"), "{body}");
            assert_eq!(listener.accepted(), before, "connected after a refusal");
        }
        exporter.stop().await;
    }
}

/// Without `adhoc_allowed_networks`, no loopback, private, link-local, CGNAT, multicast,
/// unspecified or metadata address is probed, whether given as `address=` or resolved.
#[tokio::test]
async fn the_default_refuses_every_non_public_address() {
    let listener = OpenPort::start().await;
    let port = listener.port();
    let zone = Zone::new("ranges.test", 1, &["127.0.0.22".parse().expect("ip")])
        .with_record("loop.ranges.test", "127.0.0.1".parse().expect("ip"))
        .with_record("meta.ranges.test", "169.254.169.254".parse().expect("ip"));
    let dns = DnsLab::start(vec![zone], &[]).await;
    let exporter = Exporter::start(&format!(
        "global: {{interval: 60s, timeout: 1s, checks: [tcp], protocol_policy: https-only, \
         allow_adhoc_targets: true, adhoc_allowed_domains: ['*.ranges.test']{}}}\n\
         origins:\n  - {{name: quiet, domain: quiet.lab.test, address: 127.0.0.1, https_port: {}}}\n",
        dns.global_yaml(),
        closed_port(),
    ))
    .await;
    for (target, why) in [
        ("x.ranges.test&address=127.0.0.1", "127.0.0.1 is loopback"),
        ("x.ranges.test&address=::1", "::1 is loopback"),
        ("x.ranges.test&address=10.0.0.1", "10.0.0.1 is private"),
        (
            "x.ranges.test&address=192.168.1.1",
            "192.168.1.1 is private",
        ),
        (
            "x.ranges.test&address=100.64.0.1",
            "100.64.0.1 is shared address space (CGNAT)",
        ),
        (
            "x.ranges.test&address=169.254.1.1",
            "169.254.1.1 is link-local",
        ),
        ("x.ranges.test&address=224.0.0.1", "224.0.0.1 is multicast"),
        ("x.ranges.test&address=0.0.0.0", "0.0.0.0 is unspecified"),
        (
            "x.ranges.test&address=fd00:ec2::254",
            "fd00:ec2::254 is cloud metadata",
        ),
        ("loop.ranges.test", "127.0.0.1 is loopback"),
        ("meta.ranges.test", "169.254.169.254 is cloud metadata"),
    ] {
        let (status, body) = exporter
            .get(&format!("/probe?target={target}&https_port={port}"))
            .await;
        assert_eq!(status, 403, "{target}: {body}");
        assert!(body.contains(why), "{target}: {body}");
        assert!(
            body.contains("global.adhoc_allowed_networks"),
            "{target}: {body}"
        );
    }
    assert_eq!(listener.accepted(), 0);
    exporter.stop().await;
}
