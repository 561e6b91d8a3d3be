//! How the CDN reaches an origin: the protocol policy and ports it connects to, the address
//! family, how long it waits for a connection and how often it tries.

use std::net::IpAddr;
use std::time::Duration;

use super::super::raw::{RawGlobal, RawOrigin};
use super::super::{IpAddressType, ProtocolPolicy};
use super::fields::{duration, port};
use super::origin::at;
use super::Errors;

/// CloudFront's `ConnectionTimeout` (1-10 s, default 10) and `ConnectionAttempts` (1-3,
/// default 3).
const CONNECTION_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(10));
const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECTION_ATTEMPTS: u8 = 3;

/// Which protocol the CDN speaks to the origin, and on which ports.
pub(super) struct Protocols {
    pub(super) protocol_policy: ProtocolPolicy,
    pub(super) http_port: u16,
    pub(super) https_port: u16,
}

pub(super) fn protocols(
    o: &RawOrigin,
    defaults: &RawGlobal,
    path: &str,
    errors: &mut Errors,
) -> Protocols {
    let protocol_policy = match o
        .protocol_policy
        .as_deref()
        .or(defaults.protocol_policy.as_deref())
    {
        None => ProtocolPolicy::HttpsOnly,
        Some(p) => ProtocolPolicy::from_name(p).unwrap_or_else(|| {
            errors.push(
                at(path, "protocol_policy"),
                format!(
                    "must be one of {}, got {p:?}",
                    ProtocolPolicy::NAMES.join(", ")
                ),
            );
            ProtocolPolicy::HttpsOnly
        }),
    };
    let http_port = port(
        o.http_port.or(defaults.http_port),
        &at(path, "http_port"),
        80,
        errors,
    );
    let https_port = port(
        o.https_port.or(defaults.https_port),
        &at(path, "https_port"),
        443,
        errors,
    );
    Protocols {
        protocol_policy,
        http_port,
        https_port,
    }
}

/// How the CDN connects: the address family it uses, its connection timeout and attempts.
pub(super) struct Connection {
    pub(super) ip_address_type: IpAddressType,
    pub(super) connection_timeout: Duration,
    pub(super) connection_attempts: u8,
}

/// The connection settings; a pinned `address` (already validated) must be one the address
/// type lets the CDN use.
pub(super) fn connection(
    o: &RawOrigin,
    defaults: &RawGlobal,
    address: Option<IpAddr>,
    path: &str,
    errors: &mut Errors,
) -> Connection {
    let ip_address_type = match o
        .ip_address_type
        .as_deref()
        .or(defaults.ip_address_type.as_deref())
    {
        None => IpAddressType::default(),
        Some(t) => IpAddressType::from_name(t).unwrap_or_else(|| {
            errors.push(
                at(path, "ip_address_type"),
                format!(
                    "must be one of {}, got {t:?}",
                    IpAddressType::NAMES.join(", ")
                ),
            );
            IpAddressType::default()
        }),
    };
    // A pinned `address` is taken as given unless `ip_address_type` says otherwise explicitly.
    let explicit_type = o.ip_address_type.is_some() || defaults.ip_address_type.is_some();
    if let Some(ip) = address.filter(|ip| explicit_type && !ip_address_type.allows(*ip)) {
        errors.push(
            at(path, "address"),
            format!(
                "{ip} is not an address the CDN connects to with ip_address_type {}",
                ip_address_type.name()
            ),
        );
    }
    let connection_timeout = duration(
        o.connection_timeout
            .as_deref()
            .or(defaults.connection_timeout.as_deref()),
        &at(path, "connection_timeout"),
        DEFAULT_CONNECTION_TIMEOUT,
        CONNECTION_TIMEOUT_RANGE,
        errors,
    );
    let connection_attempts = match o.connection_attempts.or(defaults.connection_attempts) {
        None => DEFAULT_CONNECTION_ATTEMPTS,
        Some(n) if (1..=3).contains(&n) => n as u8,
        Some(n) => {
            errors.push(
                at(path, "connection_attempts"),
                format!("must be 1-3, got {n}"),
            );
            DEFAULT_CONNECTION_ATTEMPTS
        }
    };
    Connection {
        ip_address_type,
        connection_timeout,
        connection_attempts,
    }
}
