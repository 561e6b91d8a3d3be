//! Config validation at its boundaries, through `validate` as the loader calls it: each rule's
//! last accepted value and first rejected one, and exactly what an accepted value becomes.
//! Beside `validate.rs` (whose own tests cover the error paths and messages) so that the rules
//! can change without these tables moving.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::raw::{RawClientCertificate, RawOrigin};
use super::validate::validate_with_defaults;
use super::{validate, Check, Config, FieldError, RawConfig, RawGlobal, Scheme, StatusMatch};

fn parse(yaml: &str) -> Result<Config, Vec<FieldError>> {
    let raw: RawConfig = serde_norway::from_str(yaml).expect("test YAML parses");
    validate(&raw)
}

/// The error messages of a config, or none when it is valid.
fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// One origin `a` with `fields` (YAML flow-mapping entries) added.
fn origin_errors(fields: &str) -> Vec<String> {
    errors(&format!(
        "origins: [{{name: a, domain: a.example.com, {fields}}}]"
    ))
}

fn origin(fields: &str) -> super::Origin {
    let yaml = format!("origins: [{{name: a, domain: a.example.com, {fields}}}]");
    let cfg = parse(&yaml).unwrap_or_else(|e| panic!("{fields}: {e:?}"));
    (*cfg.origins[0]).clone()
}

#[test]
fn names_are_letters_digits_dot_dash_underscore() {
    assert!(errors("origins: [{name: web_1.eu-west, domain: a.example.com}]").is_empty());
    assert_eq!(
        errors("origins: [{name: '', domain: a.example.com}]"),
        ["origins[0].name: must match [A-Za-z0-9_.-]+, got \"\""]
    );
    assert_eq!(
        errors("origins: [{name: 'a/b', domain: a.example.com}]"),
        ["origins[0].name: must match [A-Za-z0-9_.-]+, got \"a/b\""]
    );
    assert_eq!(
        errors("origins: [{domain: a.example.com}]"),
        ["origins[0].name: is required"]
    );
}

#[test]
fn domains_are_dns_names_within_the_length_limits() {
    let label63 = "a".repeat(63);
    let ok = |d: &str| origin_errors(&format!("host_header: {d}")).is_empty();
    assert!(ok(&format!("{label63}.example.com")));
    assert!(!ok(&format!("a{label63}.example.com")), "a 64-byte label");
    // 253 bytes in all is the longest name.
    // Three 63-byte labels and one of `last` bytes: 253 bytes with a last label of 61.
    let name = |last: usize| format!("{0}.{0}.{0}.{1}", "b".repeat(63), "c".repeat(last));
    assert_eq!(name(61).len(), 253);
    assert!(ok(&name(61)));
    assert!(!ok(&name(62)));
    for good in ["_dmarc.example.com", "x-1.example.com", "example.com."] {
        assert!(ok(good), "{good}");
    }
    for bad in [
        "a..example.com",
        "a b.example.com",
        "a*.example.com",
        "é.example.com",
    ] {
        assert!(!ok(&format!("'{bad}'")), "{bad}");
    }
    // Normalised: lower case, without the trailing dot.
    let cfg =
        parse("origins: [{name: a, domain: Shop.Example.COM., host_header: WWW.Example.com}]")
            .unwrap();
    let o = &cfg.origins[0];
    assert_eq!(o.domain, "shop.example.com");
    assert_eq!(o.host_header.as_deref(), Some("www.example.com"));
    assert_eq!(
        origin_errors("host_header: 'bad name'"),
        ["origins[0].host_header: must be a DNS name, got \"bad name\""]
    );
    // An empty host_header means none.
    assert_eq!(origin("host_header: ''").host_header, None);
}

#[test]
fn ports_are_1_to_65535() {
    let o = origin("http_port: 1, https_port: 65535");
    assert_eq!((o.http_port, o.https_port), (1, 65535));
    for bad in [0, 65536, -1] {
        assert_eq!(
            origin_errors(&format!("https_port: {bad}")),
            [format!("origins[0].https_port: must be 1-65535, got {bad}")]
        );
    }
}

