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

pub use duration::parse_duration;
pub use load::{load, load_str, FieldError, LoadError};
pub use raw::RawConfig;
pub use validate::validate;

/// A loaded, validated configuration. Immutable; a reload builds a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: Global,
    pub origins: Vec<Arc<Origin>>,
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
}

impl PartialEq for CdnProfile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
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
    pub http: Option<HttpSpec>,
    pub checks: BTreeSet<Check>,
    pub interval: Duration,
    pub timeout: Duration,
    pub read_timeout: Duration,
    pub expiry_warning_days: u32,
    /// Extra labels on every series of this origin, sorted by name.
    pub labels: Vec<(String, String)>,
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

/// The checks an origin can run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    Dns,
    Tcp,
    Tls,
    Http,
}

impl Check {
    pub const ALL: [Check; 4] = [Check::Dns, Check::Tcp, Check::Tls, Check::Http];

    pub fn name(self) -> &'static str {
        match self {
            Check::Dns => "dns",
            Check::Tcp => "tcp",
            Check::Tls => "tls",
            Check::Http => "http",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Check::ALL.into_iter().find(|c| c.name() == s)
    }
}

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
