//! What a TLS 1.2 first flight proves by itself. With an ECDHE suite the server signs its
//! ServerKeyExchange over the client's random, its own random and its ephemeral key (RFC 8422
//! 5.4, RFC 5246 7.4.3): a signature that verifies with the served leaf's key, over this
//! connection's randoms, proves that the server holds that key now. What follows in a handshake
//! without a CertificateRequest is fixed by the protocol (the client's key exchange, both
//! Finished messages): the TLS check may then reuse a handshake that finished after the same
//! first flight instead of finishing another ([`super::KnownFinish`]).
//!
//! RSA key exchange (nothing signed), DHE, TLS 1.0/1.1 (MD5+SHA-1 signatures) and schemes ring
//! does not verify (ECDSA with SHA-1, SHA-224 or SHA-512, P-521, RSA with SHA-224) prove
//! nothing here: such origins finish the handshake on every cycle. Pure: no I/O.

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::FromDer;

/// What a verified ServerKeyExchange chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyExchange {
    /// The named curve (RFC 8422 5.1.1), e.g. 0x001d for X25519.
    pub group: u16,
    /// The signature scheme (RFC 5246 7.4.1.4.1 SignatureAndHashAlgorithm).
    pub scheme: u16,
}

/// Why a first flight proves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unproven {
    #[error("not TLS 1.2")]
    NotTls12,
    #[error("not an ECDHE suite")]
    NotEcdhe,
    #[error("no ServerKeyExchange")]
    Missing,
    #[error("a malformed ServerKeyExchange")]
    Malformed,
    #[error("no certificate")]
    NoLeaf,
    #[error("signature scheme 0x{0:04x} with this key is not verified here")]
    Scheme(u16),
    #[error("the leaf's public key cannot be read")]
    Key,
    #[error("the ServerKeyExchange signature does not verify with the leaf's key")]
    BadSignature,
}

/// The connection a ServerKeyExchange was read on.
#[derive(Debug, Clone, Copy)]
pub struct Flight<'a> {
    /// The ServerHello's version on the wire (0x0303 for TLS 1.2).
    pub version: u16,
    /// Whether the chosen suite is ECDHE (`ECDHE-` in OpenSSL's name).
    pub ecdhe: bool,
    pub client_random: &'a [u8; 32],
    pub server_random: &'a [u8; 32],
    /// The ServerKeyExchange message's body.
    pub key_exchange: Option<&'a [u8]>,
    /// The served leaf (DER).
    pub leaf: Option<&'a [u8]>,
}

/// Verifies the ServerKeyExchange of `flight` with its leaf's key.
pub fn verify(flight: &Flight<'_>) -> Result<KeyExchange, Unproven> {
    if flight.version != 0x0303 {
        return Err(Unproven::NotTls12);
    }
    if !flight.ecdhe {
        return Err(Unproven::NotEcdhe);
    }
    let ske = flight.key_exchange.ok_or(Unproven::Missing)?;
    let leaf = flight.leaf.ok_or(Unproven::NoLeaf)?;
    let signed = parse(ske)?;
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(leaf).map_err(|_| Unproven::Key)?;
    let spki = cert.public_key();
    let key_type = KeyType::of(
        &spki.algorithm.algorithm.to_id_string(),
        spki.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string())
            .as_deref(),
    )
    .ok_or(Unproven::Key)?;
    let algorithm = algorithm(key_type, signed.scheme).ok_or(Unproven::Scheme(signed.scheme))?;
    let mut message = Vec::with_capacity(64 + signed.params.len());
    message.extend_from_slice(flight.client_random);
    message.extend_from_slice(flight.server_random);
    message.extend_from_slice(signed.params);
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.data.as_ref())
        .verify(&message, signed.signature)
        .map_err(|_| Unproven::BadSignature)?;
    Ok(KeyExchange {
        group: signed.group,
        scheme: signed.scheme,
    })
}

