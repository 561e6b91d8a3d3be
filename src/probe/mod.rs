//! The checks, one file each. Every check is a plain async function from an origin (and what the
//! earlier checks found) to a typed report; [`probe_origin`] runs them in order for one origin.
//! A check that cannot run because an earlier one failed says so ([`Outcome::NotRun`]) instead
//! of failing on its own, so that diagnose names the root cause and not its echoes.

pub mod dns;
pub mod http;
pub mod resolve;
pub mod tcp;
pub mod tls;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::cdn::CdnProfile;
use crate::config::{Check, Global, Origin, Scheme};

pub use dns::{DnsContext, DnsReport};
pub use http::{HttpOutcome, HttpReport};
pub use resolve::Resolution;
pub use tcp::{PortResult, PortState, TcpReport};
pub use tls::{Handshake, TlsContext, TlsReport};

/// What the probes share across origins and cycles: built once per config, never per probe.
#[derive(Debug)]
pub struct ProbeContext {
    pub cdn: &'static CdnProfile,
    pub global: Global,
    /// Trust store, rustls config and AIA cache of the TLS check.
    pub tls: TlsContext,
    /// TLS client of the HTTP check (any certificate; the TLS check judges certificates).
    pub http_tls: Arc<rustls::ClientConfig>,
    /// The recursive resolver and the zone-discovery cache.
    pub dns: DnsContext,
}

