//! From CloudFront distribution configs to origins, as the exporter probes them. Pure: the API
//! client fills the plain types below (resolving origin request policies to whether they forward
//! `Host`), and everything CloudFront decides about how it connects to an origin is read here,
//! tested with tables and no sockets.
//!
//! What a discovered origin takes from the distribution: its `domain`, ports, protocol policy,
//! `ssl_protocols`, read timeout, connection timeout and attempts, keep-alive and response
//! completion timeouts, IP address type, custom
//! headers (`http.headers`) and origin path (prefixed to `http.path`), and the `Host` the CDN
//! sends. When a cache behavior that targets the origin forwards the viewer's `Host`, the CDN
//! connects with each alternate domain name as SNI and `Host`, so there is one origin per
//! alternate domain name (the distribution's own domain name when it has none). Everything the
//! CDN does not define (`interval`, `checks`, `http` method and statuses, `labels`, …) comes from
//! `global`.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{RawHttp, RawOrigin, VpcOrigins};

/// One distribution, as read from ListDistributions and GetDistributionConfig.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    pub id: String,
    /// `d111111abcdef8.cloudfront.net`.
    pub domain_name: String,
    /// Alternate domain names (CNAMEs).
    pub aliases: Vec<String>,
    pub origins: Vec<CfOrigin>,
    pub origin_groups: Vec<OriginGroup>,
    /// The default cache behavior and every other one.
    pub behaviors: Vec<Behavior>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CfOrigin {
    pub id: String,
    pub domain_name: String,
    /// `OriginPath`: prefixed to every request path; empty for none.
    pub origin_path: String,
    pub custom_headers: Vec<(String, String)>,
    pub kind: OriginKind,
    pub connection_attempts: Option<i32>,
    /// Seconds.
    pub connection_timeout: Option<i32>,
    /// `ResponseCompletionTimeout`, seconds; `None` (or 0) is no bound.
    pub response_completion_timeout: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OriginKind {
    Custom(CustomOrigin),
    /// An S3 bucket's REST endpoint (`S3OriginConfig`): not probed.
    S3,
    /// A VPC origin (`VpcOriginConfig`): reachable from inside its VPC only; probed with
    /// `vpc_origins: probe`.
    Vpc(VpcOrigin),
}

/// `VpcOriginConfig`, and the VPC origin it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VpcOrigin {
    /// `VpcOriginId`.
    pub id: String,
    /// `OriginReadTimeout`, seconds.
    pub read_timeout: Option<i32>,
    /// `OriginKeepaliveTimeout`, seconds.
    pub keepalive_timeout: Option<i32>,
    /// The VPC origin's own `VpcOriginEndpointConfig` (GetVpcOrigin); read only with
    /// `vpc_origins: probe`.
    pub endpoint: Option<VpcEndpoint>,
}

/// `VpcOriginEndpointConfig`: how CloudFront connects to the VPC origin.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcEndpoint {
    pub http_port: i32,
    pub https_port: i32,
    /// `http-only`, `https-only` or `match-viewer`.
    pub protocol_policy: String,
    pub ssl_protocols: Vec<String>,
    /// `ipv4` or `dualstack`; `None` is ipv4.
    pub ip_address_type: Option<String>,
}

impl Default for OriginKind {
    fn default() -> Self {
        OriginKind::Custom(CustomOrigin::default())
    }
}

/// `CustomOriginConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomOrigin {
    pub http_port: i32,
    pub https_port: i32,
    /// `http-only`, `https-only` or `match-viewer`.
    pub protocol_policy: String,
    /// `SSLv3`, `TLSv1`, `TLSv1.1`, `TLSv1.2`.
    pub ssl_protocols: Vec<String>,
    /// `OriginReadTimeout`, seconds.
    pub read_timeout: Option<i32>,
    /// `ipv4`, `ipv6` or `dualstack`; `None` is CloudFront's default, ipv4.
    pub ip_address_type: Option<String>,
    /// `OriginKeepaliveTimeout`, seconds; `None` is CloudFront's default, 5.
    pub keepalive_timeout: Option<i32>,
    /// `OriginMtlsConfig.ClientCertificateArn`: the certificate in ACM the CDN presents.
    pub mtls_certificate_arn: Option<String>,
}

