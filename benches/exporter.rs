//! Micro-benchmarks of the hot paths that do not touch the network: diagnose one origin, and
//! encode `/metrics` for 10,000 origins (target: well under 100 ms).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use origin_exporter::config::{self, Origin, Scheme};
use origin_exporter::diagnose::diagnose;
use origin_exporter::metrics::{self, ExporterMetrics, Format};
use origin_exporter::probe::{
    CheckRun, HttpOutcome, HttpReport, OriginResults, Outcome, PortResult, PortState, Resolution,
};
use origin_exporter::store::{Slot, Snapshot, Store};

fn origins(n: usize) -> Vec<Arc<Origin>> {
    let mut yaml = String::from("origins:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - {{name: origin-{i}, domain: origin-{i}.example.com, http: {{path: /health}}, labels: {{team: t{}}}}}\n",
            i % 10
        ));
    }
    config::load_str(&yaml, std::path::Path::new("bench.yaml"))
        .expect("valid bench config")
        .origins
}

/// A typical healthy origin's results: two addresses, port open, 200.
// The update keeps this compiling as checks add fields to `OriginResults`.
#[allow(clippy::needless_update)]
fn results() -> OriginResults {
    let addrs: Vec<IpAddr> = vec![
        "192.0.2.10".parse().unwrap(),
        "2001:db8::10".parse().unwrap(),
    ];
    fn run<T>(outcome: Outcome<T>) -> CheckRun<T> {
        CheckRun {
            duration: Duration::from_millis(3),
            outcome,
        }
    }
    OriginResults {
        resolution: Some(run(Outcome::Completed(Resolution {
            addresses: addrs.clone(),
            error: None,
        }))),
        tcp: Some(run(Outcome::Completed(origin_exporter::probe::TcpReport {
            ports: addrs
                .iter()
                .map(|&address| PortResult {
                    address,
                    port: 443,
                    scheme: Scheme::Https,
                    state: PortState::Open,
                    duration: Duration::from_millis(2),
                })
                .collect(),
        }))),
        http: Some(run(Outcome::Completed(HttpReport {
            address: "192.0.2.10:443".parse().unwrap(),
            scheme: Scheme::Https,
            outcome: HttpOutcome::Status(200),
            duration: Duration::from_millis(40),
        }))),
        ..OriginResults::default()
    }
}

fn store_of(n: usize) -> Arc<Store> {
    let store = Arc::new(Store::default());
    let slots = origins(n)
        .into_iter()
        .map(|o| {
            let results = results();
            let diagnosis = diagnose(&o, &results);
            let slot = Arc::new(Slot::new(o));
            slot.publish(Arc::new(Snapshot {
                results,
                diagnosis,
                finished_at: SystemTime::now(),
            }));
            slot
        })
        .collect();
    store.replace(slots);
    store
}

fn bench(c: &mut Criterion) {
    let origin = origins(1).remove(0);
    let r = results();
    c.bench_function("diagnose one origin", |b| {
        b.iter(|| diagnose(black_box(&origin), black_box(&r)))
    });

    let store = store_of(10_000);
    let registry = metrics::registry(store, Arc::new(ExporterMetrics::default()));
    let body = metrics::encode(&registry, Format::PrometheusText).expect("encodes");
    println!(
        "/metrics for 10,000 origins: {} bytes, {} series",
        body.len(),
        body.lines().filter(|l| !l.starts_with('#')).count()
    );
    let mut group = c.benchmark_group("encode /metrics, 10,000 origins");
    group.sample_size(20);
    group.bench_function("prometheus text", |b| {
        b.iter(|| metrics::encode(&registry, Format::PrometheusText).expect("encodes"))
    });
    group.bench_function("openmetrics", |b| {
        b.iter(|| metrics::encode(&registry, Format::OpenMetrics).expect("encodes"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
