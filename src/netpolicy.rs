//! Where an ad-hoc probe (`/probe?target=`) and an AIA fetch may connect. The exporter must never
//! become a proxy into the network it runs in: an ad-hoc probe goes to allowlisted domains only,
//! and both an ad-hoc probe and an AIA fetch (a URL taken from a certificate the origin serves)
//! are refused every address that is not public ([`NON_PUBLIC`]: loopback, private, CGNAT,
//! link-local, multicast, unspecified, cloud metadata, ...) unless their allowlist
//! (`global.adhoc_allowed_networks`, `global.aia_allowed_networks`) admits it; an ad-hoc probe is
//! also refused the exporter's own listen address. [`Reach`] is the rule one connection is
//! checked against, by the dialer (`checks::dial`), right before it connects.

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
    pub fn within(&self, other: &Cidr) -> bool {
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

/// `global.adhoc_allowed_domains` and `global.adhoc_allowed_networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdhocPolicy {
    /// Exact names, or `*.example.com` for every name below example.com.
    pub domains: Vec<String>,
    /// Every address of an ad-hoc probe must lie in one; empty allows any public address. An
    /// entry admits a non-public address ([`NON_PUBLIC`]) only when it contains the address and
    /// lies within its range.
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
    /// listens (an unspecified address there means every local address, so loopback); it is
    /// refused unless an entry names that very address.
    pub fn refuse(&self, target: SocketAddr, own: Option<SocketAddr>) -> Option<String> {
        let ip = unmapped(target.ip());
        if let Some(why) = self.refuse_address(ip) {
            return Some(why);
        }
        let own = own?;
        let own_ip = unmapped(own.ip());
        let is_own = target.port() == own.port()
            && (ip == own_ip || (own_ip.is_unspecified() && ip.is_loopback()));
        let single = Cidr {
            network: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        };
        let named = self.networks.iter().any(|n| n.within(&single));
        (is_own && !named).then(|| format!("{target} is the exporter itself"))
    }

    /// Why an ad-hoc probe may not make the exporter connect to `ip`, whatever the port: a
    /// non-public address not admitted by `global.adhoc_allowed_networks`, or one outside its
    /// entries when it has any.
    pub fn refuse_address(&self, ip: IpAddr) -> Option<String> {
        let ip = unmapped(ip);
        non_public_refusal(ip, &self.networks, "global.adhoc_allowed_networks").or_else(|| {
            (!self.networks.is_empty() && !self.networks.iter().any(|n| n.contains(ip)))
                .then(|| format!("{ip} is not in global.adhoc_allowed_networks"))
        })
    }
}

/// Ranges an ad-hoc probe or an AIA fetch never connects to unless its allowlist
/// (`global.adhoc_allowed_networks`, `global.aia_allowed_networks`) admits them, most specific
/// first (the metadata addresses lie within link-local and ULA, broadcast within the reserved
/// range).
pub const NON_PUBLIC: [(IpAddr, u8, &str); 19] = [
    (
        IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
        32,
        "cloud metadata",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
        128,
        "cloud metadata",
    ),
    (IpAddr::V4(Ipv4Addr::BROADCAST), 32, "broadcast"),
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128, "unspecified"),
    (IpAddr::V6(Ipv6Addr::LOCALHOST), 128, "loopback"),
    (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 8, "unspecified"),
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8, "loopback"),
    (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
        8,
        "private (RFC 1918)",
    ),
    (
        IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)),
        12,
        "private (RFC 1918)",
    ),
    (
        IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)),
        16,
        "private (RFC 1918)",
    ),
    (
        IpAddr::V4(Ipv4Addr::new(100, 64, 0, 0)),
        10,
        "shared address space (CGNAT)",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)),
        7,
        "private (unique local)",
    ),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16, "link-local"),
    (
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)),
        10,
        "link-local",
    ),
    (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 0)), 4, "multicast"),
    (
        IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0)),
        8,
        "multicast",
    ),
    (IpAddr::V4(Ipv4Addr::new(240, 0, 0, 0)), 4, "reserved"),
    // IPv4-compatible and NAT64 forms are not unwrapped: refuse them unless named.
    (
        IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0)),
        96,
        "an IPv4-compatible address",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)),
        96,
        "a NAT64 address",
    ),
];

