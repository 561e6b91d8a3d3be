//! From the file as written to a [`Config`]: defaults applied, every mistake collected with its
//! field path. Pure: no I/O, tested without files.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::raw::{RawConfig, RawEdge, RawHttp, RawOrigin, RawStatus};
use super::{
    parse_duration, Check, CloudFrontDiscovery, Config, Discovery, EdgeSpec, FieldError, Global,
    HttpHeaders, HttpSpec, IpAddressType, Origin, ProtocolPolicy, Scheme, StatusMatch, VpcOrigins,
};
use crate::cdn::{self, TlsVersion};
use crate::netpolicy::{AdhocPolicy, Cidr};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONCURRENCY: usize = 64;

/// Bounds of the durations, so that every sum and product of them the checks make fits: an
/// interval from 1 s to a day, a timeout of at most the interval, a read timeout of at most the
/// 180 s the CDN allows (CloudFront's `OriginReadTimeout`, raised by quota).
const INTERVAL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(86_400));
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(1), INTERVAL_RANGE.1);
const READ_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(180));
const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 21;
/// CloudFront's `ConnectionTimeout` (1-10 s, default 10) and `ConnectionAttempts` (1-3,
/// default 3).
const CONNECTION_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(10));
const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECTION_ATTEMPTS: u8 = 3;
/// CloudFront's `OriginKeepaliveTimeout`: 5 s by default; the API takes 1-120 s and the
/// console up to 180 s (more by quota), so 1-180 s, the same ceiling as the read timeout.
const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(180));
/// CloudFront's `ResponseCompletionTimeout` has no documented ceiling (unset = no bound) and
/// must be at least `OriginReadTimeout`; a day keeps every sum the checks make in range.
const RESPONSE_COMPLETION_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(86_400));
/// How often discovery lists the distributions again, by default and at the extremes.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
const REFRESH_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(86_400));

/// Label names the exporter writes itself (on any series: per-origin, its own, discovery's), and
/// Prometheus' target labels: `labels` (global or an origin's) may not take them. The encoder
/// checks every label it writes against this list in debug builds (`exposition::Series`).
pub const RESERVED_LABELS: &[&str] = &[
    "origin",
    "cause",
    "severity",
    "check",
    "result",
    "address",
    "port",
    "zone",
    "parent_zone",
    "nameserver",
    "version",
    "revision",
    "cipher",
    "position",
    "subject_cn",
    "issuer_cn",
    "serial",
    "name",
    "job",
    "instance",
    "distribution_id",
    "origin_id",
    "group",
    "provider",
    "reason",
];

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

