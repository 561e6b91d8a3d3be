//! Micro-benchmarks of the hot paths that do not touch the network: build the CDN's ClientHello,
//! read a ServerHello+Certificate reply, analyse a 3-certificate chain (uncached and cached),
//! diagnose one origin, and encode `/metrics` for 10,000 origins with DNS and TLS results
//! (target: well under 100 ms). Figures are in bench/README.md.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use hickory_proto::op::ResponseCode;
use origin_exporter::analysis::{self, ChainFacts};
use origin_exporter::cdn::{TlsVersion, CLOUDFRONT};
use origin_exporter::checks::dns::{
    self as dns, Answer, DelegationReport, DnsReport, ServerReport,
};
use origin_exporter::checks::tls::facts_cache::FactsCache;
use origin_exporter::checks::tls::reply::read_reply;
use origin_exporter::checks::tls::{
    client_hello, Handshake, HelloSpec, Negotiated, Reply, ServerHello, TlsReport,
};
use origin_exporter::checks::TlsContext;
use origin_exporter::checks::{
    CheckRun, HttpOutcome, HttpReport, OriginResults, Outcome, PortResult, PortState, Resolution,
};
use origin_exporter::config::{self, Origin, Scheme};
use origin_exporter::diagnose::diagnose;
use origin_exporter::metrics::{self, ExporterMetrics, Format};
use origin_exporter::store::{Slot, Snapshot, Store};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;

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

/// A lab PKI: root, intermediate, and a `*.example.com` leaf, served as leaf, intermediate,
/// root (3 certificates); the root is trusted through a CA file, as `global.ca_file`.
struct Lab {
    served: Vec<CertificateDer<'static>>,
    tls: TlsContext,
    _dir: tempfile::TempDir,
}

fn lab() -> Lab {
    fn ca(cn: &str) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p
    }
    let root_key = KeyPair::generate().expect("key");
    let root_params = ca("Bench Root CA");
    let root = root_params.self_signed(&root_key).expect("root");
    let root_issuer = Issuer::new(root_params, root_key);
    let inter_key = KeyPair::generate().expect("key");
    let inter_params = ca("Bench Intermediate CA");
    let inter = inter_params
        .signed_by(&inter_key, &root_issuer)
        .expect("intermediate");
    let inter_issuer = Issuer::new(inter_params, inter_key);
    let leaf_key = KeyPair::generate().expect("key");
    let mut leaf_params =
        CertificateParams::new(vec!["*.example.com".to_string()]).expect("params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "*.example.com");
    let leaf = leaf_params
        .signed_by(&leaf_key, &inter_issuer)
        .expect("leaf");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, root.pem()).expect("CA file");
    Lab {
        served: vec![leaf.der().clone(), inter.der().clone(), root.der().clone()],
        tls: TlsContext::new(Some(&ca_file)).expect("TLS context"),
        _dir: dir,
    }
}

impl Lab {
    fn facts(&self) -> ChainFacts {
        analysis::facts(
            &self.served,
            &[],
            &self.tls.roots,
            self.tls.provider.signature_verification_algorithms.all,
            now(),
        )
    }

    /// What an origin sends back to a TLS 1.2 ClientHello, up to the Certificate message:
    /// ServerHello, Certificate, ServerHelloDone in one record.
    fn reply(&self) -> Vec<u8> {
        fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
            let mut m = vec![kind];
            m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            m.extend_from_slice(body);
            m
        }
        let mut hello = vec![3, 3];
        hello.extend_from_slice(&[0x42; 32]);
        hello.push(0);
        hello.extend_from_slice(&0xC02Fu16.to_be_bytes());
        hello.push(0);
        // renegotiation_info, as servers answer the SCSV.
        hello.extend_from_slice(&[0, 5, 0xff, 0x01, 0, 1, 0]);
        let mut list = Vec::new();
        for c in &self.served {
            list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut certs = (list.len() as u32).to_be_bytes()[1..].to_vec();
        certs.extend_from_slice(&list);
        let mut hs = handshake(2, &hello);
        hs.extend(handshake(11, &certs));
        hs.extend(handshake(14, &[]));
        let mut record = vec![22, 3, 3];
        record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        record.extend(hs);
        record
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What the TLS check of a healthy origin found: the CDN's hello accepted, TLS 1.2 and 1.3
/// spoken, the lab chain analysed for the origin's domain.
fn tls_report(origin: &Origin, facts: &ChainFacts) -> TlsReport {
    TlsReport {
        address: "192.0.2.10:443".parse().unwrap(),
        cdn_reply: Reply::Hello(ServerHello {
            version: 0x0303,
            suite: 0xC02F,
            retry: false,
        }),
        handshake: Handshake::Accepted,
        negotiated: Some(Negotiated {
            version: TlsVersion::Tls1_2,
            cipher: "ECDHE-RSA-AES128-GCM-SHA256".into(),
        }),
        protocols: TlsVersion::ALL
            .into_iter()
            .map(|v| (v, v >= TlsVersion::Tls1_2))
            .collect(),
        chain: Some(analysis::report(facts, &[&origin.domain], now(), 30)),
        cert_request: false,
        finish: None,
        more: Vec::new(),
    }
}

/// A typical healthy origin's results: two addresses, port open, TLS accepted with a valid
/// 3-certificate chain, two nameservers, 200.
#[allow(
    clippy::needless_update,
    reason = "keeps this compiling as checks add fields to `OriginResults`"
)]
fn results(origin: &Origin, facts: &ChainFacts) -> OriginResults {
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
        tcp: Some(run(Outcome::Completed(
            origin_exporter::checks::TcpReport {
                ports: addrs
                    .iter()
                    .map(|&address| PortResult {
                        address,
                        port: 443,
                        scheme: Scheme::Https,
                        state: PortState::Open,
                        duration: Duration::from_millis(2),
                        attempts: 1,
                    })
                    .collect(),
            },
        ))),
        // Two healthy nameservers, as most zones have (4 families × 2 series, plus delegation).
        dns: Some(run(Outcome::Completed(dns_report()))),
        tls: Some(run(Outcome::Completed(tls_report(origin, facts)))),
        http: Some(run(Outcome::Completed(HttpReport {
            address: "192.0.2.10:443".parse().unwrap(),
            scheme: Scheme::Https,
            outcome: HttpOutcome::Status(200),
            headers: Vec::new(),
            duration: Duration::from_millis(40),
            more: Vec::new(),
        }))),
        ..OriginResults::default()
    }
}

fn dns_report() -> DnsReport {
    let answer = |serial| {
        dns::Reply::Answered(Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            elapsed: Duration::from_millis(4),
            soa_serial: serial,
        })
    };
    DnsReport {
        zone: Some("example.com".into()),
        port: 53,
        error: None,
        servers: (1..=2u8)
            .map(|n| ServerReport {
                nameserver: format!("ns{n}.example.net"),
                address: IpAddr::from([198, 51, 100, n]),
                origin_query: answer(None),
                soa_query: answer(Some(2024010101)),
            })
            .collect(),
        unresolved: Vec::new(),
        delegation: Some(DelegationReport {
            parent_zone: "com".into(),
            parent_server: "a.gtld-servers.net".into(),
            parent_ns: vec!["ns1.example.net".into(), "ns2.example.net".into()],
            child_ns: vec!["ns1.example.net".into(), "ns2.example.net".into()],
        }),
    }
}

fn store_of(n: usize, facts: &ChainFacts) -> Arc<Store> {
    let store = Arc::new(Store::default());
    let slots = origins(n)
        .into_iter()
        .map(|o| {
            let results = results(&o, facts);
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
