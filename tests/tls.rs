//! The TLS check end to end on loopback: the CDN's view of protocols and ciphers (openssl
//! s_server for what rustls cannot serve), every certificate defect (rustls servers with the
//! lab PKI, trusted through `global.ca_file`), and handshakes that cannot happen at all.

mod lab;

use lab::tcp::{closed_port, OpenPort};
use lab::tls::{
    AiaServer, Ca, Files, GoOrigin, LeafSpec, OpenSslOrigin, Pki, PlainHttpPort, RustlsOrigin,
};
use lab::{check_output, Exporter, Scrape};

/// An origin on 127.0.0.1 with the TCP and TLS checks; `extra` may override `domain`.
fn origin(name: &str, port: u16, extra: &str) -> String {
    let domain = if extra.contains("domain:") {
        String::new()
    } else {
        format!(", domain: {name}.lab.test")
    };
    format!(
        "  - {{name: {name}{domain}, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls]{extra}}}\n"
    )
}

/// The lab's AIA servers are on loopback, which AIA fetches need `aia_allowed_networks` for.
fn config(pki: &Pki, timeout: &str, origins: &[String]) -> String {
    format!(
        "global: {{interval: 2s, timeout: {timeout}, ca_file: '{}', aia_allowed_networks: [127.0.0.0/8]}}\norigins:\n{}",
        pki.ca_file.display(),
        origins.concat()
    )
}

fn names(domain: &str) -> LeafSpec {
    LeafSpec::new(&[domain])
}

/// Exactly these causes are active, and readiness follows from their severity.
#[track_caller]
fn assert_causes(s: &Scrape, origin: &str, causes: &[&str], ready: bool) {
    assert_eq!(s.active_causes(origin), causes, "causes of {origin}");
    s.assert_value(
        "origin_cdn_ready",
        &[("origin", origin)],
        f64::from(u8::from(ready)),
    );
}

/// The versions `origin` speaks, as `/probe?origin=` reports them: a probe sends every version's
/// hello at once, while a scheduled origin whose TLS check finds nothing wrong sends them on a
/// later cycle (within 15 minutes) and its first scrape has none.
async fn assert_protocols(exporter: &Exporter, origin: &str, supported: &[&str]) {
    let (status, body) = exporter.get(&format!("/probe?origin={origin}")).await;
    assert_eq!(status, 200, "{body}");
    let s = Scrape::parse(&body);
    for v in ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] {
        let want = f64::from(u8::from(supported.contains(&v)));
        s.assert_value(
            "origin_tls_protocol_supported",
            &[("origin", origin), ("version", v)],
            want,
        );
    }
}

#[track_caller]
fn assert_negotiated(s: &Scrape, origin: &str, version: &str, cipher: &str) {
    s.assert_value(
        "origin_tls_version_info",
        &[("origin", origin), ("version", version)],
        1.0,
    );
    s.assert_value(
        "origin_tls_cipher_info",
        &[("origin", origin), ("cipher", cipher)],
        1.0,
    );
}

#[tokio::test]
async fn protocols_and_ciphers_as_the_cdn_sees_them() {
    let pki = Pki::new();
    let leaf = |name: &str| pki.leaf(&names(&format!("{name}.lab.test")).rsa(), Some(&pki.inter));
    // One TLS 1.0 server, probed by two origins with different ssl_protocols.
    let tls10_leaf = pki.leaf(
        &LeafSpec::new(&["tls10.lab.test", "tls10ok.lab.test"]).rsa(),
        Some(&pki.inter),
    );
    let aes =
        OpenSslOrigin::start(&pki, &leaf("aes128"), &["-tls1_2", "-cipher", "AES128-SHA"]).await;
    let tls10 = OpenSslOrigin::start(
        &pki,
        &tls10_leaf,
        &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
    )
    .await;
    let tls13 = OpenSslOrigin::start(&pki, &leaf("tls13"), &["-tls1_3"]).await;
    let chacha = OpenSslOrigin::start(
        &pki,
        &leaf("chacha"),
        &["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"],
    )
    .await;
    let dhe = OpenSslOrigin::start(
        &pki,
        &leaf("dhe"),
        &["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"],
    )
    .await;
    let exporter = Exporter::start(&config(
        &pki,
        "2s",
        &[
            origin("aes128", aes.port(), ""),
            origin("tls10", tls10.port(), ", ssl_protocols: [TLSv1.2]"),
            origin(
                "tls10ok",
                tls10.port(),
                ", ssl_protocols: [TLSv1, TLSv1.1, TLSv1.2]",
            ),
            origin("tls13", tls13.port(), ""),
            origin("chacha", chacha.port(), ""),
            origin("dhe", dhe.port(), ""),
        ],
    ))
    .await;
    let s = exporter
        .wait_cycle(&["aes128", "tls10", "tls10ok", "tls13", "chacha", "dhe"])
        .await;

    // RSA key exchange with AES128-SHA: rustls cannot, the CDN can. No cause.
    assert_causes(&s, "aes128", &[], true);
    s.assert_value("origin_tls_handshake_success", &[("origin", "aes128")], 1.0);
    assert_negotiated(&s, "aes128", "TLSv1.2", "AES128-SHA");
    assert_protocols(&exporter, "aes128", &["TLSv1.2"]).await;
    s.assert_value("origin_tls_chain_valid", &[("origin", "aes128")], 1.0);

    assert_causes(&s, "tls10", &["tls_protocol_mismatch"], false);
    s.assert_value("origin_tls_handshake_success", &[("origin", "tls10")], 0.0);
    assert_protocols(&exporter, "tls10", &["TLSv1"]).await;
    // The certificates are still seen (from the TLS 1.0 hello).
    s.assert_value("origin_tls_chain_valid", &[("origin", "tls10")], 1.0);
    assert_causes(&s, "tls10ok", &[], true);
    assert_negotiated(&s, "tls10ok", "TLSv1", "ECDHE-RSA-AES256-SHA");

    // TLS 1.3 only: the CDN offers no TLS 1.3. The chain comes from a recording handshake.
    assert_causes(&s, "tls13", &["tls_protocol_mismatch"], false);
    assert_protocols(&exporter, "tls13", &["TLSv1.3"]).await;
    s.assert_value("origin_tls_handshake_success", &[("origin", "tls13")], 0.0);
    assert_negotiated(&s, "tls13", "TLSv1.3", "TLS_AES_256_GCM_SHA384");
    s.assert_value(
        "origin_tls_san_match",
        &[("origin", "tls13"), ("name", "tls13.lab.test")],
        1.0,
    );
    s.assert_value("origin_tls_chain_valid", &[("origin", "tls13")], 1.0);

    for o in ["chacha", "dhe"] {
        assert_causes(&s, o, &["tls_cipher_mismatch"], false);
        assert_protocols(&exporter, o, &["TLSv1.2"]).await;
        s.assert_value("origin_tls_handshake_success", &[("origin", o)], 0.0);
        s.assert_value(
            "origin_probe_success",
            &[("origin", o), ("check", "tls")],
            0.0,
        );
    }
    exporter.stop().await;
}