/// An IPv4-mapped IPv6 address is its IPv4 address.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why `ip` is refused when it lies in a [`NON_PUBLIC`] range: unless an entry of `allowed`
/// (the list named `key`) contains it and lies within that range, so `127.0.0.0/8` admits
/// loopback but `0.0.0.0/0` admits none of them, and the metadata address needs an entry of its
/// own. Pure.
fn non_public_refusal(ip: IpAddr, allowed: &[Cidr], key: &str) -> Option<String> {
    let (range, what) = NON_PUBLIC
        .into_iter()
        .map(|(network, prefix, what)| (Cidr { network, prefix }, what))
        .find(|(range, _)| range.contains(ip))?;
    let admitted = allowed.iter().any(|n| n.within(&range) && n.contains(ip));
    (!admitted).then(|| format!("{ip} is {what}; list it in {key} to allow it"))
}

/// Why an AIA fetch may not connect to `ip`, if it may not. `allowed` is
/// `global.aia_allowed_networks`: an address in a [`NON_PUBLIC`] range (loopback, private,
/// CGNAT, link-local, unspecified, multicast, broadcast, reserved, cloud metadata) is fetched
/// only from an entry that contains it and lies within that range. `adhoc` is the ad-hoc policy
/// when the certificate came from a `/probe?target=` origin: the address must pass it too. An
/// IPv4-mapped IPv6 address is its IPv4 address. Pure.
pub fn aia_refusal(ip: IpAddr, allowed: &[Cidr], adhoc: Option<&AdhocPolicy>) -> Option<String> {
    let ip = unmapped(ip);
    non_public_refusal(ip, allowed, "global.aia_allowed_networks").or_else(|| {
        adhoc
            .and_then(|policy| policy.refuse_address(ip))
            .map(|why| format!("ad-hoc target: {why}"))
    })
}

/// Where one outbound connection of a probe may go: what the dialer (`checks::dial`) checks the
/// concrete address against right before it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A configured or discovered origin: the operator chose where it points.
    Configured,
    /// A `/probe?target=` origin: `global.adhoc_allowed_networks` with the non-public ranges it
    /// refuses, and the exporter's own listen address (`own`).
    Adhoc {
        policy: AdhocPolicy,
        own: Option<SocketAddr>,
    },
    /// An AIA fetch: public addresses unless `global.aia_allowed_networks` admits others, and
    /// for the certificate of an ad-hoc origin the ad-hoc policy too.
    Aia {
        allowed: Vec<Cidr>,
        adhoc: Option<AdhocPolicy>,
    },
}

impl Reach {
    /// Why a connection to `addr` is refused, if it is. Pure.
    pub fn refusal(&self, addr: SocketAddr) -> Option<String> {
        match self {
            Reach::Configured => None,
            Reach::Adhoc { policy, own } => policy.refuse(addr, *own),
            Reach::Aia { allowed, adhoc } => aia_refusal(addr.ip(), allowed, adhoc.as_ref()),
        }
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
        let own = Some(sock("0.0.0.0:19502"));
        let open = policy(&["*.x"], &[]);
        assert!(open.refuse(sock("169.254.169.254:80"), own).is_some());
        assert!(open.refuse(sock("[fd00:ec2::254]:80"), own).is_some());
        assert!(open.refuse(sock("[fe80::1]:443"), own).is_some());
        assert!(open.refuse(sock("127.0.0.1:19502"), own).is_some());
        assert!(open.refuse(sock("192.0.2.1:443"), own).is_none());
        // A broad network does not name the metadata service...
        let broad = policy(&["*.x"], &["0.0.0.0/0"]);
        assert!(broad.refuse(sock("169.254.169.254:80"), own).is_some());
        // ...an explicit entry does.
        let named = policy(&["*.x"], &["169.254.169.254/32", "127.0.0.1/32"]);
        assert!(named.refuse(sock("169.254.169.254:80"), own).is_none());
        assert!(named.refuse(sock("127.0.0.1:19502"), own).is_none());
        // Loopback admitted as a range: the exporter itself still needs an entry of its own.
        let lab = policy(&["*.x"], &["127.0.0.0/8"]);
        assert!(lab.refuse(sock("127.0.0.1:443"), own).is_none());
        let why = lab.refuse(sock("127.0.0.1:19502"), own).expect("refused");
        assert!(why.contains("is the exporter itself"), "{why}");
        assert!(lab.refuse(sock("[::ffff:127.0.0.1]:19502"), own).is_some());
        assert!(lab.refuse(sock("127.0.0.1:19502"), None).is_none());
    }

