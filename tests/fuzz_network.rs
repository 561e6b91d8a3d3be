//! Property tests: every parser of network input takes any bytes without panicking, and what it
//! returns stays bounded. The TLS reply reader (records, ServerHello and its extensions, the
//! Certificate message), the chain analysis over arbitrary DER, the AIA issuer decoder (DER,
//! PKCS#7, PEM), and DNS messages through hickory. Seeds are real encodings, mutated, so that the
//! cases reach past the first length check. The DNS referral and SOA reading are private; their
//! property test is in `src/probe/dns/query.rs`.

mod lab;

use std::sync::OnceLock;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lab::hostile::{certificate, handshake, record, records};
use origin_exporter::analysis::{self, Inputs, MAX_CHAIN};
use origin_exporter::checks::tls::aia;
use origin_exporter::checks::tls::reply::{read_reply, Reply};
use proptest::collection::vec;
use proptest::prelude::*;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Real certificates to mutate: a CA and a leaf it issued (made once per test binary).
fn seed_certs() -> &'static (Vec<u8>, Vec<u8>) {
    static CERTS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["fuzz.example.com".to_string()])
            .expect("params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf");
        (leaf.der().to_vec(), ca_cert.der().to_vec())
    })
}

/// A TLS 1.2 ServerHello with `ext` as its extensions block, then a Certificate message.
fn tls12_reply(ext: &[u8], certs: &[&[u8]]) -> Vec<u8> {
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&[0, 0xC0, 0x2F, 0]);
    hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    hello.extend_from_slice(ext);
    let mut hs = handshake(2, hello.len(), &hello);
    hs.extend(certificate(certs));
    records(&hs)
}

fn read(bytes: &[u8]) -> (Reply, Option<Vec<CertificateDer<'static>>>) {
    let mut input = bytes;
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(read_reply(&mut input, true))
}

/// Applies `edits` (position, byte) and a cut to `seed`.
fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for (pos, byte) in edits {
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = *byte;
        }
    }
    bytes.truncate(cut % (bytes.len() + 1));
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    vec((any::<usize>(), any::<u8>()), 0..8)
}

