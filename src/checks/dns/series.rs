//! The DNS check's series: resolution, and per nameserver address of the origin's zone.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use crate::exposition::{detail_family, family, Observed};

use super::{DnsReport, ServerReport};

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    family(
        enc,
        "origin_dns_resolve_success",
        "1 when the domain resolves to at least one address through the recursive resolvers.",
        rows,
        |o, s, e| match s.results.resolution.as_ref() {
            Some(run) => e.gauge(
                o,
                &[],
                i64::from(run.completed().is_some_and(|r| r.succeeded())),
            ),
            None => Ok(()),
        },
    )?;
    detail_family(
        enc,
        "origin_dns_resolve_duration_seconds",
        "How long resolving the domain took.",
        rows,
        |o, s, e| match s.results.resolution.as_ref() {
            Some(run) => e.gauge(o, &[], run.duration.as_secs_f64()),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_dns_addresses",
        "Number of A and AAAA addresses the domain resolved to.",
        rows,
        |o, s, e| match s.results.resolution.as_ref() {
            Some(run) => e.gauge(
                o,
                &[],
                run.completed().map_or(0, |r| r.addresses.len() as i64),
            ),
            None => Ok(()),
        },
    )?;
    nameservers(enc, rows)
}

/// Per nameserver address of the origin's zone (detail series). Addresses this host has no route to (an IPv6
/// server from an IPv4-only host) have no series: nothing was learnt about them.
fn nameservers(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    fn report<'a>(s: &Observed<'a>) -> Option<&'a DnsReport> {
        s.results
            .get::<super::DnsCheck>()
            .and_then(|r| r.completed())
    }
    /// Counts and flags print as integers, times as floats.
    enum Num {
        I(i64),
        F(f64),
    }
    type Value = fn(&ServerReport) -> Option<Num>;
    let families: [(&str, &str, Value); 4] = [
        (
            "origin_dns_nameserver_up",
            "1 when a response from that nameserver address arrived within the timeout (any rcode).",
            |s| Some(Num::I(i64::from(s.up()))),
        ),
        (
            "origin_dns_nameserver_authoritative",
            "1 when that nameserver's answers had the AA flag (and were not REFUSED).",
            |s| Some(Num::I(i64::from(s.authoritative()))),
        ),
        (
            "origin_dns_nameserver_response_seconds",
            "Time to that nameserver's answer to the SOA query (to the A query if the SOA got none); absent when it did not answer.",
            |s| s.response_time().map(|d| Num::F(d.as_secs_f64())),
        ),
        (
            "origin_dns_soa_serial",
            "SOA serial that nameserver reports with authority.",
            |s| s.soa_serial().map(|n| Num::I(i64::from(n))),
        ),
    ];
    for (name, help, value) in families {
        detail_family(enc, name, help, rows, |o, snap, e| {
            let Some(r) = report(snap) else { return Ok(()) };
            let zone = r.zone.as_deref().unwrap_or_default();
            for s in r.servers.iter().filter(|s| !s.untestable()) {
                if let Some(v) = value(s) {
                    let addr = s.address.to_string();
                    let labels = [
                        ("zone", zone),
                        ("nameserver", s.nameserver.as_str()),
                        ("address", addr.as_str()),
                    ];
                    match v {
                        Num::I(i) => e.gauge(o, &labels, i)?,
                        Num::F(f) => e.gauge(o, &labels, f)?,
                    }
                }
            }
            Ok(())
        })?;
    }
    detail_family(
        enc,
        "origin_dns_delegation_match",
        "1 when the parent zone's NS set for the origin's zone equals the zone's own NS set; absent when no parent server gave a referral.",
        rows,
        |o, snap, e| match report(snap).and_then(|r| Some((r.zone.as_deref()?, r.delegation.as_ref()?))) {
            Some((zone, d)) => e.gauge(
                o,
                &[("zone", zone), ("parent_zone", d.parent_zone.as_str())],
                i64::from(d.matches()),
            ),
            None => Ok(()),
        },
    )
}
