//! Hand-built ClientHellos: the one the CDN sends, and one per protocol version for the matrix.
//! rustls cannot send them (no TLS 1.0/1.1, no RSA key exchange, no CBC), so they are written
//! byte by byte, as scanners do (REFERENCE.md "Seeing the origin as the CDN sees it").

use crate::cdn::{CdnProfile, TlsVersion, OTHER_SUITES, TLS13_SUITES};

/// Signaling suite for secure renegotiation (RFC 5746), sent instead of the extension.
const SCSV_RENEGOTIATION: u16 = 0x00FF;

/// Signature schemes of the TLS 1.2/1.3 matrix probes: the CDN's plus RSA-PSS and EdDSA, which
/// TLS 1.3 servers with RSA keys need.
const MATRIX_SIGNATURE_SCHEMES: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301,
    0x0203, 0x0201,
];

/// Everything that varies between hellos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloSpec {
    /// Highest version offered in `client_version` (TLS 1.2 at most; 1.3 goes in an extension).
    pub max_version: TlsVersion,
    /// Offer TLS 1.3 only, through supported_versions, with an X25519 key_share.
    pub tls13: bool,
    pub suites: Vec<u16>,
    pub groups: Vec<u16>,
    pub signature_schemes: Vec<u16>,
}

impl HelloSpec {
    /// The CDN's own hello for an origin allowing `versions`: the highest one in
    /// `client_version`, the profile's suites that exist in that version.
    pub fn cdn_view(profile: &CdnProfile, versions: &[TlsVersion]) -> HelloSpec {
        let max = versions
            .iter()
            .copied()
            .filter(|v| *v <= TlsVersion::Tls1_2)
            .max()
            .unwrap_or(TlsVersion::Tls1_2);
        HelloSpec {
            max_version: max,
            tls13: false,
            suites: profile.suites_for(max).map(|s| s.id).collect(),
            groups: profile.groups.to_vec(),
            signature_schemes: profile.signature_schemes.to_vec(),
        }
    }

    /// A hello that offers exactly `version`, with every suite any client might offer for it:
    /// "supported" then means the protocol, whatever the ciphers.
    pub fn matrix(profile: &CdnProfile, version: TlsVersion) -> HelloSpec {
        let modern = version >= TlsVersion::Tls1_2;
        let suites = if version == TlsVersion::Tls1_3 {
            TLS13_SUITES.iter().map(|s| s.id).collect()
        } else {
            profile
                .cipher_suites
                .iter()
                .chain(OTHER_SUITES)
                .filter(|s| modern || !s.tls12_only)
                .map(|s| s.id)
                .collect()
        };
        HelloSpec {
            max_version: version.min(TlsVersion::Tls1_2),
            tls13: version == TlsVersion::Tls1_3,
            suites,
            groups: profile.groups.to_vec(),
            signature_schemes: MATRIX_SIGNATURE_SCHEMES.to_vec(),
        }
    }
}

/// The TLS record carrying the ClientHello. `sni` is left out when it is an IP address
/// (RFC 6066) or not a sendable name.
pub fn client_hello(spec: &HelloSpec, sni: &str, random: &[u8; 32]) -> Vec<u8> {
    let mut body = Vec::with_capacity(512);
    put_u16(&mut body, spec.max_version.wire());
    body.extend_from_slice(random);
    body.push(0); // no session id: nothing to resume
    put_u16(&mut body, ((spec.suites.len() + 1) * 2) as u16);
    for &s in &spec.suites {
        put_u16(&mut body, s);
    }
    put_u16(&mut body, SCSV_RENEGOTIATION);
    body.extend_from_slice(&[1, 0]); // compression: null only

    // SSLv3 hellos carry no extensions, like the SSLv3 clients servers expect.
    if spec.max_version > TlsVersion::Ssl3 {
        let ext = extensions(spec, sni);
        put_u16(&mut body, ext.len() as u16);
        body.extend_from_slice(&ext);
    }

    let mut handshake = Vec::with_capacity(body.len() + 4);
    handshake.push(1); // client_hello
    put_u24(&mut handshake, body.len());
    handshake.extend_from_slice(&body);

    let mut record = Vec::with_capacity(handshake.len() + 5);
    record.push(22); // handshake
                     // Record version: TLS 1.0 for every TLS hello (what OpenSSL sends), 3.0 for SSLv3.
    let record_version = spec.max_version.min(TlsVersion::Tls1_0).wire();
    put_u16(&mut record, record_version);
    put_u16(&mut record, handshake.len() as u16);
    record.extend_from_slice(&handshake);
    record
}

