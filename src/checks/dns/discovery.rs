//! Zone discovery through the recursive resolver: which zone holds the origin's name, its
//! nameservers and their addresses, and what the parent zone delegates. It changes rarely, so it
//! is cached between cycles (bounded, re-discovered every [`DISCOVERY_TTL`]); a cycle then only
//! costs the two authoritative queries per nameserver address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hickory_net::{DnsError, NetError};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use quick_cache::{OptionsBuilder, UnitWeighter};
use tracing::{debug, warn};

use super::query::{referral, Referral, ServerClient};
use super::{DelegationReport, MAX_NAMESERVERS, MAX_NS_ADDRESSES, MAX_NS_NAMES};
use crate::checks::names::{display, fqdn, reason, BadName};

/// How long a discovery is used before it is done again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// How long a discovery may still be used when re-discovering fails: the zone's servers going
/// silent must show as `dns_all_nameservers_down`, not as an unknown zone.
pub const DISCOVERY_MAX_STALE: Duration = Duration::from_secs(3600);
/// Most domains and zones remembered (each); beyond it the least used go (quick_cache's
/// CLOCK-Pro).
pub const DISCOVERY_CACHE_SIZE: usize = 20_000;
/// Shards of each discovery cache: 16 divides [`DISCOVERY_CACHE_SIZE`] (1,250 each), so the
/// shards together hold no more than it whatever the core count.
const CACHE_SHARDS: usize = 16;
/// Parent servers asked for the referral before giving up on the delegation check.
const MAX_PARENT_TRIES: usize = 3;

/// The zone that holds a name, as found through the recursive resolver.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: Name,
    /// Every nameserver of the NS set (sorted, at most [`MAX_NS_NAMES`]).
    pub ns_names: Vec<Name>,
    /// The first [`MAX_NAMESERVERS`] of them with their addresses (empty when unresolvable).
    pub nameservers: Vec<(Name, Vec<IpAddr>)>,
    /// The parent's view of the delegation; `None` for the root or when no parent server said.
    pub delegation: Option<DelegationReport>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    BadName(#[from] BadName),
    #[error("no zone found above {0}")]
    NoZone(String),
    #[error("looking up {name} {rtype}: {reason}")]
    Lookup {
        name: String,
        rtype: RecordType,
        reason: String,
    },
    #[error("zone {0} has no NS records")]
    NoNameservers(String),
}

/// Discovered zones by name, and the zone of each domain asked about, each with when it was
/// found: older than [`DISCOVERY_TTL`] it is re-discovered, older than [`DISCOVERY_MAX_STALE`]
/// it is not used even when re-discovery fails (and goes when evicted or replaced).
#[derive(Debug)]
pub struct Cache {
    zone_of: quick_cache::sync::Cache<Name, (Name, Instant)>,
    zones: quick_cache::sync::Cache<Name, (Arc<Zone>, Instant)>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            zone_of: bounded(),
            zones: bounded(),
        }
    }
}

/// A cache of at most [`DISCOVERY_CACHE_SIZE`] entries.
fn bounded<V: Clone>() -> quick_cache::sync::Cache<Name, V> {
    let options = OptionsBuilder::new()
        .estimated_items_capacity(DISCOVERY_CACHE_SIZE)
        .weight_capacity(DISCOVERY_CACHE_SIZE as u64)
        .shards(CACHE_SHARDS)
        .build()
        .expect("weight capacity is set");
    quick_cache::sync::Cache::with_options(
        options,
        UnitWeighter,
        Default::default(),
        Default::default(),
    )
}

impl Cache {
    /// The zone remembered for `domain`, with how old at `now` the link and the zone are.
    fn recall(&self, domain: &Name, now: Instant) -> Option<(Arc<Zone>, Duration, Duration)> {
        let (zone, linked) = self.zone_of.get(domain)?;
        let (z, found) = self.zones.get(&zone)?;
        Some((
            z,
            now.saturating_duration_since(linked),
            now.saturating_duration_since(found),
        ))
    }

    fn fresh_zone_of(&self, domain: &Name, now: Instant) -> Option<Arc<Zone>> {
        self.recall(domain, now)
            .filter(|(_, linked, found)| *linked < DISCOVERY_TTL && *found < DISCOVERY_TTL)
            .map(|(z, ..)| z)
    }

