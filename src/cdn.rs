//! What a CDN offers an origin when it connects: protocol versions, cipher suites, groups and
//! signature schemes. A profile is data; another CDN is another table, not new code.

use std::fmt;

/// A TLS (or SSL) protocol version, named the way CloudFront's `OriginSslProtocols` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    Ssl3,
    Tls1_0,
    Tls1_1,
    Tls1_2,
    Tls1_3,
}

impl TlsVersion {
    /// Every version, oldest first: the protocol matrix probes each of them.
    pub const ALL: [TlsVersion; 5] = [
        TlsVersion::Ssl3,
        TlsVersion::Tls1_0,
        TlsVersion::Tls1_1,
        TlsVersion::Tls1_2,
        TlsVersion::Tls1_3,
    ];

    /// The name used in config files and in the `version` label.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Ssl3 => "SSLv3",
            TlsVersion::Tls1_0 => "TLSv1",
            TlsVersion::Tls1_1 => "TLSv1.1",
            TlsVersion::Tls1_2 => "TLSv1.2",
            TlsVersion::Tls1_3 => "TLSv1.3",
        }
    }

    /// The version number on the wire (`ProtocolVersion`).
    pub fn wire(self) -> u16 {
        match self {
            TlsVersion::Ssl3 => 0x0300,
            TlsVersion::Tls1_0 => 0x0301,
            TlsVersion::Tls1_1 => 0x0302,
            TlsVersion::Tls1_2 => 0x0303,
            TlsVersion::Tls1_3 => 0x0304,
        }
    }

    pub fn from_wire(v: u16) -> Option<TlsVersion> {
        TlsVersion::ALL.into_iter().find(|t| t.wire() == v)
    }

    pub fn from_name(name: &str) -> Option<TlsVersion> {
        TlsVersion::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cipher suite the CDN offers: IANA id, OpenSSL name, and the oldest version it exists in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    pub id: u16,
    pub openssl_name: &'static str,
    /// TLS 1.2-only suites (SHA-256/384 MACs, GCM) must not be offered in an older hello.
    pub tls12_only: bool,
}

const fn suite(id: u16, openssl_name: &'static str, tls12_only: bool) -> CipherSuite {
    CipherSuite {
        id,
        openssl_name,
        tls12_only,
    }
}

/// Everything the CDN's client side puts in its ClientHello to an origin.
#[derive(Debug)]
pub struct CdnProfile {
    /// The `cdn` value in the config.
    pub name: &'static str,
    /// The versions a distribution may allow towards its origin (`ssl_protocols` values).
    pub origin_protocols: &'static [TlsVersion],
    /// Suites in the CDN's order of preference.
    pub cipher_suites: &'static [CipherSuite],
    /// Named groups (supported_groups extension).
    pub groups: &'static [u16],
    /// Signature schemes (signature_algorithms extension).
    pub signature_schemes: &'static [u16],
}

impl CdnProfile {
    /// The suites to offer in a hello of `version`.
    pub fn suites_for(&self, version: TlsVersion) -> impl Iterator<Item = &'static CipherSuite> {
        let modern = version >= TlsVersion::Tls1_2;
        self.cipher_suites
            .iter()
            .filter(move |s| modern || !s.tls12_only)
    }

    pub fn suite_by_id(&self, id: u16) -> Option<&'static CipherSuite> {
        self.cipher_suites.iter().find(|s| s.id == id)
    }
}

