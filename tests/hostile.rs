//! Hostile TLS origins (tests/lab/hostile.rs): each is probed next to a healthy origin, and the
//! exporter must name the cause within the origin's timeout, read a bounded number of bytes,
//! and keep serving and probing the healthy one. The bounds are the reply reader's
//! (`probe::tls::reply`: a record is at most `MAX_RECORD`, the handshake at most
//! `MAX_HANDSHAKE`, the chain at most `analysis::MAX_CHAIN` certificates), plus the kernel's
//! loopback buffers for what the server got to write but the client never read.
//!
//! Expected causes: an origin that chooses the CDN's version and suite and then breaks the
//! handshake (garbage, an oversized message, a reset, a trickle past the timeout) is
//! `tls_handshake_failed`; one that completes the plaintext part with a strange chain gets the
//! chain's certificate causes.

mod lab;

use std::time::Duration;

use lab::hostile::{certificate, handshake, record, records, server_hello, Act, HostileOrigin};
use lab::hostile::{Conn, KERNEL_SLACK};
use lab::tls::{LeafSpec, Pki, RustlsOrigin};
use lab::{Exporter, Scrape};
use origin_exporter::analysis::MAX_CHAIN;
use origin_exporter::checks::tls::reply::{MAX_HANDSHAKE, MAX_RECORD};

/// The origins' timeout and interval, in seconds.
const TIMEOUT: f64 = 2.0;

/// Reading stops at this many bytes per connection, whatever the origin sends: the reply
/// reader's handshake bound plus one record header and record.
const READ_BOUND: usize = MAX_HANDSHAKE + MAX_RECORD + 5;

struct Lab {
    hostile: HostileOrigin,
    exporter: Exporter,
    /// Holds the CA file the exporter reads on every reload.
    _pki: Pki,
    _healthy: RustlsOrigin,
}

/// Starts `script` as origin `hostile` (domain hostile.lab.test) next to a healthy origin
/// `healthy`, and waits for a probe cycle of both ([`assert_alive`] waits for the next one).
async fn probe(script: impl FnOnce(&Pki) -> Vec<Act>) -> (Lab, Scrape) {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["healthy.lab.test"]), Some(&pki.inter));
    let healthy = RustlsOrigin::serving(&pki, &leaf, true).await;
    let hostile = HostileOrigin::start(script(&pki)).await;
    let config = format!(
        "global: {{interval: 2s, timeout: {TIMEOUT}s, ca_file: '{}'}}\norigins:\n\
         \x20 - {{name: hostile, domain: hostile.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls]}}\n\
         \x20 - {{name: healthy, domain: healthy.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls]}}\n",
        pki.ca_file.display(),
        hostile.port(),
        healthy.port(),
    );
    let exporter = Exporter::start(&config).await;
    let s = exporter.wait_cycle(&["hostile", "healthy"]).await;
    assert_eq!(s.active_causes("healthy"), Vec::<String>::new(), "healthy");
    s.assert_value("origin_cdn_ready", &[("origin", "healthy")], 1.0);
    let took = s
        .value(
            "origin_probe_duration_seconds",
            &[("origin", "hostile"), ("check", "tls")],
        )
        .expect("TLS check duration");
    // Within the timeout (and the scheduling around it).
    assert!(took <= TIMEOUT + 1.0, "TLS check took {took}s");
    (
        Lab {
            hostile,
            exporter,
            _pki: pki,
            _healthy: healthy,
        },
        s,
    )
}

#[track_caller]
fn assert_failed_handshake(s: &Scrape) {
    assert_eq!(s.active_causes("hostile"), ["tls_handshake_failed"]);
    s.assert_value("origin_cdn_ready", &[("origin", "hostile")], 0.0);
    s.assert_value(
        "origin_tls_handshake_success",
        &[("origin", "hostile")],
        0.0,
    );
}

