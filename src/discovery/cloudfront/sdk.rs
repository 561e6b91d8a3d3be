//! The SDK's types as the pure mapping ([`super::map`]) reads them.

use super::map::{CfOrigin, CustomOrigin, HeadersConfig, OriginKind, VpcOrigin};

/// A policy's `HeadersConfig` as the mapping reads it.
pub(super) fn headers_config(
    behavior: &str,
    headers: Option<&aws_sdk_cloudfront::types::Headers>,
) -> HeadersConfig {
    HeadersConfig {
        behavior: behavior.to_string(),
        headers: headers.map(|l| l.items().to_vec()).unwrap_or_default(),
    }
}

pub(super) fn ssl_protocols(
    p: Option<&aws_sdk_cloudfront::types::OriginSslProtocols>,
) -> Vec<String> {
    p.map(|p| p.items())
        .unwrap_or_default()
        .iter()
        .map(|p| p.as_str().to_string())
        .collect()
}

pub(super) fn origin(o: &aws_sdk_cloudfront::types::Origin) -> CfOrigin {
    let kind = if o.s3_origin_config().is_some() {
        OriginKind::S3
    } else if let Some(v) = o.vpc_origin_config() {
        OriginKind::Vpc(VpcOrigin {
            id: v.vpc_origin_id().to_string(),
            read_timeout: v.origin_read_timeout(),
            keepalive_timeout: v.origin_keepalive_timeout(),
            endpoint: None,
        })
    } else if let Some(c) = o.custom_origin_config() {
        OriginKind::Custom(CustomOrigin {
            http_port: c.http_port(),
            https_port: c.https_port(),
            protocol_policy: c.origin_protocol_policy().as_str().to_string(),
            ssl_protocols: ssl_protocols(c.origin_ssl_protocols()),
            read_timeout: c.origin_read_timeout(),
            ip_address_type: c.ip_address_type().map(|t| t.as_str().to_string()),
            keepalive_timeout: c.origin_keepalive_timeout(),
            mtls_certificate_arn: c
                .origin_mtls_config()
                .map(|m| m.client_certificate_arn().to_string())
                .filter(|arn| !arn.is_empty()),
        })
    } else {
        // Neither: CloudFront treats it as an S3 REST origin.
        OriginKind::S3
    };
    CfOrigin {
        id: o.id().to_string(),
        domain_name: o.domain_name().to_string(),
        origin_path: o.origin_path().unwrap_or_default().to_string(),
        custom_headers: o
            .custom_headers()
            .map(|h| h.items())
            .unwrap_or_default()
            .iter()
            .map(|h| (h.header_name().to_string(), h.header_value().to_string()))
            .collect(),
        kind,
        connection_attempts: o.connection_attempts(),
        connection_timeout: o.connection_timeout(),
        response_completion_timeout: o.response_completion_timeout(),
    }
}