#[test]
fn expiry_warning_days_are_0_to_3650() {
    assert_eq!(origin("expiry_warning_days: 0").expiry_warning_days, 0);
    assert_eq!(
        origin("expiry_warning_days: 3650").expiry_warning_days,
        3650
    );
    assert_eq!(origin("expiry_warning_days: 7").expiry_warning_days, 7);
    assert_eq!(
        origin_errors("expiry_warning_days: 3651"),
        ["origins[0].expiry_warning_days: must be 0-3650, got 3651"]
    );
    assert_eq!(
        origin_errors("expiry_warning_days: -1"),
        ["origins[0].expiry_warning_days: must be 0-3650, got -1"]
    );
    // The global value is the default.
    let cfg =
        parse("global: {expiry_warning_days: 9}\norigins: [{name: a, domain: a.example}]").unwrap();
    assert_eq!(cfg.origins[0].expiry_warning_days, 9);
}

#[test]
fn concurrency_and_connection_attempts_within_their_ranges() {
    for n in [1, 100_000] {
        let cfg = parse(&format!(
            "global: {{concurrency: {n}}}\norigins: [{{name: a, domain: a.example}}]"
        ))
        .unwrap();
        assert_eq!(cfg.global.concurrency, n);
    }
    assert_eq!(
        errors("global: {concurrency: 100001}\norigins: [{name: a, domain: a.example}]"),
        ["global.concurrency: must be 1-100000, got 100001"]
    );
    for n in [1, 3] {
        assert_eq!(
            origin(&format!("connection_attempts: {n}")).connection_attempts,
            n
        );
    }
    for bad in [0, 4] {
        assert_eq!(
            origin_errors(&format!("connection_attempts: {bad}")),
            [format!(
                "origins[0].connection_attempts: must be 1-3, got {bad}"
            )]
        );
    }
}

#[test]
fn a_timeout_may_equal_the_interval_but_not_exceed_it() {
    let o = origin("interval: 10s, timeout: 10s");
    assert_eq!(
        (o.interval, o.timeout),
        (Duration::from_secs(10), Duration::from_secs(10))
    );
    assert_eq!(
        origin_errors("interval: 10s, timeout: 10001ms"),
        ["origins[0].timeout: must not exceed interval (10s)"]
    );
    // Without its own timeout, an origin's is the global one, cut to its interval.
    let o = origin("interval: 3s");
    assert_eq!(o.timeout, Duration::from_secs(3));
    assert!(
        errors("global: {interval: 5s, timeout: 5s}\norigins: [{name: a, domain: a.example}]")
            .is_empty()
    );
    assert_eq!(
        errors("global: {interval: 5s, timeout: 6s}\norigins: [{name: a, domain: a.example}]"),
        ["global.timeout: must not exceed interval (5s)"]
    );
}

#[test]
fn durations_are_checked_against_both_bounds() {
    // connection_timeout: 1-10 s (CloudFront's bounds).
    assert_eq!(
        origin("connection_timeout: 1s").connection_timeout,
        Duration::from_secs(1)
    );
    assert_eq!(
        origin("connection_timeout: 10s").connection_timeout,
        Duration::from_secs(10)
    );
    assert_eq!(
        origin_errors("connection_timeout: 999ms"),
        ["origins[0].connection_timeout: must be 1s to 10s, got 0.999s"]
    );
    assert_eq!(
        origin_errors("connection_timeout: 10001ms"),
        ["origins[0].connection_timeout: must be 1s to 10s, got 10.001s"]
    );
    assert_eq!(
        origin_errors("connection_timeout: 0s"),
        ["origins[0].connection_timeout: must be greater than 0"]
    );
    assert_eq!(
        origin_errors("read_timeout: 2x"),
        ["origins[0].read_timeout: invalid duration \"2x\": unknown unit \"x\""]
    );
}

