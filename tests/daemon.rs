//! The daemon end to end, in-process: TCP check, verdict, exporter metrics, reloads, endpoints.

mod lab;

use lab::tcp::{closed_port, HungPort, OpenPort};
use lab::Exporter;

fn tcp_origin(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp]{extra}}}\n"
    )
}

fn config(global: &str, origins: &[String]) -> String {
    format!("global: {{{global}}}\norigins:\n{}", origins.concat())
}

#[tokio::test]
async fn open_closed_and_hung_ports_in_one_scrape() {
    let open = OpenPort::start().await;
    let closed = closed_port();
    let hung = HungPort::start().await;
    let yaml = config(
        "interval: 2s, timeout: 1s",
        &[
            tcp_origin("open", open.port(), ""),
            tcp_origin("closed", closed, ""),
            tcp_origin("hung", hung.port(), ""),
        ],
    );
    let exporter = Exporter::start(&yaml).await;
    let s = exporter.wait_cycle(&["open", "closed", "hung"]).await;

    let port = |p: u16| p.to_string();
    let open_port = port(open.port());
    let closed_port = port(closed);
    let hung_port = port(hung.port());
    for (origin, p, up) in [
        ("open", &open_port, 1.0),
        ("closed", &closed_port, 0.0),
        ("hung", &hung_port, 0.0),
    ] {
        let labels = [
            ("origin", origin),
            ("address", "127.0.0.1"),
            ("port", p.as_str()),
        ];
        s.assert_value("origin_tcp_port_up", &labels, up);
        assert!(s
            .value("origin_tcp_connect_duration_seconds", &labels)
            .is_some());
        s.assert_value("origin_cdn_ready", &[("origin", origin)], up);
        s.assert_value(
            "origin_probe_success",
            &[("origin", origin), ("check", "tcp")],
            up,
        );
        s.assert_value(
            "origin_problem",
            &[
                ("origin", origin),
                ("cause", "port_unreachable"),
                ("severity", "critical"),
            ],
            1.0 - up,
        );
        // The address is pinned: the exporter resolves nothing and reports no DNS series.
        assert!(s
            .matching("origin_dns_resolve_success", &[("origin", origin)])
            .is_empty());
        assert_eq!(s.matching("origin_problem", &[("origin", origin)]).len(), 1);
    }
    // The hung connection was tried as the CDN tries it: 3 attempts (connection_attempts),
    // each cut at the 1s timeout (the smaller of timeout and connection_timeout).
    let hung_labels = [
        ("origin", "hung"),
        ("address", "127.0.0.1"),
        ("port", hung_port.as_str()),
    ];
    let hung_took = s
        .value("origin_tcp_connect_duration_seconds", &hung_labels)
        .unwrap();
    assert!(
        (3.0..4.0).contains(&hung_took),
        "hung connect took {hung_took}s"
    );
    s.assert_value("origin_tcp_connect_attempts", &hung_labels, 3.0);

    s.assert_value("origin_exporter_origins", &[], 3.0);
    s.assert_value("origin_exporter_config_last_reload_successful", &[], 1.0);
    s.assert_value("origin_probe_interval_seconds", &[("origin", "open")], 2.0);
    assert!(
        s.value(
            "origin_exporter_probes_total",
            &[("check", "tcp"), ("result", "success")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        s.value(
            "origin_exporter_probes_total",
            &[("check", "tcp"), ("result", "failure")]
        )
        .unwrap()
            >= 2.0
    );
    let build = s.matching("origin_exporter_build_info", &[]);
    assert_eq!(build.len(), 1);
    assert_eq!(build[0].labels["version"], env!("CARGO_PKG_VERSION"));
    exporter.stop().await;
}

#[tokio::test]
async fn a_hung_origin_does_not_delay_the_others() {
    let open = OpenPort::start().await;
    let hung_a = HungPort::start().await;
    let hung_b = HungPort::start().await;
    let silent = OpenPort::start().await;
    // Each hung probe holds its slot for 10 s; the open origin is probed every second. `silent`
    // accepts the connection, then never answers the TLS hello.
    let yaml = config(
        "interval: 1s, timeout: 500ms, concurrency: 4",
        &[
            tcp_origin("open", open.port(), ""),
            tcp_origin("hung-a", hung_a.port(), ", interval: 12s, timeout: 10s"),
            tcp_origin("hung-b", hung_b.port(), ", interval: 12s, timeout: 10s"),
            format!(
                "  - {{name: silent, domain: silent.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls], interval: 12s, timeout: 10s}}\n",
                silent.port()
            ),
        ],
    );
    let exporter = Exporter::start(&yaml).await;
    for _ in 0..3 {
        exporter.wait_cycle(&["open"]).await;
    }
    // Three cycles of `open` took about 3 s; neither hung probe can have ended yet (>= 10 s).
    let s = exporter.scrape().await;
    for hung in ["hung-a", "hung-b", "silent"] {
        assert!(!s.has_origin(hung), "{hung} reported already:\n{}", s.text);
    }
    s.assert_value("origin_cdn_ready", &[("origin", "open")], 1.0);
    exporter.stop().await;
}

#[tokio::test]
async fn reload_adds_and_removes_origins() {
    let open = OpenPort::start().await;
    let p = open.port();
    let exporter = Exporter::start(&config(
        "interval: 1s, timeout: 500ms",
        &[tcp_origin("a", p, ""), tcp_origin("b", p, "")],
    ))
    .await;
    exporter.wait_cycle(&["a", "b"]).await;

    exporter.write_config(&config(
        "interval: 1s, timeout: 500ms",
        &[tcp_origin("b", p, ""), tcp_origin("c", p, "")],
    ));
    let (status, body) = exporter.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let s = exporter.wait_cycle(&["b", "c"]).await;
    assert!(
        !s.has_origin("a"),
        "removed origin still exported:\n{}",
        s.text
    );
    s.assert_value("origin_exporter_origins", &[], 2.0);
    s.assert_value("origin_exporter_config_last_reload_successful", &[], 1.0);

    // GET is not a reload.
    let (status, _) = exporter.get("/-/reload").await;
    assert_eq!(status, 405);
    exporter.stop().await;
}

#[tokio::test]
async fn an_invalid_reload_keeps_the_running_config() {
    let open = OpenPort::start().await;
    let exporter = Exporter::start(&config(
        "interval: 1s, timeout: 500ms",
        &[tcp_origin("a", open.port(), "")],
    ))
    .await;
    exporter.wait_cycle(&["a"]).await;
    let before = exporter.scrape().await;
    let loaded_at = before
        .value(
            "origin_exporter_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .unwrap();

    exporter.write_config("origins:\n  - {name: a, domain: a.lab.test, https_port: 0}\n");
    let (status, body) = exporter.post("/-/reload").await;
    assert_eq!(status, 500);
    assert!(
        body.contains("origins[0].https_port: must be 1-65535, got 0"),
        "{body}"
    );

    // The old origin keeps being probed, and the failure shows.
    let s = exporter.wait_cycle(&["a"]).await;
    s.assert_value("origin_exporter_config_last_reload_successful", &[], 0.0);
    s.assert_value(
        "origin_exporter_config_last_reload_success_timestamp_seconds",
        &[],
        loaded_at,
    );
    s.assert_value("origin_cdn_ready", &[("origin", "a")], 1.0);
    exporter.stop().await;
}

#[tokio::test]
async fn endpoints_health_ready_landing_and_formats() {
    let open = OpenPort::start().await;
    let exporter = Exporter::start(&config(
        "interval: 1s, timeout: 500ms",
        &[
            tcp_origin("web", open.port(), ""),
            tcp_origin("down", closed_port(), ""),
        ],
    ))
    .await;
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    exporter.wait_cycle(&["web", "down"]).await;
    assert_eq!(exporter.get("/-/ready").await.0, 200);

    let (status, page) = exporter.get("/").await;
    assert_eq!(status, 200);
    for needle in [
        "web",
        "down",
        "port_unreachable",
        "NOT READY",
        "href=\"/metrics\"",
    ] {
        assert!(
            page.contains(needle),
            "landing page lacks {needle:?}:\n{page}"
        );
    }

    let (status, ctype, body) = exporter
        .get_accept(
            "/metrics",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(body.trim_end().ends_with("# EOF"));
    let (_, ctype, body) = exporter.get_accept("/metrics", "text/plain").await;
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    assert!(!body.contains("# EOF"));
    assert!(
        body.contains("# TYPE origin_exporter_probes_total counter"),
        "{body}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn shards_split_the_origins_without_overlap() {
    use origin_exporter::shard::Shard;
    let open = OpenPort::start().await;
    let names: Vec<String> = (0..12).map(|i| format!("o{i}")).collect();
    let origins: Vec<String> = names
        .iter()
        .map(|n| tcp_origin(n, open.port(), ""))
        .collect();
    let yaml = config("interval: 1s, timeout: 500ms", &origins);
    let a = Exporter::start_shard(&yaml, Shard { index: 0, count: 2 }).await;
    let b = Exporter::start_shard(&yaml, Shard { index: 1, count: 2 }).await;
    let owned = |s: &lab::Scrape| -> Vec<String> {
        names.iter().filter(|n| s.has_origin(n)).cloned().collect()
    };
    let count = |s: &lab::Scrape| s.value("origin_exporter_origins", &[]).unwrap() as usize;
    let sa = a
        .wait_for("shard 0 probed its origins", |s| owned(s).len() == count(s))
        .await;
    let sb = b
        .wait_for("shard 1 probed its origins", |s| owned(s).len() == count(s))
        .await;
    let (oa, ob) = (owned(&sa), owned(&sb));
    assert!(!oa.is_empty() && !ob.is_empty(), "{oa:?} {ob:?}");
    assert!(oa.iter().all(|n| !ob.contains(n)), "overlap: {oa:?} {ob:?}");
    assert_eq!(oa.len() + ob.len(), names.len());
    a.stop().await;
    b.stop().await;
}
