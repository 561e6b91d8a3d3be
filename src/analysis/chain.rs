//! What is wrong with a served certificate chain: pure, over DER bytes, without sockets.
//!
//! webpki (through rustls) decides trust, but accepts intermediates in any order and never
//! fetches missing ones, so order, validity and self-signature are checked here on the raw chain,
//! and an unknown issuer is told apart as "incomplete" only when the issuer fetched from the
//! leaf's AIA caIssuers URL (given in by the caller, who does the I/O) completes the chain.

mod cert;
mod path;
mod trust;

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use rustls::RootCertStore;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::hostname::CertNames;
use cert::{ca_issuers_url, names_of, peer_facts, summary, Parsed};
use path::{issued_by, issuers, out_of_order, pick_leaf, top_of_path};
pub use trust::cdn_store;
use trust::{cdn_trust_of, is_trust_anchor, trust_of, verification_time};

/// Most certificates of a served chain that are looked at; the rest are ignored. Real chains
/// have 2-4; this bounds the work a hostile origin can cause.
pub const MAX_CHAIN: usize = 10;

/// Longest caIssuers URL followed (real ones are well under 100 bytes): a longer one is ignored,
/// so that neither the AIA cache nor the cached facts hold what a hostile certificate packs in.
pub const MAX_AIA_URL: usize = 2048;

/// Longest value taken from a certificate into a label (subject and issuer CN, serial), in bytes:
/// a hostile certificate cannot make every scrape carry its size.
pub const MAX_LABEL: usize = 256;

/// Most bytes of a leaf's SAN dNSNames kept for [`PeerFacts::dns_names`] (whole names): a
/// certificate for a hundred names fits; a hostile one cannot make every scrape carry its size.
pub const MAX_PEER_NAMES: usize = 4096;

/// Longest subject or issuer kept in [`PeerFacts`], in bytes.
pub const MAX_PEER_DN: usize = 1024;

/// What the analysis needs besides the chain. Built by the caller from the origin and context.
pub struct Inputs<'a> {
    /// Names the leaf must cover: `domain`, then `host_header` if set.
    pub names: &'a [&'a str],
    pub roots: &'a RootCertStore,
    pub algorithms: &'a [&'a dyn SignatureVerificationAlgorithm],
    /// Seconds since the epoch.
    pub now: i64,
    pub expiry_warning_days: u32,
}

/// The facts of one served certificate, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CertSummary {
    /// Position in the served chain; 0 is the first certificate sent.
    pub position: usize,
    pub subject_cn: String,
    pub issuer_cn: String,
    /// Serial number, lowercase hex without separators.
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The certificate defects the CDN rejects, each found independently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects {
    pub expired: bool,
    pub not_yet_valid: bool,
    pub expiring_soon: bool,
    pub self_signed: bool,
    pub out_of_order: bool,
    pub incomplete: bool,
    pub untrusted: bool,
    pub hostname_mismatch: bool,
}

/// How the trust check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    /// No path to a root; `aia` is the caIssuers URL of the top of the served path, if any.
    UnknownIssuer {
        aia: Option<String>,
    },
    /// Any other rejection by webpki (bad encoding, unsupported algorithm, wrong key usage...).
    Rejected(String),
    /// Nothing was served, or the leaf does not parse.
    NoLeaf,
}

/// What a TLS client library shows its caller about a chain, as Go's `tls.ConnectionState`
/// does (blackbox_exporter's `probe_ssl_*` series are made of it): the first certificate sent,
/// and the validity of the path the trust check built. Computed once per distinct chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFacts {
    /// SHA-256 of the first certificate's DER, lowercase hex.
    pub fingerprint_sha256: String,
    /// Its subject and issuer as Go prints them ([`super::dn::go_name`]), at most
    /// [`MAX_PEER_DN`] bytes each.
    pub subject: String,
    pub issuer: String,
    /// Its SAN dNSNames in certificate order, at most [`MAX_PEER_NAMES`] bytes of them.
    pub dns_names: Vec<String>,
    /// The path from it to the trust anchor (the anchor included) that the trust check built:
    /// its latest notBefore and earliest notAfter, Unix seconds. `None` when no path was built
    /// (untrusted), or trust was judged without one (webpki).
    pub path_validity: Option<(i64, i64)>,
}

/// The result of analysing one served chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainReport {
    /// Every served certificate that parses, in served order (shared with the cached facts).
    pub certs: Arc<[CertSummary]>,
    /// Position of the end-entity certificate (normally 0).
    pub leaf: Option<usize>,
    pub leaf_days_remaining: Option<f64>,
    /// Per name in [`Inputs::names`]: whether the leaf covers it.
    pub names: Vec<(String, bool)>,
    /// Trust of the chain as served (plus any fetched issuers).
    pub trust: Trust,
    pub defects: Defects,
    /// Served certificates that did not parse as X.509.
    pub unparsable: usize,
    /// The chain as a TLS client library shows it; `None` when the first certificate sent does
    /// not parse or is not the leaf (a client then judges a certificate that is not the
    /// origin's).
    pub peer: Option<Arc<PeerFacts>>,
}

