//! Reading the file: figment merges the YAML file with `ORIGIN_EXPORTER_*` environment overrides
//! of `global` keys (read into the raw config by `extract.rs`), and a long `origins` list is
//! read one item at a time (cut by `split.rs`). figment's own YAML provider uses the deprecated
//! `serde_yaml`, so the format here is a small one over `serde_norway`.

use std::path::Path;

use figment::error::Kind;
use figment::providers::{Env, Format};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;

use super::error::{in_document_order, is_within, reading_order, FieldError, LoadError};
use super::extract::{extract, figment_errors, Extracted, MAX_TYPE_ERRORS};
use super::split::{split, Split};
use super::{Config, RawConfig, Validator};

/// YAML for figment, via `serde_norway`.
struct Yaml;

impl Format for Yaml {
    type Error = serde_norway::Error;
    const NAME: &'static str = "YAML";

    fn from_str<T: DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        serde_norway::from_str(string)
    }
}

/// Loads and validates a config file, with environment overrides.
pub fn load(file: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    load_str(&text, file)
}

/// Loads and validates config text; `file` names it in errors.
///
/// Every mistake is reported, not only the first: keys that no section knows, values of the
/// wrong YAML type, and what [`validate`] finds in the rest.
pub fn load_str(text: &str, file: &Path) -> Result<Config, LoadError> {
    // A long `origins` list is read one origin at a time (see split.rs).
    match split(text) {
        Some(cut) => load_cut(&cut, file).unwrap_or_else(|| load_whole(text, file)),
        None => load_whole(text, file),
    }
}

/// The whole document at once: every origin's raw form held until all are validated.
pub(super) fn load_whole(text: &str, file: &Path) -> Result<Config, LoadError> {
    let Read {
        raw,
        mut errors,
        dropped,
    } = match read_document(text) {
        Ok(read) => read,
        Err(mut errors) => {
            reading_order(&mut errors);
            return Err(invalid(file, errors));
        }
    };
    let mut validator = Validator::new(&raw);
    for (i, o) in raw.origins.iter().enumerate() {
        validator.origin(i, o);
    }
    finish(validator, &mut errors, &dropped).map_err(|errors| invalid(file, errors))
}

/// The document without its `origins` list, then each item on its own, validated as soon as it
/// is read and dropped: what is held is the validated origins. `None` when an item is no YAML on
/// its own (the whole document is then read instead, for the parser's own message).
fn load_cut(cut: &Split, file: &Path) -> Option<Result<Config, LoadError>> {
    let Read {
        raw,
        mut errors,
        mut dropped,
    } = match read_document(&cut.rest) {
        Ok(read) => read,
        Err(mut errors) => {
            reading_order(&mut errors);
            return Some(Err(invalid(file, errors)));
        }
    };
    let mut validator = Validator::new(&raw);
    let no_environment = Figment::new();
    for (i, item) in cut.items.iter().enumerate() {
        let value: Value = Yaml::from_str(&item.document()).ok()?;
        let mut document = Dict::new();
        document.insert("origins".into(), Value::from(vec![value]));
        // The item as the document `{origins: [item]}`: every message and rule is the one of
        // the whole-document path, renumbered.
        let one = extract(&no_environment, Value::from(document));
        let renumber = |path: String| match path.strip_prefix("origins[0]") {
            Some(rest) => format!("origins[{i}]{rest}"),
            None => path,
        };
        errors.extend(
            one.errors
                .into_iter()
                .map(|e| FieldError::new(renumber(e.path), e.message)),
        );
        dropped.extend(one.dropped.into_iter().map(renumber));
        let Some(origin) = one.raw.and_then(|r| r.origins.into_iter().next()) else {
            reading_order(&mut errors);
            return Some(Err(invalid(file, errors)));
        };
        if dropped.len() >= MAX_TYPE_ERRORS {
            errors.push(FieldError::new(
                "",
                format!("stopped after {MAX_TYPE_ERRORS} values of the wrong type"),
            ));
            reading_order(&mut errors);
            return Some(Err(invalid(file, errors)));
        }
        validator.origin(i, &origin);
    }
    Some(finish(validator, &mut errors, &dropped).map_err(|errors| invalid(file, errors)))
}

fn invalid(file: &Path, errors: Vec<FieldError>) -> LoadError {
    LoadError::Invalid {
        file: file.to_path_buf(),
        errors,
    }
}

/// A document read into the raw config, with what [`extract`] found on the way.
struct Read {
    raw: RawConfig,
    errors: Vec<FieldError>,
    dropped: Vec<String>,
}