fn validate_discovery(raw: &RawConfig, errors: &mut Errors) -> Discovery {
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

/// `global` validated, plus the durations origins inherit.
struct GlobalDefaults {
    global: Global,
    interval: Duration,
    timeout: Duration,
    read_timeout: Duration,
    keepalive_timeout: Duration,
    response_completion_timeout: Option<Duration>,
    expiry_warning_days: u32,
}

fn validate_global(raw: &RawConfig, errors: &mut Errors) -> GlobalDefaults {
    let g = &raw.global;
    let interval = duration(
        g.interval.as_deref(),
        "global.interval",
        DEFAULT_INTERVAL,
        INTERVAL_RANGE,
        errors,
    );
    let timeout = duration(
        g.timeout.as_deref(),
        "global.timeout",
        DEFAULT_TIMEOUT,
        TIMEOUT_RANGE,
        errors,
    );
    let read_timeout = duration(
        g.read_timeout.as_deref(),
        "global.read_timeout",
        DEFAULT_READ_TIMEOUT,
        READ_TIMEOUT_RANGE,
        errors,
    );
    let keepalive_timeout = duration(
        g.keepalive_timeout.as_deref(),
        "global.keepalive_timeout",
        DEFAULT_KEEPALIVE_TIMEOUT,
        KEEPALIVE_TIMEOUT_RANGE,
        errors,
    );
    let response_completion_timeout = g.response_completion_timeout.as_deref().map(|s| {
        duration(
            Some(s),
            "global.response_completion_timeout",
            read_timeout,
            RESPONSE_COMPLETION_TIMEOUT_RANGE,
            errors,
        )
    });
    if let Some(rct) = response_completion_timeout.filter(|rct| *rct < read_timeout) {
        errors.push(
            "global.response_completion_timeout",
            completion_below_read(rct, read_timeout),
        );
    }
    if timeout > interval {
        errors.push(
            "global.timeout",
            format!("must not exceed interval ({})", show(interval)),
        );
    }
    let concurrency = match g.concurrency {
        None => DEFAULT_CONCURRENCY,
        Some(n) if (1..=100_000).contains(&n) => n as usize,
        Some(n) => {
            errors.push("global.concurrency", format!("must be 1-100000, got {n}"));
            DEFAULT_CONCURRENCY
        }
    };
    let expiry_warning_days = days(g.expiry_warning_days, "global.expiry_warning_days", errors)
        .unwrap_or(DEFAULT_EXPIRY_WARNING_DAYS);
    let cdn = match g.cdn.as_deref() {
        None => &cdn::CLOUDFRONT,
        Some(name) => cdn::profile(name).unwrap_or_else(|| {
            let known: Vec<_> = cdn::PROFILES.iter().map(|p| p.name).collect();
            errors.push(
                "global.cdn",
                format!("unknown CDN profile {name:?}; known: {}", known.join(", ")),
            );
            &cdn::CLOUDFRONT
        }),
    };
    let mut resolvers = Vec::new();
    for (i, r) in g.resolvers.iter().flatten().enumerate() {
        match parse_resolver(r) {
            Some(addr) => resolvers.push(addr),
            None => errors.push(
                format!("global.resolvers[{i}]"),
                format!("must be IP or IP:port, got {r:?}"),
            ),
        }
    }
    let dns_port = port(g.dns_port, "global.dns_port", 53, errors);
    let ca_file = match g.ca_file.as_deref() {
        None | Some("") => None,
        Some(f) => Some(PathBuf::from(f)),
    };
    for key in g.labels.iter().flat_map(|l| l.keys()) {
        if let Err(why) = label_name(key) {
            errors.push(format!("global.labels.{key}"), why);
        }
    }
    let allow_adhoc_targets = g.allow_adhoc_targets.unwrap_or(false);
    let adhoc = adhoc_policy(g, allow_adhoc_targets, errors);
    let aia_allowed_networks = networks(
        g.aia_allowed_networks.as_deref(),
        "global.aia_allowed_networks",
        errors,
    );
    GlobalDefaults {
        global: Global {
            concurrency,
            cdn,
            resolvers,
            dns_port,
            ca_file,
            large_fleet: g.large_fleet.unwrap_or(false),
            allow_adhoc_targets,
            adhoc,
            aia_allowed_networks,
        },
        interval,
        timeout,
        read_timeout,
        keepalive_timeout,
        response_completion_timeout,
        expiry_warning_days,
    }
}

/// A validated duration (at least 1 ms, at most a day) in milliseconds.
fn millis(d: Duration) -> std::num::NonZeroU32 {
    let ms = u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    std::num::NonZeroU32::new(ms).unwrap_or(std::num::NonZeroU32::MIN)
}

/// CloudFront refuses a `ResponseCompletionTimeout` below the `OriginReadTimeout`.
fn completion_below_read(rct: Duration, read_timeout: Duration) -> String {
    format!(
        "must be at least read_timeout ({}), as CloudFront requires, got {}",
        show(read_timeout),
        show(rct)
    )
}

fn adhoc_policy(g: &super::raw::RawGlobal, allowed: bool, errors: &mut Errors) -> AdhocPolicy {
    let mut domains = Vec::new();
    for (i, d) in g.adhoc_allowed_domains.iter().flatten().enumerate() {
        let path = format!("global.adhoc_allowed_domains[{i}]");
        match d.strip_prefix("*.") {
            Some(suffix) => domains.push(format!("*.{}", hostname(suffix, &path, errors))),
            None => domains.push(hostname(d, &path, errors)),
        }
    }
    if allowed && domains.is_empty() {
        errors.push(
            "global.adhoc_allowed_domains",
            "must list the domains /probe?target= may probe (names or *.suffix) when allow_adhoc_targets is true",
        );
    }
    let networks = networks(
        g.adhoc_allowed_networks.as_deref(),
        "global.adhoc_allowed_networks",
        errors,
    );
    AdhocPolicy { domains, networks }
}

/// A list of CIDR networks; each bad entry is an error naming `field` and its index.
fn networks(list: Option<&[String]>, field: &str, errors: &mut Errors) -> Vec<Cidr> {
    let mut networks = Vec::new();
    for (i, n) in list.into_iter().flatten().enumerate() {
        match Cidr::parse(n) {
            Ok(c) => networks.push(c),
            Err(why) => errors.push(format!("{field}[{i}]"), why),
        }
    }
    networks
}

/// One origin with `global`'s defaults applied (discovery validates what it maps this way).
pub(crate) fn validate_with_defaults(
    o: &RawOrigin,
    defaults: super::raw::RawGlobal,
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

fn validate_origin(
    o: &RawOrigin,
    defaults: &super::raw::RawGlobal,
    global: &GlobalDefaults,
    path: &str,
    errors: &mut Errors,
) -> Option<Origin> {
    let at = |field: &str| format!("{path}.{field}");
    let before = errors.0.len();

    let name = match o.name.as_deref() {
        None => {
            errors.push(at("name"), "is required");
            String::new()
        }
        Some(n) if n.is_empty() || !n.chars().all(is_name_char) => {
            errors.push(at("name"), format!("must match [A-Za-z0-9_.-]+, got {n:?}"));
            String::new()
        }
        Some(n) => n.to_string(),
    };
    let domain = match o.domain.as_deref() {
        None => {
            errors.push(at("domain"), "is required");
            String::new()
        }
        Some(d) => hostname(d, &at("domain"), errors),
    };
    let host_header = o
        .host_header
        .as_deref()
        .or(defaults.host_header.as_deref())
        .filter(|h| !h.is_empty())
        .map(|h| hostname(h, &at("host_header"), errors));
    let address = match o.address.as_deref().or(defaults.address.as_deref()) {
        None | Some("") => None,
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errors.push(at("address"), format!("must be an IP address, got {a:?}"));
                None
            }
        },
    };
    let protocol_policy = match o
        .protocol_policy
        .as_deref()
        .or(defaults.protocol_policy.as_deref())
    {
        None => ProtocolPolicy::HttpsOnly,
        Some(p) => ProtocolPolicy::from_name(p).unwrap_or_else(|| {
            errors.push(
                at("protocol_policy"),
                format!(
                    "must be one of {}, got {p:?}",
                    ProtocolPolicy::NAMES.join(", ")
                ),
            );
            ProtocolPolicy::HttpsOnly
        }),
    };
    let http_port = port(
        o.http_port.or(defaults.http_port),
        &at("http_port"),
        80,
        errors,
    );
    let https_port = port(
        o.https_port.or(defaults.https_port),
        &at("https_port"),
        443,
        errors,
    );
    let ssl_protocols = ssl_protocols(
        o.ssl_protocols.as_ref().or(defaults.ssl_protocols.as_ref()),
        global.global.cdn,
        &at("ssl_protocols"),
        errors,
    );
    let http_raw = o.http.as_ref().or(defaults.http.as_ref());
    let mut http = http_raw.map(|h| http_spec(h, &at("http"), errors));
    let edge = o
        .edge
        .as_ref()
        .or(defaults.edge.as_ref())
        .and_then(|e| edge_spec(e, &at("edge"), errors));

    let checks = match o.checks.as_ref().or(defaults.checks.as_ref()) {
        None => {
            let mut c = BTreeSet::from([Check::Dns, Check::Tcp]);
            if protocol_policy != ProtocolPolicy::HttpOnly {
                c.insert(Check::Tls);
            }
            if http.is_some() {
                c.insert(Check::Http);
            }
            if edge.is_some() {
                c.insert(Check::Edge);
            }
            c
        }
        Some(list) => {
            let mut c = BTreeSet::new();
            for (i, name) in list.iter().enumerate() {
                match Check::from_name(name) {
                    Some(check) => {
                        c.insert(check);
                    }
                    None => errors.push(
                        format!("{}[{i}]", at("checks")),
                        format!(
                            "unknown check {name:?}; known: {}",
                            Check::ALL.map(Check::name).join(", ")
                        ),
                    ),
                }
            }
            if c.contains(&Check::Tls) && protocol_policy == ProtocolPolicy::HttpOnly {
                errors.push(
                    at("checks"),
                    "tls needs an HTTPS port, but protocol_policy is http-only",
                );
            }
            c
        }
    };
    if checks.contains(&Check::Edge)
        && edge.is_none()
        && o.edge.is_none()
        && defaults.edge.is_none()
    {
        errors.push(at("checks"), "edge needs an edge section with its url");
    }
    if checks.contains(&Check::Http) && http.is_none() {
        // Listing the check without its section means the CDN's default request.
        http = Some(HttpSpec::default());
    }

    let interval = match o.interval.as_deref() {
        None => global.interval,
        Some(s) => duration(
            Some(s),
            &at("interval"),
            global.interval,
            INTERVAL_RANGE,
            errors,
        ),
    };
    let timeout = match o.timeout.as_deref() {
        None => global.timeout.min(interval),
        Some(s) => duration(
            Some(s),
            &at("timeout"),
            global.timeout,
            TIMEOUT_RANGE,
            errors,
        ),
    };
    if timeout > interval {
        errors.push(
            at("timeout"),
            format!("must not exceed interval ({})", show(interval)),
        );
    }
    let read_timeout = match o.read_timeout.as_deref() {
        None => global.read_timeout,
        Some(s) => duration(
            Some(s),
            &at("read_timeout"),
            global.read_timeout,
            READ_TIMEOUT_RANGE,
            errors,
        ),
    };
    let keepalive_timeout = match o.keepalive_timeout.as_deref() {
        None => global.keepalive_timeout,
        Some(s) => duration(
            Some(s),
            &at("keepalive_timeout"),
            global.keepalive_timeout,
            KEEPALIVE_TIMEOUT_RANGE,
            errors,
        ),
    };
    let response_completion_timeout = match o.response_completion_timeout.as_deref() {
        None => global.response_completion_timeout,
        Some(s) => Some(duration(
            Some(s),
            &at("response_completion_timeout"),
            read_timeout,
            RESPONSE_COMPLETION_TIMEOUT_RANGE,
            errors,
        )),
    };
    if let Some(rct) = response_completion_timeout.filter(|rct| *rct < read_timeout) {
        // Said where the origin says one of the two; both from `global` is `global`'s error.
        if o.response_completion_timeout.is_some() {
            errors.push(
                at("response_completion_timeout"),
                completion_below_read(rct, read_timeout),
            );
        } else if o.read_timeout.is_some() {
            errors.push(
                at("read_timeout"),
                format!(
                    "must not exceed response_completion_timeout ({}, from global), as CloudFront requires, got {}",
                    show(rct),
                    show(read_timeout)
                ),
            );
        }
    }
    let expiry_warning_days = days(o.expiry_warning_days, &at("expiry_warning_days"), errors)
        .unwrap_or(global.expiry_warning_days);
    let ip_address_type = match o
        .ip_address_type
        .as_deref()
        .or(defaults.ip_address_type.as_deref())
    {
        None => IpAddressType::default(),
        Some(t) => IpAddressType::from_name(t).unwrap_or_else(|| {
            errors.push(
                at("ip_address_type"),
                format!(
                    "must be one of {}, got {t:?}",
                    IpAddressType::NAMES.join(", ")
                ),
            );
            IpAddressType::default()
        }),
    };
    // A pinned `address` is taken as given unless `ip_address_type` says otherwise explicitly.
    let explicit_type = o.ip_address_type.is_some() || defaults.ip_address_type.is_some();
    if let Some(ip) = address.filter(|ip| explicit_type && !ip_address_type.allows(*ip)) {
        errors.push(
            at("address"),
            format!(
                "{ip} is not an address the CDN connects to with ip_address_type {}",
                ip_address_type.name()
            ),
        );
    }
    let connection_timeout = duration(
        o.connection_timeout
            .as_deref()
            .or(defaults.connection_timeout.as_deref()),
        &at("connection_timeout"),
        DEFAULT_CONNECTION_TIMEOUT,
        CONNECTION_TIMEOUT_RANGE,
        errors,
    );
    let connection_attempts = match o.connection_attempts.or(defaults.connection_attempts) {
        None => DEFAULT_CONNECTION_ATTEMPTS,
        Some(n) if (1..=3).contains(&n) => n as u8,
        Some(n) => {
            errors.push(at("connection_attempts"), format!("must be 1-3, got {n}"));
            DEFAULT_CONNECTION_ATTEMPTS
        }
    };

    // The global labels are checked once, under `global.labels` (see `validate_global`).
    for key in o.labels.iter().flat_map(|l| l.keys()) {
        if let Err(why) = label_name(key) {
            errors.push(format!("{}.{key}", at("labels")), why);
        }
    }
    let mut labels: BTreeMap<String, String> = defaults.labels.clone().unwrap_or_default();
    labels.extend(o.labels.clone().unwrap_or_default());

    let client_certificate = o
        .client_certificate
        .as_ref()
        .or(defaults.client_certificate.as_ref())
        .and_then(|c| client_certificate(c, &at("client_certificate"), errors));

    (errors.0.len() == before).then(|| Origin {
        name,
        domain,
        host_header,
        address,
        protocol_policy,
        http_port,
        https_port,
        ssl_protocols,
        http: http.map(Box::new),
        edge: edge.map(Box::new),
        checks,
        interval,
        timeout,
        read_timeout,
        expiry_warning_days,
        labels: labels.into_iter().collect(),
        client_certificate: client_certificate.map(Box::new),
        large_fleet: global.global.large_fleet,
        vetted: None,
        adhoc: false,
        ip_address_type,
        connection_timeout,
        connection_attempts,
        cdn_client_certificate: None,
        keepalive_timeout_ms: millis(keepalive_timeout),
        response_completion_timeout_ms: response_completion_timeout.map(millis),
        source: None,
    })
}

