//! TCP causes.

use crate::checks::{OriginResults, Outcome};
use crate::diagnose::{Cause, Finding};

pub(super) fn findings(results: &OriginResults) -> Vec<Finding> {
    let Some(run) = results.get::<super::TcpCheck>() else {
        return Vec::new();
    };
    match &run.outcome {
        Outcome::Completed(report) => {
            let closed: Vec<String> = report
                .closed()
                .map(|p| {
                    let addr = std::net::SocketAddr::new(p.address, p.port);
                    format!("{addr} {}", p.state.reason())
                })
                .collect();
            let mut addresses: Vec<std::net::IpAddr> = Vec::new();
            for p in report.closed() {
                if !addresses.contains(&p.address) {
                    addresses.push(p.address);
                }
            }
            if closed.is_empty() {
                Vec::new()
            } else {
                vec![Finding::new(Cause::PortUnreachable, closed.join("; ")).on(addresses)]
            }
        }
        Outcome::TimedOut => vec![Finding::new(
            Cause::PortUnreachable,
            "no connection completed within the timeout",
        )],
        Outcome::NotRun(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use crate::checks::{
        CheckRun, NotRun, OriginResults, Outcome, PortResult, PortState, Resolution, TcpReport,
    };
    use crate::config::{Check, Scheme};
    use crate::diagnose::test_support::origin;
    use crate::diagnose::{diagnose, Cause};

    fn port(addr: &str, port: u16, state: PortState) -> PortResult {
        PortResult {
            address: addr.parse::<IpAddr>().unwrap(),
            port,
            scheme: Scheme::Https,
            state,
            duration: Duration::from_millis(1),
            attempts: 1,
        }
    }

    fn results(tcp: Outcome<TcpReport>, resolved: bool) -> OriginResults {
        let resolution = Resolution {
            addresses: if resolved {
                vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()]
            } else {
                vec![]
            },
            error: (!resolved).then(|| "NXDOMAIN".to_string()),
        };
        OriginResults::new(Some(CheckRun {
            duration: Duration::from_millis(2),
            outcome: Outcome::Completed(resolution),
        }))
        .with::<crate::checks::tcp::TcpCheck>(CheckRun {
            duration: Duration::from_millis(3),
            outcome: tcp,
        })
    }

    #[test]
    fn table() {
        use PortState::*;
        struct Case {
            name: &'static str,
            results: OriginResults,
            causes: &'static [&'static str],
            ready: bool,
            tcp_success: bool,
        }
        let cases = [
            Case {
                name: "all open",
                results: results(
                    Outcome::Completed(TcpReport {
                        ports: vec![port("192.0.2.1", 443, Open), port("192.0.2.2", 443, Open)],
                    }),
                    true,
                ),
                causes: &[],
                ready: true,
                tcp_success: true,
            },
            Case {
                name: "one address refuses",
                results: results(
                    Outcome::Completed(TcpReport {
                        ports: vec![
                            port("192.0.2.1", 443, Open),
                            port("192.0.2.2", 443, Refused),
                        ],
                    }),
                    true,
                ),
                causes: &["port_unreachable"],
                ready: false,
                tcp_success: false,
            },
            Case {
                name: "timeout",
                results: results(
                    Outcome::Completed(TcpReport {
                        ports: vec![port("192.0.2.1", 443, TimedOut)],
                    }),
                    true,
                ),
                causes: &["port_unreachable"],
                ready: false,
                tcp_success: false,
            },
            Case {
                name: "check timed out as a whole",
                results: results(Outcome::TimedOut, true),
                causes: &["port_unreachable"],
                ready: false,
                tcp_success: false,
            },
            Case {
                name: "no address: the root is DNS, not the port",
                results: results(Outcome::NotRun(NotRun::NoAddress), false),
                causes: &["dns_resolution_failed"],
                ready: false,
                tcp_success: false,
            },
        ];
        let o = origin(&[Check::Tcp]);
        for case in cases {
            let d = diagnose(&o, &case.results);
            let active: Vec<_> = d.findings.iter().map(|f| f.cause.name()).collect();
            assert_eq!(active, case.causes, "{}", case.name);
            assert_eq!(d.cdn_ready, case.ready, "{}", case.name);
            let success: Vec<_> = d.checks.iter().map(|c| (c.check, c.success)).collect();
            assert_eq!(
                success,
                vec![(Check::Tcp, case.tcp_success)],
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn evidence_names_the_address_and_port() {
        let r = results(
            Outcome::Completed(TcpReport {
                ports: vec![
                    port("192.0.2.1", 443, PortState::Open),
                    port("192.0.2.2", 443, PortState::Refused),
                ],
            }),
            true,
        );
        let d = diagnose(&origin(&[Check::Tcp]), &r);
        assert_eq!(d.findings[0].detail, "192.0.2.2:443 connection refused");
    }

    #[test]
    fn only_causes_of_enabled_checks_apply() {
        let d = diagnose(&origin(&[Check::Tcp]), &OriginResults::default());
        let names: Vec<_> = d.applicable.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["dns_resolution_failed", "port_unreachable"]);
        assert!(d.applicable.contains(&Cause::PortUnreachable));
    }
}
