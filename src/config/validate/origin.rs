//! One origin, with `global`'s defaults applied: a step per concern (who and where it is, how the
//! CDN speaks to it, what is requested, which checks run, the durations, how the CDN connects,
//! labels, the client certificate), each reporting its mistakes under the origin's path. The
//! steps run in the order the fields are listed, so the errors come in that order.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::super::raw::{RawGlobal, RawOrigin};
use super::super::{Check, Compat, EdgeSpec, HttpSpec, Origin, ProtocolPolicy};
use super::fields::{compat_label, days, hostname, is_name_char, label_name};
use super::global::GlobalDefaults;
use super::http::{edge_spec, http_spec};
use super::network::{self, Connection, Protocols};
use super::timing::{self, millis, Timing};
use super::tls::{client_certificate, ssl_protocols};
use super::Errors;

/// Where a mistake in one of an origin's fields is reported: `{path}.{field}`.
pub(super) fn at(path: &str, field: &str) -> String {
    format!("{path}.{field}")
}

/// The origin at `path`, or `None` when any step found a mistake (all of them are reported).
pub(super) fn validate_origin(
    o: &RawOrigin,
    defaults: &RawGlobal,
    global: &GlobalDefaults,
    path: &str,
    errors: &mut Errors,
) -> Option<Origin> {
    let before = errors.0.len();
    let Identity {
        name,
        domain,
        host_header,
        address,
    } = identity(o, defaults, path, errors);
    let Protocols {
        protocol_policy,
        http_port,
        https_port,
    } = network::protocols(o, defaults, path, errors);
    let ssl_protocols = ssl_protocols(
        o.ssl_protocols.as_ref().or(defaults.ssl_protocols.as_ref()),
        global.global.cdn,
        &at(path, "ssl_protocols"),
        errors,
    );
    let http = o
        .http
        .as_ref()
        .or(defaults.http.as_ref())
        .map(|h| http_spec(h, &at(path, "http"), errors));
    let edge = o
        .edge
        .as_ref()
        .or(defaults.edge.as_ref())
        .and_then(|e| edge_spec(e, &at(path, "edge"), errors));
    let (checks, http) = checks(
        o,
        defaults,
        protocol_policy,
        http,
        edge.as_ref(),
        path,
        errors,
    );
    let Timing {
        interval,
        timeout,
        read_timeout,
        keepalive_timeout,
        response_completion_timeout,
    } = timing::origin(o, &global.times, path, errors);
    let expiry_warning_days = days(
        o.expiry_warning_days,
        &at(path, "expiry_warning_days"),
        errors,
    )
    .unwrap_or(global.expiry_warning_days);
    let Connection {
        ip_address_type,
        connection_timeout,
        connection_attempts,
    } = network::connection(o, defaults, address, path, errors);
    let labels = labels(o, defaults, global.global.compat, path, errors);
    let client_certificate = o
        .client_certificate
        .as_ref()
        .or(defaults.client_certificate.as_ref())
        .and_then(|c| client_certificate(c, &at(path, "client_certificate"), errors));

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
        labels,
        client_certificate: client_certificate.map(Box::new),
        large_fleet: global.global.large_fleet,
        compat: global.global.compat,
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

/// Who the origin is and where: its name, the domain the CDN resolves, the Host header it
/// sends, and a pinned address.
struct Identity {
    name: String,
    domain: String,
    host_header: Option<String>,
    address: Option<IpAddr>,
}

fn identity(o: &RawOrigin, defaults: &RawGlobal, path: &str, errors: &mut Errors) -> Identity {
    let name = match o.name.as_deref() {
        None => {
            errors.push(at(path, "name"), "is required");
            String::new()
        }
        Some(n) if n.is_empty() || !n.chars().all(is_name_char) => {
            errors.push(
                at(path, "name"),
                format!("must match [A-Za-z0-9_.-]+, got {n:?}"),
            );
            String::new()
        }
        Some(n) => n.to_string(),
    };
    let domain = match o.domain.as_deref() {
        None => {
            errors.push(at(path, "domain"), "is required");
            String::new()
        }
        Some(d) => hostname(d, &at(path, "domain"), errors),
    };
    let host_header = o
        .host_header
        .as_deref()
        .or(defaults.host_header.as_deref())
        .filter(|h| !h.is_empty())
        .map(|h| hostname(h, &at(path, "host_header"), errors));
    let address = match o.address.as_deref().or(defaults.address.as_deref()) {
        None | Some("") => None,
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errors.push(
                    at(path, "address"),
                    format!("must be an IP address, got {a:?}"),
                );
                None
            }
        },
    };
    Identity {
        name,
        domain,
        host_header,
        address,
    }
}

/// The checks that run: `checks:` as listed, or by default those the origin's settings call for
/// (TLS unless it is HTTP-only, HTTP and edge when their sections are there). A listed HTTP
/// check without its section gets the CDN's default request, returned with them.
fn checks(
    o: &RawOrigin,
    defaults: &RawGlobal,
    protocol_policy: ProtocolPolicy,
    mut http: Option<HttpSpec>,
    edge: Option<&EdgeSpec>,
    path: &str,
    errors: &mut Errors,
) -> (BTreeSet<Check>, Option<HttpSpec>) {
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
                        format!("{}[{i}]", at(path, "checks")),
                        format!(
                            "unknown check {name:?}; known: {}",
                            Check::ALL.map(Check::name).join(", ")
                        ),
                    ),
                }
            }
            if c.contains(&Check::Tls) && protocol_policy == ProtocolPolicy::HttpOnly {
                errors.push(
                    at(path, "checks"),
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
        errors.push(
            at(path, "checks"),
            "edge needs an edge section with its url",
        );
    }
    if checks.contains(&Check::Http) && http.is_none() {
        // Listing the check without its section means the CDN's default request.
        http = Some(HttpSpec::default());
    }
    (checks, http)
}

/// `global`'s labels with the origin's own over them, sorted by name.
fn labels(
    o: &RawOrigin,
    defaults: &RawGlobal,
    compat: Compat,
    path: &str,
    errors: &mut Errors,
) -> Vec<(String, String)> {
    // The global labels are checked once, under `global.labels` (see `validate_global`).
    for key in o.labels.iter().flat_map(|l| l.keys()) {
        if let Err(why) = label_name(key).and_then(|()| compat_label(key, compat)) {
            errors.push(format!("{}.{key}", at(path, "labels")), why);
        }
    }
    let mut labels: BTreeMap<String, String> = defaults.labels.clone().unwrap_or_default();
    labels.extend(o.labels.clone().unwrap_or_default());
    labels.into_iter().collect()
}