/// Every connection got to write at most `bound` bytes (what the client read, plus what the
/// kernel buffered for it).
#[track_caller]
fn assert_bounded(conns: &[Conn], bound: usize) {
    assert!(!conns.is_empty(), "no connection reached the origin");
    let most = conns.iter().map(|c| c.written).max().unwrap_or(0);
    eprintln!(
        "{} connections, at most {most} bytes written on one",
        conns.len()
    );
    for c in conns {
        assert!(c.written <= bound, "{c:?} > {bound} bytes");
    }
}

/// The exporter is still up after the hostile origin, and probes both origins again.
async fn assert_alive(lab: &Lab) {
    let (status, _) = lab.exporter.get("/-/healthy").await;
    assert_eq!(status, 200);
    let s = lab.exporter.wait_cycle(&["hostile", "healthy"]).await;
    let tasks = s
        .value("origin_exporter_runtime_tasks", &[])
        .expect("origin_exporter_runtime_tasks");
    assert!(tasks >= 1.0, "tasks: {tasks}");
}

#[tokio::test]
async fn one_byte_per_second_times_out() {
    let (lab, s) = probe(|pki| {
        let leaf = pki.leaf(&LeafSpec::new(&["hostile.lab.test"]), Some(&pki.inter));
        let mut hs = server_hello();
        hs.extend(certificate(&[&leaf.der, &pki.inter.der]));
        vec![Act::Trickle(records(&hs), Duration::from_secs(1))]
    })
    .await;
    assert_failed_handshake(&s);
    let conns = lab.hostile.settled(Duration::from_secs(10)).await;
    // One byte a second for the timeout, plus the bytes written before the server noticed.
    assert_bounded(&conns, TIMEOUT as usize + 3);
    assert_alive(&lab).await;
}

#[tokio::test]
async fn a_16_mb_certificate_message_is_refused_early() {
    const ANNOUNCED: usize = 0xFF_FFFF;
    let (lab, s) = probe(|_| {
        let mut first = server_hello();
        first.extend(handshake(11, ANNOUNCED, &[0x42; 16_000]));
        vec![
            Act::Send(records(&first)),
            Act::Repeat {
                record: record(22, &[0x42; 16_384]),
                total: ANNOUNCED,
            },
        ]
    })
    .await;
    assert_failed_handshake(&s);
    let conns = lab.hostile.settled(Duration::from_secs(20)).await;
    assert_bounded(&conns, READ_BOUND + KERNEL_SLACK);
    // No connection got to send the whole message: the client stopped each.
    for c in conns.iter().filter(|c| c.written > 0) {
        assert!(c.client_stopped, "{c:?}");
    }
    assert_alive(&lab).await;
}

#[tokio::test]
async fn a_chain_of_100_certificates_is_cut_to_max_chain() {
    let (lab, s) = probe(|pki| {
        let leaf = pki.leaf(&LeafSpec::new(&["hostile.lab.test"]), Some(&pki.inter));
        let mut chain: Vec<&[u8]> = vec![&leaf.der];
        chain.extend(std::iter::repeat_n(pki.inter.der.as_ref(), 99));
        let mut hs = server_hello();
        hs.extend(certificate(&chain));
        hs.extend(handshake(14, 0, &[]));
        vec![Act::Send(records(&hs))]
    })
    .await;
    // Only the first MAX_CHAIN are looked at: the leaf and its intermediate, repeated. Repeats
    // break nothing the CDN checks (each served issuer still follows what it issued), so there
    // is no certificate cause; what matters is that the work and the series stay bounded. The
    // script sends no ServerKeyExchange, so the CDN-profile handshake cannot finish: that, and
    // only that, is a cause.
    assert_eq!(s.active_causes("hostile"), ["tls_handshake_failed"]);
    s.assert_value(
        "origin_tls_handshake_success",
        &[("origin", "hostile")],
        0.0,
    );
    s.assert_value("origin_tls_chain_valid", &[("origin", "hostile")], 1.0);
    let certs = s.matching(
        "origin_tls_cert_not_after_timestamp_seconds",
        &[("origin", "hostile")],
    );
    assert_eq!(certs.len(), MAX_CHAIN, "certificates reported");
    let conns = lab.hostile.settled(Duration::from_secs(10)).await;
    assert_bounded(&conns, READ_BOUND);
    assert_alive(&lab).await;
}

