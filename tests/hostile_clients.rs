//! Hostile clients of the web listener: connections that send nothing, slowloris clients that
//! send a request head one byte a second and never finish it, and idle keep-alive connections.
//! Against the running exporter (plain HTTP and TLS), a scrape must still be answered at once,
//! and the server must close every such connection itself: after [`HEADER_READ_TIMEOUT`] for a
//! head that never completes (or [`HANDSHAKE_TIMEOUT`] for a TLS handshake that never starts),
//! at once for the oldest idle ones (handshakes in progress included) when the
//! [`MAX_CONNECTIONS`] slots are all taken.
//!
//! The plain test holds 1,000 idle and 100 slowloris connections from this process, the TLS test
//! more than [`MAX_CONNECTIONS`] silent ones, whose server ends are in this process too: about
//! 4,500 file descriptors together (see [`ensure_fds`]).

#![allow(
    clippy::disallowed_methods,
    reason = "the test's own clients connect directly: they are not the exporter's probes"
)]

mod lab;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::tcp::OpenPort;
use lab::webpki::{https_get, WebPki};
use lab::Exporter;
use origin_exporter::server::listener::{HANDSHAKE_TIMEOUT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const IDLE: usize = 1000;
const SLOWLORIS: usize = 100;
/// Silent TLS connections beyond the connection limit: at least this many must be closed to
/// make room.
const BEYOND: usize = 64;
/// Silent TLS connections opened first: more than the old cap on handshakes in progress (256),
/// which held the accept loop, and well below the connection limit.
const SILENT_BELOW: usize = 300;
/// What "at once" means for a scrape under attack (the bound), at the least: see
/// [`scrape_bound`].
const SCRAPE_BOUND: Duration = Duration::from_secs(2);
/// How long past the header timeout a connection may stay open before the test fails: the
/// timer is armed when the server starts reading, a little after the client connected.
const SLACK: Duration = Duration::from_secs(5);
/// File descriptors both tests of this file need at once: each connection twice (client and
/// server end), plus the runtime's, the origins' and the scrapes'.
const FDS: u64 = (2 * (IDLE + SLOWLORIS) + 2 * (MAX_CONNECTIONS + BEYOND + 20) + 512) as u64;

/// How long a scrape under attack may take: ten times one answered without attack in the same
/// test (a loaded machine is slow for both), at least [`SCRAPE_BOUND`], and less than half the
/// TLS handshake timeout (a scrape held up by silent handshakes would take that long).
fn scrape_bound(baseline: Duration) -> Duration {
    (baseline * 10).max(SCRAPE_BOUND).min(HANDSHAKE_TIMEOUT / 2)
}

/// Waits until `done` holds, polling; fails after a minute.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never saw {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(port: u16) -> String {
    format!(
        "global: {{interval: 1s, timeout: 500ms}}\norigins:\n  - {{name: a, domain: a.lab.test, address: 127.0.0.1, https_port: {port}, checks: [tcp]}}\n"
    )
}

/// Reads until the server closes the connection (end of stream or an error); how long after
/// `since` that was. Anything the server sends first (an error page) is read and ignored.
async fn until_closed(mut stream: impl AsyncRead + Unpin, since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return since.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A slowloris client: sends a request head one byte a second and never ends it, counting each
/// byte sent in `sent`. Returns how long after `since` the server closed the connection, or
/// `None` if it was still open after the header timeout plus [`SLACK`].
async fn slowloris(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    since: Instant,
    sent: Arc<AtomicUsize>,
) -> Option<Duration> {
    let (reader, mut writer) = tokio::io::split(stream);
    let closed = until_closed(reader, since);
    let trickle = async {
        let head = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        for &byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[byte]).await.is_err() {
                return since.elapsed();
            }
            sent.fetch_add(1, Ordering::Relaxed);
            // The client's pace (what makes it a slowloris), not a wait for the server.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        since.elapsed()
    };
    let waited = HEADER_READ_TIMEOUT + SLACK;
    let first = async {
        tokio::select! {
            t = closed => t,
            t = trickle => t,
        }
    };
    tokio::time::timeout(waited, first).await.ok()
}

/// Opens `n` TCP connections to `addr` that send nothing; each task returns how long after its
/// connect the server closed it (`None`: still open after `limit`).
async fn silent(
    addr: std::net::SocketAddr,
    n: usize,
    limit: Duration,
    set: &mut JoinSet<Option<Duration>>,
) {
    for _ in 0..n {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let since = Instant::now();
        set.spawn(async move {
            tokio::time::timeout(limit, until_closed(stream, since))
                .await
                .ok()
        });
    }
}