    /// The ad-hoc default refuses what the AIA default refuses: every address that is not
    /// public, unless `adhoc_allowed_networks` admits it.
    #[test]
    fn adhoc_probes_refuse_every_non_public_address_by_default() {
        let open = policy(&["*.x"], &[]);
        let table = [
            ("127.0.0.1", Some("loopback")),
            ("[::1]", Some("loopback")),
            ("[::ffff:127.0.0.1]", Some("loopback")),
            ("10.1.2.3", Some("private (RFC 1918)")),
            ("172.16.0.1", Some("private (RFC 1918)")),
            ("192.168.1.1", Some("private (RFC 1918)")),
            ("100.64.0.1", Some("shared address space (CGNAT)")),
            ("[fd12::1]", Some("private (unique local)")),
            ("169.254.169.254", Some("cloud metadata")),
            ("[fd00:ec2::254]", Some("cloud metadata")),
            ("169.254.1.1", Some("link-local")),
            ("[fe80::1]", Some("link-local")),
            ("0.0.0.0", Some("unspecified")),
            ("[::]", Some("unspecified")),
            ("224.0.0.1", Some("multicast")),
            ("[ff02::1]", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("[64:ff9b::a00:1]", Some("a NAT64 address")),
            ("192.0.2.1", None),
            ("[2001:db8::1]", None),
            ("[::ffff:192.0.2.1]", None),
        ];
        for (ip, want) in table {
            let got = open.refuse(sock(&format!("{ip}:443")), None);
            match want {
                None => assert_eq!(got, None, "{ip}"),
                Some(what) => {
                    let why = got.unwrap_or_else(|| panic!("{ip} allowed"));
                    assert!(why.contains(&format!(" is {what};")), "{ip}: {why}");
                    assert!(why.contains("global.adhoc_allowed_networks"), "{why}");
                }
            }
        }
        // Admitted as the AIA list admits: an entry within the range that contains the address.
        let lab = policy(&["*.x"], &["127.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0"]);
        assert!(lab.refuse(sock("127.0.0.2:443"), None).is_none());
        assert!(lab.refuse(sock("10.1.2.3:443"), None).is_none());
        assert!(lab.refuse(sock("10.2.0.1:443"), None).is_some());
        assert!(lab.refuse(sock("192.168.0.1:443"), None).is_some());
        assert!(lab.refuse(sock("192.0.2.1:443"), None).is_none());
    }

    #[test]
    fn networks_restrict_every_address() {
        let p = policy(&["*.x"], &["192.0.2.0/24"]);
        let own = Some(sock("127.0.0.1:19502"));
        assert!(p.refuse(sock("192.0.2.9:443"), own).is_none());
        let why = p.refuse(sock("198.51.100.1:443"), own).unwrap();
        assert!(
            why.contains("not in global.adhoc_allowed_networks"),
            "{why}"
        );
    }

    /// The rule each kind of connection is checked against by the dialer.
    #[test]
    fn each_reach_applies_its_own_policy() {
        let configured = Reach::Configured;
        let adhoc = Reach::Adhoc {
            policy: policy(&["*.x"], &[]),
            own: Some(sock("0.0.0.0:9502")),
        };
        let aia = Reach::Aia {
            allowed: nets(&["127.0.0.0/8"]),
            adhoc: None,
        };
        let aia_adhoc = Reach::Aia {
            allowed: nets(&["127.0.0.0/8"]),
            adhoc: Some(policy(&["*.x"], &["198.51.100.0/24"])),
        };
        let table: [(&str, [bool; 4]); 5] = [
            // address: allowed by configured, adhoc, aia, aia for an ad-hoc origin
            ("127.0.0.1:443", [true, false, true, false]),
            ("169.254.169.254:80", [true, false, false, false]),
            ("192.0.2.1:443", [true, true, true, false]),
            ("198.51.100.7:80", [true, true, true, true]),
            ("10.0.0.1:80", [true, false, false, false]),
        ];
        for (addr, want) in table {
            let got =
                [&configured, &adhoc, &aia, &aia_adhoc].map(|r| r.refusal(sock(addr)).is_none());
            assert_eq!(got, want, "{addr}");
        }
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|n| Cidr::parse(n).unwrap()).collect()
    }

