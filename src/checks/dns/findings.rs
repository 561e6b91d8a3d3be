//! DNS causes: resolution through the recursive resolvers, and the health of the zone's
//! authoritative nameservers as [`crate::checks::dns`] found it.

use std::collections::BTreeMap;

use hickory_proto::op::ResponseCode;

use crate::checks::dns::{DnsReport, Reply, ServerReport};
use crate::checks::{OriginResults, Outcome};
use crate::diagnose::{Cause, Finding};

pub(super) fn findings(results: &OriginResults) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(run) = &results.resolution {
        match &run.outcome {
            Outcome::Completed(r) if !r.succeeded() => out.push(Finding::new(
                Cause::DnsResolutionFailed,
                r.error.clone().unwrap_or_else(|| "no address".into()),
            )),
            Outcome::TimedOut => out.push(Finding::new(
                Cause::DnsResolutionFailed,
                format!("no answer within {:.1}s", run.duration.as_secs_f64()),
            )),
            _ => {}
        }
    }
    if let Some(report) = results.get::<super::DnsCheck>().and_then(|r| r.completed()) {
        out.extend(nameserver_findings(report));
    }
    out
}

/// The causes the authoritative answers show. Servers this host has no route to are left out:
/// they say nothing about the zone.
fn nameserver_findings(report: &DnsReport) -> Vec<Finding> {
    let Some(zone) = report.zone.as_deref() else {
        return Vec::new();
    };
    let servers: Vec<&ServerReport> = report.servers.iter().filter(|s| !s.untestable()).collect();
    let mut out = Vec::new();

    let listed = servers.len() + report.unresolved.len();
    if listed > 0 && !servers.iter().any(|s| s.authoritative()) {
        out.push(Finding::new(
            Cause::DnsAllNameserversDown,
            format!(
                "none of the {listed} nameserver address(es) of zone {zone} answers with authority"
            ),
        ));
    }

    let mut down: Vec<String> = servers
        .iter()
        .filter(|s| !s.up())
        .map(|s| format!("{} ({}): {}", s.nameserver, s.address, silence(s)))
        .collect();
    down.extend(
        report
            .unresolved
            .iter()
            .map(|ns| format!("{ns}: no address")),
    );
    if !down.is_empty() {
        out.push(Finding::new(
            Cause::DnsNameserverDown,
            format!("zone {zone}: {}", down.join("; ")),
        ));
    }

    let lame: Vec<String> = servers
        .iter()
        .filter(|s| s.lame())
        .map(|s| format!("{} ({}): {}", s.nameserver, s.address, lameness(s)))
        .collect();
    if !lame.is_empty() {
        out.push(Finding::new(
            Cause::DnsLameDelegation,
            format!("zone {zone}: {}", lame.join("; ")),
        ));
    }

    let mut serials: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for s in &servers {
        if let Some(serial) = s.soa_serial() {
            serials
                .entry(serial)
                .or_default()
                .push(format!("{} ({})", s.nameserver, s.address));
        }
    }
    if serials.len() > 1 {
        let by_serial: Vec<String> = serials
            .iter()
            .map(|(serial, who)| format!("{serial} from {}", who.join(", ")))
            .collect();
        out.push(Finding::new(
            Cause::DnsSoaSerialMismatch,
            format!("zone {zone} SOA serials differ: {}", by_serial.join("; ")),
        ));
    }

    if let Some(d) = report.delegation.as_ref().filter(|d| !d.matches()) {
        out.push(Finding::new(
            Cause::DnsDelegationMismatch,
            format!(
                "parent zone {} ({}) delegates {zone} to [{}]; the zone lists [{}]",
                d.parent_zone,
                d.parent_server,
                d.parent_ns.join(", "),
                d.child_ns.join(", ")
            ),
        ));
    }
    out
}

pub(super) fn silence(s: &ServerReport) -> String {
    match (&s.soa_query, &s.origin_query) {
        (Reply::NoResponse(why), _) | (_, Reply::NoResponse(why)) => why.clone(),
        _ => "no response".into(),
    }
}