#[test]
fn keepalive_timeout_is_cloudfronts_one_to_180_seconds_default_5() {
    assert_eq!(origin("").keepalive_timeout(), Duration::from_secs(5));
    for (given, want) in [("1s", 1), ("75s", 75), ("180s", 180)] {
        assert_eq!(
            origin(&format!("keepalive_timeout: {given}")).keepalive_timeout(),
            Duration::from_secs(want)
        );
    }
    assert_eq!(
        origin_errors("keepalive_timeout: 999ms"),
        ["origins[0].keepalive_timeout: must be 1s to 180s, got 0.999s"]
    );
    assert_eq!(
        origin_errors("keepalive_timeout: 181s"),
        ["origins[0].keepalive_timeout: must be 1s to 180s, got 181s"]
    );
    // `global` gives the default and names itself in its errors.
    let cfg =
        parse("global: {keepalive_timeout: 2s}\norigins: [{name: a, domain: a.example}]").unwrap();
    assert_eq!(cfg.origins[0].keepalive_timeout(), Duration::from_secs(2));
    assert_eq!(
        errors("global: {keepalive_timeout: 0s}\norigins: [{name: a, domain: a.example}]"),
        ["global.keepalive_timeout: must be greater than 0"]
    );
}

#[test]
fn response_completion_timeout_is_unset_by_default_and_never_below_read_timeout() {
    assert_eq!(origin("").response_completion_timeout(), None);
    assert_eq!(
        origin("response_completion_timeout: 30s").response_completion_timeout(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        origin("read_timeout: 5s, response_completion_timeout: 5s").response_completion_timeout(),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        origin_errors("response_completion_timeout: 29s"),
        ["origins[0].response_completion_timeout: must be at least read_timeout (30s), as CloudFront requires, got 29s"]
    );
    assert_eq!(
        origin_errors("response_completion_timeout: 86401s"),
        ["origins[0].response_completion_timeout: must be 1s to 86400s, got 86401s"]
    );
    // From `global`: reported there once, not again per origin.
    let both_global = "global: {read_timeout: 10s, response_completion_timeout: 9s}
origins: [{name: a, domain: a.example}, {name: b, domain: b.example}]";
    assert_eq!(
        errors(both_global),
        ["global.response_completion_timeout: must be at least read_timeout (10s), as CloudFront requires, got 9s"]
    );
    // An origin's own read_timeout above the global bound names the origin's field.
    assert_eq!(
        errors(
            "global: {read_timeout: 10s, response_completion_timeout: 20s}
origins: [{name: a, domain: a.example, read_timeout: 15s}, {name: b, domain: b.example, read_timeout: 21s}]"
        ),
        ["origins[1].read_timeout: must not exceed response_completion_timeout (20s, from global), as CloudFront requires, got 21s"]
    );
    // Equal to read_timeout is allowed in `global` too.
    let equal = parse(
        "global: {read_timeout: 10s, response_completion_timeout: 10s}\norigins: [{name: a, domain: a.example}]",
    )
    .unwrap();
    assert_eq!(
        equal.origins[0].response_completion_timeout(),
        Some(Duration::from_secs(10))
    );
    let cfg = parse(
        "global: {response_completion_timeout: 60s}\norigins: [{name: a, domain: a.example}]",
    )
    .unwrap();
    assert_eq!(
        cfg.origins[0].response_completion_timeout(),
        Some(Duration::from_secs(60))
    );
}

#[test]
fn a_discovered_origin_takes_cloudfronts_defaults_for_the_timeouts_it_may_leave_unset() {
    let cfg = crate::config::load_str(
        "global: {keepalive_timeout: 30s, response_completion_timeout: 90s}\ndiscovery: {cloudfront: {}}",
        std::path::Path::new("t.yaml"),
    )
    .unwrap();
    let raw = RawOrigin {
        name: Some("d1".into()),
        domain: Some("origin.example.com".into()),
        ..RawOrigin::default()
    };
    let o = cfg.discovered_origin(&raw).unwrap();
    assert_eq!(o.keepalive_timeout(), Duration::from_secs(5));
    assert_eq!(o.response_completion_timeout(), None);
    let set = RawOrigin {
        keepalive_timeout: Some("20s".into()),
        response_completion_timeout: Some("40s".into()),
        ..raw
    };
    let o = cfg.discovered_origin(&set).unwrap();
    assert_eq!(o.keepalive_timeout(), Duration::from_secs(20));
    assert_eq!(
        o.response_completion_timeout(),
        Some(Duration::from_secs(40))
    );
}

#[test]
fn an_explicit_ip_address_type_must_allow_the_pinned_address() {
    // Without ip_address_type, a pinned address is taken as given.
    assert_eq!(
        origin("address: '2001:db8::1'").address,
        Some("2001:db8::1".parse::<IpAddr>().unwrap())
    );
    let msg = "origins[0].address: 2001:db8::1 is not an address the CDN connects to with ip_address_type ipv4";
    assert_eq!(
        origin_errors("address: '2001:db8::1', ip_address_type: ipv4"),
        [msg]
    );
    // Said in `global` counts as said.
    assert_eq!(
        errors(
            "global: {ip_address_type: ipv4}\norigins: [{name: a, domain: a.example.com, address: '2001:db8::1'}]"
        ),
        [msg]
    );
    assert!(origin_errors("address: 192.0.2.1, ip_address_type: ipv4").is_empty());
}

#[test]
fn listing_checks_keeps_the_sections_given() {
    // The http check listed with its section keeps it; listed without, the CDN's defaults.
    let o = origin("checks: [http], http: {path: /health}");
    assert_eq!(o.checks, BTreeSet::from([Check::Http]));
    assert_eq!(o.http.as_ref().unwrap().path, "/health");
    let o = origin("checks: [http]");
    assert_eq!(o.http.as_ref().unwrap().path, "/");
    // A section without its check listed is kept, and the check stays off.
    let o = origin("checks: [tcp], http: {path: /health}");
    assert_eq!(o.checks, BTreeSet::from([Check::Tcp]));
    assert_eq!(o.http.as_ref().unwrap().path, "/health");
    // The edge check needs an edge section; with one, the defaults include it.
    assert_eq!(
        origin_errors("checks: [edge]"),
        ["origins[0].checks: edge needs an edge section with its url"]
    );
    let o = origin("edge: {url: 'https://d1.cloudfront.net/'}");
    assert_eq!(
        o.checks,
        BTreeSet::from([Check::Dns, Check::Tcp, Check::Tls, Check::Edge])
    );
    let o = origin("checks: [edge], edge: {url: 'https://d1.cloudfront.net/'}");
    assert_eq!(o.checks, BTreeSet::from([Check::Edge]));
    // match-viewer still speaks HTTPS: the TLS check is on by default.
    let o = origin("protocol_policy: match-viewer");
    assert!(o.checks.contains(&Check::Tls));
}

#[test]
fn the_edge_url_gives_scheme_host_port_and_path() {
    let e = origin(
        "edge: {url: 'http://[2001:db8::7]:8080/p?q=1', expect_status: [503], address: 192.0.2.9}",
    )
    .edge
    .unwrap();
    assert_eq!(e.scheme, Scheme::Http);
    assert_eq!(e.host, "2001:db8::7");
    assert_eq!(e.port, 8080);
    assert_eq!(e.path, "/p?q=1");
    assert_eq!(e.expect_status, [StatusMatch::Exact(503)]);
    assert_eq!(e.address, Some("192.0.2.9".parse::<IpAddr>().unwrap()));
    let e = origin("edge: {url: 'https://d1.cloudfront.net'}")
        .edge
        .unwrap();
    assert_eq!(
        (e.scheme, e.port, e.path.as_str()),
        (Scheme::Https, 443, "/")
    );
    assert_eq!(e.host, "d1.cloudfront.net");
    let e = origin("edge: {url: 'http://d1.cloudfront.net/x'}")
        .edge
        .unwrap();
    assert_eq!((e.scheme, e.port), (Scheme::Http, 80));
    let cases = [
        (
            "url: 'ftp://d1.cloudfront.net/'",
            "origins[0].edge.url: must be an http:// or https:// URL, got \"ftp\"",
        ),
        (
            "url: 'https://d1.cloudfront.net/', address: nowhere",
            "origins[0].edge.address: must be an IP address, got \"nowhere\"",
        ),
    ];
    for (edge, want) in cases {
        let got = origin_errors(&format!("edge: {{{edge}}}"));
        assert_eq!(
            got.first().map(String::as_str),
            Some(want),
            "{edge}: {got:?}"
        );
    }
    // What does not parse as a URL is one error, not also a scheme or host one; an empty or
    // missing URL is "required", not "not a URL".
    let got = origin_errors("edge: {url: 'not a url'}");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("origins[0].edge.url: not a URL: \"not a url\": "),
        "{got:?}"
    );
    for edge in ["edge: {url: ''}", "edge: {expect_status: [2xx]}"] {
        assert_eq!(
            origin_errors(edge),
            ["origins[0].edge.url: is required"],
            "{edge}"
        );
    }
    // A path alone: neither scheme nor host.
    assert_eq!(
        origin_errors("edge: {url: '/healthz'}"),
        [
            "origins[0].edge.url: must be an http:// or https:// URL, got \"\"",
            "origins[0].edge.url: has no host: \"/healthz\""
        ]
    );
}