/// Enough file descriptors for `need`: the soft limit is raised to it (within the hard limit)
/// when it is lower; panics, saying so, when the hard limit is lower.
fn ensure_fds(need: u64) {
    let (soft, hard) = fd_limits();
    eprintln!("file descriptors: need {need}, soft limit {soft}, hard limit {hard}");
    if soft >= need {
        return;
    }
    assert!(
        hard >= need,
        "this test needs {need} file descriptors; the hard limit is {hard} (ulimit -Hn)"
    );
    raise_soft_limit(need);
    let (soft, _) = fd_limits();
    assert!(soft >= need, "could not raise the soft limit to {need}");
}

/// (soft, hard) `RLIMIT_NOFILE`, from /proc/self/limits ("unlimited" is `u64::MAX`).
fn fd_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let mut values = line["Max open files".len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(u64::MAX));
    let soft = values.next().expect("soft limit");
    let hard = values.next().expect("hard limit");
    (soft, hard)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "setrlimit has no safe wrapper in libc")]
fn raise_soft_limit(to: u64) {
    let (_, hard) = fd_limits();
    let limit = libc::rlimit {
        rlim_cur: to,
        rlim_max: hard,
    };
    // SAFETY: a valid rlimit read by the call; RLIMIT_NOFILE is a valid resource.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn raise_soft_limit(to: u64) {
    panic!("this test needs {to} file descriptors: raise ulimit -n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_clients_neither_keep_the_scraper_out_nor_stay() {
    ensure_fds(FDS);
    let open = OpenPort::start().await;
    let exporter = Exporter::start(&config(open.port())).await;
    let addr = exporter.addr;
    let at = Instant::now();
    assert_eq!(exporter.get("/metrics").await.0, 200);
    let bound = scrape_bound(at.elapsed());

    let started = Instant::now();
    let mut idle = JoinSet::new();
    silent(addr, IDLE, HEADER_READ_TIMEOUT + SLACK, &mut idle).await;
    let mut slow = JoinSet::new();
    let sent = Arc::new(AtomicUsize::new(0));
    for _ in 0..SLOWLORIS {
        let stream = TcpStream::connect(addr).await.expect("connect");
        slow.spawn(slowloris(stream, Instant::now(), Arc::clone(&sent)));
    }
    let opened = started.elapsed();
    // Every slowloris client has its head started.
    until("two bytes from each slowloris client", || {
        sent.load(Ordering::Relaxed) >= 2 * SLOWLORIS
    })
    .await;

    let mut scrapes = Vec::new();
    for _ in 0..3 {
        let at = Instant::now();
        let (status, body) =
            tokio::time::timeout(Duration::from_secs(30), exporter.get("/metrics"))
                .await
                .expect("the scrape was answered");
        let took = at.elapsed();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("origin_exporter_build_info"), "{body}");
        assert!(body.contains("origin_tcp_port_up{"), "{body}");
        scrapes.push(took);
    }
    eprintln!(
        "{IDLE} idle + {SLOWLORIS} slowloris connections opened in {opened:?}; /metrics answered in {scrapes:?} (bound {bound:?})"
    );
    for took in &scrapes {
        assert!(*took < bound, "a scrape took {took:?}: {scrapes:?}");
    }

    // An idle keep-alive connection is closed after the header timeout too.
    let mut keep = TcpStream::connect(addr).await.expect("connect");
    keep.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut buf = [0u8; 1024];
    let n = keep.read(&mut buf).await.expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let answered = Instant::now();
    let keep_alive =
        tokio::time::timeout(HEADER_READ_TIMEOUT + SLACK, until_closed(keep, answered))
            .await
            .expect("idle keep-alive connection closed by the server");

    let mut slow_closed = Vec::new();
    while let Some(closed) = slow.join_next().await {
        slow_closed.push(
            closed
                .expect("slowloris task")
                .expect("slowloris closed by the server"),
        );
    }
    let (evicted, timed_out) = closed_early_and_late(idle, "idle", HEADER_READ_TIMEOUT).await;
    slow_closed.sort();
    eprintln!(
        "slowloris closed after {:?}..{:?}; idle: {evicted} closed at the connection limit, {} after {:?}..{:?}; keep-alive closed {keep_alive:?} after its response",
        slow_closed[0],
        slow_closed[slow_closed.len() - 1],
        timed_out.len(),
        timed_out.first(),
        timed_out.last(),
    );
    // The slowloris clients were closed by the header timeout, not earlier.
    let early = HEADER_READ_TIMEOUT - Duration::from_millis(500);
    assert!(slow_closed[0] >= early, "{slow_closed:?}");
    assert!(keep_alive >= early, "{keep_alive:?}");
    // Past the limit, idle connections made room: at least the excess of this test's own.
    assert!(
        evicted >= IDLE + SLOWLORIS - MAX_CONNECTIONS,
        "only {evicted} idle connections closed at the limit"
    );
    assert!(timed_out.iter().all(|t| *t >= early), "{timed_out:?}");

    // Everything hostile gone, the exporter still answers.
    let (status, _) = exporter.get("/-/healthy").await;
    assert_eq!(status, 200);
    exporter.stop().await;
}

