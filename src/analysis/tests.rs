//! Chain analysis over certificates made with rcgen: one test per defect, and combinations.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use time::OffsetDateTime;

use super::*;

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn at(offset_days: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now() + offset_days * DAY).unwrap()
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

fn ca_params(cn: &str, window: (i64, i64)) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(window.0);
    p.not_after = at(window.1);
    p
}

fn root(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(cn, (-30, 3650));
    let der = params.self_signed(&key).unwrap().der().clone();
    Ca {
        issuer: Issuer::new(params, key),
        der,
    }
}

fn intermediate(cn: &str, parent: &Ca, window: (i64, i64)) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(cn, window);
    let der = params
        .signed_by(&key, &parent.issuer)
        .unwrap()
        .der()
        .clone();
    Ca {
        issuer: Issuer::new(params, key),
        der,
    }
}

/// DER of an AuthorityInfoAccess extension value with one caIssuers URI.
fn aia_extension(url: &str) -> CustomExtension {
    let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut uri = vec![0x86, url.len() as u8];
    uri.extend_from_slice(url.as_bytes());
    let mut desc = vec![0x30, (oid.len() + uri.len()) as u8];
    desc.extend_from_slice(&oid);
    desc.extend_from_slice(&uri);
    let mut seq = vec![0x30, desc.len() as u8];
    seq.extend_from_slice(&desc);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], seq)
}

fn leaf_params(names: &[&str], window: (i64, i64), aia: Option<&str>) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.not_before = at(window.0);
    p.not_after = at(window.1);
    p.serial_number = Some(SerialNumber::from_slice(&[0x01, 0xab, 0xcd]));
    if let Some(url) = aia {
        p.custom_extensions.push(aia_extension(url));
    }
    p
}

fn leaf(
    names: &[&str],
    parent: &Ca,
    window: (i64, i64),
    aia: Option<&str>,
) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    leaf_params(names, window, aia)
        .signed_by(&key, &parent.issuer)
        .unwrap()
        .der()
        .clone()
}

fn self_signed(names: &[&str]) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    leaf_params(names, (-1, 90), None)
        .self_signed(&key)
        .unwrap()
        .der()
        .clone()
}

fn store(certs: &[&CertificateDer<'static>]) -> RootCertStore {
    let mut s = RootCertStore::empty();
    for c in certs {
        s.add((*c).clone()).unwrap();
    }
    s
}

fn run(
    served: &[CertificateDer<'static>],
    fetched: &[CertificateDer<'static>],
    roots: &RootCertStore,
    names: &[&str],
) -> ChainReport {
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    analyze(
        served,
        fetched,
        &Inputs {
            names,
            roots,
            algorithms: algs,
            now: now(),
            expiry_warning_days: 21,
        },
    )
}

const NAME: &[&str] = &["origin.example.com"];

/// A working hierarchy: root (trusted), intermediate, and a 90-day leaf.
struct Pki {
    root: Ca,
    inter: Ca,
    roots: RootCertStore,
}

fn pki() -> Pki {
    let root = root("Lab Root");
    let inter = intermediate("Lab Intermediate", &root, (-30, 1000));
    let roots = store(&[&root.der]);
    Pki { root, inter, roots }
}

#[test]
fn healthy_chain_has_no_defect() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, NAME);
    assert_eq!(r.defects, Defects::default());
    assert_eq!(r.trust, Trust::Trusted);
    assert!(r.chain_valid());
    assert_eq!(r.leaf, Some(0));
    assert_eq!(r.names, vec![("origin.example.com".to_string(), true)]);
    let days = r.leaf_days_remaining.unwrap();
    assert!((89.9..=90.1).contains(&days), "{days}");
    assert_eq!(r.certs.len(), 2);
    assert_eq!(r.certs[0].subject_cn, "origin.example.com");
    assert_eq!(r.certs[0].issuer_cn, "Lab Intermediate");
    assert_eq!(r.certs[0].serial, "01abcd");
    assert_eq!(r.certs[1].position, 1);
    assert_eq!(r.certs[1].issuer_cn, "Lab Root");
    // Serving the root too is allowed: it is in order and changes nothing.
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let r = run(
        &[l, p.inter.der.clone(), p.root.der.clone()],
        &[],
        &p.roots,
        NAME,
    );
    assert_eq!(r.defects, Defects::default());
}

#[test]
fn expired_leaf_served_out_of_order_shows_both() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-100, -2), None);
    let r = run(&[p.inter.der.clone(), l], &[], &p.roots, NAME);
    assert_eq!(
        r.defects,
        Defects {
            expired: true,
            out_of_order: true,
            ..Defects::default()
        }
    );
    assert_eq!(r.leaf, Some(1), "the leaf is found wherever it is served");
    assert!(r.leaf_days_remaining.unwrap() < -1.9);
    assert!(!r.chain_valid());
}