impl Default for CustomOrigin {
    fn default() -> Self {
        CustomOrigin {
            http_port: 80,
            https_port: 443,
            protocol_policy: "https-only".into(),
            ssl_protocols: vec!["TLSv1.2".into()],
            read_timeout: None,
            ip_address_type: None,
            keepalive_timeout: None,
            mtls_certificate_arn: None,
        }
    }
}

/// `OriginGroup`: CloudFront sends to the primary (first member) and fails over to the
/// secondary on the listed statuses or when it cannot get a response from the primary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginGroup {
    pub id: String,
    /// Origin ids: primary first.
    pub members: Vec<String>,
    pub failover_status_codes: Vec<u16>,
}

/// A cache behavior: which origin (or origin group) it sends to, and whether it forwards the
/// viewer's `Host` header there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Behavior {
    pub target_origin_id: String,
    pub forwards_host: bool,
}

/// A policy's `HeadersConfig`: its `HeaderBehavior` and the headers it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadersConfig {
    /// `none`, `whitelist`, `allViewer`, `allViewerAndWhitelistCloudFront` or `allExcept`.
    pub behavior: String,
    pub headers: Vec<String>,
}

/// What decides whether a cache behavior forwards the viewer's `Host`, as read from the API:
/// its cache policy's and origin request policy's headers (each `None` without that policy),
/// and its legacy `ForwardedValues` headers (`None` when it has none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarding<'a> {
    pub cache_policy: Option<&'a HeadersConfig>,
    pub origin_request_policy: Option<&'a HeadersConfig>,
    pub legacy_headers: Option<&'a [String]>,
}

/// Whether CloudFront sends the viewer's `Host` to the origin. Every header in a cache policy's
/// cache key (`ParametersInCacheKeyAndForwardedToOrigin`) is also forwarded to the origin, so a
/// cache policy that lists Host forwards it whatever the origin request policy says; otherwise
/// the origin request policy decides, and without one the legacy `ForwardedValues` (a behavior
/// has either policies or `ForwardedValues`).
pub fn forwards_host(f: &Forwarding<'_>) -> bool {
    let cache_key = f
        .cache_policy
        .is_some_and(|c| cache_policy_forwards_host(&c.behavior, &c.headers));
    let request = match (f.origin_request_policy, f.legacy_headers) {
        (Some(p), _) => policy_forwards_host(&p.behavior, &p.headers),
        (None, Some(legacy)) => legacy_forwards_host(legacy),
        (None, None) => false,
    };
    cache_key || request
}

/// Whether a cache policy's `HeadersConfig` puts `Host` in the cache key (and so forwards it):
/// `whitelist` containing Host. Its other behavior, `none`, does not.
pub fn cache_policy_forwards_host(header_behavior: &str, headers: &[String]) -> bool {
    header_behavior == "whitelist" && headers.iter().any(|h| h.eq_ignore_ascii_case("host"))
}

/// Whether an origin request policy's `HeadersConfig` forwards the viewer's `Host`:
/// `whitelist` containing Host, `allViewer` and `allViewerAndWhitelistCloudFront` do;
/// `allExcept` does unless it lists Host; `none` does not.
pub fn policy_forwards_host(header_behavior: &str, headers: &[String]) -> bool {
    let lists_host = headers.iter().any(|h| h.eq_ignore_ascii_case("host"));
    match header_behavior {
        "whitelist" => lists_host,
        "allViewer" | "allViewerAndWhitelistCloudFront" => true,
        "allExcept" => !lists_host,
        _ => false,
    }
}

/// Whether legacy `ForwardedValues.Headers` forward `Host` (listed, or `*` for all).
pub fn legacy_forwards_host(headers: &[String]) -> bool {
    headers
        .iter()
        .any(|h| h == "*" || h.eq_ignore_ascii_case("host"))
}

/// Why a CloudFront origin is not probed: the `reason` label of
/// `origin_exporter_discovery_skipped_origins`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    S3Origin,
    VpcOrigin,
    /// Its settings do not make a valid origin (a domain name that is no DNS name, say).
    Invalid,
    /// A configured (or earlier discovered) origin has its name.
    DuplicateName,
}

