//! What blackbox would have reported, case by case, from reports made by hand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::analysis::{CertSummary, ChainReport, Defects, PeerFacts, Trust};
use crate::checks::tls::{FinishFrom, Handshake, Reply};
use crate::checks::{CheckRun, NotRun, Outcome, PortResult, TcpReport};
use crate::checks::{Phases, Resolution};
use crate::config::Origin;

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const ADDRESS: &str = "192.0.2.1:443";

fn origin(yaml: &str) -> Origin {
    let yaml = format!("origins: [{{name: shop, domain: shop.example, {yaml}}}]");
    let cfg = crate::config::load_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
    (*cfg.origins[0]).clone()
}

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW as u64)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr() -> SocketAddr {
    ADDRESS.parse().unwrap()
}

/// A leaf and an intermediate, the path to the root valid from a day ago for 30 days.
fn chain(names: &[&str], trust: Trust, path: Option<(i64, i64)>) -> ChainReport {
    let cert = |position, not_after| CertSummary {
        position,
        subject_cn: String::new(),
        issuer_cn: String::new(),
        serial: String::new(),
        not_before: NOW - DAY,
        not_after,
    };
    ChainReport {
        certs: vec![cert(0, NOW + 30 * DAY), cert(1, NOW + 20 * DAY)].into(),
        leaf: Some(0),
        leaf_days_remaining: Some(30.0),
        names: vec![("shop.example".into(), true)],
        trust,
        defects: Defects::default(),
        unparsable: 0,
        peer: Some(Arc::new(PeerFacts {
            fingerprint_sha256: "ab".repeat(32),
            subject: "CN=shop.example".into(),
            issuer: "CN=Lab Intermediate CA".into(),
            dns_names: names.iter().map(|n| n.to_string()).collect(),
            path_validity: path,
        })),
    }
}

fn good_chain() -> ChainReport {
    chain(
        &["shop.example", "www.shop.example"],
        Trust::Trusted,
        Some((NOW - DAY, NOW + 20 * DAY)),
    )
}

fn tls(finish: Option<Finish>, chain: Option<ChainReport>) -> TlsReport {
    TlsReport {
        address: addr(),
        cdn_reply: Reply::Alert(40),
        handshake: Handshake::Accepted,
        negotiated: None,
        protocols: Vec::new(),
        chain,
        cert_request: false,
        finish,
        finish_from: FinishFrom::ThisCycle,
        after: None,
        more: Vec::new(),
    }
}

fn done() -> Option<Finish> {
    Some(Finish::Done {
        version: "TLSv1.2",
        cipher: "ECDHE-RSA-AES128-GCM-SHA256",
    })
}