impl ChainReport {
    /// `origin_tls_chain_valid`: in order, complete, within validity, reaching a trusted root.
    pub fn chain_valid(&self) -> bool {
        let d = &self.defects;
        self.trust == Trust::Trusted
            && !(d.expired
                || d.not_yet_valid
                || d.self_signed
                || d.out_of_order
                || d.incomplete
                || d.untrusted)
    }

    /// The caIssuers URL to fetch to tell an incomplete chain from an untrusted one.
    pub fn aia_to_fetch(&self) -> Option<&str> {
        match &self.trust {
            Trust::UnknownIssuer { aia } if !self.defects.self_signed => aia.as_deref(),
            _ => None,
        }
    }
}

/// What a served chain is, whatever the moment and the names asked about: the expensive part
/// of the analysis (parsing, signature checks, path building), computed once per distinct chain
/// and cacheable. Trust is checked at a moment inside the certificates' validity windows (see
/// [`verification_time`]), so it does not change while the chain stays the same.
#[derive(Debug)]
pub struct ChainFacts {
    pub certs: Arc<[CertSummary]>,
    /// Index in `certs` of the end-entity certificate.
    leaf: Option<usize>,
    leaf_names: CertNames,
    out_of_order: bool,
    leaf_self_signed: bool,
    trust: Trust,
    /// Untrusted as served, trusted with the fetched issuers.
    incomplete: bool,
    unparsable: usize,
    peer: Option<Arc<PeerFacts>>,
}

impl ChainFacts {
    /// About how many bytes of heap these facts hold: what a cache of them counts. Real chains
    /// come to a few hundred bytes; a leaf packed with names can come to the handshake bound.
    pub fn weight(&self) -> usize {
        const STRING: usize = std::mem::size_of::<String>();
        let certs: usize = self
            .certs
            .iter()
            .map(|c| {
                std::mem::size_of::<CertSummary>()
                    + c.subject_cn.len()
                    + c.issuer_cn.len()
                    + c.serial.len()
            })
            .sum();
        let names = &self.leaf_names;
        let dns: usize = names.dns.iter().map(|n| STRING + n.len()).sum();
        let peer = self.peer.as_ref().map_or(0, |p| {
            std::mem::size_of::<PeerFacts>()
                + p.fingerprint_sha256.len()
                + p.subject.len()
                + p.issuer.len()
                + p.dns_names.iter().map(|n| STRING + n.len()).sum::<usize>()
        });
        let reason = match &self.trust {
            Trust::UnknownIssuer { aia: Some(s) } | Trust::Rejected(s) => s.len(),
            _ => 0,
        };
        std::mem::size_of::<Self>()
            + certs
            + dns
            + names.ips.len() * std::mem::size_of::<IpAddr>()
            + names.common_name.as_ref().map_or(0, String::len)
            + reason
            + peer
    }
}

