//! HTTP origins: answer every request with a fixed status after a delay, over plain TCP or TLS,
//! and record the Host header (and SNI) each request arrived with; or trickle the body, a piece
//! at a time; or keep the connection idle for a while after the answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// What one request looked like on arrival.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub request_line: String,
    pub host: Option<String>,
    pub sni: Option<String>,
    /// Every header as received, names lowercased.
    pub headers: Vec<(String, String)>,
}

pub struct HttpOrigin {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl HttpOrigin {
    /// Plain HTTP answering `status` after `delay`.
    pub async fn plain(status: u16, delay: Duration) -> HttpOrigin {
        Self::start(Answer::new(status, delay), None).await
    }

    /// Plain HTTP answering 200 at once with a body of `pieces` pieces of [`PIECE`] bytes (its
    /// `Content-Length` says so): the first with the headers, then one every `every`.
    pub async fn trickling(pieces: usize, every: Duration) -> HttpOrigin {
        let answer = Answer {
            trickle: Some((pieces, every)),
            ..Answer::new(200, Duration::ZERO)
        };
        Self::start(answer, None).await
    }

    /// Plain HTTP answering 200 at once with a body of `pieces` [`PIECE`]s, sent as fast as the
    /// client reads, and keeping the connection open after it (no `Connection: close`) until the
    /// client closes it.
    pub async fn large(pieces: usize) -> HttpOrigin {
        let answer = Answer {
            trickle: Some((pieces, Duration::ZERO)),
            keep_open: true,
            ..Answer::new(200, Duration::ZERO)
        };
        Self::start(answer, None).await
    }

    /// Plain HTTP answering 200 at once and keeping the connection for the next request, but
    /// closing it once idle for `idle` (a server's keep-alive timeout, nginx's
    /// `keepalive_timeout`, Go's `IdleTimeout`).
    pub async fn closing_idle_after(idle: Duration) -> HttpOrigin {
        let answer = Answer {
            idle_close: Some(idle),
            ..Answer::new(200, Duration::ZERO)
        };
        Self::start(answer, None).await
    }

    /// Plain HTTP answering `status` only to requests that carry header `name: value` (as a
    /// CDN's custom origin header proves the request came through it), 403 to the others.
    pub async fn requiring_header(status: u16, name: &str, value: &str) -> HttpOrigin {
        let answer = Answer {
            required: Some((name.to_ascii_lowercase(), value.to_string())),
            ..Answer::new(status, Duration::ZERO)
        };
        Self::start(answer, None).await
    }

    /// HTTPS with a self-signed certificate for `names`, answering `status` after `delay`.
    pub async fn tls(status: u16, delay: Duration, names: &[&str]) -> HttpOrigin {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let cert = rcgen::generate_simple_self_signed(names).expect("self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
            .expect("server config");
        Self::start(
            Answer::new(status, delay),
            Some(TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn start(answer: Answer, tls: Option<TlsAcceptor>) -> HttpOrigin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, tls, answer) = (Arc::clone(&log), tls.clone(), answer.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, None, answer, log).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let sni = stream.get_ref().1.server_name().map(str::to_string);
                                serve(stream, sni, answer, log).await;
                            }
                        }
                    }
                });
            }
        });
        HttpOrigin { addr, seen, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for HttpOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How an origin answers.
#[derive(Clone)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) delay: Duration,
    /// A header (lowercased name, value) without which it answers 403.
    pub(super) required: Option<(String, String)>,
    /// The body in this many [`PIECE`]s, one every so long, instead of `ok`.
    pub(super) trickle: Option<(usize, Duration)>,
    /// Keep the connection open after the answer (until the client closes it, at most
    /// [`KEPT_OPEN`]) instead of `Connection: close`.
    pub(super) keep_open: bool,
    /// Keep the connection after each answer and serve the next request on it, closing it
    /// once it has been idle this long (a server's keep-alive timeout).
    pub(super) idle_close: Option<Duration>,
}

/// The longest a kept-open connection waits for its client to close it.
const KEPT_OPEN: Duration = Duration::from_secs(30);

impl Answer {
    pub(super) fn new(status: u16, delay: Duration) -> Answer {
        Answer {
            status,
            delay,
            required: None,
            trickle: None,
            keep_open: false,
            idle_close: None,
        }
    }
}

