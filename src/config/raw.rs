//! The config file as written: every key of SPEC.md, nothing typed beyond what YAML gives, so
//! that validation can report every mistake with its path instead of stopping at the first.
//!
//! Each struct here is a section and each field one of its keys: the loader (`load.rs`,
//! `extract.rs`) learns the known keys of a section from serde itself (`deny_unknown_fields`
//! names them), so adding a key is adding a field. An origin-level key (set per origin,
//! defaulted under `global`) is added once, in `with_origin_keys!`, which declares it in both. A
//! new section must be a struct with `#[serde(deny_unknown_fields)]` too (no `flatten`, which
//! defeats it), and listed in the test below.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub origins: Vec<RawOrigin>,
    /// Origins discovered from a CDN's API, beside the configured ones.
    pub discovery: Option<RawDiscovery>,
}

/// Declares a section that holds the origin-level keys: its own keys first, then the
/// origin-level keys, written only here, with `after_checks` placed after `checks`. The order
/// is the one serde names the known keys in when it meets an unknown one, so it is kept as the
/// messages show it: an origin's durations come after `checks`, `global`'s are among its own
/// keys (they are `global`'s settings, validated under `global`, as well as origin defaults).
macro_rules! with_origin_keys {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($own:tt)*
        }
        after_checks {
            $($after_checks:tt)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($own)*
            pub host_header: Option<String>,
            pub address: Option<String>,
            pub protocol_policy: Option<String>,
            pub http_port: Option<i64>,
            pub https_port: Option<i64>,
            pub ssl_protocols: Option<Vec<String>>,
            pub http: Option<RawHttp>,
            pub checks: Option<Vec<String>>,
            $($after_checks)*
            pub labels: Option<BTreeMap<String, String>>,
            pub ip_address_type: Option<String>,
            pub connection_timeout: Option<String>,
            pub connection_attempts: Option<i64>,
            pub keepalive_timeout: Option<String>,
            pub response_completion_timeout: Option<String>,
            pub edge: Option<RawEdge>,
            pub client_certificate: Option<RawClientCertificate>,
        }
    };
}

with_origin_keys! {
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
        pub large_fleet: Option<bool>,
        pub allow_adhoc_targets: Option<bool>,
        pub adhoc_allowed_domains: Option<Vec<String>>,
        pub adhoc_allowed_networks: Option<Vec<String>>,
        pub aia_allowed_networks: Option<Vec<String>>,
        /// Series of other exporters each origin also gets (`[blackbox]`).
        pub compat: Option<Vec<String>>,
    }
    after_checks {}
}

with_origin_keys! {
    /// One item of `origins`: its name and domain, and every origin-level key (unset: `global`'s).
    #[derive(Debug, Default, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawOrigin {
        pub name: Option<String>,
        pub domain: Option<String>,
    }
    after_checks {
        pub interval: Option<String>,
        pub timeout: Option<String>,
        pub read_timeout: Option<String>,
        pub expiry_warning_days: Option<i64>,
    }
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
    /// Headers the CDN adds to origin requests: `{Name: value}`.
    pub headers: Option<BTreeMap<String, String>>,
}

/// `discovery`: where origins come from besides `origins`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscovery {
    pub cloudfront: Option<RawCloudFront>,
}

/// `discovery.cloudfront`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloudFront {
    pub refresh_interval: Option<String>,
    pub distribution_ids: Option<Vec<String>>,
    pub tags: Option<BTreeMap<String, String>>,
    pub endpoint_url: Option<String>,
    pub edge_path: Option<String>,
    /// `skip` or `probe`.
    pub vpc_origins: Option<String>,
    /// ACM certificate ARN → local copy of the client certificate the CDN presents.
    pub client_certificates: Option<BTreeMap<String, RawClientCertificate>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields serde knows for `T`, from the error it gives for an unknown key: what the
    /// loader reports as the section's known keys.
    fn known_keys<T: for<'de> Deserialize<'de> + std::fmt::Debug>() -> Vec<&'static str> {
        let mut dict = figment::value::Dict::new();
        dict.insert("not_a_key_of_any_section".into(), 1.into());
        match figment::value::Value::from(dict).deserialize::<T>() {
            Err(e) => match e.kind {
                figment::error::Kind::UnknownField(_, known) => known.to_vec(),
                other => panic!("not an unknown-key error: {other}"),
            },
            Ok(v) => panic!("an unknown key was accepted: {v:?}"),
        }
    }

    /// Every section refuses unknown keys (the loader depends on it) and knows the keys of the
    /// schema: a field added or renamed shows here.
    #[test]
    fn every_section_denies_unknown_keys_and_names_its_own() {
        assert_eq!(
            known_keys::<RawConfig>(),
            ["global", "origins", "discovery"]
        );
        assert_eq!(
            known_keys::<RawHttp>(),
            ["path", "method", "expect_status", "headers"]
        );
        assert_eq!(known_keys::<RawEdge>(), ["url", "expect_status", "address"]);
        // In the order of the messages users see (tests/config_errors.rs, load.rs).
        assert_eq!(
            known_keys::<RawOrigin>(),
            [
                "name",
                "domain",
                "host_header",
                "address",
                "protocol_policy",
                "http_port",
                "https_port",
                "ssl_protocols",
                "http",
                "checks",
                "interval",
                "timeout",
                "read_timeout",
                "expiry_warning_days",
                "labels",
                "ip_address_type",
                "connection_timeout",
                "connection_attempts",
                "keepalive_timeout",
                "response_completion_timeout",
                "edge",
                "client_certificate",
            ]
        );
        assert_eq!(
            known_keys::<RawGlobal>(),
            [
                "interval",
                "timeout",
                "concurrency",
                "expiry_warning_days",
                "cdn",
                "resolvers",
                "dns_port",
                "ca_file",
                "read_timeout",
                "large_fleet",
                "allow_adhoc_targets",
                "adhoc_allowed_domains",
                "adhoc_allowed_networks",
                "aia_allowed_networks",
                "compat",
                "host_header",
                "address",
                "protocol_policy",
                "http_port",
                "https_port",
                "ssl_protocols",
                "http",
                "checks",
                "labels",
                "ip_address_type",
                "connection_timeout",
                "connection_attempts",
                "keepalive_timeout",
                "response_completion_timeout",
                "edge",
                "client_certificate",
            ]
        );
    }
}
