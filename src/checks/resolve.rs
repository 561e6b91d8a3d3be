//! Resolving the origin domain to the addresses the CDN would connect to, through the recursive
//! resolvers (`global.resolvers`, or the system's).

use std::net::IpAddr;

use super::names::{fqdn, reason};
use super::{ProbeContext, MAX_ADDRESSES};
use crate::config::IpAddressType;

/// The addresses `domain` resolved to, or why it did not.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub addresses: Vec<IpAddr>,
    /// Set when resolution failed (NXDOMAIN, SERVFAIL, no address).
    pub error: Option<String>,
}

impl Resolution {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && !self.addresses.is_empty()
    }

    fn failed(error: String) -> Self {
        Resolution {
            addresses: Vec::new(),
            error: Some(error),
        }
    }
}

/// Resolves `domain` to the addresses of the families `family` lets the CDN use (up to
/// [`MAX_ADDRESSES`]), every one of which the later checks probe. A name with addresses of the
/// other family only is a failure that names the missing record type.
pub async fn resolve(domain: &str, family: IpAddressType, ctx: &ProbeContext) -> Resolution {
    let name = match fqdn(domain) {
        Ok(n) => n,
        Err(e) => return Resolution::failed(e.to_string()),
    };
    match ctx.dns.resolver.lookup_ip(name).await {
        Ok(lookup) => usable(lookup.iter().collect(), family),
        Err(e) => Resolution::failed(reason(&e)),
    }
}

/// The addresses the CDN may connect to under `family`; none is a failure naming what is
/// missing. Pure.
pub fn usable(mut all: Vec<IpAddr>, family: IpAddressType) -> Resolution {
    all.sort();
    all.dedup();
    let (mut addresses, other): (Vec<IpAddr>, Vec<IpAddr>) =
        all.into_iter().partition(|ip| family.allows(*ip));
    addresses.truncate(MAX_ADDRESSES);
    let error = addresses.is_empty().then(|| {
        let wanted = family.record_types();
        match other.first() {
            None => format!("no {wanted} record"),
            Some(ip) => format!(
                "no {wanted} record for ip_address_type {}; the name has {} only ({ip})",
                family.name(),
                if ip.is_ipv4() { "A" } else { "AAAA" },
            ),
        }
    });
    Resolution { addresses, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    #[test]
    fn each_address_type_keeps_its_families() {
        let both = ips(&["2001:db8::1", "192.0.2.1"]);
        let cases = [
            (IpAddressType::Ipv4, both.clone(), Ok(ips(&["192.0.2.1"]))),
            (IpAddressType::Ipv6, both.clone(), Ok(ips(&["2001:db8::1"]))),
            (
                IpAddressType::Dualstack,
                both,
                Ok(ips(&["192.0.2.1", "2001:db8::1"])),
            ),
            (
                IpAddressType::Ipv4,
                ips(&["2001:db8::1"]),
                Err("no A record for ip_address_type ipv4; the name has AAAA only (2001:db8::1)"),
            ),
            (
                IpAddressType::Ipv6,
                ips(&["192.0.2.1"]),
                Err("no AAAA record for ip_address_type ipv6; the name has A only (192.0.2.1)"),
            ),
            (IpAddressType::Dualstack, vec![], Err("no A or AAAA record")),
        ];
        for (family, all, want) in cases {
            let r = usable(all, family);
            match want {
                Ok(addrs) => {
                    assert_eq!(r.addresses, addrs, "{family:?}");
                    assert!(r.succeeded());
                }
                Err(e) => {
                    assert!(!r.succeeded());
                    assert_eq!(r.error.as_deref(), Some(e), "{family:?}");
                }
            }
        }
    }
}