/// Both files named, readable, and PEM; whether they hold a matching certificate and key is
/// checked when the TLS client is built, and reported by the TLS check.
fn client_certificate(
    raw: &super::raw::RawClientCertificate,
    path: &str,
    errors: &mut Errors,
) -> Option<super::ClientCertificate> {
    let mut file = |value: Option<&String>, key: &str| -> Option<(PathBuf, Arc<[u8]>)> {
        let at = format!("{path}.{key}");
        let Some(f) = value.filter(|f| !f.is_empty()) else {
            errors.push(at, "required: a PEM file");
            return None;
        };
        match std::fs::read(f) {
            Ok(bytes) if bytes.windows(11).any(|w| w == b"-----BEGIN ") => {
                Some((PathBuf::from(f), Arc::from(bytes)))
            }
            Ok(_) => {
                errors.push(at, format!("{f}: no PEM block in the file"));
                None
            }
            Err(e) => {
                errors.push(at, format!("{f}: {e}"));
                None
            }
        }
    };
    let cert = file(raw.cert_file.as_ref(), "cert_file");
    let key = file(raw.key_file.as_ref(), "key_file");
    let ((cert_file, cert_pem), (key_file, key_pem)) = (cert?, key?);
    let not_after = leaf_not_after(&cert_pem);
    Some(super::ClientCertificate {
        cert_file,
        key_file,
        cert_pem,
        key_pem,
        not_after,
    })
}