    #[test]
    fn aia_fetches_refuse_every_non_public_address_by_default() {
        let table = [
            ("127.0.0.1", Some("loopback")),
            ("127.8.9.10", Some("loopback")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("10.1.2.3", Some("private (RFC 1918)")),
            ("172.16.0.1", Some("private (RFC 1918)")),
            ("172.31.255.254", Some("private (RFC 1918)")),
            ("192.168.1.1", Some("private (RFC 1918)")),
            ("::ffff:192.168.1.1", Some("private (RFC 1918)")),
            ("100.64.0.1", Some("shared address space (CGNAT)")),
            ("100.127.255.254", Some("shared address space (CGNAT)")),
            ("fc00::1", Some("private (unique local)")),
            ("fdff::1", Some("private (unique local)")),
            ("169.254.169.254", Some("cloud metadata")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("169.254.1.1", Some("link-local")),
            ("fe80::1", Some("link-local")),
            ("0.0.0.0", Some("unspecified")),
            ("::", Some("unspecified")),
            ("224.0.0.1", Some("multicast")),
            ("ff02::1", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("::7f00:1", Some("an IPv4-compatible address")),
            ("64:ff9b::a00:1", Some("a NAT64 address")),
            // Public addresses, including the edges of the refused ranges.
            ("192.0.2.1", None),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("100.128.0.1", None),
            ("100.63.255.255", None),
            ("11.0.0.1", None),
            ("2001:db8::1", None),
            ("::ffff:192.0.2.1", None),
        ];
        for (ip, want) in table {
            let got = aia_refusal(ip.parse().unwrap(), &[], None);
            match want {
                None => assert_eq!(got, None, "{ip}"),
                Some(what) => {
                    let why = got.unwrap_or_else(|| panic!("{ip} allowed"));
                    assert!(why.contains(&format!(" is {what};")), "{ip}: {why}");
                    assert!(why.contains("global.aia_allowed_networks"), "{why}");
                }
            }
        }
    }

    #[test]
    fn aia_allowed_networks_admit_what_they_name_and_no_more() {
        let allowed = nets(&["127.0.0.0/8", "10.1.0.0/16", "::1", "0.0.0.0/0", "::/0"]);
        let ok = |ip: &str| aia_refusal(ip.parse().unwrap(), &allowed, None).is_none();
        assert!(ok("127.0.0.1") && ok("127.0.0.2") && ok("::1") && ok("::ffff:127.0.0.1"));
        assert!(ok("10.1.2.3"));
        assert!(ok("192.0.2.1"));
        // Outside the named part of a range, and ranges only a broad entry covers.
        for ip in [
            "10.2.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "fd00:ec2::254",
            "fe80::1",
        ] {
            assert!(!ok(ip), "{ip} admitted by a broad entry");
        }
        // The link-local range does not name the metadata address within it; an entry does.
        let link_local = nets(&["169.254.0.0/16"]);
        assert!(aia_refusal("169.254.1.1".parse().unwrap(), &link_local, None).is_none());
        assert!(aia_refusal("169.254.169.254".parse().unwrap(), &link_local, None).is_some());
        let metadata = nets(&["169.254.169.254/32"]);
        assert!(aia_refusal("169.254.169.254".parse().unwrap(), &metadata, None).is_none());
    }

    #[test]
    fn aia_fetches_for_ad_hoc_targets_also_pass_the_ad_hoc_networks() {
        let allowed = nets(&["127.0.0.0/8"]);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        // No ad-hoc networks: the public addresses; loopback, admitted for AIA, is refused by
        // the ad-hoc default.
        let open = policy(&["*.x"], &[]);
        let why = aia_refusal(ip("127.0.0.1"), &allowed, Some(&open)).unwrap();
        assert!(
            why.contains("ad-hoc target: 127.0.0.1 is loopback"),
            "{why}"
        );
        assert_eq!(aia_refusal(ip("192.0.2.1"), &allowed, Some(&open)), None);
        // Ad-hoc networks restrict every address, loopback admitted for AIA included.
        let narrow = policy(&["*.x"], &["198.51.100.0/24"]);
        let why = aia_refusal(ip("127.0.0.1"), &allowed, Some(&narrow)).unwrap();
        assert!(why.contains("global.adhoc_allowed_networks"), "{why}");
        let why = aia_refusal(ip("192.0.2.1"), &allowed, Some(&narrow)).unwrap();
        assert!(
            why.contains("not in global.adhoc_allowed_networks"),
            "{why}"
        );
        assert_eq!(
            aia_refusal(ip("198.51.100.7"), &allowed, Some(&narrow)),
            None
        );
        // Both lists name loopback: fetched.
        let lab = policy(&["*.x"], &["127.0.0.0/8"]);
        assert_eq!(aia_refusal(ip("127.0.0.1"), &allowed, Some(&lab)), None);
        // The AIA refusal comes first.
        let why = aia_refusal(ip("127.0.0.1"), &[], Some(&lab)).unwrap();
        assert!(why.contains("global.aia_allowed_networks"), "{why}");
    }
}
