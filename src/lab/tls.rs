//! TLS servers in this process: rustls origins serving any chain (in any order) with a choice of
//! versions and suites, the HTTP server behind an AIA URL, and plain HTTP on a TLS port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::pki::{Leaf, Pki};

/// Serves a fixed chain, whatever its order, and records the SNI of each ClientHello.
#[derive(Debug)]
struct FixedChain {
    key: Arc<CertifiedKey>,
    snis: Arc<Mutex<Vec<String>>>,
}

impl ResolvesServerCert for FixedChain {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Ok(mut s) = self.snis.lock() {
            s.push(hello.server_name().unwrap_or_default().to_string());
        }
        Some(Arc::clone(&self.key))
    }
}

/// A rustls origin on 127.0.0.1 serving `chain` (in that order) with `key`.
pub struct RustlsOrigin {
    pub addr: SocketAddr,
    snis: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

/// What a lab rustls server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// TLS 1.2, every suite rustls has.
    Tls12,
    /// TLS 1.2 and 1.3.
    Tls12And13,
    /// TLS 1.3 only: no version the CDN offers an origin.
    Tls13Only,
    /// TLS 1.2 with ChaCha20-Poly1305 suites only: none the CDN offers.
    Tls12ChaChaOnly,
}

impl Speaks {
    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        // rustls's versions are statics, which a constant slice cannot borrow.
        static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static BOTH: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            Speaks::Tls12 | Speaks::Tls12ChaChaOnly => &TLS12,
            Speaks::Tls12And13 => &BOTH,
            Speaks::Tls13Only => &TLS13,
        }
    }

    fn provider(self) -> rustls::crypto::CryptoProvider {
        let mut provider = rustls::crypto::ring::default_provider();
        if self == Speaks::Tls12ChaChaOnly {
            provider.cipher_suites.retain(|s| {
                matches!(
                    s.suite(),
                    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                        | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                )
            });
        }
        provider
    }
}

impl RustlsOrigin {
    /// `tls13`: TLS 1.2 and 1.3; else TLS 1.2 only.
    pub async fn start(chain: Vec<CertificateDer<'static>>, key: &[u8], tls13: bool) -> Self {
        let speaks = if tls13 {
            Speaks::Tls12And13
        } else {
            Speaks::Tls12
        };
        Self::speaking(chain, key, speaks).await
    }

    /// Serves `chain` (in that order) with `key`, speaking `speaks`.
    pub async fn speaking(chain: Vec<CertificateDer<'static>>, key: &[u8], speaks: Speaks) -> Self {
        let provider = Arc::new(speaks.provider());
        let signing = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())))
            .expect("signing key");
        let snis = Arc::new(Mutex::new(Vec::new()));
        let resolver = FixedChain {
            key: Arc::new(CertifiedKey::new(chain, signing)),
            snis: Arc::clone(&snis),
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(speaks.versions())
            .expect("versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream)).await;
                });
            }
        });
        RustlsOrigin { addr, snis, task }
    }

    /// A leaf plus the lab intermediate, leaf first.
    pub async fn serving(pki: &Pki, leaf: &Leaf, tls13: bool) -> Self {
        Self::start(
            vec![leaf.der.clone(), pki.inter.der.clone()],
            &leaf.key_der,
            tls13,
        )
        .await
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The SNI of every ClientHello that reached certificate selection.
    pub fn snis(&self) -> Vec<String> {
        self.snis.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for RustlsOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback HTTP server answering every request with one body: the issuer behind an AIA URL.
pub struct AiaServer {
    pub url: String,
    body: Arc<Mutex<Vec<u8>>>,
    hits: Arc<Mutex<usize>>,
    task: JoinHandle<()>,
}

impl AiaServer {
    /// Binds first, so that the URL can be baked into a leaf before the body is known.
    pub async fn start(path: &str) -> AiaServer {
        Self::start_on("127.0.0.1", path).await
    }

    /// The same on another loopback address (`127.0.0.2`...).
    pub async fn start_on(ip: &str, path: &str) -> AiaServer {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind");
        let url = format!("http://{}{path}", listener.local_addr().expect("addr"));
        let body: Arc<Mutex<Vec<u8>>> = Arc::default();
        let hits: Arc<Mutex<usize>> = Arc::default();
        let (b, h) = (Arc::clone(&body), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = b.lock().map(|b| b.clone()).unwrap_or_default();
                if let Ok(mut n) = h.lock() {
                    *n += 1;
                }
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        AiaServer {
            url,
            body,
            hits,
            task,
        }
    }

    pub fn serve(&self, body: &[u8]) {
        if let Ok(mut b) = self.body.lock() {
            *b = body.to_vec();
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.lock().map(|n| *n).unwrap_or(0)
    }
}

impl Drop for AiaServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Plain HTTP on the TLS port: answers whatever arrives with `400 Bad Request`, as nginx does
/// when a ClientHello reaches its HTTP listener.
pub struct PlainHttpPort {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl PlainHttpPort {
    pub async fn start() -> PlainHttpPort {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    if matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                        let _ = stream
                            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                    }
                });
            }
        });
        PlainHttpPort { addr, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for PlainHttpPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}
