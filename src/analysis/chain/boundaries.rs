//! Exact boundaries of the moment-dependent rules and of the facts' accounting: the second a
//! certificate expires or starts, the warning threshold, what `chain_valid` needs, what a cache
//! entry weighs. Built from facts directly, so each rule is pinned to the second.

use std::mem::size_of;
use std::net::IpAddr;
use std::sync::Arc;

use super::super::hostname::CertNames;
use super::cert::{bounded, ip_from_bytes};
use super::trust::der_content;
use super::*;

const NOT_BEFORE: i64 = 1_000_000;
const NOT_AFTER: i64 = 2_000_000;
const DAY: i64 = 86_400;

fn cert(position: usize, not_before: i64, not_after: i64) -> CertSummary {
    CertSummary {
        position,
        subject_cn: "leaf.example".into(),
        issuer_cn: "Issuer CA".into(),
        serial: "01abcd".into(),
        not_before,
        not_after,
    }
}

fn facts(certs: Vec<CertSummary>, trust: Trust) -> ChainFacts {
    ChainFacts {
        certs: certs.into(),
        leaf: Some(0),
        leaf_names: CertNames {
            dns: vec!["leaf.example".into()],
            ips: Vec::new(),
            common_name: Some("leaf.example".into()),
        },
        out_of_order: false,
        leaf_self_signed: false,
        trust,
        incomplete: false,
        unparsable: 0,
        peer: None,
    }
}

fn defects_at(now: i64, warning_days: u32) -> Defects {
    let f = facts(vec![cert(0, NOT_BEFORE, NOT_AFTER)], Trust::Trusted);
    report(&f, &["leaf.example"], now, warning_days).defects
}

#[test]
fn a_certificate_is_valid_through_its_not_after_second() {
    assert!(!defects_at(NOT_AFTER, 0).expired);
    assert!(defects_at(NOT_AFTER + 1, 0).expired);
    assert!(!defects_at(NOT_AFTER + 1, 0).not_yet_valid);
}

#[test]
fn a_certificate_is_valid_from_its_not_before_second() {
    assert!(!defects_at(NOT_BEFORE, 0).not_yet_valid);
    assert!(defects_at(NOT_BEFORE - 1, 0).not_yet_valid);
    assert!(!defects_at(NOT_BEFORE - 1, 0).expired);
}

#[test]
fn expiring_soon_means_strictly_less_than_the_warning_days_left() {
    // Exactly one day left with a one-day threshold is not yet "within" it.
    assert!(!defects_at(NOT_AFTER - DAY, 1).expiring_soon);
    assert!(defects_at(NOT_AFTER - DAY + 1, 1).expiring_soon);
    assert!(!defects_at(NOT_AFTER - DAY + 1, 0).expiring_soon);
    // An expired certificate is expired, not expiring.
    let gone = defects_at(NOT_AFTER + 1, 1000);
    assert!(gone.expired && !gone.expiring_soon);
}

#[test]
fn days_remaining_count_from_now_to_not_after() {
    let f = facts(vec![cert(0, NOT_BEFORE, NOT_AFTER)], Trust::Trusted);
    let r = report(&f, &["leaf.example"], NOT_AFTER - 2 * DAY, 21);
    assert_eq!(r.leaf_days_remaining, Some(2.0));
    let r = report(&f, &["leaf.example"], NOT_AFTER + DAY / 2, 21);
    assert_eq!(r.leaf_days_remaining, Some(-0.5));
}

#[test]
fn every_certificate_counts_for_validity_not_only_the_leaf() {
    let f = facts(
        vec![
            cert(0, NOT_BEFORE, NOT_AFTER),
            cert(1, NOT_BEFORE, NOT_AFTER - 10),
        ],
        Trust::Trusted,
    );
    let d = report(&f, &["leaf.example"], NOT_AFTER - 5, 0).defects;
    assert!(d.expired);
}

fn valid_report() -> ChainReport {
    let f = facts(vec![cert(0, NOT_BEFORE, NOT_AFTER)], Trust::Trusted);
    report(&f, &["leaf.example"], NOT_BEFORE + DAY, 1)
}

