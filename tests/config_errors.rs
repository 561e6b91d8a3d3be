//! `origin_exporter config check` reports every mistake of a config at once, each with its path,
//! unknown keys included.

mod lab;

use lab::config_check;

const FOUR_MISTAKES: &str = "global:
  interval: 30s
  timout: 5s
origins:
  - name: shop
    domain: origin.shop.example.com
    https_port: 70000
  - name: api
    domain: api.example.com
    intervall: 5s
    timeout: 10q
";

#[test]
fn four_mistakes_are_four_errors_with_their_paths() {
    let (code, out) = config_check(FOUR_MISTAKES, &[]);
    assert_eq!(code, 2, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let expected_starts = [
        "DIR/config.yaml: global.timout: unknown key; expected one of interval, timeout, concurrency,",
        "DIR/config.yaml: origins[0].https_port: must be 1-65535, got 70000",
        "DIR/config.yaml: origins[1].intervall: unknown key; expected one of name, domain, host_header,",
        "DIR/config.yaml: origins[1].timeout: invalid duration \"10q\"",
        "DIR/config.yaml: 4 error(s)",
    ];
    assert_eq!(lines.len(), expected_starts.len(), "{out}");
    for (line, start) in lines.iter().zip(expected_starts) {
        assert!(
            line.starts_with(start),
            "expected {start:?}, got {line:?}\n{out}"
        );
    }
}

#[test]
fn unknown_key_messages_quote_cleanly() {
    let (_, out) = config_check(FOUR_MISTAKES, &[]);
    let unknown: Vec<&str> = out.lines().filter(|l| l.contains("unknown key")).collect();
    assert_eq!(unknown.len(), 2, "{out}");
    for line in unknown {
        // Plain names, comma-separated: no backticks, no "one of" inside quotes.
        assert!(!line.contains('`') && !line.contains('"'), "{line}");
        let list = line.split_once("expected one of ").unwrap().1;
        assert!(
            list.split(", ")
                .all(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
            "{line}"
        );
        assert!(list.split(", ").any(|k| k == "interval"), "{line}");
    }
}

#[test]
fn an_unknown_environment_override_is_named_and_reported_with_the_rest() {
    let (code, out) = config_check(
        FOUR_MISTAKES,
        &[
            ("ORIGIN_EXPORTER_COLOUR", "red"),
            ("ORIGIN_EXPORTER_INTERVAL", "soon"),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("global.colour: unknown key (from the environment variable ORIGIN_EXPORTER_COLOUR); expected one of interval,"),
        "{out}"
    );
    assert!(
        out.contains("global.interval: invalid duration \"soon\""),
        "{out}"
    );
    assert!(out.contains("origins[1].intervall: unknown key"), "{out}");
    assert!(out.contains("6 error(s)"), "{out}");
}

#[test]
fn a_valid_config_with_an_override_passes() {
    let (code, out) = config_check(
        "origins:\n  - {name: a, domain: a.example.com}\n",
        &[("ORIGIN_EXPORTER_INTERVAL", "30s")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK (1 origin)"), "{out}");
}

/// A user label may not take a name the exporter writes: each is named with its path, under
/// `global.labels` once and under the origin whose own `labels` hold it.
#[test]
fn labels_the_exporter_writes_are_refused_by_name() {
    let (code, out) = config_check(
        "global:
  labels: {revision: r1, team: web}
origins:
  - name: shop
    domain: origin.shop.example.com
    labels: {parent_zone: example.com, tier: gold}
  - name: api
    domain: api.example.com
",
        &[],
    );
    assert_eq!(code, 2, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "DIR/config.yaml: global.labels.revision: label \"revision\" is set by the exporter itself",
            "DIR/config.yaml: origins[0].labels.parent_zone: label \"parent_zone\" is set by the exporter itself",
            "DIR/config.yaml: 2 error(s)",
        ],
        "{out}"
    );
}

/// Every `global` key can be set from the environment as `ORIGIN_EXPORTER_<KEY>`: each one set
/// to a value of the wrong type for every key (a map holding a list) is read into its own key
/// and reported there as coming from the environment, none as an unknown `global` key. The keys are those the
/// exporter itself names for `global`, so a key added later is covered too.
#[test]
fn every_global_key_can_be_set_from_the_environment() {
    let (_, out) = config_check(
        "origins:\n  - {name: a, domain: a.example.com}\n",
        &[("ORIGIN_EXPORTER_NOT_A_KEY", "1")],
    );
    let keys: Vec<String> = out
        .lines()
        .find_map(|l| l.split_once("global.not_a_key: unknown key"))
        .and_then(|(_, rest)| rest.split_once("expected one of "))
        .map(|(_, list)| list.split(", ").map(str::to_string).collect())
        .unwrap_or_else(|| panic!("no list of global keys in {out}"));
    assert!(keys.len() >= 30, "{keys:?}");
    let variables: Vec<(String, &str)> = keys
        .iter()
        .map(|k| (format!("ORIGIN_EXPORTER_{}", k.to_uppercase()), "{a=[1]}"))
        .collect();
    let env: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let (code, out) = config_check("origins:\n  - {name: a, domain: a.example.com}\n", &env);
    assert_eq!(code, 2, "{out}");
    for key in &keys {
        let at = format!("DIR/config.yaml: global.{key}");
        assert!(
            !out.contains(&format!("{at}: unknown key")),
            "{key} unknown:\n{out}"
        );
        // The key itself, or the section's own key (`global.http.a`: the value reached `http`).
        assert!(
            out.lines().any(|l| l.starts_with(&at)
                && l[at.len()..].starts_with([':', '.'])
                && l.contains("environment variable")),
            "{key} not read from the environment:\n{out}"
        );
    }
}
