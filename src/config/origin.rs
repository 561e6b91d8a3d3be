//! One origin with every default applied, as the probes read it, and the bounds of its checks
//! and cycles that follow from its settings.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use super::{
    CdnClientCertificate, Check, ClientCertificate, Compat, EdgeSpec, HttpSpec, IpAddressType,
    ProtocolPolicy, Scheme, Source,
};
use crate::cdn::TlsVersion;
use crate::checks::{CheckRun, Resolution};

/// One origin with every default applied: what the probes read.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub name: String,
    pub domain: String,
    pub host_header: Option<String>,
    pub address: Option<IpAddr>,
    pub protocol_policy: ProtocolPolicy,
    pub http_port: u16,
    pub https_port: u16,
    pub ssl_protocols: Vec<TlsVersion>,
    pub http: Option<Box<HttpSpec>>,
    /// The edge check's URL; `None` without an `edge` section.
    pub edge: Option<Box<EdgeSpec>>,
    pub checks: BTreeSet<Check>,
    pub interval: Duration,
    pub timeout: Duration,
    pub read_timeout: Duration,
    pub expiry_warning_days: u32,
    /// Extra labels on every series of this origin, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The client certificate the CDN presents when the origin asks (origin mTLS): what the
    /// checks present. For a discovered origin, the local copy from `client_certificates`.
    pub client_certificate: Option<Box<ClientCertificate>>,
    /// The CDN's origin mTLS setting of a discovered origin: the certificate in ACM, which the
    /// checks can present only through a local copy (`client_certificate`).
    pub cdn_client_certificate: Option<Arc<CdnClientCertificate>>,
    /// Large-fleet mode (`global.large_fleet`): this origin's detail series only while a cause
    /// is active on it.
    pub large_fleet: bool,
    /// Series of other exporters this origin also gets (`global.compat`).
    pub compat: Compat,
    /// The resolution made when an ad-hoc origin (`/probe?target=`) was vetted: its cycle's
    /// resolution, never made again, so the checks connect to the vetted addresses or to none,
    /// whatever a later DNS answer would say. Never set from a config file.
    pub vetted: Option<Arc<CheckRun<Resolution>>>,
    /// Which resolved addresses the CDN may connect to (`ip_address_type`).
    pub ip_address_type: IpAddressType,
    /// Bound of one connection attempt (`connection_timeout`, CloudFront's 1-10 s).
    pub connection_timeout: Duration,
    /// Attempts before a port counts as unreachable (`connection_attempts`, 1-3).
    pub connection_attempts: u8,
    /// `keepalive_timeout` in milliseconds (see [`Origin::keepalive_timeout`]): 4 bytes
    /// instead of a `Duration`'s 16 in every origin's settings.
    pub(super) keepalive_timeout_ms: NonZeroU32,
    /// `response_completion_timeout` in milliseconds (see
    /// [`Origin::response_completion_timeout`]).
    pub(super) response_completion_timeout_ms: Option<NonZeroU32>,
    /// Where the origin was discovered; `None` for a configured one.
    pub source: Option<Arc<Source>>,
    /// A `/probe?target=` origin: what it makes the exporter fetch (AIA) passes the ad-hoc
    /// network policy too. Never set from a config file.
    pub adhoc: bool,
}

impl Origin {
    /// The name the CDN sends as SNI and Host: the forwarded Host header if any, else the domain.
    pub fn sni(&self) -> &str {
        self.host_header.as_deref().unwrap_or(&self.domain)
    }

    /// The ports the CDN connects to under this origin's protocol policy, with their scheme.
    pub fn ports(&self) -> Vec<(Scheme, u16)> {
        match self.protocol_policy {
            ProtocolPolicy::HttpsOnly => vec![(Scheme::Https, self.https_port)],
            ProtocolPolicy::HttpOnly => vec![(Scheme::Http, self.http_port)],
            ProtocolPolicy::MatchViewer => vec![
                (Scheme::Http, self.http_port),
                (Scheme::Https, self.https_port),
            ],
        }
    }

    pub fn uses_https(&self) -> bool {
        self.protocol_policy != ProtocolPolicy::HttpOnly
    }

    /// Bound of one TCP connection attempt: `connection_timeout`, or `timeout` when smaller.
    pub fn attempt_timeout(&self) -> Duration {
        self.connection_timeout.min(self.timeout)
    }