#[test]
fn an_unparsable_certificate_is_not_an_order_defect() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
    let r = run(&[l, garbage, p.inter.der.clone()], &[], &p.roots, NAME);
    assert!(!r.defects.out_of_order, "{:?}", r.defects);
    assert_eq!(r.unparsable, 1);
}

#[test]
fn out_of_order_alone() {
    let p = pki();
    let inter2 = intermediate("Lab Intermediate 2", &p.inter, (-30, 1000));
    let l = leaf(NAME, &inter2, (-1, 90), None);
    let r = run(
        &[l, p.inter.der.clone(), inter2.der.clone()],
        &[],
        &p.roots,
        NAME,
    );
    assert_eq!(
        r.defects,
        Defects {
            out_of_order: true,
            ..Defects::default()
        }
    );
    assert_eq!(r.trust, Trust::Trusted);
    assert!(!r.chain_valid());
}

#[test]
fn not_yet_valid_leaf() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (3, 90), None);
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, NAME);
    assert_eq!(
        r.defects,
        Defects {
            not_yet_valid: true,
            ..Defects::default()
        }
    );
}

#[test]
fn expired_intermediate_counts_too() {
    let p = pki();
    let inter = intermediate("Old Intermediate", &p.root, (-400, -1));
    let l = leaf(NAME, &inter, (-1, 90), None);
    let r = run(&[l, inter.der.clone()], &[], &p.roots, NAME);
    assert!(r.defects.expired);
    assert!(!r.defects.untrusted);
}

#[test]
fn expiring_soon_is_only_a_warning() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-80, 5), None);
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, NAME);
    assert_eq!(
        r.defects,
        Defects {
            expiring_soon: true,
            ..Defects::default()
        }
    );
    assert!(r.chain_valid());
}

#[test]
fn self_signed_leaf_is_not_also_untrusted() {
    let p = pki();
    let r = run(&[self_signed(NAME)], &[], &p.roots, NAME);
    assert_eq!(
        r.defects,
        Defects {
            self_signed: true,
            ..Defects::default()
        }
    );
    assert_eq!(r.aia_to_fetch(), None);
}

#[test]
fn self_signed_leaf_that_is_a_trusted_root_is_fine() {
    let ss = self_signed(NAME);
    let roots = store(&[&ss]);
    let r = run(&[ss], &[], &roots, NAME);
    assert_eq!(r.defects, Defects::default());
}

