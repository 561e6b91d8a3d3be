//! The TLS settings of an origin: the protocol versions the CDN offers it, and the client
//! certificate the probe presents (also given per ACM certificate by discovery).

use std::path::PathBuf;
use std::sync::Arc;

use super::super::raw::RawClientCertificate;
use super::super::ClientCertificate;
use super::Errors;
use crate::cdn::{self, TlsVersion};

pub(super) fn ssl_protocols(
    value: Option<&Vec<String>>,
    cdn: &cdn::CdnProfile,
    path: &str,
    errors: &mut Errors,
) -> Vec<TlsVersion> {
    let Some(list) = value else {
        return vec![TlsVersion::Tls1_2];
    };
    if list.is_empty() {
        errors.push(path, "must list at least one protocol");
    }
    let allowed: Vec<_> = cdn.origin_protocols.iter().map(|v| v.name()).collect();
    let mut out = Vec::new();
    for (i, name) in list.iter().enumerate() {
        match TlsVersion::from_name(name).filter(|v| cdn.origin_protocols.contains(v)) {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {}
            None => errors.push(
                format!("{path}[{i}]"),
                format!(
                    "unknown protocol {name:?} for cdn {}; known: {}",
                    cdn.name,
                    allowed.join(", ")
                ),
            ),
        }
    }
    out.sort();
    out
}

/// Both files named, readable, and PEM; whether they hold a matching certificate and key is
/// checked when the TLS client is built, and reported by the TLS check.
pub(super) fn client_certificate(
    raw: &RawClientCertificate,
    path: &str,
    errors: &mut Errors,
) -> Option<ClientCertificate> {
    let mut file = |value: Option<&String>, key: &str| -> Option<(PathBuf, Arc<[u8]>)> {
        let at = format!("{path}.{key}");
        let Some(f) = value.filter(|f| !f.is_empty()) else {
            errors.push(at, "required: a PEM file");
            return None;
        };
        match std::fs::read(f) {
            Ok(bytes) if bytes.windows(11).any(|w| w == b"-----BEGIN ") => {
                Some((PathBuf::from(f), Arc::from(bytes)))
            }
            Ok(_) => {
                errors.push(at, format!("{f}: no PEM block in the file"));
                None
            }
            Err(e) => {
                errors.push(at, format!("{f}: {e}"));
                None
            }
        }
    };
    let cert = file(raw.cert_file.as_ref(), "cert_file");
    let key = file(raw.key_file.as_ref(), "key_file");
    let ((cert_file, cert_pem), (key_file, key_pem)) = (cert?, key?);
    let not_after = leaf_not_after(&cert_pem);
    Some(ClientCertificate {
        cert_file,
        key_file,
        cert_pem,
        key_pem,
        not_after,
    })
}

/// The notAfter (Unix seconds) of the first certificate of a PEM file.
fn leaf_not_after(pem: &[u8]) -> Option<i64> {
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}
