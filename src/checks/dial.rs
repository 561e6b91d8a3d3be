//! The one way a probe opens a connection. Every outbound TCP connection of a check (TCP, the
//! TLS check's hellos, CDN-profile handshake and recording handshake, HTTP, edge) and of an AIA
//! fetch goes through [`connect`] or [`connect_as`], which check the concrete address about to
//! be connected to against the [`Reach`] that applies, right before connecting: no path can
//! resolve a name anew, or follow an address it got elsewhere, past the policy.
//!
//! A cycle runs its checks [`within`] the reach of its origin ([`super::ProbeContext::reach`]):
//! any address for a configured origin, the ad-hoc policy for a `/probe?target=` one. A
//! connection made outside any cycle (a task spawned off it, a new caller) is refused: the
//! dialer fails closed when it does not know which policy applies. An AIA fetch names its own
//! reach ([`connect_as`]): it goes where the certificate says, not where the origin is.
//!
//! `clippy.toml` disallows every other way to connect, so a new connection cannot bypass this.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::netpolicy::Reach;

tokio::task_local! {
    /// The reach of the cycle running on this task.
    static REACH: Reach;
}

/// Why a connection was not made: the address is outside the reach that applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not connecting to {addr}: {why}")]
pub struct Refused {
    pub addr: SocketAddr,
    pub why: String,
}

/// Runs `work` (a cycle's checks) with `reach` as the rule for every [`connect`] it makes.
pub async fn within<F: Future>(reach: Reach, work: F) -> F::Output {
    REACH.scope(reach, work).await
}

/// Connects to `addr` if the reach of the cycle this task runs allows it; refused (an
/// [`io::ErrorKind::PermissionDenied`] error carrying [`Refused`]) when it does not, or when no
/// cycle's reach is known.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let refusal = REACH
        .try_with(|reach| reach.refusal(addr))
        .unwrap_or_else(|_| {
            Some("no network policy applies (a connection outside a probe cycle)".into())
        });
    open(addr, refusal).await
}

/// Connects to `addr` if `reach` allows it, whatever the cycle's reach (AIA fetches).
pub async fn connect_as(reach: &Reach, addr: SocketAddr) -> io::Result<TcpStream> {
    open(addr, reach.refusal(addr)).await
}

async fn open(addr: SocketAddr, refusal: Option<String>) -> io::Result<TcpStream> {
    if let Some(why) = refusal {
        tracing::warn!(%addr, reason = %why, "connection refused by the network policy");
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            Refused { addr, why },
        ));
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "the dialer itself: the address was checked just above"
    )]
    TcpStream::connect(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpolicy::{AdhocPolicy, Cidr};

    async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        (l, addr)
    }

    fn refused(result: io::Result<TcpStream>) -> Option<Refused> {
        let e = result.err()?;
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        e.into_inner()?.downcast::<Refused>().ok().map(|r| *r)
    }

    /// The reach of the cycle decides; outside a cycle nothing connects.
    #[tokio::test]
    async fn connections_follow_the_reach_of_their_cycle() {
        let (_l, addr) = listener().await;
        let adhoc = |networks: &[&str]| Reach::Adhoc {
            policy: AdhocPolicy {
                domains: vec!["*.lab.test".into()],
                networks: networks
                    .iter()
                    .map(|n| Cidr::parse(n).expect("cidr"))
                    .collect(),
            },
            own: None,
        };
        assert!(within(Reach::Configured, connect(addr)).await.is_ok());
        let why = refused(within(adhoc(&[]), connect(addr)).await).expect("refused");
        assert_eq!(why.addr, addr);
        assert!(why.why.contains("127.0.0.1 is loopback"), "{why:?}");
        assert!(within(adhoc(&["127.0.0.0/8"]), connect(addr)).await.is_ok());
        let why = refused(connect(addr).await).expect("refused outside a cycle");
        assert!(why.why.contains("outside a probe cycle"), "{why:?}");
        // A task spawned off a cycle does not inherit its reach: it is refused, not let through.
        let spawned = within(Reach::Configured, async {
            tokio::spawn(connect(addr)).await.expect("task")
        })
        .await;
        assert!(refused(spawned).is_some());
    }

    /// An explicit reach applies whatever the cycle's.
    #[tokio::test]
    async fn an_explicit_reach_overrides_the_cycles() {
        let (_l, addr) = listener().await;
        let aia = Reach::Aia {
            allowed: Vec::new(),
            adhoc: None,
        };
        let why =
            refused(within(Reach::Configured, connect_as(&aia, addr)).await).expect("refused");
        assert!(why.why.contains("global.aia_allowed_networks"), "{why:?}");
        let lab = Reach::Aia {
            allowed: vec![Cidr::parse("127.0.0.0/8").expect("cidr")],
            adhoc: None,
        };
        assert!(connect_as(&lab, addr).await.is_ok());
    }
}