#[test]
fn chain_valid_needs_trust_and_no_defect_at_all() {
    let r = valid_report();
    assert!(r.chain_valid());
    type Flag = fn(&mut Defects);
    let flags: [(&str, Flag); 6] = [
        ("expired", |d| d.expired = true),
        ("not_yet_valid", |d| d.not_yet_valid = true),
        ("self_signed", |d| d.self_signed = true),
        ("out_of_order", |d| d.out_of_order = true),
        ("incomplete", |d| d.incomplete = true),
        ("untrusted", |d| d.untrusted = true),
    ];
    for (name, set) in flags {
        let mut bad = r.clone();
        set(&mut bad.defects);
        assert!(
            !bad.chain_valid(),
            "{name} alone must make the chain invalid"
        );
    }
    // Warnings and names are not about the chain.
    let mut warned = r.clone();
    warned.defects.expiring_soon = true;
    warned.defects.hostname_mismatch = true;
    assert!(warned.chain_valid());
    for trust in [
        Trust::UnknownIssuer { aia: None },
        Trust::Rejected("bad".into()),
        Trust::NoLeaf,
    ] {
        let mut untrusted = r.clone();
        untrusted.trust = trust;
        assert!(!untrusted.chain_valid());
    }
}

#[test]
fn the_weight_counts_every_held_byte() {
    let base = facts(vec![cert(0, NOT_BEFORE, NOT_AFTER)], Trust::Trusted);
    let cert_bytes = size_of::<CertSummary>() + "leaf.example".len() + "Issuer CA".len() + 6;
    let names = size_of::<String>() + "leaf.example".len() + "leaf.example".len();
    assert_eq!(base.weight(), size_of::<ChainFacts>() + cert_bytes + names);

    // Each part adds exactly what it holds.
    let mut more = facts(
        vec![
            cert(0, NOT_BEFORE, NOT_AFTER),
            cert(1, NOT_BEFORE, NOT_AFTER),
        ],
        Trust::Rejected("twelve chars".into()),
    );
    more.leaf_names.dns.push("b.example".into());
    more.leaf_names.ips = vec![IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2])];
    more.leaf_names.common_name = None;
    let expected = size_of::<ChainFacts>()
        + 2 * cert_bytes
        + 2 * size_of::<String>()
        + "leaf.example".len()
        + "b.example".len()
        + 2 * size_of::<IpAddr>()
        + "twelve chars".len();
    assert_eq!(more.weight(), expected);

    // The first certificate's facts, as a TLS client library shows them.
    let mut peer = facts(vec![cert(0, NOT_BEFORE, NOT_AFTER)], Trust::Trusted);
    peer.peer = Some(Arc::new(PeerFacts {
        fingerprint_sha256: "ab".repeat(32),
        subject: "CN=leaf".into(),
        issuer: "CN=Issuer CA".into(),
        dns_names: vec!["a.example".into(), "bb.example".into()],
        path_validity: None,
    }));
    let peer_bytes = size_of::<PeerFacts>()
        + 64
        + "CN=leaf".len()
        + "CN=Issuer CA".len()
        + 2 * size_of::<String>()
        + "a.example".len()
        + "bb.example".len();
    assert_eq!(peer.weight(), base.weight() + peer_bytes);

    let aia = facts(
        vec![cert(0, NOT_BEFORE, NOT_AFTER)],
        Trust::UnknownIssuer {
            aia: Some("http://a".into()),
        },
    );
    assert_eq!(aia.weight(), base.weight() + "http://a".len());
    assert_eq!(Arc::strong_count(&base.certs), 1);
}

#[test]
fn without_a_leaf_nothing_is_covered_or_trusted() {
    let mut f = facts(vec![cert(0, NOT_BEFORE, NOT_AFTER)], Trust::NoLeaf);
    f.leaf = None;
    f.unparsable = 2;
    let r = report(&f, &["leaf.example", "www.example"], NOT_AFTER + 1, 0);
    assert_eq!(r.leaf, None);
    assert_eq!(r.leaf_days_remaining, None);
    assert_eq!(r.trust, Trust::NoLeaf);
    assert_eq!(r.unparsable, 2);
    assert_eq!(
        r.names,
        vec![
            ("leaf.example".to_string(), false),
            ("www.example".to_string(), false)
        ]
    );
    // Validity is still judged on the certificates that parsed.
    assert_eq!(
        r.defects,
        Defects {
            expired: true,
            untrusted: true,
            hostname_mismatch: true,
            ..Defects::default()
        }
    );
}

#[test]
fn the_leaf_is_reported_by_its_served_position() {
    // The leaf is the second certificate that parsed, served third (one did not parse).
    let mut f = facts(
        vec![
            cert(0, NOT_BEFORE, NOT_AFTER),
            cert(2, NOT_BEFORE, NOT_AFTER + DAY),
        ],
        Trust::Trusted,
    );
    f.leaf = Some(1);
    let r = report(&f, &["leaf.example"], NOT_AFTER - DAY, 0);
    assert_eq!(r.leaf, Some(2));
    assert_eq!(r.leaf_days_remaining, Some(2.0));
}

