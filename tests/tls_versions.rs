//! Version refusals by stacks other than OpenSSL: lighttpd with mbedTLS (Debian's 2.28) and
//! Java's JSSE, each limited to one version. What the CDN's hello gets, and what the version
//! matrix finds, must name a protocol mismatch (never a failed handshake), and a version the
//! CDN may use must work end to end.

mod lab;

use lab::java::JavaOrigin;
use lab::lighttpd::{LighttpdOrigin, TlsModule};
use lab::tls::{LeafSpec, OpenSslOrigin, Pki};
use lab::{Exporter, Scrape};

fn origin(name: &str, port: u16, ssl_protocols: &str) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls, http], ssl_protocols: {ssl_protocols}, http: {{path: /}}}}\n"
    )
}

fn config(pki: &Pki, origins: &[String]) -> String {
    format!(
        "global: {{interval: 3s, timeout: 3s, ca_file: '{}'}}\norigins:\n{}",
        pki.ca_file.display(),
        origins.concat()
    )
}

#[track_caller]
fn assert_causes(s: &Scrape, origin: &str, causes: &[&str]) {
    assert_eq!(
        s.active_causes(origin),
        causes,
        "causes of {origin}:\n{}",
        s.text
    );
    s.assert_value(
        "origin_cdn_ready",
        &[("origin", origin)],
        f64::from(u8::from(causes.is_empty())),
    );
}

/// mbedTLS 2.28 has no TLS 1.3: lighttpd set to `MinProtocol TLSv1.3` refuses every hello,
/// OpenSSL's and the matrix's TLS 1.3 one included, with alert 70 (protocol_version). The
/// origin says the version is the problem: tls_protocol_mismatch, with no version spoken.
/// OpenSSL's TLS 1.3-only server, for comparison, speaks TLS 1.3 to the matrix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimum_version_the_library_cannot_speak_is_a_protocol_mismatch() {
    let pki = Pki::new();
    let leaf = |name: &str| {
        pki.leaf(
            &LeafSpec::new(&[&format!("{name}.lab.test")]),
            Some(&pki.inter),
        )
    };
    let mbed13 = LighttpdOrigin::start(
        &pki,
        &leaf("mbed13"),
        TlsModule::MbedTls,
        &[("MinProtocol", "TLSv1.3")],
    )
    .await;
    let openssl13 = OpenSslOrigin::start(&pki, &leaf("openssl13"), &["-tls1_3"]).await;
    let exporter = Exporter::start(&config(
        &pki,
        &[
            origin("mbed13", mbed13.port(), "[TLSv1.2]"),
            origin("openssl13", openssl13.port(), "[TLSv1.2]"),
        ],
    ))
    .await;
    let s = exporter.wait_cycle(&["mbed13", "openssl13"]).await;
    assert_causes(&s, "mbed13", &["tls_protocol_mismatch"]);
    s.assert_value("origin_tls_handshake_success", &[("origin", "mbed13")], 0.0);
    assert_eq!(
        exporter.supported_protocols("mbed13").await,
        Vec::<String>::new()
    );
    let (_, landing) = exporter.get("/").await;
    assert!(
        landing.contains("alert 70 (protocol_version)"),
        "the evidence names the alert:\n{landing}"
    );
    assert_causes(&s, "openssl13", &["tls_protocol_mismatch"]);
    assert_eq!(exporter.supported_protocols("openssl13").await, ["TLSv1.3"]);
    exporter.stop().await;
}

/// TLS 1.0-only servers on JSSE (TLS 1.0 re-enabled in `jdk.tls.disabledAlgorithms`) and on
/// mbedTLS (lighttpd: `MinProtocol`/`MaxProtocol TLSv1.0` and its TLS 1.0 suites): the matrix
/// finds TLS 1.0; an origin allowing only TLS 1.2 is a protocol mismatch, one allowing TLS 1.0
/// is healthy (the CDN speaks TLS 1.0, the HTTP request goes through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls10_only_java_and_mbedtls_servers_speak_tls10() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        &LeafSpec::new(&[
            "java10.lab.test",
            "java10ok.lab.test",
            "mbed10.lab.test",
            "mbed10ok.lab.test",
        ]),
        Some(&pki.inter),
    );
    let java = JavaOrigin::start(&pki, &leaf, &["-protocols", "TLSv1"]).await;
    let mbed = LighttpdOrigin::start(
        &pki,
        &leaf,
        TlsModule::MbedTls,
        &[
            ("MinProtocol", "TLSv1.0"),
            ("MaxProtocol", "TLSv1.0"),
            ("CipherString", "TLSv1.0"),
        ],
    )
    .await;
    let exporter = Exporter::start(&config(
        &pki,
        &[
            origin("java10", java.port(), "[TLSv1.2]"),
            origin("java10ok", java.port(), "[TLSv1]"),
            origin("mbed10", mbed.port(), "[TLSv1.2]"),
            origin("mbed10ok", mbed.port(), "[TLSv1]"),
        ],
    ))
    .await;
    let s = exporter
        .wait_cycle(&["java10", "java10ok", "mbed10", "mbed10ok"])
        .await;
    for stack in ["java10", "mbed10"] {
        assert_causes(&s, stack, &["tls_protocol_mismatch"]);
        assert_eq!(
            exporter.supported_protocols(stack).await,
            ["TLSv1"],
            "{stack}"
        );
        let ok = format!("{stack}ok");
        assert_causes(&s, &ok, &[]);
        s.assert_value("origin_tls_handshake_success", &[("origin", &ok)], 1.0);
        s.assert_value(
            "origin_tls_version_info",
            &[("origin", &ok), ("version", "TLSv1")],
            1.0,
        );
        assert_eq!(exporter.supported_protocols(&ok).await, ["TLSv1"], "{ok}");
    }
    exporter.stop().await;
}