#[test]
fn self_signed_ca_certificate_that_is_a_trusted_root_is_fine() {
    // What `openssl req -x509` makes: CA:TRUE, which webpki refuses as an end entity.
    let key = KeyPair::generate().unwrap();
    let mut params = leaf_params(NAME, (-1, 90), None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ss = params.self_signed(&key).unwrap().der().clone();
    let r = run(std::slice::from_ref(&ss), &[], &store(&[&ss]), NAME);
    assert_eq!(r.defects, Defects::default());
    assert!(r.chain_valid());
    // Not in the store: self-signed, and nothing else.
    let r = run(&[ss], &[], &RootCertStore::empty(), NAME);
    assert_eq!(
        r.defects,
        Defects {
            self_signed: true,
            ..Defects::default()
        }
    );
}

#[test]
fn missing_intermediate_with_aia_is_incomplete_once_fetched() {
    let p = pki();
    let url = "http://127.0.0.1:9/inter.der";
    let l = leaf(NAME, &p.inter, (-1, 90), Some(url));
    let first = run(std::slice::from_ref(&l), &[], &p.roots, NAME);
    assert_eq!(first.aia_to_fetch(), Some(url));
    assert!(
        first.defects.untrusted,
        "without the fetched issuer it is untrusted"
    );
    let second = run(&[l], std::slice::from_ref(&p.inter.der), &p.roots, NAME);
    assert_eq!(
        second.defects,
        Defects {
            incomplete: true,
            ..Defects::default()
        }
    );
    assert!(!second.chain_valid());
}

#[test]
fn missing_intermediate_whose_aia_issuer_does_not_help_is_untrusted() {
    let p = pki();
    let other = intermediate("Unrelated", &root("Other Root"), (-30, 1000));
    let l = leaf(NAME, &p.inter, (-1, 90), Some("http://127.0.0.1:9/x"));
    let r = run(&[l], std::slice::from_ref(&other.der), &p.roots, NAME);
    assert_eq!(
        r.defects,
        Defects {
            untrusted: true,
            ..Defects::default()
        }
    );
}

#[test]
fn unknown_ca_is_untrusted() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let r = run(
        &[l, p.inter.der.clone()],
        &[],
        &RootCertStore::empty(),
        NAME,
    );
    assert_eq!(
        r.defects,
        Defects {
            untrusted: true,
            ..Defects::default()
        }
    );
    assert_eq!(r.trust, Trust::UnknownIssuer { aia: None });
    // Certificates are reported even though verification failed.
    assert_eq!(r.certs.len(), 2);
}

#[test]
fn hostname_rules() {
    let p = pki();
    let names = ["origin.example.com", "www.shop.example.com"];
    let cases: [(&[&str], bool, bool, bool); 5] = [
        (&["wrong.example.net"], false, false, true),
        (&["www.shop.example.com"], false, true, false),
        (&["*.example.com"], true, false, false),
        (&["*.shop.example.com"], false, true, false),
        (&["*.com"], false, false, true),
    ];
    for (sans, domain_ok, host_ok, mismatch) in cases {
        let l = leaf(sans, &p.inter, (-1, 90), None);
        let r = run(&[l, p.inter.der.clone()], &[], &p.roots, &names);
        assert_eq!(
            r.names,
            vec![
                (names[0].to_string(), domain_ok),
                (names[1].to_string(), host_ok)
            ],
            "{sans:?}"
        );
        assert_eq!(r.defects.hostname_mismatch, mismatch, "{sans:?}");
        assert!(!r.defects.untrusted, "{sans:?}");
    }
    // A wildcard covers one level only.
    let l = leaf(&["*.example.com"], &p.inter, (-1, 90), None);
    let r = run(
        &[l, p.inter.der.clone()],
        &[],
        &p.roots,
        &["a.b.example.com"],
    );
    assert!(r.defects.hostname_mismatch);
}

#[test]
fn garbage_never_panics() {
    let p = pki();
    let inputs: [&[u8]; 4] = [b"", b"\x30", b"\x30\x82\xff\xff garbage", &[0u8; 300]];
    for bytes in inputs {
        let r = run(&[CertificateDer::from(bytes.to_vec())], &[], &p.roots, NAME);
        assert_eq!(r.trust, Trust::NoLeaf);
        assert!(r.defects.untrusted && !r.chain_valid());
        assert_eq!(r.unparsable, 1);
    }
    let r = run(&[], &[], &p.roots, NAME);
    assert!(r.certs.is_empty() && !r.chain_valid());
    // A malformed certificate after a good leaf: reported, not trusted.
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let r = run(
        &[l, CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])],
        &[],
        &p.roots,
        NAME,
    );
    assert_eq!(r.certs.len(), 1);
    assert!(r.defects.untrusted);
}

