//! DNS check: the health of every authoritative nameserver of the origin's zone, asked directly
//! the way a resolver (the CDN's) would ask them. Zone discovery goes through the recursive
//! resolver and is cached ([`discovery`]); each cycle then asks every nameserver address two
//! questions without recursion ([`query`]): the origin name's A record and the zone's SOA.

mod check;
mod discovery;
pub(crate) mod explain;
mod findings;
mod query;
mod series;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_resolver::TokioResolver;

use super::names::{display, fqdn};
use crate::config::{Global, Origin};

pub use check::DnsCheck;

/// The check's id: its place in the registry.
pub const ID: super::Check = super::Check::at(0);
pub use discovery::{
    DiscoveryError, Zone, DISCOVERY_CACHE_SIZE, DISCOVERY_MAX_STALE, DISCOVERY_TTL,
};

/// Nameservers of a zone that are queried: the NS set of a hostile zone can be long.
pub const MAX_NAMESERVERS: usize = 8;
/// Addresses queried per nameserver.
pub const MAX_NS_ADDRESSES: usize = 4;
/// Names kept of an NS set for the delegation comparison.
pub const MAX_NS_NAMES: usize = 32;
/// Bounds of one authoritative query's timeout, which is a quarter of the origin's timeout so
/// that a silent server leaves time for discovery and still yields a report.
const MIN_QUERY_TIMEOUT: Duration = Duration::from_millis(200);
const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// The recursive resolver and the discovery cache, built once per config.
pub struct DnsContext {
    pub resolver: TokioResolver,
    pub dns_port: u16,
    cache: discovery::Cache,
}

impl fmt::Debug for DnsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsContext")
            .field("dns_port", &self.dns_port)
            .field("cached_zones", &self.cache.zones())
            .finish_non_exhaustive()
    }
}

impl DnsContext {
    /// The check's part of the probe context: `resolver` (the context's shared one, which zone
    /// discovery asks through) and an empty discovery cache.
    pub fn new(global: &Global, resolver: TokioResolver) -> Self {
        DnsContext {
            resolver,
            dns_port: global.dns_port,
            cache: discovery::Cache::default(),
        }
    }

    /// Zones currently remembered by discovery.
    pub fn cached_zones(&self) -> usize {
        self.cache.zones()
    }
}

/// What the DNS check found about the origin's zone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DnsReport {
    /// The zone holding the origin's domain, without the trailing dot; `None` when discovery
    /// failed (see `error`).
    pub zone: Option<String>,
    /// The port the nameservers were asked on (`global.dns_port`).
    pub port: u16,
    pub error: Option<String>,
    /// One entry per nameserver address.
    pub servers: Vec<ServerReport>,
    /// Nameservers of the NS set whose names have no address.
    pub unresolved: Vec<String>,
    /// The parent zone's delegation, when a parent server gave one.
    pub delegation: Option<DelegationReport>,
}

/// The answers of one nameserver address.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerReport {
    pub nameserver: String,
    pub address: IpAddr,
    /// The origin name's A record.
    pub origin_query: Reply,
    /// The zone's SOA.
    pub soa_query: Reply,
}

/// How one query ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Answered(Answer),
    /// Timeout, connection refused, or a transport error: the server said nothing.
    NoResponse(String),
    /// This host has no route to the address (an IPv6 server from an IPv4-only host): it says
    /// nothing about the server, so it counts neither as up nor as down.
    NoRoute(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rcode: ResponseCode,
    /// The AA flag was set (and the rcode is not REFUSED).
    pub authoritative: bool,
    pub elapsed: Duration,
    /// The zone's SOA serial, for the SOA query.
    pub soa_serial: Option<u32>,
}

impl Reply {
    fn answer(&self) -> Option<&Answer> {
        match self {
            Reply::Answered(a) => Some(a),
            _ => None,
        }
    }
}

impl ServerReport {
    fn answers(&self) -> impl Iterator<Item = &Answer> {
        self.origin_query
            .answer()
            .into_iter()
            .chain(self.soa_query.answer())
    }

    /// Both queries ended without a route from here: not counted either way.
    pub fn untestable(&self) -> bool {
        matches!(self.origin_query, Reply::NoRoute(_))
            && matches!(self.soa_query, Reply::NoRoute(_))
    }

