//! `discovery`: where the exporter learns origins from a CDN's API, how often, and the local
//! copies of the certificates the CDN presents to origins.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::raw::RawConfig;
use super::super::{CloudFrontDiscovery, Discovery, VpcOrigins};
use super::fields::duration;
use super::tls::client_certificate;
use super::Errors;

/// How often discovery lists the distributions again, by default and at the extremes.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
const REFRESH_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(86_400));

pub(super) fn validate_discovery(raw: &RawConfig, errors: &mut Errors) -> Discovery {
    let Some(cf) = raw.discovery.as_ref().and_then(|d| d.cloudfront.as_ref()) else {
        return Discovery::default();
    };
    let at = |f: &str| format!("discovery.cloudfront.{f}");
    let refresh_interval = duration(
        cf.refresh_interval.as_deref(),
        &at("refresh_interval"),
        DEFAULT_REFRESH_INTERVAL,
        REFRESH_INTERVAL_RANGE,
        errors,
    );
    let mut distribution_ids = Vec::new();
    for (i, id) in cf.distribution_ids.iter().flatten().enumerate() {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            errors.push(
                format!("{}[{i}]", at("distribution_ids")),
                format!("must be a distribution id like E2QWRUHEXAMPLE, got {id:?}"),
            );
        } else {
            distribution_ids.push(id.clone());
        }
    }
    let endpoint_url = match cf.endpoint_url.as_deref() {
        None | Some("") => None,
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.to_string()),
        Some(u) => {
            errors.push(
                at("endpoint_url"),
                format!("must be an http:// or https:// URL, got {u:?}"),
            );
            None
        }
    };
    let edge_path = match cf.edge_path.as_deref() {
        None | Some("") => None,
        Some(p) if p.starts_with('/') => Some(p.to_string()),
        Some(p) => {
            errors.push(at("edge_path"), format!("must start with /, got {p:?}"));
            None
        }
    };
    let vpc_origins = match cf.vpc_origins.as_deref() {
        None => VpcOrigins::default(),
        Some(v) => VpcOrigins::from_name(v).unwrap_or_else(|| {
            errors.push(
                at("vpc_origins"),
                format!("must be one of {}, got {v:?}", VpcOrigins::NAMES.join(", ")),
            );
            VpcOrigins::default()
        }),
    };
    let mut client_certificates = BTreeMap::new();
    for (arn, files) in cf.client_certificates.iter().flatten() {
        let path = format!("{}.{arn}", at("client_certificates"));
        if !is_acm_certificate_arn(arn) {
            errors.push(
                &path,
                "must be keyed by an ACM certificate ARN (arn:aws:acm:us-east-1:ACCOUNT:certificate/ID)",
            );
            continue;
        }
        if let Some(c) = client_certificate(files, &path, errors) {
            client_certificates.insert(arn.clone(), c);
        }
    }
    Discovery {
        cloudfront: Some(CloudFrontDiscovery {
            refresh_interval,
            distribution_ids,
            tags: cf.tags.clone().unwrap_or_default(),
            endpoint_url,
            edge_path,
            vpc_origins,
            client_certificates,
        }),
    }
}

/// `arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID`.
fn is_acm_certificate_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "acm", region, account, resource]
            if !partition.is_empty()
                && !region.is_empty()
                && !account.is_empty()
                && resource.strip_prefix("certificate/").is_some_and(|id| !id.is_empty())
    )
}