#[test]
fn long_chains_are_cut() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let mut served = vec![l];
    served.extend(std::iter::repeat_n(p.inter.der.clone(), 50));
    let r = run(&served, &[], &p.roots, NAME);
    assert_eq!(r.certs.len(), MAX_CHAIN);
}

/// A DER element with a long-form length (for contents of any size).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag, 0x83];
    v.extend_from_slice(&(content.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(content);
    v
}

#[test]
fn hostile_sizes_are_cut_labels_and_aia_url() {
    let pki = pki();
    let key = KeyPair::generate().unwrap();
    let mut params = leaf_params(NAME, (-1, 90), None);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "é".repeat(1000));
    params.serial_number = Some(SerialNumber::from_slice(&[0x5a; 400]));
    let url = format!("http://aia.example/{}", "x".repeat(MAX_AIA_URL));
    let method = der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02]);
    let location = der(0x86, url.as_bytes());
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            der(0x30, &der(0x30, &[method, location].concat())),
        ));
    let cert = params.signed_by(&key, &pki.inter.issuer).unwrap();
    // The leaf alone: its issuer is missing, and its AIA URL too long to be followed.
    let r = run(&[cert.der().clone()], &[], &pki.roots, NAME);
    let leaf = &r.certs[0];
    assert!(leaf.subject_cn.len() <= MAX_LABEL && leaf.subject_cn.len() > MAX_LABEL - 2);
    assert!(leaf.subject_cn.chars().all(|c| c == 'é'));
    assert_eq!(leaf.serial.len(), MAX_LABEL);
    assert_eq!(r.trust, Trust::UnknownIssuer { aia: None });
    assert!(r.defects.untrusted);
}

