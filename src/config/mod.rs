//! Configuration: the schema of SPEC.md (`raw`), loading with figment (`load`: the file and its
//! environment overrides; `extract`: every reading error; `split`: a long origin list cut into
//! items; `error`: the errors and their order), and validation into the typed [`Config`] the
//! rest of the exporter uses (`validate`).

mod duration;
mod error;
mod extract;
mod load;
mod raw;
mod split;
#[cfg(test)]
mod split_props;
mod validate;
#[cfg(test)]
mod validate_cases;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cdn::{CdnProfile, TlsVersion};
use crate::checks::{CheckRun, Resolution};
use crate::netpolicy::{AdhocPolicy, Cidr};

pub use duration::parse_duration;
pub use error::{FieldError, LoadError};
pub use load::{load, load_str};
pub use raw::{RawConfig, RawEdge, RawGlobal, RawHttp, RawOrigin};
pub use validate::{validate, Validator, RESERVED_LABELS};

/// A loaded, validated configuration. Immutable; a reload builds a new one.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: Global,
    pub origins: Vec<Arc<Origin>>,
    /// `global` as written: the defaults an ad-hoc origin inherits.
    pub defaults: raw::RawGlobal,
    /// Where origins are discovered besides `origins` (`discovery`).
    pub discovery: Discovery,
}

/// `discovery`: the CDN APIs origins are discovered from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    pub cloudfront: Option<CloudFrontDiscovery>,
}

/// `discovery.cloudfront`: which distributions to list, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudFrontDiscovery {
    pub refresh_interval: Duration,
    /// Only these distributions; empty means every one the credentials can list.
    pub distribution_ids: Vec<String>,
    /// Only distributions carrying every one of these tags.
    pub tags: BTreeMap<String, String>,
    /// API endpoint override; `None` is the AWS default for us-east-1.
    pub endpoint_url: Option<String>,
    /// When set, each discovered origin carries `https://<distribution domain><edge_path>`.
    pub edge_path: Option<String>,
    /// Whether VPC origins are probed (`vpc_origins`).
    pub vpc_origins: VpcOrigins,
    /// Local copies of the client certificates the CDN presents (origin mTLS), by ACM ARN
    /// (`client_certificates`): a discovered origin whose distribution names one presents it.
    pub client_certificates: BTreeMap<String, ClientCertificate>,
}

/// `discovery.cloudfront.vpc_origins`: VPC origins are reachable from inside their VPC only, so
/// they are probed only when the exporter runs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VpcOrigins {
    /// Counted and listed as skipped, not probed.
    #[default]
    Skip,
    /// Probed with the ports, protocol policy and protocols of the VPC origin (GetVpcOrigin).
    Probe,
}

impl VpcOrigins {
    pub const NAMES: [&'static str; 2] = ["skip", "probe"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "skip" => Some(Self::Skip),
            "probe" => Some(Self::Probe),
            _ => None,
        }
    }
}

/// The client certificate the CDN presents to a discovered origin through origin mTLS
/// (CloudFront `OriginMtlsConfig`): its ACM ARN, and what ACM says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnClientCertificate {
    pub arn: String,
    /// ACM's DescribeCertificate, or why it could not be read.
    pub acm: Result<AcmCertificate, String>,
}

/// What ACM's DescribeCertificate tells of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcmCertificate {
    /// `NotAfter`, Unix seconds.
    pub not_after: Option<i64>,
    /// `Status`: `ISSUED`, `EXPIRED`, `REVOKED`, `INACTIVE`, ...
    pub status: Option<String>,
    /// `Type`: `IMPORTED`, `AMAZON_ISSUED` or `PRIVATE`.
    pub kind: Option<String>,
}

/// An origin given by its parameters rather than by the config file (`/probe?target=`,
/// `check --domain`).
#[derive(Debug, Clone, Default)]
pub struct AdhocTarget {
    pub domain: String,
    pub host_header: Option<String>,
    pub address: Option<String>,
    pub http_port: Option<i64>,
    pub https_port: Option<i64>,
    pub ssl_protocols: Option<Vec<String>>,
    pub checks: Option<Vec<String>>,
    pub protocol_policy: Option<String>,
    /// Path of the HTTP check; `None` keeps the defaults' `http` section (if any).
    pub http_path: Option<String>,
}

