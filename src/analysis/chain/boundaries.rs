//! Exact boundaries of the moment-dependent rules and of the facts' accounting: the second a
//! certificate expires or starts, the warning threshold, what `chain_valid` needs, what a cache
//! entry weighs. Built from facts directly, so each rule is pinned to the second.

use std::mem::size_of;
use std::net::IpAddr;
use std::sync::Arc;

use super::super::hostname::CertNames;
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

    let aia = facts(
        vec![cert(0, NOT_BEFORE, NOT_AFTER)],
        Trust::UnknownIssuer {
            aia: Some("http://a".into()),
        },
    );
    assert_eq!(aia.weight(), base.weight() + "http://a".len());
    assert_eq!(Arc::strong_count(&base.certs), 1);
}