#[test]
fn facts_weigh_their_names_and_overlong_names_are_not_kept() {
    let pki = pki();
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    let weigh = |names: &[&str]| {
        let cert = leaf(names, &pki.inter, (-1, 90), None);
        let f = facts(&[cert, pki.inter.der.clone()], &[], &pki.roots, algs, now());
        let r = report(&f, names, now(), 21);
        (f.weight(), r.names)
    };
    let (small, _) = weigh(NAME);
    assert!(small > 0 && small < 2048, "{small}");
    let many: Vec<String> = (0..500).map(|i| format!("host{i}.example.com")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (big, covered) = weigh(&many);
    assert!(big > small + 500 * 17, "{big}");
    assert!(covered.iter().all(|(_, ok)| *ok));
    // A name longer than any DNS name covers nothing, so it is not even kept.
    let long = format!("{}.example.com", "a".repeat(300));
    let (_, covered) = weigh(&[long.as_str(), "short.example.com"]);
    assert!(!covered[0].1);
    assert!(covered[1].1);
}

/// The CDN's trust (OpenSSL's chain building, no time checks) over `served`, with `roots`.
fn cdn_facts(served: &[CertificateDer<'static>], roots: &[&CertificateDer<'static>]) -> ChainFacts {
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    let cdn = cdn_store(roots.iter().map(|c| c.as_ref())).unwrap();
    facts_with(served, &[], &store(roots), Some(&cdn), algs, now())
}

#[test]
fn an_expired_leaf_under_a_reissued_intermediate_is_expired_not_untrusted() {
    let root = root("Root");
    // The intermediate that signed the leaf, and its re-issue (same name, same key) whose
    // validity starts after the leaf expired: no moment is inside every window.
    let key = KeyPair::generate().unwrap();
    let same_key = KeyPair::from_pem(&key.serialize_pem()).unwrap();
    let first = Ca {
        der: ca_params("Inter", (-400, 3650))
            .signed_by(&key, &root.issuer)
            .unwrap()
            .der()
            .clone(),
        issuer: Issuer::new(ca_params("Inter", (-400, 3650)), key),
    };
    let reissued = ca_params("Inter", (-10, 3650))
        .signed_by(&same_key, &root.issuer)
        .unwrap()
        .der()
        .clone();
    let expired = leaf(&["a.example"], &first, (-365, -30), None);
    let served = [expired, reissued];
    let r = report(&cdn_facts(&served, &[&root.der]), &["a.example"], now(), 21);
    assert!(r.defects.expired, "{r:?}");
    assert!(!r.defects.untrusted, "trust does not depend on time: {r:?}");
    assert_eq!(r.trust, Trust::Trusted);
}

#[test]
fn the_cdn_takes_the_first_matching_issuer_and_does_not_backtrack() {
    let (a, b) = (root("Root A"), root("Root B"));
    let key = KeyPair::generate().unwrap();
    let same_key = KeyPair::from_pem(&key.serialize_pem()).unwrap();
    let params = || ca_params("Inter", (-30, 3650));
    let by_b = params().signed_by(&key, &b.issuer).unwrap().der().clone();
    let by_a = params()
        .signed_by(&same_key, &a.issuer)
        .unwrap()
        .der()
        .clone();
    let inter = Ca {
        der: by_a.clone(),
        issuer: Issuer::new(params(), key),
    };
    let l = leaf(&["a.example"], &inter, (-1, 90), None);
    let served = [l, by_b, by_a];
    // webpki backtracks to the intermediate issued by the trusted root A...
    let webpki = run(&served, &[], &store(&[&a.der]), &["a.example"]);
    assert_eq!(webpki.trust, Trust::Trusted);
    // ...OpenSSL, like the CDN's s2n-tls/AWS-LC, follows the first one (issued by B) and fails.
    let r = report(&cdn_facts(&served, &[&a.der]), &["a.example"], now(), 21);
    assert!(r.defects.untrusted, "{r:?}");
    // With B's intermediate last, the first match is A's: trusted.
    let reordered = [served[0].clone(), served[2].clone(), served[1].clone()];
    let r = report(&cdn_facts(&reordered, &[&a.der]), &["a.example"], now(), 21);
    assert_eq!(r.trust, Trust::Trusted, "{r:?}");
}

#[test]
fn fetched_issuers_do_not_make_a_trusted_chain_incomplete() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let r = run(
        &[l, p.inter.der.clone()],
        std::slice::from_ref(&p.inter.der),
        &p.roots,
        NAME,
    );
    assert_eq!(r.defects, Defects::default());
    assert!(r.chain_valid());
}

#[test]
fn a_root_cross_signed_by_another_ca_and_served_as_leaf_is_not_the_anchor() {
    // Same subject and key as the trusted root, but issued by another CA: not self-signed, so
    // being "the root" does not make it trusted.
    let key = KeyPair::generate().unwrap();
    let params = || ca_params("Lab Root", (-30, 3650));
    let anchor = params().self_signed(&key).unwrap().der().clone();
    let other = root("Other Root");
    let cross = params()
        .signed_by(&key, &other.issuer)
        .unwrap()
        .der()
        .clone();
    let r = run(&[cross], &[], &store(&[&anchor]), &["Lab Root"]);
    assert_ne!(r.trust, Trust::Trusted, "{r:?}");
    assert!(r.defects.untrusted && !r.defects.self_signed, "{r:?}");
}

#[test]
fn a_self_signed_leaf_is_an_anchor_only_with_the_roots_name_and_key() {
    let key = KeyPair::generate().unwrap();
    let root_params = || ca_params("Lab Root", (-30, 3650));
    let anchor = root_params().self_signed(&key).unwrap().der().clone();
    let roots = store(&[&anchor]);
    // The root's name, another key.
    let impostor = root_params()
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .clone();
    // The root's key, another name.
    let renamed = ca_params("Not The Root", (-30, 3650))
        .self_signed(&key)
        .unwrap()
        .der()
        .clone();
    for (what, cert) in [("same name", impostor), ("same key", renamed)] {
        let r = run(&[cert], &[], &roots, &["Lab Root"]);
        assert_ne!(r.trust, Trust::Trusted, "{what}: {r:?}");
        assert!(r.defects.self_signed, "{what}: {r:?}");
    }
}

