//! One question to one authoritative server, with hickory's raw client: recursion-desired off,
//! no cache, nothing hidden. The recursive resolver would turn REFUSED into an error and drop
//! the AA flag, which are exactly what this check reads.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::DnsHandle;
use hickory_net::NetError;
use hickory_proto::op::{DnsRequestOptions, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::{Answer, Reply};

/// A client for one server address. Every request uses a fresh random source port (hickory's
/// UDP stream does that), and a response is only accepted from that address with the query's id
/// and question, so a stray or forged datagram cannot answer for the server.
pub(super) struct ServerClient {
    client: Client<TokioRuntimeProvider>,
    limit: Duration,
}

impl ServerClient {
    pub(super) fn new(server: SocketAddr, limit: Duration) -> Self {
        let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
            .with_timeout(Some(limit))
            // One datagram per question: a retransmit would double the load on every server
            // and the per-query timeout already decides "no response".
            .with_max_retries(1)
            .build();
        let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        // Ends by itself once `client` (every handle to the exchange) is dropped.
        tokio::spawn(background);
        ServerClient { client, limit }
    }

    /// Asks `name`/`rtype` without recursion and reads what the server said.
    pub(super) async fn ask(&self, name: &Name, rtype: RecordType) -> Reply {
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = false;
        options.use_edns = true;
        let start = Instant::now();
        let mut responses = self
            .client
            .lookup(Query::query(name.clone(), rtype), options);
        let first = tokio::time::timeout(self.limit, responses.next()).await;
        let elapsed = start.elapsed();
        let silent = || {
            Reply::NoResponse(format!(
                "no response within {:.1}s",
                self.limit.as_secs_f64()
            ))
        };
        match first {
            // The exchange ends its stream, or says Timeout, when its own timer (the same
            // limit) fires first.
            Err(_) | Ok(None) | Ok(Some(Err(NetError::Timeout))) => silent(),
            Ok(Some(Err(NetError::Io(e)))) if e.kind() == io::ErrorKind::TimedOut => silent(),
            Ok(Some(Err(e))) => no_response(&e),
            Ok(Some(Ok(response))) => {
                let soa_serial = soa_serial(&response, rtype, name);
                Reply::Answered(Answer {
                    rcode: response.response_code,
                    authoritative: response.authoritative
                        && response.response_code != ResponseCode::Refused,
                    elapsed,
                    soa_serial,
                })
            }
        }
    }
}

/// What a server said about who serves a name: the deepest zone at or above it for which it
/// gave NS records (a referral's authority section, or an answer), and the glue.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Referral {
    pub zone: Name,
    pub ns: Vec<Name>,
    pub glue: Vec<(Name, IpAddr)>,
}

/// Asks `name`'s NS without recursion and reads the NS set of the closest enclosing zone from
/// the answer or the referral. `Ok(None)` when the response names no nameservers.
pub(super) async fn referral(
    client: &ServerClient,
    name: &Name,
) -> Result<Option<Referral>, String> {
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    let mut responses = client
        .client
        .lookup(Query::query(name.clone(), RecordType::NS), options);
    let response = match tokio::time::timeout(client.limit, responses.next()).await {
        Ok(Some(Ok(r))) => r,
        Ok(Some(Err(e))) => return Err(e.to_string()),
        Ok(None) | Err(_) => return Err("no response".into()),
    };
    if response.response_code != ResponseCode::NoError {
        return Err(response.response_code.to_string());
    }
    Ok(read_referral(&response, name))
}

/// The serial of `name`'s own SOA in the response to an SOA question: not one from a referral
/// elsewhere.
fn soa_serial(response: &Message, rtype: RecordType, name: &Name) -> Option<u32> {
    if rtype != RecordType::SOA {
        return None;
    }
    response
        .answers
        .iter()
        .chain(response.authorities.iter())
        .find_map(|r| match &r.data {
            RData::SOA(soa) if r.name == *name => Some(soa.serial),
            _ => None,
        })
}