/// The size of one piece of a trickled body.
pub const PIECE: usize = 1024;

/// Serves one request: reads its head, records it, waits, answers with `status`; then closes,
/// or keeps the connection ([`Answer::keep_open`], [`Answer::idle_close`]).
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    sni: Option<String>,
    answer: Answer,
    log: Arc<Mutex<Vec<Seen>>>,
) {
    // The first request may take as long as it likes; the next ones only `idle_close`.
    let mut idle = None;
    loop {
        let Some(head) = read_head(&mut stream, idle).await else {
            break;
        };
        if !respond(&mut stream, &head, sni.clone(), &answer, &log).await {
            return;
        }
        match answer.idle_close {
            Some(after) => idle = Some(after),
            None => break,
        }
    }
    if answer.keep_open {
        let mut rest = [0u8; 1024];
        let _ = tokio::time::timeout(KEPT_OPEN, async {
            while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
        })
        .await;
    }
    let _ = stream.shutdown().await;
}

/// A request head, read within `idle` of the call when given; `None` when the client closed
/// or sent something else than HTTP (answered `400` as nginx does), or `idle` passed first.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    idle: Option<Duration>,
) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = match idle {
            Some(idle) if head.is_empty() => tokio::time::timeout(idle, stream.read(&mut buf))
                .await
                .ok()?,
            _ => stream.read(&mut buf).await,
        };
        match read {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        // Not HTTP (a TLS ClientHello, say): answer as nginx does and close.
        if !head[0].is_ascii_alphabetic() {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            return None;
        }
    }
    Some(head)
}

/// Records the request of `head`, waits, and writes the answer; `false` if the client went.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: &[u8],
    sni: Option<String>,
    answer: &Answer,
    log: &Mutex<Vec<Seen>>,
) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let host = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone());
    let status = match &answer.required {
        Some(req) if !headers.contains(req) => 403,
        _ => answer.status,
    };
    if let Ok(mut v) = log.lock() {
        v.push(Seen {
            request_line,
            host,
            sni,
            headers,
        });
    }
    tokio::time::sleep(answer.delay).await;
    let connection = if answer.keep_open || answer.idle_close.is_some() {
        ""
    } else {
        "Connection: close\r\n"
    };
    match answer.trickle {
        None => {
            let response =
                format!("HTTP/1.1 {status} Lab\r\nContent-Length: 2\r\n{connection}\r\nok");
            stream.write_all(response.as_bytes()).await.is_ok()
        }
        Some((pieces, every)) => {
            let head = format!(
                "HTTP/1.1 {status} Lab\r\nContent-Length: {}\r\n{connection}\r\n",
                pieces * PIECE
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            for i in 0..pieces {
                if i > 0 && !every.is_zero() {
                    tokio::time::sleep(every).await;
                }
                if stream.write_all(&[b'x'; PIECE]).await.is_err() {
                    return false;
                }
                let _ = stream.flush().await;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Sends a GET on `stream` and reads its answer (`Content-Length: 2`) to its end.
    async fn get(stream: &mut tokio::net::TcpStream) -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
            .await
            .expect("request");
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        while !answer.ends_with(b"\r\n\r\nok") {
            let n = stream.read(&mut buf).await.expect("answer");
            assert!(n > 0, "closed before the answer ended");
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// The keep-alive origin serves the next request on the same connection, says nothing of
    /// closing it, and closes it once it has been idle for its timeout.
    #[tokio::test]
    async fn an_origin_closing_idle_connections_keeps_them_that_long() {
        let idle = Duration::from_millis(300);
        let origin = HttpOrigin::closing_idle_after(idle).await;
        let mut stream = tokio::net::TcpStream::connect(origin.addr)
            .await
            .expect("connect");
        for _ in 0..2 {
            let answer = get(&mut stream).await;
            assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
            assert!(!answer.to_ascii_lowercase().contains("connection: close"));
        }
        let since = Instant::now();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0))), "{read:?}");
        assert!(
            since.elapsed() >= idle,
            "closed after {:?}",
            since.elapsed()
        );
        assert_eq!(origin.seen().len(), 2);
    }
}
