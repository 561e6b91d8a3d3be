//! Hostile TLS origins: raw TCP servers on 127.0.0.1 that read the ClientHello, answer with a
//! valid TLS 1.2 ServerHello (a CDN suite) and then misbehave on purpose (trickle, announce
//! 16 MB, 100 certificates, a 1 MB certificate, broken DER, garbage, a reset). Each counts the
//! bytes it got to write on every connection and whether the client stopped it; every task
//! stops when the origin is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// ECDHE-RSA-AES128-GCM-SHA256: offered by the CDN and by rustls, so that neither hello is
/// refused for its suite and only the hostile part decides.
pub const SUITE: u16 = 0xC02F;

/// What the server sends after reading the ClientHello, in order.
#[derive(Debug, Clone)]
pub enum Act {
    /// Writes the bytes at once.
    Send(Vec<u8>),
    /// Writes the bytes one at a time, `every` apart.
    Trickle(Vec<u8>, Duration),
    /// Writes `record` over and over until `total` bytes were written or the client stops.
    Repeat { record: Vec<u8>, total: usize },
    /// Closes with SO_LINGER 0: the client gets a RST.
    Reset,
}

/// What one connection saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conn {
    /// Bytes the server managed to write (the client read them, or the kernel buffered them).
    pub written: usize,
    /// A write failed: the client closed or reset the connection before the script ended.
    pub client_stopped: bool,
    /// The server is done with the connection.
    pub finished: bool,
}

/// A hostile origin on 127.0.0.1.
pub struct HostileOrigin {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<Conn>>>,
    task: JoinHandle<()>,
}

/// Send buffer of the server's sockets (the kernel doubles it): small, so that what the server
/// gets to write is close to what the client read. The client's receive buffer (Linux default
/// 128 KiB, autotuned) still holds some; [`KERNEL_SLACK`] allows for both.
const SEND_BUFFER: u32 = 4096;

/// Bytes the kernel may accept from the server that the client never read: the client's receive
/// buffer plus the server's send buffer, on loopback.
pub const KERNEL_SLACK: usize = 1024 * 1024;

impl HostileOrigin {
    /// Serves `script` on every connection.
    pub async fn start(script: Vec<Act>) -> HostileOrigin {
        let socket = TcpSocket::new_v4().expect("socket");
        // Accepted sockets inherit the listener's buffer sizes on Linux.
        socket.set_send_buffer_size(SEND_BUFFER).expect("SO_SNDBUF");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind loopback");
        let listener: TcpListener = socket.listen(64).expect("listen");
        let addr = listener.local_addr().expect("local addr");
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let record = Arc::clone(&conns);
        let script = Arc::new(script);
        let task = tokio::spawn(async move {
            // Dropped with this task when the origin is dropped: every connection stops too.
            let mut running = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (record, script) = (Arc::clone(&record), Arc::clone(&script));
                running.spawn(async move {
                    let index = {
                        let mut c = record.lock().expect("conns");
                        c.push(Conn::default());
                        c.len() - 1
                    };
                    let update = |update: &dyn Fn(&mut Conn)| {
                        if let Ok(mut c) = record.lock() {
                            update(&mut c[index]);
                        }
                    };
                    serve(stream, &script, update).await;
                    update(&|c| c.finished = true);
                });
                // Reap the finished ones so the set does not grow over a long test.
                while running.try_join_next().is_some() {}
            }
        });
        HostileOrigin { addr, conns, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every connection so far.
    pub fn conns(&self) -> Vec<Conn> {
        self.conns.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Waits (up to `limit`) until every connection so far is finished; returns them.
    pub async fn settled(&self, limit: Duration) -> Vec<Conn> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let conns = self.conns();
            if conns.iter().all(|c| c.finished) || tokio::time::Instant::now() > deadline {
                return conns;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The most bytes written on any one connection.
    pub fn max_written(&self) -> usize {
        self.conns().iter().map(|c| c.written).max().unwrap_or(0)
    }
}

impl Drop for HostileOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, script: &[Act], update: impl Fn(&dyn Fn(&mut Conn))) {
    if read_client_hello(&mut stream).await.is_none() {
        return;
    }
    for act in script {
        let step = match act {
            Act::Send(bytes) => write(&mut stream, bytes, &update).await,
            Act::Trickle(bytes, every) => {
                let mut ok = Ok(());
                for b in bytes {
                    ok = write(&mut stream, std::slice::from_ref(b), &update).await;
                    if ok.is_err() {
                        break;
                    }
                    tokio::time::sleep(*every).await;
                }
                ok
            }
            Act::Repeat { record, total } => {
                let mut sent = 0;
                let mut ok = Ok(());
                while sent < *total && ok.is_ok() {
                    ok = write(&mut stream, record, &update).await;
                    sent += record.len();
                }
                ok
            }
            Act::Reset => {
                // SO_LINGER 0: close() sends a RST instead of a FIN.
                let _ = stream.set_zero_linger();
                return;
            }
        };
        if step.is_err() {
            update(&|c| c.client_stopped = true);
            return;
        }
    }
    // Holds the connection open (the client decides when it is over), up to a bound.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn write(
    stream: &mut TcpStream,
    bytes: &[u8],
    update: &impl Fn(&dyn Fn(&mut Conn)),
) -> std::io::Result<()> {
    // Chunks of at most 4 KiB, counted as they go, so that the count stops where the client
    // stopped reading.
    for chunk in bytes.chunks(4096) {
        stream.write_all(chunk).await?;
        let n = chunk.len();
        update(&|c| c.written += n);
    }
    Ok(())
}

/// Reads one TLS record (the ClientHello); `None` if the client sent something else or closed.
async fn read_client_hello(stream: &mut TcpStream) -> Option<()> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await.ok()?;
    if header[0] != 22 {
        return None;
    }
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    stream.read_exact(&mut body).await.ok()?;
    Some(())
}

/// A TLS record of `kind` (22 handshake, 21 alert) with version 3.3.
pub fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, 3, 3];
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

/// Splits a handshake stream into records of at most 16 KiB, as a server must.
pub fn records(handshake: &[u8]) -> Vec<u8> {
    handshake
        .chunks(16_384)
        .flat_map(|c| record(22, c))
        .collect()
}

/// A handshake message header announcing `len` bytes of body, then `body`.
pub fn handshake(kind: u8, len: usize, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

/// A TLS 1.2 ServerHello choosing [`SUITE`], with the renegotiation_info extension rustls wants.
pub fn server_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x5A; 32]);
    b.push(0); // no session id
    b.extend_from_slice(&SUITE.to_be_bytes());
    b.push(0); // no compression
    let ext = [0xFF, 0x01, 0x00, 0x01, 0x00];
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    handshake(2, b.len(), &b)
}

/// A Certificate message holding `certs` as they are.
pub fn certificate(certs: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in certs {
        list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(c);
    }
    let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
    body.extend_from_slice(&list);
    handshake(11, body.len(), &body)
}
