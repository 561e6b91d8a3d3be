//! Does a certificate cover a name? RFC 6125 rules, the way CDNs and browsers apply them:
//! case-insensitive, a trailing dot ignored, a wildcard only as the whole left-most label and
//! matching exactly one label (`*.example.com` covers `a.example.com`, not `a.b.example.com`
//! nor `example.com`). IP addresses match only IP SAN entries.

use std::net::IpAddr;

/// The names a certificate presents: SAN dNSNames and IP addresses, and the subject CN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub common_name: Option<String>,
}

impl CertNames {
    /// Whether the certificate covers `name`. The CN counts only when the certificate has no
    /// dNSName SAN (RFC 6125 6.4.4); CloudFront documents that it accepts CN or SAN.
    pub fn covers(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ips.contains(&ip);
        }
        if !self.dns.is_empty() {
            return self.dns.iter().any(|p| dns_matches(p, name));
        }
        self.common_name
            .as_deref()
            .is_some_and(|cn| dns_matches(cn, name))
    }
}

/// Whether the reference pattern `pattern` (from a certificate) matches the host `name`.
pub fn dns_matches(pattern: &str, name: &str) -> bool {
    let pattern = normalize(pattern);
    let name = normalize(name);
    if pattern.is_empty() || name.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            // At least two labels after the wildcard: `*.com` must not cover every `x.com`.
            if !suffix.contains('.') || suffix.contains('*') {
                return false;
            }
            match name.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest.eq_ignore_ascii_case(suffix),
                None => false,
            }
        }
        // Partial wildcards (`f*.example.com`) are not issued by public CAs and not matched.
        None if pattern.contains('*') => false,
        None => pattern.eq_ignore_ascii_case(name),
    }
}

fn normalize(s: &str) -> &str {
    s.strip_suffix('.').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("example.com", "example.com", true),
            ("Example.COM", "example.com.", true),
            ("example.com", "www.example.com", false),
            ("*.example.com", "www.example.com", true),
            ("*.example.com", "WWW.Example.com", true),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", "example.com", false),
            ("*.example.com", ".example.com", false),
            ("*.com", "example.com", false),
            ("w*.example.com", "www.example.com", false),
            ("*.*.example.com", "a.b.example.com", false),
            ("www.*.com", "www.example.com", false),
            ("", "example.com", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(dns_matches(pattern, name), want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn cn_counts_only_without_dns_sans() {
        let cn_only = CertNames {
            common_name: Some("origin.example.com".into()),
            ..Default::default()
        };
        assert!(cn_only.covers("origin.example.com"));
        let with_san = CertNames {
            dns: vec!["other.example.com".into()],
            common_name: Some("origin.example.com".into()),
            ..Default::default()
        };
        assert!(!with_san.covers("origin.example.com"));
        assert!(with_san.covers("other.example.com"));
    }

    #[test]
    fn ip_names_match_ip_sans_only() {
        let names = CertNames {
            dns: vec!["127.0.0.1".into()],
            ips: vec!["192.0.2.1".parse().unwrap()],
            common_name: None,
        };
        assert!(names.covers("192.0.2.1"));
        assert!(!names.covers("127.0.0.1"));
    }

    /// A partial wildcard is no pattern at all: it does not even match its own text.
    #[test]
    fn a_partial_wildcard_matches_nothing() {
        assert!(!dns_matches("w*.example.com", "w*.example.com"));
        assert!(!dns_matches("www.*.com", "www.*.com"));
        assert!(dns_matches("www.example.com", "WWW.example.com"));
    }
}