    fn stale_zone_of(&self, domain: &Name, now: Instant) -> Option<Arc<Zone>> {
        self.recall(domain, now)
            .filter(|(_, _, found)| *found < DISCOVERY_MAX_STALE)
            .map(|(z, ..)| z)
    }

    fn fresh_zone(&self, zone: &Name) -> Option<Arc<Zone>> {
        let (z, found) = self.zones.get(zone)?;
        (found.elapsed() < DISCOVERY_TTL).then_some(z)
    }

    fn store(&self, domain: &Name, zone: Arc<Zone>, now: Instant) {
        self.zone_of
            .insert(domain.clone(), (zone.name.clone(), now));
        self.zones.insert(zone.name.clone(), (zone, now));
    }

    fn link(&self, domain: &Name, zone: &Name) {
        self.zone_of
            .insert(domain.clone(), (zone.clone(), Instant::now()));
    }

    pub(super) fn zones(&self) -> usize {
        self.zones.len()
    }
}

/// What discovery needs: the resolver, the port of authoritative servers, the query timeout.
pub struct Discoverer<'a> {
    pub resolver: &'a TokioResolver,
    pub cache: &'a Cache,
    pub dns_port: u16,
    pub query_timeout: Duration,
}

impl Discoverer<'_> {
    /// The zone of `domain`, from the cache when fresh; a stale one when re-discovery fails.
    pub async fn zone_of(&self, domain: &str) -> Result<Arc<Zone>, DiscoveryError> {
        let name = fqdn(domain)?;
        if let Some(z) = self.cache.fresh_zone_of(&name, Instant::now()) {
            return Ok(z);
        }
        match self.discover(&name).await {
            Ok(zone) => Ok(zone),
            Err(e) => match self.cache.stale_zone_of(&name, Instant::now()) {
                Some(stale) => {
                    warn!(domain, error = %e, "zone discovery failed; using the last one found");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    async fn discover(&self, domain: &Name) -> Result<Arc<Zone>, DiscoveryError> {
        let zone = match find_zone(self.resolver, domain).await {
            Ok(z) => z,
            Err(e @ DiscoveryError::Lookup { .. }) => {
                let zone = self.discover_from_parent(domain).await.ok_or(e)?;
                let zone = Arc::new(zone);
                self.cache.store(domain, Arc::clone(&zone), Instant::now());
                return Ok(zone);
            }
            Err(e) => return Err(e),
        };
        if let Some(z) = self.cache.fresh_zone(&zone) {
            // Another domain of the same zone was discovered moments ago.
            self.cache.link(domain, &zone);
            return Ok(z);
        }
        let ns = nameservers(self.resolver, &zone).await?;
        let nameservers = self.addresses(&ns).await;
        let delegation = self.delegation(&zone, &ns).await;
        debug!(zone = %zone, nameservers = ns.len(), "zone discovered");
        let zone = Arc::new(Zone {
            name: zone,
            ns_names: ns,
            nameservers,
            delegation,
        });
        self.cache.store(domain, Arc::clone(&zone), Instant::now());
        Ok(zone)
    }

    async fn addresses(&self, ns: &[Name]) -> Vec<(Name, Vec<IpAddr>)> {
        let lookups = ns.iter().take(MAX_NAMESERVERS).map(|n| async move {
            let mut addrs: Vec<IpAddr> = match self.resolver.lookup_ip(n.clone()).await {
                Ok(l) => l.iter().collect(),
                Err(e) => {
                    debug!(nameserver = %n, error = %e, "nameserver has no address");
                    Vec::new()
                }
            };
            addrs.sort();
            addrs.dedup();
            addrs.truncate(MAX_NS_ADDRESSES);
            (n.clone(), addrs)
        });
        join_all(lookups).await
    }

    /// Asks the parent zone's servers which nameservers they delegate `zone` to.
    async fn delegation(&self, zone: &Name, child_ns: &[Name]) -> Option<DelegationReport> {
        if zone.is_root() {
            return None;
        }
        let parent = match find_zone(self.resolver, &zone.base_name()).await {
            Ok(p) => p,
            Err(e) => {
                debug!(zone = %zone, error = %e, "parent zone not found");
                return None;
            }
        };
        let (server, referral) = self.ask_parent(&parent, zone).await?;
        if referral.zone != *zone {
            debug!(zone = %zone, server = %server, got = %referral.zone, "parent server gave no NS for the zone");
            return None;
        }
        Some(DelegationReport {
            parent_zone: display(&parent),
            parent_server: display(&server),
            parent_ns: referral.ns.iter().map(display).collect(),
            child_ns: child_ns.iter().map(display).collect(),
        })
    }

    /// When the resolver cannot say which zone holds `domain` (SERVFAIL: typically every
    /// server of that zone is down), find the closest enclosing zone that still answers and
    /// read the delegation from its servers' referral, with the glue: then the broken zone's
    /// servers can be queried and blamed.
    async fn discover_from_parent(&self, domain: &Name) -> Option<Zone> {
        let mut candidate = domain.clone();
        let parent = loop {
            if candidate.is_root() {
                return None;
            }
            candidate = candidate.base_name();
            match find_zone(self.resolver, &candidate).await {
                Ok(p) => break p,
                Err(DiscoveryError::Lookup { .. }) => continue,
                Err(_) => return None,
            }
        };
        let (server, referral) = self.ask_parent(&parent, domain).await?;
        // Only a referral below the parent names the broken zone.
        if referral.zone == parent || !parent.zone_of(&referral.zone) {
            return None;
        }
        debug!(domain = %domain, zone = %referral.zone, parent = %parent, server = %server, "zone found from the parent's referral");
        let mut nameservers = Vec::new();
        for ns in referral.ns.iter().take(MAX_NAMESERVERS) {
            let mut addrs: Vec<IpAddr> = referral
                .glue
                .iter()
                .filter(|(n, _)| n == ns)
                .map(|(_, a)| *a)
                .collect();
            if addrs.is_empty() {
                addrs = self
                    .addresses(std::slice::from_ref(ns))
                    .await
                    .pop()
                    .map(|(_, a)| a)
                    .unwrap_or_default();
            }
            addrs.sort();
            addrs.dedup();
            addrs.truncate(MAX_NS_ADDRESSES);
            nameservers.push((ns.clone(), addrs));
        }
        Some(Zone {
            name: referral.zone,
            ns_names: referral.ns,
            nameservers,
            // The zone's own NS set is unknown while its servers are silent.
            delegation: None,
        })
    }

    /// The first of `parent`'s servers (up to [`MAX_PARENT_TRIES`]) to answer with NS records
    /// for `name`, and what it said.
    async fn ask_parent(&self, parent: &Name, name: &Name) -> Option<(Name, Referral)> {
        let parent_ns = nameservers(self.resolver, parent).await.ok()?;
        let mut tries = 0;
        for server in &parent_ns {
            let Some((_, addrs)) = self.addresses(std::slice::from_ref(server)).await.pop() else {
                continue;
            };
            let Some(&addr) = addrs.first() else { continue };
            tries += 1;
            let client =
                ServerClient::new(SocketAddr::new(addr, self.dns_port), self.query_timeout);
            match referral(&client, name).await {
                Ok(Some(r)) => return Some((server.clone(), r)),
                Ok(None) => {
                    debug!(name = %name, server = %server, "parent server named no nameservers")
                }
                Err(e) => {
                    debug!(name = %name, server = %server, error = %e, "parent server did not answer")
                }
            }
            if tries >= MAX_PARENT_TRIES {
                break;
            }
        }
        None
    }
}

/// The zone holding `name`: the closest enclosing name with an SOA. One query usually suffices,
/// since a negative answer carries the zone's SOA; without one, walk up a label at a time.
async fn find_zone(resolver: &TokioResolver, name: &Name) -> Result<Name, DiscoveryError> {
    let mut candidate = name.clone();
    // Bounded by the labels of the name (at most 127 by the wire format).
    loop {
        match resolver.lookup(candidate.clone(), RecordType::SOA).await {
            Ok(lookup) => {
                if lookup
                    .answers()
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA && r.name == candidate)
                {
                    return Ok(candidate.to_lowercase());
                }
                // A CNAME at the name: the SOA that came back belongs to the alias's target.
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => {
                if let Some(soa) = nr.soa.as_ref().filter(|s| s.name.zone_of(&candidate)) {
                    return Ok(soa.name.to_lowercase());
                }
            }
            Err(e) => {
                // SERVFAIL or timeout: walking further up would find an enclosing zone that
                // does not hold the name, and blame its servers for what they do not serve.
                return Err(DiscoveryError::Lookup {
                    name: display(&candidate),
                    rtype: RecordType::SOA,
                    reason: reason(&e),
                });
            }
        }
        if candidate.is_root() {
            return Err(DiscoveryError::NoZone(display(name)));
        }
        candidate = candidate.base_name();
    }
}

/// The zone's NS set through the resolver (the child's view), sorted and bounded.
async fn nameservers(resolver: &TokioResolver, zone: &Name) -> Result<Vec<Name>, DiscoveryError> {
    let lookup = resolver
        .lookup(zone.clone(), RecordType::NS)
        .await
        .map_err(|e| DiscoveryError::Lookup {
            name: display(zone),
            rtype: RecordType::NS,
            reason: reason(&e),
        })?;
    let mut names: Vec<Name> = lookup
        .answers()
        .iter()
        .filter(|r| r.name == *zone)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.to_lowercase()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names.truncate(MAX_NS_NAMES);
    if names.is_empty() {
        return Err(DiscoveryError::NoNameservers(display(zone)));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &Name) -> Arc<Zone> {
        Arc::new(Zone {
            name: name.clone(),
            ns_names: Vec::new(),
            nameservers: Vec::new(),
            delegation: None,
        })
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_what_is_used() {
        let cache = Cache::default();
        let hot_zone = fqdn("hot.example").expect("valid");
        let hot = fqdn("o.hot.example").expect("valid");
        let now = Instant::now();
        cache.store(&hot, zone(&hot_zone), now);
        let last = 2 * DISCOVERY_CACHE_SIZE;
        for i in 0..=last {
            let z = fqdn(&format!("z{i}.example")).expect("valid");
            cache.store(
                &fqdn(&format!("o.z{i}.example")).expect("valid"),
                zone(&z),
                now,
            );
            if i % 1000 == 0 {
                // Every cycle checks the configured origins again.
                assert!(
                    cache.fresh_zone_of(&hot, now).is_some(),
                    "hot evicted at {i}"
                );
            }
        }
        assert!(cache.zones() <= DISCOVERY_CACHE_SIZE);
        assert!(cache.zone_of.len() <= DISCOVERY_CACHE_SIZE);
        // Not cleared: most of the bound is still there, with the origin in use and the newest.
        assert!(
            cache.zones() > DISCOVERY_CACHE_SIZE / 2,
            "{}",
            cache.zones()
        );
        assert!(cache.fresh_zone_of(&hot, now).is_some());
        let newest = fqdn(&format!("o.z{last}.example")).expect("valid");
        assert!(cache.fresh_zone_of(&newest, now).is_some());
    }

    #[test]
    fn old_discoveries_are_stale_then_gone() {
        let cache = Cache::default();
        let z = fqdn("example.com").expect("valid");
        let a = fqdn("a.example.com").expect("valid");
        let then = Instant::now();
        cache.store(&a, zone(&z), then);
        let after = |d: Duration| then + d + Duration::from_secs(1);
        assert!(cache.fresh_zone_of(&a, then).is_some());
        assert!(cache.fresh_zone_of(&a, after(DISCOVERY_TTL)).is_none());
        // Past its TTL it is still the fallback when re-discovery fails...
        assert!(cache.stale_zone_of(&a, after(DISCOVERY_TTL)).is_some());
        // ...until it is too old even for that.
        assert!(cache
            .stale_zone_of(&a, after(DISCOVERY_MAX_STALE))
            .is_none());
    }

    #[test]
    fn domains_of_one_zone_share_its_discovery() {
        let cache = Cache::default();
        let z = fqdn("example.com").expect("valid");
        let a = fqdn("a.example.com").expect("valid");
        let b = fqdn("b.example.com").expect("valid");
        cache.store(&a, zone(&z), Instant::now());
        assert!(cache.fresh_zone_of(&b, Instant::now()).is_none());
        assert!(cache.fresh_zone(&z).is_some());
        cache.link(&b, &z);
        assert_eq!(
            cache
                .fresh_zone_of(&b, Instant::now())
                .map(|z| z.name.clone()),
            Some(z)
        );
        assert_eq!(cache.zones(), 1);
    }
}
