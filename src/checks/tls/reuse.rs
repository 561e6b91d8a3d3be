//! Reusing a finished CDN-profile handshake: only where this cycle's first flight proves
//! everything the rest of the handshake could show (see [`KnownFinish`]), and never past a later
//! check of the same cycle whose own handshake contradicts it ([`contradiction`]).

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    cdn_client, finish_classify, proof, reply, Contradiction, FinishFrom, Handshake, Reply,
    TlsReport,
};
use crate::cdn::{CdnProfile, TlsVersion};

/// A CDN-profile handshake that finished, and the first flight it followed. The handshake is
/// the check's most expensive step (a full OpenSSL handshake: key exchange and the server's
/// signature). It is reused only where the first flight proves everything the rest of the
/// handshake could show ([`FlightKey::of`]): no CertificateRequest (the origin's verdict on a
/// client certificate comes after the first flight), TLS 1.2 with an ECDHE suite whose
/// ServerKeyExchange signature verified this cycle with the served leaf's key over this cycle's
/// randoms (the server holds the key now; after it the protocol fixes the rest), and the same
/// ServerHello, key exchange and chain as the handshake that finished. Even then it is made again
/// every [`super::reuse_cycles`] + 1 cycles. A handshake that did not finish is never reused: every
/// failure is seen fresh. A later check of the same cycle whose own handshake fails on the
/// address makes the next cycle finish a new one ([`forget_contradicted`]).
#[derive(Debug, Clone)]
pub(super) struct KnownFinish {
    pub(super) flight: FlightKey,
    pub(super) finish: cdn_client::Finish,
    /// Cycles since the handshake was made.
    pub(super) reused: u32,
}

/// What a first flight that proves its handshake showed: the CDN hello's answer (version,
/// suite), the ServerHello's extensions, the verified key exchange (group, signature scheme) and
/// the served chain, the last two as one SHA-256 digest with the extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FlightKey {
    cdn_reply: Reply,
    key_exchange: proof::KeyExchange,
    digest: [u8; 32],
}

impl FlightKey {
    /// The key of a first flight that proves its handshake; `None` when the handshake must be
    /// finished this cycle (a CertificateRequest, or a key exchange not proven).
    pub(super) fn of(
        cdn_reply: &Reply,
        flight: &reply::Flight,
        proof: Result<proof::KeyExchange, proof::Unproven>,
    ) -> Option<Self> {
        if flight.cert_request {
            return None;
        }
        let key_exchange = proof.ok()?;
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        let extensions = flight.hello.as_ref().map_or(&[][..], |d| &d.extensions);
        h.update(&(extensions.len() as u64).to_be_bytes());
        h.update(extensions);
        for c in flight.chain.iter().flatten() {
            h.update(&(c.len() as u64).to_be_bytes());
            h.update(c.as_ref());
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(h.finish().as_ref());
        Some(FlightKey {
            cdn_reply: cdn_reply.clone(),
            key_exchange,
            digest,
        })
    }
}

/// Whether the CDN hello's first flight proves the server holds the served leaf's key now (see
/// [`proof`]).
pub(super) fn prove(
    cdn: &CdnProfile,
    cdn_reply: &Reply,
    flight: &reply::Flight,
    client_random: &[u8; 32],
) -> Result<proof::KeyExchange, proof::Unproven> {
    let hello = match cdn_reply {
        Reply::Hello(h) => h,
        _ => return Err(proof::Unproven::Missing),
    };
    let detail = flight.hello.as_ref().ok_or(proof::Unproven::Missing)?;
    let ecdhe = cdn
        .suite_by_id(hello.suite)
        .is_some_and(|s| s.openssl_name.starts_with("ECDHE-"));
    proof::verify(&proof::Flight {
        version: hello.version,
        ecdhe,
        client_random,
        server_random: &detail.random,
        key_exchange: flight.key_exchange.as_deref(),
        leaf: flight
            .chain
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| c.as_ref()),
    })
}