#[tokio::test]
async fn healthy_origins_and_the_sni_the_cdn_sends() {
    let pki = Pki::new();
    let l12 = pki.leaf(&names("healthy12.lab.test"), Some(&pki.inter));
    let l13 = pki.leaf(
        &LeafSpec::new(&["www.healthy13.lab.test", "healthy13.lab.test"]),
        Some(&pki.inter),
    );
    let o12 = RustlsOrigin::serving(&pki, &l12, false).await;
    let o13 = RustlsOrigin::serving(&pki, &l13, true).await;
    let exporter = Exporter::start(&config(
        &pki,
        "2s",
        &[
            origin("healthy12", o12.port(), ""),
            origin(
                "healthy13",
                o13.port(),
                ", host_header: www.healthy13.lab.test",
            ),
        ],
    ))
    .await;
    let s = exporter.wait_cycle(&["healthy12", "healthy13"]).await;

    assert_causes(&s, "healthy12", &[], true);
    s.assert_value(
        "origin_tls_handshake_success",
        &[("origin", "healthy12")],
        1.0,
    );
    s.assert_value(
        "origin_probe_success",
        &[("origin", "healthy12"), ("check", "tls")],
        1.0,
    );
    // The CDN's first choice for an ECDSA certificate.
    assert_negotiated(&s, "healthy12", "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384");
    assert_protocols(&exporter, "healthy12", &["TLSv1.2"]).await;
    s.assert_value("origin_tls_chain_valid", &[("origin", "healthy12")], 1.0);
    s.assert_value(
        "origin_tls_san_match",
        &[("origin", "healthy12"), ("name", "healthy12.lab.test")],
        1.0,
    );
    // Every served certificate, in served order, with its validity.
    let leaf_labels = [
        ("origin", "healthy12"),
        ("position", "0"),
        ("subject_cn", "healthy12.lab.test"),
        ("issuer_cn", "Lab Intermediate CA"),
        ("serial", l12.serial.as_str()),
    ];
    s.assert_value(
        "origin_tls_cert_not_after_timestamp_seconds",
        &leaf_labels,
        l12.not_after as f64,
    );
    s.assert_value(
        "origin_tls_cert_not_before_timestamp_seconds",
        &leaf_labels,
        l12.not_before as f64,
    );
    let inter = s.matching(
        "origin_tls_cert_not_after_timestamp_seconds",
        &[
            ("origin", "healthy12"),
            ("position", "1"),
            ("subject_cn", "Lab Intermediate CA"),
            ("issuer_cn", "Lab Root CA"),
        ],
    );
    assert_eq!(inter.len(), 1);
    let days = s
        .value("origin_tls_cert_days_remaining", &[("origin", "healthy12")])
        .expect("days remaining");
    assert!((89.9..=90.0).contains(&days), "{days}");

    assert_causes(&s, "healthy13", &[], true);
    assert_protocols(&exporter, "healthy13", &["TLSv1.2", "TLSv1.3"]).await;
    // The CDN never negotiates TLS 1.3 with an origin.
    assert_negotiated(&s, "healthy13", "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384");
    for name in ["healthy13.lab.test", "www.healthy13.lab.test"] {
        s.assert_value(
            "origin_tls_san_match",
            &[("origin", "healthy13"), ("name", name)],
            1.0,
        );
    }
    // With a forwarded Host, every hello carries it as SNI.
    let snis = o13.snis();
    assert!(!snis.is_empty());
    assert!(
        snis.iter().all(|n| n == "www.healthy13.lab.test"),
        "{snis:?}"
    );
    assert!(o12.snis().iter().all(|n| n == "healthy12.lab.test"));
    exporter.stop().await;
}

