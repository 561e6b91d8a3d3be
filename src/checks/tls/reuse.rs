//! Reusing a finished CDN-profile handshake: only where this cycle's first flight proves
//! everything the rest of the handshake could show (see [`KnownFinish`]), and never past a later
//! check of the same cycle whose own handshake contradicts it ([`contradiction`]).

use std::net::SocketAddr;

use super::{
    cdn_client, finish_classify, proof, reply, FinishFrom, Handshake, Reply, TlsMemory, TlsReport,
};
use crate::cdn::CdnProfile;
use crate::checks::HttpReport;

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

/// The handshake the HTTP check's own CDN-profile handshake shows on the address of `report`,
/// when this check reused a finished handshake there and the HTTP check's failed: classified as
/// this check classifies a failed finish (a certificate alert is the origin asking for, or
/// refusing, a client certificate; anything else a failed handshake). `None` when nothing
/// contradicts the reuse.
pub fn contradiction(
    report: &TlsReport,
    http: Option<&HttpReport>,
    has_identity: bool,
) -> Option<Handshake> {
    if report.finish_from != FinishFrom::Reused || report.handshake != Handshake::Accepted {
        return None;
    }
    let finish = http?
        .all()
        .find(|h| h.address == report.address)?
        .handshake
        .as_ref()
        .filter(|f| !matches!(f, cdn_client::Finish::Done { .. }))?;
    // The reused flight had no CertificateRequest; an alert about a certificate says this
    // handshake's had one.
    let asked = report.cert_request || certificate_alert(finish);
    Some(finish_classify(
        Handshake::Accepted,
        Some(finish),
        asked,
        has_identity,
        None,
    ))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::tls::tests_support::report;
    use crate::checks::tls::Rejection;
    use crate::checks::{HttpOutcome, HttpReport};
    use crate::config::Scheme;
    use cdn_client::Finish;

    fn http(address: SocketAddr, handshake: Option<Finish>) -> HttpReport {
        HttpReport {
            address,
            scheme: Scheme::Https,
            outcome: match &handshake {
                Some(f) => HttpOutcome::TlsFailed(f.describe()),
                None => HttpOutcome::Status(200),
            },
            headers: Vec::new(),
            duration: Duration::from_millis(5),
            phases: Default::default(),
            version: None,
            handshake,
            refusal: None,
            body: crate::checks::http::Body::NotRead,
            keepalive: crate::checks::http::KeepAlive::NotWatched,
            more: Vec::new(),
        }
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
                "the HTTP check's handshake finished",
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
            let http = http(on, failed);
            assert_eq!(contradiction(&tls, Some(&http), identity), want, "{case}");
        }
        let mut tls = report(a);
        tls.finish_from = FinishFrom::Reused;
        assert_eq!(contradiction(&tls, None, true), None, "no HTTP check");
        // A report of several addresses: each is compared with its own address's request.
        let mut two = http(b, None);
        two.more.push(http(a, Some(alert(48))));
        assert_eq!(
            contradiction(&tls, Some(&two), true),
            Some(Handshake::ClientCertificateRejected(Rejection::Handshake(
                alert(48)
            )))
        );
    }
}
