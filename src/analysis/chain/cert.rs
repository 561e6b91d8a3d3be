//! What one served certificate says, read with x509-parser: its summary for the metrics (label
//! values bounded), the names it covers, and where its issuer can be fetched (AIA caIssuers).

use std::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::super::hostname::CertNames;
use super::{CertSummary, PeerFacts, MAX_AIA_URL, MAX_LABEL, MAX_PEER_DN, MAX_PEER_NAMES};

/// Longest DNS name (253 characters, plus a trailing dot and slack): longer certificate names
/// can never match an origin's domain.
const MAX_DNS_NAME: usize = 256;

/// `id-ad-caIssuers` (RFC 5280 4.2.2.1).
const OID_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

pub(super) struct Parsed<'a> {
    pub(super) position: usize,
    pub(super) cert: X509Certificate<'a>,
}

pub(super) fn summary(p: &Parsed<'_>) -> CertSummary {
    let cert = &p.cert;
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        bounded(
            name.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or(""),
        )
    };
    CertSummary {
        position: p.position,
        subject_cn: cn(cert.subject()),
        issuer_cn: cn(cert.issuer()),
        serial: cert
            .raw_serial()
            .iter()
            .take(MAX_LABEL / 2)
            .map(|b| format!("{b:02x}"))
            .collect(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    }
}

/// `s`, cut to [`MAX_LABEL`] bytes at a character boundary.
pub(super) fn bounded(s: &str) -> String {
    bounded_to(s, MAX_LABEL)
}

/// `s`, cut to `max` bytes at a character boundary.
pub(super) fn bounded_to(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

pub(super) fn names_of(cert: &X509Certificate<'_>) -> CertNames {
    let mut names = CertNames {
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .filter(|cn| cn.len() <= MAX_DNS_NAME)
            .map(str::to_string),
        ..Default::default()
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                // Longer than any DNS name: it can cover no configured name, so it is not kept.
                GeneralName::DNSName(d) if d.len() <= MAX_DNS_NAME => names.dns.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        names.ips.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    names
}

pub(super) fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The first `http://` caIssuers URL of the certificate's Authority Information Access.
pub(super) fn ca_issuers_url(cert: &X509Certificate<'_>) -> Option<String> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                aia.accessdescs.iter().find_map(|d| {
                    match (
                        &d.access_location,
                        d.access_method.to_id_string() == OID_CA_ISSUERS,
                    ) {
                        (GeneralName::URI(u), true)
                            if u.starts_with("http://") && u.len() <= MAX_AIA_URL =>
                        {
                            Some(u.to_string())
                        }
                        _ => None,
                    }
                })
            }
            _ => None,
        })
}

/// The first certificate sent, as a TLS client library shows it.
pub(super) fn peer_facts(
    der: &[u8],
    cert: &X509Certificate<'_>,
    path_validity: Option<(i64, i64)>,
) -> PeerFacts {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut dns_names = Vec::new();
    let mut bytes = 0;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                bytes += d.len() + 1;
                if bytes > MAX_PEER_NAMES {
                    break;
                }
                dns_names.push(d.to_string());
            }
        }
    }
    let dn = |name| bounded_to(&crate::analysis::dn::go_name(name), MAX_PEER_DN);
    PeerFacts {
        fingerprint_sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        subject: dn(cert.subject()),
        issuer: dn(cert.issuer()),
        dns_names,
        path_validity,
    }
}
