//! Connections one check opens and a later check of the same cycle uses, and how a probe
//! connection ends.
//!
//! The CDN opens one connection and sends its hello on it. The TCP check's accepted connection to
//! an HTTPS port is that connection: the TLS check sends the CDN's hello on it instead of
//! opening another. A steady cycle of `[tcp, tls]` then costs the origin (and this exporter, whose
//! CPU goes mostly to the kernel's connect and close) one connection instead of two. A
//! connection the TCP check held past [`HELD_AT_MOST`] (while it tried a silent address) is not
//! used: the CDN would not have waited before its hello.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest an accepted connection waits for the TLS check's hello. The CDN sends its hello
/// as soon as its connection is accepted, and servers bound the wait (Go's ReadHeaderTimeout,
/// HAProxy's `timeout client`, Envoy's transport socket timeout, often a few seconds): a
/// connection held while the TCP check still tries another address (up to
/// `connection_attempts` x `connection_timeout`) could be closed by the server, and the
/// healthy address would show a handshake that fails only here. An older connection is closed
/// and the TLS check connects anew; the bound is far below any handshake deadline and far above
/// the time between the TCP and the TLS check of a cycle whose addresses all answer.
pub const HELD_AT_MOST: Duration = Duration::from_millis(500);

/// Open connections left by the TCP check for the same cycle's TLS check, by address: the TCP
/// check's handover, held by the cycle ([`super::ThisCycle`]) and dropped when its checks are
/// done, which closes whatever is left, so no connection outlives the cycle that opened it.
#[derive(Debug, Default)]
pub struct Handoff {
    open: Vec<Held>,
}

#[derive(Debug)]
struct Held {
    addr: SocketAddr,
    stream: TcpStream,
    /// When the connection was accepted.
    accepted: Instant,
}

impl Handoff {
    /// Keeps `stream`, a connection to `addr` accepted at `accepted`.
    pub fn keep(&mut self, addr: SocketAddr, stream: TcpStream, accepted: Instant) {
        self.open.push(Held {
            addr,
            stream,
            accepted,
        });
    }

    /// The connection kept for `addr`, if any (each is handed out once) and accepted at most
    /// [`HELD_AT_MOST`] ago; an older one is closed.
    pub fn take(&mut self, addr: SocketAddr) -> Option<TcpStream> {
        let at = self.open.iter().position(|h| h.addr == addr)?;
        let held = self.open.swap_remove(at);
        if held.accepted.elapsed() > HELD_AT_MOST {
            abort(held.stream);
            return None;
        }
        Some(held.stream)
    }

    /// Closes every connection no check took.
    pub fn clear(&mut self) {
        for held in self.open.drain(..) {
            abort(held.stream);
        }
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// No connection outlives the cycle that opened it: those no check took are reset when the
/// cycle drops its handovers.
impl Drop for Handoff {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Closes a probe connection with a reset (`SO_LINGER` 0) instead of the FIN exchange. A probe
/// has nothing more to say, and a reset costs both kernels fewer packets and leaves no
/// `TIME_WAIT` socket behind: at 100,000 origins a minute, `TIME_WAIT` sockets towards one load
/// balancer's address would use up the ephemeral ports (about 28,000 per destination for 60 s).
pub fn abort(stream: TcpStream) {
    // Zero linger never blocks on drop (it is a non-zero linger that does); a socket that cannot
    // take the option closes the ordinary way.
    let _ = stream.set_zero_linger();
    drop(stream);
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests' connections are no probe's: they exercise the hand-off itself"
)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_connection_is_handed_out_once_and_the_rest_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let other: SocketAddr = "127.0.0.1:9".parse().expect("address");
        let mut handoff = Handoff::default();
        let now = Instant::now();
        handoff.keep(addr, TcpStream::connect(addr).await.expect("connect"), now);
        handoff.keep(addr, TcpStream::connect(addr).await.expect("connect"), now);
        assert!(handoff.take(other).is_none());
        assert!(handoff.take(addr).is_some());
        assert_eq!(handoff.len(), 1);
        handoff.clear();
        assert!(handoff.is_empty());
        assert!(handoff.take(addr).is_none());
    }

    /// A connection accepted longer ago than a server may wait for the hello is not handed out:
    /// it is closed (the peer sees a reset), and the TLS check connects anew.
    #[tokio::test]
    async fn a_connection_held_too_long_is_closed_instead_of_handed_out() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut handoff = Handoff::default();
        let long_ago = Instant::now() - HELD_AT_MOST - Duration::from_millis(1);
        handoff.keep(
            addr,
            TcpStream::connect(addr).await.expect("connect"),
            long_ago,
        );
        let (mut server, _) = listener.accept().await.expect("accept");
        assert!(handoff.take(addr).is_none(), "too old to hand out");
        assert!(handoff.is_empty());
        let mut buf = [0u8; 8];
        assert_eq!(
            server.read(&mut buf).await.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        handoff.keep(
            addr,
            TcpStream::connect(addr).await.expect("connect"),
            Instant::now(),
        );
        assert!(handoff.take(addr).is_some(), "fresh");
    }

    /// The peer of an aborted connection sees a reset, not an orderly end of stream.
    #[tokio::test]
    async fn abort_resets_the_connection() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        abort(client);
        let mut buf = [0u8; 8];
        let read = server.read(&mut buf).await;
        assert_eq!(
            read.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
    }
}