#[test]
fn the_common_name_counts_when_there_is_no_dns_san() {
    let p = pki();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, NAME[0]);
    params.not_before = at(-1);
    params.not_after = at(90);
    let l = params
        .signed_by(&key, &p.inter.issuer)
        .unwrap()
        .der()
        .clone();
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, NAME);
    assert_eq!(r.names, vec![(NAME[0].to_string(), true)]);
    assert!(!r.defects.hostname_mismatch);
    // A common name longer than any DNS name is not kept, so it covers nothing, not even itself.
    let long = format!("{}.example.com", "a".repeat(300));
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, long.as_str());
    params.not_before = at(-1);
    params.not_after = at(90);
    let l = params
        .signed_by(&key, &p.inter.issuer)
        .unwrap()
        .der()
        .clone();
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, &[long.as_str()]);
    assert_eq!(r.names, vec![(long.clone(), false)]);
    assert!(r.defects.hostname_mismatch);
}

#[test]
fn an_ip_san_covers_that_address() {
    let p = pki();
    let l = leaf(&["192.0.2.10", "2001:db8::10"], &p.inter, (-1, 90), None);
    let names = ["192.0.2.10", "2001:db8::10", "192.0.2.11"];
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, &names);
    assert_eq!(
        r.names,
        vec![
            ("192.0.2.10".to_string(), true),
            ("2001:db8::10".to_string(), true),
            ("192.0.2.11".to_string(), false)
        ]
    );
}

/// An AuthorityInfoAccess extension with one access description: `method` is the OID's content
/// bytes, `url` a URI.
fn aia_with(method: &[u8], url: &str) -> CustomExtension {
    let desc = [der(0x06, method), der(0x86, url.as_bytes())].concat();
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der(0x30, &der(0x30, &desc)))
}

#[test]
fn only_an_http_ca_issuers_url_is_followed() {
    const CA_ISSUERS: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    const OCSP: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let p = pki();
    let aia_of = |method: &[u8], url: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = leaf_params(NAME, (-1, 90), None);
        params.custom_extensions.push(aia_with(method, url));
        let l = params
            .signed_by(&key, &p.inter.issuer)
            .unwrap()
            .der()
            .clone();
        run(&[l], &[], &p.roots, NAME).trust
    };
    let url = "http://ca.example/inter.der";
    assert_eq!(
        aia_of(&CA_ISSUERS, url),
        Trust::UnknownIssuer {
            aia: Some(url.into())
        }
    );
    assert_eq!(aia_of(&OCSP, url), Trust::UnknownIssuer { aia: None });
    for other in ["https://ca.example/inter.der", "ldap://ca.example/inter"] {
        assert_eq!(
            aia_of(&CA_ISSUERS, other),
            Trust::UnknownIssuer { aia: None },
            "{other}"
        );
    }
    // The longest URL still followed.
    let longest = format!("http://ca.example/{}", "x".repeat(MAX_AIA_URL - 18));
    assert_eq!(longest.len(), MAX_AIA_URL);
    assert_eq!(
        aia_of(&CA_ISSUERS, &longest),
        Trust::UnknownIssuer {
            aia: Some(longest.clone())
        }
    );
}