/// Analyses `served` (in served order). `fetched` holds issuers fetched from the AIA URL that a
/// previous call returned through [`ChainReport::aia_to_fetch`]; pass `&[]` the first time.
pub fn analyze(
    served: &[CertificateDer<'_>],
    fetched: &[CertificateDer<'_>],
    inputs: &Inputs<'_>,
) -> ChainReport {
    let facts = facts(served, fetched, inputs.roots, inputs.algorithms, inputs.now);
    report(&facts, inputs.names, inputs.now, inputs.expiry_warning_days)
}

/// The moment-dependent part: validity of each certificate, days left, names covered.
pub fn report(
    facts: &ChainFacts,
    names: &[&str],
    now: i64,
    expiry_warning_days: u32,
) -> ChainReport {
    let mut defects = Defects {
        out_of_order: facts.out_of_order,
        incomplete: facts.incomplete,
        ..Defects::default()
    };
    let warn_secs = i64::from(expiry_warning_days) * 86_400;
    for c in facts.certs.iter() {
        if now > c.not_after {
            defects.expired = true;
        } else if now < c.not_before {
            defects.not_yet_valid = true;
        } else if c.not_after - now < warn_secs {
            defects.expiring_soon = true;
        }
    }
    let Some(leaf) = facts.leaf else {
        return ChainReport {
            certs: Arc::clone(&facts.certs),
            leaf: None,
            leaf_days_remaining: None,
            names: names.iter().map(|n| (n.to_string(), false)).collect(),
            trust: Trust::NoLeaf,
            defects: Defects {
                untrusted: true,
                hostname_mismatch: true,
                ..defects
            },
            unparsable: facts.unparsable,
            peer: None,
        };
    };
    let names: Vec<(String, bool)> = names
        .iter()
        .map(|n| (n.to_string(), facts.leaf_names.covers(n)))
        .collect();
    defects.hostname_mismatch = !names.iter().any(|(_, ok)| *ok);
    if facts.trust != Trust::Trusted {
        defects.self_signed = facts.leaf_self_signed;
        // The causes name the root: a self-signed leaf or a missing intermediate explains the
        // failure. A wrong order cannot (webpki accepts any order), so it does not hide it.
        defects.untrusted = !(defects.self_signed || defects.incomplete);
    }
    let leaf_cert = &facts.certs[leaf];
    ChainReport {
        certs: Arc::clone(&facts.certs),
        leaf: Some(leaf_cert.position),
        leaf_days_remaining: Some((leaf_cert.not_after - now) as f64 / 86_400.0),
        names,
        trust: facts.trust.clone(),
        defects,
        unparsable: facts.unparsable,
        peer: facts.peer.clone(),
    }
}

/// The moment-independent part of the analysis (see [`ChainFacts`]).
pub fn facts(
    served: &[CertificateDer<'_>],
    fetched: &[CertificateDer<'_>],
    roots: &RootCertStore,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    now: i64,
) -> ChainFacts {
    facts_with(served, fetched, roots, None, algorithms, now)
}

/// [`facts`], with trust judged the way the CDN's client judges it when `cdn_store` is given:
/// OpenSSL's `X509_verify_cert` over the served chain (s2n-tls calls AWS-LC's, which builds the
/// path from the first matching issuer and never backtracks to another one), with the store's
/// flags (no time checks: expiry and notBefore are their own causes).
pub fn facts_with(
    served: &[CertificateDer<'_>],
    fetched: &[CertificateDer<'_>],
    roots: &RootCertStore,
    cdn_store: Option<&openssl::x509::store::X509Store>,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    now: i64,
) -> ChainFacts {
    let served = &served[..served.len().min(MAX_CHAIN)];
    let parsed: Vec<Parsed<'_>> = served
        .iter()
        .enumerate()
        .filter_map(|(position, der)| match X509Certificate::from_der(der) {
            Ok((_, cert)) => Some(Parsed { position, cert }),
            Err(_) => None,
        })
        .collect();
    let unparsable = served.len() - parsed.len();
    let certs: Arc<[CertSummary]> = parsed.iter().map(summary).collect();

    let issuer = issuers(&parsed);
    let out_of_order = out_of_order(&issuer);
    let Some(leaf) = pick_leaf(&parsed, &issuer) else {
        return ChainFacts {
            certs,
            leaf: None,
            leaf_names: CertNames::default(),
            out_of_order,
            leaf_self_signed: false,
            trust: Trust::NoLeaf,
            incomplete: false,
            unparsable,
            peer: None,
        };
    };
    let leaf_cert = &parsed[leaf].cert;
    let leaf_self_signed = issued_by(leaf_cert, leaf_cert);
    let others: Vec<CertificateDer<'_>> = parsed
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leaf)
        .map(|(_, p)| served[p.position].clone())
        .collect();
    let leaf_der = &served[parsed[leaf].position];
    let at = verification_time(&certs, fetched, now);
    let judge = |intermediates: &[CertificateDer<'_>]| match cdn_store {
        Some(store) => cdn_trust_of(leaf_der, intermediates, store),
        None => (
            trust_of(leaf_der, intermediates, roots, algorithms, at),
            None,
        ),
    };
    let (mut trust, mut path_validity) = if unparsable > 0 {
        // The CDN cannot parse what the origin sent; webpki would skip such an intermediate.
        (
            Trust::Rejected(format!("{unparsable} served certificate(s) do not parse")),
            None,
        )
    } else {
        judge(&others)
    };
    if let Trust::UnknownIssuer { aia } = &mut trust {
        *aia = top_of_path(leaf, &issuer).and_then(|top| ca_issuers_url(&parsed[top].cert));
    }
    let mut incomplete = false;
    if matches!(trust, Trust::UnknownIssuer { .. }) && !fetched.is_empty() {
        let mut all = others.clone();
        all.extend(fetched.iter().take(MAX_CHAIN).cloned());
        incomplete = judge(&all).0 == Trust::Trusted;
    }
    // A leaf that is itself one of the trusted roots (a private CA's self-signed certificate in
    // `ca_file`) is trusted, even when webpki refuses a CA certificate as an end entity.
    if trust != Trust::Trusted && leaf_self_signed && is_trust_anchor(leaf_cert, roots) {
        trust = Trust::Trusted;
        path_validity = Some((
            leaf_cert.validity().not_before.timestamp(),
            leaf_cert.validity().not_after.timestamp(),
        ));
    }
    let peer = (parsed[leaf].position == 0).then(|| {
        Arc::new(peer_facts(
            leaf_der,
            leaf_cert,
            path_validity.filter(|_| trust == Trust::Trusted),
        ))
    });
    ChainFacts {
        certs,
        leaf: Some(leaf),
        leaf_names: names_of(leaf_cert),
        out_of_order,
        leaf_self_signed,
        trust,
        incomplete,
        unparsable,
        peer,
    }
}

#[cfg(test)]
mod boundaries;
