//! The TLS check's I/O: per address, the CDN's hello (on the connection the TCP check left, if
//! any), the protocol matrix, the CDN-profile handshake, the chain (from the first flight or a
//! recording handshake), and its analysis; with what the address's memory lets it reuse.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::classify::unusable_key;
use super::hellos::{hellos, protocols_of, Hellos, Round, Target};
use super::reuse::{self, reuse_cycles, stagger, FlightKey, KnownFinish, Plan};
use super::{
    after_classify, cdn_client, classify, fallback, findings, finish_classify, mtls, refusal,
    AddressMemory, FinishFrom, Handshake, Negotiated, TlsContext, TlsMemory, TlsReport,
};
use crate::analysis::{self, ChainReport};
use crate::cdn::{self, CdnProfile, TlsVersion};
use crate::checks::conn::Handoff;
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

/// How the CDN-profile handshake went this cycle.
#[derive(Default)]
struct Finished {
    finish: Option<cdn_client::Finish>,
    from: FinishFrom,
    after: Option<refusal::After>,
}

/// Runs the check against `addr`, within `origin.timeout`, reusing the address's protocol matrix
/// from `memory` when the CDN's hello got the same accepted answer as when it was probed; the
/// CDN's hello goes on `handed` when the TCP check left a connection. Steps: the hellos, the
/// CDN-profile handshake, the verdict, the chain.
pub(super) async fn probe_address(
    origin: &Origin,
    cdn: &CdnProfile,
    ctx: &TlsContext,
    addr: SocketAddr,
    memory: &mut AddressMemory,
    plan: &Plan,
    handed: Option<TcpStream>,
) -> TlsReport {
    let t = Target {
        origin,
        cdn,
        ctx,
        addr,
        deadline: Instant::now() + origin.timeout,
    };
    // Kept: a ServerKeyExchange signed over it proves the server's key on this connection.
    let client_random = ctx.random();
    let first = !std::mem::replace(&mut memory.seen, true);
    let round = Round {
        first,
        // Hashed only on an address's first cycle, not on every cycle of every origin.
        start: if first && plan.spread {
            stagger(&origin.name, addr, plan.reuse)
        } else {
            0
        },
    };
    let hellos = hellos(&t, &client_random, memory, plan, round, handed).await;
    let hello_handshake = classify(
        hellos.accepted.is_some(),
        &hellos.protocols,
        &origin.ssl_protocols,
        &hellos.cdn_reply,
    );
    let finished = if hello_handshake == Handshake::Accepted {
        finish(&t, &hellos, &client_random, memory, plan, round).await
    } else {
        memory.finish = None;
        Finished::default()
    };
    let Hellos {
        cdn_reply,
        cdn_flight,
        matrix,
        protocols,
        accepted,
        deferred,
    } = hellos;
    // The chain: from the CDN's hello, else from the newest version that showed one in the
    // clear (a recording handshake may add it below: TLS 1.3 shows it only encrypted).
    let cert_request = cdn_flight.cert_request;
    let served = cdn_flight.chain.or_else(|| {
        matrix
            .into_iter()
            .rev()
            .find_map(|(_, f)| f.chain.filter(|c| !c.is_empty()))
    });
    let handshake = verdict(
        origin,
        hello_handshake,
        &finished,
        cert_request,
        served.as_deref(),
    );
    let (chain, negotiated) = chain(&t, served, &protocols, accepted).await;
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
        finish: finished.finish,
        finish_from: finished.from,
        after: finished.after,
        more: Vec::new(),
    };
    // A matrix is left for later only while the check finds nothing wrong: the versions an
    // origin speaks belong to the evidence of any cause it shows (an expiring certificate too).
    if deferred && !findings::address_findings(&report).is_empty() {
        report.protocols = protocols_of(&t.matrix().await);
        if let Some(known) = memory.matrix.as_mut() {
            known.protocols = report.protocols.clone();
        }
    }
    report
}

