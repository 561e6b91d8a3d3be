//! TLS check: the origin as the CDN sees it. The CDN's own ClientHello, one hello per protocol
//! version (the matrix), all at once on separate connections, read without finishing any
//! handshake; then the served chain (from the plaintext Certificate message, or from a
//! recording rustls handshake for TLS 1.3-only origins) analysed by [`crate::analysis`].

pub mod aia;
pub mod cdn_client;
mod check;
pub mod facts_cache;
pub mod fallback;
mod findings;
pub mod hello;
pub mod mtls;
pub mod proof;
pub mod refusal;
pub mod reply;
mod reuse;
mod series;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::conn::{self, Handoff};
use super::dial;
use super::ContextError;
use crate::analysis::{self, ChainReport};
use crate::cdn::{self, CdnProfile, TlsVersion};
use crate::config::Origin;
pub use reuse::{contradiction, forget_contradicted};
use reuse::{FlightKey, KnownFinish};

pub use check::TlsCheck;
pub use hello::{client_hello, HelloSpec};
pub use reply::{Reply, ServerHello};

/// What the TLS check shares across probes: parsed roots, the recording rustls config, the AIA
/// cache. Built once per config.
#[derive(Debug)]
pub struct TlsContext {
    /// The CDN's trust store: Mozilla's roots (webpki-roots) plus `global.ca_file`.
    pub roots: RootCertStore,
    /// The same roots for OpenSSL, whose chain building (first matching issuer, no
    /// backtracking) is the CDN's: it judges trust.
    pub cdn_store: CdnStore,
    pub provider: Arc<CryptoProvider>,
    pub recording: Arc<ClientConfig>,
    pub aia: aia::AiaCache,
    /// Analysed chains by content: most origins serve the same chain every cycle.
    facts: facts_cache::FactsCache,
    /// The CDN-profile OpenSSL clients, per allowed versions and client certificate.
    pub clients: cdn_client::CdnClients,
}

impl TlsContext {
    /// The context with `ca_file` read now (see [`Self::from_pem`]).
    pub fn new(ca_file: Option<&Path>) -> Result<TlsContext, ContextError> {
        match ca_file {
            None => Self::from_pem(None),
            Some(path) => {
                let pem = super::context::read_ca_file(path)?;
                Self::from_pem(Some((path, &pem)))
            }
        }
    }

    /// The context with the roots of `ca_file`, given as the file's path and the content read
    /// from it (the content is what a reload compares).
    pub fn from_pem(ca_file: Option<(&Path, &[u8])>) -> Result<TlsContext, ContextError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut whole: Vec<CertificateDer<'static>> =
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec();
        if let Some((path, pem)) = ca_file {
            let err = |reason: String| ContextError::CaFile {
                file: path.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no PEM certificate in the file".into()));
            }
            for cert in certs {
                roots.add(cert.clone()).map_err(|e| err(e.to_string()))?;
                whole.push(cert);
            }
        }
        let cdn_store = analysis::cdn_store(whole.iter().map(|c| c.as_ref()))
            .map(CdnStore)
            .map_err(|e| ContextError::Tls(rustls::Error::General(e.to_string())))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let recording =
            fallback::recording_config(Arc::clone(&provider)).map_err(ContextError::Tls)?;
        Ok(TlsContext {
            roots,
            cdn_store,
            provider,
            recording: Arc::new(recording),
            aia: aia::AiaCache::default(),
            facts: facts_cache::FactsCache::default(),
            clients: cdn_client::CdnClients::default(),
        })
    }

    fn algorithms(&self) -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        self.provider.signature_verification_algorithms.all
    }

    fn random(&self) -> [u8; 32] {
        let mut r = [0u8; 32];
        // The random only has to differ between hellos; a failing RNG leaves zeros, harmless
        // for a handshake that is never finished.
        let _ = self.provider.secure_random.fill(&mut r);
        r
    }
}

/// OpenSSL's trust store of the CDN's roots (a newtype: `X509Store` has no `Debug`).
pub struct CdnStore(pub openssl::x509::store::X509Store);

impl std::fmt::Debug for CdnStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CdnStore")
    }
}

/// What one TLS check found.
#[derive(Debug, Clone)]
pub struct TlsReport {
    /// Where the hellos went.
    pub address: SocketAddr,
    /// The origin's answer to the CDN's own hello.
    pub cdn_reply: Reply,
    pub handshake: Handshake,
    /// Version and suite to export: the CDN's handshake when it worked, else the recording
    /// handshake's (a TLS 1.3-only origin shows what it speaks).
    pub negotiated: Option<Negotiated>,
    /// Each version, probed alone.
    pub protocols: Vec<(TlsVersion, bool)>,
    /// The served chain, analysed; `None` when no certificate could be obtained.
    pub chain: Option<ChainReport>,
    /// The origin's first flight asked for a client certificate (CertificateRequest).
    pub cert_request: bool,
    /// How the CDN-profile handshake (OpenSSL) ended; `None` when it was not attempted (the
    /// CDN's hello already failed).
    pub finish: Option<cdn_client::Finish>,
    /// Which handshake `finish` is.
    pub finish_from: FinishFrom,
    /// What the CDN's request sent over the finished handshake got, when the origin asked for a
    /// client certificate and one was presented.
    pub after: Option<refusal::After>,
    /// The same check on the origin's other open addresses, in order (each with `more` empty):
    /// the CDN connects to any of them. This report is the first address's, whose series are
    /// exported.
    pub more: Vec<TlsReport>,
}

