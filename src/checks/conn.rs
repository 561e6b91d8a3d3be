//! Connections one check opens and a later check of the same cycle uses, and how a probe
//! connection ends.
//!
//! The CDN opens one connection and sends its hello on it. The TCP check's accepted connection to
//! an HTTPS port is that connection: the TLS check sends the CDN's hello on it instead of
//! opening another. A steady cycle of `[tcp, tls]` then costs the origin (and this exporter, whose
//! CPU goes mostly to the kernel's connect and close) one connection instead of two.

use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Open connections left by the TCP check for the same cycle's TLS check, by address. Lives in
/// the origin's [`super::Memory`]; the cycle closes whatever is left when its checks are done, so
/// no connection outlives the cycle that opened it.
#[derive(Debug, Default)]
pub struct Handoff {
    open: Vec<(SocketAddr, TcpStream)>,
}

impl Handoff {
    pub fn keep(&mut self, addr: SocketAddr, stream: TcpStream) {
        self.open.push((addr, stream));
    }

    /// The connection kept for `addr`, if any (each is handed out once).
    pub fn take(&mut self, addr: SocketAddr) -> Option<TcpStream> {
        let at = self.open.iter().position(|(a, _)| *a == addr)?;
        Some(self.open.swap_remove(at).1)
    }

    /// Closes every connection no check took.
    pub fn clear(&mut self) {
        for (_, stream) in self.open.drain(..) {
            abort(stream);
        }
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// A hand-off holds live sockets: a copy of an origin's memory starts without them.
impl Clone for Handoff {
    fn clone(&self) -> Self {
        Handoff::default()
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
        handoff.keep(addr, TcpStream::connect(addr).await.expect("connect"));
        handoff.keep(addr, TcpStream::connect(addr).await.expect("connect"));
        assert!(handoff.take(other).is_none());
        assert!(handoff.take(addr).is_some());
        assert_eq!(handoff.len(), 1);
        assert_eq!(handoff.clone().len(), 0, "a copy holds no socket");
        handoff.clear();
        assert!(handoff.is_empty());
        assert!(handoff.take(addr).is_none());
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
