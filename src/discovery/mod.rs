//! Origins discovered from a CDN's API, beside the configured ones. A provider lists what the CDN
//! knows (`cloudfront`: distributions); the pure mapping turns that into origins
//! (`cloudfront::map`); [`merge`] validates them against the running config's `global` and
//! joins them to the configured origins, and the daemon applies the result like a reload. A
//! failed refresh keeps the last discovered set.

pub mod cloudfront;
mod status;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tracing::warn;

use crate::config::{AcmCertificate, CdnClientCertificate, Config, Source};
pub use cloudfront::map::{Distribution, Group, Mapping, SkipReason, Skipped};
pub use status::{DiscoveryCollector, DiscoveryStatus};

/// The `provider` label of CloudFront discovery.
pub const CLOUDFRONT: &str = "cloudfront";

/// What the last successful refresh listed: the raw distributions, mapped again on every config
/// reload so that changed `global` defaults apply to discovered origins too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovered {
    pub distributions: Vec<Distribution>,
    /// What ACM said of each client certificate an origin mTLS setting names (DescribeCertificate
    /// once per ARN and refresh), or why it could not be asked.
    pub certificates: BTreeMap<String, Result<AcmCertificate, String>>,
}

/// `config` with the discovered origins added after the configured ones. A discovered origin
/// whose settings are invalid, or whose name a configured (or earlier discovered) origin already
/// has, is skipped and counted.
pub fn merge(config: &Config, discovered: &Discovered) -> (Config, Mapping) {
    let mut mapping = Mapping::default();
    let http_check = config.defaults.checks.iter().flatten().any(|c| c == "http");
    let settings = config.discovery.cloudfront.as_ref();
    let vpc_origins = settings.map(|c| c.vpc_origins).unwrap_or_default();
    for d in &discovered.distributions {
        mapping.extend(cloudfront::map::map_distribution(
            d,
            config.defaults.http.as_ref(),
            http_check,
            vpc_origins,
        ));
    }
    let edge_path = settings.and_then(|c| c.edge_path.clone());
    let mut names: HashSet<String> = config.origins.iter().map(|o| o.name.clone()).collect();
    let mut skipped = Vec::new();
    let mut out = config.clone();
    let mut accepted: HashSet<String> = HashSet::new();
    for m in &mapping.origins {
        let name = m.raw.name.clone().unwrap_or_default();
        let domain = m.raw.domain.clone().unwrap_or_default();
        if !names.insert(name.clone()) {
            warn!(origin = %name, "discovered origin skipped: an origin of that name exists");
            skipped.push((
                m.distribution_id.clone(),
                m.origin_id.clone(),
                domain,
                SkipReason::DuplicateName,
            ));
            continue;
        }
        let edge_url = edge_path
            .as_ref()
            .map(|p| format!("https://{}{p}", m.distribution_domain));
        // With `edge_path`, the edge check asks the distribution itself for this origin's path
        // (unless the origin's settings name an edge of their own).
        let raw = match &edge_url {
            Some(url) if m.raw.edge.is_none() => {
                let mut raw = m.raw.clone();
                raw.edge = Some(crate::config::RawEdge {
                    url: Some(url.clone()),
                    ..Default::default()
                });
                std::borrow::Cow::Owned(raw)
            }
            _ => std::borrow::Cow::Borrowed(&m.raw),
        };
        let mut origin = match config.discovered_origin(&raw) {
            Ok(o) => o,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                warn!(origin = %name, errors = %errors.join("; "), "discovered origin skipped: invalid settings");
                skipped.push((
                    m.distribution_id.clone(),
                    m.origin_id.clone(),
                    domain,
                    SkipReason::Invalid,
                ));
                continue;
            }
        };
        // Origin mTLS: the CDN's certificate as ACM describes it, and the checks present the
        // local copy when there is one.
        if let Some(arn) = &m.mtls_certificate_arn {
            let acm = discovered
                .certificates
                .get(arn)
                .cloned()
                .unwrap_or_else(|| Err("not described by ACM in the last refresh".to_string()));
            origin.cdn_client_certificate = Some(Arc::new(CdnClientCertificate {
                arn: arn.clone(),
                acm,
            }));
            origin.client_certificate = settings
                .and_then(|c| c.client_certificates.get(arn))
                .map(|copy| Box::new(copy.clone()));
        }
        origin
            .labels
            .push(("distribution_id".into(), m.distribution_id.clone()));
        origin
            .labels
            .push(("origin_id".into(), m.origin_id.clone()));
        origin.labels.sort();
        origin.source = Some(Arc::new(Source {
            provider: CLOUDFRONT,
            distribution_id: m.distribution_id.clone(),
            origin_id: m.origin_id.clone(),
            distribution_domain: m.distribution_domain.clone(),
            edge_url,
            groups: m.groups.iter().map(|(g, _)| g.clone()).collect(),
        }));
        accepted.insert(name);
        out.origins.push(Arc::new(origin));
    }
    for (distribution_id, origin_id, domain, reason) in skipped {
        mapping.skip(&distribution_id, &origin_id, &domain, reason);
    }
    // Groups keep only members that became origins.
    for g in &mut mapping.groups {
        g.members.retain(|m| accepted.contains(m));
    }
    mapping
        .origins
        .retain(|m| m.raw.name.as_ref().is_some_and(|n| accepted.contains(n)));
    (out, mapping)
}