impl TlsReport {
    /// This address's report, then the other addresses'.
    pub fn all(&self) -> impl Iterator<Item = &TlsReport> {
        std::iter::once(self).chain(self.more.iter())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub version: TlsVersion,
    pub cipher: String,
}

/// How the CDN's hello ended, in the terms of SPEC.md's causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    Accepted,
    /// The origin speaks TLS, but none of the versions in `ssl_protocols`. `supported` is empty
    /// when the origin refused the CDN's hello as `protocol_version` and no version's own hello
    /// succeeded either (a server whose minimum version its library cannot speak).
    ProtocolMismatch {
        supported: Vec<TlsVersion>,
        allowed: Vec<TlsVersion>,
    },
    /// The origin accepts an allowed version, but none of the CDN's suites for it.
    CipherMismatch {
        versions: Vec<TlsVersion>,
    },
    /// Not TLS, reset, timeout, or an alert that no other hello explains.
    Failed(Reply),
    /// The hello was accepted, but the CDN-profile handshake broke at a later step.
    Unfinished(cdn_client::Finish),
    /// The certificate's key fits none of the signature schemes the CDN offers (Ed25519...).
    KeyMismatch {
        key: String,
    },
    /// The origin asks for a client certificate and the origin has no `client_certificate`.
    ClientCertificateRequired {
        finish: cdn_client::Finish,
    },
    /// The origin refused the configured client certificate.
    ClientCertificateRejected(Rejection),
    /// The origin asks for a client certificate and the CDN presents one (the distribution's
    /// origin mTLS) that the exporter has no copy of: the handshake went without one, so what
    /// the origin would say to the CDN's is unknown. No cause.
    ClientCertificateUnchecked {
        finish: cdn_client::Finish,
    },
}

/// Which handshake a report's `finish` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishFrom {
    /// Made by this check this cycle (or none was made).
    #[default]
    ThisCycle,
    /// One of an earlier cycle, reused because this cycle's first flight proves it would end the
    /// same (see `reuse::KnownFinish`).
    Reused,
    /// The HTTP check's own handshake this cycle, which failed where this check reused one: it
    /// contradicts the reuse ([`contradiction`]), and the next cycle makes a new one.
    HttpCheck,
}

/// How an origin refused the configured client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// In the handshake: an alert about the certificate, or the connection ended.
    Handshake(cdn_client::Finish),
    /// The handshake finished, then the origin closed the connection before answering the
    /// CDN's request, or answered that it refuses the certificate.
    After(refusal::After),
}

impl Rejection {
    pub fn describe(&self) -> String {
        match self {
            Rejection::Handshake(finish) => finish.describe(),
            Rejection::After(after) => after.describe(),
        }
    }
}

/// How long an origin's protocol matrix and its finished CDN-profile handshake may be reused
/// while the CDN's hello keeps getting the same answer: both are made again at least this often.
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);

/// How many cycles in a row may reuse what was probed, at `interval`: the refresh comes at
/// least every [`REFRESH_AFTER`] (14 reuses, every 15th cycle, at the default 60 s interval).
pub fn reuse_cycles(interval: Duration) -> u32 {
    let cycles = REFRESH_AFTER.as_millis() / interval.as_millis().max(1);
    u32::try_from(cycles).unwrap_or(u32::MAX).saturating_sub(1)
}

/// What the TLS check remembers of one origin between its cycles, per address.
#[derive(Debug, Default, Clone)]
pub struct TlsMemory {
    addresses: Vec<(SocketAddr, AddressMemory)>,
    /// Spread the occasional extra work over the origin's first cycles (see [`Self::scheduled`]).
    spread: bool,
}

impl TlsMemory {
    /// The memory of an origin the scheduler probes for good. A start or reload with many
    /// origins would otherwise make every one of them probe its protocol matrix (five hellos,
    /// each a key exchange and a signature for the origin) in the same first interval and again
    /// in the same later ones. Here an address whose CDN hello is accepted in its first cycle
    /// probes its matrix later, and its first refreshes fall on a cycle chosen by a stable hash
    /// of the origin and address, so each cycle refreshes about 1/15 of the fleet. A hello that
    /// fails probes the matrix at once, as always.
    pub fn scheduled() -> Self {
        TlsMemory {
            addresses: Vec::new(),
            spread: true,
        }
    }
}

/// What the TLS check remembers of one address between its cycles. The protocol matrix costs five
/// of the check's seven connections, and for an origin whose CDN hello keeps being accepted with
/// the same answer it does not change the verdict (the handshake is `Accepted` whatever the
/// matrix says) and rarely changes at all: such an origin re-probes it only every
/// [`reuse_cycles`] + 1 cycles. Any other CDN answer, a new address, or a first cycle (outside
/// [`TlsMemory::scheduled`]) probes the matrix at once, so every failure is still classified
/// from a fresh matrix.
#[derive(Debug, Default, Clone)]
pub struct AddressMemory {
    matrix: Option<KnownMatrix>,
    finish: Option<KnownFinish>,
    /// A cycle has probed this address before.
    seen: bool,
}

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
    let exchange = super::http::Exchange {
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
    use super::http::Answer;
    match super::http::ask(&exchange, stream, refusal::MAX_ANSWER).await {
        Answer::Response { status, body, .. } => match refusal::recognise(status, &body) {
            Some(refused) => refusal::After::Refused(refused),
            None => refusal::After::Answered(status),
        },
        Answer::Ended(how) => refusal::After::Ended(how),
        Answer::Invalid(_) => refusal::After::NotHttp,
        Answer::TimedOut => refusal::After::TimedOut,
    }
}

#[derive(Debug, Clone)]
struct KnownMatrix {
    address: SocketAddr,
    /// The CDN hello's answer when the matrix was probed; reused only while it is the same.
    cdn_reply: Reply,
    /// Empty when not probed yet (a scheduled address whose first CDN hello was accepted).
    protocols: Vec<(TlsVersion, bool)>,
    /// Cycles since the matrix was probed.
    reused: u32,
}

type Exchanged = (Reply, reply::Flight);

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
    super::first_holding_rest(reports, |r: &mut TlsReport| &mut r.more)
}

/// The reuse count an address's first matrix and handshake start from, 0 to `limit`: their first
/// refresh falls 1 to `limit` + 1 cycles later, evenly over a fleet, stable across restarts.
fn stagger(origin: &str, addr: SocketAddr, limit: u32) -> u32 {
    let key = format!("{origin}/{addr}");
    let spread = crate::scheduler::stable_hash(&key) % (u64::from(limit) + 1);
    u32::try_from(spread).unwrap_or(0)
}

