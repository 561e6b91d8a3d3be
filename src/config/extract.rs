//! Reading the merged document (file and environment) into the raw config without stopping at
//! serde's first error: each unknown key and each value of the wrong type is reported with its
//! path (and the environment variable that gave it), taken out, and the rest read again.

use figment::error::{Actual, Kind};
use figment::value::{Dict, Value};
use figment::Figment;

use super::error::FieldError;
use super::load::ENV_PREFIX;
use super::RawConfig;

/// At most this many values of the wrong type are dropped and reported before giving up (each
/// costs one more pass over the document).
pub(super) const MAX_TYPE_ERRORS: usize = 100;

/// What [`extract`] gives: the raw config if one could be had, the errors, and the paths of
/// the values dropped for their type.
pub(super) struct Extracted {
    pub(super) raw: Option<RawConfig>,
    pub(super) errors: Vec<FieldError>,
    pub(super) dropped: Vec<String>,
}

/// Deserializes `value` into the raw config. serde stops at its first error, so each error
/// found is reported, its key taken out of the document, and deserialization tried again:
///
/// - An unknown key: the raw structs deny unknown fields, and serde names the known ones. Every
///   section of the same kind (all the origins, all their `http`) is then cleared of unknown
///   keys at once, so that a mistake repeated over 10,000 origins costs one more pass, not
///   10,000. The known keys come from the structs themselves: adding a field to one in `raw.rs`
///   is all it takes.
/// - A value of the wrong type: that value alone (at most [`MAX_TYPE_ERRORS`] of them).
pub(super) fn extract(figment: &Figment, mut value: Value) -> Extracted {
    let mut errors = Vec::new();
    let mut dropped = Vec::new();
    let mut replaced: Vec<Vec<String>> = Vec::new();
    loop {
        let error = match value.deserialize::<RawConfig>() {
            Ok(raw) => {
                return Extracted {
                    raw: Some(raw),
                    errors,
                    dropped,
                }
            }
            Err(e) => e,
        };
        let path = error.path.clone();
        let removed = match (&error.kind, path.split_last()) {
            (Kind::UnknownField(_, known), Some((_, section))) => {
                let mut at = Vec::new();
                drop_unknown_keys(&mut value, section, known, &mut at, &mut |path, v| {
                    errors.push(unknown_key(figment, path, v, known));
                })
            }
            _ => 0,
        };
        if removed > 0 {
            continue;
        }
        // serde took a value out of a list for one of the wrong type, then the empty map put in
        // its place for another: that list holds no maps, so it goes as a whole, silently. A
        // list that is itself an element of a list (an origin given as a list) becomes an empty
        // map in its turn, so that the elements after it keep their index and are still read.
        if replaced.contains(&path) {
            let parent = &path[..path.len() - 1];
            if parent.is_empty() || !set_aside(&mut value, parent) {
                return Extracted {
                    raw: None,
                    errors,
                    dropped,
                };
            }
            if parent.last().is_some_and(|p| p.parse::<usize>().is_ok()) {
                replaced.push(parent.to_vec());
            }
            dropped.push(render_path(parent));
            continue;
        }
        let source = value_at(&value, &path).and_then(|v| env_source(figment, &path, v));
        errors.push(FieldError::new(
            render_path(&path),
            format!("{}{}", describe(&error.kind), source.unwrap_or_default()),
        ));
        if dropped.len() >= MAX_TYPE_ERRORS {
            errors.push(FieldError::new(
                "",
                format!("stopped after {MAX_TYPE_ERRORS} values of the wrong type"),
            ));
        }
        if dropped.len() >= MAX_TYPE_ERRORS || !set_aside(&mut value, &path) {
            return Extracted {
                raw: None,
                errors,
                dropped,
            };
        }
        if path.last().is_some_and(|p| p.parse::<usize>().is_ok()) {
            replaced.push(path.clone());
        }
        dropped.push(render_path(&path));
    }
}