#[tokio::test]
async fn every_certificate_defect() {
    let pki = Pki::new();
    let inter = |leaf: &lab::tls::Leaf| vec![leaf.der.clone(), pki.inter.der.clone()];
    let mut origins = Vec::new();
    let mut servers = Vec::new();
    let mut add = |name: &str, server: RustlsOrigin, extra: &str| {
        origins.push(origin(name, server.port(), extra));
        servers.push(server);
    };

    let l = pki.leaf(&names("expired.lab.test").valid(-100, -1), Some(&pki.inter));
    add(
        "expired",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        "",
    );
    let l = pki.leaf(&names("notyet.lab.test").valid(2, 90), Some(&pki.inter));
    add(
        "notyet",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        "",
    );
    let l = pki.leaf(&names("selfsigned.lab.test"), None);
    add(
        "selfsigned",
        RustlsOrigin::start(vec![l.der.clone()], &l.key_der, false).await,
        "",
    );
    let l = pki.leaf(&names("other.lab.test"), Some(&pki.inter));
    add(
        "wrongname",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        "",
    );
    let l = pki.leaf(&names("www.hostonly.lab.test"), Some(&pki.inter));
    add(
        "hostonly",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        ", host_header: www.hostonly.lab.test",
    );
    let l = pki.leaf(&names("*.lab.test"), Some(&pki.inter));
    add(
        "wild1",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        "",
    );
    // Two levels below the wildcard: `*.lab.test` does not cover `a.wild2.lab.test`.
    add(
        "wild2",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        ", domain: a.wild2.lab.test",
    );
    // root -> inter -> inter2 -> leaf, served leaf, inter, inter2.
    let inter2 = Ca::new("Lab Intermediate CA 2", Some(&pki.inter));
    let l = pki.leaf(&names("order.lab.test"), Some(&inter2));
    let chain = vec![l.der.clone(), pki.inter.der.clone(), inter2.der.clone()];
    add(
        "order",
        RustlsOrigin::start(chain, &l.key_der, false).await,
        "",
    );
    // An expired leaf served after its intermediate: both defects show.
    let l = pki.leaf(
        &names("expiredorder.lab.test").valid(-100, -1),
        Some(&pki.inter),
    );
    let chain = vec![pki.inter.der.clone(), l.der.clone()];
    add(
        "expiredorder",
        RustlsOrigin::start(chain, &l.key_der, false).await,
        "",
    );
    // The intermediate missing, published at the leaf's AIA URL.
    let aia = AiaServer::start("/lab-inter.der").await;
    aia.serve(&pki.inter.der);
    let l = pki.leaf(
        &names("incomplete.lab.test").aia(&aia.url),
        Some(&pki.inter),
    );
    add(
        "incomplete",
        RustlsOrigin::start(vec![l.der.clone()], &l.key_der, false).await,
        "",
    );
    let stranger_inter = Ca::new("Stranger Intermediate CA", Some(&pki.stranger));
    let l = pki.leaf(&names("untrusted.lab.test"), Some(&stranger_inter));
    let chain = vec![l.der.clone(), stranger_inter.der.clone()];
    add(
        "untrusted",
        RustlsOrigin::start(chain, &l.key_der, false).await,
        "",
    );
    let l = pki.leaf(&names("expiring.lab.test").valid(-80, 5), Some(&pki.inter));
    add(
        "expiring",
        RustlsOrigin::start(inter(&l), &l.key_der, false).await,
        "",
    );

    let exporter = Exporter::start(&config(&pki, "2s", &origins)).await;
    let all = [
        "expired",
        "notyet",
        "selfsigned",
        "wrongname",
        "hostonly",
        "wild1",
        "wild2",
        "order",
        "expiredorder",
        "incomplete",
        "untrusted",
        "expiring",
    ];
    let s = exporter.wait_cycle(&all).await;

    assert_causes(&s, "expired", &["cert_expired"], false);
    let days = s
        .value("origin_tls_cert_days_remaining", &[("origin", "expired")])
        .expect("days remaining");
    assert!((-1.01..-0.99).contains(&days), "{days}");
    assert_causes(&s, "notyet", &["cert_not_yet_valid"], false);
    assert_causes(&s, "selfsigned", &["cert_self_signed"], false);
    assert_causes(&s, "wrongname", &["cert_hostname_mismatch"], false);
    s.assert_value(
        "origin_tls_san_match",
        &[("origin", "wrongname"), ("name", "wrongname.lab.test")],
        0.0,
    );
    assert_causes(&s, "hostonly", &[], true);
    s.assert_value(
        "origin_tls_san_match",
        &[("origin", "hostonly"), ("name", "hostonly.lab.test")],
        0.0,
    );
    s.assert_value(
        "origin_tls_san_match",
        &[("origin", "hostonly"), ("name", "www.hostonly.lab.test")],
        1.0,
    );
    assert_causes(&s, "wild1", &[], true);
    assert_causes(&s, "wild2", &["cert_hostname_mismatch"], false);
    assert_causes(&s, "order", &["cert_chain_order"], false);
    assert_causes(
        &s,
        "expiredorder",
        &["cert_chain_order", "cert_expired"],
        false,
    );
    assert_causes(&s, "incomplete", &["cert_chain_incomplete"], false);
    assert!(aia.hits() >= 1, "the issuer was fetched from the AIA URL");
    assert_causes(&s, "untrusted", &["cert_untrusted"], false);
    assert_causes(&s, "expiring", &["cert_expiring_soon"], true);
    s.assert_value(
        "origin_problem",
        &[
            ("origin", "expiring"),
            ("cause", "cert_expiring_soon"),
            ("severity", "warning"),
        ],
        1.0,
    );
    s.assert_value("origin_tls_chain_valid", &[("origin", "expiring")], 1.0);

    for o in [
        "expired",
        "notyet",
        "selfsigned",
        "order",
        "expiredorder",
        "incomplete",
        "untrusted",
    ] {
        s.assert_value("origin_tls_chain_valid", &[("origin", o)], 0.0);
        // The handshake itself works; the certificates are what the CDN rejects, and they are
        // exported even though verification failed. Except when the first certificate served is
        // not the leaf: the handshake then breaks on its key (cert_chain_order names the root).
        let finishes = if o == "expiredorder" { 0.0 } else { 1.0 };
        s.assert_value("origin_tls_handshake_success", &[("origin", o)], finishes);
        let served = s.matching(
            "origin_tls_cert_not_after_timestamp_seconds",
            &[("origin", o)],
        );
        assert!(!served.is_empty(), "{o}: certificate metrics");
    }
    for o in ["wrongname", "wild2"] {
        s.assert_value("origin_tls_chain_valid", &[("origin", o)], 1.0);
    }
    exporter.stop().await;
}

