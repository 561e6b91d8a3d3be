//! The hellos of one address's cycle: the CDN's own ClientHello (on the connection the TCP check
//! left, if any) and the protocol matrix (one hello per version), each read up to its first
//! flight and never finished; the matrix reused or left for later as the address's memory allows.

use std::net::SocketAddr;

use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::reuse::{KnownMatrix, Plan};
use super::{client_hello, reply, AddressMemory, HelloSpec, Negotiated, Reply, TlsContext};
use crate::cdn::{CdnProfile, TlsVersion};
use crate::checks::conn;
use crate::checks::dial;
use crate::config::Origin;

pub(super) type Exchanged = (Reply, reply::Flight);

/// One address's cycle: where its connections go, and until when.
pub(super) struct Target<'a> {
    pub(super) origin: &'a Origin,
    pub(super) cdn: &'a CdnProfile,
    pub(super) ctx: &'a TlsContext,
    pub(super) addr: SocketAddr,
    pub(super) deadline: Instant,
}

impl Target<'_> {
    /// The protocol matrix: one hello per version, all at once, each on its own connection.
    pub(super) async fn matrix(&self) -> Vec<Exchanged> {
        let sni = self.origin.sni();
        join_all(TlsVersion::ALL.map(|v| {
            let bytes = client_hello(&HelloSpec::matrix(self.cdn, v), sni, &self.ctx.random());
            exchange(
                self.addr,
                bytes,
                v <= TlsVersion::Tls1_2,
                self.deadline,
                None,
            )
        }))
        .await
    }
}

/// Where an address's cycle stands in its reuse: whether it is the address's first, and what a
/// new matrix or handshake starts counting its reuses from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Round {
    pub(super) first: bool,
    pub(super) start: u32,
}

/// What the hellos of one cycle showed: the CDN's, and the matrix's (probed, reused, or left
/// for a later cycle).
pub(super) struct Hellos {
    pub(super) cdn_reply: Reply,
    pub(super) cdn_flight: reply::Flight,
    /// The matrix hellos' answers, when the matrix was probed this cycle.
    pub(super) matrix: Vec<Exchanged>,
    /// Each version, probed alone (this cycle or reused); empty when left for later.
    pub(super) protocols: Vec<(TlsVersion, bool)>,
    /// The CDN's hello got a version and suite it allows.
    pub(super) accepted: Option<Negotiated>,
    /// The matrix was left for a later cycle (a scheduled address's first, accepted, hello).
    pub(super) deferred: bool,
}