impl ProbeContext {
    pub fn new(global: &Global) -> Result<Self, ContextError> {
        let tls = TlsContext::new(global.ca_file.as_deref())?;
        let http_tls = http::tls_client(Arc::clone(&tls.provider)).map_err(ContextError::Tls)?;
        Ok(ProbeContext {
            cdn: global.cdn,
            global: global.clone(),
            tls,
            http_tls,
            dns: DnsContext::new(global)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{file}: {reason}")]
    CaFile { file: String, reason: String },
    #[error("cannot set up the TLS client: {0}")]
    Tls(#[source] rustls::Error),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

impl ContextError {
    /// The config field the error is about, for `config check`.
    pub fn field(&self) -> &'static str {
        match self {
            ContextError::CaFile { .. } => "global.ca_file",
            ContextError::Tls(_) => "global",
            ContextError::Resolver(_) => "global.resolvers",
        }
    }
}

/// Why a check did not run: an earlier check already explains the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRun {
    /// The domain did not resolve, so there is no address to connect to.
    NoAddress,
    /// The port the check needs refused or timed out in the TCP check.
    PortClosed,
    /// No TLS connection could be made, so no request can be sent over it.
    NoTls,
}

/// How a check ended.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    Completed(T),
    /// The check did not finish within the origin's `timeout`.
    TimedOut,
    NotRun(NotRun),
}

/// One check's outcome and how long it took.
#[derive(Debug, Clone)]
pub struct CheckRun<T> {
    pub duration: Duration,
    pub outcome: Outcome<T>,
}

impl<T> CheckRun<T> {
    pub fn not_run(why: NotRun) -> Self {
        CheckRun {
            duration: Duration::ZERO,
            outcome: Outcome::NotRun(why),
        }
    }

    pub fn completed(&self) -> Option<&T> {
        match &self.outcome {
            Outcome::Completed(t) => Some(t),
            _ => None,
        }
    }

    pub fn timed_out(&self) -> bool {
        matches!(self.outcome, Outcome::TimedOut)
    }
}

/// Runs one check under the origin's timeout and measures it.
pub async fn timed<T>(limit: Duration, check: impl Future<Output = T>) -> CheckRun<T> {
    let start = Instant::now();
    let outcome = match tokio::time::timeout(limit, check).await {
        Ok(t) => Outcome::Completed(t),
        Err(_) => Outcome::TimedOut,
    };
    CheckRun {
        duration: start.elapsed(),
        outcome,
    }
}

/// Everything one cycle found out about one origin.
#[derive(Debug, Clone, Default)]
pub struct OriginResults {
    /// Resolution of `domain`; `None` when the origin pins an `address`.
    pub resolution: Option<CheckRun<Resolution>>,
    /// The authoritative nameservers of the domain's zone; `None` without the `dns` check.
    pub dns: Option<CheckRun<DnsReport>>,
    pub tcp: Option<CheckRun<TcpReport>>,
    pub tls: Option<CheckRun<TlsReport>>,
    pub http: Option<CheckRun<HttpReport>>,
}

impl OriginResults {
    /// How long the given check took, when it ran.
    pub fn duration(&self, check: Check) -> Option<Duration> {
        match check {
            // Resolution and the nameserver queries run side by side.
            Check::Dns => [
                &self.resolution.as_ref().map(|r| r.duration),
                &self.dns.as_ref().map(|r| r.duration),
            ]
            .into_iter()
            .flatten()
            .max()
            .copied(),
            Check::Tcp => self.tcp.as_ref().map(|r| r.duration),
            Check::Tls => self.tls.as_ref().map(|r| r.duration),
            Check::Http => self.http.as_ref().map(|r| r.duration),
        }
    }
}

/// Most addresses of one origin probed in a cycle: bounds the work a hostile zone can cause.
pub const MAX_ADDRESSES: usize = 16;

/// The addresses the CDN would connect to: the pinned `address`, else what `domain` resolves to.
pub fn addresses(origin: &Origin, results: &OriginResults) -> Vec<IpAddr> {
    if let Some(ip) = origin.address {
        return vec![ip];
    }
    if !origin.pinned_addresses.is_empty() {
        return origin.pinned_addresses.clone();
    }
    results
        .resolution
        .as_ref()
        .and_then(|r| r.completed())
        .map(|r| r.addresses.clone())
        .unwrap_or_default()
}

/// The first address whose port for `scheme` accepted a connection; without a TCP check, the
/// first address. `None` means a later check on that scheme cannot run.
pub fn reachable_address(
    origin: &Origin,
    results: &OriginResults,
    scheme: Scheme,
) -> Result<(IpAddr, u16), NotRun> {
    let port = match scheme {
        Scheme::Http => origin.http_port,
        Scheme::Https => origin.https_port,
    };
    let addrs = addresses(origin, results);
    let first = *addrs.first().ok_or(NotRun::NoAddress)?;
    match results.tcp.as_ref().map(|t| t.completed()) {
        None => Ok((first, port)),
        Some(Some(report)) => report
            .ports
            .iter()
            .find(|p| p.port == port && p.state == PortState::Open)
            .map(|p| (p.address, port))
            .ok_or(NotRun::PortClosed),
        Some(None) => Err(NotRun::PortClosed),
    }
}

/// What an origin's checks remember between its cycles, kept by its scheduler task (fresh when
/// the origin or the global settings change).
#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub tls: tls::TlsMemory,
}

/// Runs every enabled check of one origin, in order, each under the origin's timeout, with
/// nothing remembered from earlier cycles (an ad-hoc probe, `check`).
pub async fn probe_origin(origin: &Origin, ctx: &ProbeContext) -> OriginResults {
    probe_origin_with(origin, ctx, &mut Memory::default()).await
}

/// Runs every enabled check of one origin, in order, each under the origin's timeout, reusing
/// what `memory` holds from the origin's earlier cycles where that cannot change the verdict.
pub async fn probe_origin_with(
    origin: &Origin,
    ctx: &ProbeContext,
    memory: &mut Memory,
) -> OriginResults {
    let mut results = OriginResults::default();
    // The nameserver check does not feed the later checks, so it runs beside resolution.
    let resolution = async {
        match origin.address {
            None => Some(timed(origin.timeout, resolve::resolve(&origin.domain, ctx)).await),
            Some(_) => None,
        }
    };
    let nameservers = async {
        match origin.has_check(Check::Dns) {
            true => Some(timed(origin.timeout, dns::check(origin, &ctx.dns)).await),
            false => None,
        }
    };
    (results.resolution, results.dns) = tokio::join!(resolution, nameservers);
    if origin.has_check(Check::Tcp) {
        let addrs = addresses(origin, &results);
        results.tcp = Some(if addrs.is_empty() {
            CheckRun::not_run(NotRun::NoAddress)
        } else {
            // Each connection is bounded by the timeout itself; the check as a whole too.
            timed(
                origin.timeout + Duration::from_millis(100),
                tcp::probe(&addrs, &origin.ports(), origin.timeout),
            )
            .await
        });
    }
    if origin.has_check(Check::Tls) {
        results.tls = Some(match reachable_address(origin, &results, Scheme::Https) {
            Err(why) => CheckRun::not_run(why),
            // Every connection of the check is bounded by the timeout itself; the margin only
            // lets it report what it found instead of being cut off.
            Ok((ip, port)) => {
                timed(
                    origin.timeout + Duration::from_millis(250),
                    tls::probe_with(
                        origin,
                        ctx.cdn,
                        &ctx.tls,
                        SocketAddr::new(ip, port),
                        &mut memory.tls,
                    ),
                )
                .await
            }
        });
    }
    if origin.has_check(Check::Http) {
        let scheme = if origin.uses_https() {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let reachable = reachable_address(origin, &results, scheme).and_then(|found| {
            // No request after a failed CDN handshake: the TLS cause is the root.
            if scheme == Scheme::Https && tls_failed(&results) {
                Err(NotRun::NoTls)
            } else {
                Ok(found)
            }
        });
        results.http = Some(match reachable {
            Err(why) => CheckRun::not_run(why),
            // Connect and TLS within the timeout, then the CDN's read timeout for headers.
            Ok((ip, port)) => {
                let address = SocketAddr::new(ip, port);
                let limit = origin.timeout * 2 + origin.read_timeout;
                timed(limit, http::probe(origin, address, scheme, &ctx.http_tls)).await
            }
        });
    }
    results
}

/// The TLS check ran and the CDN's handshake did not succeed.
fn tls_failed(results: &OriginResults) -> bool {
    match results.tls.as_ref().map(|r| &r.outcome) {
        Some(Outcome::Completed(report)) => report.handshake != Handshake::Accepted,
        Some(Outcome::TimedOut) => true,
        None | Some(Outcome::NotRun(_)) => false,
    }
}

/// Wall-clock seconds since the epoch, for `_timestamp_seconds` metrics.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
