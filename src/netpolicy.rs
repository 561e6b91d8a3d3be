//! Where an ad-hoc probe (`/probe?target=`) may connect. The exporter must never become a proxy
//! into the network it runs in: only allowlisted domains and networks are probed, and the
//! link-local range (cloud metadata services live there) and the exporter's own listen address
//! are refused unless an allowlist entry names them specifically.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An IP network such as `192.0.2.0/24` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("must be an IP network like 192.0.2.0/24, got {s:?}"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("prefix must be 0-{max}, got {s:?}")),
            },
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            // An IPv4-mapped IPv6 address is the IPv4 address.
            (IpAddr::V4(_), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            _ => false,
        }
    }

    /// This network lies within `other` (names it or a part of it).
    fn within(&self, other: &Cidr) -> bool {
        self.prefix >= other.prefix && other.contains(self.network)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// Ranges refused to ad-hoc probes unless an allowlist entry lies within them.
const REFUSED: [(IpAddr, u8, &str); 5] = [
    (
        IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)),
        16,
        "link-local (cloud metadata)",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)),
        10,
        "link-local",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
        128,
        "cloud metadata",
    ),
    (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 8, "unspecified"),
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128, "unspecified"),
];

/// `global.adhoc_allowed_domains` and `global.adhoc_allowed_networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdhocPolicy {
    /// Exact names, or `*.example.com` for every name below example.com.
    pub domains: Vec<String>,
    /// Every address of an ad-hoc probe must lie in one; empty allows any address not refused.
    pub networks: Vec<Cidr>,
}

impl AdhocPolicy {
    pub fn allows_domain(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.domains
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => domain
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                None => *pattern == domain,
            })
    }

    /// Why the probe may not connect to `target`, if it may not. `own` is where the exporter
    /// listens (an unspecified address there means every local address, so loopback).
    pub fn refuse(&self, target: SocketAddr, own: SocketAddr) -> Option<String> {
        let ip = target.ip();
        let named = |range: Cidr| self.networks.iter().any(|n| n.within(&range));
        for (network, prefix, what) in REFUSED {
            let range = Cidr { network, prefix };
            if range.contains(ip) && !named(range) {
                return Some(format!(
                    "{ip} is {what}; list it in global.adhoc_allowed_networks to allow it"
                ));
            }
        }
        let own_ip = own.ip();
        let is_own = target.port() == own.port()
            && (ip == own_ip || (own_ip.is_unspecified() && ip.is_loopback()));
        let own_single = Cidr {
            network: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        };
        if is_own && !named(own_single) {
            return Some(format!("{target} is the exporter itself"));
        }
        if !self.networks.is_empty() && !self.networks.iter().any(|n| n.contains(ip)) {
            return Some(format!("{ip} is not in global.adhoc_allowed_networks"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domains: &[&str], networks: &[&str]) -> AdhocPolicy {
        AdhocPolicy {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            networks: networks.iter().map(|n| Cidr::parse(n).unwrap()).collect(),
        }
    }

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let n = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(n.contains("192.0.2.77".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.5".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/33").unwrap();
        assert!(v6.contains("2001:db8:7fff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:8000::1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.1").unwrap().prefix, 32);
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope/8").is_err());
    }

    #[test]
    fn domains_match_exactly_or_below_a_wildcard() {
        let p = policy(&["origin.example.net", "*.example.com"], &[]);
        assert!(p.allows_domain("origin.example.net"));
        assert!(p.allows_domain("a.example.com") && p.allows_domain("a.b.example.com"));
        assert!(!p.allows_domain("example.com"));
        assert!(!p.allows_domain("badexample.com"));
        assert!(!p.allows_domain("www.example.net"));
    }

    #[test]
    fn metadata_link_local_and_self_are_refused_unless_named() {
        let own = sock("0.0.0.0:19502");
        let open = policy(&["*.x"], &[]);
        assert!(open.refuse(sock("169.254.169.254:80"), own).is_some());
        assert!(open.refuse(sock("[fd00:ec2::254]:80"), own).is_some());
        assert!(open.refuse(sock("[fe80::1]:443"), own).is_some());
        assert!(open.refuse(sock("127.0.0.1:19502"), own).is_some());
        assert!(open.refuse(sock("127.0.0.1:443"), own).is_none());
        assert!(open.refuse(sock("192.0.2.1:443"), own).is_none());
        // A broad network does not name the metadata service...
        let broad = policy(&["*.x"], &["0.0.0.0/0"]);
        assert!(broad.refuse(sock("169.254.169.254:80"), own).is_some());
        // ...an explicit entry does.
        let named = policy(&["*.x"], &["169.254.169.254/32", "127.0.0.1/32"]);
        assert!(named.refuse(sock("169.254.169.254:80"), own).is_none());
        assert!(named.refuse(sock("127.0.0.1:19502"), own).is_none());
    }

    #[test]
    fn networks_restrict_every_address() {
        let p = policy(&["*.x"], &["192.0.2.0/24"]);
        let own = sock("127.0.0.1:19502");
        assert!(p.refuse(sock("192.0.2.9:443"), own).is_none());
        let why = p.refuse(sock("198.51.100.1:443"), own).unwrap();
        assert!(
            why.contains("not in global.adhoc_allowed_networks"),
            "{why}"
        );
    }
}