#[test]
fn http_headers_methods_and_statuses() {
    let o = origin(
        "http: {method: HEAD, expect_status: [100, 599, ' 2XX ', '404'], headers: {X-Origin-Secret: s3cr3t, 'x~y': v}}",
    );
    let http = o.http.unwrap();
    assert_eq!(http.method, "HEAD");
    assert_eq!(
        http.expect_status,
        [
            StatusMatch::Exact(100),
            StatusMatch::Exact(599),
            StatusMatch::Class(2),
            StatusMatch::Exact(404)
        ]
    );
    assert_eq!(
        http.headers.names().collect::<Vec<_>>(),
        ["X-Origin-Secret", "x~y"]
    );
    let cases = [
        ("method: FETCH", "origins[0].http.method: must be one of GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, got \"FETCH\""),
        ("expect_status: []", "origins[0].http.expect_status: must not be empty"),
        ("expect_status: [99]", "origins[0].http.expect_status[0]: must be a status 100-599 or a class like 2xx, got Code(99)"),
        ("expect_status: ['0xx']", "origins[0].http.expect_status[0]: must be a status 100-599 or a class like 2xx, got Text(\"0xx\")"),
        ("expect_status: ['6xx']", "origins[0].http.expect_status[0]: must be a status 100-599 or a class like 2xx, got Text(\"6xx\")"),
        ("headers: {'': x}", "origins[0].http.headers.: must be an HTTP header name, got \"\""),
        ("headers: {'X Bad': x}", "origins[0].http.headers.X Bad: must be an HTTP header name, got \"X Bad\""),
        ("headers: {Host: x}", "origins[0].http.headers.Host: Host is set by the exporter itself"),
        ("headers: {X-A: \"a\\rb\"}", "origins[0].http.headers.X-A: value must not contain CR, LF or NUL"),
        ("headers: {X-A: \"a\\nb\"}", "origins[0].http.headers.X-A: value must not contain CR, LF or NUL"),
        ("headers: {X-A: \"a\\0b\"}", "origins[0].http.headers.X-A: value must not contain CR, LF or NUL"),
    ];
    for (http, want) in cases {
        assert_eq!(
            origin_errors(&format!("http: {{{http}}}")),
            [want],
            "{http}"
        );
    }
}