#[tokio::test]
async fn a_1_mb_certificate_is_refused_unread() {
    const SIZE: usize = 1024 * 1024;
    let (lab, s) = probe(|_| {
        // A DER SEQUENCE header announcing 1 MiB, then its content.
        let mut cert = vec![0x30, 0x83, 0x10, 0x00, 0x00];
        cert.resize(SIZE + 5, 0x42);
        let mut hs = server_hello();
        hs.extend(certificate(&[&cert]));
        vec![Act::Send(records(&hs))]
    })
    .await;
    assert_failed_handshake(&s);
    let conns = lab.hostile.settled(Duration::from_secs(10)).await;
    assert_bounded(&conns, READ_BOUND + KERNEL_SLACK);
    assert!(
        conns.iter().all(|c| c.written < SIZE),
        "a client read the whole certificate: {conns:?}"
    );
    assert_alive(&lab).await;
}

#[tokio::test]
async fn malformed_der_keeps_the_parsable_certificates() {
    let (lab, s) = probe(|pki| {
        let leaf = pki.leaf(&LeafSpec::new(&["hostile.lab.test"]), Some(&pki.inter));
        // A SEQUENCE announcing more than it holds, then random-looking content.
        let broken: Vec<u8> = [0x30, 0x82, 0x40, 0x00]
            .into_iter()
            .chain((0..300u32).map(|i| (i * 37 % 251) as u8))
            .collect();
        let mut hs = server_hello();
        hs.extend(certificate(&[&leaf.der, &broken, &pki.inter.der]));
        hs.extend(handshake(14, 0, &[]));
        vec![Act::Send(records(&hs))]
    })
    .await;
    // The CDN cannot parse the middle one (untrusted). The parsable ones are in order: the
    // broken certificate is the root cause, not an order defect, and the CDN-profile handshake
    // that stops at it is its echo (no cause of its own, but no handshake success either).
    assert_eq!(s.active_causes("hostile"), ["cert_untrusted"]);
    s.assert_value(
        "origin_tls_handshake_success",
        &[("origin", "hostile")],
        0.0,
    );
    s.assert_value("origin_tls_chain_valid", &[("origin", "hostile")], 0.0);
    // The leaf and the intermediate are still reported, at their served positions.
    for (position, cn) in [("0", "hostile.lab.test"), ("2", "Lab Intermediate CA")] {
        let found = s.matching(
            "origin_tls_cert_not_after_timestamp_seconds",
            &[
                ("origin", "hostile"),
                ("position", position),
                ("subject_cn", cn),
            ],
        );
        assert_eq!(found.len(), 1, "certificate {position} {cn}:\n{}", s.text);
    }
    assert_bounded(
        &lab.hostile.settled(Duration::from_secs(10)).await,
        READ_BOUND,
    );
    assert_alive(&lab).await;
}

#[tokio::test]
async fn garbage_after_the_server_hello() {
    let (lab, s) = probe(|_| {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 151 % 256) as u8).collect();
        vec![Act::Send(records(&server_hello())), Act::Send(garbage)]
    })
    .await;
    assert_failed_handshake(&s);
    assert_bounded(
        &lab.hostile.settled(Duration::from_secs(10)).await,
        READ_BOUND,
    );
    assert_alive(&lab).await;
}

#[tokio::test]
async fn a_reset_mid_handshake() {
    let (lab, s) = probe(|pki| {
        // The hello and the first half of a Certificate message, then a RST.
        let mut hs = server_hello();
        hs.extend(certificate(&[&pki.inter.der, &pki.root.der]));
        let half = hs.len() - pki.root.der.len() / 2;
        vec![Act::Send(records(&hs[..half])), Act::Reset]
    })
    .await;
    assert_failed_handshake(&s);
    assert_bounded(
        &lab.hostile.settled(Duration::from_secs(10)).await,
        READ_BOUND,
    );
    assert_alive(&lab).await;
}