/// The notAfter (Unix seconds) of the first certificate of a PEM file.
fn leaf_not_after(pem: &[u8]) -> Option<i64> {
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// A DNS name as the CDN would accept it for an origin: letters, digits, `-`, `_`, dots.
fn hostname(name: &str, path: &str, errors: &mut Errors) -> String {
    let name = name.trim_end_matches('.');
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid {
        errors.push(path, format!("must be a DNS name, got {name:?}"));
    }
    name.to_ascii_lowercase()
}

/// A duration within `(min, max)`; outside it, an error and the default.
fn duration(
    value: Option<&str>,
    path: &str,
    default: Duration,
    (min, max): (Duration, Duration),
    errors: &mut Errors,
) -> Duration {
    match value {
        None => default,
        Some(s) => match parse_duration(s) {
            Ok(d) if d.is_zero() => {
                errors.push(path, "must be greater than 0");
                default
            }
            Ok(d) if d < min || d > max => {
                errors.push(
                    path,
                    format!("must be {} to {}, got {}", show(min), show(max), show(d)),
                );
                default
            }
            Ok(d) => d,
            Err(why) => {
                errors.push(path, why);
                default
            }
        },
    }
}

fn port(value: Option<i64>, path: &str, default: u16, errors: &mut Errors) -> u16 {
    match value {
        None => default,
        Some(p) => match u16::try_from(p) {
            Ok(p) if p != 0 => p,
            _ => {
                errors.push(path, format!("must be 1-65535, got {p}"));
                default
            }
        },
    }
}

fn days(value: Option<i64>, path: &str, errors: &mut Errors) -> Option<u32> {
    let d = value?;
    match u32::try_from(d) {
        Ok(d) if d <= 3650 => Some(d),
        _ => {
            errors.push(path, format!("must be 0-3650, got {d}"));
            None
        }
    }
}

fn ssl_protocols(
    value: Option<&Vec<String>>,
    cdn: &cdn::CdnProfile,
    path: &str,
    errors: &mut Errors,
) -> Vec<TlsVersion> {
    let Some(list) = value else {
        return vec![TlsVersion::Tls1_2];
    };
    if list.is_empty() {
        errors.push(path, "must list at least one protocol");
    }
    let allowed: Vec<_> = cdn.origin_protocols.iter().map(|v| v.name()).collect();
    let mut out = Vec::new();
    for (i, name) in list.iter().enumerate() {
        match TlsVersion::from_name(name).filter(|v| cdn.origin_protocols.contains(v)) {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {}
            None => errors.push(
                format!("{path}[{i}]"),
                format!(
                    "unknown protocol {name:?} for cdn {}; known: {}",
                    cdn.name,
                    allowed.join(", ")
                ),
            ),
        }
    }
    out.sort();
    out
}

/// `edge`: an absolute `http://` or `https://` URL with a host, and how to check its answer.
fn edge_spec(raw: &RawEdge, path: &str, errors: &mut Errors) -> Option<EdgeSpec> {
    let before = errors.0.len();
    let url = raw.url.as_deref().unwrap_or_default();
    let uri = match url.parse::<hyper::Uri>() {
        // Before parsing: hyper refuses the empty string as "not a URL".
        _ if url.is_empty() => {
            errors.push(format!("{path}.url"), "is required");
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            errors.push(format!("{path}.url"), format!("not a URL: {url:?}: {e}"));
            None
        }
    };
    let scheme = match uri.as_ref().and_then(|u| u.scheme_str()) {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        other if !url.is_empty() && uri.is_some() => {
            errors.push(
                format!("{path}.url"),
                format!(
                    "must be an http:// or https:// URL, got {:?}",
                    other.unwrap_or("")
                ),
            );
            Scheme::Https
        }
        _ => Scheme::Https,
    };
    let host = uri
        .as_ref()
        .and_then(|u| u.host())
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string());
    if host.is_none() && !url.is_empty() && uri.is_some() {
        errors.push(format!("{path}.url"), format!("has no host: {url:?}"));
    }
    let port = uri
        .as_ref()
        .and_then(|u| u.port_u16())
        .unwrap_or(match scheme {
            Scheme::Https => 443,
            Scheme::Http => 80,
        });
    let request_path = uri
        .as_ref()
        .and_then(|u| u.path_and_query())
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let expect = RawHttp {
        expect_status: raw.expect_status.clone(),
        ..RawHttp::default()
    };
    let expect_status = http_spec(&expect, path, errors).expect_status;
    let address = match raw.address.as_deref() {
        None | Some("") => None,
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errors.push(
                    format!("{path}.address"),
                    format!("must be an IP address, got {a:?}"),
                );
                None
            }
        },
    };
    (errors.0.len() == before).then(|| EdgeSpec {
        url: url.to_string(),
        scheme,
        host: host.unwrap_or_default(),
        port,
        path: if request_path.is_empty() {
            "/".into()
        } else {
            request_path
        },
        expect_status,
        address,
    })
}