impl AdhocTarget {
    fn to_raw(&self) -> raw::RawOrigin {
        raw::RawOrigin {
            name: Some(self.domain.clone()),
            domain: Some(self.domain.clone()),
            host_header: self.host_header.clone(),
            address: self.address.clone(),
            http_port: self.http_port,
            https_port: self.https_port,
            ssl_protocols: self.ssl_protocols.clone(),
            checks: self.checks.clone(),
            protocol_policy: self.protocol_policy.clone(),
            http: self.http_path.as_ref().map(|path| raw::RawHttp {
                path: Some(path.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl Config {
    /// An origin for `target` with this config's `global` defaults applied and validated.
    pub fn adhoc_origin(&self, target: &AdhocTarget) -> Result<Origin, Vec<FieldError>> {
        let raw = RawConfig {
            global: self.defaults.clone(),
            origins: vec![target.to_raw()],
            ..RawConfig::default()
        };
        let config = validate(&raw)?;
        config
            .origins
            .first()
            .map(|o| Origin {
                adhoc: true,
                ..(**o).clone()
            })
            .ok_or_else(|| vec![FieldError::new("target", "no origin")])
    }

    /// A discovered origin with this config's `global` defaults applied and validated.
    /// The settings the CDN defines and may leave unset (CloudFront's defaults then apply: a 5 s
    /// keep-alive, no response completion bound, no client certificate) are not taken from
    /// `global`.
    pub fn discovered_origin(&self, raw: &raw::RawOrigin) -> Result<Origin, Vec<FieldError>> {
        let path = raw.name.clone().unwrap_or_else(|| "discovered".into());
        let defaults = raw::RawGlobal {
            keepalive_timeout: None,
            response_completion_timeout: None,
            // The CDN presents a client certificate only through the distribution's origin mTLS.
            client_certificate: None,
            ..self.defaults.clone()
        };
        validate::validate_with_defaults(raw, defaults, &path)
    }

    /// A config of one ad-hoc origin, with `global` as given (the `check --domain` command).
    pub fn for_target(
        global: raw::RawGlobal,
        target: &AdhocTarget,
    ) -> Result<Config, Vec<FieldError>> {
        validate(&RawConfig {
            global,
            origins: vec![target.to_raw()],
            ..RawConfig::default()
        })
    }
}

/// Settings that apply to the exporter as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    pub concurrency: usize,
    pub cdn: &'static CdnProfile,
    /// Recursive resolvers; empty means the system's.
    pub resolvers: Vec<SocketAddr>,
    pub dns_port: u16,
    pub ca_file: Option<PathBuf>,
    /// Large-fleet mode (`large_fleet`): fewer series per healthy origin.
    pub large_fleet: bool,
    pub allow_adhoc_targets: bool,
    /// What `/probe?target=` may probe when `allow_adhoc_targets` is on.
    pub adhoc: AdhocPolicy,
    /// The non-public networks AIA fetches may connect to (`aia_allowed_networks`; empty: only
    /// public addresses).
    pub aia_allowed_networks: Vec<Cidr>,
}

impl PartialEq for CdnProfile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// `client_certificate`: PEM files of the certificate (with its chain) and its private key,
/// read when the config is loaded (so the TLS client is built from memory, off the file system,
/// and a reload picks up a rotated certificate).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The files' contents as read at load time.
    pub cert_pem: Arc<[u8]>,
    pub key_pem: Arc<[u8]>,
    /// The notAfter of the first certificate in `cert_pem` (the leaf), Unix seconds; `None`
    /// when it does not parse (the TLS check then reports the file).
    pub not_after: Option<i64>,
}

impl std::fmt::Debug for ClientCertificate {
    /// The key stays out of every log and error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

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
    keepalive_timeout_ms: NonZeroU32,
    /// `response_completion_timeout` in milliseconds (see
    /// [`Origin::response_completion_timeout`]).
    response_completion_timeout_ms: Option<NonZeroU32>,
    /// Where the origin was discovered; `None` for a configured one.
    pub source: Option<Arc<Source>>,
    /// A `/probe?target=` origin: what it makes the exporter fetch (AIA) passes the ad-hoc
    /// network policy too. Never set from a config file.
    pub adhoc: bool,
}

/// The CDN object a discovered origin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub provider: &'static str,
    pub distribution_id: String,
    pub origin_id: String,
    /// The distribution's own domain name (`d111111abcdef8.cloudfront.net`).
    pub distribution_domain: String,
    /// `https://<distribution domain><edge_path>` when `edge_path` is set: for the edge check.
    pub edge_url: Option<String>,
    /// The origin groups this origin is a member of.
    pub groups: Vec<String>,
}

/// Which address families of the origin's name the CDN connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpAddressType {
    #[default]
    Ipv4,
    Ipv6,
    Dualstack,
}

impl IpAddressType {
    pub const NAMES: [&'static str; 3] = ["ipv4", "ipv6", "dualstack"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ipv4" => Some(Self::Ipv4),
            "ipv6" => Some(Self::Ipv6),
            "dualstack" => Some(Self::Dualstack),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Dualstack => "dualstack",
        }
    }

    /// Whether the CDN may connect to `ip` under this setting.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            Self::Ipv4 => ip.is_ipv4(),
            Self::Ipv6 => ip.is_ipv6(),
            Self::Dualstack => true,
        }
    }

    /// The record type(s) the CDN needs: `A`, `AAAA`, `A or AAAA`.
    pub fn record_types(self) -> &'static str {
        match self {
            Self::Ipv4 => "A",
            Self::Ipv6 => "AAAA",
            Self::Dualstack => "A or AAAA",
        }
    }
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
    /// `timeout`, then waits `read_timeout` for the response headers (the CDN's own times).
    pub fn check_bound(&self, check: Check) -> Duration {
        match check {
            Check::Tcp => self
                .attempt_timeout()
                .saturating_mul(u32::from(self.connection_attempts.max(1))),
            Check::Http => self
                .timeout
                .saturating_mul(2)
                .saturating_add(self.read_timeout),
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
    /// headers), and no time is raised above the origin's own.
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
        origin
    }
}

