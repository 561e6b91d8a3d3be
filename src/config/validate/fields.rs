//! Checks of single values that every section shares: names, durations, ports, day counts,
//! label names. Each reports a mistake under the path it is given and returns what the value
//! becomes (or the default).

use std::time::Duration;

use super::super::{parse_duration, Compat};
use super::Errors;

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

pub(super) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// A DNS name as the CDN would accept it for an origin: letters, digits, `-`, `_`, dots.
pub(super) fn hostname(name: &str, path: &str, errors: &mut Errors) -> String {
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
pub(super) fn duration(
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

pub(super) fn port(value: Option<i64>, path: &str, default: u16, errors: &mut Errors) -> u16 {
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

pub(super) fn days(value: Option<i64>, path: &str, errors: &mut Errors) -> Option<u32> {
    let d = value?;
    match u32::try_from(d) {
        Ok(d) if d <= 3650 => Some(d),
        _ => {
            errors.push(path, format!("must be 0-3650, got {d}"));
            None
        }
    }
}

pub(super) fn label_name(name: &str) -> Result<(), String> {
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

/// A label a compatibility series writes itself cannot be one of the origin's `labels` too.
pub(super) fn compat_label(name: &str, compat: Compat) -> Result<(), String> {
    if compat.blackbox && crate::compat::blackbox::LABELS.contains(&name) {
        return Err(format!(
            "label {name:?} is set by the blackbox_exporter series (global.compat: [blackbox])"
        ));
    }
    Ok(())
}

pub(super) fn show(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