/// The NS set of the deepest zone at or above `name` in a response, and its glue; bounded by
/// [`super::MAX_NS_NAMES`] names and [`super::MAX_NS_ADDRESSES`] addresses per name, whatever
/// the server packed into it.
fn read_referral(response: &Message, name: &Name) -> Option<Referral> {
    let ns_records = || {
        response
            .answers
            .iter()
            .chain(response.authorities.iter())
            .filter(|r| r.name.zone_of(name))
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some((&r.name, ns.0.to_lowercase())),
                _ => None,
            })
    };
    let zone = ns_records()
        .map(|(owner, _)| owner)
        .max_by_key(|owner| owner.num_labels())
        .map(Name::to_lowercase)?;
    let mut ns: Vec<Name> = ns_records()
        .filter(|(owner, _)| **owner == zone)
        .map(|(_, n)| n)
        .collect();
    ns.sort();
    ns.dedup();
    ns.truncate(super::MAX_NS_NAMES);
    let glue = response
        .additionals
        .iter()
        .filter(|r| ns.contains(&r.name))
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.to_lowercase(), IpAddr::V4(a.0))),
            RData::AAAA(a) => Some((r.name.to_lowercase(), IpAddr::V6(a.0))),
            _ => None,
        })
        .take(super::MAX_NS_NAMES * super::MAX_NS_ADDRESSES)
        .collect();
    Some(Referral { zone, ns, glue })
}

/// A failure to get any response: timeout, connection refused (ICMP port unreachable), or an
/// address this host has no route to, which says nothing about the server.
fn no_response(e: &NetError) -> Reply {
    if let NetError::Io(io) = e {
        if matches!(
            io.kind(),
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::AddrNotAvailable
        ) {
            return Reply::NoRoute(io.to_string());
        }
    }
    match e {
        NetError::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            Reply::NoResponse("connection refused".into())
        }
        other => Reply::NoResponse(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::MessageType;
    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, NS};
    use hickory_proto::rr::Record;
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::checks::dns::{MAX_NS_ADDRESSES, MAX_NS_NAMES};

    fn name(n: &str) -> Name {
        Name::from_ascii(n).expect("name")
    }

    /// A referral for shop.example.com with `servers` NS names and `glue` addresses each.
    fn referral_message(servers: usize, glue: u8) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        for i in 0..servers {
            let ns = name(&format!("ns{i}.example.net."));
            m.add_authority(Record::from_rdata(
                name("example.com."),
                60,
                RData::NS(NS(ns.clone())),
            ));
            for g in 0..glue {
                m.add_additional(Record::from_rdata(
                    ns.clone(),
                    60,
                    RData::A(A::new(192, 0, 2, g)),
                ));
            }
        }
        m
    }

    #[test]
    fn a_referral_is_read() {
        let r = read_referral(&referral_message(2, 1), &name("shop.example.com.")).expect("NS");
        assert_eq!(r.zone, name("example.com."));
        assert_eq!((r.ns.len(), r.glue.len()), (2, 2));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes that hickory parses as a message are read without panicking, and the NS set
        /// and glue stay within their bounds.
        #[test]
        fn any_response_is_read_bounded(bytes in vec(any::<u8>(), 0..600)) {
            if let Ok(m) = Message::from_vec(&bytes) {
                let asked = name("shop.example.com.");
                let _ = soa_serial(&m, RecordType::SOA, &asked);
                if let Some(r) = read_referral(&m, &asked) {
                    prop_assert!(r.zone.zone_of(&asked));
                    prop_assert!(r.ns.len() <= MAX_NS_NAMES);
                    prop_assert!(r.glue.len() <= MAX_NS_NAMES * MAX_NS_ADDRESSES);
                }
            }
        }

        /// A server that packs hundreds of NS names and addresses into a referral is cut to the
        /// bounds, and mutating its bytes never panics the reading.
        #[test]
        fn huge_and_mutated_referrals(
            servers in 0usize..100,
            glue in 0u8..8,
            edits in vec((any::<usize>(), any::<u8>()), 0..6),
        ) {
            let asked = name("shop.example.com.");
            let m = referral_message(servers, glue);
            if let Some(r) = read_referral(&m, &asked) {
                prop_assert_eq!(r.ns.len(), servers.min(MAX_NS_NAMES));
                prop_assert!(r.glue.len() <= MAX_NS_NAMES * MAX_NS_ADDRESSES);
            }
            let mut bytes = m.to_vec().expect("encode");
            for (pos, b) in edits {
                let i = pos % bytes.len();
                bytes[i] = b;
            }
            if let Ok(m) = Message::from_vec(&bytes) {
                if let Some(r) = read_referral(&m, &asked) {
                    prop_assert!(r.ns.len() <= MAX_NS_NAMES);
                }
            }
        }
    }
}
