//! DNS servers on loopback: authoritative nameservers for lab zones, each on its own 127.0.0.x
//! address and all on one port (`global.dns_port`), plus a recursive resolver for the exporter's
//! `global.resolvers`. They speak the real wire protocol (hickory-proto messages over UDP) and
//! can misbehave on purpose: stay silent, answer REFUSED, drop the AA flag, serve another serial.
//!
//! The resolver answers every lab name from the zones' data, like a resolver whose cache is
//! warm; it never forwards. Every lab also serves the `test` zone on [`TLD_SERVER`], so the
//! parent of a zone like `healthy.test` exists and delegates it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Where the lab's recursive resolver listens.
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// The nameserver of the `test` zone, parent of the lab zones.
pub const TLD_SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const TTL: u32 = 60;

/// One lab zone and its child-side data.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Without the trailing dot: `healthy.test`.
    pub name: String,
    pub serial: u32,
    /// The NS set: nameserver name and the address it listens on.
    pub nameservers: Vec<(String, Ipv4Addr)>,
    /// Address records: owner name and address.
    pub records: Vec<(String, IpAddr)>,
    /// The NS set the parent zone delegates to, when it differs from `nameservers`.
    pub parent_ns: Option<Vec<String>>,
}

impl Zone {
    /// A zone with nameservers `ns1.<zone>`, `ns2.<zone>`, … on the given addresses.
    pub fn new(name: &str, serial: u32, servers: &[Ipv4Addr]) -> Zone {
        Zone {
            name: name.to_string(),
            serial,
            nameservers: servers
                .iter()
                .enumerate()
                .map(|(i, &a)| (format!("ns{}.{name}", i + 1), a))
                .collect(),
            records: Vec::new(),
            parent_ns: None,
        }
    }

    pub fn with_record(mut self, owner: &str, address: IpAddr) -> Zone {
        self.records.push((owner.to_string(), address));
        self
    }

    pub fn with_parent_ns(mut self, names: &[&str]) -> Zone {
        self.parent_ns = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }
}

/// How one nameserver address treats every query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Reads queries and never answers.
    Silent,
    /// Answers REFUSED, as a server that does not serve the zone.
    Refused,
    /// Answers with the data but without the AA flag.
    NoAa,
    /// Serves this SOA serial instead of the zone's.
    Serial(u32),
    /// Answers with another message id, as a forged or stray datagram would.
    WrongId,
    /// Answers with the query's id followed by bytes that are no DNS message.
    Garbage,
    /// Answers with a 56 KB message (3,500 A records), far beyond any EDNS size.
    Oversized,
    /// Leaves every query unanswered for this long from the first one it gets, then answers as
    /// `Normal` (the resolver too: a name that answers nothing at first, then an address). A
    /// resolver's retries of the first lookup go unanswered as well.
    SilentFor(Duration),
}

/// A running lab: every server stops when it is dropped.
pub struct DnsLab {
    pub port: u16,
    tasks: Vec<JoinHandle<()>>,
    queries: Counts,
}

/// Queries received per address.
type Counts = Arc<Mutex<BTreeMap<Ipv4Addr, usize>>>;

impl Drop for DnsLab {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsLab {
    /// Starts the resolver, the `test` zone's server and every nameserver of `zones`, all on one
    /// free port; `behaviours` changes how some addresses answer.
    pub async fn start(zones: Vec<Zone>, behaviours: &[(Ipv4Addr, Behaviour)]) -> DnsLab {
        let world = Arc::new(World::new(zones, behaviours));
        let mut addresses: Vec<Ipv4Addr> = world.server_addresses();
        addresses.push(RESOLVER);
        addresses.sort();
        addresses.dedup();
        let (port, sockets) = bind_all(&addresses);
        let queries = Counts::default();
        let tasks = sockets
            .into_iter()
            .map(|(addr, socket)| {
                let role = if addr == RESOLVER {
                    Role::Resolver
                } else {
                    let behaviour = behaviours
                        .iter()
                        .find(|(a, _)| *a == addr)
                        .map_or(Behaviour::Normal, |(_, b)| *b);
                    Role::Authoritative(addr, behaviour)
                };
                tokio::spawn(serve(
                    socket,
                    Arc::clone(&world),
                    role,
                    Arc::clone(&queries),
                ))
            })
            .collect();
        DnsLab {
            port,
            tasks,
            queries,
        }
    }

    /// How many queries `addr` has received so far.
    pub fn queries(&self, addr: Ipv4Addr) -> usize {
        self.queries
            .lock()
            .map_or(0, |q| q.get(&addr).copied().unwrap_or(0))
    }