#[test]
fn label_names_follow_prometheus() {
    let o = origin("labels: {_team: a, env2: b}");
    assert_eq!(
        o.labels,
        [
            ("_team".to_string(), "a".to_string()),
            ("env2".into(), "b".into())
        ]
    );
    let cases = [
        (
            "'2x'",
            "label name must match [a-zA-Z_][a-zA-Z0-9_]*, got \"2x\"",
        ),
        (
            "'x-y'",
            "label name must match [a-zA-Z_][a-zA-Z0-9_]*, got \"x-y\"",
        ),
        (
            "''",
            "label name must match [a-zA-Z_][a-zA-Z0-9_]*, got \"\"",
        ),
        (
            "__x",
            "label names starting with __ are reserved by Prometheus",
        ),
        ("cause", "label \"cause\" is set by the exporter itself"),
    ];
    for (name, why) in cases {
        let key = name.trim_matches('\'');
        assert_eq!(
            origin_errors(&format!("labels: {{{name}: v}}")),
            [format!("origins[0].labels.{key}: {why}")]
        );
    }
}

/// Every label name the exporter writes is refused as a user label, under `global.labels` once
/// (not under each origin that inherits it) and under an origin's own `labels`, naming it.
#[test]
fn label_names_the_exporter_writes_are_refused() {
    for name in ["parent_zone", "revision", "zone", "origin_id", "job"] {
        assert!(super::RESERVED_LABELS.contains(&name), "{name}");
    }
    for &name in super::RESERVED_LABELS {
        let why = format!("label \"{name}\" is set by the exporter itself");
        assert_eq!(
            origin_errors(&format!("labels: {{{name}: v}}")),
            [format!("origins[0].labels.{name}: {why}")]
        );
        assert_eq!(
            errors(&format!(
                "global: {{labels: {{{name}: v, team: web}}}}\norigins:\n  - {{name: a, domain: a.example}}\n  - {{name: b, domain: b.example}}"
            )),
            [format!("global.labels.{name}: {why}")]
        );
    }
}

