//! From the file as written to a [`Config`]: defaults applied, every mistake collected with its
//! field path. Pure: no I/O, tested without files. The sections have a module each: `global`,
//! `discovery`, `origin` (in steps per concern: `network`, `tls`, `http`, `timing`), and the
//! value checks they share (`fields`).

mod discovery;
mod fields;
mod global;
mod http;
mod network;
mod origin;
mod timing;
mod tls;

use std::collections::HashSet;
use std::sync::Arc;

use super::raw::{RawConfig, RawGlobal, RawOrigin};
use super::{Config, Discovery, FieldError, Origin};
use discovery::validate_discovery;
pub use fields::RESERVED_LABELS;
use global::{validate_global, GlobalDefaults};
use origin::validate_origin;

/// Collects errors while a config is checked, each under the path being checked.
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }
}

pub fn validate(raw: &RawConfig) -> Result<Config, Vec<FieldError>> {
    let mut validator = Validator::new(raw);
    for (i, o) in raw.origins.iter().enumerate() {
        validator.origin(i, o);
    }
    validator.finish()
}

/// Validates a config whose origins come one at a time (the loader reads a long list item by
/// item and keeps only the validated [`Origin`]s): `global` and `discovery` from the raw config
/// (its own `origins` are not looked at), then each origin as it is given.
pub struct Validator<'r> {
    raw: &'r RawConfig,
    global: GlobalDefaults,
    discovery: Discovery,
    errors: Errors,
    seen: HashSet<String>,
    origins: Vec<Arc<Origin>>,
    given: usize,
}

impl<'r> Validator<'r> {
    pub fn new(raw: &'r RawConfig) -> Self {
        let mut errors = Errors(Vec::new());
        let global = validate_global(raw, &mut errors);
        let discovery = validate_discovery(raw, &mut errors);
        Validator {
            raw,
            global,
            discovery,
            errors,
            seen: HashSet::new(),
            origins: Vec::new(),
            given: 0,
        }
    }

    /// Validates `origins[i]`.
    pub fn origin(&mut self, i: usize, o: &RawOrigin) {
        self.given += 1;
        let path = format!("origins[{i}]");
        if let Some(name) = &o.name {
            if !self.seen.insert(name.clone()) {
                self.errors.push(
                    format!("{path}.name"),
                    format!("duplicate origin name {name:?}"),
                );
            }
        }
        let defaults = &self.raw.global;
        if let Some(origin) = validate_origin(o, defaults, &self.global, &path, &mut self.errors) {
            self.origins.push(Arc::new(origin));
        }
    }

    pub fn finish(mut self) -> Result<Config, Vec<FieldError>> {
        if self.given == 0 && self.discovery.cloudfront.is_none() {
            self.errors.push(
                "origins",
                "must list at least one origin (or configure discovery)",
            );
        }
        if self.errors.0.is_empty() {
            self.origins.shrink_to_fit();
            Ok(Config {
                global: self.global.global,
                origins: self.origins,
                defaults: self.raw.global.clone(),
                discovery: self.discovery,
            })
        } else {
            Err(self.errors.0)
        }
    }
}