/// What a check may take beyond its [`Origin::check_bound`] to report what it saw instead of
/// being cut off (the TCP, TLS and edge checks' `MARGIN`; the others need none).
pub const REPORT_MARGIN: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolPolicy {
    HttpsOnly,
    HttpOnly,
    MatchViewer,
}

impl ProtocolPolicy {
    pub const NAMES: [&'static str; 3] = ["https-only", "http-only", "match-viewer"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "https-only" => Some(Self::HttpsOnly),
            "http-only" => Some(Self::HttpOnly),
            "match-viewer" => Some(Self::MatchViewer),
            _ => None,
        }
    }
}

/// The checks an origin can run, named by the registry.
pub use crate::checks::Check;

/// The request the CDN sends, and the statuses that count as an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    pub path: String,
    pub method: String,
    pub expect_status: Vec<StatusMatch>,
    /// Headers the CDN adds to every origin request (`http.headers`).
    pub headers: HttpHeaders,
}

/// Custom headers the CDN sends to the origin. Their values are often shared secrets (the
/// origin's proof that a request came through the CDN): `Debug` shows names only, and nothing
/// else in the exporter prints a value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HttpHeaders(pub Vec<(String, String)>);

impl HttpHeaders {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for HttpHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, _)| (n, "<redacted>")))
            .finish()
    }
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            path: "/".into(),
            method: "GET".into(),
            expect_status: vec![
                StatusMatch::Class(2),
                StatusMatch::Class(3),
                StatusMatch::Class(4),
            ],
            headers: HttpHeaders::default(),
        }
    }
}

impl HttpSpec {
    pub fn accepts(&self, status: u16) -> bool {
        self.expect_status.iter().any(|m| m.matches(status))
    }
}

/// A URL the CDN serves from this origin, for the edge check.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSpec {
    /// As written.
    pub url: String,
    pub scheme: Scheme,
    /// TLS SNI and `Host`.
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
    pub expect_status: Vec<StatusMatch>,
    /// Connect here instead of resolving `host`.
    pub address: Option<IpAddr>,
}

impl EdgeSpec {
    pub fn accepts(&self, status: u16) -> bool {
        self.expect_status.iter().any(|m| m.matches(status))
    }
}

/// `2xx` (a class) or `204` (one code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Class(u8),
    Exact(u16),
}

impl StatusMatch {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Class(c) => status / 100 == u16::from(c),
            StatusMatch::Exact(s) => status == s,
        }
    }
}

/// Default config file name and listen address (Prometheus default port allocation: 19502).
pub const DEFAULT_CONFIG_FILE: &str = "config.yaml";
