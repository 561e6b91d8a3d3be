//! HTTP origins: answer every request with a fixed status after a delay, over plain TCP or TLS,
//! and record the Host header (and SNI) each request arrived with.

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
        Self::start(status, delay, None, None).await
    }

    /// Plain HTTP answering `status` only to requests that carry header `name: value` (as a
    /// CDN's custom origin header proves the request came through it), 403 to the others.
    pub async fn requiring_header(status: u16, name: &str, value: &str) -> HttpOrigin {
        let required = Some((name.to_ascii_lowercase(), value.to_string()));
        Self::start(status, Duration::ZERO, None, required).await
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
            status,
            delay,
            Some(TlsAcceptor::from(Arc::new(config))),
            None,
        )
        .await
    }

    async fn start(
        status: u16,
        delay: Duration,
        tls: Option<TlsAcceptor>,
        required: Option<(String, String)>,
    ) -> HttpOrigin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, tls, required) = (Arc::clone(&log), tls.clone(), required.clone());
                tokio::spawn(async move {
                    let answer = Answer {
                        status,
                        delay,
                        required,
                    };
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
pub struct Answer {
    pub status: u16,
    pub delay: Duration,
    /// A header (lowercased name, value) without which it answers 403.
    pub required: Option<(String, String)>,
}

/// Reads one request head, records it, waits, answers with `status` and closes.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    sni: Option<String>,
    answer: Answer,
    log: Arc<Mutex<Vec<Seen>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        // Not HTTP (a TLS ClientHello, say): answer as nginx does and close.
        if !head[0].is_ascii_alphabetic() {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
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
    let response =
        format!("HTTP/1.1 {status} Lab\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