#[test]
fn an_aia_url_is_fetched_only_for_an_unknown_issuer_of_a_leaf_not_self_signed() {
    let mut r = valid_report();
    r.trust = Trust::UnknownIssuer {
        aia: Some("http://ca.example/i.der".into()),
    };
    assert_eq!(r.aia_to_fetch(), Some("http://ca.example/i.der"));
    r.defects.self_signed = true;
    assert_eq!(r.aia_to_fetch(), None);
    r.defects.self_signed = false;
    r.trust = Trust::UnknownIssuer { aia: None };
    assert_eq!(r.aia_to_fetch(), None);
    r.trust = Trust::Rejected("http://ca.example/i.der".into());
    assert_eq!(r.aia_to_fetch(), None);
}

#[test]
fn der_content_skips_short_and_long_form_headers() {
    assert_eq!(der_content(&[0x30, 0x03, 7, 8, 9]), Some(&[7u8, 8, 9][..]));
    assert_eq!(der_content(&[0x30, 0x7f, 1]), Some(&[1u8][..]));
    // Long form: 0x81 is one length byte, 0x82 two.
    assert_eq!(der_content(&[0x30, 0x81, 0x02, 5, 6]), Some(&[5u8, 6][..]));
    assert_eq!(
        der_content(&[0x30, 0x82, 0x00, 0x03, 1, 2, 3]),
        Some(&[1u8, 2, 3][..])
    );
    // A header longer than the element, or no length byte at all.
    assert_eq!(der_content(&[0x30, 0x84, 0, 0]), None);
    assert_eq!(der_content(&[0x30]), None);
    assert_eq!(der_content(&[]), None);
}

#[test]
fn trust_is_checked_at_a_moment_inside_every_validity_window() {
    let certs = [cert(0, 100, 200), cert(1, 150, 300)];
    assert_eq!(verification_time(&certs, &[], 170), 170);
    assert_eq!(verification_time(&certs, &[], 10), 150);
    assert_eq!(verification_time(&certs, &[], 1_000), 200);
    // Windows meeting at one second: that second.
    let touching = [cert(0, 100, 200), cert(1, 200, 300)];
    assert_eq!(verification_time(&touching, &[], 10), 200);
    assert_eq!(verification_time(&touching, &[], 1_000), 200);
    // Disjoint windows: no moment fits, so now.
    let disjoint = [cert(0, 100, 200), cert(1, 250, 300)];
    assert_eq!(verification_time(&disjoint, &[], 10), 10);
    assert_eq!(verification_time(&[], &[], 42), 42);
}

#[test]
fn the_top_of_the_path_follows_issuers_and_stops_on_a_cycle() {
    assert_eq!(top_of_path(0, &[Some(1), Some(2), None]), Some(2));
    assert_eq!(top_of_path(1, &[None, Some(2), None]), Some(2));
    assert_eq!(top_of_path(2, &[Some(2), None, None]), Some(2));
    // Cross-signed certificates issuing each other: bounded by the chain length.
    assert_eq!(top_of_path(0, &[Some(1), Some(0)]), Some(0));
}

#[test]
fn ip_addresses_are_four_or_sixteen_bytes() {
    assert_eq!(
        ip_from_bytes(&[192, 0, 2, 7]),
        Some(IpAddr::from([192, 0, 2, 7]))
    );
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(ip_from_bytes(&v6), Some(IpAddr::from(v6)));
    assert_eq!(ip_from_bytes(&[192, 0, 2]), None);
    assert_eq!(ip_from_bytes(&[0; 5]), None);
    assert_eq!(ip_from_bytes(&[]), None);
}

#[test]
fn labels_are_cut_at_a_character_boundary() {
    assert_eq!(bounded("short"), "short");
    let ascii = "a".repeat(MAX_LABEL + 10);
    assert_eq!(bounded(&ascii), "a".repeat(MAX_LABEL));
    // 'é' is two bytes: after one ASCII byte, byte 256 falls inside the 128th 'é', which is
    // dropped whole.
    let accented = format!("x{}", "é".repeat(200));
    let cut = bounded(&accented);
    assert_eq!(cut.len(), MAX_LABEL - 1);
    assert_eq!(cut, format!("x{}", "é".repeat(127)));
}
