//! Origins that change while the daemon runs. For each change the test breaks a healthy origin
//! at a moment T and asserts that `/metrics` shows the cause by the end of the first cycle that
//! starts after T, and on every cycle after until the mend; then it mends the origin at T2 and
//! asserts the cause clears by the same rule. The cycles of one origin never overlap, so the
//! first cycle to end after T may have started before it, and the one after it did not: the
//! cause must show no later than the second cycle to end after T.
//!
//! Each test prints the seconds from the change to the first cycle end that shows it, and from
//! the mend to the first that shows it cleared (`cargo test --test transitions -- --nocapture`);
//! README's "How fast it notices" quotes them. A cycle's verdict may be amended after its end by
//! its keep-alive watch (`keepalive_timeout` + 1 s, here 2 s, within the interval): what counts
//! for a cycle is its last verdict, and a change its watch shows counts from when it showed.

mod lab;

use std::time::{Duration, Instant};

use lab::nginx::{NginxConfig, NginxOrigin, VerifyClient};
use lab::switch::SwitchOrigin;
use lab::tls::{first_flight, Files, Leaf, LeafSpec, OpenSslOrigin, Pki};
use lab::{now_seconds, Exporter, Scrape};

/// The interval of every origin here; each check has `TIMEOUT`.
const INTERVAL: f64 = 3.0;
const TIMEOUT: &str = "2s";

/// An origin on 127.0.0.1 with the TCP, TLS and HTTP checks; `extra` adds keys. The CDN's
/// keep-alive is 1 s: the watch after each response (2 s) ends before the next cycle starts, so
/// each cycle's watch amends that cycle's own verdict.
fn config(pki: &Pki, name: &str, port: u16, extra: &str) -> String {
    format!(
        "global: {{interval: {INTERVAL}s, timeout: {TIMEOUT}, keepalive_timeout: 1s, ca_file: '{}'}}\norigins:\n  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls, http], http: {{path: /}}{extra}}}\n",
        pki.ca_file.display()
    )
}

fn leaf(pki: &Pki, name: &str) -> Leaf {
    pki.leaf(
        &LeafSpec::new(&[&format!("{name}.lab.test")]),
        Some(&pki.inter),
    )
}

/// A client certificate the lab's origins trust (issued by the lab intermediate, sent with it),
/// as the origin's `client_certificate` keys.
fn client_certificate(pki: &Pki, files: &Files) -> (Leaf, String) {
    let client = pki.leaf(&LeafSpec::new(&["cdn-client.lab.test"]), Some(&pki.inter));
    let cert = files.write("client.pem", &format!("{}{}", client.pem, pki.inter.pem));
    let key = files.write("client.key", &client.key_pem);
    let keys = format!(
        ", client_certificate: {{cert_file: '{}', key_file: '{}'}}",
        cert.display(),
        key.display()
    );
    (client, keys)
}

/// Waits for a cycle of `origin` with no cause active.
async fn healthy(exporter: &Exporter, origin: &str) {
    exporter
        .wait_for(&format!("{origin} healthy"), |s| {
            s.value("origin_last_probe_timestamp_seconds", &[("origin", origin)])
                .is_some()
                && s.active_causes(origin).is_empty()
                && s.value("origin_cdn_ready", &[("origin", origin)]) == Some(1.0)
        })
        .await;
}

/// When a change showed: seconds from the change to the end of the first cycle showing it, and
/// which cycle to end after the change that was (1 or 2).
#[derive(Debug, Clone, Copy)]
struct Shown {
    seconds: f64,
    cycle: usize,
}