/// One origin with `global`'s defaults applied (discovery validates what it maps this way).
pub(crate) fn validate_with_defaults(
    o: &RawOrigin,
    defaults: RawGlobal,
    path: &str,
) -> Result<Origin, Vec<FieldError>> {
    let mut errors = Errors(Vec::new());
    let raw = RawConfig {
        global: defaults,
        ..RawConfig::default()
    };
    let global = validate_global(&raw, &mut errors);
    let before = errors.0.len();
    match validate_origin(o, &raw.global, &global, path, &mut errors) {
        Some(origin) if errors.0.len() == before => Ok(origin),
        _ => Err(errors.0.split_off(before)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::super::{Check, ProtocolPolicy};
    use super::*;
    use crate::cdn::TlsVersion;
    use crate::netpolicy::Cidr;

    fn parse(yaml: &str) -> Result<Config, Vec<FieldError>> {
        let raw: RawConfig = serde_norway::from_str(yaml).expect("test YAML parses");
        validate(&raw)
    }

    fn messages(yaml: &str) -> Vec<String> {
        parse(yaml)
            .expect_err("config should be rejected")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn minimal_origin_gets_the_defaults() {
        let cfg = parse("origins: [{name: a, domain: origin.example.com}]").unwrap();
        let o = &cfg.origins[0];
        assert_eq!(o.https_port, 443);
        assert_eq!(o.http_port, 80);
        assert_eq!(o.protocol_policy, ProtocolPolicy::HttpsOnly);
        assert_eq!(o.ssl_protocols, vec![TlsVersion::Tls1_2]);
        assert_eq!(o.interval, Duration::from_secs(60));
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!(o.read_timeout, Duration::from_secs(30));
        assert_eq!(
            o.checks,
            BTreeSet::from([Check::Dns, Check::Tcp, Check::Tls])
        );
        assert_eq!(o.sni(), "origin.example.com");
        assert_eq!(cfg.global.concurrency, 64);
    }

    #[test]
    fn global_keys_are_defaults_for_origins() {
        let cfg = parse(
            "global: {https_port: 8443, labels: {team: web, env: prod}, ssl_protocols: [TLSv1, TLSv1.2]}
origins:
  - {name: a, domain: a.example.com}
  - {name: b, domain: b.example.com, https_port: 9443, labels: {team: pay}}",
        )
        .unwrap();
        assert_eq!(cfg.origins[0].https_port, 8443);
        assert_eq!(cfg.origins[1].https_port, 9443);
        assert_eq!(
            cfg.origins[1].labels,
            vec![("env".into(), "prod".into()), ("team".into(), "pay".into())]
        );
        assert_eq!(
            cfg.origins[0].ssl_protocols,
            vec![TlsVersion::Tls1_0, TlsVersion::Tls1_2]
        );
    }

    #[test]
    fn compat_lists_the_series_of_other_exporters() {
        let cfg =
            parse("global: {compat: [blackbox]}\norigins: [{name: a, domain: a.example.com}]")
                .unwrap();
        assert!(cfg.global.compat.blackbox && cfg.origins[0].compat.blackbox);
        let cfg = parse("origins: [{name: a, domain: a.example.com, labels: {phase: x}}]").unwrap();
        assert!(!cfg.origins[0].compat.blackbox);
        let errs = messages(
            "global: {compat: [blackbox, snmp, blackbox], labels: {subject: x}}
origins:
  - {name: a, domain: a.example.com, labels: {phase: x, fingerprint_sha256: y, team: z}}",
        );
        assert_eq!(
            errs,
            [
                "global.compat[1]: unknown compatibility series \"snmp\"; known: blackbox",
                "global.compat[2]: blackbox is listed twice",
                "global.labels.subject: label \"subject\" is set by the blackbox_exporter series (global.compat: [blackbox])",
                "origins[0].labels.fingerprint_sha256: label \"fingerprint_sha256\" is set by the blackbox_exporter series (global.compat: [blackbox])",
                "origins[0].labels.phase: label \"phase\" is set by the blackbox_exporter series (global.compat: [blackbox])",
            ]
        );
    }

    #[test]
    fn http_section_enables_the_http_check() {
        let cfg = parse(
            "origins: [{name: a, domain: a.example.com, protocol_policy: http-only,
              http: {path: /health, expect_status: [200, 3xx]}}]",
        )
        .unwrap();
        let o = &cfg.origins[0];
        assert_eq!(
            o.checks,
            BTreeSet::from([Check::Dns, Check::Tcp, Check::Http])
        );
        let http = o.http.as_ref().unwrap();
        assert!(http.accepts(200) && http.accepts(302) && !http.accepts(201));
        assert_eq!(o.ports(), vec![(super::super::Scheme::Http, 80)]);
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let errs = messages(
            "global: {interval: 10x, concurrency: 0, resolvers: [nope], cdn: akamai}
origins:
  - {name: a, domain: a.example.com, https_port: 0}
  - {name: a, domain: 'bad domain', address: not-an-ip, ssl_protocols: [TLSv1.3, TLSv9]}
  - {name: 'sp ace', protocol_policy: sometimes, checks: [tcp, ping], labels: {origin: x}}
  - {name: d, domain: d.example.com, interval: 5s, timeout: 10s, http: {path: nope, expect_status: [600, 9xx]}}",
        );
        let expected = [
            "global.interval: invalid duration \"10x\": unknown unit \"x\"",
            "global.concurrency: must be 1-100000, got 0",
            "global.cdn: unknown CDN profile \"akamai\"; known: cloudfront",
            "global.resolvers[0]: must be IP or IP:port, got \"nope\"",
            "origins[0].https_port: must be 1-65535, got 0",
            "origins[1].name: duplicate origin name \"a\"",
            "origins[1].domain: must be a DNS name, got \"bad domain\"",
            "origins[1].address: must be an IP address, got \"not-an-ip\"",
            "origins[1].ssl_protocols[0]: unknown protocol \"TLSv1.3\" for cdn cloudfront; known: SSLv3, TLSv1, TLSv1.1, TLSv1.2",
            "origins[1].ssl_protocols[1]: unknown protocol \"TLSv9\"",
            "origins[2].name: must match [A-Za-z0-9_.-]+, got \"sp ace\"",
            "origins[2].domain: is required",
            "origins[2].protocol_policy: must be one of https-only, http-only, match-viewer, got \"sometimes\"",
            "origins[2].checks[1]: unknown check \"ping\"",
            "origins[2].labels.origin: label \"origin\" is set by the exporter itself",
            "origins[3].http.path: must start with /, got \"nope\"",
            "origins[3].http.expect_status[0]: must be a status 100-599",
            "origins[3].http.expect_status[1]: must be a status 100-599",
            "origins[3].timeout: must not exceed interval (5s)",
        ];
        for e in expected {
            assert!(
                errs.iter().any(|m| m.starts_with(e)),
                "missing {e:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    }

    #[test]
    fn adhoc_targets_need_an_allowlist() {
        let errs = messages(
            "global: {allow_adhoc_targets: true, adhoc_allowed_networks: [10.0.0.0/8, 10.0.0.0/99]}
origins: [{name: a, domain: a.example.com}]",
        );
        assert_eq!(
            errs,
            [
                "global.adhoc_allowed_domains: must list the domains /probe?target= may probe (names or *.suffix) when allow_adhoc_targets is true",
                "global.adhoc_allowed_networks[1]: prefix must be 0-32, got \"10.0.0.0/99\""
            ]
        );
        let cfg = parse(
            "global: {allow_adhoc_targets: true, adhoc_allowed_domains: ['*.Example.com', origin.example.net]}
origins: [{name: a, domain: a.example.com}]",
        )
        .unwrap();
        assert!(cfg.global.adhoc.allows_domain("www.example.com"));
    }

    #[test]
    fn aia_allowed_networks_are_checked_like_the_ad_hoc_ones() {
        let errs = messages(
            "global: {aia_allowed_networks: [127.0.0.0/8, 'fd00::/129', loopback]}
origins: [{name: a, domain: a.example.com}]",
        );
        assert_eq!(
            errs,
            [
                "global.aia_allowed_networks[1]: prefix must be 0-128, got \"fd00::/129\"",
                "global.aia_allowed_networks[2]: must be an IP network like 192.0.2.0/24, got \"loopback\""
            ]
        );
        let cfg = parse(
            "global: {aia_allowed_networks: [127.0.0.0/8, '::1']}
origins: [{name: a, domain: a.example.com}]",
        )
        .unwrap();
        assert_eq!(
            cfg.global.aia_allowed_networks,
            [
                Cidr::parse("127.0.0.0/8").unwrap(),
                Cidr::parse("::1/128").unwrap()
            ]
        );
        let cfg = parse("origins: [{name: a, domain: a.example.com}]").unwrap();
        assert!(cfg.global.aia_allowed_networks.is_empty());
    }

    #[test]
    fn no_origins_is_an_error() {
        assert_eq!(
            messages("global: {}"),
            vec!["origins: must list at least one origin (or configure discovery)"]
        );
    }

    #[test]
    fn discovery_is_validated_with_paths() {
        let errs = messages(
            "discovery: {cloudfront: {refresh_interval: 0s, distribution_ids: [E1, 'bad id'],
              endpoint_url: 'ftp://x', edge_path: health}}",
        );
        assert_eq!(
            errs,
            [
                "discovery.cloudfront.refresh_interval: must be greater than 0",
                "discovery.cloudfront.distribution_ids[1]: must be a distribution id like E2QWRUHEXAMPLE, got \"bad id\"",
                "discovery.cloudfront.endpoint_url: must be an http:// or https:// URL, got \"ftp://x\"",
                "discovery.cloudfront.edge_path: must start with /, got \"health\"",
            ]
        );
        let cfg = parse(
            "discovery: {cloudfront: {refresh_interval: 1m, tags: {env: prod}, edge_path: /ping}}",
        )
        .unwrap();
        let cf = cfg.discovery.cloudfront.unwrap();
        assert_eq!(cf.refresh_interval, Duration::from_secs(60));
        assert_eq!(cf.tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(cf.edge_path.as_deref(), Some("/ping"));
    }

    #[test]
    fn tls_check_needs_an_https_port() {
        let errs = messages(
            "origins: [{name: a, domain: a.example.com, protocol_policy: http-only, checks: [tls]}]",
        );
        assert_eq!(
            errs,
            vec!["origins[0].checks: tls needs an HTTPS port, but protocol_policy is http-only"]
        );
    }

    #[test]
    fn resolvers_take_an_optional_port() {
        let cfg = parse(
            "global: {resolvers: ['127.0.0.1', '127.0.0.2:5353', '[::1]:53']}
origins: [{name: a, domain: a.example.com}]",
        )
        .unwrap();
        let r: Vec<String> = cfg.global.resolvers.iter().map(|a| a.to_string()).collect();
        assert_eq!(r, ["127.0.0.1:53", "127.0.0.2:5353", "[::1]:53"]);
    }
}

#[cfg(test)]
mod duration_bounds {
    use std::time::Duration;

    use super::*;

    fn messages(yaml: &str) -> Vec<String> {
        let raw: RawConfig = serde_norway::from_str(yaml).expect("test YAML parses");
        validate(&raw)
            .expect_err("config should be rejected")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn out_of_range_durations_are_errors_with_their_paths() {
        let got = messages(
            "global: {interval: 500ms, read_timeout: 181s}
origins:
  - {name: a, domain: a.example, interval: 2d}
  - {name: b, domain: b.example, interval: 10s, timeout: 11s}
  - {name: c, domain: c.example, read_timeout: 3m1s}
  - {name: d, domain: d.example, interval: 1s, read_timeout: 180s}",
        );
        assert_eq!(
            got,
            [
                "global.interval: must be 1s to 86400s, got 0.5s",
                "global.read_timeout: must be 0.001s to 180s, got 181s",
                "origins[0].interval: must be 1s to 86400s, got 172800s",
                "origins[1].timeout: must not exceed interval (10s)",
                "origins[2].read_timeout: must be 0.001s to 180s, got 181s",
            ]
        );
    }

    #[test]
    fn the_bounds_themselves_are_accepted() {
        let raw: RawConfig = serde_norway::from_str(
            "global: {interval: 1s, timeout: 1s, read_timeout: 180s}
origins: [{name: a, domain: a.example, interval: 1d, timeout: 1d}]",
        )
        .expect("YAML");
        let cfg = validate(&raw).expect("bounds are valid");
        assert_eq!(cfg.origins[0].interval, Duration::from_secs(86_400));
        assert_eq!(cfg.origins[0].read_timeout, Duration::from_secs(180));
    }
}
