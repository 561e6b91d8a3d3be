//! `global.compat: [blackbox]` against blackbox_exporter itself (Debian's 0.23): for the same lab
//! origins, blackbox's `/probe` and the exporter's compatibility series have the same names and
//! label sets, the same values, and times that are present and not negative (docs/blackbox.md
//! lists every difference; the ones the lab shows are asserted here as differences).

mod lab;

use std::collections::{BTreeMap, BTreeSet};

use rcgen::{DnType, DnValue};

use lab::blackbox::Blackbox;
use lab::nginx::{NginxConfig, NginxOrigin};
use lab::tls::{LeafSpec, Pki};
use lab::{Exporter, Scrape};

/// Families whose values are times: each side measures its own.
const TIMES: &[&str] = &[
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_http_duration_seconds",
];

/// A lab origin, as blackbox and the exporter are pointed at it.
struct Case {
    name: &'static str,
    /// The origin's domain: the SNI and `Host` both send.
    domain: String,
    port: u16,
    /// `probe_success` of both, for the HTTP module.
    success: bool,
    /// `probe_success` of both, for the TCP module with TLS (which sends no request).
    tcp_success: bool,
    /// blackbox negotiates TLS 1.3 where the CDN (and so the exporter) speaks TLS 1.2.
    tls13: bool,
}

/// The lab origins: healthy (with a rich subject), TLS 1.3 allowed, 503, expired, wrong name,
/// self-signed, closed port. Returns them with the servers to keep running.
async fn origins(pki: &Pki) -> (Vec<Case>, Vec<NginxOrigin>) {
    let mut cases = Vec::new();
    let mut servers = Vec::new();
    let spec = |name: &str| LeafSpec::new(&[name, &format!("www.{name}")]);
    let rich = [
        (
            DnType::OrganizationName,
            DnValue::Utf8String("Lab, Inc.".into()),
        ),
        (
            DnType::OrganizationalUnitName,
            DnValue::Utf8String("Ops".into()),
        ),
        (
            DnType::CountryName,
            DnValue::PrintableString("FR".try_into().unwrap()),
        ),
        (DnType::LocalityName, DnValue::Utf8String("Paris".into())),
        (
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("ops@lab.test".try_into().unwrap()),
        ),
    ];
    let with = |name: &'static str, leaf_spec: LeafSpec, issuer: bool, success: bool| {
        (name, leaf_spec, issuer, success)
    };
    let specs = [
        with(
            "healthy",
            spec("healthy.lab.test").subject(&rich),
            true,
            true,
        ),
        with("tls13", spec("tls13.lab.test"), true, true),
        with("unavailable", spec("unavailable.lab.test"), true, false),
        with(
            "expired",
            spec("expired.lab.test").valid(-30, -1),
            true,
            false,
        ),
        with("wrong_name", spec("other.lab.test"), true, false),
        with("self_signed", spec("self-signed.lab.test"), false, false),
    ];
    for (name, leaf_spec, issued, success) in specs {
        let leaf = pki.leaf(&leaf_spec, issued.then_some(&pki.inter));
        let mut config = NginxConfig::tls(pki, &leaf);
        if name != "tls13" {
            config = config.protocols("TLSv1.2");
        }
        if name == "unavailable" {
            config = config.answer(503, "down\n");
        }
        if name == "healthy" {
            config =
                config.directive("add_header Last-Modified \"Wed, 21 Oct 2015 07:28:00 GMT\";");
        }
        let server = NginxOrigin::start(&config).await;
        cases.push(Case {
            name,
            domain: format!("{}.lab.test", name.replace('_', "-")),
            port: server.port(),
            success,
            tcp_success: success || name == "unavailable",
            tls13: name == "tls13",
        });
        servers.push(server);
    }
    // A port nobody listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    cases.push(Case {
        name: "closed",
        domain: "closed.lab.test".into(),
        port: closed,
        success: false,
        tcp_success: false,
        tls13: false,
    });
    (cases, servers)
}

/// blackbox's modules: `http_2xx` (the lab CA trusted), and a TCP module with TLS per origin
/// (0.23 takes the server name from the module only).
fn modules(pki: &Pki, cases: &[Case]) -> String {
    let ca = pki.ca_file.display();
    let mut m = format!(
        "  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n      tls_config: {{ca_file: {ca}}}\n"
    );
    for c in cases {
        m.push_str(&format!(
            "  tcp_tls_{}:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      tls: true\n      preferred_ip_protocol: ip4\n      tls_config: {{ca_file: {ca}, server_name: {}}}\n",
            c.name, c.domain
        ));
    }
    m
}