/// A leaf whose AIA URL points at loopback: the issuer is fetched only once
/// `global.aia_allowed_networks` names loopback; a host name in the URL resolves through
/// `global.resolvers` (a name only the lab's resolver knows); and an ad-hoc target's fetch must
/// pass `global.adhoc_allowed_networks` too.
#[tokio::test]
async fn aia_fetches_to_loopback_only_with_the_allow_list() {
    use lab::dns::{DnsLab, Zone};
    let pki = Pki::new();
    let by_ip = AiaServer::start_on("127.0.0.1", "/inter.der").await;
    by_ip.serve(&pki.inter.der);
    let by_name = AiaServer::start_on("127.0.0.2", "/inter.der").await;
    by_name.serve(&pki.inter.der);
    let zone = Zone::new("aia.test", 1, &["127.0.0.11".parse().unwrap()])
        .with_record("ca.aia.test", "127.0.0.2".parse().unwrap());
    let dns = DnsLab::start(vec![zone], &[]).await;
    let named_url = by_name.url.replace("127.0.0.2", "ca.aia.test");
    let l = pki.leaf(&names("byip.lab.test").aia(&by_ip.url), Some(&pki.inter));
    let byip = RustlsOrigin::start(vec![l.der.clone()], &l.key_der, false).await;
    let l = pki.leaf(&names("byname.lab.test").aia(&named_url), Some(&pki.inter));
    let byname = RustlsOrigin::start(vec![l.der.clone()], &l.key_der, false).await;
    let both = [
        origin("byip", byip.port(), ""),
        origin("byname", byname.port(), ""),
    ];
    let with = |interval: &str, global: &str, origins: &[String]| {
        format!(
            "global: {{interval: {interval}, timeout: 2s, checks: [tcp, tls], ca_file: '{}'{}{global}}}\norigins:\n{}",
            pki.ca_file.display(),
            dns.global_yaml(),
            origins.concat()
        )
    };

    // No allow-list: nothing fetched, the chain stays untrusted.
    let exporter = Exporter::start(&with("2s", "", &both)).await;
    let s = exporter.wait_cycle(&["byip", "byname"]).await;
    assert_causes(&s, "byip", &["cert_untrusted"], false);
    assert_causes(&s, "byname", &["cert_untrusted"], false);
    exporter.stop().await;
    assert_eq!(
        by_ip.hits(),
        0,
        "fetched from 127.0.0.1 without the allow-list"
    );
    assert_eq!(
        by_name.hits(),
        0,
        "fetched from 127.0.0.2 without the allow-list"
    );

    // Loopback allowed: both fetched (the name through the lab's resolver), chains incomplete.
    let exporter =
        Exporter::start(&with("2s", ", aia_allowed_networks: [127.0.0.0/8]", &both)).await;
    let s = exporter.wait_cycle(&["byip", "byname"]).await;
    assert_causes(&s, "byip", &["cert_chain_incomplete"], false);
    assert_causes(&s, "byname", &["cert_chain_incomplete"], false);
    exporter.stop().await;
    assert!(by_ip.hits() >= 1, "not fetched from 127.0.0.1");
    assert!(
        by_name.hits() >= 1,
        "not fetched from ca.aia.test (127.0.0.2)"
    );

    // Ad-hoc targets: 127.0.0.2 is outside adhoc_allowed_networks, 127.0.0.1 within. The one
    // configured origin fetches nothing.
    let exporter = Exporter::start(&with(
        "60s",
        ", aia_allowed_networks: [127.0.0.0/8], allow_adhoc_targets: true,
         adhoc_allowed_domains: ['*.lab.test'], adhoc_allowed_networks: [127.0.0.1/32]",
        &[origin("idle", closed_port(), "")],
    ))
    .await;
    let (ip_hits, name_hits) = (by_ip.hits(), by_name.hits());
    let adhoc = |name: &'static str, port: u16| {
        let exporter = &exporter;
        async move {
            let (status, body) = exporter
                .get(&format!(
                    "/probe?target={name}.lab.test&address=127.0.0.1&https_port={port}"
                ))
                .await;
            assert_eq!(status, 200, "{body}");
            Scrape::parse(&body).active_causes(&format!("{name}.lab.test"))
        }
    };
    assert_eq!(adhoc("byname", byname.port()).await, ["cert_untrusted"]);
    assert_eq!(
        by_name.hits(),
        name_hits,
        "an ad-hoc target fetched from 127.0.0.2"
    );
    assert_eq!(adhoc("byip", byip.port()).await, ["cert_chain_incomplete"]);
    assert!(by_ip.hits() > ip_hits, "the ad-hoc target's own fetch");
    exporter.stop().await;
}