/// Waits for every connection of `set` to be closed by the server; splits them into those
/// closed before half of `timeout` (to make room at the limit) and the others (sorted), which
/// must have lasted about `timeout`.
async fn closed_early_and_late(
    mut set: JoinSet<Option<Duration>>,
    what: &str,
    timeout: Duration,
) -> (usize, Vec<Duration>) {
    let mut early = 0;
    let mut late = Vec::new();
    while let Some(closed) = set.join_next().await {
        let after = closed
            .expect("task")
            .unwrap_or_else(|| panic!("{what} connection not closed by the server"));
        if after < timeout / 2 {
            early += 1;
        } else {
            late.push(after);
        }
    }
    late.sort();
    (early, late)
}

/// Over TLS: silent connections (no ClientHello) below the connection limit, more than there
/// used to be handshake permits, do not hold up the accept loop; past the limit, handshakes in
/// progress make room like idle connections; a scrape is answered at once throughout, and
/// every silent or slowloris client is closed by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_silent_and_slowloris_clients_are_closed_and_scrapes_answered() {
    const SLOW: usize = 20;
    ensure_fds(FDS);
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    let web = pki.web_config("tls_server_config: {cert_file: server.crt, key_file: server.key}\n");
    let exporter = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .expect("exporter starts");
    let addr = exporter.addr;
    let client = pki.client(None);
    let scrape = || async {
        let at = Instant::now();
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(30),
            https_get(addr, client.clone(), "/metrics", None),
        )
        .await
        .expect("the scrape was answered")
        .expect("scrape over TLS");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("origin_exporter_build_info"), "{body}");
        at.elapsed()
    };
    let bound = scrape_bound(scrape().await);
    let limit = HANDSHAKE_TIMEOUT + SLACK;

    // TCP connections that never start the handshake, below the connection limit. The
    // kernel's accept queue holds them before the scrape's connection, so the server has taken
    // each of them when it takes the scrape's.
    let mut silent_set = JoinSet::new();
    silent(addr, SILENT_BELOW, limit, &mut silent_set).await;
    let below = scrape().await;
    // Handshakes done, then a request head one byte a second.
    let mut slow = JoinSet::new();
    let sent = Arc::new(AtomicUsize::new(0));
    for _ in 0..SLOW {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(client.clone())
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        slow.spawn(slowloris(tls, Instant::now(), Arc::clone(&sent)));
    }
    until("two bytes from each TLS slowloris client", || {
        sent.load(Ordering::Relaxed) >= 2 * SLOW
    })
    .await;
    // Past the limit: the oldest silent handshakes must make room.
    silent(
        addr,
        MAX_CONNECTIONS - SILENT_BELOW - SLOW + BEYOND,
        limit,
        &mut silent_set,
    )
    .await;
    let beyond = scrape().await;
    eprintln!(
        "TLS: /metrics answered in {below:?} beside {SILENT_BELOW} silent clients, in {beyond:?} beside {} silent and {SLOW} slowloris clients (bound {bound:?})",
        MAX_CONNECTIONS + BEYOND - SLOW
    );
    assert!(
        below < bound,
        "the scrape took {below:?} beside {SILENT_BELOW} silent handshakes"
    );
    assert!(
        beyond < bound,
        "the scrape took {beyond:?} at the connection limit"
    );

    let early = HEADER_READ_TIMEOUT - Duration::from_millis(500);
    while let Some(closed) = slow.join_next().await {
        let after = closed
            .expect("task")
            .expect("TLS slowloris closed by the server");
        assert!(after >= early, "closed after {after:?}");
    }
    let (evicted, timed_out) =
        closed_early_and_late(silent_set, "silent TLS", HANDSHAKE_TIMEOUT).await;
    eprintln!(
        "silent TLS: {evicted} closed at the connection limit, {} after {:?}..{:?}",
        timed_out.len(),
        timed_out.first(),
        timed_out.last()
    );
    assert!(
        evicted >= BEYOND,
        "only {evicted} handshakes closed at the limit"
    );
    let handshake_early = HANDSHAKE_TIMEOUT - Duration::from_millis(500);
    assert!(
        timed_out.iter().all(|t| *t >= handshake_early),
        "{timed_out:?}"
    );
    exporter.stop().await;
}