#[test]
fn ssl_protocols_are_deduplicated_sorted_and_never_empty() {
    let o = origin("ssl_protocols: [TLSv1.2, TLSv1, TLSv1.2]");
    assert_eq!(
        o.ssl_protocols,
        [
            crate::cdn::TlsVersion::Tls1_0,
            crate::cdn::TlsVersion::Tls1_2
        ]
    );
    assert_eq!(
        origin_errors("ssl_protocols: []"),
        ["origins[0].ssl_protocols: must list at least one protocol"]
    );
}

#[test]
fn discovery_keys_at_their_edges() {
    let cfg = parse(
        "discovery: {cloudfront: {distribution_ids: [E2QWRUHEXAMPLE], endpoint_url: 'https://cloudfront.example'}}",
    )
    .unwrap();
    let cf = cfg.discovery.cloudfront.unwrap();
    assert_eq!(cf.distribution_ids, ["E2QWRUHEXAMPLE"]);
    assert_eq!(
        cf.endpoint_url.as_deref(),
        Some("https://cloudfront.example")
    );
    let cf =
        parse("discovery: {cloudfront: {endpoint_url: 'http://127.0.0.1:4566', edge_path: ''}}")
            .unwrap()
            .discovery
            .cloudfront
            .unwrap();
    assert_eq!(cf.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
    assert_eq!(cf.edge_path, None);
    assert_eq!(
        errors("discovery: {cloudfront: {distribution_ids: ['']}}"),
        ["discovery.cloudfront.distribution_ids[0]: must be a distribution id like E2QWRUHEXAMPLE, got \"\""]
    );
}

#[test]
fn vpc_origins_are_skipped_unless_probe_is_said() {
    let vpc = |yaml: &str| {
        parse(yaml)
            .unwrap()
            .discovery
            .cloudfront
            .unwrap()
            .vpc_origins
    };
    assert_eq!(vpc("discovery: {cloudfront: {}}"), super::VpcOrigins::Skip);
    assert_eq!(
        vpc("discovery: {cloudfront: {vpc_origins: skip}}"),
        super::VpcOrigins::Skip
    );
    assert_eq!(
        vpc("discovery: {cloudfront: {vpc_origins: probe}}"),
        super::VpcOrigins::Probe
    );
    assert_eq!(
        errors("discovery: {cloudfront: {vpc_origins: Probe}}"),
        ["discovery.cloudfront.vpc_origins: must be one of skip, probe, got \"Probe\""]
    );
}

#[test]
fn local_copies_of_the_cdns_client_certificates_are_keyed_by_acm_arn() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["cdn".to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 5, 17);
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let (c, k) = (c.display(), k.display());
    let arn = "arn:aws:acm:us-east-1:111122223333:certificate/0f1e";
    let cfg = parse(&format!(
        "discovery: {{cloudfront: {{client_certificates: {{'{arn}': {{cert_file: '{c}', key_file: '{k}'}}}}}}}}"
    ))
    .unwrap();
    let copies = cfg.discovery.cloudfront.unwrap().client_certificates;
    let copy = copies.get(arn).expect("the copy by its ARN");
    assert_eq!(copy.cert_file.display().to_string(), c.to_string());
    // The leaf's notAfter, read at load: 2031-05-17 00:00:00 UTC.
    assert_eq!(copy.not_after, Some(1_936_742_400));
    assert_eq!(
        errors(&format!(
            "discovery: {{cloudfront: {{client_certificates: {{'arn:aws:iam::1:server-certificate/x': {{cert_file: '{c}', key_file: '{k}'}}}}}}}}"
        )),
        ["discovery.cloudfront.client_certificates.arn:aws:iam::1:server-certificate/x: must be keyed by an ACM certificate ARN (arn:aws:acm:us-east-1:ACCOUNT:certificate/ID)"]
    );
    assert_eq!(
        errors(&format!(
            "discovery: {{cloudfront: {{client_certificates: {{'{arn}': {{cert_file: '{c}'}}}}}}}}"
        )),
        [format!(
            "discovery.cloudfront.client_certificates.{arn}.key_file: required: a PEM file"
        )]
    );
}

