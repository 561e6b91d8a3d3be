//! The TCP check's series: per address and port.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue};

use crate::exposition::{detail_family, family, Labeled, Observed, Series};

use super::{PortResult, PortState};

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    per_port(
        enc,
        rows,
        "origin_tcp_port_up",
        "1 when a connection to the address and port was accepted.",
        |p| i64::from(p.state == PortState::Open),
        Kind::Core,
    )?;
    per_port(
        enc,
        rows,
        "origin_tcp_connect_attempts",
        "Connection attempts made to the address and port (as the CDN makes them, up to connection_attempts): more than 1 means earlier attempts failed.",
        |p| i64::from(p.attempts),
        Kind::Detail,
    )?;
    per_port(
        enc,
        rows,
        "origin_tcp_connect_duration_seconds",
        "How long the TCP connection took to be accepted, refused or time out.",
        |p| p.duration.as_secs_f64(),
        Kind::Detail,
    )
}

/// One family with a series per address and port the TCP check tried.
fn per_port<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    rows: &[Observed],
    name: &str,
    help: &str,
    value: fn(&PortResult) -> V,
    kind: Kind,
) -> fmt::Result {
    let each = |o: &Labeled, s: &Observed, e: &mut Series| {
        let ports = s
            .results
            .get::<super::TcpCheck>()
            .and_then(|r| r.completed())
            .map_or(&[][..], |r| r.ports.as_slice());
        for p in ports {
            let (addr, port) = (p.address.to_string(), p.port.to_string());
            e.gauge(o, &[("address", &addr), ("port", &port)], value(p))?;
        }
        Ok(())
    };
    match kind {
        Kind::Core => family(enc, name, help, rows, each),
        Kind::Detail => detail_family(enc, name, help, rows, each),
    }
}

/// Whether a family is written for every origin, or only where detail series are
/// ([`detail_family`]).
enum Kind {
    Core,
    Detail,
}
