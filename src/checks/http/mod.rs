//! HTTP check: the request the CDN sends (method, path, `Host`), over TLS with the CDN's SNI or
//! plain, the time until response headers, the body read to its end as the CDN reads it
//! ([`body`]: the time to the last byte, against `response_completion_timeout`), then the
//! connection kept idle as the CDN keeps it for its next request ([`keepalive`]: when the origin
//! closes it, against `keepalive_timeout`). The certificate is not judged here: the TLS check
//! reports it, and a broken chain must not hide what the origin answers.

#[cfg(test)]
mod amend_tests;
mod check;
mod findings;
pub mod keepalive;
mod series;

pub use super::http_client::body::{self, Body};
pub use super::http_client::{tls_client, HttpOutcome, Phases};
pub use check::HttpCheck;

/// The check's id: its place in the registry.
pub const ID: super::Check = super::Check::at(3);
pub use keepalive::{HttpMemory, KeepAlive, Observation};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openssl::ssl::SslContext;

use super::http_client::{send_over, Answer, Client, Exchange, Read, Whole};
use super::tls::cdn_client;
use super::tls::refusal::{self, Refusal};
use crate::config::{Origin, Scheme};

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReport {
    pub address: SocketAddr,
    pub scheme: Scheme,
    pub outcome: HttpOutcome,
    /// The kept response headers ([`KEPT_HEADERS`]), lowercase name and value.
    pub headers: Vec<(&'static str, String)>,
    /// From the start of the request to the response headers (or the failure).
    pub duration: Duration,
    /// How long each step of the exchange took, as far as it went.
    pub phases: Phases,
    /// The HTTP version of the response, when one arrived.
    pub version: Option<hyper::Version>,
    /// How the CDN-profile handshake failed, when it did: the TLS check compares it with a
    /// handshake it reused (see `TlsReport::finish_from`).
    pub handshake: Option<cdn_client::Finish>,
    /// The answer refuses the client certificate ([`refusal::recognise`]).
    pub refusal: Option<Refusal>,
    /// How far the body was read: to its end (the time to the last byte), or where it stopped.
    pub body: Body,
    /// What the keep-alive watch of this address saw (or, while it runs, an earlier one).
    pub keepalive: KeepAlive,
    /// The same request to the origin's other addresses, in order (each with `more` empty).
    pub more: Vec<HttpReport>,
}

impl HttpReport {
    /// This address's report, then the other addresses'.
    pub fn all(&self) -> impl Iterator<Item = &HttpReport> {
        std::iter::once(self).chain(self.more.iter())
    }
}

/// Response headers the HTTP check keeps: the first four tell an AWS load balancer's or API
/// Gateway's own error from the application's (evidence); the last two are what the
/// blackbox_exporter-compatible series read (`probe_http_content_length`,
/// `probe_http_last_modified_timestamp_seconds`).
pub const KEPT_HEADERS: &[&str] = &[
    "server",
    "x-amzn-requestid",
    "x-amzn-errortype",
    "x-amz-apigw-id",
    "content-length",
    "last-modified",
];

/// Sends the CDN's request to `address` over the CDN-profile TLS client, waits for the response
/// headers and reads the body to its end (bounded: [`body::MAX_BODY`] bytes, and
/// `response_completion_timeout` or else `read_timeout`). Returns the report and, when the
/// origin keeps the connection open for another request, that connection, idle, for the
/// keep-alive watch.
pub async fn probe(
    origin: &Origin,
    address: SocketAddr,
    scheme: Scheme,
    tls: &SslContext,
) -> (HttpReport, Option<keepalive::Idle>) {
    let start = Instant::now();
    let spec = origin.http.clone().unwrap_or_default();
    let exchange = Exchange {
        address,
        scheme,
        host: origin.sni(),
        method: &spec.method,
        path: &spec.path,
        connect_timeout: origin.timeout,
        read_timeout: origin.read_timeout,
        headers: &spec.headers.0,
        keep: KEPT_HEADERS,
    };
    // The whole response within `response_completion_timeout` from the first connection
    // attempt, as the CDN counts it; without one, the body is read for the keep-alive watch
    // within the headers' `read_timeout`.
    let started = tokio::time::Instant::from(start);
    let whole = Whole {
        started,
        by: origin
            .response_completion_timeout()
            .map(|rct| started + rct),
    };
    let mut sent = send_over(&exchange, Client::Cdn(tls), Read::Whole(whole)).await;
    let refusal = match &sent.answer {
        Some(Answer::Response { status, body, .. }) => refusal::recognise(*status, body),
        _ => None,
    };
    let (read, closes) = match &sent.answer {
        Some(Answer::Response { read, closes, .. }) => (read.clone(), *closes),
        _ => (Body::NotRead, false),
    };
    let keepalive = match (&sent.idle, closes) {
        (_, true) => KeepAlive::Closes,
        (Some(idle), false) => KeepAlive::Watching {
            since: idle.since_wall(),
            earlier: None,
        },
        (None, false) => KeepAlive::NotWatched,
    };
    let report = HttpReport {
        address,
        scheme,
        outcome: sent.outcome,
        headers: sent.headers,
        duration: start.elapsed(),
        phases: sent.phases,
        version: match &sent.answer {
            Some(Answer::Response { version, .. }) => Some(*version),
            _ => None,
        },
        handshake: sent.handshake,
        refusal,
        body: read,
        keepalive,
        more: Vec::new(),
    };
    (report, sent.idle.take())
}

/// Sends the CDN's request to every address in `addrs` at once; the first one's report holds the
/// others' in `more`, and the idle connections left for the keep-alive watch come beside it.
/// `None` when `addrs` is empty.
pub async fn probe_all(
    origin: &Origin,
    addrs: &[SocketAddr],
    scheme: Scheme,
    tls: &SslContext,
) -> Option<(HttpReport, Vec<(SocketAddr, keepalive::Idle)>)> {
    let probes =
        futures_util::future::join_all(addrs.iter().map(|addr| probe(origin, *addr, scheme, tls)))
            .await;
    let mut idle = Vec::new();
    let mut reports = Vec::with_capacity(probes.len());
    for (report, left) in probes {
        if let Some(left) = left {
            idle.push((report.address, left));
        }
        reports.push(report);
    }
    let first = super::first_holding_rest(reports, |r: &mut HttpReport| &mut r.more)?;
    Some((first, idle))
}
