//! Configuration: the schema of SPEC.md (`raw`), loading with figment (`load`: the file and its
//! environment overrides; `extract`: every reading error; `split`: a long origin list cut into
//! items; `error`: the errors and their order), and validation into the typed [`Config`] the
//! rest of the exporter uses (`validate`): here, with [`Origin`] (`origin`), the values of its
//! settings (`spec`) and of `discovery` (`discovery`).

mod discovery;
mod duration;
mod error;
mod extract;
mod load;
mod origin;
mod raw;
mod spec;
mod split;
#[cfg(test)]
mod split_props;
mod validate;
#[cfg(test)]
mod validate_cases;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cdn::CdnProfile;
use crate::netpolicy::{AdhocPolicy, Cidr};

pub use discovery::{
    AcmCertificate, CdnClientCertificate, CloudFrontDiscovery, Discovery, Source, VpcOrigins,
};
pub use duration::parse_duration;
pub use error::{FieldError, LoadError};
pub use load::{load, load_str};
pub use origin::{Origin, REPORT_MARGIN};
pub use raw::{RawConfig, RawEdge, RawGlobal, RawHttp, RawOrigin};
pub use spec::{
    EdgeSpec, HttpHeaders, HttpSpec, IpAddressType, ProtocolPolicy, Scheme, StatusMatch,
};
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
    /// Series of other exporters each origin also gets (`compat`).
    pub compat: Compat,
}

/// `compat`: the series of other exporters each origin also gets, beside its own, so that rules
/// written for those exporters keep working (docs/blackbox.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compat {
    /// blackbox_exporter's `probe_*` series, as its HTTP or TCP+TLS module writes them.
    pub blackbox: bool,
}

impl Compat {
    /// The values `compat` accepts.
    pub const NAMES: [&'static str; 1] = ["blackbox"];
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

/// The checks an origin can run, named by the registry.
pub use crate::checks::Check;

/// Default config file name and listen address (Prometheus default port allocation: 19502).
pub const DEFAULT_CONFIG_FILE: &str = "config.yaml";
