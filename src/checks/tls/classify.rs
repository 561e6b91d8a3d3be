//! Naming what the CDN's handshake met, in the terms of SPEC.md's causes: from the CDN hello's
//! answer and the version-by-version hellos ([`classify`]), then what the CDN-profile handshake
//! and the request after it add ([`finish_classify`], [`after_classify`]). Pure.

use rustls::pki_types::CertificateDer;

use super::{cdn_client, refusal, Handshake, Rejection, Reply};
use crate::cdn::TlsVersion;

/// Names why the CDN's hello failed, from what the version-by-version hellos showed.
pub fn classify(
    accepted: bool,
    protocols: &[(TlsVersion, bool)],
    allowed: &[TlsVersion],
    cdn_reply: &Reply,
) -> Handshake {
    if accepted {
        // The origin chose what the CDN offered, then broke the handshake (garbage, a reset, an
        // oversized certificate...): the CDN's handshake fails, and nothing else explains it.
        return match cdn_reply {
            Reply::HelloThen(..) => Handshake::Failed(cdn_reply.clone()),
            _ => Handshake::Accepted,
        };
    }
    let supported: Vec<TlsVersion> = protocols
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(v, _)| *v)
        .collect();
    let usable: Vec<TlsVersion> = supported
        .iter()
        .copied()
        .filter(|v| allowed.contains(v))
        .collect();
    if !usable.is_empty() {
        Handshake::CipherMismatch { versions: usable }
    } else if !supported.is_empty() || *cdn_reply == Reply::Alert(PROTOCOL_VERSION) {
        // The origin names the mismatch itself: RFC 5246 7.2.2 and RFC 8446 6.2 send
        // protocol_version for a version "recognized but not supported". lighttpd with mbedTLS
        // 2.28 set to TLS 1.3 only answers every hello so, the version hellos included.
        Handshake::ProtocolMismatch {
            supported,
            allowed: allowed.to_vec(),
        }
    } else {
        Handshake::Failed(cdn_reply.clone())
    }
}

/// The `protocol_version` alert (70).
const PROTOCOL_VERSION: u8 = 70;

/// What the CDN-profile handshake adds to the hello's verdict: a later step that broke, a
/// client certificate asked for or refused, a certificate key no offered scheme fits.
pub fn finish_classify(
    hello: Handshake,
    finish: Option<&cdn_client::Finish>,
    cert_request: bool,
    has_identity: bool,
    unusable_key: Option<String>,
) -> Handshake {
    use cdn_client::Finish;
    let finished = matches!(finish, Some(Finish::Done { .. }));
    // A key the CDN cannot verify a signature of breaks every handshake that chose it.
    if let Some(key) = unusable_key {
        let refused = matches!(
            hello,
            Handshake::Accepted | Handshake::Failed(_) | Handshake::CipherMismatch { .. }
        );
        if !finished && refused {
            return Handshake::KeyMismatch { key };
        }
    }
    if hello != Handshake::Accepted {
        return hello;
    }
    let Some(finish) = finish else {
        return hello;
    };
    match (finished, cert_request, has_identity) {
        // Without origin mTLS the CDN drops the request of an origin that asks, whether or not
        // the origin would go on without one (`ssl_verify_client optional`).
        (_, true, false) => Handshake::ClientCertificateRequired {
            finish: finish.clone(),
        },
        (true, _, _) => Handshake::Accepted,
        (false, true, true) if refuses_certificate(finish) => {
            Handshake::ClientCertificateRejected(Rejection::Handshake(finish.clone()))
        }
        (false, _, _) => Handshake::Unfinished(finish.clone()),
    }
}

/// What the request sent over a handshake that finished with the client certificate adds: the
/// origin that closed the connection unanswered, or answered that it refuses the certificate,
/// refused it ([`refusal`]); any other answer leaves the verdict to the HTTP check.
pub fn after_classify(handshake: Handshake, after: Option<&refusal::After>) -> Handshake {
    match after {
        Some(after) if handshake == Handshake::Accepted && after.refuses() => {
            Handshake::ClientCertificateRejected(Rejection::After(after.clone()))
        }
        _ => handshake,
    }
}

/// Alerts a server sends about the client's certificate (RFC 5246 7.2.2, RFC 8446 6.2), or the
/// connection ending right after the client's certificate was sent.
pub(super) fn refuses_certificate(finish: &cdn_client::Finish) -> bool {
    use cdn_client::Finish;
    match finish {
        Finish::AlertReceived { alert, .. } => {
            matches!(alert, 40 | 42 | 43 | 44 | 45 | 46 | 48 | 49 | 51 | 116)
        }
        Finish::Io(_) | Finish::Refused { .. } => true,
        Finish::Done { .. } | Finish::TimedOut => false,
    }
}

/// The leaf's key type when no signature scheme of the CDN fits it (only RSA and ECDSA do).
pub(super) fn unusable_key(leaf: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf).ok()?;
    let oid = cert.public_key().algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.10045.2.1" => None,
        "1.3.101.112" => Some("Ed25519".into()),
        "1.3.101.113" => Some("Ed448".into()),
        "1.2.840.113549.1.1.10" => Some("RSA-PSS".into()),
        "1.2.840.10040.4.1" => Some("DSA".into()),
        other => Some(format!("OID {other}")),
    }
}