#[tokio::test]
async fn no_handshake_at_all() {
    let pki = Pki::new();
    let plain = PlainHttpPort::start().await;
    let silent = OpenPort::start().await;
    let closed = closed_port();
    let exporter = Exporter::start(&config(
        &pki,
        "1s",
        &[
            origin("plain", plain.port(), ""),
            origin("silent", silent.port(), ""),
            origin("closed", closed, ""),
        ],
    ))
    .await;
    let s = exporter.wait_cycle(&["plain", "silent", "closed"]).await;

    for o in ["plain", "silent"] {
        assert_causes(&s, o, &["tls_handshake_failed"], false);
        s.assert_value("origin_tls_handshake_success", &[("origin", o)], 0.0);
        assert_protocols(&exporter, o, &[]).await;
        assert!(s
            .matching("origin_tls_chain_valid", &[("origin", o)])
            .is_empty());
        let took = s
            .value(
                "origin_probe_duration_seconds",
                &[("origin", o), ("check", "tls")],
            )
            .expect("duration");
        // Within the 1 s timeout, with room for a loaded machine's scheduling (without the
        // timeout the silent server would hold the check for good).
        assert!(took <= 2.0, "{o}: {took}");
    }
    // A closed port is the TCP check's cause; TLS adds no echo of it.
    assert_causes(&s, "closed", &["port_unreachable"], false);
    s.assert_value("origin_tls_handshake_success", &[("origin", "closed")], 0.0);
    exporter.stop().await;
}

/// An origin on 127.0.0.1 with the TCP, TLS and HTTP checks.
fn origin_http(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls, http], http: {{path: /}}{extra}}}\n"
    )
}

