//! CloudFront discovery against a real AWS fake: moto's server on loopback (tests/lab/aws.rs),
//! distributions created through its API pointing at lab origins, the exporter in-process.
//! moto comes from the test venv (`bash scripts/install-test-deps.sh`); without it the tests fail
//! saying so.

mod lab;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lab::aws::stub::{Stub, StubDistribution, StubVpcOrigin};
use lab::aws::Moto;
use lab::dns::{DnsLab, Zone};
use lab::http::HttpOrigin;
use lab::{Exporter, Scrape};
use serde_json::json;

const NS1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 31);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// Every lab origin name resolves to 127.0.0.1.
async fn dns() -> DnsLab {
    let zone = Zone::new("cf.test", 1, &[NS1])
        .with_record("healthy.cf.test", LOOPBACK)
        .with_record("broken.cf.test", LOOPBACK)
        .with_record("shop.cf.test", LOOPBACK)
        .with_record("guarded.cf.test", LOOPBACK)
        .with_record("ossl-none.cf.test", LOOPBACK)
        .with_record("ossl-copy.cf.test", LOOPBACK)
        .with_record("go-none.cf.test", LOOPBACK)
        .with_record("go-copy.cf.test", LOOPBACK)
        .with_record("vpc.cf.test", LOOPBACK);
    DnsLab::start(vec![zone], &[]).await
}

fn config(moto: &Moto, dns: &DnsLab, extra: &str) -> String {
    format!(
        "global: {{interval: 1s, timeout: 1s, checks: [tcp, http], http: {{path: /health, expect_status: [200]}}{}}}
discovery: {{cloudfront: {{refresh_interval: 1s, endpoint_url: '{}'{extra}}}}}
",
        dns.global_yaml(),
        moto.endpoint()
    )
}

