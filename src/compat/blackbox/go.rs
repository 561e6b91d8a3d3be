//! How Go's standard library, which blackbox_exporter reports through, names and judges what a
//! probe saw: TLS versions and cipher suites (`crypto/tls`), host names in certificates
//! (`crypto/x509`), and the hash blackbox makes of an address. Pure tables and functions.

use std::net::IpAddr;

use crate::cdn::{self, TlsVersion};

/// `probe_tls_version_info{version}`: blackbox's `getTLSVersion`. Go has no SSL 3.0 client:
/// blackbox names any other version `unknown`.
pub fn tls_version(version: TlsVersion) -> &'static str {
    match version {
        TlsVersion::Tls1_0 => "TLS 1.0",
        TlsVersion::Tls1_1 => "TLS 1.1",
        TlsVersion::Tls1_2 => "TLS 1.2",
        TlsVersion::Tls1_3 => "TLS 1.3",
        TlsVersion::Ssl3 => "unknown",
    }
}

/// Go's names of the suites it knows (`tls.CipherSuites()` and `tls.InsecureCipherSuites()`),
/// by IANA id.
const GO_SUITES: &[(u16, &str)] = &[
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
];

/// `probe_tls_cipher_info{cipher}`: Go's `tls.CipherSuiteName` of the suite OpenSSL names
/// `openssl_name`: Go's name, or `0xNNNN` for a suite Go does not know (CloudFront's
/// `ECDHE-RSA-AES256-SHA384`, `RC4-MD5`); `None` for a name the exporter has no id for.
pub fn cipher_name(openssl_name: &str) -> Option<String> {
    let id = cdn::PROFILES
        .iter()
        .flat_map(|p| p.cipher_suites.iter())
        .chain(cdn::OTHER_SUITES)
        .chain(cdn::TLS13_SUITES)
        .find(|s| s.openssl_name == openssl_name)?
        .id;
    Some(
        GO_SUITES
            .iter()
            .find(|(known, _)| *known == id)
            .map_or_else(|| format!("0x{id:04X}"), |(_, name)| name.to_string()),
    )
}

/// `probe_ip_addr_hash`: FNV-1a (32 bits) of the address's bytes, 4 for IPv4, 16 for IPv6.
pub fn ip_hash(ip: IpAddr) -> u32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    };
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Whether Go's `VerifyHostname` accepts `host` for a certificate with these SAN dNSNames:
/// Go reads no common name, matches case-insensitively without a trailing dot, and lets a
/// wildcard stand for the whole left-most label only. (An IP address is matched against IP
/// SANs by the caller.)
pub fn covers(dns_names: &[String], host: &str) -> bool {
    dns_names
        .iter()
        .any(|pattern| crate::analysis::dns_matches(pattern, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloudfront_suite_has_gos_name_or_its_id() {
        let names: Vec<String> = cdn::CLOUDFRONT
            .cipher_suites
            .iter()
            .map(|s| cipher_name(s.openssl_name).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "0xC024",
                "0xC028",
                "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                "TLS_RSA_WITH_AES_256_CBC_SHA",
                "TLS_RSA_WITH_AES_128_CBC_SHA",
                "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                "0x0004",
            ]
        );
        assert_eq!(
            cipher_name("TLS_AES_128_GCM_SHA256").as_deref(),
            Some("TLS_AES_128_GCM_SHA256")
        );
        assert_eq!(cipher_name("NOT-A-SUITE"), None);
    }

    #[test]
    fn versions_are_named_as_blackbox_names_them() {
        let names: Vec<&str> = TlsVersion::ALL.into_iter().map(tls_version).collect();
        assert_eq!(
            names,
            ["unknown", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
        );
    }

    /// Values computed with Go's `hash/fnv` as blackbox's `ipHash` does.
    #[test]
    fn the_address_hash_is_fnv1a_of_its_bytes() {
        let cases = [
            ("127.0.0.1", 3_668_918_509_u32),
            ("192.0.2.1", 1_969_986_452),
            ("::1", 1_751_717_746),
            ("::ffff:127.0.0.1", 3_668_918_509),
        ];
        for (ip, want) in cases {
            assert_eq!(ip_hash(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn names_match_sans_only() {
        let sans = vec!["*.example.com".to_string(), "example.org".to_string()];
        assert!(covers(&sans, "www.example.com"));
        assert!(covers(&sans, "EXAMPLE.org."));
        assert!(!covers(&sans, "example.com"));
        assert!(!covers(&[], "example.com"));
    }
}
