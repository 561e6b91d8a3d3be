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
use origin_exporter::checks::tls::proof;
use origin_exporter::checks::tls::reply::read_reply;
use origin_exporter::checks::tls::{client_hello, HelloSpec};
use origin_exporter::diagnose::diagnose;
use origin_exporter::metrics::{self, ExporterMetrics, Format};
use origin_exporter::prerender;

use fixtures::{lab, now, origins, results, store_of, Chunks};

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
    // What reusing a finished handshake costs a cycle: the ServerKeyExchange signature checked
    // with the leaf's key (an ECDSA P-256 and an RSA 2048 leaf), and the digest of the chain.
    for (name, key) in [
        (
            "verify the ServerKeyExchange signature, ECDSA P-256",
            openssl::pkey::PKey::from_ec_key(
                openssl::ec::EcKey::generate(
                    &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                        .expect("P-256"),
                )
                .expect("EC key"),
            )
            .expect("key"),
        ),
        (
            "verify the ServerKeyExchange signature, RSA 2048",
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("RSA key"))
                .expect("key"),
        ),
    ] {
        let ske = SignedKeyExchange::new(&key);
        c.bench_function(name, |b| {
            b.iter(|| proof::verify(black_box(&ske.flight())).expect("verifies"))
        });
    }
    let chain = lab.served.clone();
    c.bench_function("SHA-256 of a 3-certificate chain", |b| {
        b.iter(|| {
            let mut h = ring::digest::Context::new(&ring::digest::SHA256);
            for cert in black_box(&chain) {
                h.update(cert.as_ref());
            }
            h.finish()
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
    let registry = metrics::registry(Arc::clone(&store), Arc::new(ExporterMetrics::default()));
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
    let mut sink = Chunks::new();
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

    // The same scrapes from pre-rendered series (what `/metrics` runs): the exporter's own
    // metrics encoded, every origin's stored segments copied with its labels put back.
    let own = metrics::own_registry(Arc::clone(&store), Arc::new(ExporterMetrics::default()));
    for slot in store.slots().iter() {
        prerender::current(slot);
    }
    let mut group = c.benchmark_group("pre-rendered /metrics, 10,000 origins");
    group.sample_size(20);
    let mut sink = Chunks::new();
    for (name, format) in [
        ("prometheus text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| prerender::scrape(&mut sink, &own, &store, format).expect("scrape"))
        });
    }
    group.bench_function("prometheus text, gzip", |b| {
        b.iter(|| {
            let mut gz =
                flate2::write::GzEncoder::new(std::io::sink(), flate2::Compression::fast());
            prerender::scrape(&mut gz, &own, &store, Format::PrometheusText).expect("scrape");
            gz.finish().expect("gzip")
        })
    });
    group.finish();
    let slot = &store.slots()[0];
    let snapshot = slot.latest().expect("a snapshot");
    c.bench_function("pre-render one origin", |b| {
        b.iter(|| prerender::render(slot, &snapshot).expect("render"))
    });
}

/// The encoder's text into a gzip stream, as the server writes it.
struct Gzipped<W: std::io::Write>(flate2::write::GzEncoder<W>);

impl<W: std::io::Write> std::fmt::Write for Gzipped<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        use std::io::Write as _;
        self.0.write_all(s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

/// A self-signed leaf with `key`, and a ServerKeyExchange (X25519) signed with it over two
/// randoms, as a TLS 1.2 server sends it.
struct SignedKeyExchange {
    leaf: Vec<u8>,
    body: Vec<u8>,
}

impl SignedKeyExchange {
    const CLIENT: [u8; 32] = [1; 32];
    const SERVER: [u8; 32] = [2; 32];

    fn new(key: &openssl::pkey::PKey<openssl::pkey::Private>) -> Self {
        use openssl::hash::MessageDigest;
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "origin.example.com")
            .expect("CN");
        let name = name.build();
        let mut cert = openssl::x509::X509Builder::new().expect("certificate");
        cert.set_version(2).expect("version");
        cert.set_subject_name(&name).expect("subject");
        cert.set_issuer_name(&name).expect("issuer");
        cert.set_pubkey(key).expect("key");
        let now = openssl::asn1::Asn1Time::days_from_now(0).expect("time");
        let later = openssl::asn1::Asn1Time::days_from_now(30).expect("time");
        cert.set_not_before(&now).expect("not before");
        cert.set_not_after(&later).expect("not after");
        cert.sign(key, MessageDigest::sha256()).expect("sign");
        let leaf = cert.build().to_der().expect("DER");
        let mut params = vec![3, 0x00, 0x1d, 32];
        params.extend_from_slice(&[7; 32]);
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).expect("signer");
        signer.update(&Self::CLIENT).expect("sign");
        signer.update(&Self::SERVER).expect("sign");
        signer.update(&params).expect("sign");
        let signature = signer.sign_to_vec().expect("signature");
        let scheme: u16 = if key.id() == openssl::pkey::Id::RSA {
            0x0401
        } else {
            0x0403
        };
        let mut body = params;
        body.extend_from_slice(&scheme.to_be_bytes());
        body.extend_from_slice(&(signature.len() as u16).to_be_bytes());
        body.extend_from_slice(&signature);
        SignedKeyExchange { leaf, body }
    }

    fn flight(&self) -> proof::Flight<'_> {
        proof::Flight {
            version: 0x0303,
            ecdhe: true,
            client_random: &Self::CLIENT,
            server_random: &Self::SERVER,
            key_exchange: Some(&self.body),
            leaf: Some(&self.leaf),
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