/// Reads `text` merged with the environment's `global` overrides. The errors when no raw config
/// could be had.
fn read_document(text: &str) -> Result<Read, Vec<FieldError>> {
    // An empty file is a document with no keys, which validation then reports properly.
    let figment = if text.trim().is_empty() {
        Figment::new()
    } else {
        Figment::from(Yaml::string(text))
    }
    .merge(Env::prefixed(ENV_PREFIX).map(|key| format!("global.{}", key.as_str()).into()));
    let value = match figment.find_value("") {
        Ok(value) => value,
        // Neither the file nor the environment gave a key.
        Err(e) if matches!(e.kind, Kind::MissingField(_)) => Value::from(Dict::new()),
        Err(e) => return Err(figment_errors(e)),
    };
    let Extracted {
        raw,
        errors,
        dropped,
    } = extract(&figment, value);
    match raw {
        Some(raw) => Ok(Read {
            raw,
            errors,
            dropped,
        }),
        None => Err(errors),
    }
}

/// The validated config, or every error: those of reading first, then validation's, except
/// those about a value already reported (and dropped) for its type.
fn finish(
    validator: Validator,
    errors: &mut Vec<FieldError>,
    dropped: &[String],
) -> Result<Config, Vec<FieldError>> {
    reading_order(errors);
    match validator.finish() {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(in_document_order(std::mem::take(errors))),
        Err(more) => {
            // A value dropped for its type is reported once, not again as missing.
            errors.extend(
                more.into_iter()
                    .filter(|e| !dropped.iter().any(|d| is_within(&e.path, d))),
            );
            Err(in_document_order(std::mem::take(errors)))
        }
    }
}