fn analyse(served: &[CertificateDer<'_>]) -> analysis::ChainReport {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    });
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    analysis::analyze(
        served,
        &[],
        &Inputs {
            names: &["fuzz.example.com"],
            roots,
            algorithms,
            now: 1_800_000_000,
            expiry_warning_days: 21,
        },
    )
}

/// A DNS referral for shop.example.com: NS records in the authority section, glue, an SOA.
fn seed_dns() -> Vec<u8> {
    let name = |n: &str| Name::from_ascii(n).expect("name");
    let mut m = Message::new(0x1234, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(name("shop.example.com."), RecordType::NS));
    for i in 0..3 {
        let ns = name(&format!("ns{i}.example.net."));
        m.add_authority(Record::from_rdata(
            name("example.com."),
            300,
            RData::NS(hickory_proto::rr::rdata::NS(ns.clone())),
        ));
        m.add_additional(Record::from_rdata(ns, 300, RData::A(A::new(192, 0, 2, i))));
    }
    m.add_answer(Record::from_rdata(
        name("example.com."),
        300,
        RData::SOA(SOA::new(
            name("ns0.example.net."),
            name("hostmaster.example.com."),
            2_026_112_401,
            3600,
            600,
            86_400,
            300,
        )),
    ));
    m.to_vec().expect("encode")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn reply_reader_takes_any_bytes(bytes in vec(any::<u8>(), 0..2048)) {
        let (_, chain) = read(&bytes);
        prop_assert!(chain.is_none_or(|c| c.len() <= MAX_CHAIN));
    }

    #[test]
    fn reply_reader_takes_any_record_stream(
        records in vec((20u8..=23, vec(any::<u8>(), 0..300)), 0..8),
    ) {
        // Well-framed records of any content: the handshake layer is what gets exercised.
        let bytes: Vec<u8> = records.iter().flat_map(|(k, p)| record(*k, p)).collect();
        let (_, chain) = read(&bytes);
        prop_assert!(chain.is_none_or(|c| c.len() <= MAX_CHAIN));
    }

    #[test]
    fn server_hello_extensions_and_mutated_replies(
        ext in vec(any::<u8>(), 0..64),
        edits in edits(),
        cut in any::<usize>(),
    ) {
        let (leaf, ca) = seed_certs();
        let valid = tls12_reply(&ext, &[leaf, ca]);
        let (reply, _) = read(&valid);
        // Any extensions block: a hello that parses is still the suite that was chosen.
        if let Some(h) = reply.hello() {
            prop_assert_eq!(h.suite, 0xC02F);
        }
        let (_, chain) = read(&mutate(&valid, &edits, cut));
        prop_assert!(chain.is_none_or(|c| c.len() <= MAX_CHAIN));
    }

    #[test]
    fn long_chains_are_cut_to_max_chain(n in 0usize..40, len in 0usize..64) {
        let blob = vec![0x30; len];
        let certs: Vec<&[u8]> = vec![&blob; n];
        let (_, chain) = read(&tls12_reply(&[], &certs));
        prop_assert!(chain.is_none_or(|c| c.len() <= MAX_CHAIN.min(n)));
    }

    #[test]
    fn chain_analysis_takes_any_der(certs in vec(vec(any::<u8>(), 0..200), 0..14)) {
        let served: Vec<CertificateDer<'_>> = certs.into_iter().map(CertificateDer::from).collect();
        let report = analyse(&served);
        prop_assert!(report.certs.len() <= MAX_CHAIN);
        prop_assert!(report.unparsable <= MAX_CHAIN);
        prop_assert!(!report.chain_valid());
    }

    #[test]
    fn chain_analysis_takes_mutated_certificates(
        edits in edits(),
        cut in any::<usize>(),
        which in 0usize..2,
    ) {
        let (leaf, ca) = seed_certs();
        let (bad, good) = if which == 0 { (leaf, ca) } else { (ca, leaf) };
        let served = [
            CertificateDer::from(mutate(bad, &edits, cut)),
            CertificateDer::from(good.clone()),
        ];
        let report = analyse(&served);
        prop_assert!(report.certs.len() + report.unparsable == 2);
    }

    #[test]
    fn aia_decoder_takes_any_body(body in vec(any::<u8>(), 0..1024)) {
        if let Some(certs) = aia::decode(&body) {
            prop_assert!(!certs.is_empty() && certs.len() <= MAX_CHAIN);
        }
    }

    #[test]
    fn aia_decoder_takes_mutated_der_pkcs7_and_pem(
        edits in edits(),
        cut in any::<usize>(),
        form in 0usize..3,
    ) {
        let (_, ca) = seed_certs();
        let seed = match form {
            0 => ca.clone(),
            1 => pkcs7(&[ca, ca]),
            _ => {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(ca);
                format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
                    .repeat(12)
                    .into_bytes()
            }
        };
        if form != 0 {
            // The seeds themselves decode, bounded (12 PEM certificates give MAX_CHAIN).
            let n = aia::decode(&seed).map_or(0, |c| c.len());
            prop_assert!((1..=MAX_CHAIN).contains(&n));
        }
        if let Some(certs) = aia::decode(&mutate(&seed, &edits, cut)) {
            prop_assert!(certs.len() <= MAX_CHAIN);
        }
    }

    #[test]
    fn dns_messages_take_any_bytes(bytes in vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::from_vec(&bytes) {
            // Whatever parsed re-encodes or fails cleanly.
            let _ = m.to_vec();
        }
    }

    #[test]
    fn dns_messages_take_mutated_referrals(edits in edits(), cut in any::<usize>()) {
        let seed = seed_dns();
        if let Ok(m) = Message::from_vec(&mutate(&seed, &edits, cut)) {
            prop_assert!(m.answers.len() + m.authorities.len() + m.additionals.len() <= seed.len());
        }
    }
}

/// A certs-only PKCS#7 SignedData holding `certs` (definite lengths, long form).
fn pkcs7(certs: &[&Vec<u8>]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, 0x83];
        v.extend_from_slice(&(content.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(content);
        v
    }
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let data_oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let all: Vec<u8> = certs.iter().flat_map(|c| c.iter().copied()).collect();
    let signed = [
        vec![0x02, 0x01, 0x01],
        tlv(0x31, &[]),
        tlv(0x30, &data_oid),
        tlv(0xa0, &all),
        tlv(0x31, &[]),
    ]
    .concat();
    tlv(
        0x30,
        &[oid.to_vec(), tlv(0xa0, &tlv(0x30, &signed))].concat(),
    )
}

#[test]
fn the_seeds_parse() {
    let (leaf, ca) = seed_certs();
    let (reply, chain) = read(&tls12_reply(&[], &[leaf, ca]));
    assert!(reply.hello().is_some(), "{reply:?}");
    assert_eq!(chain.map(|c| c.len()), Some(2));
    assert_eq!(aia::decode(&pkcs7(&[ca, ca])).map(|c| c.len()), Some(2));
    let m = Message::from_vec(&seed_dns()).expect("DNS seed");
    assert_eq!((m.authorities.len(), m.additionals.len()), (3, 3));
}