/// The CDN's hello, and the matrix: probed beside it, reused while the CDN's hello gets the same
/// accepted answer as when it was probed, or left for a later cycle (see
/// [`TlsMemory::scheduled`]). Updates the address's known matrix.
pub(super) async fn hellos(
    t: &Target<'_>,
    client_random: &[u8; 32],
    memory: &mut AddressMemory,
    plan: &Plan,
    round: Round,
    handed: Option<TcpStream>,
) -> Hellos {
    let (origin, cdn, addr) = (t.origin, t.cdn, t.addr);
    let cdn_hello = client_hello(
        &HelloSpec::cdn_view(cdn, &origin.ssl_protocols),
        origin.sni(),
        client_random,
    );
    let mut deferred = false;
    let known = memory
        .matrix
        .take()
        .filter(|m| m.address == addr && m.reused < plan.reuse);
    let cdn_exchange = exchange(addr, cdn_hello, true, t.deadline, handed);
    let (cdn_reply, cdn_flight, matrix, protocols): (_, _, Vec<Exchanged>, Vec<_>) = match known {
        Some(mut known) => {
            let (cdn_reply, cdn_flight) = cdn_exchange.await;
            if cdn_reply == known.cdn_reply {
                known.reused += 1;
                let protocols = known.protocols.clone();
                memory.matrix = Some(known);
                (cdn_reply, cdn_flight, Vec::new(), protocols)
            } else {
                // The answer changed: the matrix must explain the new one.
                let matrix = t.matrix().await;
                let protocols = protocols_of(&matrix);
                (cdn_reply, cdn_flight, matrix, protocols)
            }
        }
        // A scheduled address's first cycle: the matrix only if the hello fails (see
        // `TlsMemory::scheduled`); an accepted one leaves it for a later cycle.
        None if round.first && plan.spread => {
            let (cdn_reply, cdn_flight) = cdn_exchange.await;
            if accepted(&cdn_reply, cdn, &origin.ssl_protocols).is_some() {
                deferred = true;
                memory.matrix = Some(KnownMatrix {
                    address: addr,
                    cdn_reply: cdn_reply.clone(),
                    protocols: Vec::new(),
                    reused: round.start,
                });
                (cdn_reply, cdn_flight, Vec::new(), Vec::new())
            } else {
                let matrix = t.matrix().await;
                let protocols = protocols_of(&matrix);
                (cdn_reply, cdn_flight, matrix, protocols)
            }
        }
        None => {
            let ((cdn_reply, cdn_flight), matrix) = futures_util::join!(cdn_exchange, t.matrix());
            let protocols = protocols_of(&matrix);
            (cdn_reply, cdn_flight, matrix, protocols)
        }
    };
    let accepted = accepted(&cdn_reply, cdn, &origin.ssl_protocols);
    if accepted.is_some() && !matrix.is_empty() {
        memory.matrix = Some(KnownMatrix {
            address: addr,
            cdn_reply: cdn_reply.clone(),
            protocols: protocols.clone(),
            reused: round.start,
        });
    } else if accepted.is_none() {
        memory.matrix = None;
    }
    Hellos {
        cdn_reply,
        cdn_flight,
        matrix,
        protocols,
        accepted,
        deferred,
    }
}

/// Which versions the matrix hellos showed the origin speaks.
pub(super) fn protocols_of(matrix: &[Exchanged]) -> Vec<(TlsVersion, bool)> {
    TlsVersion::ALL
        .into_iter()
        .zip(matrix)
        .map(|(v, (reply, _))| (v, speaks(reply, v)))
        .collect()
}

/// One hello on its own connection, until `deadline`.
/// Sends `hello` to `addr` (on `handed`, a connection already open to it, if any) and reads the
/// first flight; the connection is then reset (see [`conn::abort`]).
pub(super) async fn exchange(
    addr: SocketAddr,
    hello: Vec<u8>,
    want_chain: bool,
    deadline: Instant,
    handed: Option<TcpStream>,
) -> Exchanged {
    let work = async {
        let mut stream = match handed {
            Some(stream) => stream,
            None => match dial::connect(addr).await {
                Ok(s) => s,
                Err(e) => return (io_reply(&e), reply::Flight::default()),
            },
        };
        if let Err(e) = stream.write_all(&hello).await {
            return (io_reply(&e), reply::Flight::default());
        }
        let read = reply::read_flight(&mut stream, want_chain).await;
        conn::abort(stream);
        read
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or((Reply::TimedOut, reply::Flight::default()))
}

pub(super) fn io_reply(e: &std::io::Error) -> Reply {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset => Reply::Reset,
        kind => Reply::Io(kind),
    }
}

/// The matrix hello for `version` was answered with exactly that version (a HelloRetryRequest
/// counts for TLS 1.3).
pub(super) fn speaks(reply: &Reply, version: TlsVersion) -> bool {
    reply.hello().is_some_and(|h| h.version == version.wire())
}

/// The CDN's hello got a version it allows and a suite it offered for that version (whether
/// the handshake then went on or broke: [`classify`] tells).
pub(super) fn accepted(
    reply: &Reply,
    cdn: &CdnProfile,
    allowed: &[TlsVersion],
) -> Option<Negotiated> {
    let h = reply.hello()?;
    let version = TlsVersion::from_wire(h.version).filter(|v| allowed.contains(v))?;
    let suite = cdn.suites_for(version).find(|s| s.id == h.suite)?;
    Some(Negotiated {
        version,
        cipher: suite.openssl_name.to_string(),
    })
}