/// Watches the cycles of `origin` that end after `since` (a change) until `holds` is true of
/// the active causes on the first or second of them and stays true on the next one; panics
/// otherwise, with every cycle seen.
async fn watch(
    exporter: &Exporter,
    origin: &str,
    since: f64,
    what: &str,
    holds: impl Fn(&[String]) -> bool,
) -> Shown {
    let deadline = Instant::now() + Duration::from_secs_f64(4.0 * INTERVAL + 20.0);
    // Each cycle that ended after `since`: its end, its latest verdict, and when that verdict
    // was first seen (its end, or the moment its keep-alive watch amended it).
    let mut cycles: Vec<Cycle> = Vec::new();
    loop {
        let s = exporter.scrape().await;
        let end = last_probe(&s, origin);
        let causes = s.active_causes(origin);
        let amended = cycles
            .last_mut()
            .filter(|c| c.end == end && c.causes != causes);
        if let Some(cycle) = amended {
            cycle.causes = causes;
            cycle.shown = now_seconds();
        } else if end > since && cycles.last().is_none_or(|c| end > c.end) {
            // Consecutive cycles end about one interval apart (their durations here are
            // milliseconds): a longer gap is a cycle this loop did not see.
            let previous = cycles.last().map_or(since, |c| c.end);
            assert!(
                end - previous < 1.75 * INTERVAL,
                "{what}: a cycle of {origin} went unseen (cycles ended at {previous} and {end})"
            );
            cycles.push(Cycle {
                end,
                causes,
                shown: end,
            });
        }
        let seen = || describe(since, &cycles);
        // Judged once the cycle after is seen: by then every amendment of a cycle has come.
        if cycles.len() >= 2 {
            let settled = &cycles[..cycles.len() - 1];
            match settled.iter().position(|c| holds(&c.causes)) {
                Some(first) if first > 1 => panic!(
                    "{what}: not by the end of the first cycle that started after the change:\n{}",
                    seen()
                ),
                Some(first) => {
                    assert!(
                        cycles[first..].iter().all(|c| holds(&c.causes)),
                        "{what}: shown, then gone again:\n{}",
                        seen()
                    );
                    return Shown {
                        seconds: cycles[first].shown - since,
                        cycle: first + 1,
                    };
                }
                None if settled.len() >= 2 => panic!(
                    "{what}: not by the end of the first cycle that started after the change:\n{}",
                    seen()
                ),
                None => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: timed out; cycles seen:\n{}",
            describe(since, &cycles)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One cycle as the test saw it.
struct Cycle {
    end: f64,
    causes: Vec<String>,
    /// When its latest verdict was first seen.
    shown: f64,
}

/// What `/probe?origin=` finds: a cycle of its own, with nothing remembered.
async fn fresh_probe(exporter: &Exporter, origin: &str) -> Scrape {
    let (status, body) = exporter.get(&format!("/probe?origin={origin}")).await;
    assert_eq!(status, 200, "/probe?origin={origin}: {body}");
    Scrape::parse(&body)
}

fn last_probe(s: &Scrape, origin: &str) -> f64 {
    s.value("origin_last_probe_timestamp_seconds", &[("origin", origin)])
        .unwrap_or(0.0)
}

fn describe(since: f64, cycles: &[Cycle]) -> String {
    cycles
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "  cycle {} ended {:.2}s after the change: {:?} (shown {:.2}s after it)\n",
                i + 1,
                c.end - since,
                c.causes,
                c.shown - since
            )
        })
        .collect()
}

/// Breaks a healthy origin with `change`, watches `cause` show, mends it with `mend`, watches
/// every cause clear, and prints both latencies.
async fn transition<B, M>(
    exporter: &Exporter,
    origin: &str,
    label: &str,
    cause: &str,
    change: impl FnOnce() -> B,
    mend: impl FnOnce() -> M,
) where
    B: std::future::Future<Output = ()>,
    M: std::future::Future<Output = ()>,
{
    healthy(exporter, origin).await;
    change().await;
    let t = now_seconds();
    // A probe of its own (`/probe`, nothing reused) tells a change the exporter cannot see at all
    // from one that a cycle's reuse hides.
    let fresh = fresh_probe(exporter, origin).await;
    assert!(
        fresh.active_causes(origin).iter().any(|c| c == cause),
        "{label}: a fresh probe (/probe?origin={origin}) does not show {cause} either: {:?}, HTTP status {:?}",
        fresh.active_causes(origin),
        fresh.value("origin_http_status_code", &[("origin", origin)])
    );
    let shown = watch(exporter, origin, t, &format!("{label}: {cause}"), |c| {
        c.iter().any(|c| c == cause)
    })
    .await;
    mend().await;
    let t2 = now_seconds();
    let cleared = watch(
        exporter,
        origin,
        t2,
        &format!("{label}: mended, {cause} clears"),
        <[String]>::is_empty,
    )
    .await;
    println!(
        "TRANSITION | {label} | {cause} | shown after {:.2}s (cycle {}) | cleared after {:.2}s (cycle {}) | interval {INTERVAL}s",
        shown.seconds, shown.cycle, cleared.seconds, cleared.cycle
    );
}

#[tokio::test]
async fn a_certificate_swapped_for_an_expired_one_and_back() {
    let pki = Pki::new();
    let valid = leaf(&pki, "expiring");
    let expired = pki.leaf(
        &LeafSpec::new(&["expiring.lab.test"]).valid(-30, -1),
        Some(&pki.inter),
    );
    let origin = SwitchOrigin::start(&pki, &valid, &pki.root).await;
    let exporter = Exporter::start(&config(&pki, "expiring", origin.port(), "")).await;
    transition(
        &exporter,
        "expiring",
        "certificate swapped for an expired one",
        "cert_expired",
        || async { origin.serve(&pki, &expired) },
        || async { origin.serve(&pki, &valid) },
    )
    .await;
    exporter.stop().await;
}

#[tokio::test]
async fn a_server_that_starts_asking_for_a_client_certificate_and_stops() {
    let pki = Pki::new();
    let origin = SwitchOrigin::start(&pki, &leaf(&pki, "asking"), &pki.root).await;
    let exporter = Exporter::start(&config(&pki, "asking", origin.port(), "")).await;
    transition(
        &exporter,
        "asking",
        "server starts asking for a client certificate",
        "tls_client_certificate_required",
        || async { origin.ask_client_certificate(true) },
        || async { origin.ask_client_certificate(false) },
    )
    .await;
    exporter.stop().await;
}

/// rustls: the client certificate verifier flips to refusing (alert `certificate_revoked`); the
/// chain and the CertificateRequest stay the same.
#[tokio::test]
async fn rustls_starts_refusing_the_client_certificate_with_the_same_first_flight() {
    let pki = Pki::new();
    let files = Files::new();
    let (_, client) = client_certificate(&pki, &files);
    let origin = SwitchOrigin::start(&pki, &leaf(&pki, "refusing"), &pki.root).await;
    origin.ask_client_certificate(true);
    let exporter = Exporter::start(&config(&pki, "refusing", origin.port(), &client)).await;
    transition(
        &exporter,
        "refusing",
        "rustls starts refusing the client certificate, same first flight",
        "tls_client_certificate_rejected",
        || async { origin.refuse_client_certificates(true) },
        || async { origin.refuse_client_certificates(false) },
    )
    .await;
    exporter.stop().await;
}

/// OpenSSL: `s_server` restarted on the same port, now checking the client certificate against
/// a CRL that revokes it (`-crl_check`, alert `certificate_revoked`). The CA file, and so the
/// first flight, stay the same; the test checks that they do.
#[tokio::test]
async fn openssl_starts_refusing_the_client_certificate_with_the_same_first_flight() {
    let pki = Pki::new();
    let files = Files::new();
    let (client_leaf, client) = client_certificate(&pki, &files);
    let root = files.write("root.pem", &pki.root.pem);
    let crl = files.write("revoked.crl.pem", &pki.crl(&[&client_leaf]));
    let (root, crl) = (root.display().to_string(), crl.display().to_string());
    let accepting = [
        "-tls1_2",
        "-Verify",
        "1",
        "-verify_return_error",
        "-CAfile",
        &root,
    ];
    let refusing = [&accepting[..], &["-crl_check", "-CRL", &crl]].concat();
    let server = leaf(&pki, "osslrefusing");
    // The refusing server's first flight, as the exporter's TLS check reads it, is the
    // accepting one's but for what differs on every handshake.
    let flight = {
        let refusing = OpenSslOrigin::start(&pki, &server, &refusing).await;
        first_flight(refusing.addr, "osslrefusing.lab.test").await
    };
    let first = OpenSslOrigin::start(&pki, &server, &accepting).await;
    let addr = first.addr;
    assert_eq!(
        first_flight(addr, "osslrefusing.lab.test").await,
        flight,
        "refusing changes the first flight"
    );
    assert!(
        flight.iter().any(|(name, _)| name == "CertificateRequest"),
        "{flight:?}"
    );
    let exporter = Exporter::start(&config(&pki, "osslrefusing", addr.port(), &client)).await;
    let current = std::sync::Mutex::new(Some(first));
    transition(
        &exporter,
        "osslrefusing",
        "openssl s_server restarted with a CRL revoking the client certificate, same first flight",
        "tls_client_certificate_rejected",
        || restart(&current, &pki, &server, &refusing),
        || restart(&current, &pki, &server, &accepting),
    )
    .await;
    exporter.stop().await;
}

/// Stops the `s_server` in `current` and starts another on its port with `args`.
async fn restart(
    current: &std::sync::Mutex<Option<OpenSslOrigin>>,
    pki: &Pki,
    server: &Leaf,
    args: &[&str],
) {
    let old = current.lock().expect("lock").take().expect("a server runs");
    let addr = old.addr;
    drop(old);
    let next = OpenSslOrigin::start_at(pki, server, addr, args).await;
    *current.lock().expect("lock") = Some(next);
}

/// nginx with `ssl_verify_client on` finishes the handshake whatever the certificate, then
/// answers every request `400` ("The SSL certificate error"): reloaded with another client CA,
/// it refuses the certificate it accepted.
#[tokio::test]
async fn nginx_starts_refusing_the_client_certificate_with_a_400_and_back() {
    let pki = Pki::new();
    let files = Files::new();
    let (_, client) = client_certificate(&pki, &files);
    let server = leaf(&pki, "nginx400");
    let with_ca = |ca: &str| {
        NginxConfig::tls(&pki, &server).verify_client(VerifyClient::On {
            ca_pem: ca.to_string(),
        })
    };
    let (trusting, refusing) = (with_ca(&pki.root.pem), with_ca(&pki.stranger.pem));
    let nginx = tokio::sync::Mutex::new(NginxOrigin::start(&trusting).await);
    let port = nginx.lock().await.port();
    let exporter = Exporter::start(&config(&pki, "nginx400", port, &client)).await;
    transition(
        &exporter,
        "nginx400",
        "nginx reloaded with another client CA (400 \"The SSL certificate error\")",
        "tls_client_certificate_rejected",
        || async { nginx.lock().await.reconfigure(&refusing).await },
        || async { nginx.lock().await.reconfigure(&trusting).await },
    )
    .await;
    exporter.stop().await;
}

/// nginx reloaded to close idle connections after 500 ms, sooner than the CDN's 1 s
/// keep-alive, then back to its default 75 s.
#[tokio::test]
async fn nginx_starts_closing_idle_connections_too_soon_and_back() {
    let pki = Pki::new();
    let keeping = NginxConfig::tls(&pki, &leaf(&pki, "racing"));
    let racing = keeping.clone().directive("keepalive_timeout 500ms;");
    let nginx = tokio::sync::Mutex::new(NginxOrigin::start(&keeping).await);
    let port = nginx.lock().await.port();
    let exporter = Exporter::start(&config(&pki, "racing", port, "")).await;
    transition(
        &exporter,
        "racing",
        "nginx reloaded with keepalive_timeout 500ms (the CDN keeps 1 s), then 75 s",
        "http_keepalive_race",
        || async { nginx.lock().await.reconfigure(&racing).await },
        || async { nginx.lock().await.reconfigure(&keeping).await },
    )
    .await;
    exporter.stop().await;
}

#[tokio::test]
async fn an_http_5xx_and_back() {
    let pki = Pki::new();
    let origin = SwitchOrigin::start(&pki, &leaf(&pki, "failing"), &pki.root).await;
    let exporter = Exporter::start(&config(&pki, "failing", origin.port(), "")).await;
    transition(
        &exporter,
        "failing",
        "HTTP 503",
        "http_error_status",
        || async { origin.set_status(503) },
        || async { origin.set_status(200) },
    )
    .await;
    exporter.stop().await;
}

#[tokio::test]
async fn a_closed_port_and_back() {
    let pki = Pki::new();
    let origin = SwitchOrigin::start(&pki, &leaf(&pki, "closing"), &pki.root).await;
    let exporter = Exporter::start(&config(&pki, "closing", origin.port(), "")).await;
    transition(
        &exporter,
        "closing",
        "port closed",
        "port_unreachable",
        || origin.close(),
        || origin.reopen(),
    )
    .await;
    exporter.stop().await;
}