/// Skipped origins by reason, every reason present (zeros included).
pub fn skipped_by_reason(mapping: &Mapping) -> BTreeMap<SkipReason, usize> {
    SkipReason::ALL
        .iter()
        .map(|r| (*r, mapping.skipped.get(r).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cloudfront::map::{Behavior, CfOrigin, OriginKind};
    use super::*;

    fn config(yaml: &str) -> Config {
        crate::config::load_str(yaml, std::path::Path::new("t.yaml")).expect("config")
    }

    fn distribution() -> Distribution {
        let origin = |id: &str, domain: &str| CfOrigin {
            id: id.into(),
            domain_name: domain.into(),
            ..CfOrigin::default()
        };
        let mut s3 = origin("bucket", "b.s3.amazonaws.com");
        s3.kind = OriginKind::S3;
        Distribution {
            id: "EDIST".into(),
            domain_name: "d1.cloudfront.net".into(),
            origins: vec![
                origin("web", "web.example.com"),
                origin("bad", "not a domain"),
                s3,
            ],
            behaviors: vec![Behavior {
                target_origin_id: "web".into(),
                forwards_host: false,
            }],
            ..Distribution::default()
        }
    }

    #[test]
    fn discovered_origins_join_the_configured_ones_with_their_labels() {
        let cfg = config(
            "global: {interval: 30s, labels: {team: web}}
discovery: {cloudfront: {edge_path: /health}}
origins: [{name: EDIST_web, domain: taken.example.com}]",
        );
        let mut d = distribution();
        d.id = "EOTHER".into();
        let (merged, mapping) = merge(
            &cfg,
            &Discovered {
                distributions: vec![distribution(), d],
                ..Discovered::default()
            },
        );
        let names: Vec<&str> = merged.origins.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["EDIST_web", "EOTHER_web"]);
        let o = &merged.origins[1];
        assert_eq!(o.interval, std::time::Duration::from_secs(30));
        assert_eq!(
            o.labels,
            [
                ("distribution_id".to_string(), "EOTHER".to_string()),
                ("origin_id".to_string(), "web".to_string()),
                ("team".to_string(), "web".to_string()),
            ]
        );
        let source = o.source.as_ref().expect("source");
        assert_eq!(
            source.edge_url.as_deref(),
            Some("https://d1.cloudfront.net/health")
        );
        // The edge check asks the distribution for the origin's edge path.
        let edge = o.edge.as_ref().expect("an edge check");
        assert_eq!(edge.url, "https://d1.cloudfront.net/health");
        assert_eq!(edge.host, "d1.cloudfront.net");
        assert_eq!(edge.path, "/health");
        assert!(o.has_check(crate::checks::Check::Edge));
        let skipped = skipped_by_reason(&mapping);
        assert_eq!(skipped[&SkipReason::DuplicateName], 1);
        assert_eq!(skipped[&SkipReason::Invalid], 2);
        assert_eq!(skipped[&SkipReason::S3Origin], 2);
        assert_eq!(skipped[&SkipReason::VpcOrigin], 0);
    }

    #[test]
    fn origin_mtls_carries_acms_word_and_the_local_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["cdn-client".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("c.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write");
        std::fs::write(&key_file, key.serialize_pem()).expect("write");
        let with_copy = "arn:aws:acm:us-east-1:111122223333:certificate/copied";
        let without = "arn:aws:acm:us-east-1:111122223333:certificate/acm-only";
        // A global client_certificate is no origin mTLS setting of the distribution's.
        let cfg = config(&format!(
            "global: {{client_certificate: {{cert_file: '{c}', key_file: '{k}'}}}}
discovery: {{cloudfront: {{client_certificates: {{'{with_copy}': {{cert_file: '{c}', key_file: '{k}'}}}}}}}}",
            c = cert_file.display(),
            k = key_file.display(),
        ));
        let mtls = |id: &str, arn: Option<&str>| CfOrigin {
            id: id.into(),
            domain_name: format!("{id}.example.com"),
            kind: OriginKind::Custom(super::cloudfront::map::CustomOrigin {
                mtls_certificate_arn: arn.map(str::to_string),
                ..Default::default()
            }),
            ..CfOrigin::default()
        };
        let acm = AcmCertificate {
            not_after: Some(1_800_000_000),
            status: Some("ISSUED".into()),
            kind: Some("IMPORTED".into()),
        };
        let discovered = Discovered {
            distributions: vec![Distribution {
                id: "EM".into(),
                origins: vec![
                    mtls("copied", Some(with_copy)),
                    mtls("acmonly", Some(without)),
                    mtls("plain", None),
                ],
                ..Distribution::default()
            }],
            certificates: BTreeMap::from([(with_copy.to_string(), Ok(acm.clone()))]),
        };
        let (merged, _) = merge(&cfg, &discovered);
        let by = |n: &str| {
            merged
                .origins
                .iter()
                .find(|o| o.name == n)
                .cloned()
                .unwrap_or_else(|| panic!("{n}"))
        };
        let copied = by("EM_copied");
        let cdn = copied.cdn_client_certificate.as_ref().expect("mtls");
        assert_eq!((cdn.arn.as_str(), &cdn.acm), (with_copy, &Ok(acm)));
        let copy = copied.client_certificate.as_ref().expect("local copy");
        assert_eq!(copy.cert_file, cert_file);
        assert!(copy.not_after.is_some());
        // No copy: the CDN presents one, the checks none; ACM not asked in the refresh.
        let acm_only = by("EM_acmonly");
        assert!(acm_only.client_certificate.is_none());
        assert_eq!(
            acm_only
                .cdn_client_certificate
                .as_ref()
                .map(|c| c.acm.clone()),
            Some(Err("not described by ACM in the last refresh".to_string()))
        );
        let plain = by("EM_plain");
        assert!(plain.client_certificate.is_none() && plain.cdn_client_certificate.is_none());
    }

    #[test]
    fn discovery_alone_is_a_valid_config() {
        let cfg = config("discovery: {cloudfront: {}}");
        assert!(cfg.origins.is_empty());
        let cf = cfg.discovery.cloudfront.expect("cloudfront");
        assert_eq!(cf.refresh_interval, std::time::Duration::from_secs(300));
    }
}
