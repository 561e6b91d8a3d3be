//! blackbox_exporter's `probe_*` series for each origin (`global.compat: [blackbox]`): what a
//! blackbox HTTP module (origins with the `http` check), or a TCP module with TLS (the others),
//! would have written for the origin, with the same names, types, help and labels, plus the
//! origin's own labels. docs/blackbox.md says how each value is derived and where it differs.
//!
//! Two halves: [`observe`] reads the checks' reports into a [`Probe`], what blackbox would have
//! seen (the only code here that knows a check's report); the rest writes a [`Probe`] as
//! blackbox's families. Written to match blackbox_exporter 0.23 (Debian 12's), plus
//! `probe_tls_cipher_info` of 0.26.

mod go;
mod observe;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use prometheus_client::encoding::DescriptorEncoder;

use crate::analysis::PeerFacts;
use crate::exposition::{family, Labeled, Row};

pub use observe::observe;

/// The label names these series write besides the origin's: an origin's `labels` cannot take
/// them while the series are on (`version` and `cipher` are reserved anyway).
pub const LABELS: &[&str] = &[
    "phase",
    "fingerprint_sha256",
    "subject",
    "issuer",
    "subjectalternative",
];

/// Which blackbox prober the series are those of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// `prober: http` (an `http_2xx` module).
    Http,
    /// `prober: tcp`, with `tls: true` when the origin is probed over TLS.
    Tcp { tls: bool },
}

/// What a blackbox probe of the origin would have reported, made of what the checks saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub module: Module,
    /// `probe_success`.
    pub success: bool,
    /// `probe_duration_seconds`.
    pub duration: f64,
    /// `probe_dns_lookup_time_seconds` (0 for an origin with a pinned `address`).
    pub dns_lookup: f64,
    /// The address probed; `None` when the name did not resolve.
    pub ip: Option<IpAddr>,
    /// The TLS handshake, when it finished and the chain verified as Go verifies it.
    pub tls: Option<TlsSeen>,
    /// The HTTP exchange; `None` for a TCP module.
    pub http: Option<HttpSeen>,
}

/// A finished handshake with a verified chain: what blackbox writes only then.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSeen {
    /// `probe_tls_version_info{version}`, Go's name.
    pub version: &'static str,
    /// `probe_tls_cipher_info{cipher}`, Go's name; `None` for a suite the exporter cannot name.
    pub cipher: Option<String>,
    /// `probe_ssl_earliest_cert_expiry`: the earliest notAfter of the certificates served.
    pub earliest_expiry: i64,
    /// `probe_ssl_last_chain_expiry_timestamp_seconds`: the earliest notAfter of the verified
    /// path, root included.
    pub last_chain_expiry: i64,
    /// `probe_ssl_last_chain_info`'s labels.
    pub peer: Arc<PeerFacts>,
}

/// The HTTP exchange of an HTTP module.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSeen {
    /// The name resolved: blackbox writes the request's phases only then.
    pub resolved: bool,
    /// `probe_http_status_code`: 0 when no response arrived (or the handshake failed).
    pub status: u16,
    /// `probe_http_ssl`: the response came over TLS.
    pub ssl: bool,
    /// `probe_http_version`: 1.1, 1.0; 0 without a response.
    pub version: f64,
    /// `probe_http_content_length`: `Content-Length`, -1 when the response had none.
    pub content_length: i64,
    /// `probe_http_uncompressed_body_length`: the body's length, when known without reading it.
    pub body_length: Option<i64>,
    /// `probe_http_last_modified_timestamp_seconds`: `Last-Modified`, when it parses.
    pub last_modified: Option<i64>,
    /// `probe_http_duration_seconds{phase}`: resolve, connect, tls, processing, transfer.
    pub phases: [f64; 5],
}

const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

/// One origin's probe, with its labels.
pub struct Probed<'a> {
    pub origin: &'a Labeled<'a>,
    pub probe: Probe,
}

impl Row for Probed<'_> {
    fn origin(&self) -> &Labeled<'_> {
        self.origin
    }
}

