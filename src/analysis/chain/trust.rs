//! Whether a chain reaches a trusted root: webpki (through rustls) over the roots, or OpenSSL's
//! `X509_verify_cert` over the CDN's trust store as its s2n-tls client does; at a moment inside
//! the certificates' validity windows, so that expiry is its own defect and not also distrust.

use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::{CertSummary, Trust};

/// The certificate's subject and key are those of a trust anchor in `roots`.
pub(super) fn is_trust_anchor(cert: &X509Certificate<'_>, roots: &RootCertStore) -> bool {
    // Trust anchors hold the contents of both fields, without their SEQUENCE header.
    let (Some(subject), Some(spki)) = (
        der_content(cert.subject().as_raw()),
        der_content(cert.public_key().raw),
    ) else {
        return false;
    };
    roots
        .roots
        .iter()
        .any(|ta| ta.subject.as_ref() == subject && ta.subject_public_key_info.as_ref() == spki)
}

/// The content of one DER element (its bytes after tag and length).
pub(super) fn der_content(element: &[u8]) -> Option<&[u8]> {
    let first = *element.get(1)?;
    let header = if first < 0x80 {
        2
    } else {
        2 + usize::from(first & 0x7f)
    };
    element.get(header..)
}

/// The moment at which trust is checked: now, moved inside the validity windows of the
/// certificates when it is outside them, so that an expired or not-yet-valid certificate shows
/// as exactly that and not also as untrusted.
pub(super) fn verification_time(
    certs: &[CertSummary],
    fetched: &[CertificateDer<'_>],
    now: i64,
) -> i64 {
    let mut lo = i64::MIN;
    let mut hi = i64::MAX;
    let fetched_windows = fetched.iter().filter_map(|der| {
        X509Certificate::from_der(der).ok().map(|(_, c)| {
            (
                c.validity().not_before.timestamp(),
                c.validity().not_after.timestamp(),
            )
        })
    });
    for (nb, na) in certs
        .iter()
        .map(|c| (c.not_before, c.not_after))
        .chain(fetched_windows)
    {
        lo = lo.max(nb);
        hi = hi.min(na);
    }
    if lo > hi {
        now
    } else {
        now.clamp(lo, hi)
    }
}

pub(super) fn trust_of(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &RootCertStore,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    at: i64,
) -> Trust {
    let Ok(parsed) = ParsedCertificate::try_from(leaf) else {
        return Trust::Rejected("the leaf certificate does not parse".into());
    };
    let when = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at.max(0) as u64));
    match verify_server_cert_signed_by_trust_anchor(&parsed, roots, intermediates, when, algorithms)
    {
        Ok(()) => Trust::Trusted,
        Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            Trust::UnknownIssuer { aia: None }
        }
        Err(e) => Trust::Rejected(e.to_string()),
    }
}

/// OpenSSL's verdict on the chain, as the CDN's s2n-tls client asks AWS-LC for it: the leaf, the
/// served certificates as untrusted intermediates, the CDN's trust store.
/// With a trusted verdict, the validity of the path OpenSSL built ([`super::PeerFacts::path_validity`]).
pub(super) fn cdn_trust_of(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    store: &openssl::x509::store::X509Store,
) -> (Trust, Option<(i64, i64)>) {
    use openssl::stack::Stack;
    use openssl::x509::{X509StoreContext, X509};
    let Ok(leaf) = X509::from_der(leaf) else {
        return (
            Trust::Rejected("the leaf certificate does not parse".into()),
            None,
        );
    };
    let verdict = (|| {
        let mut chain = Stack::new()?;
        for der in intermediates {
            if let Ok(c) = X509::from_der(der) {
                chain.push(c)?;
            }
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(store, &leaf, &chain, |c| {
            let trusted = c.verify_cert()?;
            let path = c.chain().filter(|_| trusted).and_then(|path| {
                let windows = path.iter().map(|cert| {
                    let der = cert.to_der().ok()?;
                    let (_, parsed) = X509Certificate::from_der(&der).ok()?;
                    let validity = parsed.validity();
                    Some((
                        validity.not_before.timestamp(),
                        validity.not_after.timestamp(),
                    ))
                });
                windows
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .reduce(|(nb, na), (b, a)| (nb.max(b), na.min(a)))
            });
            Ok((trusted, c.error(), path))
        })
    })();
    match verdict {
        Ok((true, _, path)) => (Trust::Trusted, path),
        // unable to get issuer certificate (locally), unable to verify the first certificate,
        // self-signed leaf or root not in the store.
        Ok((false, e, _)) if matches!(e.as_raw(), 2 | 18 | 19 | 20 | 21) => {
            (Trust::UnknownIssuer { aia: None }, None)
        }
        Ok((false, e, _)) => (Trust::Rejected(e.error_string().to_string()), None),
        Err(e) => (Trust::Rejected(e.to_string()), None),
    }
}

/// The CDN's trust store for [`facts_with`]: `certs` (DER), with s2n-tls's flags
/// (`X509_V_FLAG_PARTIAL_CHAIN`: a trusted intermediate is an anchor), the TLS server purpose,
/// and no time checks.
pub fn cdn_store<'a>(
    certs: impl IntoIterator<Item = &'a [u8]>,
) -> Result<openssl::x509::store::X509Store, openssl::error::ErrorStack> {
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::verify::X509VerifyFlags;
    use openssl::x509::{X509PurposeId, X509};
    let mut b = X509StoreBuilder::new()?;
    for der in certs {
        // A root OpenSSL cannot parse is one the CDN cannot use either.
        if let Ok(c) = X509::from_der(der) {
            // A duplicate is refused by some OpenSSL versions; the first copy serves.
            let _ = b.add_cert(c);
        }
    }
    b.set_flags(X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::NO_CHECK_TIME)?;
    b.set_purpose(X509PurposeId::SSL_SERVER)?;
    Ok(b.build())
}