/// The parts of an ECDHE ServerKeyExchange (RFC 8422 5.4).
struct Signed<'a> {
    /// `ServerECDHParams`: curve type, named curve, public point, as signed.
    params: &'a [u8],
    group: u16,
    scheme: u16,
    signature: &'a [u8],
}

fn parse(ske: &[u8]) -> Result<Signed<'_>, Unproven> {
    // curve_type named_curve (3), the curve (2 bytes), the point (1-byte length).
    let &[3, g0, g1, point_len, ..] = ske else {
        return Err(Unproven::Malformed);
    };
    let group = u16::from_be_bytes([g0, g1]);
    let params_len = 4 + usize::from(point_len);
    let params = ske.get(..params_len).ok_or(Unproven::Malformed)?;
    let tail = &ske[params_len..];
    let [s0, s1, l0, l1, signature @ ..] = tail else {
        return Err(Unproven::Malformed);
    };
    if signature.len() != usize::from(u16::from_be_bytes([*l0, *l1])) {
        return Err(Unproven::Malformed);
    }
    Ok(Signed {
        params,
        group,
        scheme: u16::from_be_bytes([*s0, *s1]),
        signature,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
}

impl KeyType {
    /// From the SubjectPublicKeyInfo's algorithm and parameters OIDs.
    fn of(algorithm: &str, parameters: Option<&str>) -> Option<KeyType> {
        match (algorithm, parameters) {
            ("1.2.840.113549.1.1.1", _) => Some(KeyType::Rsa),
            ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => Some(KeyType::P256),
            ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => Some(KeyType::P384),
            _ => None,
        }
    }
}

/// ring's algorithm for a TLS 1.2 signature scheme and key. RSA accepts keys from 1024 bits
/// where ring allows it (the CDN accepts small keys); in TLS 1.2 an ECDSA hash need not match
/// the curve.
fn algorithm(key: KeyType, scheme: u16) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (key, scheme) {
        (KeyType::Rsa, 0x0201) => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (KeyType::Rsa, 0x0401) => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        (KeyType::Rsa, 0x0501) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (KeyType::Rsa, 0x0601) => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        (KeyType::P256, 0x0403) => &signature::ECDSA_P256_SHA256_ASN1,
        (KeyType::P256, 0x0503) => &signature::ECDSA_P256_SHA384_ASN1,
        (KeyType::P384, 0x0403) => &signature::ECDSA_P384_SHA256_ASN1,
        (KeyType::P384, 0x0503) => &signature::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    /// An ECDSA P-256 leaf and its signing key.
    fn leaf() -> (Vec<u8>, EcdsaKeyPair) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("signing key");
        (cert.der().to_vec(), signer)
    }

    /// An ECDHE ServerKeyExchange for X25519 signed by `signer` over the randoms.
    fn ske(signer: &EcdsaKeyPair, client: &[u8; 32], server: &[u8; 32], scheme: u16) -> Vec<u8> {
        let mut params = vec![3, 0x00, 0x1d, 32];
        params.extend_from_slice(&[7; 32]);
        let mut message = client.to_vec();
        message.extend_from_slice(server);
        message.extend_from_slice(&params);
        let sig = signer
            .sign(&SystemRandom::new(), &message)
            .expect("signature");
        let mut body = params;
        body.extend_from_slice(&scheme.to_be_bytes());
        body.extend_from_slice(&(sig.as_ref().len() as u16).to_be_bytes());
        body.extend_from_slice(sig.as_ref());
        body
    }

    #[test]
    fn a_signature_over_this_connections_randoms_proves_the_key() {
        let (der, signer) = leaf();
        let (client, server) = ([1u8; 32], [2u8; 32]);
        let body = ske(&signer, &client, &server, 0x0403);
        let flight = Flight {
            version: 0x0303,
            ecdhe: true,
            client_random: &client,
            server_random: &server,
            key_exchange: Some(&body),
            leaf: Some(&der),
        };
        assert_eq!(
            verify(&flight),
            Ok(KeyExchange {
                group: 0x001d,
                scheme: 0x0403
            })
        );
        // Replayed on another connection (another client random): no proof.
        let other = [3u8; 32];
        let replayed = Flight {
            client_random: &other,
            ..flight
        };
        assert_eq!(verify(&replayed), Err(Unproven::BadSignature));
        // Another key than the leaf's: no proof.
        let (stranger, _) = leaf();
        let wrong_key = Flight {
            leaf: Some(&stranger),
            ..flight
        };
        assert_eq!(verify(&wrong_key), Err(Unproven::BadSignature));
        // A tampered ephemeral key: no proof.
        let mut tampered = body.clone();
        tampered[5] ^= 1;
        let tampered = Flight {
            key_exchange: Some(&tampered),
            ..flight
        };
        assert_eq!(verify(&tampered), Err(Unproven::BadSignature));
    }

    #[test]
    fn what_proves_nothing() {
        let (der, signer) = leaf();
        let (client, server) = ([1u8; 32], [2u8; 32]);
        let body = ske(&signer, &client, &server, 0x0403);
        let sha1 = ske(&signer, &client, &server, 0x0203);
        let flight = Flight {
            version: 0x0303,
            ecdhe: true,
            client_random: &client,
            server_random: &server,
            key_exchange: Some(&body),
            leaf: Some(&der),
        };
        let cases = [
            (
                Flight {
                    version: 0x0302,
                    ..flight
                },
                Unproven::NotTls12,
            ),
            (
                Flight {
                    ecdhe: false,
                    ..flight
                },
                Unproven::NotEcdhe,
            ),
            (
                Flight {
                    key_exchange: None,
                    ..flight
                },
                Unproven::Missing,
            ),
            (
                Flight {
                    leaf: None,
                    ..flight
                },
                Unproven::NoLeaf,
            ),
            (
                Flight {
                    leaf: Some(b"not a certificate"),
                    ..flight
                },
                Unproven::Key,
            ),
            // ECDSA with SHA-1: ring does not verify it.
            (
                Flight {
                    key_exchange: Some(&sha1),
                    ..flight
                },
                Unproven::Scheme(0x0203),
            ),
        ];
        for (flight, want) in cases {
            assert_eq!(verify(&flight), Err(want), "{flight:?}");
        }
    }

    #[test]
    fn malformed_key_exchanges_are_refused_without_panicking() {
        let cases: [&[u8]; 7] = [
            &[],
            &[1, 0, 0x1d],
            &[3, 0, 0x1d],
            &[3, 0, 0x1d, 4, 1, 2],
            &[3, 0, 0x1d, 1, 9, 4, 3],
            &[3, 0, 0x1d, 1, 9, 4, 3, 0, 2, 1],
            &[3, 0, 0x1d, 1, 9, 4, 3, 0, 1, 1, 2],
        ];
        for ske in cases {
            assert!(matches!(parse(ske), Err(Unproven::Malformed)), "{ske:?}");
        }
        assert!(parse(&[3, 0, 0x1d, 1, 9, 4, 3, 0, 1, 1]).is_ok());
    }

    #[test]
    fn schemes_by_key() {
        assert!(algorithm(KeyType::Rsa, 0x0401).is_some());
        assert!(algorithm(KeyType::Rsa, 0x0403).is_none());
        assert!(algorithm(KeyType::P256, 0x0401).is_none());
        assert!(algorithm(KeyType::P384, 0x0503).is_some());
        assert!(algorithm(KeyType::P256, 0x0603).is_none());
        assert_eq!(KeyType::of("1.3.101.112", None), None);
        assert_eq!(
            KeyType::of("1.2.840.10045.2.1", Some("1.3.132.0.35")),
            None,
            "P-521"
        );
    }
}