impl SkipReason {
    pub const ALL: [SkipReason; 4] = [
        Self::S3Origin,
        Self::VpcOrigin,
        Self::Invalid,
        Self::DuplicateName,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::S3Origin => "s3_origin",
            Self::VpcOrigin => "vpc_origin",
            Self::Invalid => "invalid",
            Self::DuplicateName => "duplicate_name",
        }
    }
}

/// One origin as the CDN connects to it, not yet validated against `global`.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub raw: RawOrigin,
    pub distribution_id: String,
    pub origin_id: String,
    pub distribution_domain: String,
    /// The origin groups it belongs to, as `(group name, position)`: 0 is the primary.
    pub groups: Vec<(String, usize)>,
    /// Origin mTLS: the ACM ARN of the client certificate the CDN presents.
    pub mtls_certificate_arn: Option<String>,
}

/// A CDN origin that is not probed, and why: listed on the landing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub distribution_id: String,
    pub origin_id: String,
    pub domain: String,
    pub reason: SkipReason,
}

/// An origin group as the exporter sees it: one per group and forwarded `Host`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// `<DistributionId>_<GroupId>`, plus `_<alternate domain>` when `Host` is forwarded.
    pub name: String,
    pub distribution_id: String,
    /// Exporter origin names, primary first.
    pub members: Vec<String>,
    pub failover_status_codes: Vec<u16>,
}

/// What a distribution maps to.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub origins: Vec<Mapped>,
    pub groups: Vec<Group>,
    pub skipped: BTreeMap<SkipReason, usize>,
    /// Each origin counted in `skipped`.
    pub skipped_origins: Vec<Skipped>,
}

impl Mapping {
    pub fn extend(&mut self, other: Mapping) {
        self.origins.extend(other.origins);
        self.groups.extend(other.groups);
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.skipped_origins.extend(other.skipped_origins);
    }

    /// Counts and lists an origin that is not probed.
    pub fn skip(
        &mut self,
        distribution_id: &str,
        origin_id: &str,
        domain: &str,
        reason: SkipReason,
    ) {
        *self.skipped.entry(reason).or_default() += 1;
        self.skipped_origins.push(Skipped {
            distribution_id: distribution_id.to_string(),
            origin_id: origin_id.to_string(),
            domain: domain.to_string(),
            reason,
        });
    }
}

/// An exporter origin name: every character outside `[A-Za-z0-9_.-]` replaced by `-`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `<DistributionId>_<OriginId>`, plus `_<host>` when the viewer's `Host` is forwarded.
pub fn origin_name(distribution_id: &str, origin_id: &str, host: Option<&str>) -> String {
    match host {
        None => sanitize(&format!("{distribution_id}_{origin_id}")),
        Some(h) => sanitize(&format!("{distribution_id}_{origin_id}_{h}")),
    }
}

/// The `Host`s the CDN connects to `origin_id` with: `None` for the origin's own domain
/// (a behavior that does not forward `Host`), and each alternate domain name when one does.
fn hosts(d: &Distribution, origin_id: &str) -> Vec<Option<String>> {
    let groups_with: BTreeSet<&str> = d
        .origin_groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == origin_id))
        .map(|g| g.id.as_str())
        .collect();
    let targeting: Vec<&Behavior> = d
        .behaviors
        .iter()
        .filter(|b| {
            b.target_origin_id == origin_id || groups_with.contains(b.target_origin_id.as_str())
        })
        .collect();
    let mut out = Vec::new();
    // An origin no behavior targets gets no traffic, but is still the CDN's to connect to.
    if targeting.is_empty() || targeting.iter().any(|b| !b.forwards_host) {
        out.push(None);
    }
    if targeting.iter().any(|b| b.forwards_host) {
        if d.aliases.is_empty() {
            out.push(Some(d.domain_name.to_ascii_lowercase()));
        } else {
            out.extend(d.aliases.iter().map(|a| Some(a.to_ascii_lowercase())));
        }
    }
    out
}

