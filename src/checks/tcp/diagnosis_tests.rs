//! The verdict of origins with the TCP check, through [`crate::diagnose`]: how the check's
//! runs are counted, and which addresses are ready.

use crate::checks::tcp::TcpCheck;
use std::net::IpAddr;
use std::time::Duration;

use crate::checks::{Check, CheckRun, NotRun, OriginResults, Outcome, Ran, Resolution, TcpReport};
use crate::diagnose::test_support::origin;
use crate::diagnose::{diagnose, Cause, CheckStatus};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn resolution(ok: bool) -> Option<CheckRun<Resolution>> {
    Some(CheckRun {
        duration: Duration::from_millis(2),
        outcome: Outcome::Completed(Resolution {
            addresses: if ok {
                vec!["192.0.2.1".parse().expect("ip")]
            } else {
                Vec::new()
            },
            error: (!ok).then(|| "NXDOMAIN".to_string()),
        }),
    })
}

/// The verdict per check: success only for a check that ran to the end without a critical
/// cause; a check that could not run is counted as not run, never as a timeout or success.
#[test]
fn check_statuses_follow_how_each_check_ended() {
    let o = origin(&[Check::Dns, Check::Tcp]);
    let unresolved = OriginResults::new(resolution(false))
        .with::<TcpCheck>(CheckRun::not_run(NotRun::NoAddress));
    let d = diagnose(&o, &unresolved);
    assert_eq!(
        d.checks,
        vec![
            CheckStatus {
                check: Check::Dns,
                ran: Some(Ran::Completed),
                success: false
            },
            CheckStatus {
                check: Check::Tcp,
                ran: Some(Ran::NotRun),
                success: false
            },
        ]
    );
    assert_eq!(d.checks[0].result(), Some("failure"));
    assert_eq!(d.checks[1].result(), Some("not_run"));
    assert!(!d.cdn_ready);
    assert!(d.is_active(Cause::DnsResolutionFailed));
    assert!(!d.is_active(Cause::PortUnreachable));

    let open = OriginResults::new(resolution(true)).with::<TcpCheck>(CheckRun {
        duration: Duration::from_millis(1),
        outcome: Outcome::Completed(TcpReport { ports: Vec::new() }),
    });
    let d = diagnose(&o, &open);
    assert!(d.cdn_ready);
    assert!(d.findings.is_empty());
    assert!(d.checks.iter().all(|c| c.success));
    assert_eq!(d.checks[1].result(), Some("success"));

    let timed_out = OriginResults::new(resolution(true)).with::<TcpCheck>(CheckRun {
        duration: Duration::from_secs(1),
        outcome: Outcome::TimedOut,
    });
    let d = diagnose(&o, &timed_out);
    assert_eq!(d.checks[1].ran, Some(Ran::TimedOut));
    assert_eq!(d.checks[1].result(), Some("timeout"));
    assert!(d.is_active(Cause::PortUnreachable));
    assert!(!d.is_active(Cause::DnsResolutionFailed));
}

/// `origin_address_ready`: per probed address, no critical cause active on it; a warning on
/// an address leaves it ready; no series without a check that connects to addresses.
#[test]
fn each_probed_address_is_ready_unless_a_critical_cause_concerns_it() {
    use crate::checks::{PortResult, PortState};
    use crate::config::Scheme;
    let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let o = origin(&[Check::Dns, Check::Tcp]);
    let port = |address, state| PortResult {
        address,
        port: 443,
        scheme: Scheme::Https,
        state,
        duration: Duration::from_millis(1),
        attempts: 1,
    };
    let results = |states: [PortState; 2]| {
        OriginResults::new(Some(CheckRun {
            duration: Duration::from_millis(2),
            outcome: Outcome::Completed(Resolution {
                addresses: vec![a, b],
                error: None,
            }),
        }))
        .with::<TcpCheck>(CheckRun {
            duration: Duration::from_millis(1),
            outcome: Outcome::Completed(TcpReport {
                ports: vec![port(a, states[0]), port(b, states[1])],
            }),
        })
    };
    let d = diagnose(&o, &results([PortState::Open, PortState::Refused]));
    assert_eq!(d.addresses, vec![(a, true), (b, false)]);
    assert!(!d.cdn_ready);
    let d = diagnose(&o, &results([PortState::Open, PortState::Open]));
    assert_eq!(d.addresses, vec![(a, true), (b, true)]);
    assert!(d.cdn_ready);
    // Only DNS: no check connects, so no address series.
    let dns_only = origin(&[Check::Dns]);
    assert!(diagnose(&dns_only, &results([PortState::Open; 2]))
        .addresses
        .is_empty());
}
