//! Discovery of 1,000 distributions × 3 origins from the AWS fake (moto on loopback): API calls
//! made, time to list them, time to map and validate them into origins, and the memory the
//! discovered set holds. Run with `cargo bench --bench discovery`; figures in bench/README.md.
//! Needs moto in the test venv (`bash scripts/install-test-deps.sh`); fails saying so without it.

#[path = "../tests/lab/aws.rs"]
#[allow(
    dead_code,
    clippy::disallowed_methods,
    reason = "the benchmark uses part of the lab helper, whose clients connect directly"
)]
mod aws;

use std::time::Instant;

use origin_exporter::discovery::cloudfront::CloudFront;
use origin_exporter::discovery::{merge, Discovered};

const DISTRIBUTIONS: usize = 1000;

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let moto = aws::Moto::start();
    let started = Instant::now();
    moto.python(&format!(
        r#"
for i in range({DISTRIBUTIONS}):
    origins = [{{'Id': f'o{{j}}', 'DomainName': f'o{{j}}.d{{i}}.example.com',
        'CustomOriginConfig': {{'HTTPPort': 80, 'HTTPSPort': 443, 'OriginProtocolPolicy': 'https-only',
            'OriginSslProtocols': {{'Quantity': 1, 'Items': ['TLSv1.2']}}}}}} for j in range(3)]
    cf.create_distribution(DistributionConfig={{'CallerReference': f'bench-{{i}}',
        'Origins': {{'Quantity': 3, 'Items': origins}},
        'DefaultCacheBehavior': {{'TargetOriginId': 'o0', 'ViewerProtocolPolicy': 'allow-all',
            'ForwardedValues': {{'QueryString': False, 'Cookies': {{'Forward': 'none'}}}}, 'MinTTL': 0}},
        'Comment': '', 'Enabled': True}})
"#
    ));
    eprintln!(
        "created {DISTRIBUTIONS} distributions in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = origin_exporter::config::load_str(
        &format!(
            "discovery: {{cloudfront: {{endpoint_url: '{}'}}}}",
            moto.endpoint()
        ),
        std::path::Path::new("bench.yaml"),
    )
    .expect("config");
    let settings = config.discovery.cloudfront.clone().expect("cloudfront");
    runtime.block_on(async {
        let before = rss_kib();
        let mut cf = CloudFront::new(&settings).await;
        let t = Instant::now();
        let set: Discovered = cf.list().await.expect("list");
        let listed = t.elapsed();
        let t = Instant::now();
        let (merged, mapping) = merge(&config, &set);
        let mapped = t.elapsed();
        let after = rss_kib();
        println!(
            "discovery: {} distributions, {} origins; API calls {} (ListDistributions {}); list {:.2}s, map+validate {:.1}ms; RSS +{} KiB (set and origins held)",
            set.distributions.len(),
            merged.origins.len(),
            cf.calls.total(),
            cf.calls
                .list_distributions
                .load(std::sync::atomic::Ordering::Relaxed),
            listed.as_secs_f64(),
            mapped.as_secs_f64() * 1000.0,
            after.saturating_sub(before),
        );
        drop((merged, mapping, set));
    });
}
