//! The TLS check's I/O: per address, the CDN's hello (on the connection the TCP check left, if
//! any), the protocol matrix, the CDN-profile handshake, the chain (from the first flight or a
//! recording handshake), and its analysis; with what the address's memory lets it reuse.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use rustls::pki_types::CertificateDer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::classify::unusable_key;
use super::reuse::{self, reuse_cycles, stagger, FlightKey, KnownFinish, KnownMatrix, Plan};
use super::{
    after_classify, cdn_client, classify, client_hello, fallback, findings, finish_classify, mtls,
    refusal, reply, AddressMemory, FinishFrom, Handshake, HelloSpec, Negotiated, Reply, TlsContext,
    TlsMemory, TlsReport,
};
use crate::analysis::{self, ChainReport};
use crate::cdn::{self, CdnProfile, TlsVersion};
use crate::checks::conn::{self, Handoff};
use crate::checks::dial;
use crate::config::Origin;

/// Sends the CDN's request on a handshake that finished with a client certificate and reads the
/// answer (bounded: [`refusal::MAX_ANSWER`] bytes, `read_timeout`, the check's deadline), for an
/// origin that refuses the certificate only after the handshake.
async fn request_after_handshake(
    origin: &Origin,
    address: SocketAddr,
    stream: tokio_openssl::SslStream<TcpStream>,
    deadline: Instant,
) -> refusal::After {
    let spec = origin.http.clone().unwrap_or_default();
    let left = deadline.saturating_duration_since(Instant::now());
    let exchange = crate::checks::http_client::Exchange {
        address,
        scheme: crate::config::Scheme::Https,
        host: origin.sni(),
        method: &spec.method,
        path: &spec.path,
        connect_timeout: left,
        read_timeout: origin.read_timeout.min(left),
        headers: &spec.headers.0,
        keep: &[],
    };
    use crate::checks::http_client::Answer;
    match crate::checks::http_client::ask(&exchange, stream, refusal::MAX_ANSWER).await {
        Answer::Response { status, body, .. } => match refusal::recognise(status, &body) {
            Some(refused) => refusal::After::Refused(refused),
            None => refusal::After::Answered(status),
        },
        Answer::Ended(how) => refusal::After::Ended(how),
        Answer::Invalid(_) => refusal::After::NotHttp,
        Answer::TimedOut => refusal::After::TimedOut,
    }
}

pub(super) type Exchanged = (Reply, reply::Flight);

/// Runs the check against `addr`, within `origin.timeout`, always probing the whole matrix.
pub async fn probe(
    origin: &Origin,
    cdn: &CdnProfile,
    ctx: &TlsContext,
    addr: SocketAddr,
) -> TlsReport {
    let mut memory = AddressMemory::default();
    probe_address(origin, cdn, ctx, addr, &mut memory, &Plan::default(), None).await
}

/// Runs the check against every address in `addrs` at once (the first one's report holds the
/// others' in `more`), within `origin.timeout`, with what `memory` kept of each address and the
/// connections the TCP check left in `handoff`; `None` when `addrs` is empty.
pub async fn probe_all(
    origin: &Origin,
    cdn: &CdnProfile,
    ctx: &TlsContext,
    addrs: &[SocketAddr],
    memory: &mut TlsMemory,
    handoff: &mut Handoff,
) -> Option<TlsReport> {
    let mut kept: Vec<AddressMemory> = addrs
        .iter()
        .map(|a| {
            let at = memory.addresses.iter().position(|(known, _)| known == a);
            at.map(|i| memory.addresses.swap_remove(i).1)
                .unwrap_or_default()
        })
        .collect();
    let plan = Plan {
        reuse: reuse_cycles(origin.interval),
        spread: memory.spread,
    };
    let reports = join_all(addrs.iter().zip(kept.iter_mut()).map(|(addr, mem)| {
        let handed = handoff.take(*addr);
        probe_address(origin, cdn, ctx, *addr, mem, &plan, handed)
    }))
    .await;
    memory.addresses = addrs.iter().copied().zip(kept).collect();
    crate::checks::first_holding_rest(reports, |r: &mut TlsReport| &mut r.more)
}

