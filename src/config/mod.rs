//! Configuration: the schema of SPEC.md (`raw`), loading with figment (`load`), and validation
//! into the typed [`Config`] the rest of the exporter uses (`validate`).

mod duration;
mod load;
mod raw;
mod validate;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cdn::{CdnProfile, TlsVersion};
use crate::netpolicy::AdhocPolicy;

pub use duration::parse_duration;
pub use load::{load, load_str, FieldError, LoadError};
pub use raw::{RawConfig, RawGlobal};
pub use validate::validate;

/// A loaded, validated configuration. Immutable; a reload builds a new one.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: Global,
    pub origins: Vec<Arc<Origin>>,
    /// `global` as written: the defaults an ad-hoc origin inherits.
    pub defaults: raw::RawGlobal,
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
        };
        let config = validate(&raw)?;
        config
            .origins
            .first()
            .map(|o| (**o).clone())
            .ok_or_else(|| vec![FieldError::new("target", "no origin")])
    }

    /// A config of one ad-hoc origin, with `global` as given (the `check --domain` command).
    pub fn for_target(
        global: raw::RawGlobal,
        target: &AdhocTarget,
    ) -> Result<Config, Vec<FieldError>> {
        validate(&RawConfig {
            global,
            origins: vec![target.to_raw()],
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
    pub allow_adhoc_targets: bool,
    /// What `/probe?target=` may probe when `allow_adhoc_targets` is on.
    pub adhoc: AdhocPolicy,
}

impl PartialEq for CdnProfile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// `client_certificate`: PEM files of the certificate (with its chain) and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
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
    pub http: Option<HttpSpec>,
    /// The edge check's URL; `None` without an `edge` section.
    pub edge: Option<EdgeSpec>,
    pub checks: BTreeSet<Check>,
    pub interval: Duration,
    pub timeout: Duration,
    pub read_timeout: Duration,
    pub expiry_warning_days: u32,
    /// Extra labels on every series of this origin, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The client certificate the CDN presents when the origin asks (origin mTLS).
    pub client_certificate: Option<ClientCertificate>,
    /// Addresses already resolved and vetted (ad-hoc probes): connect to these and no others,
    /// whatever a later DNS answer says. Never set from a config file.
    pub pinned_addresses: Vec<IpAddr>,
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

    pub fn has_check(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }

    /// A copy whose checks together fit in `budget` (for `/probe` under a scrape timeout).
    pub fn within(&self, budget: Duration) -> Origin {
        // Resolution, TCP and TLS take one timeout each; HTTP up to two plus the read timeout.
        let steps = u32::from(self.address.is_none())
            + self
                .checks
                .iter()
                .map(|c| if *c == Check::Http { 3 } else { 1 })
                .sum::<u32>();
        let per_step = budget / steps.max(1);
        let mut origin = self.clone();
        origin.timeout = origin.timeout.min(per_step);
        origin.read_timeout = origin.read_timeout.min(per_step);
        origin
    }
}

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