/// How one address's cycle may reuse what it probed before.
#[derive(Debug, Clone, Copy, Default)]
struct Plan {
    /// Cycles in a row the matrix and a finished handshake may be reused ([`reuse_cycles`]).
    reuse: u32,
    /// A scheduled origin ([`TlsMemory::scheduled`]): an address's first matrix may wait, and
    /// its first matrix and handshake start their reuse count from [`stagger`].
    spread: bool,
}

/// Runs the check against `addr`, within `origin.timeout`, reusing the address's protocol matrix
/// from `memory` when the CDN's hello got the same accepted answer as when it was probed; the
/// CDN's hello goes on `handed` when the TCP check left a connection.
async fn probe_address(
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

async fn analyse(
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
fn protocols_of(matrix: &[Exchanged]) -> Vec<(TlsVersion, bool)> {
    TlsVersion::ALL
        .into_iter()
        .zip(matrix)
        .map(|(v, (reply, _))| (v, speaks(reply, v)))
        .collect()
}

/// One hello on its own connection, until `deadline`.
/// Sends `hello` to `addr` (on `handed`, a connection already open to it, if any) and reads the
/// first flight; the connection is then reset (see [`conn::abort`]).
async fn exchange(
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

fn io_reply(e: &std::io::Error) -> Reply {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset => Reply::Reset,
        kind => Reply::Io(kind),
    }
}

/// The matrix hello for `version` was answered with exactly that version (a HelloRetryRequest
/// counts for TLS 1.3).
fn speaks(reply: &Reply, version: TlsVersion) -> bool {
    reply.hello().is_some_and(|h| h.version == version.wire())
}

/// The CDN's hello got a version it allows and a suite it offered for that version (whether
/// the handshake then went on or broke: [`classify`] tells).
fn accepted(reply: &Reply, cdn: &CdnProfile, allowed: &[TlsVersion]) -> Option<Negotiated> {
    let h = reply.hello()?;
    let version = TlsVersion::from_wire(h.version).filter(|v| allowed.contains(v))?;
    let suite = cdn.suites_for(version).find(|s| s.id == h.suite)?;
    Some(Negotiated {
        version,
        cipher: suite.openssl_name.to_string(),
    })
}

/// Names why the CDN's hello failed, from what the version-by-version hellos showed.
pub fn classify(
    accepted: bool,
    protocols: &[(TlsVersion, bool)],
    allowed: &[TlsVersion],
    cdn_reply: &Reply,
) -> Handshake {
    if accepted {
        // The origin chose what the CDN offered, then broke the handshake (garbage, a reset, an
        // oversized certificate...): the CDN's handshake fails, and nothing else explains it.
        return match cdn_reply {
            Reply::HelloThen(..) => Handshake::Failed(cdn_reply.clone()),
            _ => Handshake::Accepted,
        };
    }
    let supported: Vec<TlsVersion> = protocols
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(v, _)| *v)
        .collect();
    let usable: Vec<TlsVersion> = supported
        .iter()
        .copied()
        .filter(|v| allowed.contains(v))
        .collect();
    if !usable.is_empty() {
        Handshake::CipherMismatch { versions: usable }
    } else if !supported.is_empty() || *cdn_reply == Reply::Alert(PROTOCOL_VERSION) {
        // The origin names the mismatch itself: RFC 5246 7.2.2 and RFC 8446 6.2 send
        // protocol_version for a version "recognized but not supported". lighttpd with mbedTLS
        // 2.28 set to TLS 1.3 only answers every hello so, the version hellos included.
        Handshake::ProtocolMismatch {
            supported,
            allowed: allowed.to_vec(),
        }
    } else {
        Handshake::Failed(cdn_reply.clone())
    }
}

/// The `protocol_version` alert (70).
const PROTOCOL_VERSION: u8 = 70;

/// What the CDN-profile handshake adds to the hello's verdict: a later step that broke, a
/// client certificate asked for or refused, a certificate key no offered scheme fits.
pub fn finish_classify(
    hello: Handshake,
    finish: Option<&cdn_client::Finish>,
    cert_request: bool,
    has_identity: bool,
    unusable_key: Option<String>,
) -> Handshake {
    use cdn_client::Finish;
    let finished = matches!(finish, Some(Finish::Done { .. }));
    // A key the CDN cannot verify a signature of breaks every handshake that chose it.
    if let Some(key) = unusable_key {
        let refused = matches!(
            hello,
            Handshake::Accepted | Handshake::Failed(_) | Handshake::CipherMismatch { .. }
        );
        if !finished && refused {
            return Handshake::KeyMismatch { key };
        }
    }
    if hello != Handshake::Accepted {
        return hello;
    }
    let Some(finish) = finish else {
        return hello;
    };
    match (finished, cert_request, has_identity) {
        // Without origin mTLS the CDN drops the request of an origin that asks, whether or not
        // the origin would go on without one (`ssl_verify_client optional`).
        (_, true, false) => Handshake::ClientCertificateRequired {
            finish: finish.clone(),
        },
        (true, _, _) => Handshake::Accepted,
        (false, true, true) if refuses_certificate(finish) => {
            Handshake::ClientCertificateRejected(Rejection::Handshake(finish.clone()))
        }
        (false, _, _) => Handshake::Unfinished(finish.clone()),
    }
}

/// What the request sent over a handshake that finished with the client certificate adds: the
/// origin that closed the connection unanswered, or answered that it refuses the certificate,
/// refused it ([`refusal`]); any other answer leaves the verdict to the HTTP check.
pub fn after_classify(handshake: Handshake, after: Option<&refusal::After>) -> Handshake {
    match after {
        Some(after) if handshake == Handshake::Accepted && after.refuses() => {
            Handshake::ClientCertificateRejected(Rejection::After(after.clone()))
        }
        _ => handshake,
    }
}

/// Alerts a server sends about the client's certificate (RFC 5246 7.2.2, RFC 8446 6.2), or the
/// connection ending right after the client's certificate was sent.
fn refuses_certificate(finish: &cdn_client::Finish) -> bool {
    use cdn_client::Finish;
    match finish {
        Finish::AlertReceived { alert, .. } => {
            matches!(alert, 40 | 42 | 43 | 44 | 45 | 46 | 48 | 49 | 51 | 116)
        }
        Finish::Io(_) | Finish::Refused { .. } => true,
        Finish::Done { .. } | Finish::TimedOut => false,
    }
}

/// The leaf's key type when no signature scheme of the CDN fits it (only RSA and ECDSA do).
fn unusable_key(leaf: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf).ok()?;
    let oid = cert.public_key().algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.10045.2.1" => None,
        "1.3.101.112" => Some("Ed25519".into()),
        "1.3.101.113" => Some("Ed448".into()),
        "1.2.840.113549.1.1.10" => Some("RSA-PSS".into()),
        "1.2.840.10040.4.1" => Some("DSA".into()),
        other => Some(format!("OID {other}")),
    }
}

