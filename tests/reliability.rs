//! What users rely on across the exporter's life: `/probe` never changes `/metrics`, reloads lose
//! nothing, a panicking cycle is caught and the origin keeps being probed, durations are bounded.
//! Real loopback servers, the daemon in-process.

mod lab;

use std::time::Duration;

use lab::http::HttpOrigin;
use lab::tcp::OpenPort;
use lab::Exporter;

/// Origin names whose first run falls within 0.2 s of a start or reload with a 60 s interval
/// (the scheduler spreads first runs by a stable hash of the name): with them a test sees every
/// origin's first cycle at once, and no second one for a minute.
const EARLY: [&str; 3] = ["s40", "s51", "s81"];

fn tcp_origin(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp]{extra}}}\n"
    )
}

fn timestamps(s: &lab::Scrape, names: &[&str]) -> Vec<Option<f64>> {
    names
        .iter()
        .map(|n| s.value("origin_last_probe_timestamp_seconds", &[("origin", n)]))
        .collect()
}

#[tokio::test]
async fn probe_of_a_slow_origin_leaves_metrics_unchanged() {
    // Headers after 1.5 s: fine for the scheduled probe (read_timeout 10 s), too slow for a
    // /probe squeezed into a 2 s scrape timeout.
    let slow = HttpOrigin::plain(200, Duration::from_millis(1500)).await;
    let yaml = format!(
        "global: {{interval: 5s, timeout: 2s, read_timeout: 10s}}\norigins:\n  - {{name: slow, domain: slow.lab.test, address: 127.0.0.1, protocol_policy: http-only, http_port: {}, checks: [tcp, http], http: {{}}}}\n",
        slow.port()
    );
    let exporter = Exporter::start(&yaml).await;
    let before = exporter
        .wait_for("the scheduled cycle's HTTP status", |s| {
            s.value("origin_http_status_code", &[("origin", "slow")]) == Some(200.0)
        })
        .await;
    assert_eq!(before.active_causes("slow"), Vec::<String>::new());

    let (status, _, body) = exporter
        .get_with(
            "/probe?origin=slow",
            &[("x-prometheus-scrape-timeout-seconds", "2")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let probed = lab::Scrape::parse(&body);
    assert_eq!(
        probed.active_causes("slow"),
        vec!["http_timeout".to_string()]
    );

    let after = exporter.scrape().await;
    assert_eq!(after.active_causes("slow"), Vec::<String>::new());
    after.assert_value(
        "origin_problem",
        &[("origin", "slow"), ("cause", "http_timeout")],
        0.0,
    );
    after.assert_value("origin_cdn_ready", &[("origin", "slow")], 1.0);
    // /probe runs are not scheduled cycles: they are not counted either.
    assert_eq!(
        after.value(
            "origin_exporter_probes_total",
            &[("check", "http"), ("result", "timeout")]
        ),
        Some(0.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn reloads_keep_unchanged_origins_and_readiness() {
    let ports = [
        OpenPort::start().await,
        OpenPort::start().await,
        OpenPort::start().await,
    ];
    let yaml = |concurrency: u32, changed_label: &str| {
        let origins: Vec<String> = EARLY
            .iter()
            .zip(&ports)
            .map(|(name, p)| {
                let extra = if *name == EARLY[2] {
                    format!(", labels: {{team: {changed_label}}}")
                } else {
                    String::new()
                };
                tcp_origin(name, p.port(), &extra)
            })
            .collect();
        format!(
            "global: {{interval: 60s, timeout: 1s, concurrency: {concurrency}}}\norigins:\n{}",
            origins.concat()
        )
    };
    let exporter = Exporter::start(&yaml(8, "a")).await;
    let first = exporter.wait_cycle(&EARLY).await;
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    let probed = timestamps(&first, &EARLY);
    assert!(probed.iter().all(Option::is_some), "{probed:?}");

    // Only global.concurrency changes: every series stays, nothing restarts, still ready.
    exporter.write_config(&yaml(3, "a"));
    assert_eq!(exporter.post("/-/reload").await.0, 200);
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    let s = exporter.scrape().await;
    for name in EARLY {
        s.assert_value("origin_cdn_ready", &[("origin", name)], 1.0);
    }
    assert_eq!(timestamps(&s, &EARLY), probed);

    // One origin changes: the others keep their snapshot and schedule; the changed one keeps
    // its series (under its new labels) until its first new cycle.
    exporter.write_config(&yaml(3, "b"));
    assert_eq!(exporter.post("/-/reload").await.0, 200);
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    let s = exporter.scrape().await;
    assert_eq!(timestamps(&s, &EARLY[..2]), probed[..2].to_vec());
    assert!(
        s.value("origin_cdn_ready", &[("origin", EARLY[2]), ("team", "b")])
            .is_some(),
        "{}",
        s.text
    );
    let s = exporter.wait_cycle(&EARLY[2..]).await;
    assert_eq!(timestamps(&s, &EARLY[..2]), probed[..2].to_vec());
    exporter.stop().await;
}

#[tokio::test]
async fn a_panicking_cycle_is_counted_and_the_origin_is_probed_again() {
    let port = OpenPort::start().await;
    let yaml = format!(
        "global: {{interval: 1s, timeout: 1s}}\norigins:\n{}",
        tcp_origin("fragile", port.port(), "")
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_cycle(&["fragile"]).await;
    origin_exporter::cycle::fault::panic_next("fragile");
    exporter
        .wait_for("a counted panic", |s| {
            s.value("origin_exporter_task_panics_total", &[]) == Some(1.0)
        })
        .await;
    let s = exporter.wait_cycle(&["fragile"]).await;
    s.assert_value("origin_cdn_ready", &[("origin", "fragile")], 1.0);
    s.assert_value("origin_exporter_task_panics_total", &[], 1.0);
    exporter.stop().await;
}

/// An origin whose every cycle panics still finishes cycles as far as readiness is concerned:
/// `/-/ready` turns 200 once the others are probed, and each panic is counted.
#[tokio::test]
async fn ready_does_not_wait_for_an_origin_whose_every_cycle_panics() {
    let port = OpenPort::start().await;
    origin_exporter::cycle::fault::panic_every("doomed");
    let yaml = format!(
        "global: {{interval: 1s, timeout: 1s}}\norigins:\n{}{}",
        tcp_origin("doomed", port.port(), ""),
        tcp_origin("healthy", port.port(), "")
    );
    let exporter = Exporter::start(&yaml).await;
    let s = exporter
        .wait_for(
            "two counted panics and a cycle of the healthy origin",
            |s| {
                s.value("origin_exporter_task_panics_total", &[])
                    .is_some_and(|n| n >= 2.0)
                    && s.value("origin_cdn_ready", &[("origin", "healthy")]) == Some(1.0)
            },
        )
        .await;
    assert!(
        !s.has_origin("doomed"),
        "a panicked cycle publishes nothing:\n{}",
        s.text
    );
    let (status, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 200, "{body}");
    exporter.stop().await;
}

#[test]
fn out_of_range_durations_are_config_errors_with_their_paths() {
    let (code, text) = lab::config_check(
        "global: {interval: 100ms}\norigins:\n  - {name: a, domain: a.example, read_timeout: 5m}\n  - {name: b, domain: b.example, interval: 10s, timeout: 20s}\n",
        &[],
    );
    assert_eq!(code, 2, "{text}");
    for expected in [
        "global.interval: must be 1s to 86400s, got 0.1s",
        "origins[0].read_timeout: must be 0.001s to 180s, got 300s",
        "origins[1].timeout: must not exceed interval (10s)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