fn http(outcome: HttpOutcome, headers: &[(&'static str, &str)]) -> HttpReport {
    let answered = matches!(outcome, HttpOutcome::Status(_));
    HttpReport {
        address: addr(),
        scheme: Scheme::Https,
        outcome,
        headers: headers.iter().map(|(n, v)| (*n, v.to_string())).collect(),
        duration: ms(30),
        phases: Phases {
            connect: Some(ms(5)),
            tls: Some(ms(10)),
            headers: answered.then_some(ms(15)),
        },
        version: answered.then_some(hyper::Version::HTTP_11),
        handshake: None,
        refusal: None,
        body: crate::checks::http::Body::NotRead,
        keepalive: crate::checks::http::KeepAlive::NotWatched,
        more: Vec::new(),
    }
}

fn run<T>(t: T) -> CheckRun<T> {
    CheckRun {
        duration: ms(40),
        outcome: Outcome::Completed(t),
    }
}

/// Resolution to the address, the port open, and the given TLS and HTTP reports.
fn results(
    tls_report: Option<TlsReport>,
    http_report: Option<CheckRun<HttpReport>>,
) -> OriginResults {
    let results = OriginResults::new(Some(CheckRun {
        duration: ms(2),
        outcome: Outcome::Completed(Resolution {
            addresses: vec![addr().ip()],
            error: None,
        }),
    }))
    .with::<TcpCheck>(run(TcpReport {
        ports: vec![PortResult {
            address: addr().ip(),
            port: 443,
            scheme: Scheme::Https,
            state: PortState::Open,
            duration: ms(4),
            attempts: 1,
        }],
    }));
    let results = match tls_report {
        Some(t) => results.with::<TlsCheck>(run(t)),
        None => results,
    };
    match http_report {
        Some(h) => results.with::<HttpCheck>(h),
        None => results,
    }
}

fn ok_200() -> CheckRun<HttpReport> {
    run(http(
        HttpOutcome::Status(200),
        &[
            ("content-length", "42"),
            ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ],
    ))
}

fn full() -> Origin {
    origin("https_port: 443, checks: [dns, tcp, tls, http]")
}

#[test]
fn a_healthy_origin_is_a_successful_http_2xx_probe() {
    let p = observe(
        &full(),
        &results(Some(tls(done(), Some(good_chain()))), Some(ok_200())),
        at(),
    )
    .unwrap();
    assert_eq!(p.module, Module::Http);
    assert!(p.success);
    assert_eq!(p.ip, Some(addr().ip()));
    assert!((p.dns_lookup - 0.002).abs() < 1e-9);
    // The lookup, then the HTTP check's exchange.
    assert!((p.duration - 0.032).abs() < 1e-9, "{}", p.duration);
    let t = p.tls.unwrap();
    assert_eq!(t.version, "TLS 1.2");
    assert_eq!(
        t.cipher.as_deref(),
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );
    assert_eq!(t.earliest_expiry, NOW + 20 * DAY);
    assert_eq!(t.last_chain_expiry, NOW + 20 * DAY);
    let h = p.http.unwrap();
    assert_eq!(
        h,
        HttpSeen {
            resolved: true,
            status: 200,
            ssl: true,
            version: 1.1,
            content_length: 42,
            body_length: Some(42),
            last_modified: Some(1_445_412_480),
            phases: [0.002, 0.005, 0.010, 0.015, 0.0],
        }
    );
}

/// Every way Go's handshake fails where the CDN's finished: blackbox writes no TLS series,
/// no status, and no phase after the lookup.
#[test]
fn a_chain_go_refuses_fails_the_probe_as_a_handshake() {
    let expired = chain(
        &["shop.example"],
        Trust::Trusted,
        Some((NOW - 9 * DAY, NOW - DAY)),
    );
    let not_yet = chain(
        &["shop.example"],
        Trust::Trusted,
        Some((NOW + DAY, NOW + 9 * DAY)),
    );
    let untrusted = chain(&["shop.example"], Trust::UnknownIssuer { aia: None }, None);
    let wrong_name = chain(
        &["other.example"],
        Trust::Trusted,
        Some((NOW - DAY, NOW + DAY)),
    );
    // The SAN list decides: no common-name fallback.
    let cn_only = chain(&[], Trust::Trusted, Some((NOW - DAY, NOW + DAY)));
    let leaf_not_first = ChainReport {
        peer: None,
        ..good_chain()
    };
    let unparsable = ChainReport {
        unparsable: 1,
        ..good_chain()
    };
    let cases: Vec<(&str, TlsReport)> = vec![
        ("expired", tls(done(), Some(expired))),
        ("not yet valid", tls(done(), Some(not_yet))),
        ("untrusted", tls(done(), Some(untrusted))),
        ("wrong name", tls(done(), Some(wrong_name))),
        ("common name only", tls(done(), Some(cn_only))),
        ("leaf not first", tls(done(), Some(leaf_not_first))),
        ("unparsable", tls(done(), Some(unparsable))),
        ("no chain", tls(done(), None)),
        (
            "unfinished",
            tls(
                Some(Finish::AlertReceived {
                    alert: 40,
                    step: "x".into(),
                }),
                Some(good_chain()),
            ),
        ),
        ("not attempted", tls(None, Some(good_chain()))),
    ];
    for (name, report) in cases {
        let p = observe(&full(), &results(Some(report), Some(ok_200())), at()).unwrap();
        assert!(!p.success, "{name}");
        assert_eq!(p.tls, None, "{name}");
        let h = p.http.unwrap();
        assert_eq!((h.status, h.ssl, h.version), (0, false, 0.0), "{name}");
        assert_eq!((h.content_length, h.body_length), (0, Some(0)), "{name}");
        assert_eq!(h.phases, [0.002, 0.0, 0.0, 0.0, 0.0], "{name}");
    }
}

#[test]
fn an_error_status_fails_the_probe_and_keeps_the_tls_series() {
    let r = results(
        Some(tls(done(), Some(good_chain()))),
        Some(run(http(HttpOutcome::Status(503), &[]))),
    );
    let p = observe(&full(), &r, at()).unwrap();
    assert!(!p.success);
    assert!(p.tls.is_some());
    let h = p.http.unwrap();
    assert_eq!((h.status, h.content_length, h.body_length), (503, -1, None));
    // A redirect is its status: the CDN does not follow it, and neither does the exporter.
    let r = results(
        Some(tls(done(), Some(good_chain()))),
        Some(run(http(HttpOutcome::Status(301), &[]))),
    );
    assert!(!observe(&full(), &r, at()).unwrap().success);
}

#[test]
fn no_answer_keeps_the_connection_phases_only() {
    let r = results(
        Some(tls(done(), Some(good_chain()))),
        Some(run(http(HttpOutcome::HeadersTimedOut, &[]))),
    );
    let p = observe(&full(), &r, at()).unwrap();
    assert!(!p.success);
    // No response, so no TLS series either (blackbox reads them from the response).
    assert_eq!(p.tls, None);
    assert_eq!(p.http.unwrap().phases, [0.002, 0.005, 0.010, 0.0, 0.0]);
}

#[test]
fn a_closed_port_and_a_name_that_does_not_resolve() {
    let mut r = results(None, Some(CheckRun::not_run(NotRun::PortClosed)));
    if let Some(tcp) = r.get_mut::<TcpCheck>() {
        if let Outcome::Completed(t) = &mut tcp.outcome {
            t.ports[0].state = PortState::Refused;
        }
    }
    let r = r.with::<TlsCheck>(CheckRun::not_run(NotRun::PortClosed));
    let p = observe(&full(), &r, at()).unwrap();
    assert!(!p.success);
    // The lookup, then the refused connection.
    assert!(
        (p.duration - (0.002 + 0.004 + 0.0)).abs() < 1e-9,
        "{}",
        p.duration
    );
    assert_eq!(p.http.as_ref().unwrap().phases, [0.002, 0.0, 0.0, 0.0, 0.0]);

    let r = OriginResults::new(Some(CheckRun {
        duration: ms(7),
        outcome: Outcome::Completed(Resolution {
            addresses: Vec::new(),
            error: Some("NXDOMAIN".into()),
        }),
    }));
    let p = observe(&full(), &r, at()).unwrap();
    assert_eq!((p.success, p.ip), (false, None));
    let h = p.http.unwrap();
    assert!(!h.resolved);
    assert_eq!(h.phases[0], 0.007);
}

#[test]
fn origins_without_the_http_check_are_tcp_modules() {
    let tcp_tls = origin("https_port: 443, checks: [tcp, tls]");
    let r = results(Some(tls(done(), Some(good_chain()))), None);
    let p = observe(&tcp_tls, &r, at()).unwrap();
    assert_eq!(p.module, Module::Tcp { tls: true });
    assert!(p.success && p.tls.is_some() && p.http.is_none());
    // The lookup, the connection, the TLS check.
    assert!((p.duration - (0.002 + 0.004 + 0.040)).abs() < 1e-9);
    let expired = chain(
        &["shop.example"],
        Trust::Trusted,
        Some((NOW - 9 * DAY, NOW - DAY)),
    );
    let r = results(Some(tls(done(), Some(expired))), None);
    let p = observe(&tcp_tls, &r, at()).unwrap();
    assert!(!p.success && p.tls.is_none());

    // Without the TLS check: a plain TCP module on the HTTPS port.
    let tcp_only = origin("https_port: 443, checks: [tcp]");
    let p = observe(&tcp_only, &results(None, None), at()).unwrap();
    assert_eq!(p.module, Module::Tcp { tls: false });
    assert!(p.success && p.tls.is_none());
    // The TLS check alone: its handshake is the connection.
    let tls_only = origin("https_port: 443, checks: [tls]");
    let mut r = results(Some(tls(done(), Some(good_chain()))), None);
    r.remove::<TcpCheck>();
    assert!(observe(&tls_only, &r, at()).unwrap().success);
    // Nothing that connects: no module fits.
    assert_eq!(observe(&origin("checks: [dns]"), &r, at()), None);
}

#[test]
fn a_plain_http_origin_has_no_tls() {
    let o = origin("http_port: 80, protocol_policy: http-only, checks: [tcp, http]");
    let mut report = http(HttpOutcome::Status(204), &[]);
    report.address = "192.0.2.1:80".parse().unwrap();
    report.scheme = Scheme::Http;
    report.phases.tls = None;
    let mut r = results(None, Some(run(report)));
    if let Some(Outcome::Completed(t)) = r.get_mut::<TcpCheck>().map(|t| &mut t.outcome) {
        t.ports[0].port = 80;
        t.ports[0].scheme = Scheme::Http;
    }
    let p = observe(&o, &r, at()).unwrap();
    assert!(p.success);
    let h = p.http.unwrap();
    assert_eq!(
        (h.ssl, h.content_length, h.body_length),
        (false, 0, Some(0))
    );
    assert_eq!(h.phases[2], 0.0);
}

#[test]
fn lengths_as_go_reads_them() {
    let cases = [
        (200, Some("42"), (42, Some(42))),
        (200, Some(" 7 "), (7, Some(7))),
        (200, None, (-1, None)),
        (200, Some("x"), (-1, None)),
        (200, Some("-3"), (-1, None)),
        (204, Some("42"), (0, Some(0))),
        (304, None, (0, Some(0))),
        (101, None, (0, Some(0))),
    ];
    for (status, header, want) in cases {
        assert_eq!(lengths(status, header), want, "{status} {header:?}");
    }
}