/// Writes blackbox's families for `rows`, in the order blackbox writes them (by name).
pub fn encode(enc: &mut DescriptorEncoder, rows: &[Probed]) -> fmt::Result {
    fn http<'a>(r: &'a Probed) -> Option<&'a HttpSeen> {
        r.probe.http.as_ref()
    }
    family(
        enc,
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        rows,
        |o, r, e| e.gauge(o, &[], r.probe.dns_lookup),
    )?;
    family(
        enc,
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        rows,
        |o, r, e| e.gauge(o, &[], r.probe.duration),
    )?;
    family(
        enc,
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        rows,
        |o, _, e| e.gauge(o, &[], 0_i64),
    )?;
    family(
        enc,
        "probe_http_content_length",
        "Length of http content response",
        rows,
        |o, r, e| match http(r) {
            Some(h) => e.gauge(o, &[], h.content_length),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
        rows,
        |o, r, e| {
            let Some(h) = http(r) else { return Ok(()) };
            // A name that did not resolve ends the probe before the request's phases exist.
            let phases = if h.resolved { PHASES.len() } else { 1 };
            for (phase, seconds) in PHASES.iter().zip(h.phases).take(phases) {
                e.gauge(o, &[("phase", phase)], seconds)?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "probe_http_last_modified_timestamp_seconds",
        "Returns the Last-Modified HTTP response header in unixtime",
        rows,
        |o, r, e| match http(r).and_then(|h| h.last_modified) {
            Some(t) => e.gauge(o, &[], t),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_http_redirects",
        "The number of redirects",
        rows,
        |o, r, e| match http(r) {
            Some(_) => e.gauge(o, &[], 0_i64),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        rows,
        |o, r, e| match http(r) {
            Some(h) => e.gauge(o, &[], i64::from(h.ssl)),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_http_status_code",
        "Response HTTP status code",
        rows,
        |o, r, e| match http(r) {
            Some(h) => e.gauge(o, &[], i64::from(h.status)),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
        rows,
        |o, r, e| match http(r).and_then(|h| h.body_length) {
            Some(n) => e.gauge(o, &[], n),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
        rows,
        |o, r, e| match http(r) {
            Some(h) => e.gauge(o, &[], h.version),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
        rows,
        |o, r, e| {
            e.gauge(
                o,
                &[],
                r.probe.ip.map_or(0, |ip| i64::from(go::ip_hash(ip))),
            )
        },
    )?;
    family(
        enc,
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        rows,
        |o, r, e| {
            let protocol = match r.probe.ip {
                Some(IpAddr::V4(_)) => 4,
                Some(IpAddr::V6(_)) => 6,
                None => 0,
            };
            e.gauge(o, &[], protocol as i64)
        },
    )?;
    encode_tls(enc, rows)?;
    family(
        enc,
        "probe_success",
        "Displays whether or not the probe was a success",
        rows,
        |o, r, e| e.gauge(o, &[], i64::from(r.probe.success)),
    )
}

/// The families blackbox writes only after a handshake with a verified chain.
fn encode_tls(enc: &mut DescriptorEncoder, rows: &[Probed]) -> fmt::Result {
    family(
        enc,
        "probe_ssl_earliest_cert_expiry",
        "Returns last SSL chain expiry in unixtime",
        rows,
        |o, r, e| match &r.probe.tls {
            Some(t) => e.gauge(o, &[], t.earliest_expiry),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "Returns last SSL chain expiry in timestamp",
        rows,
        |o, r, e| match &r.probe.tls {
            Some(t) => e.gauge(o, &[], t.last_chain_expiry),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_ssl_last_chain_info",
        "Contains SSL leaf certificate information",
        rows,
        |o, r, e| {
            let Some(t) = &r.probe.tls else { return Ok(()) };
            let sans = t.peer.dns_names.join(",");
            e.gauge(
                o,
                &[
                    ("fingerprint_sha256", &t.peer.fingerprint_sha256),
                    ("issuer", &t.peer.issuer),
                    ("subject", &t.peer.subject),
                    ("subjectalternative", &sans),
                ],
                1_i64,
            )
        },
    )?;
    family(
        enc,
        "probe_tls_cipher_info",
        "Returns the TLS cipher negotiated during handshake",
        rows,
        |o, r, e| match r.probe.tls.as_ref().and_then(|t| t.cipher.as_deref()) {
            Some(cipher) => e.gauge(o, &[("cipher", cipher)], 1_i64),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "probe_tls_version_info",
        "Returns the TLS version used or NaN when unknown",
        rows,
        |o, r, e| match &r.probe.tls {
            Some(t) => e.gauge(o, &[("version", t.version)], 1_i64),
            None => Ok(()),
        },
    )
}
