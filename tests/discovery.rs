//! CloudFront discovery against a real AWS fake: moto's server on loopback (tests/lab/aws.rs),
//! distributions created through its API pointing at lab origins, the exporter in-process.
//! moto comes from the test venv (`bash scripts/install-test-deps.sh`); without it the tests fail
//! saying so.

mod lab;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

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

/// What moto lacks (origin request policies, `IpAddressType`), served by a stub of the
/// CloudFront API on loopback: two pages of ListDistributions (Marker/NextMarker) and
/// GetOriginRequestPolicy. Each request is answered from a fixed table and recorded.
mod stub {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

    pub struct Stub {
        pub endpoint: String,
        pub requests: Arc<Mutex<Vec<String>>>,
        task: JoinHandle<()>,
    }

    impl Drop for Stub {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn summary(id: &str, policy: &str, ip_type: &str) -> String {
        format!(
            "<DistributionSummary><Id>{id}</Id><ARN>arn:aws:cloudfront::123456789012:distribution/{id}</ARN><Status>Deployed</Status>\
<LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime><DomainName>{id}.cloudfront.net</DomainName>\
<Aliases><Quantity>1</Quantity><Items><CNAME>www.{id}.test</CNAME></Items></Aliases>\
<Origins><Quantity>1</Quantity><Items><Origin><Id>web</Id><DomainName>web.stub.test</DomainName><OriginPath></OriginPath>\
<CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort><OriginProtocolPolicy>https-only</OriginProtocolPolicy>\
<OriginSslProtocols><Quantity>1</Quantity><Items><SslProtocol>TLSv1.2</SslProtocol></Items></OriginSslProtocols>\
<OriginReadTimeout>30</OriginReadTimeout><OriginKeepaliveTimeout>5</OriginKeepaliveTimeout><IpAddressType>{ip_type}</IpAddressType></CustomOriginConfig>\
<ConnectionAttempts>2</ConnectionAttempts><ConnectionTimeout>5</ConnectionTimeout></Origin></Items></Origins>\
<OriginGroups><Quantity>0</Quantity></OriginGroups>\
<DefaultCacheBehavior><TargetOriginId>web</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy><OriginRequestPolicyId>{policy}</OriginRequestPolicyId></DefaultCacheBehavior>\
<CacheBehaviors><Quantity>1</Quantity><Items><CacheBehavior><PathPattern>/api/*</PathPattern><TargetOriginId>web</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy><OriginRequestPolicyId>{policy}</OriginRequestPolicyId></CacheBehavior></Items></CacheBehaviors>\
<Comment></Comment><PriceClass>PriceClass_All</PriceClass><Enabled>true</Enabled><WebACLId></WebACLId><HttpVersion>http2</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled>\
</DistributionSummary>"
        )
    }

    fn answer(path: &str) -> String {
        if path.starts_with("/2020-05-31/distribution") {
            let (items, next) = if path.contains("Marker=page2") {
                (summary("ESTUB2", "pol-host", "dualstack"), "")
            } else {
                (summary("ESTUB1", "pol-all", "ipv6"), "page2")
            };
            let truncated = !next.is_empty();
            format!(
                "<?xml version=\"1.0\"?><DistributionList xmlns=\"{NS}\"><Marker></Marker><NextMarker>{next}</NextMarker>\
<MaxItems>1</MaxItems><IsTruncated>{truncated}</IsTruncated><Quantity>1</Quantity><Items>{items}</Items></DistributionList>"
            )
        } else {
            let (id, behavior, headers) = if path.ends_with("/pol-all") {
                ("pol-all", "allViewer", "")
            } else {
                (
                    "pol-host",
                    "whitelist",
                    "<Headers><Quantity>1</Quantity><Items><Name>Host</Name></Items></Headers>",
                )
            };
            format!(
                "<?xml version=\"1.0\"?><OriginRequestPolicy xmlns=\"{NS}\"><Id>{id}</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime>\
<OriginRequestPolicyConfig><Name>{id}</Name><HeadersConfig><HeaderBehavior>{behavior}</HeaderBehavior>{headers}</HeadersConfig>\
<CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>none</QueryStringBehavior></QueryStringsConfig>\
</OriginRequestPolicyConfig></OriginRequestPolicy>"
            )
        }
    }

    pub async fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let body = answer(&path);
                    if let Ok(mut l) = log.lock() {
                        l.push(path);
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Stub {
            endpoint,
            requests,
            task,
        }
    }
}

/// moto serves no origin request policies and no `IpAddressType`: a stub does (see [`stub`]).
#[tokio::test]
async fn policies_pages_and_ip_address_type_from_a_stub_api() {
    lab::aws::fake_credentials();
    let stub = stub::start().await;
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
    let requests = stub.requests.lock().expect("log").clone();
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
}
