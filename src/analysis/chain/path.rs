//! Who issued whom among the served certificates: the issuance test, the served order, the
//! end-entity certificate, and the top of the served path (where an AIA fetch would continue it).

use x509_parser::certificate::X509Certificate;

use super::cert::Parsed;

/// `cert` names `issuer` as its issuer and carries a signature that `issuer`'s key verifies.
pub(super) fn issued_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    cert.issuer().as_raw() == issuer.subject().as_raw()
        && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// `issuer[i]` = index (in `parsed`) of the served certificate that issued `parsed[i]`.
pub(super) fn issuers(parsed: &[Parsed<'_>]) -> Vec<Option<usize>> {
    (0..parsed.len())
        .map(|i| (0..parsed.len()).find(|&j| j != i && issued_by(&parsed[i].cert, &parsed[j].cert)))
        .collect()
}

/// Each certificate's issuer, when it was served, must come right after it. Unparsable
/// certificates are skipped: they are their own defect, and order is not their echo.
pub(super) fn out_of_order(issuer: &[Option<usize>]) -> bool {
    issuer
        .iter()
        .enumerate()
        .any(|(i, j)| j.is_some_and(|j| j != i + 1))
}

/// The end-entity certificate: the first one served that issued no other served certificate.
pub(super) fn pick_leaf(parsed: &[Parsed<'_>], issuer: &[Option<usize>]) -> Option<usize> {
    (0..parsed.len()).find(|&i| {
        !issuer
            .iter()
            .enumerate()
            .any(|(j, is)| j != i && *is == Some(i))
    })
}

/// The last certificate on the served path from the leaf up (bounded by the chain length, so a
/// cycle of cross-signed certificates cannot loop).
pub(super) fn top_of_path(leaf: usize, issuer: &[Option<usize>]) -> Option<usize> {
    let mut at = leaf;
    for _ in 0..issuer.len() {
        match issuer[at] {
            Some(next) if next != at => at = next,
            _ => break,
        }
    }
    Some(at)
}
