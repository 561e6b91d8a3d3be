//! What the DNS check saw, for a person: one line per nameserver address, and the `dig`
//! commands that confirm a cause by hand.

use super::findings::{lameness, silence};
use super::{DnsReport, ServerReport};
use crate::diagnose::Cause;

/// The `dig` commands that show `cause` by hand, aimed at the servers the report blames.
pub fn confirm_command(cause: Cause, domain: &str, report: Option<&DnsReport>) -> String {
    let port = report.map_or(53, |r| r.port);
    let p = if port == 53 {
        String::new()
    } else {
        format!(" -p {port}")
    };
    let zone = report.and_then(|r| r.zone.as_deref()).unwrap_or(domain);
    let servers: Vec<&ServerReport> = report
        .map(|r| r.servers.iter().collect())
        .unwrap_or_default();
    let each = |pick: &dyn Fn(&ServerReport) -> bool, cmd: &dyn Fn(&ServerReport) -> String| {
        let cmds: Vec<String> = servers.iter().filter(|s| pick(s)).map(|s| cmd(s)).collect();
        if cmds.is_empty() {
            format!("dig {zone} NS +short; then for each: dig {domain} A @NAMESERVER{p} +norecurse")
        } else {
            cmds.join("; ")
        }
    };
    match cause {
        Cause::DnsResolutionFailed => format!("dig +short {domain} A; dig +short {domain} AAAA; dig {domain} SOA"),
        Cause::DnsAllNameserversDown | Cause::DnsNameserverDown => each(
            &|s| !s.authoritative() && !s.untestable(),
            &|s| format!("dig {domain} A @{}{p} +norecurse +time=2 +tries=1", s.address),
        ),
        Cause::DnsLameDelegation => each(
            &|s| s.lame(),
            &|s| format!("dig {domain} A @{}{p} +norecurse  # look for 'flags: qr aa' and 'status: NOERROR'", s.address),
        ),
        Cause::DnsSoaSerialMismatch => each(
            &|s| s.soa_serial().is_some(),
            &|s| format!("dig {zone} SOA @{}{p} +norecurse +short", s.address),
        ),
        Cause::DnsDelegationMismatch => match report.and_then(|r| r.delegation.as_ref()) {
            Some(d) => format!(
                "dig {zone} NS @{}{p} +norecurse  # the parent's referral (authority section); dig {zone} NS +short  # the zone's own",
                d.parent_server
            ),
            None => format!("dig {zone} NS +trace"),
        },
        _ => String::new(),
    }
}

/// One line per nameserver address: what it answered, for the `check` command's evidence.
pub fn nameserver_lines(report: &DnsReport) -> Vec<String> {
    let Some(zone) = report.zone.as_deref() else {
        return vec![format!(
            "zone not found: {}",
            report.error.as_deref().unwrap_or("unknown error")
        )];
    };
    let mut lines: Vec<String> = report
        .servers
        .iter()
        .map(|s| {
            let what = if s.untestable() {
                "no route from this host".to_string()
            } else if !s.up() {
                format!("no response ({})", silence(s))
            } else if s.lame() {
                lameness(s)
            } else {
                let serial = s
                    .soa_serial()
                    .map_or("no SOA".into(), |n| format!("serial {n}"));
                let ms = s.response_time().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                format!("authoritative, {serial}, {ms:.1} ms")
            };
            format!("zone {zone}: {} ({}) {what}", s.nameserver, s.address)
        })
        .collect();
    lines.extend(
        report
            .unresolved
            .iter()
            .map(|ns| format!("zone {zone}: {ns} has no address")),
    );
    if let Some(d) = &report.delegation {
        lines.push(format!(
            "zone {zone}: parent {} delegates to [{}]{}",
            d.parent_zone,
            d.parent_ns.join(", "),
            if d.matches() {
                " (same as the zone)"
            } else {
                " (differs from the zone)"
            }
        ));
    }
    lines
}
