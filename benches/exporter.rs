//! Micro-benchmarks of the hot paths that do not touch the network: build the CDN's ClientHello,
//! read a ServerHello+Certificate reply, analyse a 3-certificate chain (uncached and cached),
//! diagnose one origin, and encode `/metrics` for 10,000 origins with DNS and TLS results
//! (target: well under 100 ms). Figures are in bench/README.md.

mod fixtures;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use origin_exporter::analysis;
use origin_exporter::cdn::{TlsVersion, CLOUDFRONT};
use origin_exporter::checks::tls::facts_cache::FactsCache;
use origin_exporter::checks::tls::reply::read_reply;
use origin_exporter::checks::tls::{client_hello, HelloSpec};
use origin_exporter::diagnose::diagnose;
use origin_exporter::metrics::{self, ExporterMetrics, Format};

use fixtures::{lab, now, origins, results, store_of};

fn bench(c: &mut Criterion) {
    let lab = lab();
    let facts = lab.facts();

    let spec = HelloSpec::cdn_view(&CLOUDFRONT, &[TlsVersion::Tls1_2]);
    c.bench_function("build the CDN ClientHello", |b| {
        b.iter(|| {
            client_hello(
                black_box(&spec),
                black_box("origin-1.example.com"),
                &[7; 32],
            )
        })
    });
    let reply = lab.reply();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function(
        "read a ServerHello+Certificate reply (3 certificates)",
        |b| b.iter(|| rt.block_on(read_reply(&mut black_box(&reply[..]), true))),
    );

    c.bench_function("chain analysis, 3 certificates, uncached", |b| {
        b.iter(|| {
            let facts = lab.facts();
            analysis::report(&facts, &["origin-1.example.com"], now(), 30)
        })
    });
    let cache = FactsCache::default();
    c.bench_function("chain analysis, 3 certificates, cached", |b| {
        b.iter(|| {
            let facts = cache.get_or_insert(&lab.served, &[], || lab.facts());
            analysis::report(&facts, &["origin-1.example.com"], now(), 30)
        })
    });

    let origin = origins(1).remove(0);
    let r = results(&origin, &facts);
    c.bench_function("diagnose one origin", |b| {
        b.iter(|| diagnose(black_box(&origin), black_box(&r)))
    });

    let store = store_of(10_000, &facts);
    let registry = metrics::registry(store, Arc::new(ExporterMetrics::default()));
    let body = metrics::encode(&registry, Format::PrometheusText).expect("encodes");
    println!(
        "/metrics for 10,000 origins: {} bytes, {} series",
        body.len(),
        body.lines().filter(|l| !l.starts_with('#')).count()
    );
    let mut group = c.benchmark_group("encode /metrics, 10,000 origins");
    group.sample_size(20);
    // Into 64 KiB chunks that are dropped when full, as the server streams them: the body is
    // never held whole, so the bench does not time the growth of a 60 MB string.
    let mut sink = Chunks(String::with_capacity(CHUNK));
    for (name, format) in [
        ("prometheus text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| metrics::encode_to(&mut sink, &registry, format).expect("encodes"))
        });
    }
    // What a Prometheus scrape costs: it always asks for gzip (the server compresses with
    // flate2's fast level while it encodes).
    let packed = {
        let mut gz = Gzipped(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        metrics::encode_to(&mut gz, &registry, Format::PrometheusText).expect("encodes");
        gz.0.finish().expect("gzip")
    };
    println!(
        "/metrics for 10,000 origins, gzip: {} bytes ({:.1}% of {})",
        packed.len(),
        100.0 * packed.len() as f64 / body.len() as f64,
        body.len()
    );
    group.bench_function("prometheus text, gzip", |b| {
        b.iter(|| {
            let mut gz = Gzipped(flate2::write::GzEncoder::new(
                std::io::sink(),
                flate2::Compression::fast(),
            ));
            metrics::encode_to(&mut gz, &registry, Format::PrometheusText).expect("encodes");
            gz.0.finish().expect("gzip")
        })
    });
    group.finish();
}

const CHUNK: usize = 64 * 1024;

/// The encoder's text into a gzip stream, as the server writes it.
struct Gzipped<W: std::io::Write>(flate2::write::GzEncoder<W>);

impl<W: std::io::Write> std::fmt::Write for Gzipped<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        use std::io::Write as _;
        self.0.write_all(s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

struct Chunks(String);

impl std::fmt::Write for Chunks {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.len() + s.len() > CHUNK {
            black_box(&self.0);
            self.0.clear();
        }
        self.0.push_str(s);
        Ok(())
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
