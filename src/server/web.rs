//! Applying the web config: a listener that speaks TLS when configured, and basic auth in front
//! of every endpoint. The config is swapped atomically on reload or when its file changes, so
//! new connections and requests see the new one.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use quick_cache::sync::Cache;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::web_config::{self, WebConfig, WebConfigError};

/// Remembered successful logins (SHA-256 digests of user, password and hash): a scrape must not
/// cost a bcrypt each time. Beyond it the least used go (quick_cache's CLOCK-Pro); a web config
/// (re)load empties it. Failures are never cached, so a client trying new passwords cannot push
/// the scraper's login out.
const AUTH_CACHE_MAX: usize = 1024;
/// bcrypt verifications at once (each 50-100 ms of a CPU, on blocking threads): a stream of wrong
/// passwords queues here instead of taking the async workers from the scrapes.
const BCRYPT_AT_ONCE: usize = 2;
/// How long a login waits for a verification slot before it is answered 503.
const BCRYPT_WAIT: Duration = Duration::from_secs(5);
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

/// The web config in force, and where it came from.
pub struct Web {
    file: Option<PathBuf>,
    current: ArcSwap<WebConfig>,
    stamp: Mutex<Option<SystemTime>>,
    auth_cache: Cache<[u8; 32], ()>,
    bcrypt_slots: Arc<Semaphore>,
    /// bcrypt verifications started (tests count them: timing-free proof of their cost).
    verifications: AtomicU64,
}

impl Web {
    /// Loads `file` (none: plain HTTP, no auth). An error here is a startup error.
    pub fn load(file: Option<PathBuf>) -> Result<Arc<Web>, WebConfigError> {
        let config = match &file {
            Some(f) => web_config::load(f)?,
            None => WebConfig::default(),
        };
        let stamp = file.as_ref().and_then(|f| modified(f));
        Ok(Arc::new(Web {
            file,
            current: ArcSwap::from_pointee(config),
            stamp: Mutex::new(stamp),
            auth_cache: Cache::new(AUTH_CACHE_MAX),
            bcrypt_slots: Arc::new(Semaphore::new(BCRYPT_AT_ONCE)),
            verifications: AtomicU64::new(0),
        }))
    }

    /// [`Web::load`] on a blocking thread (reading files, parsing keys, checking bcrypt hashes
    /// and making the unknown-user hash are blocking, CPU-heavy work).
    pub async fn load_blocking(file: Option<PathBuf>) -> Result<Arc<Web>, WebConfigError> {
        let named = file.clone();
        tokio::task::spawn_blocking(move || Web::load(file))
            .await
            .unwrap_or_else(|e| Err(panicked(named, &e)))
    }

    /// [`Web::reload_if_changed`] on a blocking thread, for the same reason.
    pub async fn reload_if_changed_blocking(self: &Arc<Self>) -> Result<bool, WebConfigError> {
        let web = Arc::clone(self);
        tokio::task::spawn_blocking(move || web.reload_if_changed())
            .await
            .unwrap_or_else(|e| Err(panicked(self.file.clone(), &e)))
    }

    pub fn config(&self) -> Arc<WebConfig> {
        self.current.load_full()
    }

    /// Re-reads the file; on error the running web config stays.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let stamp = modified(file);
        let config = web_config::load(file)?;
        self.current.store(Arc::new(config));
        if let Ok(mut s) = self.stamp.lock() {
            *s = stamp;
        }
        self.auth_cache.clear();
        info!(file = %file.display(), "web config loaded");
        Ok(())
    }

    /// Reloads when the file's modification time changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, WebConfigError> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let now = modified(file);
        let before = self.stamp.lock().map(|s| *s).unwrap_or(None);
        if now == before {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Whether the `Authorization` header carries a configured user and its password. A
    /// remembered login answers at once; any other costs a bcrypt on a blocking thread, at most
    /// [`BCRYPT_AT_ONCE`] at a time. An unknown user costs one bcrypt too (against the config's
    /// dummy hash, of the users' cost), exactly as a known user's wrong password does: response
    /// times do not tell which users exist.
    async fn authorized(&self, config: &WebConfig, authorization: Option<&str>) -> Login {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return Login::Refused;
        };
        let (hash, known) = match (config.users.get(&user), &config.dummy_hash) {
            (Some(hash), _) => (hash, true),
            (None, Some(dummy)) => (dummy, false),
            (None, None) => return Login::Refused,
        };
        let key = cache_key(&user, &password, hash);
        // Only a known user's verified login is ever inserted.
        if self.auth_cache.get(&key).is_some() {
            return Login::Accepted;
        }
        let slot =
            tokio::time::timeout(BCRYPT_WAIT, Arc::clone(&self.bcrypt_slots).acquire_owned()).await;
        let Ok(Ok(_slot)) = slot else {
            return Login::Busy;
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let hash = hash.clone();
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if verified && known {
            self.auth_cache.insert(key, ());
            Login::Accepted
        } else {
            Login::Refused
        }
    }
}

/// How a basic-auth login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    Accepted,
    Refused,
    /// Too many verifications waiting: answered 503 without a verdict.
    Busy,
}

/// A web config load that panicked on its blocking thread, as a load error.
fn panicked(file: Option<PathBuf>, e: &tokio::task::JoinError) -> WebConfigError {
    WebConfigError {
        file: file.unwrap_or_default(),
        field: "(load)".into(),
        reason: format!("the load did not finish: {e}"),
    }
}