/// Removes from every map at `section` (indices there stand for every element of the list) the
/// keys not in `known`, calling `found` for each; returns how many it removed.
fn drop_unknown_keys(
    value: &mut Value,
    section: &[String],
    known: &[&str],
    at: &mut Vec<String>,
    found: &mut dyn FnMut(&[String], &Value),
) -> usize {
    match (section.split_first(), value) {
        (None, Value::Dict(_, dict)) => {
            let unknown: Vec<String> = dict
                .keys()
                .filter(|k| !known.contains(&k.as_str()))
                .cloned()
                .collect();
            for key in &unknown {
                if let Some(v) = dict.remove(key) {
                    at.push(key.clone());
                    found(at, &v);
                    at.pop();
                }
            }
            unknown.len()
        }
        (Some((key, rest)), Value::Dict(_, dict)) => match dict.get_mut(key) {
            Some(child) => {
                at.push(key.clone());
                let n = drop_unknown_keys(child, rest, known, at, found);
                at.pop();
                n
            }
            None => 0,
        },
        (Some((index, rest)), Value::Array(_, items)) if index.parse::<usize>().is_ok() => {
            let mut n = 0;
            for (i, child) in items.iter_mut().enumerate() {
                at.push(i.to_string());
                n += drop_unknown_keys(child, rest, known, at, found);
                at.pop();
            }
            n
        }
        _ => 0,
    }
}

fn unknown_key(figment: &Figment, path: &[String], value: &Value, known: &[&str]) -> FieldError {
    let source = env_source(figment, path, value).unwrap_or_default();
    FieldError::new(
        render_path(path),
        format!("unknown key{source}; expected one of {}", known.join(", ")),
    )
}

/// ` (from ORIGIN_EXPORTER_X)` when the environment gave `value`, else `None`.
fn env_source(figment: &Figment, path: &[String], value: &Value) -> Option<String> {
    let from_env = figment
        .get_metadata(value.tag())
        .is_some_and(|m| m.name.contains("environment"));
    if !from_env {
        return None;
    }
    Some(match path {
        [global, key] if global == "global" => {
            format!(
                " (from the environment variable {ENV_PREFIX}{})",
                key.to_uppercase()
            )
        }
        _ => format!(" (from an {ENV_PREFIX}* environment variable)"),
    })
}

/// serde's message for a value it could not take, in the words of the rest of the errors.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!(
                "expected {}, got {}",
                plain_type(expected),
                plain_value(actual)
            )
        }
        Kind::Message(m) if m.contains("untagged enum RawStatus") => {
            "expected a status code (200) or class (\"2xx\")".to_string()
        }
        Kind::UnknownField(key, known) => {
            format!("unknown key {key:?}; expected one of {}", known.join(", "))
        }
        other => other.to_string(),
    }
}

/// serde's names of types (`i64`, `a sequence`) in words.
fn plain_type(expected: &str) -> String {
    match expected {
        "i64" | "u64" | "i32" | "u32" | "u16" | "u8" => "an integer".into(),
        "a sequence" => "a list".into(),
        "a boolean" | "a string" | "a map" => expected.into(),
        other if other.starts_with("struct ") => "a map".into(),
        other => other.into(),
    }
}

/// What the document had instead, as YAML would show it.
fn plain_value(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Str(s) => format!("{s:?}"),
        Actual::Unit | Actual::Option => "null".into(),
        Actual::Seq => "a list".into(),
        Actual::Map => "a map".into(),
        other => other.to_string(),
    }
}

fn value_at<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, part| match v {
        Value::Dict(_, dict) => dict.get(part),
        Value::Array(_, items) => items.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

fn value_at_mut<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, part| match v {
        Value::Dict(_, dict) => dict.get_mut(part),
        Value::Array(_, items) => items.get_mut(part.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Removes the key at `path` from its map; false when there is none.
fn remove_at(value: &mut Value, path: &[String]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    match value_at_mut(value, parent) {
        Some(Value::Dict(_, dict)) => dict.remove(last).is_some(),
        _ => false,
    }
}

/// Takes a value of the wrong type out of the way: a key is removed from its map; an element of
/// a list becomes an empty map, so that the elements after it keep their index (an origin
/// given as a string then shows as an origin without keys, whose errors are not reported).
fn set_aside(value: &mut Value, path: &[String]) -> bool {
    if remove_at(value, path) {
        return true;
    }
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let item = match value_at_mut(value, parent) {
        Some(Value::Array(_, items)) => last.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    };
    item.map(|item| *item = Value::from(Dict::new())).is_some()
}

pub(super) fn figment_errors(error: figment::Error) -> Vec<FieldError> {
    error
        .into_iter()
        .map(|e| {
            let path = render_path(&e.path);
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let mut message = e.kind.to_string();
            if from_env {
                message.push_str(" (from an ORIGIN_EXPORTER_* environment variable)");
            }
            FieldError::new(path, message)
        })
        .collect()
}

/// `["origins", "2", "https_port"]` → `origins[2].https_port`.
pub(super) fn render_path(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths_like_the_spec() {
        let parts = ["origins", "2", "https_port"].map(String::from);
        assert_eq!(render_path(&parts), "origins[2].https_port");
    }
}