/// Each case twice: `NAME` with the HTTP check (an HTTP module), `NAME_tcp` without (a TCP
/// module with TLS).
fn exporter_config(pki: &Pki, cases: &[Case]) -> String {
    let mut yaml = format!(
        "global: {{ca_file: {}, compat: [blackbox], interval: 10s, timeout: 5s}}\norigins:\n",
        pki.ca_file.display()
    );
    for c in cases {
        for (suffix, checks) in [("", "tcp, tls, http"), ("_tcp", "tcp, tls")] {
            yaml.push_str(&format!(
                "  - {{name: {}{suffix}, domain: {}, address: 127.0.0.1, https_port: {}, checks: [{checks}]}}\n",
                c.name, c.domain, c.port
            ));
        }
    }
    yaml
}

type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// The `probe_*` series of a scrape, without the exporter's `origin` label.
fn probe_series(scrape: &Scrape) -> Series {
    scrape
        .samples
        .iter()
        .filter(|s| s.name.starts_with("probe_"))
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.remove("origin");
            ((s.name.clone(), labels), s.value)
        })
        .collect()
}

/// Asserts that `ours` says what `theirs` (blackbox's) says, with the lab's known differences.
fn compare(case: &Case, module: &str, mut ours: Series, mut theirs: Series) {
    let success = match module {
        "http_2xx" => case.success,
        _ => case.tcp_success,
    };
    let what = format!("{} ({module})", case.name);
    let family = |s: &Series, name: &str| -> Vec<(BTreeMap<String, String>, f64)> {
        s.iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, l), v)| (l.clone(), *v))
            .collect()
    };
    // blackbox 0.23 has no cipher series (0.26 added it): ours has one exactly when the TLS
    // series are there.
    let ciphers = family(&ours, "probe_tls_cipher_info");
    let tls = !family(&theirs, "probe_tls_version_info").is_empty();
    assert_eq!(ciphers.len(), usize::from(tls), "{what}: cipher series");
    ours.retain(|(name, _), _| name != "probe_tls_cipher_info");
    // The CDN speaks TLS 1.2 to origins; Go speaks TLS 1.3 where the origin does.
    if case.tls13 {
        let version = |s: &Series| family(s, "probe_tls_version_info")[0].0["version"].clone();
        assert_eq!(
            (version(&theirs), version(&ours)),
            ("TLS 1.3".to_string(), "TLS 1.2".to_string()),
            "{what}"
        );
        for s in [&mut ours, &mut theirs] {
            s.retain(|(name, _), _| name != "probe_tls_version_info");
        }
    }
    let keys = |s: &Series| -> BTreeSet<(String, BTreeMap<String, String>)> {
        s.keys().cloned().collect()
    };
    assert_eq!(keys(&ours), keys(&theirs), "{what}: names and labels");
    for (key, want) in &theirs {
        let got = ours[key];
        if TIMES.contains(&key.0.as_str()) {
            assert!(got >= 0.0, "{what}: {key:?} = {got}");
            if key.0 == "probe_duration_seconds" {
                assert!(
                    got > 0.0 && *want > 0.0,
                    "{what}: {key:?} = {got}, blackbox {want}"
                );
            }
        } else {
            assert_eq!(got, *want, "{what}: {key:?}");
        }
    }
    assert_eq!(
        theirs[&("probe_success".to_string(), BTreeMap::new())],
        f64::from(u8::from(success)),
        "{what}: blackbox's probe_success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compat_series_match_blackbox_exporters_own() {
    let pki = Pki::new();
    let (cases, _servers) = origins(&pki).await;
    let blackbox = Blackbox::start(&modules(&pki, &cases)).await;
    let exporter = Exporter::start(&exporter_config(&pki, &cases)).await;
    for case in &cases {
        let target = format!("https://127.0.0.1:{}/&hostname={}", case.port, case.domain);
        let theirs = blackbox.probe("http_2xx", &target).await;
        let (status, body) = exporter.get(&format!("/probe?origin={}", case.name)).await;
        assert_eq!(status, 200, "{body}");
        let ours = Scrape::parse(&body);
        println!(
            "{:<12} http  blackbox probe_duration_seconds {:.6} ours {:.6}",
            case.name,
            theirs.value("probe_duration_seconds", &[]).unwrap_or(-1.0),
            ours.value("probe_duration_seconds", &[]).unwrap_or(-1.0)
        );
        compare(case, "http_2xx", probe_series(&ours), probe_series(&theirs));

        let module = format!("tcp_tls_{}", case.name);
        let theirs = blackbox
            .probe(&module, &format!("127.0.0.1:{}", case.port))
            .await;
        let (status, body) = exporter
            .get(&format!("/probe?origin={}_tcp", case.name))
            .await;
        assert_eq!(status, 200, "{body}");
        let ours = Scrape::parse(&body);
        println!(
            "{:<12} tcp   blackbox probe_duration_seconds {:.6} ours {:.6}",
            case.name,
            theirs.value("probe_duration_seconds", &[]).unwrap_or(-1.0),
            ours.value("probe_duration_seconds", &[]).unwrap_or(-1.0)
        );
        compare(case, &module, probe_series(&ours), probe_series(&theirs));
    }
    // The scheduled cycles write the same series on /metrics, each origin's with its label.
    let scrape = exporter
        .wait_for("scheduled cycles of healthy and expired", |s| {
            ["healthy", "expired"]
                .iter()
                .all(|o| s.value("probe_success", &[("origin", o)]).is_some())
        })
        .await;
    scrape.assert_value("probe_success", &[("origin", "healthy")], 1.0);
    scrape.assert_value("probe_success", &[("origin", "expired")], 0.0);
}

