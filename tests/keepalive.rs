//! What the HTTP check measures after the response headers, end to end on loopback: how long
//! the origin keeps the connection idle against the CDN's `keepalive_timeout`
//! (`http_keepalive_race`, `origin_http_keepalive_idle_seconds`), on nginx and on Go's net/http,
//! both over TLS; and the time to the last byte against `response_completion_timeout`
//! (`http_timeout`, `origin_http_response_complete_seconds`) on an origin that trickles its body.

mod lab;

use std::time::{Duration, Instant};

use lab::http::HttpOrigin;
use lab::nginx::{NginxConfig, NginxOrigin};
use lab::tls::{GoOrigin, Leaf, LeafSpec, Pki};
use lab::{Exporter, Scrape};

/// The CDN's keep-alive in these tests: the watch lasts up to this plus 1 s.
const KEEPALIVE: &str = "3s";
const WATCH: f64 = 4.0;

fn leaf(pki: &Pki, name: &str) -> Leaf {
    pki.leaf(
        &LeafSpec::new(&[&format!("{name}.lab.test")]),
        Some(&pki.inter),
    )
}

/// An HTTPS origin on 127.0.0.1 with the TCP, TLS and HTTP checks and the test's keep-alive.
fn origin(name: &str, port: u16) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls, http], http: {{path: /}}, keepalive_timeout: {KEEPALIVE}}}\n"
    )
}

/// Every origin every second, one at a time: a watch that held the budget slot or the cycle
/// would show as cycles seconds apart.
fn config(pki: &Pki, origins: &[String]) -> String {
    format!(
        "global: {{interval: 1s, timeout: 1s, concurrency: 1, ca_file: '{}'}}\norigins:\n{}",
        pki.ca_file.display(),
        origins.concat()
    )
}

/// What the watch of one origin is expected to find.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The origin closes the idle connection after about this many seconds, sooner than the
    /// CDN: `http_keepalive_race`.
    Race(f64),
    /// It keeps the connection open past the watch.
    Outlasts,
    /// It closes after each response (`Connection: close`): nothing to watch.
    Closes,
}

fn idle(s: &Scrape, origin: &str) -> Option<f64> {
    s.value("origin_http_keepalive_idle_seconds", &[("origin", origin)])
}

/// Waits for the first watch of `origin` to end (or, for [`Expect::Closes`], a cycle), then
/// asserts what it found on `/metrics` and on `/probe`.
async fn assert_watch(exporter: &Exporter, origin: &str, expect: Expect) {
    let s = match expect {
        Expect::Closes => exporter.wait_cycle(&[origin]).await,
        _ => {
            exporter
                .wait_for(&format!("the keep-alive watch of {origin}"), |s| {
                    idle(s, origin).is_some()
                })
                .await
        }
    };
    // Printed for the figures README quotes (`-- --nocapture`).
    println!(
        "KEEPALIVE | {origin} | {expect:?} | idle {:?} s",
        idle(&s, origin)
    );
    let race = [
        ("origin", origin),
        ("cause", "http_keepalive_race"),
        ("severity", "warning"),
    ];
    match expect {
        Expect::Race(secs) => {
            let seen = idle(&s, origin).expect("idle time");
            assert!(
                (secs - 0.2..secs + 0.9).contains(&seen),
                "{origin}: closed after {seen} s, expected about {secs} s"
            );
            assert_eq!(s.active_causes(origin), ["http_keepalive_race"], "{origin}");
            s.assert_value("origin_problem", &race, 1.0);
            // A warning: the CDN can still fetch.
            s.assert_value("origin_cdn_ready", &[("origin", origin)], 1.0);
        }
        Expect::Outlasts => {
            let seen = idle(&s, origin).expect("idle time");
            assert!(
                (WATCH - 0.05..WATCH + 0.5).contains(&seen),
                "{origin}: watched {seen} s, expected the whole watch ({WATCH} s)"
            );
            assert!(s.active_causes(origin).is_empty(), "{origin}");
        }
        Expect::Closes => {
            assert_eq!(
                idle(&s, origin),
                None,
                "{origin}: closes after each response"
            );
            assert!(s.active_causes(origin).is_empty(), "{origin}");
        }
    }
    // A probe of its own waits for its watch (within the scrape timeout) and says the same.
    let (status, body) = exporter.get(&format!("/probe?origin={origin}")).await;
    assert_eq!(status, 200, "{body}");
    let p = Scrape::parse(&body);
    let raced = p.active_causes(origin) == ["http_keepalive_race"];
    assert_eq!(
        raced,
        matches!(expect, Expect::Race(_)),
        "/probe of {origin}:\n{body}"
    );
    assert_eq!(
        idle(&p, origin).is_some(),
        !matches!(expect, Expect::Closes),
        "/probe of {origin}:\n{body}"
    );
}