/// Runs the check against `addr`, within `origin.timeout`, reusing the address's protocol matrix
/// from `memory` when the CDN's hello got the same accepted answer as when it was probed; the
/// CDN's hello goes on `handed` when the TCP check left a connection.
pub(super) async fn probe_address(
    origin: &Origin,
    cdn: &CdnProfile,
    ctx: &TlsContext,
    addr: SocketAddr,
    memory: &mut AddressMemory,
    plan: &Plan,
    handed: Option<TcpStream>,
) -> TlsReport {
    let deadline = Instant::now() + origin.timeout;
    let sni = origin.sni();
    // Kept: a ServerKeyExchange signed over it proves the server's key on this connection.
    let client_random = ctx.random();
    let cdn_hello = client_hello(
        &HelloSpec::cdn_view(cdn, &origin.ssl_protocols),
        sni,
        &client_random,
    );
    let run_matrix = || {
        join_all(TlsVersion::ALL.map(|v| {
            let bytes = client_hello(&HelloSpec::matrix(cdn, v), sni, &ctx.random());
            exchange(addr, bytes, v <= TlsVersion::Tls1_2, deadline, None)
        }))
    };
    // What a new matrix or handshake starts counting its reuses from.
    let first = !std::mem::replace(&mut memory.seen, true);
    let mut deferred = false;
    // Hashed only on an address's first cycle, not on every cycle of every origin.
    let start = if first && plan.spread {
        stagger(&origin.name, addr, plan.reuse)
    } else {
        0
    };
    let known = memory
        .matrix
        .take()
        .filter(|m| m.address == addr && m.reused < plan.reuse);
    let cdn_exchange = exchange(addr, cdn_hello, true, deadline, handed);
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
                let matrix = run_matrix().await;
                let protocols = protocols_of(&matrix);
                (cdn_reply, cdn_flight, matrix, protocols)
            }
        }
        // A scheduled address's first cycle: the matrix only if the hello fails (see
        // `TlsMemory::scheduled`); an accepted one leaves it for a later cycle.
        None if first && plan.spread => {
            let (cdn_reply, cdn_flight) = cdn_exchange.await;
            if accepted(&cdn_reply, cdn, &origin.ssl_protocols).is_some() {
                deferred = true;
                memory.matrix = Some(KnownMatrix {
                    address: addr,
                    cdn_reply: cdn_reply.clone(),
                    protocols: Vec::new(),
                    reused: start,
                });
                (cdn_reply, cdn_flight, Vec::new(), Vec::new())
            } else {
                let matrix = run_matrix().await;
                let protocols = protocols_of(&matrix);
                (cdn_reply, cdn_flight, matrix, protocols)
            }
        }
        None => {
            let ((cdn_reply, cdn_flight), matrix) = futures_util::join!(cdn_exchange, run_matrix());
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
            reused: start,
        });
    } else if accepted.is_none() {
        memory.matrix = None;
    }
    let hello_handshake = classify(
        accepted.is_some(),
        &protocols,
        &origin.ssl_protocols,
        &cdn_reply,
    );
    let mut negotiated = accepted;

    // The CDN's hello was accepted: finish the handshake as the CDN does (OpenSSL, the CDN
    // profile, the client certificate if configured), so a failure at any later step is seen;
    // or reuse the last one that finished after a first flight that proves the same (see
    // KnownFinish).
    let mut finish_from = FinishFrom::ThisCycle;
    let mut after = None;
    let finish = if hello_handshake == Handshake::Accepted {
        let proof = reuse::prove(cdn, &cdn_reply, &cdn_flight, &client_random);
        let flight = FlightKey::of(&cdn_reply, &cdn_flight, proof);
        let known = memory
            .finish
            .take()
            .filter(|k| flight.as_ref() == Some(&k.flight) && k.reused < plan.reuse);
        Some(match known {
            Some(mut known) => {
                known.reused += 1;
                finish_from = FinishFrom::Reused;
                let finish = known.finish.clone();
                memory.finish = Some(known);
                finish
            }
            None => {
                let identity = origin.client_certificate.as_deref();
                let (finish, stream) = match ctx.clients.get(cdn, &origin.ssl_protocols, identity) {
                    Ok(client) => cdn_client::connect(&client, addr, sni, deadline).await,
                    Err(e) => (
                        cdn_client::Finish::Refused {
                            reason: e.to_string(),
                            step: "client setup".into(),
                        },
                        None,
                    ),
                };
                // An origin that asked for a certificate may refuse it only in its answer.
                if let Some(stream) = stream {
                    if cdn_flight.cert_request && identity.is_some() {
                        after = Some(request_after_handshake(origin, addr, stream, deadline).await);
                    }
                }
                match (&finish, flight) {
                    (cdn_client::Finish::Done { .. }, Some(flight)) => {
                        memory.finish = Some(KnownFinish {
                            flight,
                            finish: finish.clone(),
                            reused: start,
                        });
                    }
                    _ => memory.finish = None,
                }
                finish
            }
        })
    } else {
        memory.finish = None;
        None
    };

    // The chain: from the CDN's hello, else from the newest version that showed one in the
    // clear, else from a recording handshake (TLS 1.3 shows it only encrypted).
    let cert_request = cdn_flight.cert_request;
    let mut chain = cdn_flight.chain.or_else(|| {
        matrix
            .into_iter()
            .rev()
            .find_map(|(_, f)| f.chain.filter(|c| !c.is_empty()))
    });
    let handshake = finish_classify(
        hello_handshake,
        finish.as_ref(),
        cert_request,
        origin.client_certificate.is_some(),
        chain
            .as_deref()
            .and_then(|c| c.first())
            .and_then(unusable_key),
    );
    let handshake = after_classify(handshake, after.as_ref());
    let handshake = mtls::without_copy(handshake, mtls::CdnIdentity::of(origin));
    // TLS 1.2 or newer spoken: by a matrix hello, or by the CDN's own (whose matrix may not be
    // probed yet).
    let modern = protocols
        .iter()
        .any(|(v, ok)| *ok && *v >= TlsVersion::Tls1_2)
        || negotiated
            .as_ref()
            .is_some_and(|n| n.version >= TlsVersion::Tls1_2);
    if chain.as_ref().is_none_or(Vec::is_empty) && modern {
        if let Some(rec) = fallback::record_chain(&ctx.recording, addr, sni, deadline).await {
            if negotiated.is_none() {
                negotiated = rec.version.zip(rec.suite).map(|(version, id)| Negotiated {
                    version,
                    cipher: cdn::suite_name(cdn, id),
                });
            }
            chain = Some(rec.chain);
        }
    }
    let chain = match chain.filter(|c| !c.is_empty()) {
        Some(served) => Some(analyse(origin, ctx, &served, deadline).await),
        None => None,
    };
    tracing::debug!(
        origin = %origin.name,
        %addr,
        handshake = ?handshake,
        cdn_reply = %cdn_reply.describe(),
        certificates = chain.as_ref().map_or(0, |c| c.certs.len()),
        "TLS check done"
    );
    let mut report = TlsReport {
        address: addr,
        cdn_reply,
        handshake,
        negotiated,
        protocols,
        chain,
        cert_request,
        finish,
        finish_from,
        after,
        more: Vec::new(),
    };
    // A matrix is left for later only while the check finds nothing wrong: the versions an
    // origin speaks belong to the evidence of any cause it shows (an expiring certificate too).
    if deferred && !findings::address_findings(&report).is_empty() {
        report.protocols = protocols_of(&run_matrix().await);
        if let Some(known) = memory.matrix.as_mut() {
            known.protocols = report.protocols.clone();
        }
    }
    report
}

pub(super) async fn analyse(
    origin: &Origin,
    ctx: &TlsContext,
    served: &[CertificateDer<'static>],
    deadline: Instant,
) -> ChainReport {
    let mut names: Vec<&str> = vec![&origin.domain];
    if let Some(h) = origin
        .host_header
        .as_deref()
        .filter(|h| *h != origin.domain)
    {
        names.push(h);
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let facts = |fetched: &[CertificateDer<'static>]| {
        ctx.facts.get_or_insert(served, fetched, || {
            analysis::facts_with(
                served,
                fetched,
                &ctx.roots,
                Some(&ctx.cdn_store.0),
                ctx.algorithms(),
                now,
            )
        })
    };
    let days = origin.expiry_warning_days;
    let report = analysis::report(&facts(&[]), &names, now, days);
    let Some(url) = report.aia_to_fetch() else {
        return report;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(10) {
        return report;
    }
    let issuers = ctx.aia.issuers(url, left, origin.adhoc).await;
    if issuers.is_empty() {
        return report;
    }
    analysis::report(&facts(&issuers), &names, now, days)
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