/// The community rules (tests/blackbox/community-rules.yml).
const COMMUNITY_RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/blackbox/community-rules.yml"
);

/// Families whose values are moments: shifted so that the capture happened at promtool's time 0.
const MOMENTS: &[&str] = &[
    "probe_ssl_earliest_cert_expiry",
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_http_last_modified_timestamp_seconds",
];

/// One scrape as promtool input series: every `probe_*` sample with `labels` added (what
/// Prometheus attaches: `instance`, `job`), its value held for 15 minutes, moments relative to
/// `captured`.
fn input_series(scrape: &Scrape, labels: &[(&str, &str)], captured: f64) -> String {
    // PromQL string escapes inside a YAML single-quoted scalar.
    let quote = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('\'', "''")
    };
    let mut out = String::new();
    for s in scrape
        .samples
        .iter()
        .filter(|s| s.name.starts_with("probe_"))
    {
        let mut all = s.labels.clone();
        all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let labels: Vec<String> = all
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", quote(v)))
            .collect();
        let value = match MOMENTS.contains(&s.name.as_str()) {
            true => s.value - captured,
            false => s.value,
        };
        out.push_str(&format!(
            "      - series: '{}{{{}}}'\n        values: '{value}x15'\n",
            s.name,
            labels.join(",")
        ));
    }
    out
}

/// An alert expected to fire: (origin, alert, labels of the alert beyond the series' target
/// labels and `severity`).
type Firing = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// What the community rules fire for each origin, with blackbox and with the compatibility
/// series alike.
const FIRING: &[Firing] = &[
    ("soon", "BlackboxSslCertificateWillExpireSoon", &[]),
    ("soon", "BlackboxSslCertificateExpiresIn21Days", &[]),
    ("very_soon", "BlackboxSslCertificateWillExpireVerySoon", &[]),
    ("very_soon", "BlackboxSslCertificateExpiresIn21Days", &[]),
    // An expired certificate fails Go's handshake: no expiry series, so no expiry alert; the
    // probe fails, and its status is 0.
    ("expired", "BlackboxProbeFailed", &[]),
    ("expired", "BlackboxProbeHttpFailure", &[]),
    ("unavailable", "BlackboxProbeFailed", &[]),
    ("unavailable", "BlackboxProbeHttpFailure", &[]),
    ("closed", "BlackboxProbeFailed", &[]),
    ("closed", "BlackboxProbeHttpFailure", &[]),
    ("slow", "BlackboxSlowProbe", &[]),
    ("slow", "BlackboxProbeSlowHttp", &[("phase", "processing")]),
];

const ALERTS: &[(&str, &str)] = &[
    ("BlackboxProbeFailed", "critical"),
    ("BlackboxSlowProbe", "warning"),
    ("BlackboxProbeHttpFailure", "critical"),
    ("BlackboxSslCertificateWillExpireSoon", "warning"),
    ("BlackboxSslCertificateWillExpireVerySoon", "critical"),
    ("BlackboxSslCertificateExpired", "critical"),
    ("BlackboxSslCertificateExpiresIn21Days", "warning"),
    ("BlackboxProbeSlowHttp", "warning"),
];

