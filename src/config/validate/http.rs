//! The request sections: `http` (what the HTTP check asks the origin and which answers it
//! accepts) and `edge` (the CDN URL the edge check requests).

use std::net::IpAddr;

use super::super::raw::{RawEdge, RawHttp, RawStatus};
use super::super::{EdgeSpec, HttpHeaders, HttpSpec, Scheme, StatusMatch};
use super::Errors;

/// `edge`: an absolute `http://` or `https://` URL with a host, and how to check its answer.
pub(super) fn edge_spec(raw: &RawEdge, path: &str, errors: &mut Errors) -> Option<EdgeSpec> {
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

pub(super) fn http_spec(raw: &RawHttp, path: &str, errors: &mut Errors) -> HttpSpec {
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
