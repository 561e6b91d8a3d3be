//! Origins that change while the daemon runs: a rustls origin (TLS 1.2 and 1.3, HTTP/1.1 after
//! the handshake) whose served chain, client certificate policy, HTTP status and listening
//! socket are each switched from the test. A switch changes only what it names: refusing client
//! certificates leaves the first flight as it was (same chain, same CertificateRequest), as a
//! server that starts checking a revocation list does. Binds 127.0.0.1 and stops on drop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::http::{serve, Answer};
use super::pki::{Ca, Leaf, Pki};

/// What the origin does now; every field is read per connection.
#[derive(Debug)]
struct State {
    /// The served chain: the leaf, then the lab intermediate.
    chain: ArcSwap<CertifiedKey>,
    /// The handshake asks for a client certificate (a CertificateRequest).
    ask: AtomicBool,
    /// Every client certificate is refused once received (alert `certificate_revoked`).
    refuse: Arc<AtomicBool>,
    /// The HTTP status of every answer.
    status: AtomicU16,
}

/// Serves whatever chain is current.
#[derive(Debug)]
struct CurrentChain(Arc<State>);

impl ResolvesServerCert for CurrentChain {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.chain.load_full())
    }
}

/// Verifies client certificates against a CA as any server does, then refuses them while
/// `refuse` is set: the CertificateRequest (its CA names and signature schemes) stays the same.
#[derive(Debug)]
struct Refusing {
    inner: Arc<dyn ClientCertVerifier>,
    refuse: Arc<AtomicBool>,
}

impl ClientCertVerifier for Refusing {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.refuse.load(Ordering::SeqCst) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A rustls origin on 127.0.0.1 that changes on demand (see the module's text).
pub struct SwitchOrigin {
    pub addr: SocketAddr,
    state: Arc<State>,
    /// Without and with a CertificateRequest, both serving [`State::chain`].
    configs: [Arc<rustls::ServerConfig>; 2],
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl SwitchOrigin {
    /// Serves `leaf` (and the lab intermediate) and answers HTTP 200; client certificates,
    /// when asked for, are verified against `client_ca`.
    pub async fn start(pki: &Pki, leaf: &Leaf, client_ca: &Ca) -> SwitchOrigin {
        let refuse = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State {
            chain: ArcSwap::new(certified(pki, leaf)),
            ask: AtomicBool::new(false),
            refuse: Arc::clone(&refuse),
            status: AtomicU16::new(200),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(client_ca.der.clone()).expect("client CA");
        let inner =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .expect("client verifier");
        let verifier = Arc::new(Refusing { inner, refuse });
        let builder = || {
            rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .expect("versions")
        };
        let resolver = Arc::new(CurrentChain(Arc::clone(&state)));
        let configs = [
            builder()
                .with_no_client_auth()
                .with_cert_resolver(resolver.clone()),
            builder()
                .with_client_cert_verifier(verifier)
                .with_cert_resolver(resolver),
        ]
        .map(Arc::new);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let origin = SwitchOrigin {
            addr,
            state,
            configs,
            listener: Mutex::new(None),
        };
        origin.listen(listener);
        origin
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Serves `leaf` (and the lab intermediate) from the next handshake on.
    pub fn serve(&self, pki: &Pki, leaf: &Leaf) {
        self.state.chain.store(certified(pki, leaf));
    }

    /// Asks for a client certificate (a CertificateRequest in the first flight), or stops asking.
    pub fn ask_client_certificate(&self, ask: bool) {
        self.state.ask.store(ask, Ordering::SeqCst);
    }

    /// Refuses every client certificate once received, or accepts the ones its CA issued again;
    /// the first flight does not change.
    pub fn refuse_client_certificates(&self, refuse: bool) {
        self.state.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Answers every request with `status`.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Stops listening: the port refuses connections once this returns.
    pub async fn close(&self) {
        let task = self.lock_listener().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(self.addr).await.is_ok() {
            assert!(Instant::now() < deadline, "{} still accepts", self.addr);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Listens again on the same port.
    pub async fn reopen(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .unwrap_or_else(|e| panic!("rebind {}: {e}", self.addr));
        self.listen(listener);
    }

    fn listen(&self, listener: TcpListener) {
        let (state, configs) = (Arc::clone(&self.state), self.configs.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let config = &configs[usize::from(state.ask.load(Ordering::SeqCst))];
                let acceptor = TlsAcceptor::from(Arc::clone(config));
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let accepted =
                        tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = accepted {
                        let sni = stream.get_ref().1.server_name().map(str::to_string);
                        let answer =
                            Answer::new(state.status.load(Ordering::SeqCst), Duration::ZERO);
                        serve(stream, sni, answer, Arc::default()).await;
                    }
                });
            }
        });
        *self.lock_listener() = Some(task);
    }

    fn lock_listener(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.listener.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SwitchOrigin {
    fn drop(&mut self) {
        if let Some(task) = self.lock_listener().take() {
            task.abort();
        }
    }
}

/// `leaf` and the lab intermediate, with the leaf's key.
fn certified(pki: &Pki, leaf: &Leaf) -> Arc<CertifiedKey> {
    let provider = rustls::crypto::ring::default_provider();
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            leaf.key_der.clone(),
        )))
        .expect("signing key");
    Arc::new(CertifiedKey::new(
        vec![leaf.der.clone(), pki.inter.der.clone()],
        key,
    ))
}