/// Forgets the finished handshake of every address where `contradicted` holds: its next cycle
/// finishes a new one.
pub fn forget_contradicted(memory: &mut TlsMemory, contradicted: impl Fn(SocketAddr) -> bool) {
    for (addr, known) in memory.addresses.iter_mut() {
        if contradicted(*addr) {
            known.finish = None;
        }
    }
}

/// The handshake a later check's own failed CDN-profile handshake shows on the address of
/// `report` (one of `later`, the failed handshakes later checks told of), when this check reused
/// a finished handshake there: classified as this check classifies a failed finish (a
/// certificate alert is the origin asking for, or refusing, a client certificate; anything else
/// a failed handshake), with that finish. `None` when nothing contradicts the reuse. Pure.
pub fn contradiction(
    report: &TlsReport,
    later: &[&Contradiction],
    has_identity: bool,
) -> Option<(Handshake, cdn_client::Finish)> {
    if report.finish_from != FinishFrom::Reused || report.handshake != Handshake::Accepted {
        return None;
    }
    let finish = &later.iter().find(|c| c.address == report.address)?.finish;
    if matches!(finish, cdn_client::Finish::Done { .. }) {
        return None;
    }
    // The reused flight had no CertificateRequest; an alert about a certificate says this
    // handshake's had one.
    let asked = report.cert_request || certificate_alert(finish);
    let handshake = finish_classify(Handshake::Accepted, Some(finish), asked, has_identity, None);
    Some((handshake, finish.clone()))
}

