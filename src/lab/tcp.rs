//! TCP origins: a port that accepts, one that refuses, one whose connections hang.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

/// A listener on 127.0.0.1 that accepts every connection, never writes, and holds it open until
/// dropped: an open port for the TCP check, an origin that hangs for TLS and HTTP. It counts the
/// connections it accepted.
pub struct OpenPort {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl OpenPort {
    pub async fn start() -> OpenPort {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> OpenPort {
        let listener = TcpListener::bind(addr).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            // Owned by the task: aborting it on drop closes them all.
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        OpenPort {
            addr,
            accepted,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for OpenPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 where nothing listens: connections are refused.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("local addr").port()
    // dropped here: the port is free, and nothing listens on it
}

/// A listener whose accept queue is full and never drained: new connections get no SYN-ACK
/// and hang until the client gives up, like a firewall that drops packets.
pub struct HungPort {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _filler: TcpStream,
}

impl HungPort {
    pub async fn start() -> HungPort {
        Self::start_at("127.0.0.1:0".parse().expect("addr")).await
    }

    /// The same on a given loopback address and port (port 0: a free one).
    pub async fn start_at(addr: SocketAddr) -> HungPort {
        assert!(addr.ip().is_loopback(), "lab servers bind loopback only");
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind(addr).expect("bind loopback");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("local addr");
        // With a backlog of 0 the queue holds one connection; this one fills it.
        let filler = TcpStream::connect(addr).expect("filler connects");
        HungPort {
            addr,
            _listener: listener,
            _filler: filler,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}