/// The CDN's hello was accepted: finishes the handshake as the CDN does (OpenSSL, the CDN
/// profile, the client certificate if configured), so a failure at any later step is seen; or
/// reuses the last one that finished after a first flight that proves the same (see
/// `KnownFinish`). Updates the address's known handshake.
async fn finish(
    t: &Target<'_>,
    hellos: &Hellos,
    client_random: &[u8; 32],
    memory: &mut AddressMemory,
    plan: &Plan,
    round: Round,
) -> Finished {
    let (origin, cdn, addr) = (t.origin, t.cdn, t.addr);
    let proof = reuse::prove(cdn, &hellos.cdn_reply, &hellos.cdn_flight, client_random);
    let flight = FlightKey::of(&hellos.cdn_reply, &hellos.cdn_flight, proof);
    let known = memory
        .finish
        .take()
        .filter(|k| flight.as_ref() == Some(&k.flight) && k.reused < plan.reuse);
    if let Some(mut known) = known {
        known.reused += 1;
        let finish = known.finish.clone();
        memory.finish = Some(known);
        return Finished {
            finish: Some(finish),
            from: FinishFrom::Reused,
            after: None,
        };
    }
    let identity = origin.client_certificate.as_deref();
    let (finish, stream) = match t.ctx.clients.get(cdn, &origin.ssl_protocols, identity) {
        Ok(client) => cdn_client::connect(&client, addr, origin.sni(), t.deadline).await,
        Err(e) => (
            cdn_client::Finish::Refused {
                reason: e.to_string(),
                step: "client setup".into(),
            },
            None,
        ),
    };
    // An origin that asked for a certificate may refuse it only in its answer.
    let mut after = None;
    if let Some(stream) = stream {
        if hellos.cdn_flight.cert_request && identity.is_some() {
            after = Some(request_after_handshake(origin, addr, stream, t.deadline).await);
        }
    }
    match (&finish, flight) {
        (cdn_client::Finish::Done { .. }, Some(flight)) => {
            memory.finish = Some(KnownFinish {
                flight,
                finish: finish.clone(),
                reused: round.start,
            });
        }
        _ => memory.finish = None,
    }
    Finished {
        finish: Some(finish),
        from: FinishFrom::ThisCycle,
        after,
    }
}

/// The handshake's verdict: the hello's, with what the CDN-profile handshake, the request after
/// it, the served leaf's key and the CDN's identity (origin mTLS) add. Pure.
fn verdict(
    origin: &Origin,
    hello: Handshake,
    finished: &Finished,
    cert_request: bool,
    served: Option<&[CertificateDer<'static>]>,
) -> Handshake {
    let handshake = finish_classify(
        hello,
        finished.finish.as_ref(),
        cert_request,
        origin.client_certificate.is_some(),
        served.and_then(|c| c.first()).and_then(unusable_key),
    );
    let handshake = after_classify(handshake, finished.after.as_ref());
    mtls::without_copy(handshake, mtls::CdnIdentity::of(origin))
}

/// The served chain analysed, and the version and suite to export: the CDN's hello's when it
/// was accepted. Without a chain in the clear from an origin that speaks TLS 1.2 or newer, a
/// recording handshake gets it (and, when the CDN's hello was not accepted, its version and
/// suite).
async fn chain(
    t: &Target<'_>,
    served: Option<Vec<CertificateDer<'static>>>,
    protocols: &[(TlsVersion, bool)],
    accepted: Option<Negotiated>,
) -> (Option<ChainReport>, Option<Negotiated>) {
    let mut negotiated = accepted;
    let mut chain = served;
    // TLS 1.2 or newer spoken: by a matrix hello, or by the CDN's own (whose matrix may not be
    // probed yet).
    let modern = protocols
        .iter()
        .any(|(v, ok)| *ok && *v >= TlsVersion::Tls1_2)
        || negotiated
            .as_ref()
            .is_some_and(|n| n.version >= TlsVersion::Tls1_2);
    if chain.as_ref().is_none_or(Vec::is_empty) && modern {
        let sni = t.origin.sni();
        if let Some(rec) = fallback::record_chain(&t.ctx.recording, t.addr, sni, t.deadline).await {
            if negotiated.is_none() {
                negotiated = rec.version.zip(rec.suite).map(|(version, id)| Negotiated {
                    version,
                    cipher: cdn::suite_name(t.cdn, id),
                });
            }
            chain = Some(rec.chain);
        }
    }
    let chain = match chain.filter(|c| !c.is_empty()) {
        Some(served) => Some(analyse(t.origin, t.ctx, &served, t.deadline).await),
        None => None,
    };
    (chain, negotiated)
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