/// A VPC origin as CloudFront connects to it: the VPC origin's ports, protocol policy and
/// protocols, the distribution's timeouts for it.
fn vpc_as_custom(vpc: &VpcOrigin, endpoint: &VpcEndpoint) -> CustomOrigin {
    CustomOrigin {
        http_port: endpoint.http_port,
        https_port: endpoint.https_port,
        protocol_policy: endpoint.protocol_policy.clone(),
        ssl_protocols: endpoint.ssl_protocols.clone(),
        read_timeout: vpc.read_timeout,
        ip_address_type: endpoint.ip_address_type.clone(),
        keepalive_timeout: vpc.keepalive_timeout,
        // CloudFront offers origin mTLS to custom origins only.
        mtls_certificate_arn: None,
    }
}

/// Maps one distribution. `global_http` is `global.http` (the HTTP check's request, whose path
/// the origin path prefixes); `None` leaves the HTTP check to `global.checks`. VPC origins are
/// mapped with `vpc_origins: probe` once their VPC origin was read, else skipped.
pub fn map_distribution(
    d: &Distribution,
    global_http: Option<&RawHttp>,
    http_check: bool,
    vpc_origins: VpcOrigins,
) -> Mapping {
    let mut out = Mapping::default();
    let mut names: BTreeMap<&str, Vec<(Option<String>, String)>> = BTreeMap::new();
    for o in &d.origins {
        let vpc_custom;
        let custom = match &o.kind {
            OriginKind::Custom(c) => c,
            OriginKind::S3 => {
                out.skip(&d.id, &o.id, &o.domain_name, SkipReason::S3Origin);
                continue;
            }
            OriginKind::Vpc(vpc) => match (&vpc.endpoint, vpc_origins) {
                (Some(endpoint), VpcOrigins::Probe) => {
                    vpc_custom = vpc_as_custom(vpc, endpoint);
                    &vpc_custom
                }
                _ => {
                    out.skip(&d.id, &o.id, &o.domain_name, SkipReason::VpcOrigin);
                    continue;
                }
            },
        };
        for host in hosts(d, &o.id) {
            let name = origin_name(&d.id, &o.id, host.as_deref());
            names
                .entry(o.id.as_str())
                .or_default()
                .push((host.clone(), name.clone()));
            let raw = RawOrigin {
                name: Some(name),
                domain: Some(o.domain_name.clone()),
                host_header: host,
                protocol_policy: Some(custom.protocol_policy.clone()),
                http_port: Some(i64::from(custom.http_port)),
                https_port: Some(i64::from(custom.https_port)),
                ssl_protocols: Some(custom.ssl_protocols.clone()),
                read_timeout: custom.read_timeout.map(|s| format!("{s}s")),
                connection_timeout: o.connection_timeout.map(|s| format!("{s}s")),
                connection_attempts: o.connection_attempts.map(i64::from),
                keepalive_timeout: custom.keepalive_timeout.map(|s| format!("{s}s")),
                // CloudFront reads 0 as unset: no bound.
                response_completion_timeout: o
                    .response_completion_timeout
                    .filter(|s| *s > 0)
                    .map(|s| format!("{s}s")),
                ip_address_type: custom.ip_address_type.clone(),
                http: http_section(o, global_http, http_check),
                ..RawOrigin::default()
            };
            out.origins.push(Mapped {
                raw,
                distribution_id: d.id.clone(),
                origin_id: o.id.clone(),
                distribution_domain: d.domain_name.clone(),
                groups: Vec::new(),
                mtls_certificate_arn: custom.mtls_certificate_arn.clone(),
            });
        }
    }
    for g in &d.origin_groups {
        // One group per forwarded Host its members share (primary's variants lead).
        let Some(primary) = g.members.first().and_then(|m| names.get(m.as_str())) else {
            continue;
        };
        for (host, _) in primary {
            let members: Vec<String> = g
                .members
                .iter()
                .filter_map(|m| names.get(m.as_str()))
                .filter_map(|variants| {
                    variants
                        .iter()
                        .find(|(h, _)| h == host)
                        .map(|(_, n)| n.clone())
                })
                .collect();
            let name = origin_name(&d.id, &g.id, host.as_deref());
            for (position, member) in members.iter().enumerate() {
                if let Some(m) = out
                    .origins
                    .iter_mut()
                    .find(|o| o.raw.name.as_deref() == Some(member))
                {
                    m.groups.push((name.clone(), position));
                }
            }
            out.groups.push(Group {
                name,
                distribution_id: d.id.clone(),
                members,
                failover_status_codes: g.failover_status_codes.clone(),
            });
        }
    }
    out
}

