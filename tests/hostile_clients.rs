//! Hostile clients of the web listener: connections that send nothing, slowloris clients that
//! send a request head one byte a second and never finish it, and idle keep-alive connections.
//! Against the running exporter (plain HTTP and TLS), a scrape must still be answered at once,
//! and the server must close every such connection itself: after [`HEADER_READ_TIMEOUT`] for a
//! head that never completes (or a TLS handshake that never starts), at once for the oldest
//! idle ones when the [`MAX_CONNECTIONS`] slots are all taken.
//!
//! The plain test holds 1,000 idle and 100 slowloris connections from this process, whose
//! server ends are in this process too: about 2,300 file descriptors (see [`ensure_fds`]).

#![allow(
    clippy::disallowed_methods,
    reason = "the test's own clients connect directly: they are not the exporter's probes"
)]

mod lab;

use std::time::{Duration, Instant};

use lab::tcp::OpenPort;
use lab::webpki::{https_get, WebPki};
use lab::Exporter;
use origin_exporter::server::web::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const IDLE: usize = 1000;
const SLOWLORIS: usize = 100;
/// What "at once" means for a scrape under attack (the bound).
const SCRAPE_BOUND: Duration = Duration::from_secs(2);
/// How long past the header timeout a connection may stay open before the test fails: the
/// timer is armed when the server starts reading, a little after the client connected.
const SLACK: Duration = Duration::from_secs(5);

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

/// A slowloris client: sends a request head one byte a second and never ends it. Returns how
/// long after `since` the server closed the connection, or `None` if it was still open after
/// the header timeout plus [`SLACK`].
async fn slowloris(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    since: Instant,
) -> Option<Duration> {
    let (reader, mut writer) = tokio::io::split(stream);
    let closed = until_closed(reader, since);
    let trickle = async {
        let head = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        for &byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[byte]).await.is_err() {
                return since.elapsed();
            }
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
    // Each connection twice (client and server end), plus the runtime's, the origin's and the
    // scrapes'.
    ensure_fds(2 * (IDLE + SLOWLORIS) as u64 + 256);
    let open = OpenPort::start().await;
    let exporter = Exporter::start(&config(open.port())).await;
    let addr = exporter.addr;

    let started = Instant::now();
    let mut idle = JoinSet::new();
    for _ in 0..IDLE {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let since = Instant::now();
        idle.spawn(async move {
            tokio::time::timeout(HEADER_READ_TIMEOUT + SLACK, until_closed(stream, since))
                .await
                .ok()
        });
    }
    let mut slow = JoinSet::new();
    for _ in 0..SLOWLORIS {
        let stream = TcpStream::connect(addr).await.expect("connect");
        slow.spawn(slowloris(stream, Instant::now()));
    }
    let opened = started.elapsed();
    // Let the slowloris clients get a few bytes in.
    tokio::time::sleep(Duration::from_secs(2)).await;

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
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "{IDLE} idle + {SLOWLORIS} slowloris connections opened in {opened:?}; /metrics answered in {scrapes:?}"
    );
    for took in &scrapes {
        assert!(*took < SCRAPE_BOUND, "a scrape took {took:?}: {scrapes:?}");
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
    let mut evicted = 0;
    let mut timed_out = Vec::new();
    while let Some(closed) = idle.join_next().await {
        let after = closed
            .expect("idle task")
            .expect("idle connection closed by the server");
        if after < HEADER_READ_TIMEOUT / 2 {
            evicted += 1;
        } else {
            timed_out.push(after);
        }
    }
    slow_closed.sort();
    timed_out.sort();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_silent_and_slowloris_clients_are_closed_and_scrapes_answered() {
    const EACH: usize = 20;
    let open = OpenPort::start().await;
    let pki = WebPki::new();
    let web = pki.web_config("tls_server_config: {cert_file: server.crt, key_file: server.key}\n");
    let exporter = Exporter::start_with_web(&config(open.port()), Some(web))
        .await
        .expect("exporter starts");
    let addr = exporter.addr;
    let client = pki.client(None);

    // TCP connections that never start the handshake.
    let mut silent = JoinSet::new();
    for _ in 0..EACH {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let since = Instant::now();
        silent.spawn(async move {
            tokio::time::timeout(HEADER_READ_TIMEOUT + SLACK, until_closed(stream, since))
                .await
                .ok()
        });
    }
    // Handshakes done, then a request head one byte a second.
    let mut slow = JoinSet::new();
    for _ in 0..EACH {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(client.clone())
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        slow.spawn(slowloris(tls, Instant::now()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let at = Instant::now();
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(30),
        https_get(addr, client.clone(), "/metrics", None),
    )
    .await
    .expect("the scrape was answered")
    .expect("scrape over TLS");
    let took = at.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("origin_exporter_build_info"), "{body}");
    eprintln!(
        "TLS: /metrics answered in {took:?} beside {EACH} silent and {EACH} slowloris clients"
    );
    assert!(took < SCRAPE_BOUND, "the scrape took {took:?}");

    let early = HEADER_READ_TIMEOUT - Duration::from_millis(500);
    while let Some(closed) = slow.join_next().await {
        let after = closed
            .expect("task")
            .expect("TLS slowloris closed by the server");
        assert!(after >= early, "closed after {after:?}");
    }
    while let Some(closed) = silent.join_next().await {
        let after = closed
            .expect("task")
            .expect("silent connection closed by the server");
        assert!(after >= early, "closed after {after:?}");
    }
    exporter.stop().await;
}