fn extensions(spec: &HelloSpec, sni: &str) -> Vec<u8> {
    let mut ext = Vec::with_capacity(256);
    if sendable_sni(sni) {
        let name = sni.trim_end_matches('.').as_bytes();
        let mut list = Vec::with_capacity(name.len() + 3);
        list.push(0); // host_name
        put_u16(&mut list, name.len() as u16);
        list.extend_from_slice(name);
        let mut data = Vec::with_capacity(list.len() + 2);
        put_u16(&mut data, list.len() as u16);
        data.extend_from_slice(&list);
        put_ext(&mut ext, 0x0000, &data);
    }
    put_ext(&mut ext, 0x000a, &u16_list(&spec.groups));
    put_ext(&mut ext, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
    if spec.max_version >= TlsVersion::Tls1_2 {
        put_ext(&mut ext, 0x000d, &u16_list(&spec.signature_schemes));
    }
    if spec.tls13 {
        put_ext(&mut ext, 0x002b, &[2, 0x03, 0x04]); // supported_versions: TLS 1.3 only
        put_ext(&mut ext, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
        put_ext(&mut ext, 0x0033, &key_share());
    }
    ext
}

/// A key_share with a real X25519 public key: the server goes on to choose its certificate (and
/// may refuse the SNI) instead of answering a HelloRetryRequest to an empty share, which any
/// TLS 1.3 server would. The private key is dropped: the handshake is never finished.
fn key_share() -> Vec<u8> {
    use ring::agreement::{EphemeralPrivateKey, X25519};
    let rng = ring::rand::SystemRandom::new();
    let public = EphemeralPrivateKey::generate(&X25519, &rng)
        .and_then(|k| k.compute_public_key())
        .map(|p| p.as_ref().to_vec())
        // Without randomness, a fixed point still makes a well-formed share.
        .unwrap_or_else(|_| vec![9; 32]);
    let mut entry = Vec::with_capacity(36);
    put_u16(&mut entry, 0x001d);
    put_u16(&mut entry, public.len() as u16);
    entry.extend_from_slice(&public);
    let mut data = Vec::with_capacity(entry.len() + 2);
    put_u16(&mut data, entry.len() as u16);
    data.extend_from_slice(&entry);
    data
}

/// A DNS name that fits the extension; IP literals are never sent as SNI.
pub(crate) fn sendable_sni(sni: &str) -> bool {
    !sni.is_empty() && sni.len() <= 253 && sni.parse::<std::net::IpAddr>().is_err()
}

fn u16_list(items: &[u16]) -> Vec<u8> {
    let mut v = Vec::with_capacity(items.len() * 2 + 2);
    put_u16(&mut v, (items.len() * 2) as u16);
    for &i in items {
        put_u16(&mut v, i);
    }
    v
}

fn put_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, kind);
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use tls_parser::{
        parse_tls_extensions, parse_tls_plaintext, TlsExtension, TlsMessage, TlsMessageHandshake,
    };

    use super::*;
    use crate::cdn::CLOUDFRONT;

    /// Parses our hello back with tls-parser: what an origin would see.
    fn parsed(bytes: &[u8]) -> (u16, Vec<u16>, Vec<TlsExtension<'_>>) {
        let (rest, record) = parse_tls_plaintext(bytes).expect("a TLS record");
        assert!(rest.is_empty());
        let Some(TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch))) = record.msg.first()
        else {
            panic!("not a ClientHello: {:?}", record.msg);
        };
        let suites = ch.ciphers.iter().map(|c| c.0).collect();
        let ext = ch
            .ext
            .map(|e| parse_tls_extensions(e).expect("extensions").1)
            .unwrap_or_default();
        (ch.version.0, suites, ext)
    }

    #[test]
    fn cdn_view_hello_offers_the_profile_and_the_sni() {
        let spec = HelloSpec::cdn_view(&CLOUDFRONT, &[TlsVersion::Tls1_0, TlsVersion::Tls1_2]);
        let bytes = client_hello(&spec, "www.shop.example.com", &[7; 32]);
        assert_eq!(&bytes[..3], &[22, 3, 1]);
        let (version, suites, ext) = parsed(&bytes);
        assert_eq!(version, 0x0303);
        assert_eq!(suites.len(), 17);
        assert_eq!(suites[16], 0x00FF);
        assert!(suites.contains(&0x002F) && !suites.contains(&0xCCA8));
        assert!(ext.iter().any(|e| matches!(e, TlsExtension::SNI(names)
            if names[0].1 == b"www.shop.example.com")));
        assert!(ext
            .iter()
            .any(|e| matches!(e, TlsExtension::EllipticCurves(g) if g.len() == 3)));
        assert!(ext
            .iter()
            .any(|e| matches!(e, TlsExtension::SignatureAlgorithms(_))));
        assert!(!ext
            .iter()
            .any(|e| matches!(e, TlsExtension::SupportedVersions(_))));
    }

    #[test]
    fn old_versions_get_old_suites_and_no_signature_algorithms() {
        let spec = HelloSpec::cdn_view(&CLOUDFRONT, &[TlsVersion::Tls1_0]);
        let bytes = client_hello(&spec, "a.example", &[0; 32]);
        let (version, suites, ext) = parsed(&bytes);
        assert_eq!(version, 0x0301);
        assert!(!suites.contains(&0xC02F), "GCM does not exist in TLS 1.0");
        assert!(!ext
            .iter()
            .any(|e| matches!(e, TlsExtension::SignatureAlgorithms(_))));
    }

    #[test]
    fn tls13_probe_has_supported_versions_and_an_x25519_key_share() {
        let spec = HelloSpec::matrix(&CLOUDFRONT, TlsVersion::Tls1_3);
        let bytes = client_hello(&spec, "a.example", &[0; 32]);
        let (version, suites, ext) = parsed(&bytes);
        assert_eq!(version, 0x0303);
        assert_eq!(suites, vec![0x1301, 0x1302, 0x1303, 0x00FF]);
        assert!(ext
            .iter()
            .any(|e| matches!(e, TlsExtension::SupportedVersions(v)
            if v.len() == 1 && v[0].0 == 0x0304)));
        assert!(ext.iter().any(|e| matches!(e, TlsExtension::KeyShare(k)
            if k.len() == 38 && k[..6] == [0, 36, 0, 0x1d, 0, 32])));
    }

    #[test]
    fn matrix_offers_more_than_the_cdn() {
        let spec = HelloSpec::matrix(&CLOUDFRONT, TlsVersion::Tls1_2);
        assert!(spec.suites.contains(&0xCCA8) && spec.suites.contains(&0x009E));
        let ssl3 = client_hello(
            &HelloSpec::matrix(&CLOUDFRONT, TlsVersion::Ssl3),
            "x.y",
            &[0; 32],
        );
        assert_eq!(&ssl3[..3], &[22, 3, 0]);
        let (version, _, ext) = parsed(&ssl3);
        assert_eq!(version, 0x0300);
        assert!(ext.is_empty());
    }

    #[test]
    fn ip_literals_are_not_sent_as_sni() {
        let spec = HelloSpec::cdn_view(&CLOUDFRONT, &[TlsVersion::Tls1_2]);
        let bytes = client_hello(&spec, "192.0.2.1", &[0; 32]);
        let (_, _, ext) = parsed(&bytes);
        assert!(!ext.iter().any(|e| matches!(e, TlsExtension::SNI(_))));
    }
}