/// `global.http` with the origin's path prefixed and its custom headers; `None` when the HTTP
/// check is neither configured by `global.http` nor listed in `global.checks`.
fn http_section(o: &CfOrigin, global_http: Option<&RawHttp>, http_check: bool) -> Option<RawHttp> {
    if global_http.is_none() && !http_check {
        return None;
    }
    let mut http = global_http.cloned().unwrap_or_default();
    let path = http.path.clone().unwrap_or_else(|| "/".into());
    let prefix = o.origin_path.trim_end_matches('/');
    http.path = Some(format!("{prefix}{path}"));
    if !o.custom_headers.is_empty() {
        let mut headers = http.headers.clone().unwrap_or_default();
        headers.extend(o.custom_headers.iter().cloned());
        http.headers = Some(headers);
    }
    Some(http)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(id: &str, domain: &str) -> CfOrigin {
        CfOrigin {
            id: id.into(),
            domain_name: domain.into(),
            ..CfOrigin::default()
        }
    }

    fn behavior(target: &str, forwards_host: bool) -> Behavior {
        Behavior {
            target_origin_id: target.into(),
            forwards_host,
        }
    }

    fn names(m: &Mapping) -> Vec<&str> {
        m.origins
            .iter()
            .filter_map(|o| o.raw.name.as_deref())
            .collect()
    }

    #[test]
    fn names_replace_characters_outside_the_allowed_set() {
        assert_eq!(
            origin_name("E1ABC", "my origin/api:8443", None),
            "E1ABC_my-origin-api-8443"
        );
        assert_eq!(
            origin_name("E1ABC", "S3-my.bucket", Some("www.example.com")),
            "E1ABC_S3-my.bucket_www.example.com"
        );
        assert_eq!(sanitize("ÄÖ*ü"), "----");
    }

    #[test]
    fn every_cdn_setting_is_carried() {
        let d = Distribution {
            id: "E1".into(),
            domain_name: "d1.cloudfront.net".into(),
            origins: vec![CfOrigin {
                id: "api".into(),
                domain_name: "api.example.com".into(),
                origin_path: "/v1/".into(),
                custom_headers: vec![("X-Origin-Verify".into(), "s3cret".into())],
                kind: OriginKind::Custom(CustomOrigin {
                    http_port: 8080,
                    https_port: 8443,
                    protocol_policy: "match-viewer".into(),
                    ssl_protocols: vec!["TLSv1.1".into(), "TLSv1.2".into()],
                    read_timeout: Some(45),
                    ip_address_type: Some("dualstack".into()),
                    keepalive_timeout: Some(60),
                    mtls_certificate_arn: None,
                }),
                connection_attempts: Some(2),
                connection_timeout: Some(4),
                response_completion_timeout: Some(90),
            }],
            behaviors: vec![behavior("api", false)],
            ..Distribution::default()
        };
        let global = RawHttp {
            path: Some("/health".into()),
            method: Some("HEAD".into()),
            ..RawHttp::default()
        };
        let m = map_distribution(&d, Some(&global), false, VpcOrigins::Skip);
        assert_eq!(names(&m), ["E1_api"]);
        let o = &m.origins[0].raw;
        assert_eq!(o.domain.as_deref(), Some("api.example.com"));
        assert!(o.host_header.is_none());
        assert_eq!((o.http_port, o.https_port), (Some(8080), Some(8443)));
        assert_eq!(o.protocol_policy.as_deref(), Some("match-viewer"));
        assert_eq!(o.read_timeout.as_deref(), Some("45s"));
        assert_eq!(o.connection_timeout.as_deref(), Some("4s"));
        assert_eq!(o.connection_attempts, Some(2));
        assert_eq!(o.ip_address_type.as_deref(), Some("dualstack"));
        assert_eq!(o.keepalive_timeout.as_deref(), Some("60s"));
        assert_eq!(o.response_completion_timeout.as_deref(), Some("90s"));
        let http = o.http.as_ref().expect("http section");
        assert_eq!(http.path.as_deref(), Some("/v1/health"));
        assert_eq!(http.method.as_deref(), Some("HEAD"));
        let headers = http.headers.as_ref().expect("headers");
        assert_eq!(
            headers.get("X-Origin-Verify").map(String::as_str),
            Some("s3cret")
        );
        // Keys the CDN does not define are left to `global`.
        assert_eq!((o.interval.as_ref(), o.checks.as_ref()), (None, None));
    }

    #[test]
    fn timeouts_cloudfront_leaves_unset_stay_unset() {
        // OriginKeepaliveTimeout, ResponseCompletionTimeout → keepalive_timeout,
        // response_completion_timeout.
        type Case = (
            Option<i32>,
            Option<i32>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: [Case; 4] = [
            (None, None, None, None),
            (Some(1), Some(0), Some("1s"), None),
            (Some(120), Some(30), Some("120s"), Some("30s")),
            (Some(5), Some(3600), Some("5s"), Some("3600s")),
        ];
        for (keepalive, completion, want_keepalive, want_completion) in cases {
            let mut o = custom("a", "a.example.com");
            o.kind = OriginKind::Custom(CustomOrigin {
                keepalive_timeout: keepalive,
                ..CustomOrigin::default()
            });
            o.response_completion_timeout = completion;
            let d = Distribution {
                id: "E1".into(),
                origins: vec![o],
                ..Distribution::default()
            };
            let m = map_distribution(&d, None, false, VpcOrigins::Skip);
            let raw = &m.origins[0].raw;
            assert_eq!(
                (
                    raw.keepalive_timeout.as_deref(),
                    raw.response_completion_timeout.as_deref()
                ),
                (want_keepalive, want_completion),
                "{keepalive:?} {completion:?}"
            );
        }
    }

    #[test]
    fn without_an_http_check_there_is_no_http_section() {
        let mut o = custom("a", "a.example.com");
        o.origin_path = "/p".into();
        let d = Distribution {
            id: "E1".into(),
            origins: vec![o],
            ..Distribution::default()
        };
        assert!(
            map_distribution(&d, None, false, VpcOrigins::Skip).origins[0]
                .raw
                .http
                .is_none()
        );
        let with_check = map_distribution(&d, None, true, VpcOrigins::Skip);
        let http = with_check.origins[0].raw.http.as_ref().expect("http");
        assert_eq!(http.path.as_deref(), Some("/p/"));
    }

    #[test]
    fn a_forwarded_host_makes_one_origin_per_alias() {
        let d = Distribution {
            id: "E2".into(),
            domain_name: "d2.cloudfront.net".into(),
            aliases: vec!["www.example.com".into(), "Shop.Example.com".into()],
            origins: vec![
                custom("web", "lb.example.net"),
                custom("static", "st.example.net"),
            ],
            behaviors: vec![behavior("web", true), behavior("static", false)],
            ..Distribution::default()
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Skip);
        assert_eq!(
            names(&m),
            [
                "E2_web_www.example.com",
                "E2_web_shop.example.com",
                "E2_static"
            ]
        );
        assert_eq!(
            m.origins[1].raw.host_header.as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(m.origins[1].raw.domain.as_deref(), Some("lb.example.net"));
        assert!(m.origins[2].raw.host_header.is_none());
    }

    #[test]
    fn host_forwarded_without_aliases_is_the_distribution_domain() {
        let d = Distribution {
            id: "E3".into(),
            domain_name: "d3.cloudfront.net".into(),
            origins: vec![custom("web", "lb.example.net")],
            behaviors: vec![behavior("web", true), behavior("web", false)],
            ..Distribution::default()
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Skip);
        assert_eq!(names(&m), ["E3_web", "E3_web_d3.cloudfront.net"]);
    }

    fn vpc_origin(endpoint: Option<VpcEndpoint>) -> CfOrigin {
        let mut vpc = custom("internal", "internal-alb-1.us-east-1.elb.amazonaws.com");
        vpc.kind = OriginKind::Vpc(VpcOrigin {
            id: "vo_123".into(),
            read_timeout: Some(40),
            keepalive_timeout: Some(20),
            endpoint,
        });
        vpc
    }

    fn endpoint() -> VpcEndpoint {
        VpcEndpoint {
            http_port: 8080,
            https_port: 8443,
            protocol_policy: "match-viewer".into(),
            ssl_protocols: vec!["TLSv1.1".into(), "TLSv1.2".into()],
            ip_address_type: Some("dualstack".into()),
        }
    }

    #[test]
    fn s3_and_vpc_origins_are_skipped_counted_and_listed() {
        let mut s3 = custom("bucket", "b.s3.amazonaws.com");
        s3.kind = OriginKind::S3;
        let d = Distribution {
            id: "E4".into(),
            origins: vec![
                s3.clone(),
                vpc_origin(Some(endpoint())),
                custom("web", "w.example.com"),
                s3,
            ],
            ..Distribution::default()
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Skip);
        assert_eq!(names(&m), ["E4_web"]);
        assert_eq!(m.skipped.get(&SkipReason::S3Origin), Some(&2));
        assert_eq!(m.skipped.get(&SkipReason::VpcOrigin), Some(&1));
        assert_eq!(
            m.skipped_origins[1],
            Skipped {
                distribution_id: "E4".into(),
                origin_id: "internal".into(),
                domain: "internal-alb-1.us-east-1.elb.amazonaws.com".into(),
                reason: SkipReason::VpcOrigin,
            }
        );
        assert_eq!(m.skipped_origins.len(), 3);
    }

    #[test]
    fn a_probed_vpc_origin_takes_its_ports_and_protocols_from_the_vpc_origin() {
        let d = Distribution {
            id: "E6".into(),
            origins: vec![vpc_origin(Some(endpoint()))],
            ..Distribution::default()
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Probe);
        assert_eq!(names(&m), ["E6_internal"]);
        assert!(m.skipped_origins.is_empty());
        let o = &m.origins[0].raw;
        assert_eq!(
            o.domain.as_deref(),
            Some("internal-alb-1.us-east-1.elb.amazonaws.com")
        );
        assert_eq!((o.http_port, o.https_port), (Some(8080), Some(8443)));
        assert_eq!(o.protocol_policy.as_deref(), Some("match-viewer"));
        assert_eq!(
            o.ssl_protocols.as_deref(),
            Some(&["TLSv1.1".to_string(), "TLSv1.2".to_string()][..])
        );
        assert_eq!(o.ip_address_type.as_deref(), Some("dualstack"));
        // The distribution's timeouts for it.
        assert_eq!(o.read_timeout.as_deref(), Some("40s"));
        assert_eq!(o.keepalive_timeout.as_deref(), Some("20s"));
        // Not read (the setting changed to probe before the next refresh): still skipped.
        let unread = Distribution {
            origins: vec![vpc_origin(None)],
            ..d
        };
        let m = map_distribution(&unread, None, false, VpcOrigins::Probe);
        assert!(m.origins.is_empty());
        assert_eq!(m.skipped.get(&SkipReason::VpcOrigin), Some(&1));
    }

    #[test]
    fn the_origin_mtls_certificate_is_carried() {
        let mut o = custom("api", "api.example.com");
        o.kind = OriginKind::Custom(CustomOrigin {
            mtls_certificate_arn: Some("arn:aws:acm:us-east-1:111122223333:certificate/c1".into()),
            ..CustomOrigin::default()
        });
        let d = Distribution {
            id: "E7".into(),
            origins: vec![o, custom("plain", "p.example.com")],
            ..Distribution::default()
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Skip);
        let arns: Vec<Option<&str>> = m
            .origins
            .iter()
            .map(|o| o.mtls_certificate_arn.as_deref())
            .collect();
        assert_eq!(
            arns,
            [
                Some("arn:aws:acm:us-east-1:111122223333:certificate/c1"),
                None
            ]
        );
    }

    #[test]
    fn origin_groups_list_their_members_per_forwarded_host() {
        let d = Distribution {
            id: "E5".into(),
            domain_name: "d5.cloudfront.net".into(),
            aliases: vec!["a.example.com".into()],
            origins: vec![custom("p", "p.example.com"), custom("s", "s.example.com")],
            origin_groups: vec![OriginGroup {
                id: "grp".into(),
                members: vec!["p".into(), "s".into()],
                failover_status_codes: vec![502, 503],
            }],
            behaviors: vec![behavior("grp", true)],
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Skip);
        assert_eq!(names(&m), ["E5_p_a.example.com", "E5_s_a.example.com"]);
        assert_eq!(m.groups.len(), 1);
        assert_eq!(m.groups[0].name, "E5_grp_a.example.com");
        assert_eq!(
            m.groups[0].members,
            ["E5_p_a.example.com", "E5_s_a.example.com"]
        );
        assert_eq!(
            m.origins[1].groups,
            [("E5_grp_a.example.com".to_string(), 1)]
        );
    }

    #[test]
    fn host_forwarding_by_policy_and_legacy_headers() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(policy_forwards_host("whitelist", &h(&["Origin", "host"])));
        assert!(!policy_forwards_host("whitelist", &h(&["Origin"])));
        assert!(policy_forwards_host("allViewer", &[]));
        assert!(policy_forwards_host(
            "allViewerAndWhitelistCloudFront",
            &h(&["CloudFront-Viewer-Country"])
        ));
        assert!(!policy_forwards_host("allExcept", &h(&["Host"])));
        assert!(policy_forwards_host("allExcept", &h(&["Accept"])));
        assert!(!policy_forwards_host("none", &[]));
        assert!(legacy_forwards_host(&h(&["*"])));
        assert!(legacy_forwards_host(&h(&["Host"])));
        assert!(!legacy_forwards_host(&h(&["Accept-Language"])));
    }

    fn headers(behavior: &str, names: &[&str]) -> HeadersConfig {
        HeadersConfig {
            behavior: behavior.into(),
            headers: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_cache_key_with_host_forwards_it_whatever_the_request_policy() {
        let host_key = headers("whitelist", &["Accept", "host"]);
        let other_key = headers("whitelist", &["Accept"]);
        let no_key = headers("none", &[]);
        let all_but_host = headers("allExcept", &["Host"]);
        let all = headers("allViewer", &[]);
        let none = headers("none", &[]);
        let legacy_host = vec!["Host".to_string()];
        // (cache policy, origin request policy, legacy headers, forwards Host)
        type Case<'a> = (
            Option<&'a HeadersConfig>,
            Option<&'a HeadersConfig>,
            Option<&'a [String]>,
            bool,
        );
        let cases: [Case<'_>; 9] = [
            (Some(&host_key), None, None, true),
            (Some(&host_key), Some(&none), None, true),
            (Some(&host_key), Some(&all_but_host), None, true),
            (Some(&other_key), None, None, false),
            (Some(&other_key), Some(&all), None, true),
            (Some(&no_key), Some(&all_but_host), None, false),
            (None, None, Some(&legacy_host), true),
            (None, None, None, false),
            // An origin request policy decides over legacy headers.
            (None, Some(&none), Some(&legacy_host), false),
        ];
        for (cache_policy, origin_request_policy, legacy_headers, want) in cases {
            let f = Forwarding {
                cache_policy,
                origin_request_policy,
                legacy_headers,
            };
            assert_eq!(forwards_host(&f), want, "{f:?}");
        }
    }

    #[test]
    fn a_cache_policy_with_host_maps_one_origin_per_alias() {
        let key = headers("whitelist", &["Host"]);
        let by_cache_key = |target: &str| Behavior {
            target_origin_id: target.into(),
            forwards_host: forwards_host(&Forwarding {
                cache_policy: Some(&key),
                ..Forwarding::default()
            }),
        };
        let d = Distribution {
            id: "E6".into(),
            domain_name: "d6.cloudfront.net".into(),
            aliases: vec!["www.shop.example".into(), "M.Shop.Example".into()],
            origins: vec![custom("lb", "lb.example.net")],
            behaviors: vec![by_cache_key("lb")],
            ..Distribution::default()
        };
        let m = map_distribution(&d, None, false, VpcOrigins::Skip);
        assert_eq!(
            names(&m),
            ["E6_lb_www.shop.example", "E6_lb_m.shop.example"]
        );
        for (o, alias) in m.origins.iter().zip(["www.shop.example", "m.shop.example"]) {
            // The domain is connected to; the alias is the SNI and the Host.
            assert_eq!(o.raw.domain.as_deref(), Some("lb.example.net"));
            assert_eq!(o.raw.host_header.as_deref(), Some(alias));
        }
    }
}
