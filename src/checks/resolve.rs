//! Resolving the origin domain to the addresses the CDN would connect to, through the recursive
//! resolvers (`global.resolvers`, or the system's).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Hosts, TokioResolver};

use super::context::{SystemResolverFiles, HOSTS, RESOLV_CONF};
use super::names::{fqdn, reason};
use super::{ContextError, ProbeContext, MAX_ADDRESSES};
use crate::config::{Global, IpAddressType};

/// The recursive resolver's own per-query timeout and attempts.
const RESOLVER_TIMEOUT: Duration = Duration::from_secs(2);
const RESOLVER_ATTEMPTS: usize = 2;

/// The recursive resolver every check shares (resolution, the DNS check's zone discovery, AIA's
/// host names): on `global.resolvers`, or, when none are given, on the system's configuration
/// and hosts file as read into `system` (see [`super::ContextFiles`]).
pub fn resolver(
    global: &Global,
    system: Option<&SystemResolverFiles>,
) -> Result<TokioResolver, ContextError> {
    let provider = TokioRuntimeProvider::default();
    let mut hosts = None;
    let mut builder = if global.resolvers.is_empty() {
        let system = system.ok_or_else(|| {
            ContextError::Resolver("the system resolver's files were not read".into())
        })?;
        let (config, options) =
            hickory_resolver::system_conf::parse_resolv_conf(&system.resolv_conf)
                .map_err(|e| ContextError::Resolver(format!("{RESOLV_CONF}: {e}")))?;
        let mut b = TokioResolver::builder_with_config(config, provider);
        *b.options_mut() = options;
        // The hosts file as read, not as the resolver would read it again itself.
        let mut table = Hosts::default();
        table
            .read_hosts_conf(&system.hosts[..])
            .map_err(|e| ContextError::Resolver(format!("{HOSTS}: {e}")))?;
        hosts = Some(Arc::new(table));
        b.options_mut().use_hosts_file = ResolveHosts::Never;
        b
    } else {
        let servers = global.resolvers.iter().map(|&sa| name_server(sa)).collect();
        let mut b = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            provider,
        );
        // Explicit resolvers mean "resolve like the CDN does": not through /etc/hosts.
        b.options_mut().use_hosts_file = ResolveHosts::Never;
        b
    };
    let opts = builder.options_mut();
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.timeout = RESOLVER_TIMEOUT;
    opts.attempts = RESOLVER_ATTEMPTS;
    let mut resolver = builder
        .build()
        .map_err(|e| ContextError::Resolver(e.to_string()))?;
    if let Some(hosts) = hosts {
        resolver.set_hosts(hosts);
    }
    Ok(resolver)
}

fn name_server(sa: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = sa.port();
    // TCP only for answers too long for UDP.
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = sa.port();
    NameServerConfig::new(sa.ip(), true, vec![udp, tcp])
}

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
    match ctx.resolver.lookup_ip(name).await {
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
