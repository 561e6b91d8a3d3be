//! Resolving the origin domain to the addresses the CDN would connect to, through the recursive
//! resolvers (`global.resolvers`, or the system's).

use std::net::IpAddr;

use super::dns::{fqdn, reason};
use super::{ProbeContext, MAX_ADDRESSES};

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

/// Resolves `domain` to all its A and AAAA addresses (up to [`MAX_ADDRESSES`]), every one of
/// which the later checks probe.
pub async fn resolve(domain: &str, ctx: &ProbeContext) -> Resolution {
    let name = match fqdn(domain) {
        Ok(n) => n,
        Err(e) => return Resolution::failed(e.to_string()),
    };
    match ctx.dns.resolver.lookup_ip(name).await {
        Ok(lookup) => {
            let mut addresses: Vec<IpAddr> = lookup.iter().collect();
            addresses.sort();
            addresses.dedup();
            addresses.truncate(MAX_ADDRESSES);
            let error = addresses
                .is_empty()
                .then(|| "no A or AAAA records".to_string());
            Resolution { addresses, error }
        }
        Err(e) => Resolution::failed(reason(&e)),
    }
}