fn http_spec(raw: &RawHttp, path: &str, errors: &mut Errors) -> HttpSpec {
    let defaults = HttpSpec::default();
    let path_value = raw.path.clone().unwrap_or(defaults.path);
    if !path_value.starts_with('/') {
        errors.push(
            format!("{path}.path"),
            format!("must start with /, got {path_value:?}"),
        );
    }
    let method = raw.method.clone().unwrap_or(defaults.method);
    const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
    if !METHODS.contains(&method.as_str()) {
        errors.push(
            format!("{path}.method"),
            format!("must be one of {}, got {method:?}", METHODS.join(", ")),
        );
    }
    let expect_status = match &raw.expect_status {
        None => defaults.expect_status,
        Some(list) => {
            if list.is_empty() {
                errors.push(format!("{path}.expect_status"), "must not be empty");
            }
            list.iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let parsed = status_match(s);
                    if parsed.is_none() {
                        errors.push(
                            format!("{path}.expect_status[{i}]"),
                            format!("must be a status 100-599 or a class like 2xx, got {s:?}"),
                        );
                    }
                    parsed
                })
                .collect()
        }
    };
    let mut headers = Vec::new();
    for (name, value) in raw.headers.iter().flatten() {
        let at = format!("{path}.headers.{name}");
        if let Err(why) = header_name(name) {
            errors.push(at, why);
        } else if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            // The value itself is never echoed: it may be a secret.
            errors.push(at, "value must not contain CR, LF or NUL");
        } else {
            headers.push((name.clone(), value.clone()));
        }
    }
    HttpSpec {
        path: path_value,
        method,
        expect_status,
        headers: HttpHeaders(headers),
    }
}