/// Reports for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// An address whose CDN hello was accepted (TLS 1.2) and whose handshake finished, no chain.
    pub fn report(address: SocketAddr) -> TlsReport {
        let hello = ServerHello {
            version: 0x0303,
            suite: 0xC02F,
            retry: false,
        };
        TlsReport {
            address,
            cdn_reply: Reply::Hello(hello),
            handshake: Handshake::Accepted,
            negotiated: Some(Negotiated {
                version: TlsVersion::Tls1_2,
                cipher: "ECDHE-RSA-AES128-GCM-SHA256".into(),
            }),
            protocols: Vec::new(),
            chain: None,
            cert_request: false,
            finish: Some(cdn_client::Finish::Done {
                version: "TLSv1.2",
                cipher: "ECDHE-RSA-AES128-GCM-SHA256",
            }),
            finish_from: FinishFrom::ThisCycle,
            after: None,
            more: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TlsVersion::*;

    fn matrix(ok: &[TlsVersion]) -> Vec<(TlsVersion, bool)> {
        TlsVersion::ALL
            .iter()
            .map(|v| (*v, ok.contains(v)))
            .collect()
    }

    #[test]
    fn classification_table() {
        let alert = Reply::Alert(40);
        let cases = [
            (true, matrix(&[Tls1_2]), vec![Tls1_2], Handshake::Accepted),
            (
                false,
                matrix(&[Tls1_0]),
                vec![Tls1_2],
                Handshake::ProtocolMismatch {
                    supported: vec![Tls1_0],
                    allowed: vec![Tls1_2],
                },
            ),
            (
                false,
                matrix(&[Tls1_3]),
                vec![Tls1_0, Tls1_1, Tls1_2],
                Handshake::ProtocolMismatch {
                    supported: vec![Tls1_3],
                    allowed: vec![Tls1_0, Tls1_1, Tls1_2],
                },
            ),
            (
                false,
                matrix(&[Tls1_2, Tls1_3]),
                vec![Tls1_2],
                Handshake::CipherMismatch {
                    versions: vec![Tls1_2],
                },
            ),
            (
                false,
                matrix(&[]),
                vec![Tls1_2],
                Handshake::Failed(alert.clone()),
            ),
        ];
        for (ok, protocols, allowed, want) in cases {
            assert_eq!(classify(ok, &protocols, &allowed, &alert), want);
        }
        // protocol_version to the CDN's hello: a mismatch in the origin's own words, even when
        // no version's hello succeeds (lighttpd + mbedTLS 2.28, TLS 1.3 only); any other
        // refusal of every hello stays a failed handshake.
        let refused = Reply::Alert(70);
        assert_eq!(
            classify(false, &matrix(&[]), &[Tls1_2], &refused),
            Handshake::ProtocolMismatch {
                supported: vec![],
                allowed: vec![Tls1_2],
            }
        );
        for other in [Reply::Alert(40), Reply::Closed, Reply::Reset, Reply::NotTls] {
            assert_eq!(
                classify(false, &matrix(&[]), &[Tls1_2], &other),
                Handshake::Failed(other.clone())
            );
        }
        // An acceptable hello followed by a reset is a failed handshake, not a mismatch.
        let broken = Reply::HelloThen(
            ServerHello {
                version: 0x0303,
                suite: 0xC02F,
                retry: false,
            },
            Box::new(Reply::Reset),
        );
        assert_eq!(
            classify(true, &matrix(&[Tls1_2]), &[Tls1_2], &broken),
            Handshake::Failed(broken.clone())
        );
    }

    #[test]
    fn finishing_the_handshake_table() {
        use cdn_client::Finish;
        let done = Finish::Done {
            version: "TLSv1.2",
            cipher: "AES128-SHA",
        };
        let alert = |a| Finish::AlertReceived {
            alert: a,
            step: "SSLv3/TLS read server key exchange".into(),
        };
        let failed = Handshake::Failed(Reply::Alert(40));
        let ed = || Some("Ed25519".to_string());
        let key = Handshake::KeyMismatch {
            key: "Ed25519".into(),
        };
        // (hello verdict, finish, cert_request, identity, unusable key, want)
        let cases = [
            (
                Handshake::Accepted,
                Some(done.clone()),
                false,
                false,
                None,
                Handshake::Accepted,
            ),
            (
                Handshake::Accepted,
                Some(alert(80)),
                false,
                false,
                None,
                Handshake::Unfinished(alert(80)),
            ),
            // `ssl_verify_client optional`: the handshake finishes, the CDN still drops it.
            (
                Handshake::Accepted,
                Some(done.clone()),
                true,
                false,
                None,
                Handshake::ClientCertificateRequired {
                    finish: done.clone(),
                },
            ),
            (
                Handshake::Accepted,
                Some(alert(116)),
                true,
                false,
                None,
                Handshake::ClientCertificateRequired { finish: alert(116) },
            ),
            (
                Handshake::Accepted,
                Some(done.clone()),
                true,
                true,
                None,
                Handshake::Accepted,
            ),
            (
                Handshake::Accepted,
                Some(alert(48)),
                true,
                true,
                None,
                Handshake::ClientCertificateRejected(Rejection::Handshake(alert(48))),
            ),
            // A failure unrelated to the certificate the server asked for.
            (
                Handshake::Accepted,
                Some(Finish::TimedOut),
                true,
                true,
                None,
                Handshake::Unfinished(Finish::TimedOut),
            ),
            // Go: ServerHello, Certificate (Ed25519), then alert 40.
            (failed.clone(), None, false, false, ed(), key.clone()),
            // OpenSSL: no suite for the key; the matrix shows TLS 1.2 and the certificate.
            (
                Handshake::CipherMismatch {
                    versions: vec![Tls1_2],
                },
                None,
                false,
                false,
                ed(),
                key.clone(),
            ),
            (
                Handshake::Accepted,
                Some(alert(40)),
                false,
                false,
                ed(),
                key,
            ),
            (failed.clone(), None, false, false, None, failed.clone()),
            (
                Handshake::ProtocolMismatch {
                    supported: vec![Tls1_3],
                    allowed: vec![Tls1_2],
                },
                None,
                false,
                false,
                ed(),
                Handshake::ProtocolMismatch {
                    supported: vec![Tls1_3],
                    allowed: vec![Tls1_2],
                },
            ),
        ];
        for (hello, finish, request, identity, key, want) in cases {
            let got = finish_classify(hello.clone(), finish.as_ref(), request, identity, key);
            assert_eq!(
                got, want,
                "{hello:?} {finish:?} request={request} identity={identity}"
            );
        }
    }

    #[test]
    fn ca_file_adds_roots_and_bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mozilla = TlsContext::new(None).unwrap().roots.len();
        assert!(mozilla > 100, "webpki-roots: {mozilla}");

        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, &pem).unwrap();
        assert_eq!(
            TlsContext::new(Some(&good)).unwrap().roots.len(),
            mozilla + 1
        );

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        for bad in [&empty, &missing] {
            match TlsContext::new(Some(bad)) {
                Err(ContextError::CaFile { file, .. }) => assert!(file.ends_with(".pem")),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn acceptance_needs_an_allowed_version_and_a_cdn_suite() {
        let hello = |version, suite| {
            Reply::Hello(ServerHello {
                version,
                suite,
                retry: false,
            })
        };
        let cf = &cdn::CLOUDFRONT;
        let got = accepted(&hello(0x0303, 0x002F), cf, &[Tls1_2]).unwrap();
        assert_eq!((got.version, got.cipher.as_str()), (Tls1_2, "AES128-SHA"));
        assert!(accepted(&hello(0x0301, 0x002F), cf, &[Tls1_2]).is_none());
        assert!(accepted(&hello(0x0303, 0xCCA8), cf, &[Tls1_2]).is_none());
        // A TLS 1.2-only suite chosen in TLS 1.0 is not one the CDN offered there.
        assert!(accepted(&hello(0x0301, 0xC02F), cf, &[Tls1_0]).is_none());
        assert!(accepted(&Reply::Closed, cf, &[Tls1_2]).is_none());
    }

    /// A loopback "origin" that answers every hello with a TLS 1.2 ServerHello choosing `suite`
    /// and a one-byte "certificate" (so no recording handshake is needed), and counts connections.
    async fn canned_origin(
        suite: Arc<std::sync::atomic::AtomicU16>,
        connections: Arc<std::sync::atomic::AtomicUsize>,
    ) -> SocketAddr {
        use std::sync::atomic::Ordering;
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let suite = suite.load(Ordering::SeqCst).to_be_bytes();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = conn.read(&mut buf).await;
                    let mut hello = vec![2, 0, 0, 38, 3, 3];
                    hello.extend_from_slice(&[1; 32]);
                    hello.extend_from_slice(&[0, suite[0], suite[1], 0]);
                    hello.extend_from_slice(&[11, 0, 0, 7, 0, 0, 4, 0, 0, 1, b'x', 14, 0, 0, 0]);
                    let mut record = vec![22, 3, 3, 0, hello.len() as u8];
                    record.extend(hello);
                    let _ = conn.write_all(&record).await;
                });
            }
        });
        addr
    }

    /// One cycle of the TLS check against `addr`: its report, and how many connections the
    /// origin counted for it.
    pub(super) async fn counted_cycle(
        origin: &Origin,
        ctx: &TlsContext,
        memory: &mut TlsMemory,
        addr: SocketAddr,
        connections: &std::sync::atomic::AtomicUsize,
    ) -> (TlsReport, usize) {
        use std::sync::atomic::Ordering;
        let before = connections.load(Ordering::SeqCst);
        let (addrs, mut handoff) = ([addr], Handoff::default());
        let cycle = probe_all(origin, &cdn::CLOUDFRONT, ctx, &addrs, memory, &mut handoff);
        let report = dial::within(crate::netpolicy::Reach::Configured, cycle)
            .await
            .expect("one address");
        (report, connections.load(Ordering::SeqCst) - before)
    }

    #[tokio::test]
    async fn the_matrix_is_reused_only_while_the_cdn_answer_stays_the_same() {
        use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
        let suite = Arc::new(AtomicU16::new(0xC02F));
        let connections = Arc::new(AtomicUsize::new(0));
        let addr = canned_origin(Arc::clone(&suite), Arc::clone(&connections)).await;
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tls]}]",
            Path::new("t.yaml"),
        )
        .unwrap();
        let origin = &cfg.origins[0];
        let ctx = TlsContext::new(None).unwrap();
        let mut memory = TlsMemory::default();
        // One cycle: its report and how many connections the origin accepted for it.
        macro_rules! cycle {
            () => {
                counted_cycle(origin, &ctx, &mut memory, addr, &connections).await
            };
        }
        // The canned origin accepts the hello but cannot finish a handshake: the CDN-profile
        // handshake (one more connection per accepted hello) says so.
        let (first, n) = cycle!();
        assert!(
            matches!(first.handshake, Handshake::Unfinished(_)),
            "{:?}",
            first.handshake
        );
        assert_eq!(n, 7);
        assert_eq!(first.protocols, matrix(&[Tls1_2]));
        let reuses = reuse_cycles(origin.interval);
        assert_eq!(reuses, 14, "every 15th cycle at the default 60 s");
        for _ in 0..reuses {
            let (again, n) = cycle!();
            assert_eq!(n, 2, "only the CDN hello and its handshake");
            assert_eq!(again.protocols, first.protocols);
        }
        assert_eq!(cycle!().1, 7, "refreshed after {reuses} reuses");
        assert_eq!(cycle!().1, 2);
        // Another answer (a suite CloudFront does not offer): the matrix is probed again at once,
        // and not reused while the hello fails.
        suite.store(0xCCA8, Ordering::SeqCst);
        let (failed, n) = cycle!();
        assert_eq!(n, 6, "the CDN hello, then the matrix");
        assert_eq!(
            failed.handshake,
            Handshake::CipherMismatch {
                versions: vec![Tls1_2]
            }
        );
        assert_eq!(cycle!().1, 6);
    }

    /// A key no CDN scheme fits breaks only a handshake that did not finish: one that finished
    /// (the key was never used to sign) keeps its own verdict.
    #[test]
    fn an_unusable_key_does_not_override_a_finished_handshake() {
        let done = cdn_client::Finish::Done {
            version: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
        };
        let ed = || Some("Ed25519".to_string());
        assert_eq!(
            finish_classify(Handshake::Accepted, Some(&done), false, false, ed()),
            Handshake::Accepted
        );
        assert_eq!(
            finish_classify(Handshake::Accepted, Some(&done), true, false, ed()),
            Handshake::ClientCertificateRequired {
                finish: done.clone()
            }
        );
        // Without a finish at all, the hello's verdict stands.
        assert_eq!(
            finish_classify(Handshake::Accepted, None, true, false, None),
            Handshake::Accepted
        );
    }

    /// The CDN's request over a handshake that finished with the client certificate: an
    /// unanswered close or an answer about the certificate is a refusal; any other answer leaves
    /// the verdict to the HTTP check; nothing changes a verdict that is not `Accepted`.
    #[test]
    fn what_the_request_after_the_handshake_adds() {
        use refusal::After;
        let nginx = refusal::recognise(400, b"The SSL certificate error").expect("a refusal");
        let rejected = |after: After| Handshake::ClientCertificateRejected(Rejection::After(after));
        let cases = [
            (Handshake::Accepted, None, Handshake::Accepted),
            (
                Handshake::Accepted,
                Some(After::Answered(200)),
                Handshake::Accepted,
            ),
            (
                Handshake::Accepted,
                Some(After::Answered(403)),
                Handshake::Accepted,
            ),
            (
                Handshake::Accepted,
                Some(After::NotHttp),
                Handshake::Accepted,
            ),
            (
                Handshake::Accepted,
                Some(After::TimedOut),
                Handshake::Accepted,
            ),
            (
                Handshake::Accepted,
                Some(After::Refused(nginx.clone())),
                rejected(After::Refused(nginx.clone())),
            ),
            (
                Handshake::Accepted,
                Some(After::Ended("a reset".into())),
                rejected(After::Ended("a reset".into())),
            ),
            (
                Handshake::Failed(Reply::Alert(40)),
                Some(After::Ended("a reset".into())),
                Handshake::Failed(Reply::Alert(40)),
            ),
        ];
        for (handshake, after, want) in cases {
            assert_eq!(
                after_classify(handshake.clone(), after.as_ref()),
                want,
                "{handshake:?} {after:?}"
            );
        }
    }

    #[test]
    fn refused_certificates_are_the_certificate_alerts_and_a_dropped_connection() {
        use cdn_client::Finish;
        let refused = |finish: Finish| {
            finish_classify(Handshake::Accepted, Some(&finish), true, true, None)
                == Handshake::ClientCertificateRejected(Rejection::Handshake(finish))
        };
        let alert = |alert| Finish::AlertReceived {
            alert,
            step: "SSLv3/TLS read finished".into(),
        };
        for a in [40, 42, 43, 44, 45, 46, 48, 49, 51, 116] {
            assert!(refused(alert(a)), "alert {a}");
        }
        for a in [0, 10, 47, 50, 70, 80, 112] {
            assert!(!refused(alert(a)), "alert {a}");
        }
        assert!(refused(Finish::Io("connection reset".into())));
        assert!(refused(Finish::Refused {
            reason: "unexpected message".into(),
            step: "SSLv3/TLS read finished".into(),
        }));
        assert!(!refused(Finish::TimedOut));
    }

    #[test]
    fn a_version_is_spoken_only_when_the_hello_names_it() {
        let hello = |version| ServerHello {
            version,
            suite: 0x1301,
            retry: false,
        };
        assert!(speaks(&Reply::Hello(hello(0x0303)), Tls1_2));
        assert!(!speaks(&Reply::Hello(hello(0x0303)), Tls1_3));
        assert!(speaks(
            &Reply::HelloThen(hello(0x0304), Box::new(Reply::Reset)),
            Tls1_3
        ));
        assert!(!speaks(&Reply::Alert(70), Tls1_2));
        // Each matrix hello is judged against its own version.
        let replies: Vec<Exchanged> = TlsVersion::ALL
            .into_iter()
            .map(|v| {
                let reply = match v {
                    Tls1_2 => Reply::Hello(hello(0x0303)),
                    // An origin answering a TLS 1.1 hello with TLS 1.2 does not speak 1.1.
                    Tls1_1 => Reply::Hello(hello(0x0303)),
                    _ => Reply::Alert(70),
                };
                (reply, reply::Flight::default())
            })
            .collect();
        assert_eq!(protocols_of(&replies), matrix(&[Tls1_2]));
    }
}