pub(super) const ENV_PREFIX: &str = "ORIGIN_EXPORTER_";

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading the origins one by one gives exactly what reading the whole document gives: the
    /// same config, or the same errors in the same order.
    #[test]
    fn origins_read_one_by_one_equal_the_whole_document() {
        let file = Path::new("c.yaml");
        for text in [
            "origins:\n  - {name: a, domain: a.example}\n  - name: b\n    domain: b.example\n    labels: {team: pay}\n",
            "global: {interval: 30s}\norigins: [{name: a, domain: a.example, https_port: 8443}]\n",
            // Unknown keys, repeated; a wrong type; a duplicate name; a scalar item; a missing name.
            "origins:\n  - {name: a, domain: a.example, colour: red}\n  - {name: a, domain: b.example, colour: blue, https_port: many}\n  - 42\n  - {domain: c.example}\n",
            "global: {intervall: 1m}\norigins:\n  - {name: a, domain: a.example, http: {path: /, methd: GET}}\n",
            "origins:\n  - {name: a, domain: a.example, checks: tls}\n  - {name: b, domain: b.example, ssl_protocols: [TLSv9]}\n",
            "origins: []\n",
            // An indentless list, and a quoted key.
            "global: {interval: 2s}\norigins:\n- {name: a, domain: a.example}\n- name: b\n  domain: b.example\n",
            "\"origins\":\n  - {name: a, domain: a.example}\n",
            // Found by the property test (split_props.rs): an origin given as a list, then
            // another origin whose mistakes must still be reported; a type error and an unknown
            // key in one origin, which serde meets in another order when it reads one origin.
            "origins:\r\n  - {colour: red}\r\n  -\r\n    - 1\r\n    - 1\r\n  - {address: 127.0.0.1, interval: 10x, colour: red, https_port: many}\r\n",
            "origins: [{colour: red, http: {methd: GET}}, {colour: red, http: {expect_status: [true, 200], methd: GET}, labels: {tier: 1}}]\n",
        ] {
            let cut = split(text).expect("a document that can be cut");
            let one_by_one = load_cut(&cut, file).expect("every item is YAML");
            let whole = load_whole(text, file);
            assert_eq!(
                format!("{one_by_one:?}"),
                format!("{whole:?}"),
                "{text}"
            );
        }
    }

    /// An item that is no YAML on its own (here: broken flow syntax the streaming parser took
    /// differently) makes the whole document be read, for the parser's own message.
    #[test]
    fn an_item_that_is_no_yaml_alone_falls_back_to_the_whole_document() {
        let cut = Split {
            rest: "origins: []\n".into(),
            items: vec![crate::config::split::Item {
                indent: 0,
                text: "{name: a, domain: [",
            }],
        };
        assert!(load_cut(&cut, Path::new("c.yaml")).is_none());
    }

    fn errors(text: &str) -> Vec<String> {
        match load_str(text, Path::new("c.yaml")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.field_errors().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn an_unknown_key_does_not_hide_the_other_errors() {
        let got = errors(
            "global: {interval: 10x, colour: red}
origins:
  - {name: a, domain: a.example.com, https_port: 0}
  - {name: b, domain: b.example.com, intervall: 5s}
",
        );
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(
            got[0].starts_with("global.colour: unknown key; expected one of interval, timeout, "),
            "{got:#?}"
        );
        assert_eq!(
            got[1],
            "global.interval: invalid duration \"10x\": unknown unit \"x\""
        );
        assert_eq!(got[2], "origins[0].https_port: must be 1-65535, got 0");
        assert!(
            got[3].starts_with("origins[1].intervall: unknown key; expected one of name, domain, "),
            "{got:#?}"
        );
        assert!(!got.iter().any(|e| e.contains('`')), "{got:#?}");
    }

    #[test]
    fn unknown_keys_are_found_in_every_section() {
        let got = errors(
            "version: 2
global: {http: {pth: /}, resolver: [1.1.1.1]}
origins:
  - {name: a, domain: a.example.com, http: {path: /, statuses: [200]}, labels: {any: thing}}
  - {name: b, domain: b.example.com, http: {methd: HEAD}, port: 8443}
",
        );
        let paths: Vec<&str> = got.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "version",
                "global.http.pth",
                "global.resolver",
                "origins[0].http.statuses",
                "origins[1].http.methd",
                "origins[1].port",
            ],
            "{got:#?}"
        );
        assert!(
            got[0].ends_with("unknown key; expected one of global, origins, discovery"),
            "{got:#?}"
        );
        assert!(
            got[1].ends_with("expected one of path, method, expect_status, headers"),
            "{got:#?}"
        );
    }

    #[test]
    fn a_key_mistyped_in_every_origin_is_reported_for_each_in_one_pass() {
        let mut text = String::from("origins:\n");
        for i in 0..2000 {
            text.push_str(&format!(
                "  - {{name: o{i}, domain: o{i}.example.com, intervall: 5s}}\n"
            ));
        }
        let started = std::time::Instant::now();
        let got = errors(&text);
        assert_eq!(got.len(), 2000);
        assert!(
            got[1999].starts_with("origins[1999].intervall: unknown key"),
            "{}",
            got[1999]
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn values_of_the_wrong_type_are_reported_with_the_rest_and_once() {
        let got = errors(
            "global: {concurrency: many, allow_adhoc_targets: yes please}
origins:
  - just-a-name
  - {name: b, domain: [b.example.com], https_port: 0, checks: [tcp, 5], colour: red}
  - {name: c, domain: c.example.com, http: {expect_status: [200, true]}}
",
        );
        assert_eq!(
            got,
            [
                "global.allow_adhoc_targets: expected a boolean, got \"yes please\"",
                "global.concurrency: expected an integer, got \"many\"",
                "origins[0]: expected a map, got \"just-a-name\"",
                "origins[1].checks[1]: expected a string, got 5",
                "origins[1].colour: unknown key; expected one of name, domain, host_header, address, protocol_policy, http_port, https_port, ssl_protocols, http, checks, interval, timeout, read_timeout, expiry_warning_days, labels, ip_address_type, connection_timeout, connection_attempts, keepalive_timeout, response_completion_timeout, edge, client_certificate",
                "origins[1].domain: expected a string, got a list",
                "origins[1].https_port: must be 1-65535, got 0",
                "origins[2].http.expect_status[1]: expected a status code (200) or class (\"2xx\")",
            ],
            "{got:#?}"
        );
    }

    /// An origin given as a list is one error, and the origins after it are still read and
    /// validated at their own index.
    #[test]
    fn an_origin_given_as_a_list_hides_nothing_after_it() {
        let got = errors(
            "origins:\n  - [1, 2]\n  - {name: b, domain: b.example, https_port: many, colour: red}\n",
        );
        assert_eq!(
            got,
            [
                "origins[0][0]: expected a string, got 1",
                "origins[1].colour: unknown key; expected one of name, domain, host_header, address, protocol_policy, http_port, https_port, ssl_protocols, http, checks, interval, timeout, read_timeout, expiry_warning_days, labels, ip_address_type, connection_timeout, connection_attempts, keepalive_timeout, response_completion_timeout, edge, client_certificate",
                "origins[1].https_port: expected an integer, got \"many\"",
            ],
            "{got:#?}"
        );
    }

    #[test]
    fn a_document_that_is_not_a_map_is_one_error() {
        let got = errors("- a\n- b\n");
        assert_eq!(got.len(), 1, "{got:#?}");
    }

    #[test]
    fn a_valid_config_still_loads() {
        let c = load_str(
            "global: {interval: 30s}\norigins:\n  - {name: a, domain: a.example.com, http: {path: /}}\n",
            Path::new("c.yaml"),
        )
        .expect("valid");
        assert_eq!(c.origins.len(), 1);
    }
}