/// An HTTP header name (RFC 9110 token) that is not one the exporter sets itself.
fn header_name(name: &str) -> Result<(), String> {
    const TCHAR: &str = "!#$%&'*+-.^_`|~";
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || TCHAR.contains(c))
    {
        return Err(format!("must be an HTTP header name, got {name:?}"));
    }
    const OWN: [&str; 5] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "user-agent",
    ];
    if OWN.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("{name} is set by the exporter itself"));
    }
    Ok(())
}

fn status_match(raw: &RawStatus) -> Option<StatusMatch> {
    let exact = |n: i64| {
        (100..=599)
            .contains(&n)
            .then_some(StatusMatch::Exact(n as u16))
    };
    match raw {
        RawStatus::Code(n) => exact(*n),
        RawStatus::Text(t) => {
            let t = t.trim().to_ascii_lowercase();
            if let Some(class) = t.strip_suffix("xx") {
                match class.parse::<u8>() {
                    Ok(c) if (1..=5).contains(&c) => Some(StatusMatch::Class(c)),
                    _ => None,
                }
            } else {
                t.parse::<i64>().ok().and_then(exact)
            }
        }
    }
}

fn label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "label name must match [a-zA-Z_][a-zA-Z0-9_]*, got {name:?}"
        ));
    }
    if name.starts_with("__") {
        return Err("label names starting with __ are reserved by Prometheus".into());
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(format!("label {name:?} is set by the exporter itself"));
    }
    Ok(())
}

/// `IP` or `IP:port`; IPv6 with a port as `[::1]:53`.
fn parse_resolver(s: &str) -> Option<SocketAddr> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr);
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

fn show(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

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