#[test]
fn a_hand_given_client_certificate_has_its_leafs_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["cdn".to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let leaf = params.self_signed(&key).unwrap();
    // The leaf first, then another certificate: the first one counts.
    let mut other = rcgen::CertificateParams::new(vec!["ca".to_string()]).unwrap();
    other.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let other = other.self_signed(&key).unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&c, format!("{}{}", leaf.pem(), other.pem())).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let o = origin(&format!(
        "client_certificate: {{cert_file: '{}', key_file: '{}'}}",
        c.display(),
        k.display()
    ));
    assert_eq!(o.client_certificate.unwrap().not_after, Some(1_893_456_000));
}

#[test]
fn adhoc_domains_are_needed_only_when_adhoc_targets_are_allowed() {
    assert!(errors(
        "global: {allow_adhoc_targets: false}\norigins: [{name: a, domain: a.example}]"
    )
    .is_empty());
    let cfg = parse(
        "global: {adhoc_allowed_domains: ['*.Shop.example']}\norigins: [{name: a, domain: a.example}]",
    )
    .unwrap();
    assert_eq!(cfg.global.adhoc.domains, ["*.shop.example"]);
}

#[test]
fn client_certificates_need_two_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("c.pem");
    std::fs::write(
        &pem,
        "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let der = dir.path().join("c.der");
    // DER, longer than the "-----BEGIN " looked for.
    std::fs::write(&der, [0x30u8, 0x82, 0x01, 0x00].repeat(8)).unwrap();
    let missing = dir.path().join("missing.pem");
    let (pem, der, missing) = (pem.display(), der.display(), missing.display());
    let o = origin(&format!(
        "client_certificate: {{cert_file: '{pem}', key_file: '{pem}'}}"
    ));
    let cc = o.client_certificate.unwrap();
    assert_eq!(cc.cert_file.display().to_string(), pem.to_string());
    assert_eq!(cc.key_file.display().to_string(), pem.to_string());
    assert_eq!(
        origin_errors(&format!(
            "client_certificate: {{cert_file: '', key_file: '{der}'}}"
        )),
        [
            "origins[0].client_certificate.cert_file: required: a PEM file".to_string(),
            format!("origins[0].client_certificate.key_file: {der}: no PEM block in the file"),
        ]
    );
    let got = origin_errors(&format!(
        "client_certificate: {{cert_file: '{missing}', key_file: '{pem}'}}"
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "origins[0].client_certificate.cert_file: {missing}: "
        )),
        "{got:?}"
    );
}

