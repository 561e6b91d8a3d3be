//! CloudFront discovery against a real AWS fake: moto's server on loopback (tests/lab/aws.rs),
//! distributions created through its API pointing at lab origins, the exporter in-process.
//! moto comes from the test venv (`bash scripts/install-test-deps.sh`); without it the tests fail
//! saying so.

mod lab;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lab::aws::stub::{Stub, StubDistribution};
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
        .with_record("guarded.cf.test", LOOPBACK);
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