#[tokio::test]
async fn late_handshake_failures_and_client_certificates() {
    let pki = Pki::new();
    let files = Files::new();
    let leaf = |name: &str| pki.leaf(&names(&format!("{name}.lab.test")).rsa(), Some(&pki.inter));
    let ed_leaf = |name: &str| {
        pki.leaf(
            &names(&format!("{name}.lab.test")).ed25519(),
            Some(&pki.inter),
        )
    };
    let root = files.write("root.pem", &pki.root.pem);
    let root = root.to_str().unwrap();
    // Client certificates: one the origins trust (lab intermediate, sent with its chain), one
    // from the untrusted stranger root.
    let good = pki.leaf(&names("cdn-client.lab.test"), Some(&pki.inter));
    let bad = pki.leaf(&names("cdn-client.lab.test"), Some(&pki.stranger));
    let good_cert = files.write("good.pem", &format!("{}{}", good.pem, pki.inter.pem));
    let good_key = files.write("good.key", &good.key_pem);
    let bad_cert = files.write("bad.pem", &bad.pem);
    let bad_key = files.write("bad.key", &bad.key_pem);
    let client = |cert: &std::path::Path, key: &std::path::Path| {
        format!(
            ", client_certificate: {{cert_file: '{}', key_file: '{}'}}",
            cert.display(),
            key.display()
        )
    };

    let shared = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| format!("{n}.lab.test")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        pki.leaf(&LeafSpec::new(&names).rsa(), Some(&pki.inter))
    };
    let ossl_require = OpenSslOrigin::start(
        &pki,
        &shared(&["osslreq", "osslmtls", "osslbadmtls"]),
        &[
            "-tls1_2",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            root,
        ],
    )
    .await;
    let ossl_optional =
        OpenSslOrigin::start(&pki, &leaf("osslopt"), &["-tls1_2", "-verify", "1"]).await;
    let go_require = GoOrigin::start(&pki, &leaf("goreq"), &["-client-auth", "require"]).await;
    let go_verify = GoOrigin::start(
        &pki,
        &shared(&["gomtls", "gobadmtls"]),
        &["-client-auth", "verify", "-client-ca", root],
    )
    .await;
    let go_ed25519 = GoOrigin::start(&pki, &ed_leaf("goed"), &["-max", "1.2"]).await;
    // TLS 1.3 only, refusing the SNI the CDN sends.
    let go_sni =
        GoOrigin::start(&pki, &leaf("gosni"), &["-min", "1.3", "-sni", "other.test"]).await;

    let config = config(
        &pki,
        "2s",
        &[
            origin_http("osslreq", ossl_require.port(), ""),
            origin_http("osslopt", ossl_optional.port(), ""),
            origin_http(
                "osslmtls",
                ossl_require.port(),
                &client(&good_cert, &good_key),
            ),
            origin_http(
                "osslbadmtls",
                ossl_require.port(),
                &client(&bad_cert, &bad_key),
            ),
            origin_http("goreq", go_require.port(), ""),
            origin_http("gomtls", go_verify.port(), &client(&good_cert, &good_key)),
            origin_http("gobadmtls", go_verify.port(), &client(&bad_cert, &bad_key)),
            origin("goed", go_ed25519.port(), ""),
            origin("gosni", go_sni.port(), ""),
        ],
    );
    let exporter = Exporter::start(&config).await;
    let all = [
        "osslreq",
        "osslopt",
        "osslmtls",
        "osslbadmtls",
        "goreq",
        "gomtls",
        "gobadmtls",
        "goed",
        "gosni",
    ];
    let s = exporter.wait_cycle(&all).await;

    for o in ["osslreq", "osslopt", "goreq"] {
        assert_causes(&s, o, &["tls_client_certificate_required"], false);
        // No request after the handshake the CDN drops: no http cause either.
        assert!(s
            .matching("origin_http_status_code", &[("origin", o)])
            .is_empty());
    }
    for o in ["osslmtls", "gomtls"] {
        assert_causes(&s, o, &[], true);
        s.assert_value("origin_http_status_code", &[("origin", o)], 200.0);
    }
    for o in ["osslbadmtls", "gobadmtls"] {
        assert_causes(&s, o, &["tls_client_certificate_rejected"], false);
    }
    assert_causes(&s, "goed", &["tls_cipher_mismatch"], false);
    s.assert_value("origin_tls_handshake_success", &[("origin", "goed")], 0.0);
    // Its protocol_version alert to the CDN's TLS 1.2 hello names the first thing to fix, though
    // the TLS 1.3 hello, refused for its SNI, cannot show what it speaks.
    assert_causes(&s, "gosni", &["tls_protocol_mismatch"], false);
    exporter.stop().await;

    let out = check_output(&config, "goed").await;
    assert!(
        out.contains("tls_cipher_mismatch")
            && out.contains("Ed25519 key fits no signature scheme the CDN offers")
            && out.contains(&go_ed25519.addr.to_string()),
        "{out}"
    );
    let out = check_output(&config, "goreq").await;
    assert!(
        out.contains("tls_client_certificate_required") && out.contains("CertificateRequest"),
        "{out}"
    );
    let out = check_output(&config, "osslbadmtls").await;
    assert!(
        out.contains("tls_client_certificate_rejected") && out.contains("alert"),
        "{out}"
    );
}