#[cfg(test)]
mod finish_reuse_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::tests::counted_cycle;
    use super::*;

    /// A rustls origin on loopback (ECDSA certificate, TLS 1.2 and 1.3) that finishes every
    /// handshake, counting connections. Its certificate is self-signed (a cause: untrusted).
    async fn finishing_origin(connections: Arc<AtomicUsize>) -> SocketAddr {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        serve(vec![cert.der().clone()], &key, connections).await
    }

    /// The same, healthy: a leaf for `a.example` issued by a lab root, and a TLS context that
    /// trusts that root (kept in `dir`).
    async fn healthy_origin(connections: Arc<AtomicUsize>, dir: &Path) -> (SocketAddr, TlsContext) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Lab Root");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("root");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("key");
        let mut leaf = CertificateParams::new(vec!["a.example".to_string()]).expect("params");
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "a.example");
        let leaf = leaf.signed_by(&key, &issuer).expect("leaf");
        let ca_file = dir.join("root.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the root");
        let addr = serve(vec![leaf.der().clone()], &key, connections).await;
        (addr, TlsContext::new(Some(&ca_file)).expect("context"))
    }

    async fn serve(
        chain: Vec<CertificateDer<'static>>,
        key: &rcgen::KeyPair,
        connections: Arc<AtomicUsize>,
    ) -> SocketAddr {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            chain,
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A request over a finished handshake gets 200.
                    use tokio::io::AsyncReadExt;
                    if let Ok(mut tls) = acceptor.accept(conn).await {
                        let mut buf = [0u8; 1024];
                        if matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {
                            let _ = tls
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .await;
                            let _ = tls.shutdown().await;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A TCP proxy to `backend` that, while `cut` is set when a connection arrives, forwards the
    /// client's first bytes (its ClientHello) and the server's first flight, then closes the
    /// connection when the client sends anything more: the first flight stays the same, and no
    /// handshake can finish.
    #[allow(
        clippy::disallowed_methods,
        reason = "the proxy's connection to its backend is the lab's, not a probe's"
    )]
    async fn cutting_proxy(
        backend: SocketAddr,
        cut: Arc<std::sync::atomic::AtomicBool>,
    ) -> SocketAddr {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(backend).await else {
                    continue;
                };
                let cut = cut.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let down = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    });
                    if cut {
                        let mut buf = vec![0u8; 16 * 1024];
                        if let Ok(n) = cr.read(&mut buf).await {
                            let _ = sw.write_all(&buf[..n]).await;
                        }
                        let _ = cr.read(&mut buf).await;
                        down.abort();
                    } else {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        let _ = down.await;
                    }
                });
            }
        });
        addr
    }

    /// A handshake reused while the first flight stays the same is contradicted by the HTTP
    /// check's own handshake the cycle that one fails: the TLS check raises the failure in that
    /// cycle (not dropped as an echo), and the next cycle makes a handshake of its own.
    #[tokio::test]
    async fn a_failed_http_handshake_contradicts_a_reused_one() {
        use std::sync::atomic::AtomicBool;
        let connections = Arc::new(AtomicUsize::new(0));
        let dir = tempfile::tempdir().expect("temporary directory");
        let (backend, _) = healthy_origin(Arc::clone(&connections), dir.path()).await;
        let cut = Arc::new(AtomicBool::new(false));
        let proxy = cutting_proxy(backend, Arc::clone(&cut)).await;
        let cfg = crate::config::load_str(
            &format!(
                "global: {{ca_file: '{}'}}\norigins: [{{name: a, domain: a.example, address: 127.0.0.1, https_port: {}, protocol_policy: https-only, checks: [tls, http], http: {{path: /}}}}]",
                dir.path().join("root.pem").display(),
                proxy.port()
            ),
            Path::new("t.yaml"),
        )
        .expect("config");
        let origin = &cfg.origins[0];
        let ctx = crate::checks::ProbeContext::new(&cfg.global).expect("context");
        let mut memory = crate::checks::Memory::default();
        // One cycle: where its finish came from, and the causes it shows.
        macro_rules! cycle {
            () => {{
                let snapshot = crate::cycle::run(origin, &ctx, &mut memory).await;
                let tls = snapshot.results.tls.as_ref().and_then(|t| t.completed());
                let from = tls.map(|t| t.finish_from);
                let causes: Vec<&str> = snapshot
                    .diagnosis
                    .findings
                    .iter()
                    .map(|f| f.cause.name())
                    .collect();
                (from, causes)
            }};
        }
        assert_eq!(cycle!(), (Some(FinishFrom::ThisCycle), vec![]));
        assert_eq!(cycle!(), (Some(FinishFrom::Reused), vec![]));
        cut.store(true, Ordering::SeqCst);
        assert_eq!(
            cycle!(),
            (Some(FinishFrom::HttpCheck), vec!["tls_handshake_failed"]),
            "the HTTP check's handshake contradicts the reused one"
        );
        assert_eq!(
            cycle!(),
            (Some(FinishFrom::ThisCycle), vec!["tls_handshake_failed"]),
            "the next cycle finishes a handshake of its own"
        );
        cut.store(false, Ordering::SeqCst);
        assert_eq!(cycle!(), (Some(FinishFrom::ThisCycle), vec![]), "mended");
        assert_eq!(cycle!(), (Some(FinishFrom::Reused), vec![]));
    }

    /// An origin whose handshake finishes with the same first flight every cycle: the CDN-profile
    /// handshake (like the matrix) is made again only every 15th cycle; in between a cycle costs
    /// one connection, the CDN hello, and reports the same finished handshake.
    #[tokio::test]
    async fn a_finished_handshake_is_reused_while_the_first_flight_is_the_same() {
        let connections = Arc::new(AtomicUsize::new(0));
        let addr = finishing_origin(Arc::clone(&connections)).await;
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tls]}]",
            Path::new("t.yaml"),
        )
        .expect("config");
        let origin = &cfg.origins[0];
        let ctx = TlsContext::new(None).expect("context");
        let mut memory = TlsMemory::default();
        // One cycle: its report and how many connections the origin accepted for it.
        macro_rules! cycle {
            () => {
                counted_cycle(origin, &ctx, &mut memory, addr, &connections).await
            };
        }
        let (first, n) = cycle!();
        assert_eq!(first.handshake, Handshake::Accepted, "{first:?}");
        assert!(
            matches!(first.finish, Some(cdn_client::Finish::Done { .. })),
            "{:?}",
            first.finish
        );
        assert_eq!(
            n, 7,
            "the CDN hello, 5 matrix hellos, the CDN-profile handshake"
        );
        for _ in 0..reuse_cycles(origin.interval) {
            let (again, n) = cycle!();
            assert_eq!(n, 1, "only the CDN hello");
            assert_eq!(again.finish, first.finish);
            assert_eq!(again.handshake, Handshake::Accepted);
        }
        assert_eq!(cycle!().1, 7, "both made again after 14 reuses");
        assert_eq!(cycle!().1, 1);
    }

    #[test]
    fn the_refresh_comes_at_least_every_15_minutes() {
        let secs = Duration::from_secs;
        assert_eq!(reuse_cycles(secs(60)), 14);
        assert_eq!(reuse_cycles(secs(10)), 89);
        assert_eq!(reuse_cycles(secs(300)), 2);
        // An interval of 15 minutes or more reuses nothing.
        assert_eq!(reuse_cycles(secs(900)), 0);
        assert_eq!(reuse_cycles(secs(3600)), 0);
    }

    #[test]
    fn first_refreshes_spread_evenly_over_the_cycles() {
        let addr: SocketAddr = "192.0.2.1:443".parse().expect("address");
        let limit = 14;
        let mut counts = [0u32; 15];
        for i in 0..15_000 {
            let s = stagger(&format!("origin-{i}"), addr, limit);
            assert!(s <= limit);
            counts[s as usize] += 1;
        }
        for c in counts {
            assert!((850..1150).contains(&c), "uneven: {counts:?}");
        }
        assert_eq!(stagger("shop", addr, limit), stagger("shop", addr, limit));
        assert_eq!(stagger("shop", addr, 0), 0);
    }

    /// A scheduled origin's first cycle makes the CDN hello and the handshake only when the
    /// check finds nothing wrong; the matrix and the handshake's refresh come together on one
    /// later cycle within the refresh period. An origin with a cause gets its matrix at once.
    #[tokio::test]
    async fn a_healthy_scheduled_origin_probes_its_matrix_later() {
        let connections = Arc::new(AtomicUsize::new(0));
        let dir = tempfile::tempdir().expect("temporary directory");
        let (addr, ctx) = healthy_origin(Arc::clone(&connections), dir.path()).await;
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tls]}]",
            Path::new("t.yaml"),
        )
        .expect("config");
        let origin = &cfg.origins[0];
        let mut memory = TlsMemory::scheduled();
        let (first, n) = counted_cycle(origin, &ctx, &mut memory, addr, &connections).await;
        assert_eq!(first.handshake, Handshake::Accepted, "{first:?}");
        assert!(
            findings::address_findings(&first).is_empty(),
            "{:?}",
            findings::address_findings(&first)
        );
        assert_eq!(n, 2, "the CDN hello and the CDN-profile handshake");
        assert!(first.protocols.is_empty(), "{:?}", first.protocols);
        let mut counts = Vec::new();
        let mut protocols = Vec::new();
        for _ in 0..=reuse_cycles(origin.interval) {
            let (report, n) = counted_cycle(origin, &ctx, &mut memory, addr, &connections).await;
            counts.push(n);
            protocols = report.protocols;
        }
        assert_eq!(counts.iter().filter(|n| **n == 7).count(), 1, "{counts:?}");
        assert!(counts.iter().all(|n| *n == 1 || *n == 7), "{counts:?}");
        assert_eq!(protocols.len(), TlsVersion::ALL.len(), "probed by now");

        // A self-signed certificate is a cause: the versions are part of its evidence at once.
        let faulty = finishing_origin(Arc::clone(&connections)).await;
        let mut memory = TlsMemory::scheduled();
        let (first, n) = counted_cycle(origin, &ctx, &mut memory, faulty, &connections).await;
        assert!(!findings::address_findings(&first).is_empty());
        assert_eq!(first.protocols.len(), TlsVersion::ALL.len());
        assert_eq!(n, 7, "hello, handshake, then the matrix");
        // Known now: refreshed once within the period, on the origin's own cycle.
        let mut counts = Vec::new();
        for _ in 0..=reuse_cycles(origin.interval) {
            counts.push(
                counted_cycle(origin, &ctx, &mut memory, faulty, &connections)
                    .await
                    .1,
            );
        }
        assert_eq!(counts.iter().filter(|n| **n == 7).count(), 1, "{counts:?}");
        assert!(counts.iter().all(|n| *n == 1 || *n == 7), "{counts:?}");
    }

    /// With `[tcp, tls]`, the CDN's hello goes on the TCP check's connection: a steady cycle
    /// costs the origin one connection, and nothing is left open after it.
    #[tokio::test]
    async fn the_cdn_hello_goes_on_the_tcp_checks_connection() {
        let connections = Arc::new(AtomicUsize::new(0));
        let addr = finishing_origin(Arc::clone(&connections)).await;
        let cfg = crate::config::load_str(
            &format!(
                "origins: [{{name: a, domain: a.example, address: 127.0.0.1, https_port: {}, \
                 protocol_policy: https-only, checks: [tcp, tls]}}]",
                addr.port()
            ),
            Path::new("t.yaml"),
        )
        .expect("config");
        let origin = &cfg.origins[0];
        let ctx = crate::checks::ProbeContext::new(&cfg.global).expect("context");
        let mut memory = crate::checks::Memory::default();
        macro_rules! cycle {
            () => {{
                let before = connections.load(Ordering::SeqCst);
                let snapshot = crate::cycle::run(origin, &ctx, &mut memory).await;
                assert!(memory.handoff.is_empty(), "nothing outlives the cycle");
                (snapshot, connections.load(Ordering::SeqCst) - before)
            }};
        }
        let (first, n) = cycle!();
        let tls = first.results.tls.as_ref().and_then(|t| t.completed());
        assert_eq!(
            tls.map(|t| &t.handshake),
            Some(&Handshake::Accepted),
            "{first:?}"
        );
        assert_eq!(
            n, 7,
            "one connection for TCP and the CDN hello, 5 matrix, 1 handshake"
        );
        let (steady, n) = cycle!();
        assert_eq!(n, 1, "the TCP check's connection carried the CDN hello");
        let tcp = steady.results.tcp.as_ref().and_then(|t| t.completed());
        assert_eq!(
            tcp.map(|t| t.closed().count()),
            Some(0),
            "{:?}",
            steady.results.tcp
        );
    }
}