/// Source: AWS CloudFront developer guide, "Supported protocols and ciphers between CloudFront
/// and the origin" (see REFERENCE.md). No TLS 1.3, no CHACHA20, no DHE.
pub static CLOUDFRONT: CdnProfile = CdnProfile {
    name: "cloudfront",
    origin_protocols: &[
        TlsVersion::Ssl3,
        TlsVersion::Tls1_0,
        TlsVersion::Tls1_1,
        TlsVersion::Tls1_2,
    ],
    cipher_suites: &[
        suite(0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384", true),
        suite(0xC030, "ECDHE-RSA-AES256-GCM-SHA384", true),
        suite(0xC024, "ECDHE-ECDSA-AES256-SHA384", true),
        suite(0xC028, "ECDHE-RSA-AES256-SHA384", true),
        suite(0xC00A, "ECDHE-ECDSA-AES256-SHA", false),
        suite(0xC014, "ECDHE-RSA-AES256-SHA", false),
        suite(0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256", true),
        suite(0xC02F, "ECDHE-RSA-AES128-GCM-SHA256", true),
        suite(0xC023, "ECDHE-ECDSA-AES128-SHA256", true),
        suite(0xC027, "ECDHE-RSA-AES128-SHA256", true),
        suite(0xC009, "ECDHE-ECDSA-AES128-SHA", false),
        suite(0xC013, "ECDHE-RSA-AES128-SHA", false),
        suite(0x0035, "AES256-SHA", false),
        suite(0x002F, "AES128-SHA", false),
        suite(0x000A, "DES-CBC3-SHA", false),
        suite(0x0004, "RC4-MD5", false),
    ],
    // x25519, secp256r1, secp384r1
    groups: &[0x001d, 0x0017, 0x0018],
    // RSA PKCS#1 and ECDSA with SHA-256/384/512, then SHA-224 and SHA-1; no PSS, no EdDSA.
    signature_schemes: &[
        0x0401, 0x0403, 0x0501, 0x0503, 0x0601, 0x0603, 0x0301, 0x0303, 0x0201, 0x0203,
    ],
};

/// Suites other clients offer and the CDN does not: the protocol matrix offers them too, so
/// that "version supported" does not depend on the CDN's choice of ciphers, and a ChaCha20-only
/// or DHE-only origin shows as a cipher mismatch rather than as a protocol mismatch.
pub static OTHER_SUITES: &[CipherSuite] = &[
    suite(0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305", true),
    suite(0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305", true),
    suite(0xCCAA, "DHE-RSA-CHACHA20-POLY1305", true),
    suite(0x009F, "DHE-RSA-AES256-GCM-SHA384", true),
    suite(0x009E, "DHE-RSA-AES128-GCM-SHA256", true),
    suite(0x006B, "DHE-RSA-AES256-SHA256", true),
    suite(0x0067, "DHE-RSA-AES128-SHA256", true),
    suite(0x0039, "DHE-RSA-AES256-SHA", false),
    suite(0x0033, "DHE-RSA-AES128-SHA", false),
    suite(0x0016, "EDH-RSA-DES-CBC3-SHA", false),
    suite(0x009D, "AES256-GCM-SHA384", true),
    suite(0x009C, "AES128-GCM-SHA256", true),
    suite(0x003D, "AES256-SHA256", true),
    suite(0x003C, "AES128-SHA256", true),
    suite(0x0005, "RC4-SHA", false),
    // NULL (no encryption) and anonymous (no certificate) suites: an origin speaking only these
    // speaks the protocol, with no suite the CDN accepts.
    suite(0xC010, "ECDHE-RSA-NULL-SHA", false),
    suite(0xC006, "ECDHE-ECDSA-NULL-SHA", false),
    suite(0x003B, "NULL-SHA256", true),
    suite(0x0002, "NULL-SHA", false),
    suite(0x0001, "NULL-MD5", false),
    suite(0xC018, "AECDH-AES128-SHA", false),
    suite(0xC019, "AECDH-AES256-SHA", false),
    suite(0x00A6, "ADH-AES128-GCM-SHA256", true),
    suite(0x00A7, "ADH-AES256-GCM-SHA384", true),
    suite(0x0034, "ADH-AES128-SHA", false),
    suite(0x003A, "ADH-AES256-SHA", false),
];

/// TLS 1.3 suites, named by IANA (OpenSSL uses the same names for them).
pub static TLS13_SUITES: &[CipherSuite] = &[
    suite(0x1301, "TLS_AES_128_GCM_SHA256", true),
    suite(0x1302, "TLS_AES_256_GCM_SHA384", true),
    suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", true),
];

/// The name of a suite for the `cipher` label: OpenSSL's, IANA's for TLS 1.3, else the id in
/// hex (still a bounded set of values).
pub fn suite_name(profile: &CdnProfile, id: u16) -> String {
    profile
        .cipher_suites
        .iter()
        .chain(OTHER_SUITES)
        .chain(TLS13_SUITES)
        .find(|s| s.id == id)
        .map_or_else(|| format!("0x{id:04X}"), |s| s.openssl_name.to_string())
}

/// Every profile this build knows, by config name.
pub static PROFILES: &[&CdnProfile] = &[&CLOUDFRONT];

pub fn profile(name: &str) -> Option<&'static CdnProfile> {
    PROFILES.iter().copied().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_offers_sixteen_suites_and_no_tls13() {
        assert_eq!(CLOUDFRONT.cipher_suites.len(), 16);
        assert!(!CLOUDFRONT.origin_protocols.contains(&TlsVersion::Tls1_3));
    }

    #[test]
    fn old_hellos_carry_only_suites_that_exist_there() {
        let old: Vec<_> = CLOUDFRONT
            .suites_for(TlsVersion::Tls1_0)
            .map(|s| s.openssl_name)
            .collect();
        assert!(old.contains(&"AES128-SHA"));
        assert!(!old
            .iter()
            .any(|n| n.contains("GCM") || n.ends_with("SHA256")));
        assert_eq!(CLOUDFRONT.suites_for(TlsVersion::Tls1_2).count(), 16);
    }

    #[test]
    fn suites_are_named_the_openssl_way() {
        assert_eq!(suite_name(&CLOUDFRONT, 0x002F), "AES128-SHA");
        assert_eq!(
            suite_name(&CLOUDFRONT, 0xCCA8),
            "ECDHE-RSA-CHACHA20-POLY1305"
        );
        assert_eq!(suite_name(&CLOUDFRONT, 0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(suite_name(&CLOUDFRONT, 0xABCD), "0xABCD");
        // The other tables never repeat a suite the CDN offers.
        for s in OTHER_SUITES.iter().chain(TLS13_SUITES) {
            assert!(CLOUDFRONT.suite_by_id(s.id).is_none(), "{}", s.openssl_name);
        }
    }

    #[test]
    fn version_names_round_trip() {
        for v in TlsVersion::ALL {
            assert_eq!(TlsVersion::from_name(v.name()), Some(v));
            assert_eq!(TlsVersion::from_wire(v.wire()), Some(v));
        }
    }
}
