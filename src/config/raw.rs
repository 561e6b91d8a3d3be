//! The config file as written: every key of SPEC.md, nothing typed beyond what YAML gives, so
//! that validation can report every mistake with its path instead of stopping at the first.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub origins: Vec<RawOrigin>,
}

/// `global`: the exporter's own settings plus defaults for every origin-level key.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub concurrency: Option<i64>,
    pub expiry_warning_days: Option<i64>,
    pub cdn: Option<String>,
    pub resolvers: Option<Vec<String>>,
    pub dns_port: Option<i64>,
    pub ca_file: Option<String>,
    pub read_timeout: Option<String>,
    pub allow_adhoc_targets: Option<bool>,
    pub adhoc_allowed_domains: Option<Vec<String>>,
    pub adhoc_allowed_networks: Option<Vec<String>>,
    // Defaults for origin-level keys.
    pub host_header: Option<String>,
    pub address: Option<String>,
    pub protocol_policy: Option<String>,
    pub http_port: Option<i64>,
    pub https_port: Option<i64>,
    pub ssl_protocols: Option<Vec<String>>,
    pub http: Option<RawHttp>,
    pub checks: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub edge: Option<RawEdge>,
    pub client_certificate: Option<RawClientCertificate>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrigin {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub host_header: Option<String>,
    pub address: Option<String>,
    pub protocol_policy: Option<String>,
    pub http_port: Option<i64>,
    pub https_port: Option<i64>,
    pub ssl_protocols: Option<Vec<String>>,
    pub http: Option<RawHttp>,
    pub checks: Option<Vec<String>>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub read_timeout: Option<String>,
    pub expiry_warning_days: Option<i64>,
    pub labels: Option<BTreeMap<String, String>>,
    pub edge: Option<RawEdge>,
    pub client_certificate: Option<RawClientCertificate>,
}

/// `client_certificate`: what the CDN presents when the origin asks (origin mTLS).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientCertificate {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub path: Option<String>,
    pub method: Option<String>,
    pub expect_status: Option<Vec<RawStatus>>,
}

/// `edge`: a URL the CDN serves from this origin.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdge {
    pub url: Option<String>,
    pub expect_status: Option<Vec<RawStatus>>,
    pub address: Option<String>,
}

/// `200` or `"2xx"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawStatus {
    Code(i64),
    Text(String),
}