#[tokio::test]
async fn http_over_everything_the_cdn_speaks() {
    let pki = Pki::new();
    let leaf = |name: &str| pki.leaf(&names(&format!("{name}.lab.test")).rsa(), Some(&pki.inter));
    // TLS 1.0 with RSA key exchange and AES-CBC: rustls speaks none of it, the CDN all of it.
    let cbc10 = OpenSslOrigin::start(
        &pki,
        &leaf("cbc10"),
        &["-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"],
    )
    .await;
    // 3DES (Debian's s_server has no 3DES suites; Go still has them).
    let des3 = GoOrigin::start(
        &pki,
        &leaf("des3"),
        &["-max", "1.2", "-ciphers", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
    )
    .await;
    // The same on Go, answering 503: the CDN gets the 503, so must the exporter.
    let go503 = GoOrigin::start(
        &pki,
        &leaf("go503"),
        &[
            "-min",
            "1.0",
            "-max",
            "1.0",
            "-ciphers",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "-status",
            "503",
        ],
    )
    .await;
    // Only NULL or anonymous suites: the protocol is spoken, with no suite the CDN accepts.
    let null = OpenSslOrigin::start(
        &pki,
        &leaf("nullonly"),
        &["-tls1_2", "-cipher", "NULL-SHA256:NULL-SHA:@SECLEVEL=0"],
    )
    .await;
    let anon = OpenSslOrigin::start(
        &pki,
        &leaf("anon"),
        &[
            "-tls1_2",
            "-nocert",
            "-cipher",
            "ADH-AES128-SHA:@SECLEVEL=0",
        ],
    )
    .await;
    let tls10 = ", ssl_protocols: [TLSv1]";
    let exporter = Exporter::start(&config(
        &pki,
        "2s",
        &[
            origin_http("cbc10", cbc10.port(), tls10),
            origin_http("des3", des3.port(), ""),
            origin_http("go503", go503.port(), tls10),
            origin("nullonly", null.port(), ""),
            origin("anon", anon.port(), ""),
        ],
    ))
    .await;
    let s = exporter
        .wait_cycle(&["cbc10", "des3", "go503", "nullonly", "anon"])
        .await;
    for o in ["cbc10", "des3"] {
        assert_causes(&s, o, &[], true);
        s.assert_value("origin_http_status_code", &[("origin", o)], 200.0);
    }
    assert_negotiated(&s, "cbc10", "TLSv1", "AES128-SHA");
    assert_negotiated(&s, "des3", "TLSv1.2", "DES-CBC3-SHA");
    assert_causes(&s, "go503", &["http_error_status"], false);
    s.assert_value("origin_http_status_code", &[("origin", "go503")], 503.0);
    for o in ["nullonly", "anon"] {
        assert_causes(&s, o, &["tls_cipher_mismatch"], false);
        assert_protocols(&exporter, o, &["TLSv1.2"]).await;
    }
    exporter.stop().await;
}

#[tokio::test]
async fn a_certificate_message_over_what_the_cdn_reads_is_a_failed_handshake() {
    let pki = Pki::new();
    // A leaf with 10,000 names: a Certificate message of ~250 KB, over s2n-tls's 64 KiB.
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("name{i:05}.oversized.lab.test"))
        .collect();
    let mut names: Vec<&str> = vec!["oversized.lab.test"];
    names.extend(many.iter().map(String::as_str));
    let l = pki.leaf(&LeafSpec::new(&names), Some(&pki.inter));
    let server = RustlsOrigin::start(
        vec![l.der.clone(), pki.inter.der.clone()],
        &l.key_der,
        false,
    )
    .await;
    let config = config(&pki, "2s", &[origin("oversized", server.port(), "")]);
    let exporter = Exporter::start(&config).await;
    let s = exporter.wait_cycle(&["oversized"]).await;
    // The handshake fails on the message's size; no certificate cause is made up from it.
    assert_causes(&s, "oversized", &["tls_handshake_failed"], false);
    exporter.stop().await;
    let out = check_output(&config, "oversized").await;
    assert!(
        out.contains("over the 64 KiB the CDN's TLS client accepts"),
        "{out}"
    );
}