#[test]
fn a_discovered_origin_gets_the_global_defaults_and_only_its_own_errors() {
    let defaults = RawGlobal {
        https_port: Some(8443),
        interval: Some("30s".into()),
        ..RawGlobal::default()
    };
    let raw = RawOrigin {
        name: Some("d1".into()),
        domain: Some("origin.example.com".into()),
        ..RawOrigin::default()
    };
    let o = validate_with_defaults(&raw, defaults.clone(), "discovered.d1").unwrap();
    assert_eq!(o.https_port, 8443);
    assert_eq!(o.interval, Duration::from_secs(30));
    let bad = RawOrigin {
        https_port: Some(0),
        client_certificate: Some(RawClientCertificate::default()),
        ..raw
    };
    let errs: Vec<String> = validate_with_defaults(&bad, defaults, "discovered.d1")
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            "discovered.d1.https_port: must be 1-65535, got 0",
            "discovered.d1.client_certificate.cert_file: required: a PEM file",
            "discovered.d1.client_certificate.key_file: required: a PEM file",
        ]
    );
}

/// Each check's bound is what docs/bounds.md says, and `within` fits a whole cycle (resolution,
/// every check, their report margins) in the budget it is given, raising no time.
#[test]
fn checks_are_bounded_as_documented_and_within_fits_a_cycle_in_its_budget() {
    let s = Duration::from_secs;
    let o = origin(
        "checks: [dns, tcp, tls, http], timeout: 4s, read_timeout: 20s, connection_timeout: 3s, connection_attempts: 3",
    );
    assert_eq!(
        o.check_bound(Check::Tcp),
        s(9),
        "attempts x connection_timeout"
    );
    assert_eq!(
        o.check_bound(Check::Http),
        s(28),
        "connect + handshake + read_timeout"
    );
    assert_eq!(o.check_bound(Check::Tls), s(4));
    assert_eq!(o.check_bound(Check::Dns), s(4));
    let margin = super::REPORT_MARGIN;
    assert_eq!(o.cycle_bound(), s(4) + s(9) + s(4) + s(28) + margin * 3);
    // An attempt is bounded by timeout when connection_timeout is longer.
    let short = origin("timeout: 2s, connection_timeout: 5s, connection_attempts: 2");
    assert_eq!(short.check_bound(Check::Tcp), s(4));
    // The whole response within response_completion_timeout from the first connection attempt.
    let whole =
        origin("checks: [http], timeout: 4s, read_timeout: 20s, response_completion_timeout: 60s");
    assert_eq!(whole.check_bound(Check::Http), s(60));
    let short =
        origin("checks: [http], timeout: 4s, read_timeout: 20s, response_completion_timeout: 20s");
    assert_eq!(short.check_bound(Check::Http), s(28));

    let cases = [
        "checks: [tcp]",
        "checks: [tcp, tls]",
        "address: 192.0.2.1, checks: [tcp, tls, http]",
        "checks: [dns, tcp, tls, http], connection_attempts: 3",
        "checks: [tcp, tls, http, edge], edge: {url: 'https://d111111abcdef8.cloudfront.net/x'}, read_timeout: 60s",
        "checks: [tcp, tls, http], read_timeout: 5s, response_completion_timeout: 300s",
    ];
    for fields in cases {
        let o = origin(fields);
        for budget in [Duration::from_millis(400), s(3), s(9), s(30), s(600)] {
            let w = o.within(budget);
            assert!(
                w.cycle_bound() <= budget,
                "{fields} in {budget:?}: {:?}",
                w.cycle_bound()
            );
            assert!(w.timeout <= o.timeout && w.read_timeout <= o.read_timeout);
            assert!(w.connection_timeout <= o.connection_timeout);
            assert!(w.response_completion_timeout() <= o.response_completion_timeout());
        }
        // A budget the cycle fits in with room to spare changes nothing.
        assert_eq!(o.within(o.cycle_bound() * 8).cycle_bound(), o.cycle_bound());
    }
}