    /// A response arrived, whatever its rcode.
    pub fn up(&self) -> bool {
        self.answers().next().is_some()
    }

    /// It answered, and every answer was authoritative.
    pub fn authoritative(&self) -> bool {
        self.up() && self.answers().all(|a| a.authoritative)
    }

    /// It answered, but not with authority (no AA, or REFUSED).
    pub fn lame(&self) -> bool {
        self.up() && !self.authoritative()
    }

    /// The serial from an authoritative SOA answer.
    pub fn soa_serial(&self) -> Option<u32> {
        self.soa_query
            .answer()
            .filter(|a| a.authoritative)
            .and_then(|a| a.soa_serial)
    }

    /// Time to the SOA answer, else to the other one.
    pub fn response_time(&self) -> Option<Duration> {
        self.soa_query
            .answer()
            .or(self.origin_query.answer())
            .map(|a| a.elapsed)
    }

    /// The rcodes it answered with, for evidence.
    pub fn rcodes(&self) -> Vec<ResponseCode> {
        self.answers().map(|a| a.rcode).collect()
    }
}

/// The parent's NS set for the zone (from a referral) next to the zone's own.
#[derive(Debug, Clone, PartialEq)]
pub struct DelegationReport {
    pub parent_zone: String,
    /// The parent server whose referral was read.
    pub parent_server: String,
    /// Sorted names, without trailing dots.
    pub parent_ns: Vec<String>,
    pub child_ns: Vec<String>,
}

impl DelegationReport {
    pub fn matches(&self) -> bool {
        self.parent_ns == self.child_ns
    }
}

/// The timeout of one authoritative query for an origin.
pub fn query_timeout(origin_timeout: Duration) -> Duration {
    (origin_timeout / 4).clamp(MIN_QUERY_TIMEOUT, MAX_QUERY_TIMEOUT)
}

/// Discovers (or recalls) the zone of `origin.domain`, then asks each of its nameserver
/// addresses, all at once, for the origin's A record and the zone's SOA. Both are asked on every
/// cycle: an answer shared from another origin's earlier cycle could hide a nameserver that
/// went silent, lost its authority or changed its serial since (ARCHITECTURE.md, "What a cycle
/// reuses").
pub async fn check(origin: &Origin, ctx: &DnsContext) -> DnsReport {
    let limit = query_timeout(origin.timeout);
    let discoverer = discovery::Discoverer {
        resolver: &ctx.resolver,
        cache: &ctx.cache,
        dns_port: ctx.dns_port,
        query_timeout: limit,
    };
    let zone = match discoverer.zone_of(&origin.domain).await {
        Ok(z) => z,
        Err(e) => {
            return DnsReport {
                port: ctx.dns_port,
                error: Some(e.to_string()),
                ..DnsReport::default()
            }
        }
    };
    let Ok(domain) = fqdn(&origin.domain) else {
        // zone_of already parsed it; unreachable in practice, but no panic on it.
        return DnsReport {
            port: ctx.dns_port,
            error: Some(format!("{:?} is not a valid domain name", origin.domain)),
            ..DnsReport::default()
        };
    };
    let targets = zone
        .nameservers
        .iter()
        .flat_map(|(ns, addrs)| addrs.iter().map(move |&a| (ns, a)));
    let servers = join_all(targets.map(|(ns, address)| {
        let (domain, zone_name) = (&domain, &zone.name);
        async move {
            let server = SocketAddr::new(address, ctx.dns_port);
            let client = query::ServerClient::new(server, limit);
            let soa = client.ask(zone_name, RecordType::SOA);
            let (origin_query, soa_query) = tokio::join!(client.ask(domain, RecordType::A), soa);
            ServerReport {
                nameserver: display(ns),
                address,
                origin_query,
                soa_query,
            }
        }
    }))
    .await;
    DnsReport {
        zone: Some(display(&zone.name)),
        port: ctx.dns_port,
        error: None,
        servers,
        unresolved: zone
            .nameservers
            .iter()
            .filter(|(_, addrs)| addrs.is_empty())
            .map(|(ns, _)| display(ns))
            .collect(),
        delegation: zone.delegation.clone(),
    }
}
