//! The web listener: connection slots (at most [`MAX_CONNECTIONS`], the oldest connection not
//! answering a request closed to make room), TLS handshakes off the accept loop with their
//! timeout, and serving HTTP/1.1 with a time limit on request heads. Whether to speak TLS comes
//! from the web config in force when a connection is accepted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::web::Web;

/// Client connections open at once, TLS handshakes in progress included. Past it, the oldest
/// connection not answering a request (idle, sending its head, or in its handshake) is closed to
/// make room; when all are answering, new clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time a client has to complete its TLS handshake. Handshakes run as tasks of their own and
/// need no other permit than their connection slot, so silent clients below the connection
/// limit never hold up the accept loop: they hold a slot until this timeout, or until a new
/// connection needs the slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send a whole request head, from the moment the server starts reading it
/// (after the TLS handshake, or after the previous response): slowloris clients and idle
/// keep-alive connections are closed then.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection, plain or TLS, as the web config said when it was accepted. It holds one of
/// the listener's [`MAX_CONNECTIONS`] slots until it closes.
pub struct Conn {
    stream: Stream,
    slot: Slot,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One open connection as the listener sees it: whether it is answering a request, and how to
/// close it to make room.
struct ConnState {
    /// Requests being answered: from the complete request head until the response body is
    /// written (or dropped). Zero: idle, or still sending a request head.
    busy: AtomicUsize,
    /// Already asked to close.
    evicted: AtomicBool,
    /// Wakes the connection's task to close it (a stored permit if it is not waiting yet).
    evict: Notify,
}

/// The open connections, oldest first, and the slots they hold.
struct Slots {
    permits: Arc<Semaphore>,
    open: Mutex<BTreeMap<u64, Arc<ConnState>>>,
    next: AtomicU64,
}

impl Slots {
    fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            permits: Arc::new(Semaphore::new(max)),
            open: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
        })
    }

    /// A slot for a connection just accepted. At the limit, the oldest connection that is not
    /// answering a request (idle, or still sending its head) is closed to make room; when every
    /// one is answering, this waits for one to end, and new clients wait in the kernel's queue.
    /// A client that opens connections and sends nothing thus cannot keep the scraper out.
    async fn take(self: &Arc<Self>) -> Option<Slot> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.evict_idlest();
                Arc::clone(&self.permits).acquire_owned().await.ok()?
            }
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            busy: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, Arc::clone(&state));
        }
        Some(Slot {
            id,
            state,
            slots: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Asks the oldest connection not answering a request to close; false when there is none.
    fn evict_idlest(&self) -> bool {
        let Ok(open) = self.open.lock() else {
            return false;
        };
        let idlest = open
            .values()
            .find(|c| c.busy.load(Ordering::Acquire) == 0 && !c.evicted.load(Ordering::Acquire));
        match idlest {
            Some(c) => {
                c.evicted.store(true, Ordering::Release);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn open(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }
}

/// One of the [`MAX_CONNECTIONS`] slots, held by a connection until it closes.
struct Slot {
    id: u64,
    state: Arc<ConnState>,
    slots: Arc<Slots>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// Marks its connection busy while a request is answered; dropped with the response body.
struct Busy(Arc<ConnState>);

impl Busy {
    fn start(state: &Arc<ConnState>) -> Busy {
        state.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(state))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections and completes TLS handshakes off the accept loop, so a slow client
/// never holds up the next one: each handshake is a task of its own, bounded by
/// [`HANDSHAKE_TIMEOUT`] and by its connection slot (the oldest connection not answering a
/// request, a handshake in progress included, gives its slot up when a new one needs it). The
/// accept loop waits only when every slot is answering a request.
pub struct WebListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(Conn, SocketAddr)>,
    accept_task: tokio::task::JoinHandle<()>,
    slots: Arc<Slots>,
}

impl Drop for WebListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl WebListener {
    pub fn new(listener: TcpListener, web: Arc<Web>) -> io::Result<WebListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let slots = Slots::new(MAX_CONNECTIONS);
        let accepting = Arc::clone(&slots);
        let accept_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, don't spin.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some(slot) = accepting.take().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                match web.config().tls.clone() {
                    None => {
                        let conn = Conn {
                            stream: Stream::Plain(stream),
                            slot,
                        };
                        if tx.send((conn, peer)).await.is_err() {
                            return;
                        }
                    }
                    Some(tls) => {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let accept = TlsAcceptor::from(tls).accept(stream);
                            let state = Arc::clone(&slot.state);
                            tokio::select! {
                                done = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept) => match done {
                                    Ok(Ok(s)) => {
                                        let conn = Conn {
                                            stream: Stream::Tls(Box::new(s)),
                                            slot,
                                        };
                                        let _ = tx.send((conn, peer)).await;
                                    }
                                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                                },
                                () = state.evict.notified() => {
                                    debug!(%peer, "TLS handshake cut: connection limit reached");
                                }
                            }
                        });
                    }
                }
            }
        });
        Ok(WebListener {
            local,
            ready,
            accept_task,
            slots,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Connections holding a slot now (accepted, in TLS handshake or being served).
    pub fn open_connections(&self) -> usize {
        self.slots.open()
    }
}

/// Serves `app` on `listener` (HTTP/1.1) until `shutdown` resolves, then lets the requests in
/// flight finish. Each connection has [`HEADER_READ_TIMEOUT`] to send a whole request head,
/// counted from when the server starts reading it (accepted, or the previous response
/// written): a client that sends nothing, trickles its head (slowloris) or idles between
/// keep-alive requests is closed then.
pub async fn serve(
    mut listener: WebListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut stopping = stop_rx.clone();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (conn, peer) = tokio::select! {
            next = listener.ready.recv() => match next {
                Some(c) => c,
                None => break,
            },
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        // Finished connection tasks are reaped here so the set holds only the open ones.
        while connections.try_join_next().is_some() {}
        let state = Arc::clone(&conn.slot.state);
        let service = TowerToHyperService::new(app.clone());
        let busy = Arc::clone(&state);
        let service = service_fn(move |request: axum::http::Request<Incoming>| {
            let guard = Busy::start(&busy);
            let answer = hyper::service::Service::call(&service, request);
            async move {
                let response = answer.await?;
                // The connection counts as busy until the body is written or dropped.
                Ok::<_, Infallible>(response.map(|body| {
                    body.map_frame(move |frame| {
                        let _busy = &guard;
                        frame
                    })
                }))
            }
        });
        let connection = http.serve_connection(TokioIo::new(conn), service);
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut evicted = std::pin::pin!(state.evict.notified());
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            debug!(%peer, error = %e, "connection ended");
                        }
                        break;
                    }
                    () = evicted.as_mut() => {
                        debug!(%peer, "connection closed: connection limit reached");
                        break;
                    }
                    _ = stop.wait_for(|stop| *stop), if !draining => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_limit_the_oldest_idle_connection_makes_room() {
        let slots = Slots::new(3);
        let busy = slots.take().await.unwrap();
        let oldest_idle = slots.take().await.unwrap();
        let newer_idle = slots.take().await.unwrap();
        let _answering = Busy::start(&busy.state);
        let fourth = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.take().await }
        });
        // The oldest connection not answering a request is asked to close; the one answering
        // and the newer idle one are not.
        oldest_idle.state.evict.notified().await;
        assert!(!busy.state.evicted.load(Ordering::Acquire));
        assert!(!newer_idle.state.evicted.load(Ordering::Acquire));
        // Its slot goes to the new connection once it closes.
        drop(oldest_idle);
        let fourth = fourth.await.unwrap().unwrap();
        assert_eq!(fourth.id, 3);
        assert_eq!(slots.open(), 3);
    }

    #[tokio::test]
    async fn when_every_connection_is_answering_a_new_one_waits() {
        let slots = Slots::new(2);
        let a = slots.take().await.unwrap();
        let b = slots.take().await.unwrap();
        let answering_a = Busy::start(&a.state);
        let _answering_b = Busy::start(&b.state);
        let waiting = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.take().await.map(|s| s.id) }
        });
        tokio::task::yield_now().await;
        assert!(!slots.evict_idlest(), "a busy connection was picked");
        assert!(!waiting.is_finished());
        // The response written, `a` is idle: the next arrival may close it; here it just ends.
        drop(answering_a);
        assert_eq!(a.state.busy.load(Ordering::Acquire), 0);
        drop(a);
        assert_eq!(waiting.await.unwrap(), Some(2));
    }
}