/// A promtool rule test of `series`, expecting [`FIRING`]; `target` gives an origin's own labels
/// on its series (and so on its alerts).
fn rule_test(series: &str, target: &dyn Fn(&str) -> Vec<(String, String)>) -> String {
    let mut t = format!(
        "rule_files: [{COMMUNITY_RULES}]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n"
    );
    for (alert, severity) in ALERTS {
        t.push_str(&format!(
            "      - eval_time: 5m\n        alertname: {alert}\n        exp_alerts:\n"
        ));
        let mut any = false;
        for (origin, _, extra) in FIRING.iter().filter(|(_, a, _)| a == alert) {
            any = true;
            let mut labels = target(origin);
            labels.push(("severity".into(), severity.to_string()));
            labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: '{v}'")).collect();
            t.push_str(&format!(
                "          - exp_labels: {{{}}}\n",
                labels.join(", ")
            ));
        }
        if !any {
            t.truncate(t.len() - "\n".len());
            t.push_str(" []\n");
        }
    }
    t
}

/// Runs `promtool test rules` on `test`; panics with its output unless every test passes.
fn promtool(test: &str, what: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("test.yml");
    std::fs::write(&file, test).expect("write promtool test");
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool: install the Debian package prometheus with `bash scripts/install-test-deps.sh`");
    assert!(
        out.status.success(),
        "promtool test rules, {what}:\n{}{}\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The community rules fire on the compatibility series as they fire on blackbox's own, for
/// the same origins: certificates expiring in 10 days and in 1 day, an expired one, a 503, a
/// closed port, an answer after 1.2 s, and a healthy origin that fires nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_alert_rules_fire_on_compat_series_as_on_blackbox() {
    let pki = Pki::new();
    let mut servers = Vec::new();
    // (origin, port, scheme)
    let mut origins: Vec<(&str, u16, &str)> = Vec::new();
    for (name, from, until, status) in [
        ("healthy", -1, 90, 200),
        ("soon", -1, 10, 200),
        ("very_soon", -1, 1, 200),
        ("expired", -30, -1, 200),
        ("unavailable", -1, 90, 503),
    ] {
        let domain = format!("{}.lab.test", name.replace('_', "-"));
        let leaf = pki.leaf(
            &LeafSpec::new(&[&domain]).valid(from, until),
            Some(&pki.inter),
        );
        let config = NginxConfig::tls(&pki, &leaf).answer(status, "x\n");
        let server = NginxOrigin::start(&config).await;
        origins.push((name, server.port(), "https"));
        servers.push(server);
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    origins.push(("closed", closed, "https"));
    let slow = lab::http::HttpOrigin::plain(200, std::time::Duration::from_millis(1200)).await;
    origins.push(("slow", slow.port(), "http"));

    let ca = pki.ca_file.display();
    let blackbox = Blackbox::start(&format!(
        "  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n      tls_config: {{ca_file: {ca}}}\n"
    ))
    .await;
    let mut yaml =
        format!("global: {{ca_file: {ca}, compat: [blackbox], timeout: 5s}}\norigins:\n");
    for (name, port, scheme) in &origins {
        let domain = format!("{}.lab.test", name.replace('_', "-"));
        let ports = match *scheme {
            "https" => format!("https_port: {port}, checks: [tcp, tls, http]"),
            _ => format!("protocol_policy: http-only, http_port: {port}, checks: [tcp, http]"),
        };
        yaml.push_str(&format!(
            "  - {{name: {name}, domain: {domain}, address: 127.0.0.1, {ports}}}\n"
        ));
    }
    let exporter = Exporter::start(&yaml).await;

    let (mut theirs, mut ours) = (String::new(), String::new());
    for (name, port, scheme) in &origins {
        let domain = format!("{}.lab.test", name.replace('_', "-"));
        let target = format!("{scheme}://127.0.0.1:{port}/&hostname={domain}");
        let captured = lab::now_seconds();
        let scrape = blackbox.probe("http_2xx", &target).await;
        theirs.push_str(&input_series(
            &scrape,
            &[("instance", name), ("job", "blackbox")],
            captured,
        ));
        let captured = lab::now_seconds();
        let (status, body) = exporter.get(&format!("/probe?origin={name}")).await;
        assert_eq!(status, 200, "{body}");
        ours.push_str(&input_series(
            &Scrape::parse(&body),
            &[
                ("instance", "origin-exporter:19502"),
                ("job", "origin_exporter"),
            ],
            captured,
        ));
    }
    // blackbox's own series fire what the table says: the table is blackbox's behaviour.
    promtool(
        &rule_test(&theirs, &|origin| {
            vec![
                ("instance".into(), origin.into()),
                ("job".into(), "blackbox".into()),
            ]
        }),
        "blackbox_exporter's series",
    );
    // The compatibility series fire the same alerts, each on its origin.
    promtool(
        &rule_test(&ours, &|origin| {
            vec![
                ("instance".into(), "origin-exporter:19502".into()),
                ("job".into(), "origin_exporter".into()),
                ("origin".into(), origin.into()),
            ]
        }),
        "origin_exporter's compatibility series",
    );
}