pub(super) fn lameness(s: &ServerReport) -> String {
    let codes = s.rcodes();
    if codes.contains(&ResponseCode::Refused) {
        "REFUSED".into()
    } else {
        let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        format!("answered {} without the AA flag", codes.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::dns::DnsCheck;
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::checks::dns::explain::confirm_command;
    use crate::checks::dns::{Answer, DelegationReport};
    use crate::checks::{CheckRun, Resolution};

    const MS: Duration = Duration::from_millis(3);

    fn aa(serial: u32) -> Reply {
        Reply::Answered(Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            elapsed: MS,
            soa_serial: Some(serial),
        })
    }
    fn ok_a() -> Reply {
        Reply::Answered(Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            elapsed: MS,
            soa_serial: None,
        })
    }
    fn no_aa(rcode: ResponseCode) -> Reply {
        Reply::Answered(Answer {
            rcode,
            authoritative: false,
            elapsed: MS,
            soa_serial: None,
        })
    }
    fn silent() -> Reply {
        Reply::NoResponse("timed out".into())
    }
    fn no_route() -> Reply {
        Reply::NoRoute("network unreachable".into())
    }

    fn server(n: u8, origin_query: Reply, soa_query: Reply) -> ServerReport {
        ServerReport {
            nameserver: format!("ns{n}.example.com"),
            address: IpAddr::from([192, 0, 2, n]),
            origin_query,
            soa_query,
        }
    }

    fn report(servers: Vec<ServerReport>) -> DnsReport {
        DnsReport {
            zone: Some("example.com".into()),
            port: 53,
            error: None,
            servers,
            unresolved: Vec::new(),
            delegation: None,
        }
    }

    fn delegation(parent: &[&str], child: &[&str]) -> Option<DelegationReport> {
        Some(DelegationReport {
            parent_zone: "com".into(),
            parent_server: "a.gtld-servers.net".into(),
            parent_ns: parent.iter().map(|s| s.to_string()).collect(),
            child_ns: child.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn causes(report: DnsReport) -> Vec<Cause> {
        let results = OriginResults::default().with::<DnsCheck>(CheckRun {
            duration: MS,
            outcome: Outcome::Completed(report),
        });
        let mut c: Vec<Cause> = findings(&results).into_iter().map(|f| f.cause).collect();
        c.sort();
        c
    }

    use Cause::*;

    #[test]
    fn nameserver_causes_table() {
        let unresolved = DnsReport {
            unresolved: vec!["ns3.example.net".into()],
            ..report(vec![server(1, ok_a(), aa(7))])
        };
        let no_zone = DnsReport {
            zone: None,
            error: Some("looking up example.com SOA: SERVFAIL".into()),
            ..DnsReport::default()
        };
        let cases: Vec<(&str, DnsReport, Vec<Cause>)> = vec![
            (
                "two healthy servers",
                report(vec![server(1, ok_a(), aa(7)), server(2, ok_a(), aa(7))]),
                vec![],
            ),
            (
                "one silent",
                report(vec![
                    server(1, ok_a(), aa(7)),
                    server(2, silent(), silent()),
                ]),
                vec![DnsNameserverDown],
            ),
            (
                "all silent",
                report(vec![
                    server(1, silent(), silent()),
                    server(2, silent(), silent()),
                ]),
                vec![DnsAllNameserversDown, DnsNameserverDown],
            ),
            (
                "one REFUSED",
                report(vec![
                    server(1, ok_a(), aa(7)),
                    server(
                        2,
                        no_aa(ResponseCode::Refused),
                        no_aa(ResponseCode::Refused),
                    ),
                ]),
                vec![DnsLameDelegation],
            ),
            (
                "one without AA",
                report(vec![
                    server(1, ok_a(), aa(7)),
                    server(
                        2,
                        no_aa(ResponseCode::NoError),
                        no_aa(ResponseCode::NoError),
                    ),
                ]),
                vec![DnsLameDelegation],
            ),
            (
                "all lame",
                report(vec![server(
                    1,
                    no_aa(ResponseCode::Refused),
                    no_aa(ResponseCode::Refused),
                )]),
                vec![DnsAllNameserversDown, DnsLameDelegation],
            ),
            (
                "answers one query only: up, not down",
                report(vec![server(1, ok_a(), aa(7)), server(2, silent(), aa(7))]),
                vec![],
            ),
            (
                "serials differ",
                report(vec![server(1, ok_a(), aa(7)), server(2, ok_a(), aa(8))]),
                vec![DnsSoaSerialMismatch],
            ),
            (
                "lame server's serial does not count",
                report(vec![
                    server(1, ok_a(), aa(7)),
                    server(
                        2,
                        no_aa(ResponseCode::NoError),
                        Reply::Answered(Answer {
                            rcode: ResponseCode::NoError,
                            authoritative: false,
                            elapsed: MS,
                            soa_serial: Some(9),
                        }),
                    ),
                ]),
                vec![DnsLameDelegation],
            ),
            (
                "NXDOMAIN with AA is authoritative",
                report(vec![server(
                    1,
                    Reply::Answered(Answer {
                        rcode: ResponseCode::NXDomain,
                        authoritative: true,
                        elapsed: MS,
                        soa_serial: None,
                    }),
                    aa(7),
                )]),
                vec![],
            ),
            (
                "unroutable address ignored",
                report(vec![
                    server(1, ok_a(), aa(7)),
                    server(2, no_route(), no_route()),
                ]),
                vec![],
            ),
            (
                "only unroutable addresses",
                report(vec![server(2, no_route(), no_route())]),
                vec![],
            ),
            (
                "nameserver without address",
                unresolved,
                vec![DnsNameserverDown],
            ),
            ("discovery failed: nothing to judge", no_zone, vec![]),
            (
                "delegation matches",
                DnsReport {
                    delegation: delegation(
                        &["ns1.example.com", "ns2.example.com"],
                        &["ns1.example.com", "ns2.example.com"],
                    ),
                    ..report(vec![server(1, ok_a(), aa(7))])
                },
                vec![],
            ),
            (
                "delegation differs",
                DnsReport {
                    delegation: delegation(
                        &["ns1.example.com", "ns9.example.com"],
                        &["ns1.example.com", "ns2.example.com"],
                    ),
                    ..report(vec![server(1, ok_a(), aa(7))])
                },
                vec![DnsDelegationMismatch],
            ),
        ];
        for (name, report, want) in cases {
            assert_eq!(causes(report), want, "{name}");
        }
    }

    #[test]
    fn confirm_commands_aim_at_the_blamed_server() {
        let r = report(vec![
            server(1, ok_a(), aa(7)),
            server(2, silent(), silent()),
        ]);
        assert_eq!(
            confirm_command(DnsNameserverDown, "o.example.com", Some(&r)),
            "dig o.example.com A @192.0.2.2 +norecurse +time=2 +tries=1"
        );
        assert_eq!(
            confirm_command(
                DnsSoaSerialMismatch,
                "o.example.com",
                Some(&DnsReport { port: 5353, ..r })
            ),
            "dig example.com SOA @192.0.2.1 -p 5353 +norecurse +short"
        );
    }

    #[test]
    fn evidence_names_the_server() {
        let r = report(vec![
            server(1, ok_a(), aa(7)),
            server(2, silent(), silent()),
        ]);
        let results = OriginResults::default().with::<DnsCheck>(CheckRun {
            duration: MS,
            outcome: Outcome::Completed(r),
        });
        let f = findings(&results);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].detail,
            "zone example.com: ns2.example.com (192.0.2.2): timed out"
        );
    }

    #[test]
    fn resolution_table() {
        let cases: Vec<(&str, Outcome<Resolution>, bool)> = vec![
            (
                "addresses",
                Outcome::Completed(Resolution {
                    addresses: vec![IpAddr::from([192, 0, 2, 1])],
                    error: None,
                }),
                false,
            ),
            (
                "NXDOMAIN",
                Outcome::Completed(Resolution {
                    addresses: vec![],
                    error: Some("NXDOMAIN".into()),
                }),
                true,
            ),
            (
                "no address",
                Outcome::Completed(Resolution {
                    addresses: vec![],
                    error: None,
                }),
                true,
            ),
            ("timeout", Outcome::TimedOut, true),
        ];
        for (name, outcome, failed) in cases {
            let results = OriginResults::new(Some(CheckRun {
                duration: MS,
                outcome,
            }));
            let got = findings(&results)
                .iter()
                .any(|f| f.cause == DnsResolutionFailed);
            assert_eq!(got, failed, "{name}");
        }
    }

    #[test]
    fn timed_out_nameserver_check_adds_no_cause() {
        let results = OriginResults::default().with::<DnsCheck>(CheckRun {
            duration: MS,
            outcome: Outcome::TimedOut,
        });
        assert!(findings(&results).is_empty());
    }

    fn details(report: DnsReport) -> Vec<(Cause, String)> {
        let results = OriginResults::default().with::<DnsCheck>(CheckRun {
            duration: MS,
            outcome: Outcome::Completed(report),
        });
        findings(&results)
            .into_iter()
            .map(|f| (f.cause, f.detail))
            .collect()
    }

    /// Nameservers without an address count as listed: with the only one that has an address
    /// silent, none of the zone's nameservers answers.
    #[test]
    fn unresolved_nameservers_count_among_those_listed() {
        let silent_and_unresolved = DnsReport {
            unresolved: vec!["ns3.example.net".into()],
            ..report(vec![server(1, silent(), silent())])
        };
        assert_eq!(
            details(silent_and_unresolved),
            [
                (
                    DnsAllNameserversDown,
                    "none of the 2 nameserver address(es) of zone example.com answers with authority"
                        .to_string()
                ),
                (
                    DnsNameserverDown,
                    "zone example.com: ns1.example.com (192.0.2.1): timed out; ns3.example.net: no address"
                        .to_string()
                ),
            ]
        );
        let only_unresolved = DnsReport {
            unresolved: vec!["ns3.example.net".into()],
            ..report(Vec::new())
        };
        assert_eq!(
            causes(only_unresolved),
            [DnsAllNameserversDown, DnsNameserverDown]
        );
    }

    #[test]
    fn lame_evidence_says_refused_or_which_codes_lacked_the_aa_flag() {
        let r = report(vec![
            server(1, ok_a(), aa(7)),
            server(
                2,
                no_aa(ResponseCode::Refused),
                no_aa(ResponseCode::NoError),
            ),
            server(
                3,
                no_aa(ResponseCode::NoError),
                no_aa(ResponseCode::ServFail),
            ),
        ]);
        assert_eq!(
            details(r),
            [(
                DnsLameDelegation,
                "zone example.com: ns2.example.com (192.0.2.2): REFUSED; ns3.example.com (192.0.2.3): answered No Error/Server Failure without the AA flag"
                    .to_string()
            )]
        );
    }

    #[test]
    fn serial_mismatch_evidence_groups_servers_by_serial() {
        let r = report(vec![
            server(1, ok_a(), aa(7)),
            server(2, ok_a(), aa(8)),
            server(3, ok_a(), aa(7)),
        ]);
        assert_eq!(
            details(r),
            [(
                DnsSoaSerialMismatch,
                "zone example.com SOA serials differ: 7 from ns1.example.com (192.0.2.1), ns3.example.com (192.0.2.3); 8 from ns2.example.com (192.0.2.2)"
                    .to_string()
            )]
        );
    }

    #[test]
    fn resolution_applies_whenever_the_exporter_resolves_the_domain() {
        use crate::diagnose::test_support::origin;
        // Without the DNS check, the domain is still resolved (the CDN resolves it too)...
        let tcp_only = origin(&[crate::checks::Check::Tcp]);
        assert!(Cause::DnsResolutionFailed.applies_to(&tcp_only));
        assert!(!Cause::DnsNameserverDown.applies_to(&tcp_only));
        assert!(Cause::PortUnreachable.applies_to(&tcp_only));
        // ...unless the origin names the address to connect to, even with the DNS check.
        let mut pinned = (*origin(&[crate::checks::Check::Dns, crate::checks::Check::Tcp])).clone();
        pinned.address = Some("192.0.2.1".parse().expect("ip"));
        assert!(!Cause::DnsResolutionFailed.applies_to(&pinned));
        assert!(Cause::DnsNameserverDown.applies_to(&pinned));
    }
}
