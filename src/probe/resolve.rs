//! Resolving the origin domain to the addresses the CDN would connect to.

use std::net::IpAddr;

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
}

/// Resolves `domain` to its A and AAAA addresses through the system resolver.
pub async fn resolve(domain: &str, _ctx: &ProbeContext) -> Resolution {
    match tokio::net::lookup_host((domain, 0)).await {
        Ok(addrs) => {
            let mut addresses: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            addresses.sort();
            addresses.dedup();
            addresses.truncate(MAX_ADDRESSES);
            let error = addresses
                .is_empty()
                .then(|| "no A or AAAA records".to_string());
            Resolution { addresses, error }
        }
        Err(e) => Resolution {
            addresses: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}