    /// `resolvers` and `dns_port` for the exporter's `global` (inside `{…}`, with a leading
    /// comma), so that no query ever leaves the lab.
    pub fn global_yaml(&self) -> String {
        format!(
            ", resolvers: [\"{RESOLVER}:{}\"], dns_port: {}",
            self.port, self.port
        )
    }
}

/// Binds every address on one port: the first gets a free port from the kernel, the others
/// try the same one; on a collision, all start again.
fn bind_all(addresses: &[Ipv4Addr]) -> (u16, Vec<(Ipv4Addr, UdpSocket)>) {
    for _ in 0..50 {
        let Ok(first) = StdUdpSocket::bind((addresses[0], 0)) else {
            continue;
        };
        let port = first.local_addr().expect("local addr").port();
        let mut sockets = vec![(addresses[0], first)];
        for &a in &addresses[1..] {
            match StdUdpSocket::bind((a, port)) {
                Ok(s) => sockets.push((a, s)),
                Err(_) => break,
            }
        }
        if sockets.len() == addresses.len() {
            let sockets = sockets
                .into_iter()
                .map(|(a, s)| {
                    s.set_nonblocking(true).expect("nonblocking");
                    (a, UdpSocket::from_std(s).expect("tokio socket"))
                })
                .collect();
            return (port, sockets);
        }
    }
    panic!("no port free on all of {addresses:?}");
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Resolver,
    Authoritative(Ipv4Addr, Behaviour),
}

async fn serve(socket: UdpSocket, world: Arc<World>, role: Role, counts: Counts) {
    let me = match role {
        Role::Resolver => RESOLVER,
        Role::Authoritative(a, _) => a,
    };
    let mut buf = vec![0u8; 4096];
    let mut first_query: Option<Instant> = None;
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Ok(mut c) = counts.lock() {
            *c.entry(me).or_default() += 1;
        }
        if let Some(silent) = world.silent_for(me) {
            let first = *first_query.get_or_insert_with(Instant::now);
            if first.elapsed() < silent {
                continue;
            }
        }
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let behaviour = match role {
            Role::Authoritative(_, b) => b,
            Role::Resolver => Behaviour::Normal,
        };
        let bytes = match behaviour {
            Behaviour::Garbage => {
                let mut b = query.metadata.id.to_be_bytes().to_vec();
                b.extend(std::iter::repeat_n(0xff, 300));
                Some(b)
            }
            _ => world.respond(&query, role).and_then(|mut reply| {
                match behaviour {
                    Behaviour::WrongId => reply.metadata.id = query.metadata.id.wrapping_add(1),
                    Behaviour::Oversized => {
                        let q = query.queries.first()?.name().clone();
                        for i in 0..3500u32 {
                            let ip = Ipv4Addr::from(0x0a00_0000 + i);
                            reply.add_answer(Record::from_rdata(q.clone(), TTL, RData::A(A(ip))));
                        }
                    }
                    _ => {}
                }
                reply.to_vec().ok()
            }),
        };
        if let Some(bytes) = bytes {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

/// Every lab zone, including the `test` zone that delegates the others.
struct World {
    /// Deepest first, so the first enclosing zone is the closest one.
    zones: Vec<Zone>,
    behaviours: Vec<(Ipv4Addr, Behaviour)>,
}

impl World {
    fn new(mut zones: Vec<Zone>, behaviours: &[(Ipv4Addr, Behaviour)]) -> World {
        if !zones.iter().any(|z| z.name == "test") {
            zones.push(Zone::new("test", 1, &[TLD_SERVER]));
        }
        zones.sort_by_key(|z| std::cmp::Reverse(z.name.split('.').count()));
        World {
            zones,
            behaviours: behaviours.to_vec(),
        }
    }

    /// A real resolver gets no usable answer for a zone none of whose servers answers with
    /// authority, and says SERVFAIL.
    fn unresolvable(&self, zone: &Zone) -> bool {
        zone.nameservers.iter().all(|(_, a)| {
            let b = self
                .behaviours
                .iter()
                .find(|(x, _)| x == a)
                .map_or(Behaviour::Normal, |(_, b)| *b);
            !matches!(
                b,
                Behaviour::Normal | Behaviour::Serial(_) | Behaviour::SilentFor(_)
            )
        })
    }

    /// How long `addr` stays silent from its first query ([`Behaviour::SilentFor`]).
    fn silent_for(&self, addr: Ipv4Addr) -> Option<Duration> {
        self.behaviours.iter().find_map(|(a, b)| match b {
            Behaviour::SilentFor(d) if *a == addr => Some(*d),
            _ => None,
        })
    }

    fn server_addresses(&self) -> Vec<Ipv4Addr> {
        self.zones
            .iter()
            .flat_map(|z| z.nameservers.iter().map(|(_, a)| *a))
            .collect()
    }

    fn respond(&self, query: &Message, role: Role) -> Option<Message> {
        let q = query.queries.first()?;
        let qname = name_str(q.name());
        let mut reply = Message::response(query.metadata.id, OpCode::Query);
        reply.metadata.message_type = MessageType::Response;
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        reply.add_query(q.clone());
        match role {
            Role::Resolver => {
                reply.metadata.recursion_available = true;
                match self.zones.iter().find(|z| within(&qname, &z.name)) {
                    Some(zone) if self.unresolvable(zone) => {
                        reply.metadata.response_code = ResponseCode::ServFail
                    }
                    Some(zone) => self.answer(&mut reply, zone, &qname, q.query_type(), None),
                    None => reply.metadata.response_code = ResponseCode::Refused,
                }
            }
            Role::Authoritative(addr, behaviour) => {
                match behaviour {
                    Behaviour::Silent => return None,
                    Behaviour::Refused => {
                        reply.metadata.response_code = ResponseCode::Refused;
                        return Some(reply);
                    }
                    _ => {}
                }
                let served = self
                    .zones
                    .iter()
                    .filter(|z| z.nameservers.iter().any(|(_, a)| *a == addr))
                    .find(|z| within(&qname, &z.name));
                let Some(zone) = served else {
                    reply.metadata.response_code = ResponseCode::Refused;
                    return Some(reply);
                };
                // A zone cut between the served zone and the name: refer to the child.
                let cut = self
                    .zones
                    .iter()
                    .filter(|c| c.name != zone.name && within(&c.name, &zone.name))
                    .filter(|c| within(&qname, &c.name))
                    .min_by_key(|c| c.name.split('.').count());
                match cut {
                    Some(child) => self.refer(&mut reply, child),
                    None => {
                        reply.metadata.authoritative = behaviour != Behaviour::NoAa;
                        let serial = match behaviour {
                            Behaviour::Serial(s) => Some(s),
                            _ => None,
                        };
                        self.answer(&mut reply, zone, &qname, q.query_type(), serial);
                    }
                }
            }
        }
        Some(reply)
    }

    /// The zone's own data for `qname`: records, NODATA or NXDOMAIN, with the SOA when negative.
    fn answer(
        &self,
        reply: &mut Message,
        zone: &Zone,
        qname: &str,
        rtype: RecordType,
        serial: Option<u32>,
    ) {
        let soa = || record(&zone.name, soa_data(zone, serial.unwrap_or(zone.serial)));
        let data = self.data(zone);
        let at_name: Vec<&RData> = data
            .get(qname)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let matching: Vec<&RData> = at_name
            .iter()
            .copied()
            .filter(|d| d.record_type() == rtype)
            .collect();
        if rtype == RecordType::SOA && qname == zone.name {
            reply.add_answer(soa());
        } else if !matching.is_empty() {
            for d in matching {
                reply.add_answer(record(qname, d.clone()));
            }
        } else {
            let exists = qname == zone.name
                || !at_name.is_empty()
                || data.keys().any(|k| k.ends_with(&format!(".{qname}")));
            if !exists {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            reply.add_authority(soa());
        }
    }

    /// A referral to `child`: no AA, the parent's NS set in the authority section, glue.
    fn refer(&self, reply: &mut Message, child: &Zone) {
        let names = child
            .parent_ns
            .clone()
            .unwrap_or_else(|| child.nameservers.iter().map(|(n, _)| n.clone()).collect());
        for n in &names {
            reply.add_authority(record(&child.name, RData::NS(NS(fqdn(n)))));
            if let Some((_, a)) = self
                .zones
                .iter()
                .flat_map(|z| &z.nameservers)
                .find(|(m, _)| m == n)
            {
                reply.add_additional(record(n, RData::A(A(*a))));
            }
        }
    }

    /// Owner name → records of `zone`: its NS set, its address records, and the addresses of
    /// nameservers named inside it.
    fn data(&self, zone: &Zone) -> BTreeMap<String, Vec<RData>> {
        let mut data: BTreeMap<String, Vec<RData>> = BTreeMap::new();
        for (n, _) in &zone.nameservers {
            data.entry(zone.name.clone())
                .or_default()
                .push(RData::NS(NS(fqdn(n))));
        }
        for (owner, ip) in &zone.records {
            data.entry(owner.clone()).or_default().push(match ip {
                IpAddr::V4(v4) => RData::A(A(*v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            });
        }
        for (n, a) in self.zones.iter().flat_map(|z| &z.nameservers) {
            let home = self.zones.iter().find(|z| within(n, &z.name));
            if home.is_some_and(|h| h.name == zone.name) {
                let entry = data.entry(n.clone()).or_default();
                let rdata = RData::A(A(*a));
                if !entry.contains(&rdata) {
                    entry.push(rdata);
                }
            }
        }
        data
    }
}

fn soa_data(zone: &Zone, serial: u32) -> RData {
    RData::SOA(SOA::new(
        fqdn(&format!("ns1.{}", zone.name)),
        fqdn(&format!("hostmaster.{}", zone.name)),
        serial,
        3600,
        600,
        86400,
        60,
    ))
}

fn record(owner: &str, data: RData) -> Record {
    Record::from_rdata(fqdn(owner), TTL, data)
}

fn fqdn(name: &str) -> Name {
    let mut n = Name::from_ascii(name).expect("lab names are valid");
    n.set_fqdn(true);
    n
}

/// Lower case, no trailing dot.
fn name_str(name: &Name) -> String {
    let s = name.to_lowercase().to_ascii();
    s.trim_end_matches('.').to_string()
}

/// `name` is `zone` or below it.
fn within(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}
