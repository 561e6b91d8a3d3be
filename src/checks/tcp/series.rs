//! The TCP check's series: per address and port.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use crate::exposition::{family, Observed};

use super::PortState;

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    fn ports<'a>(s: &Observed<'a>) -> &'a [crate::checks::PortResult] {
        s.results
            .tcp
            .as_ref()
            .and_then(|r| r.completed())
            .map_or(&[], |r| r.ports.as_slice())
    }
    family(
        enc,
        "origin_tcp_port_up",
        "1 when a connection to the address and port was accepted.",
        rows,
        |o, s, e| {
            for p in ports(s) {
                let (addr, port) = (p.address.to_string(), p.port.to_string());
                e.gauge(
                    o,
                    &[("address", &addr), ("port", &port)],
                    i64::from(p.state == PortState::Open),
                )?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_tcp_connect_attempts",
        "Connection attempts made to the address and port (as the CDN makes them, up to connection_attempts): more than 1 means earlier attempts failed.",
        rows,
        |o, s, e| {
            for p in ports(s) {
                let (addr, port) = (p.address.to_string(), p.port.to_string());
                e.gauge(
                    o,
                    &[("address", &addr), ("port", &port)],
                    i64::from(p.attempts),
                )?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_tcp_connect_duration_seconds",
        "How long the TCP connection took to be accepted, refused or time out.",
        rows,
        |o, s, e| {
            for p in ports(s) {
                let (addr, port) = (p.address.to_string(), p.port.to_string());
                e.gauge(
                    o,
                    &[("address", &addr), ("port", &port)],
                    p.duration.as_secs_f64(),
                )?;
            }
            Ok(())
        },
    )
}