    /// How long the CDN keeps an idle connection to the origin open for its next request
    /// (`keepalive_timeout`, CloudFront's `OriginKeepaliveTimeout`, default 5 s).
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.keepalive_timeout_ms.get()))
    }

    /// The whole response must arrive within this, or the CDN ends the connection
    /// (`response_completion_timeout`, CloudFront's `ResponseCompletionTimeout`); `None`: no
    /// such bound. Never below `read_timeout`.
    pub fn response_completion_timeout(&self) -> Option<Duration> {
        self.response_completion_timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms.get())))
    }

    pub fn has_check(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }

    /// The longest `check` takes for this origin, beyond [`REPORT_MARGIN`] (docs/bounds.md,
    /// "Time of each check"). `timeout` for resolution, DNS, TLS and edge; the TCP check tries
    /// each port up to `connection_attempts` times, each attempt within
    /// [`Origin::attempt_timeout`]; the HTTP check connects within `timeout`, handshakes within
    /// `timeout`, then waits `read_timeout` for the response headers (the CDN's own times), and
    /// reads the body within that too, or within `response_completion_timeout` from its first
    /// connection attempt when the origin has one. The keep-alive watch after it is not part of
    /// the check (it lingers: see `checks::Lingering`).
    pub fn check_bound(&self, check: Check) -> Duration {
        match check {
            Check::Tcp => self
                .attempt_timeout()
                .saturating_mul(u32::from(self.connection_attempts.max(1))),
            Check::Http => self
                .timeout
                .saturating_mul(2)
                .saturating_add(self.read_timeout)
                .max(self.response_completion_timeout().unwrap_or_default()),
            Check::Dns | Check::Tls | Check::Edge => self.timeout,
        }
    }

    /// The longest one cycle of this origin takes: resolution (when it has no `address`) beside
    /// the DNS check, then each other enabled check in turn, each with its [`REPORT_MARGIN`].
    pub fn cycle_bound(&self) -> Duration {
        let resolution = if self.address.is_none() {
            self.timeout
        } else {
            Duration::ZERO
        };
        let dns = match self.checks.contains(&Check::Dns) {
            true => self.check_bound(Check::Dns),
            false => Duration::ZERO,
        };
        self.checks
            .iter()
            .filter(|c| **c != Check::Dns)
            .map(|c| self.check_bound(*c).saturating_add(REPORT_MARGIN))
            .fold(resolution.max(dns), Duration::saturating_add)
    }

    /// A copy whose cycle fits in `budget` (`/probe` under a scrape timeout): its
    /// [`Origin::cycle_bound`] is at most `budget`. The budget less the report margins is cut in
    /// equal steps (resolution, TCP, TLS and edge one each, HTTP three: connect, handshake,
    /// headers, with `response_completion_timeout` at most all three), and no time is raised
    /// above the origin's own.
    pub fn within(&self, budget: Duration) -> Origin {
        let checks = self.checks.iter().filter(|c| **c != Check::Dns);
        let margins = REPORT_MARGIN.saturating_mul(checks.clone().count() as u32);
        let steps = u32::from(self.address.is_none() || self.checks.contains(&Check::Dns))
            + checks
                .map(|c| if *c == Check::Http { 3 } else { 1 })
                .sum::<u32>();
        let per_step = budget.saturating_sub(margins) / steps.max(1);
        let mut origin = self.clone();
        origin.timeout = origin.timeout.min(per_step);
        // Every TCP attempt shares the TCP step.
        origin.connection_timeout = origin
            .connection_timeout
            .min(per_step / u32::from(origin.connection_attempts.max(1)));
        origin.read_timeout = origin.read_timeout.min(per_step);
        let whole = per_step.saturating_mul(3).as_millis();
        let whole = NonZeroU32::new(u32::try_from(whole).unwrap_or(u32::MAX).max(1));
        origin.response_completion_timeout_ms = origin
            .response_completion_timeout_ms
            .map(|ms| whole.map_or(ms, |whole| ms.min(whole)));
        origin
    }
}

/// What a check may take beyond its [`Origin::check_bound`] to report what it saw instead of
/// being cut off (the TCP, TLS and edge checks' `MARGIN`; the others need none).
pub const REPORT_MARGIN: Duration = Duration::from_millis(100);