fn modified(file: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

/// The cache holds digests, never passwords.
fn cache_key(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, password, hash] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Middleware: basic auth when users are configured, and the configured response headers.
pub async fn guard(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let config = web.config();
    if !config.users.is_empty() {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match web.authorized(&config, authorization).await {
            Login::Accepted => {}
            Login::Refused => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"origin_exporter\"")],
                    "Unauthorized\n",
                )
                    .into_response()
            }
            Login::Busy => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many logins being verified; try again\n",
                )
                    .into_response()
            }
        }
    }
    let mut response = next.run(request).await;
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

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

    #[test]
    fn parses_basic_credentials() {
        // "alice:pa:ss" — a colon in the password is allowed.
        assert_eq!(
            basic_credentials("Basic YWxpY2U6cGE6c3M="),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }

    #[test]
    fn a_changed_file_is_picked_up_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&file, "").unwrap();
        let web = Web::load(Some(file.clone())).unwrap();
        assert!(!web.reload_if_changed().unwrap(), "unchanged file reloaded");

        let touch = |text: &str, secs: u64| {
            std::fs::write(&file, text).unwrap();
            let t = SystemTime::now() + Duration::from_secs(secs);
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        touch(&format!("basic_auth_users: {{u: '{hash}'}}"), 10);
        assert!(web.reload_if_changed().unwrap());
        assert!(web.config().users.contains_key("u"));

        touch("basic_auth_users: {u: broken}", 20);
        assert!(web.reload_if_changed().is_err());
        assert!(
            web.config().users.contains_key("u"),
            "the running config must stay"
        );
    }

    #[tokio::test]
    async fn auth_checks_and_caches_successes_only() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let web = Web::load(None).unwrap();
        let mut config = WebConfig::default();
        config.users.insert("alice".into(), hash);
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        let login = |h: Option<String>| {
            let (web, config) = (&web, &config);
            async move { web.authorized(config, h.as_deref()).await }
        };
        assert_eq!(
            login(Some(header("alice", "secret"))).await,
            Login::Accepted
        );
        assert_eq!(web.auth_cache.len(), 1);
        assert_eq!(
            login(Some(header("alice", "secret"))).await,
            Login::Accepted
        );
        assert_eq!(login(Some(header("alice", "wrong"))).await, Login::Refused);
        assert_eq!(login(None).await, Login::Refused);
        assert_eq!(login(Some("Bearer x".into())).await, Login::Refused);
        // Failures are not remembered: only the one success is.
        assert_eq!(web.auth_cache.len(), 1);
    }

    /// An unknown user costs exactly one bcrypt verification, as a known user's wrong password
    /// does (counted, not timed), and is never remembered; a remembered login costs none.
    #[tokio::test]
    async fn an_unknown_user_costs_one_bcrypt_like_a_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        let hash = bcrypt::hash("secret", 4).unwrap();
        std::fs::write(&file, format!("basic_auth_users: {{alice: '{hash}'}}")).unwrap();
        let web = Web::load(Some(file)).unwrap();
        let config = web.config();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        let verifications = || web.verifications.load(Ordering::Relaxed);
        let mut costs = Vec::new();
        for (user, password, want) in [
            ("alice", "wrong", Login::Refused),
            ("mallory", "secret", Login::Refused),
            ("mallory", "wrong", Login::Refused),
            ("", "", Login::Refused),
            ("alice", "secret", Login::Accepted),
            ("alice", "secret", Login::Accepted),
        ] {
            let before = verifications();
            let got = web.authorized(&config, Some(&header(user, password))).await;
            assert_eq!(got, want, "{user}:{password}");
            costs.push(verifications() - before);
        }
        // The last login was remembered from the one before.
        assert_eq!(costs, [1, 1, 1, 1, 1, 0]);
        assert_eq!(web.auth_cache.len(), 1);
    }

    #[tokio::test]
    async fn logins_wait_for_a_verification_slot_and_are_busy_past_the_wait() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let web = Web::load(None).unwrap();
        let mut config = WebConfig::default();
        config.users.insert("alice".into(), hash.clone());
        let alice = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:secret")
        );
        // Every slot taken (as by a flood of wrong passwords): a new login waits, then is busy.
        let taken: Vec<_> = (0..BCRYPT_AT_ONCE)
            .map(|_| Arc::clone(&web.bcrypt_slots).try_acquire_owned().unwrap())
            .collect();
        tokio::time::pause();
        assert_eq!(web.authorized(&config, Some(&alice)).await, Login::Busy);
        tokio::time::resume();
        drop(taken);
        assert_eq!(web.authorized(&config, Some(&alice)).await, Login::Accepted);
        // Remembered: accepted without a slot even while every slot is taken.
        let _taken: Vec<_> = (0..BCRYPT_AT_ONCE)
            .map(|_| Arc::clone(&web.bcrypt_slots).try_acquire_owned().unwrap())
            .collect();
        assert_eq!(web.authorized(&config, Some(&alice)).await, Login::Accepted);
    }

    #[test]
    fn the_auth_cache_stays_bounded_and_keeps_what_is_used() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let web = Web::load(None).unwrap();
        let alice_key = cache_key("alice", "secret", &hash);
        web.auth_cache.insert(alice_key, ());
        // Three times the bound of other logins while the scraper keeps coming back.
        for i in 0..3 * AUTH_CACHE_MAX {
            web.auth_cache
                .insert(cache_key("user", &i.to_string(), &hash), ());
            if i % 100 == 0 {
                assert!(web.auth_cache.get(&alice_key).is_some(), "evicted at {i}");
            }
        }
        assert!(web.auth_cache.len() <= AUTH_CACHE_MAX);
        assert!(web.auth_cache.len() > AUTH_CACHE_MAX / 2);
        assert!(web.auth_cache.get(&alice_key).is_some());
    }

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