/// Waits until `ready` holds for a scrape, up to 60 s (the first refresh, then a cycle).
async fn wait(exporter: &Exporter, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = exporter.scrape().await;
        if ready(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            s.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn probed(s: &Scrape, origin: &str) -> bool {
    s.value("origin_cdn_ready", &[("origin", origin)]).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributions_become_origins_and_follow_the_account() {
    let mut moto = Moto::start();
    let dns = dns().await;
    let healthy = HttpOrigin::plain(200, Duration::ZERO).await;
    let shop = HttpOrigin::plain(200, Duration::ZERO).await;
    let guarded = HttpOrigin::requiring_header(200, "X-Origin-Verify", "let-me-in").await;
    let closed = lab::tcp::closed_port();
    let origin = |id: &str, domain: &str, port: u16| json!({"id": id, "domain": domain, "http_port": port, "policy": "http-only"});

    let (healthy_id, _) = moto.create_distribution(&json!({
        "ref": "healthy",
        "origins": [origin("web", "healthy.cf.test", healthy.port())],
    }));
    let (broken_id, _) = moto.create_distribution(&json!({
        "ref": "broken",
        "origins": [origin("web", "broken.cf.test", closed)],
    }));
    let (shop_id, _) = moto.create_distribution(&json!({
        "ref": "shop",
        "aliases": ["www.shop.test", "m.shop.test"],
        "forward_host": true,
        "origins": [origin("lb", "shop.cf.test", shop.port())],
    }));
    let (s3_id, _) = moto.create_distribution(&json!({
        "ref": "s3",
        "origins": [
            {"id": "bucket", "domain": "bucket.s3.amazonaws.com", "s3": true},
            origin("app", "healthy.cf.test", healthy.port()),
        ],
    }));
    let mut guarded_origin = origin("guarded", "guarded.cf.test", guarded.port());
    guarded_origin["headers"] = json!({"X-Origin-Verify": "let-me-in"});
    guarded_origin["path"] = json!("/app");
    let (guarded_id, _) = moto.create_distribution(&json!({
        "ref": "guarded",
        "origins": [guarded_origin],
    }));

    let exporter = Exporter::start(&config(&moto, &dns, "")).await;
    let healthy_name = format!("{healthy_id}_web");
    let broken_name = format!("{broken_id}_web");
    let www = format!("{shop_id}_lb_www.shop.test");
    let m = format!("{shop_id}_lb_m.shop.test");
    let app = format!("{s3_id}_app");
    let guarded_name = format!("{guarded_id}_guarded");
    let all = [&healthy_name, &broken_name, &www, &m, &app, &guarded_name];
    let s = wait(&exporter, "every discovered origin probed", |s| {
        all.iter().all(|o| probed(s, o))
    })
    .await;

    assert_eq!(s.active_causes(&healthy_name), Vec::<String>::new());
    assert_eq!(s.active_causes(&broken_name), ["port_unreachable"]);
    assert_eq!(s.active_causes(&www), Vec::<String>::new());
    assert_eq!(s.active_causes(&guarded_name), Vec::<String>::new());
    s.assert_value(
        "origin_cdn_ready",
        &[
            ("origin", &healthy_name),
            ("distribution_id", &healthy_id),
            ("origin_id", "web"),
        ],
        1.0,
    );
    s.assert_value(
        "origin_exporter_discovery_skipped_origins",
        &[("provider", "cloudfront"), ("reason", "s3_origin")],
        1.0,
    );
    s.assert_value(
        "origin_exporter_discovery_origins",
        &[("provider", "cloudfront")],
        6.0,
    );
    // Host forwarded: each alias is SNI and Host; the custom header and origin path are sent.
    let hosts: Vec<String> = shop.seen().into_iter().filter_map(|r| r.host).collect();
    assert!(hosts.iter().any(|h| h == "www.shop.test"), "{hosts:?}");
    assert!(hosts.iter().any(|h| h == "m.shop.test"), "{hosts:?}");
    let seen = guarded.seen();
    assert!(
        seen.iter()
            .any(|r| r.request_line.starts_with("GET /app/health ")),
        "{seen:?}"
    );
    // /sd lists them with their labels, and never a header value.
    let (_, sd) = exporter.get("/sd").await;
    assert!(!sd.contains("let-me-in"));
    let groups: serde_json::Value = serde_json::from_str(&sd).expect("JSON");
    assert!(
        groups.as_array().expect("list").iter().any(|g| g
            == &json!({"targets": [healthy_name.clone()], "labels": {"distribution_id": healthy_id.clone(), "origin_id": "web"}})),
        "{sd}"
    );

    // A distribution deleted in the account disappears from /metrics and /sd.
    moto.delete_distribution(&broken_id);
    wait(&exporter, "the deleted distribution's origin gone", |s| {
        !s.has_origin(&broken_name)
    })
    .await;
    let (_, sd) = exporter.get("/sd").await;
    assert!(!sd.contains(&broken_name), "{sd}");

    // The API gone: the last set stays, and the errors are counted.
    moto.stop();
    let s = wait(&exporter, "a failed refresh counted", |s| {
        s.value(
            "origin_exporter_discovery_errors_total",
            &[("provider", "cloudfront")],
        )
        .is_some_and(|v| v >= 1.0)
    })
    .await;
    assert!(s.has_origin(&healthy_name));
    assert!(s.has_origin(&guarded_name));
    exporter.stop().await;
}

/// The config file's reload metrics describe the file alone: a discovery refresh applied after
/// a failed reload leaves `origin_exporter_config_last_reload_successful` at 0 (and its success
/// timestamp where it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_refresh_does_not_hide_a_failed_config_reload() {
    let moto = Moto::start();
    let dns = dns().await;
    let healthy = HttpOrigin::plain(200, Duration::ZERO).await;
    let origin = |domain: &str| json!({"id": "web", "domain": domain, "http_port": healthy.port(), "policy": "http-only"});
    let (first, _) =
        moto.create_distribution(&json!({"ref": "first", "origins": [origin("healthy.cf.test")]}));
    let exporter = Exporter::start(&config(&moto, &dns, "")).await;
    let first_name = format!("{first}_web");
    let s = wait(&exporter, "the discovered origin probed", |s| {
        probed(s, &first_name)
    })
    .await;
    s.assert_value("origin_exporter_config_last_reload_successful", &[], 1.0);
    let loaded_at = s
        .value(
            "origin_exporter_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .expect("success timestamp");

    exporter.write_config("global: {interval: 10x}\n");
    let (status, body) = exporter.post("/-/reload").await;
    assert_eq!(status, 500, "a broken file reloaded: {body}");
    let (second, _) =
        moto.create_distribution(&json!({"ref": "second", "origins": [origin("shop.cf.test")]}));
    let second_name = format!("{second}_web");
    let s = wait(&exporter, "the new distribution's origin applied", |s| {
        probed(s, &second_name)
    })
    .await;
    s.assert_value("origin_exporter_config_last_reload_successful", &[], 0.0);
    s.assert_value(
        "origin_exporter_config_last_reload_success_timestamp_seconds",
        &[],
        loaded_at,
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_leaves_the_configured_origins_running() {
    lab::aws::fake_credentials();
    let closed = lab::tcp::closed_port();
    let open = lab::tcp::OpenPort::start().await;
    let exporter = Exporter::start(&format!(
        "global: {{interval: 1s, timeout: 1s, checks: [tcp]}}
discovery: {{cloudfront: {{refresh_interval: 1s, endpoint_url: 'http://127.0.0.1:{closed}'}}}}
origins: [{{name: configured, domain: c.example, address: 127.0.0.1, https_port: {}}}]
",
        open.port()
    ))
    .await;
    let s = wait(
        &exporter,
        "the configured origin probed and a failed refresh",
        |s| {
            probed(s, "configured")
                && s.value(
                    "origin_exporter_discovery_errors_total",
                    &[("provider", "cloudfront")],
                )
                .is_some_and(|v| v >= 1.0)
        },
    )
    .await;
    s.assert_value("origin_cdn_ready", &[("origin", "configured")], 1.0);
    s.assert_value(
        "origin_exporter_discovery_origins",
        &[("provider", "cloudfront")],
        0.0,
    );
    exporter.stop().await;
}

/// moto serves no origin request policies and no `IpAddressType`: the lab's stub of the API
/// does (see [`lab::aws::stub`]).
#[tokio::test]
async fn policies_pages_and_ip_address_type_from_a_stub_api() {
    lab::aws::fake_credentials();
    let one = StubDistribution {
        origin_request_policy: Some("pol-all".into()),
        ip_address_type: "ipv6".into(),
        ..StubDistribution::new("ESTUB1")
    };
    let two = StubDistribution {
        origin_request_policy: Some("pol-host".into()),
        ip_address_type: "dualstack".into(),
        ..StubDistribution::new("ESTUB2")
    };
    let stub = Stub::start(vec![vec![one], vec![two]]).await;
    stub.set_origin_request_policy("pol-all", "allViewer", &[]);
    stub.set_origin_request_policy("pol-host", "whitelist", &["Host"]);
    let config = origin_exporter::config::load_str(
        &format!(
            "discovery: {{cloudfront: {{endpoint_url: '{}'}}}}",
            stub.endpoint
        ),
        std::path::Path::new("t.yaml"),
    )
    .expect("config");
    let settings = config.discovery.cloudfront.clone().expect("cloudfront");
    let mut cf = origin_exporter::discovery::cloudfront::CloudFront::new(&settings).await;
    let set = cf.list().await.expect("list");
    let ids: Vec<&str> = set.distributions.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["ESTUB1", "ESTUB2"], "every page is read");
    // Two behaviors per distribution share a policy: each policy is fetched once.
    let requests = stub.requests();
    let policies: Vec<&String> = requests
        .iter()
        .filter(|p| p.contains("origin-request-policy"))
        .collect();
    assert_eq!(policies.len(), 2, "{requests:?}");
    let (merged, _) = origin_exporter::discovery::merge(&config, &set);
    let by_name = |n: &str| {
        merged
            .origins
            .iter()
            .find(|o| o.name == n)
            .unwrap_or_else(|| panic!("no origin {n}"))
    };
    let one = by_name("ESTUB1_web_www.estub1.test");
    assert_eq!(one.host_header.as_deref(), Some("www.estub1.test"));
    assert_eq!(
        one.ip_address_type,
        origin_exporter::config::IpAddressType::Ipv6
    );
    assert_eq!(one.connection_attempts, 2);
    assert_eq!(one.connection_timeout, Duration::from_secs(5));
    let two = by_name("ESTUB2_web_www.estub2.test");
    assert_eq!(
        two.ip_address_type,
        origin_exporter::config::IpAddressType::Dualstack
    );
    assert_eq!(merged.origins.len(), 2);

    // The next refresh reads the policies again: an edit under the same id shows.
    stub.set_origin_request_policy("pol-host", "none", &[]);
    let set = cf.list().await.expect("second list");
    let (merged, _) = origin_exporter::discovery::merge(&config, &set);
    let names: Vec<&str> = merged.origins.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["ESTUB1_web_www.estub1.test", "ESTUB2_web"]);
}

/// The origins listed by `/sd`, sorted.
async fn sd_targets(exporter: &Exporter) -> Vec<String> {
    let (_, sd) = exporter.get("/sd").await;
    let groups: serde_json::Value = serde_json::from_str(&sd).expect("JSON");
    let mut names: Vec<String> = groups
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// A cache policy with Host in its cache key forwards Host (CloudFront forwards the cache key's
/// headers): one origin per alias. The policy is edited under the same id while the exporter
/// runs, and the discovered origins follow it on the next refreshes, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_policy_edited_under_its_id_is_followed() {
    lab::aws::fake_credentials();
    let dns = dns().await;
    let open = lab::tcp::OpenPort::start().await;
    let shop = StubDistribution {
        aliases: vec!["www.shop.test".into(), "m.shop.test".into()],
        domain: "shop.cf.test".into(),
        https_port: open.port(),
        cache_policy: Some("cp-shop".into()),
        ..StubDistribution::new("ESHOP")
    };
    let stub = Stub::start(vec![vec![shop]]).await;
    stub.set_cache_policy("cp-shop", "whitelist", &["Accept-Language", "Host"]);
    let exporter = Exporter::start(&format!(
        "global: {{interval: 1s, timeout: 1s, checks: [tcp]{}}}
discovery: {{cloudfront: {{refresh_interval: 1s, endpoint_url: '{}'}}}}
",
        dns.global_yaml(),
        stub.endpoint
    ))
    .await;
    let per_alias = ["ESHOP_web_m.shop.test", "ESHOP_web_www.shop.test"];
    let deadline = Instant::now() + Duration::from_secs(60);
    wait_for_targets(&exporter, &per_alias, deadline).await;
    let s = wait(&exporter, "the aliases probed with their Host", |s| {
        per_alias.iter().all(|o| probed(s, o))
    })
    .await;
    s.assert_value(
        "origin_cdn_ready",
        &[("origin", "ESHOP_web_www.shop.test")],
        1.0,
    );

    // Host taken out of the cache key: one origin, the CDN's own Host.
    stub.set_cache_policy("cp-shop", "whitelist", &["Accept-Language"]);
    wait_for_targets(&exporter, &["ESHOP_web"], deadline).await;
    // And back.
    stub.set_cache_policy("cp-shop", "whitelist", &["host"]);
    wait_for_targets(&exporter, &per_alias, deadline).await;
    let fetched = stub
        .requests()
        .iter()
        .filter(|p| p.ends_with("/cache-policy/cp-shop"))
        .count();
    assert!(
        fetched >= 3,
        "the policy is read on every refresh: {fetched}"
    );
    exporter.stop().await;
}

/// Waits until `/sd` lists exactly `want` (sorted), until `deadline`.
async fn wait_for_targets(exporter: &Exporter, want: &[&str], deadline: Instant) {
    loop {
        let got = sd_targets(exporter).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {want:?}, /sd lists {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stub API's config for the exporter: the lab PKI trusted, the lab's DNS, every second.
fn stub_config(
    stub: &Stub,
    dns: &DnsLab,
    ca_file: &std::path::Path,
    checks: &str,
    extra: &str,
) -> String {
    format!(
        "global: {{interval: 2s, timeout: 2s, checks: [{checks}], http: {{path: /, expect_status: [200]}}, ca_file: '{}'{}}}
discovery: {{cloudfront: {{refresh_interval: 1s, endpoint_url: '{}'{extra}}}}}
",
        ca_file.display(),
        dns.global_yaml(),
        stub.endpoint
    )
}

/// moto keeps `OriginKeepaliveTimeout`: a distribution made through its API gives the
/// discovered origin its keep-alive timeout.
#[tokio::test]
async fn the_keepalive_timeout_comes_from_the_distribution() {
    let moto = Moto::start();
    let (id, _) = moto.create_distribution(&json!({
        "ref": "keepalive",
        "origins": [{"id": "web", "domain": "healthy.cf.test", "keepalive_timeout": 17}],
    }));
    let config = origin_exporter::config::load_str(
        &format!(
            "global: {{keepalive_timeout: 60s}}\ndiscovery: {{cloudfront: {{endpoint_url: '{}'}}}}",
            moto.endpoint()
        ),
        std::path::Path::new("t.yaml"),
    )
    .expect("config");
    let settings = config.discovery.cloudfront.clone().expect("cloudfront");
    let mut cf = origin_exporter::discovery::cloudfront::CloudFront::new(&settings).await;
    let set = cf.list().await.expect("list");
    let (merged, _) = origin_exporter::discovery::merge(&config, &set);
    let o = merged
        .origins
        .iter()
        .find(|o| o.name == format!("{id}_web"))
        .expect("the discovered origin");
    // The distribution's, not global's.
    assert_eq!(o.keepalive_timeout(), Duration::from_secs(17));
    assert_eq!(o.response_completion_timeout(), None);
}

/// What moto does not keep, from the stub in CloudFront's wire format: the response completion
/// timeout, the keep-alive timeout, and the origin mTLS certificate's ARN (with ACM's answer
/// missing: no ACM behind the stub).
#[tokio::test]
async fn completion_timeout_and_origin_mtls_from_a_stub_api() {
    lab::aws::fake_credentials();
    let arn = "arn:aws:acm:us-east-1:123456789012:certificate/not-in-acm";
    let d = StubDistribution {
        keepalive_timeout: 7,
        response_completion_timeout: Some(45),
        mtls_certificate_arn: Some(arn.into()),
        ..StubDistribution::new("ETIMES")
    };
    let stub = Stub::start(vec![vec![d]]).await;
    let config = origin_exporter::config::load_str(
        &format!(
            "discovery: {{cloudfront: {{endpoint_url: '{}'}}}}",
            stub.endpoint
        ),
        std::path::Path::new("t.yaml"),
    )
    .expect("config");
    let settings = config.discovery.cloudfront.clone().expect("cloudfront");
    let mut cf = origin_exporter::discovery::cloudfront::CloudFront::new(&settings).await;
    let set = cf.list().await.expect("ACM failing fails no refresh");
    let (merged, _) = origin_exporter::discovery::merge(&config, &set);
    let o = &merged.origins[0];
    assert_eq!(o.name, "ETIMES_web");
    assert_eq!(o.keepalive_timeout(), Duration::from_secs(7));
    assert_eq!(
        o.response_completion_timeout(),
        Some(Duration::from_secs(45))
    );
    let mtls = o.cdn_client_certificate.as_ref().expect("origin mTLS");
    assert_eq!(mtls.arn, arn);
    assert!(mtls.acm.is_err(), "{mtls:?}");
    assert!(o.client_certificate.is_none());
    assert!(
        stub.requests()
            .iter()
            .any(|r| r == "CertificateManager.DescribeCertificate"),
        "{:?}",
        stub.requests()
    );
}

/// Origin mTLS from the CDN, on OpenSSL and Go origins that require a client certificate from
/// the lab CA. The distributions come from the stub (moto knows no `OriginMtlsConfig`); the
/// certificates are imported into moto's ACM, which the stub forwards ACM's calls to. Without a
/// local copy the origin is not `tls_client_certificate_required` (the CDN does present one),
/// and the certificate that expires in 5 days is `cdn_client_certificate_expiring_soon`; with a
/// local copy the checks present it and the origin is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_mtls_from_acm_with_and_without_a_local_copy() {
    use lab::tls::{Files, GoOrigin, LeafSpec, OpenSslOrigin, Pki};
    let moto = Moto::start();
    let dns = dns().await;
    let pki = Pki::new();
    let files = Files::new();
    let root = files.write("root.pem", &pki.root.pem);
    let root = root.to_str().expect("path");
    let serve = |names: &[&str]| pki.leaf(&LeafSpec::new(names).rsa(), Some(&pki.inter));
    let ossl = OpenSslOrigin::start(
        &pki,
        &serve(&["ossl-none.cf.test", "ossl-copy.cf.test"]),
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
    let go = GoOrigin::start(
        &pki,
        &serve(&["go-none.cf.test", "go-copy.cf.test"]),
        &["-client-auth", "verify", "-client-ca", root],
    )
    .await;
    // The CDN's client certificates, issued by the lab CA the origins trust.
    let client = |days: i64| {
        pki.leaf(
            &LeafSpec::new(&["cdn-client.cf.test"]).valid(-30, days),
            Some(&pki.inter),
        )
    };
    let expiring = client(5);
    let copied = client(300);
    let expiring_arn = moto.import_certificate(&expiring.pem, &expiring.key_pem, &pki.inter.pem);
    let copied_arn = moto.import_certificate(&copied.pem, &copied.key_pem, &pki.inter.pem);
    let copy_cert = files.write("copy.pem", &format!("{}{}", copied.pem, pki.inter.pem));
    let copy_key = files.write("copy.key", &copied.key_pem);

    let distribution = |id: &str, domain: &str, port: u16, arn: &str| StubDistribution {
        domain: domain.into(),
        https_port: port,
        mtls_certificate_arn: Some(arn.into()),
        ..StubDistribution::new(id)
    };
    let stub = Stub::start(vec![vec![
        distribution("EOSSLNONE", "ossl-none.cf.test", ossl.port(), &expiring_arn),
        distribution("EOSSLCOPY", "ossl-copy.cf.test", ossl.port(), &copied_arn),
        distribution("EGONONE", "go-none.cf.test", go.port(), &expiring_arn),
        distribution("EGOCOPY", "go-copy.cf.test", go.port(), &copied_arn),
    ]])
    .await;
    stub.forward_others_to(moto.addr);
    let exporter = Exporter::start(&stub_config(
        &stub,
        &dns,
        &pki.ca_file,
        "tcp, tls, http",
        &format!(
            ", client_certificates: {{'{copied_arn}': {{cert_file: '{}', key_file: '{}'}}}}",
            copy_cert.display(),
            copy_key.display()
        ),
    ))
    .await;
    let without = ["EOSSLNONE_web", "EGONONE_web"];
    let with = ["EOSSLCOPY_web", "EGOCOPY_web"];
    let s = wait(&exporter, "every mTLS origin probed", |s| {
        without.iter().chain(&with).all(|o| {
            probed(s, o)
                && s.value("origin_tls_handshake_success", &[("origin", o)])
                    .is_some()
        })
    })
    .await;
    for o in without {
        assert_eq!(
            s.active_causes(o),
            ["cdn_client_certificate_expiring_soon"],
            "{o}: not tls_client_certificate_required, and the expiry from ACM"
        );
        s.assert_value(
            "origin_cdn_client_certificate_not_after_timestamp_seconds",
            &[("origin", o)],
            expiring.not_after as f64,
        );
        s.assert_value("origin_cdn_ready", &[("origin", o)], 1.0);
    }
    for o in with {
        assert_eq!(s.active_causes(o), Vec::<String>::new(), "{o}");
        s.assert_value(
            "origin_cdn_client_certificate_not_after_timestamp_seconds",
            &[("origin", o)],
            copied.not_after as f64,
        );
        // The HTTP check presented the copy too: the origins answered.
        s.assert_value("origin_http_status_code", &[("origin", o)], 200.0);
    }
    // The landing page says why the origins without a copy were not judged on the certificate.
    let (_, page) = exporter.get("/").await;
    assert!(
        page.contains("the origin&#39;s verdict on it cannot be checked")
            || page.contains("the origin's verdict on it cannot be checked"),
        "{page}"
    );
    assert!(page.contains(&expiring_arn), "{page}");
    // ACM is asked once per certificate and refresh.
    let described = stub
        .requests()
        .iter()
        .filter(|r| *r == "CertificateManager.DescribeCertificate")
        .count();
    assert!(described >= 2, "{:?}", stub.requests());
    exporter.stop().await;
}

/// VPC origins: skipped by default (counted, and listed on the landing page as not probed);
/// with `vpc_origins: probe` probed on the ports and protocols of the VPC origin (GetVpcOrigin),
/// with the distribution's domain and timeouts, read again on every refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpc_origins_are_listed_as_skipped_or_probed_as_their_vpc_origin_says() {
    use lab::tls::{LeafSpec, Pki, RustlsOrigin};
    lab::aws::fake_credentials();
    let dns = dns().await;
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["vpc.cf.test"]), Some(&pki.inter));
    let origin = RustlsOrigin::serving(&pki, &leaf, false).await;
    let vpc = StubDistribution {
        domain: "vpc.cf.test".into(),
        // Not what CloudFront connects to: a VPC origin's ports are the VPC origin's own.
        https_port: 1,
        keepalive_timeout: 20,
        vpc_origin: Some("vo_lab".into()),
        ..StubDistribution::new("EVPC")
    };
    let stub = Stub::start(vec![vec![vpc]]).await;
    stub.set_vpc_origin(
        "vo_lab",
        StubVpcOrigin {
            http_port: 80,
            https_port: origin.port(),
            protocol_policy: "https-only".into(),
            ssl_protocols: vec!["TLSv1.2".into()],
        },
    );

    // skip (the default).
    let exporter = Exporter::start(&stub_config(&stub, &dns, &pki.ca_file, "tcp, tls", "")).await;
    let s = wait(&exporter, "the VPC origin counted as skipped", |s| {
        s.value(
            "origin_exporter_discovery_skipped_origins",
            &[("provider", "cloudfront"), ("reason", "vpc_origin")],
        ) == Some(1.0)
    })
    .await;
    assert!(!s.has_origin("EVPC_web"));
    s.assert_value(
        "origin_exporter_discovery_origins",
        &[("provider", "cloudfront")],
        0.0,
    );
    let (_, page) = exporter.get("/").await;
    for text in [
        "Not probed",
        "EVPC",
        "vpc.cf.test",
        "vpc_origin",
        "vpc_origins: probe",
    ] {
        assert!(
            page.contains(text),
            "{text:?} not on the landing page:\n{page}"
        );
    }
    exporter.stop().await;
    assert!(
        !stub.requests().iter().any(|r| r.contains("vpc-origin")),
        "skip reads no VPC origin"
    );

    // probe.
    let exporter = Exporter::start(&stub_config(
        &stub,
        &dns,
        &pki.ca_file,
        "tcp, tls",
        ", vpc_origins: probe",
    ))
    .await;
    let s = wait(&exporter, "the VPC origin probed", |s| {
        probed(s, "EVPC_web")
    })
    .await;
    assert_eq!(s.active_causes("EVPC_web"), Vec::<String>::new());
    s.assert_value(
        "origin_tls_handshake_success",
        &[("origin", "EVPC_web")],
        1.0,
    );
    s.assert_value(
        "origin_exporter_discovery_skipped_origins",
        &[("provider", "cloudfront"), ("reason", "vpc_origin")],
        0.0,
    );
    // Read on every refresh: a second GetVpcOrigin comes with the second refresh.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stub
        .requests()
        .iter()
        .filter(|r| r.ends_with("/vpc-origin/vo_lab"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{:?}", stub.requests());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exporter.stop().await;

    // What the origin takes from where.
    let config = origin_exporter::config::load_str(
        &format!(
            "discovery: {{cloudfront: {{endpoint_url: '{}', vpc_origins: probe}}}}",
            stub.endpoint
        ),
        std::path::Path::new("t.yaml"),
    )
    .expect("config");
    let settings = config.discovery.cloudfront.clone().expect("cloudfront");
    let mut cf = origin_exporter::discovery::cloudfront::CloudFront::new(&settings).await;
    let set = cf.list().await.expect("list");
    let (merged, _) = origin_exporter::discovery::merge(&config, &set);
    let o = &merged.origins[0];
    assert_eq!(
        (o.name.as_str(), o.domain.as_str()),
        ("EVPC_web", "vpc.cf.test")
    );
    assert_eq!(o.https_port, origin.port());
    assert_eq!(o.keepalive_timeout(), Duration::from_secs(20));
    assert_eq!(o.read_timeout, Duration::from_secs(30));
}