/// Alerts only a server that asked for a client certificate sends about it.
fn certificate_alert(finish: &cdn_client::Finish) -> bool {
    matches!(
        finish,
        cdn_client::Finish::AlertReceived {
            alert: 41..=46 | 48 | 49 | 116,
            ..
        }
    )
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
    pub(super) addresses: Vec<(SocketAddr, AddressMemory)>,
    /// Spread the occasional extra work over the origin's first cycles (see [`Self::scheduled`]).
    pub(super) spread: bool,
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
        TlsMemory::new(true)
    }

    /// A fresh memory; `spread` for an origin the scheduler probes for good (see
    /// [`Self::scheduled`]).
    pub fn new(spread: bool) -> Self {
        TlsMemory {
            addresses: Vec::new(),
            spread,
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
    pub(super) matrix: Option<KnownMatrix>,
    pub(super) finish: Option<KnownFinish>,
    /// A cycle has probed this address before.
    pub(super) seen: bool,
}

#[derive(Debug, Clone)]
pub(super) struct KnownMatrix {
    pub(super) address: SocketAddr,
    /// The CDN hello's answer when the matrix was probed; reused only while it is the same.
    pub(super) cdn_reply: Reply,
    /// Empty when not probed yet (a scheduled address whose first CDN hello was accepted).
    pub(super) protocols: Vec<(TlsVersion, bool)>,
    /// Cycles since the matrix was probed.
    pub(super) reused: u32,
}

/// The reuse count an address's first matrix and handshake start from, 0 to `limit`: their first
/// refresh falls 1 to `limit` + 1 cycles later, evenly over a fleet, stable across restarts.
pub(super) fn stagger(origin: &str, addr: SocketAddr, limit: u32) -> u32 {
    let key = format!("{origin}/{addr}");
    let spread = crate::stable_hash::stable_hash(&key) % (u64::from(limit) + 1);
    u32::try_from(spread).unwrap_or(0)
}

/// How one address's cycle may reuse what it probed before.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Plan {
    /// Cycles in a row the matrix and a finished handshake may be reused ([`reuse_cycles`]).
    pub(super) reuse: u32,
    /// A scheduled origin ([`TlsMemory::scheduled`]): an address's first matrix may wait, and
    /// its first matrix and handshake start their reuse count from [`stagger`].
    pub(super) spread: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::tls::tests_support::report;
    use crate::checks::tls::Rejection;
    use cdn_client::Finish;

    /// What a later check tells of its handshake on `address`: a failed one only.
    fn told(address: SocketAddr, handshake: Option<Finish>) -> Vec<Contradiction> {
        handshake
            .into_iter()
            .map(|finish| Contradiction { address, finish })
            .collect()
    }

    fn alert(alert: u8) -> Finish {
        Finish::AlertReceived {
            alert,
            step: "SSLv3/TLS read finished".into(),
        }
    }

    /// The HTTP check's own handshake contradicts a reused one only when it failed on the same
    /// address; it is then classified as the TLS check classifies a failed finish.
    #[test]
    fn contradiction_table() {
        let a: SocketAddr = "192.0.2.1:443".parse().expect("address");
        let b: SocketAddr = "192.0.2.2:443".parse().expect("address");
        let closed = Finish::Io("connection closed at: SSLv3/TLS read finished".into());
        // (case, finish_from, the HTTP check's handshake, on address, identity, want)
        let cases = [
            (
                "a certificate alert, with a client certificate",
                FinishFrom::Reused,
                Some(alert(42)),
                a,
                true,
                Some(Handshake::ClientCertificateRejected(Rejection::Handshake(
                    alert(42),
                ))),
            ),
            (
                "certificate_revoked",
                FinishFrom::Reused,
                Some(alert(44)),
                a,
                true,
                Some(Handshake::ClientCertificateRejected(Rejection::Handshake(
                    alert(44),
                ))),
            ),
            (
                "certificate_required, without a client certificate",
                FinishFrom::Reused,
                Some(alert(116)),
                a,
                false,
                Some(Handshake::ClientCertificateRequired { finish: alert(116) }),
            ),
            (
                "handshake_failure",
                FinishFrom::Reused,
                Some(alert(40)),
                a,
                true,
                Some(Handshake::Unfinished(alert(40))),
            ),
            (
                "closed after the first flight",
                FinishFrom::Reused,
                Some(closed.clone()),
                a,
                false,
                Some(Handshake::Unfinished(closed.clone())),
            ),
            (
                "the later check's handshake finished",
                FinishFrom::Reused,
                None,
                a,
                true,
                None,
            ),
            (
                "it failed on another address",
                FinishFrom::Reused,
                Some(alert(42)),
                b,
                true,
                None,
            ),
            (
                "a handshake made this cycle: the HTTP failure is an echo",
                FinishFrom::ThisCycle,
                Some(alert(42)),
                a,
                true,
                None,
            ),
        ];
        for (case, from, failed, on, identity, want) in cases {
            let mut tls = report(a);
            tls.finish_from = from;
            let told = told(on, failed.clone());
            let later: Vec<&Contradiction> = told.iter().collect();
            let got = contradiction(&tls, &later, identity);
            assert_eq!(got.as_ref().map(|(h, _)| h), want.as_ref(), "{case}");
            if let Some((_, finish)) = got {
                assert_eq!(Some(finish), failed, "{case}: the finish told");
            }
        }
        let mut tls = report(a);
        tls.finish_from = FinishFrom::Reused;
        assert_eq!(contradiction(&tls, &[], true), None, "no later check told");
        // A finished handshake told is no contradiction.
        let done = Contradiction {
            address: a,
            finish: Finish::Done {
                version: "TLSv1.2",
                cipher: "ECDHE-RSA-AES128-GCM-SHA256",
            },
        };
        assert_eq!(contradiction(&tls, &[&done], true), None, "finished");
        // Several addresses told: each report is compared with its own address's.
        let on_b = told(b, Some(alert(40)));
        let on_a = told(a, Some(alert(48)));
        assert_eq!(
            contradiction(&tls, &[&on_b[0], &on_a[0]], true).map(|(h, _)| h),
            Some(Handshake::ClientCertificateRejected(Rejection::Handshake(
                alert(48)
            )))
        );
    }
}