#[test]
fn the_cdn_tells_an_unknown_issuer_from_a_bad_signature() {
    let root = root("Root");
    // Names the root as issuer, signed by another key: OpenSSL finds the issuer, and the
    // signature fails (X509_V_ERR_CERT_SIGNATURE_FAILURE), which is no missing issuer.
    let forger = Issuer::new(ca_params("Root", (-30, 3650)), KeyPair::generate().unwrap());
    let forged = leaf(
        &["a.example"],
        &Ca {
            issuer: forger,
            der: root.der.clone(),
        },
        (-1, 90),
        None,
    );
    let r = report(
        &cdn_facts(&[forged], &[&root.der]),
        &["a.example"],
        now(),
        21,
    );
    assert!(matches!(r.trust, Trust::Rejected(_)), "{r:?}");
    assert!(r.defects.untrusted);
    // Issued by a CA the store does not hold: unknown issuer.
    let stranger = intermediate("Stranger", &self::root("Other"), (-30, 3650));
    let l = leaf(&["a.example"], &stranger, (-1, 90), None);
    let r = report(
        &cdn_facts(&[l, stranger.der.clone()], &[&root.der]),
        &["a.example"],
        now(),
        21,
    );
    assert_eq!(r.trust, Trust::UnknownIssuer { aia: None }, "{r:?}");
}

#[test]
fn an_unparsable_certificate_makes_the_chain_rejected_even_when_the_rest_is_trusted() {
    let p = pki();
    let l = leaf(NAME, &p.inter, (-1, 90), None);
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
    let r = run(&[l, p.inter.der.clone(), garbage], &[], &p.roots, NAME);
    assert_eq!(
        r.trust,
        Trust::Rejected("1 served certificate(s) do not parse".into())
    );
    assert_eq!(
        r.defects,
        Defects {
            untrusted: true,
            ..Defects::default()
        }
    );
}

#[test]
fn issued_by_needs_the_issuer_name_and_its_signature() {
    let p = pki();
    // Names the intermediate as its issuer, signed by another key.
    let forger = Issuer::new(
        ca_params("Lab Intermediate", (-30, 1000)),
        KeyPair::generate().unwrap(),
    );
    let forged = leaf(
        NAME,
        &Ca {
            issuer: forger,
            der: p.inter.der.clone(),
        },
        (-1, 90),
        None,
    );
    // Served after the intermediate: had the intermediate issued it, that would be out of order.
    let r = run(&[p.inter.der.clone(), forged], &[], &p.roots, NAME);
    assert!(!r.defects.out_of_order, "{r:?}");
    // Signed with the intermediate's key but naming another issuer: not issued by it either.
    let key = KeyPair::generate().unwrap();
    let same_key = KeyPair::from_pem(&key.serialize_pem()).unwrap();
    let inter = Ca {
        der: ca_params("Inter", (-30, 1000))
            .signed_by(&key, &p.root.issuer)
            .unwrap()
            .der()
            .clone(),
        issuer: Issuer::new(ca_params("Inter", (-30, 1000)), key),
    };
    let renamed = Ca {
        der: inter.der.clone(),
        issuer: Issuer::new(ca_params("Not Inter", (-30, 1000)), same_key),
    };
    let stray = leaf(NAME, &renamed, (-1, 90), None);
    let r = run(&[inter.der.clone(), stray], &[], &p.roots, NAME);
    assert!(!r.defects.out_of_order, "{r:?}");
}

#[test]
fn the_peer_names_stop_at_a_whole_name_within_their_byte_bound() {
    // Each name is 63 bytes, counted with a separator as 64: exactly chain::MAX_PEER_NAMES / 64 of
    // them fit (the last one ends on the bound itself), the next is dropped whole.
    assert_eq!(chain::MAX_PEER_NAMES % 64, 0);
    let names: Vec<String> = (0..chain::MAX_PEER_NAMES / 64 + 6)
        .map(|i| format!("{i:0>51}.example.com"))
        .collect();
    assert!(names.iter().all(|n| n.len() == 63));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = pki();
    let l = leaf(&refs, &p.inter, (-1, 90), None);
    let r = run(&[l, p.inter.der.clone()], &[], &p.roots, NAME);
    let peer = r.peer.expect("the first certificate's facts");
    assert_eq!(peer.dns_names, names[..chain::MAX_PEER_NAMES / 64].to_vec());
}