/// A port free on every one of `ips` (bound on each, then released for the servers).
fn port_free_on(ips: &[std::net::IpAddr]) -> u16 {
    for _ in 0..50 {
        let Ok(first) = std::net::TcpListener::bind((ips[0], 0)) else {
            continue;
        };
        let Ok(port) = first.local_addr().map(|a| a.port()) else {
            continue;
        };
        let rest: Vec<_> = ips[1..]
            .iter()
            .filter_map(|ip| std::net::TcpListener::bind((*ip, port)).ok())
            .collect();
        if rest.len() == ips.len() - 1 {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// The CDN connects to any address of a round-robin name, so one broken server behind it is a
/// 502 for a share of viewers. Every address is probed by TLS and HTTP, the cause names the
/// broken address, and `origin_address_ready` says which one, on OpenSSL and on Go.
#[tokio::test]
async fn every_address_the_cdn_may_use() {
    use lab::dns::{DnsLab, Zone};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    const NS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 41);
    let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
    let pki = Pki::new();
    let valid = |name: &str| pki.leaf(&names(name).rsa(), Some(&pki.inter));
    // OpenSSL on both addresses; the second serves an expired certificate.
    let p = port_free_on(&[a, b]);
    let expired = pki.leaf(
        &names("openssl.multi.test").valid(-30, -1).rsa(),
        Some(&pki.inter),
    );
    let _ossl_a = OpenSslOrigin::start_at(
        &pki,
        &valid("openssl.multi.test"),
        SocketAddr::new(a, p),
        &[],
    )
    .await;
    let _ossl_b = OpenSslOrigin::start_at(&pki, &expired, SocketAddr::new(b, p), &[]).await;
    // Go on both addresses; the second answers 503.
    let q = port_free_on(&[a, b]);
    let go_leaf = valid("go.multi.test");
    let _go_a = GoOrigin::start_at(&pki, &go_leaf, SocketAddr::new(a, q), &[]).await;
    let _go_b =
        GoOrigin::start_at(&pki, &go_leaf, SocketAddr::new(b, q), &["-status", "503"]).await;
    // Go on both addresses, both healthy: one series more per address, nothing else.
    let r = port_free_on(&[a, b]);
    let both_leaf = valid("both.multi.test");
    let _both_a = GoOrigin::start_at(&pki, &both_leaf, SocketAddr::new(a, r), &[]).await;
    let _both_b = GoOrigin::start_at(&pki, &both_leaf, SocketAddr::new(b, r), &[]).await;
    let mut zone = Zone::new("multi.test", 1, &[NS]);
    for name in ["openssl", "go", "both"] {
        for ip in [a, b] {
            zone = zone.with_record(&format!("{name}.multi.test"), ip);
        }
    }
    let dns = DnsLab::start(vec![zone], &[]).await;
    let origin = |name: &str, port: u16| {
        format!(
            "  - {{name: {name}, domain: {name}.multi.test, https_port: {port}, checks: [tcp, tls, http], http: {{path: /}}}}\n"
        )
    };
    let config = format!(
        "global: {{interval: 2s, timeout: 2s, ca_file: '{}'{}}}\norigins:\n{}{}{}",
        pki.ca_file.display(),
        dns.global_yaml(),
        origin("openssl", p),
        origin("go", q),
        origin("both", r)
    );
    let exporter = Exporter::start(&config).await;
    let s = exporter.wait_cycle(&["openssl", "go", "both"]).await;
    assert_causes(&s, "openssl", &["cert_expired"], false);
    assert_causes(&s, "go", &["http_error_status"], false);
    assert_causes(&s, "both", &[], true);
    for (origin, ready_b) in [("openssl", 0.0), ("go", 0.0), ("both", 1.0)] {
        let address_ready = s.matching("origin_address_ready", &[("origin", origin)]);
        assert_eq!(address_ready.len(), 2, "{origin}: one series per address");
        s.assert_value(
            "origin_address_ready",
            &[("origin", origin), ("address", "127.0.0.1")],
            1.0,
        );
        s.assert_value(
            "origin_address_ready",
            &[("origin", origin), ("address", "127.0.0.2")],
            ready_b,
        );
        // The TLS series stay those of one address.
        assert_eq!(
            s.matching("origin_tls_version_info", &[("origin", origin)])
                .len(),
            1
        );
    }
    exporter.stop().await;

    // `check` names the broken address, in the cause and in the address list.
    let out = check_output(&config, "openssl").await;
    assert!(
        out.contains("addresses: 127.0.0.1 ready, 127.0.0.2 NOT READY"),
        "{out}"
    );
    assert!(out.contains("cert_expired"), "{out}");
    assert!(out.contains("(on 1 of 2 addresses: 127.0.0.2)"), "{out}");
    assert!(out.contains("-connect 127.0.0.2:"), "{out}");
    let out = check_output(&config, "go").await;
    assert!(out.contains("http_error_status"), "{out}");
    assert!(out.contains("503"), "{out}");
    assert!(out.contains("(on 1 of 2 addresses: 127.0.0.2)"), "{out}");
    assert!(out.contains(":127.0.0.2:"), "{out}");
}

/// The TCP check's accepted connection to a healthy address must not wait for a silent one:
/// a server with a handshake deadline (Go's ReadHeaderTimeout, 2 s) would close it while the
/// TCP check tries the silent address three times (3 s), and the healthy address would show a
/// false `tls_handshake_failed`. The CDN sends its hello at once; so must the exporter.
#[tokio::test]
async fn a_silent_address_does_not_stale_the_healthy_ones_connection() {
    use lab::dns::{DnsLab, Zone};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    const NS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 41);
    let (healthy, silent): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 3].into());
    let pki = Pki::new();
    let port = port_free_on(&[healthy, silent]);
    let _silent = lab::tcp::HungPort::start_at(SocketAddr::new(silent, port)).await;
    let _go = GoOrigin::start_at(
        &pki,
        &pki.leaf(&names("go.stale.test").rsa(), Some(&pki.inter)),
        SocketAddr::new(healthy, port),
        &["-handshake-timeout", "2s"],
    )
    .await;
    let zone = Zone::new("stale.test", 1, &[NS])
        .with_record("go.stale.test", healthy)
        .with_record("go.stale.test", silent);
    let dns = DnsLab::start(vec![zone], &[]).await;
    let config = format!(
        "global: {{interval: 10s, timeout: 5s, connection_timeout: 1s, connection_attempts: 3, ca_file: '{}'{}}}\norigins:\n  - {{name: go, domain: go.stale.test, https_port: {port}, protocol_policy: https-only, checks: [tcp, tls, http], http: {{path: /}}}}\n",
        pki.ca_file.display(),
        dns.global_yaml(),
    );
    let exporter = Exporter::start(&config).await;
    let s = exporter.wait_cycle(&["go"]).await;
    exporter.stop().await;
    assert_causes(&s, "go", &["port_unreachable"], false);
    s.assert_value(
        "origin_address_ready",
        &[("origin", "go"), ("address", "127.0.0.1")],
        1.0,
    );
    s.assert_value(
        "origin_address_ready",
        &[("origin", "go"), ("address", "127.0.0.3")],
        0.0,
    );
    let out = check_output(&config, "go").await;
    assert!(
        out.contains("addresses: 127.0.0.1 ready, 127.0.0.3 NOT READY"),
        "{out}"
    );
    assert!(
        out.contains("evidence: 127.0.0.3:") && !out.contains("tls_"),
        "{out}"
    );
}