/// Three cycles of `origin` end within one watch: the cycle's verdict and the budget slot (one
/// for every origin here) do not wait for the watch.
async fn assert_cycles_do_not_wait(exporter: &Exporter, origin: &str) {
    let mut ends: Vec<f64> = Vec::new();
    let deadline = Instant::now() + lab::WAIT;
    while ends.len() < 3 {
        let s = exporter.scrape().await;
        if let Some(end) = s.value("origin_last_probe_timestamp_seconds", &[("origin", origin)]) {
            if ends.last().is_none_or(|last| end > *last) {
                ends.push(end);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{origin}: cycles ended at {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let span = ends[2] - ends[0];
    println!("KEEPALIVE | {origin} | three cycles in {span:.2} s beside a {WATCH} s watch");
    assert!(
        span < WATCH,
        "{origin}: three cycles took {span:.1} s, as long as the {WATCH} s watch: cycles end at {ends:?}"
    );
}

/// Probes each (name, port, expected watch) origin on one exporter and checks what each watch
/// finds; then that the cycles of `steady` (an origin outlasting the watch) keep their interval.
async fn watches(pki: &Pki, origins: &[(&str, u16, Expect)], steady: &str) {
    let config = config(
        pki,
        &origins
            .iter()
            .map(|(name, port, _)| origin(name, *port))
            .collect::<Vec<_>>(),
    );
    let exporter = Exporter::start(&config).await;
    for (name, _, expect) in origins {
        assert_watch(&exporter, name, *expect).await;
    }
    assert_cycles_do_not_wait(&exporter, steady).await;
    exporter.stop().await;
}

/// nginx closing idle connections after 2 s races a CDN keeping them 3 s; at 75 s it outlasts
/// the watch; at 0 it answers `Connection: close` and nothing races.
#[tokio::test]
async fn nginx_keepalive_against_the_cdns() {
    let pki = Pki::new();
    let nginx =
        |name: &str, secs| NginxConfig::tls(&pki, &leaf(&pki, name)).keepalive_timeout(secs);
    let short = NginxOrigin::start(&nginx("nginx2", 2)).await;
    let long = NginxOrigin::start(&nginx("nginx75", 75)).await;
    let closing = NginxOrigin::start(&nginx("nginx0", 0)).await;
    let origins = [
        ("nginx2", short.port(), Expect::Race(2.0)),
        ("nginx75", long.port(), Expect::Outlasts),
        ("nginx0", closing.port(), Expect::Closes),
    ];
    watches(&pki, &origins, "nginx75").await;
}

/// The same on Go's net/http over crypto/tls: `IdleTimeout` 2 s races, 30 s outlasts the
/// watch, keep-alives off answer `Connection: close`.
#[tokio::test]
async fn go_keepalive_against_the_cdns() {
    let pki = Pki::new();
    let go = |name: &'static str, args: &'static [&'static str]| {
        let leaf = leaf(&pki, name);
        let pki = &pki;
        async move { GoOrigin::start(pki, &leaf, args).await }
    };
    let short = go("go2", &["-idle-timeout", "2s"]).await;
    let long = go("go30", &["-idle-timeout", "30s"]).await;
    let closing = go("goclose", &["-keep-alive=false"]).await;
    let origins = [
        ("go2", short.port(), Expect::Race(2.0)),
        ("go30", long.port(), Expect::Outlasts),
        ("goclose", closing.port(), Expect::Closes),
    ];
    watches(&pki, &origins, "go30").await;
}

/// A body trickled over about 1.6 s: late for a 1 s `response_completion_timeout`
/// (`http_timeout`, the evidence naming that timeout), in time for 5 s (its time to the last
/// byte exported). Without the setting the time is not exported.
#[tokio::test]
async fn a_trickled_body_against_the_response_completion_timeout() {
    let every = Duration::from_millis(400);
    let late = HttpOrigin::trickling(5, every).await;
    let in_time = HttpOrigin::trickling(5, every).await;
    let unbound = HttpOrigin::trickling(5, every).await;
    let plain = |name: &str, port: u16, extra: &str| {
        format!(
            "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, protocol_policy: http-only, http_port: {port}, checks: [tcp, http], read_timeout: 1s{extra}}}\n"
        )
    };
    let config = format!(
        "global: {{interval: 3s, timeout: 1s}}\norigins:\n{}{}{}",
        plain("late", late.port(), ", response_completion_timeout: 1s"),
        plain(
            "intime",
            in_time.port(),
            ", response_completion_timeout: 5s"
        ),
        plain("unbound", unbound.port(), ""),
    );
    let exporter = Exporter::start(&config).await;
    let s = exporter.wait_cycle(&["late", "intime", "unbound"]).await;
    let complete = |o: &str| s.value("origin_http_response_complete_seconds", &[("origin", o)]);

    assert_eq!(s.active_causes("late"), ["http_timeout"]);
    s.assert_value("origin_cdn_ready", &[("origin", "late")], 0.0);
    // The headers came at once: it is the whole response that was late.
    s.assert_value("origin_http_status_code", &[("origin", "late")], 200.0);
    assert_eq!(complete("late"), None);

    assert!(s.active_causes("intime").is_empty());
    let took = complete("intime").expect("time to the last byte");
    println!("COMPLETION | intime | last byte after {took:.2} s");
    assert!((1.5..3.0).contains(&took), "in time: {took} s");

    assert!(s.active_causes("unbound").is_empty());
    assert_eq!(complete("unbound"), None);
    exporter.stop().await;

    let out = lab::check_output(&config, "late").await;
    assert!(
        out.contains("http_timeout")
            && out.contains(&format!(
                "the response was not complete within response_completion_timeout 1 s from 127.0.0.1:{}",
                late.port()
            ))
            && out.contains("(read_timeout 1 s)"),
        "{out}"
    );
    let out = lab::check_output(&config, "intime").await;
    assert!(
        out.contains("the body (5120 bytes) complete after 1.")
            && out.contains("(response_completion_timeout 5 s)"),
        "{out}"
    );
}

/// A body over the 8 MiB bound is read no further: neither its last byte nor the keep-alive is
/// measured, and `check` says so; a small one on the same kind of server is timed and watched.
#[tokio::test]
async fn a_body_over_the_bound_is_neither_timed_nor_watched() {
    let large = HttpOrigin::large(9 * 1024).await;
    let small = HttpOrigin::large(4).await;
    let plain = |name: &str, port: u16| {
        format!(
            "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, protocol_policy: http-only, http_port: {port}, checks: [tcp, http], response_completion_timeout: 30s, keepalive_timeout: 1s}}\n"
        )
    };
    let config = format!(
        "global: {{interval: 2s, timeout: 1s}}\norigins:\n{}{}",
        plain("large", large.port()),
        plain("small", small.port()),
    );
    let out = lab::check_output(&config, "large").await;
    assert!(
        out.contains("the body is larger than 8 MiB: read no further, so neither its last byte nor the keep-alive is timed; keep-alive not watched")
            && out.contains("no known cause"),
        "{out}"
    );
    let exporter = Exporter::start(&config).await;
    let s = exporter
        .wait_for("the watch of small", |s| idle(s, "small").is_some())
        .await;
    assert!(s.active_causes("large").is_empty());
    assert_eq!(idle(&s, "large"), None);
    let complete = |o: &str| s.value("origin_http_response_complete_seconds", &[("origin", o)]);
    assert_eq!(complete("large"), None);
    assert!(complete("small").is_some());
    exporter.stop().await;
}
