//! TLS origins for every certificate defect and every protocol/cipher case: a lab PKI made with
//! rcgen (root, intermediate, leaves with any validity window, names and AIA URL), rustls
//! servers on loopback, and `openssl s_server` children for what rustls cannot serve (TLS 1.0,
//! RSA key exchange, DHE, and a TLS 1.3-only server). Everything binds 127.0.0.1 and stops on
//! drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const DAY: i64 = 86_400;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A moment `days` from now, whole seconds (what a certificate can hold).
fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("valid time")
}

pub struct Ca {
    pub issuer: Issuer<'static, KeyPair>,
    pub der: CertificateDer<'static>,
    pub pem: String,
}

impl Ca {
    pub fn new(cn: &str, parent: Option<&Ca>) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = at(now() - 30 * DAY);
        p.not_after = at(now() + 3650 * DAY);
        let cert = match parent {
            None => p.self_signed(&key),
            Some(parent) => p.signed_by(&key, &parent.issuer),
        }
        .expect("CA certificate");
        Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Lowercase hex, as the exporter's `serial` label.
    pub serial: String,
}

/// How to make a leaf.
#[derive(Clone)]
pub struct LeafSpec {
    pub names: Vec<String>,
    /// Validity window, in days from now.
    pub valid_from_days: i64,
    pub valid_until_days: i64,
    pub aia_url: Option<String>,
    /// An RSA key (made by `openssl genpkey`): RSA key exchange and DHE-RSA need one.
    pub rsa: bool,
    /// An Ed25519 key: no signature scheme the CDN offers fits it.
    pub ed25519: bool,
    /// Subject attributes after the CN (organisation, country, e-mail...), in this order.
    pub subject: Vec<(DnType, rcgen::DnValue)>,
}

impl LeafSpec {
    pub fn new(names: &[&str]) -> LeafSpec {
        LeafSpec {
            names: names.iter().map(|s| s.to_string()).collect(),
            valid_from_days: -1,
            valid_until_days: 90,
            aia_url: None,
            rsa: false,
            ed25519: false,
            subject: Vec::new(),
        }
    }

    pub fn valid(mut self, from_days: i64, until_days: i64) -> LeafSpec {
        self.valid_from_days = from_days;
        self.valid_until_days = until_days;
        self
    }

    pub fn aia(mut self, url: &str) -> LeafSpec {
        self.aia_url = Some(url.to_string());
        self
    }

    pub fn rsa(mut self) -> LeafSpec {
        self.rsa = true;
        self
    }

    pub fn ed25519(mut self) -> LeafSpec {
        self.ed25519 = true;
        self
    }

    /// More subject attributes, after the CN.
    pub fn subject(mut self, entries: &[(DnType, rcgen::DnValue)]) -> LeafSpec {
        self.subject.extend(entries.iter().cloned());
        self
    }
}

/// The lab's PKI: a root (trusted through `global.ca_file`), an intermediate that issues the
/// leaves, and a second, untrusted root.
pub struct Pki {
    pub root: Ca,
    pub inter: Ca,
    pub stranger: Ca,
    pub ca_file: PathBuf,
    serial: Mutex<u64>,
    _dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let root = Ca::new("Lab Root CA", None);
        let inter = Ca::new("Lab Intermediate CA", Some(&root));
        let stranger = Ca::new("Stranger Root CA", None);
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("lab-ca.pem");
        std::fs::write(&ca_file, &root.pem).expect("write CA file");
        Pki {
            root,
            inter,
            stranger,
            ca_file,
            serial: Mutex::new(0x1000),
            _dir: dir,
        }
    }

    /// A leaf issued by `issuer` (`None`: self-signed).
    pub fn leaf(&self, spec: &LeafSpec, issuer: Option<&Ca>) -> Leaf {
        let key = if spec.ed25519 {
            KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key")
        } else if spec.rsa {
            KeyPair::from_pem_and_sign_algo(rsa_key_pem(), &rcgen::PKCS_RSA_SHA256)
                .expect("RSA key")
        } else {
            KeyPair::generate().expect("key")
        };
        let mut p = CertificateParams::new(spec.names.clone()).expect("params");
        p.distinguished_name
            .push(DnType::CommonName, &spec.names[0]);
        for (kind, value) in &spec.subject {
            p.distinguished_name.push(kind.clone(), value.clone());
        }
        let (nb, na) = (
            now() + spec.valid_from_days * DAY,
            now() + spec.valid_until_days * DAY,
        );
        p.not_before = at(nb);
        p.not_after = at(na);
        let serial = {
            let mut s = self.serial.lock().expect("serial lock");
            *s += 1;
            *s
        };
        let serial_bytes = serial.to_be_bytes();
        let serial_bytes = &serial_bytes[serial_bytes.iter().position(|b| *b != 0).unwrap_or(7)..];
        p.serial_number = Some(SerialNumber::from_slice(serial_bytes));
        if let Some(url) = &spec.aia_url {
            p.custom_extensions.push(aia_extension(url));
        }
        let cert = match issuer {
            Some(ca) => p.signed_by(&key, &ca.issuer),
            None => p.self_signed(&key),
        }
        .expect("leaf certificate");
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
            not_before: nb,
            not_after: na,
            serial: serial_bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl Pki {
    /// A CRL of the lab intermediate (valid from a day ago for a week) revoking `revoked`, in
    /// PEM: what a server checks client certificates against (`openssl s_server -CRL`).
    pub fn crl(&self, revoked: &[&Leaf]) -> String {
        let revoked_certs = revoked
            .iter()
            .map(|leaf| rcgen::RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex_bytes(&leaf.serial)),
                revocation_time: at(now() - 60),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        rcgen::CertificateRevocationListParams {
            this_update: at(now() - DAY),
            next_update: at(now() + 7 * DAY),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&self.inter.issuer)
        .expect("CRL")
        .pem()
        .expect("CRL PEM")
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// An AuthorityInfoAccess extension with one caIssuers URI, DER-encoded by hand (rcgen has no
/// builder for it).
pub fn aia_extension(url: &str) -> CustomExtension {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128, "short form lengths only");
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }
    let method = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02]);
    let location = tlv(0x86, url.as_bytes());
    let description = tlv(0x30, &[method, location].concat());
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], tlv(0x30, &description))
}

/// One 2048-bit RSA key for the whole test binary (ring cannot generate RSA keys).
fn rsa_key_pem() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .stderr(Stdio::null())
            .output()
            .expect("openssl genpkey: install openssl with `bash scripts/install-test-deps.sh`");
        assert!(out.status.success(), "openssl genpkey failed");
        String::from_utf8(out.stdout).expect("PEM")
    })
}

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

impl RustlsOrigin {
    /// `tls13`: TLS 1.2 and 1.3; else TLS 1.2 only.
    pub async fn start(chain: Vec<CertificateDer<'static>>, key: &[u8], tls13: bool) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())))
            .expect("signing key");
        let snis = Arc::new(Mutex::new(Vec::new()));
        let resolver = FixedChain {
            key: Arc::new(CertifiedKey::new(chain, signing)),
            snis: Arc::clone(&snis),
        };
        let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13 {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS12]
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
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

/// An `openssl s_server` child on 127.0.0.1, killed on drop.
pub struct OpenSslOrigin {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl OpenSslOrigin {
    /// Serves `leaf` and the lab intermediate with extra `s_server` arguments (protocol and
    /// cipher selection).
    pub async fn start(pki: &Pki, leaf: &Leaf, args: &[&str]) -> OpenSslOrigin {
        // A free port: bound then released (s_server binds it itself).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Self::start_at(pki, leaf, ([127, 0, 0, 1], port).into(), args).await
    }

    /// The same on a given loopback address and port.
    pub async fn start_at(
        pki: &Pki,
        leaf: &Leaf,
        addr: SocketAddr,
        args: &[&str],
    ) -> OpenSslOrigin {
        assert!(addr.ip().is_loopback(), "lab servers bind loopback only");
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write PEM");
            p
        };
        let cert = write("cert.pem", &leaf.pem);
        let key = write("key.pem", &leaf.key_pem);
        let chain = write("chain.pem", &pki.inter.pem);
        let mut child = Command::new("openssl")
            .arg("s_server")
            .args(["-accept", &addr.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .arg("-cert_chain")
            .arg(&chain)
            .args(["-www", "-quiet"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server: install openssl with `bash scripts/install-test-deps.sh`");
        // Ready when it accepts a connection.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("openssl s_server {args:?} exited: {status}");
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "openssl s_server {args:?} not ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        OpenSslOrigin {
            addr,
            child,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for OpenSslOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// PEM files in a temporary directory, for servers that read files.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

impl Default for Files {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits until `addr` accepts a connection, or panics naming `what`.
pub async fn wait_listening(child: &mut Child, addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited: {status}");
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{what} not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Go crypto/tls origin (tests/lab/go/tlsorigin, built once per test binary with `go build`)
/// answering HTTP 200; exits by itself after two minutes, and on drop. The build needs no
/// network: the module uses the standard library only, and the build may neither download
/// modules (`GOPROXY=off`, `-mod=readonly`) nor another Go toolchain (`GOTOOLCHAIN=local`).
pub struct GoOrigin {
    pub addr: SocketAddr,
    child: Child,
    _files: Files,
}

fn go_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/go/tlsorigin");
        // Integration tests have a target tmp dir; the examples that share the lab do not.
        let dir = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let out = dir.join(format!("lab-go-tlsorigin-{}", std::process::id()));
        let status = Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&out)
            .arg(".")
            .current_dir(&src)
            .env("GOFLAGS", "-mod=readonly")
            .env("GOPROXY", "off")
            .env("GOSUMDB", "off")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .status()
            .expect("go build: install golang-go with `bash scripts/install-test-deps.sh`");
        assert!(
            status.success(),
            "go build of the lab's Go origin failed (offline: GOPROXY=off)"
        );
        out
    })
}

impl GoOrigin {
    /// Serves `leaf` (and the lab intermediate) with extra flags of tlsorigin (`-client-auth`,
    /// `-client-ca`, `-max`, `-min`, `-sni`, `-handshake-timeout`, `-idle-timeout`,
    /// `-keep-alive=false`).
    pub async fn start(pki: &Pki, leaf: &Leaf, args: &[&str]) -> GoOrigin {
        Self::start_at(pki, leaf, "127.0.0.1:0".parse().expect("address"), args).await
    }

    /// The same on a given loopback address and port (port 0: a free one).
    pub async fn start_at(pki: &Pki, leaf: &Leaf, listen: SocketAddr, args: &[&str]) -> GoOrigin {
        assert!(listen.ip().is_loopback(), "lab servers bind loopback only");
        let files = Files::new();
        let cert = files.write("cert.pem", &format!("{}{}", leaf.pem, pki.inter.pem));
        let key = files.write("key.pem", &leaf.key_pem);
        let mut child = Command::new(go_binary())
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .arg("-listen")
            .arg(listen.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("lab Go origin");
        let mut line = String::new();
        if let Some(out) = child.stdout.as_mut() {
            use std::io::BufRead;
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let port: u16 = line.trim().parse().expect("Go origin's port");
        let addr = SocketAddr::new(listen.ip(), port);
        wait_listening(&mut child, addr, "Go origin").await;
        GoOrigin {
            addr,
            child,
            _files: files,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for GoOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's first flight to an `openssl s_client -tls1_2` hello, as (message name, bytes)
/// from `-msg`, with what differs on every handshake blanked: the ServerHello's random and
/// session id, and the ServerKeyExchange (an ephemeral key and its signature) kept by name only.
/// Two servers with equal results send the same first flight but for those.
pub async fn first_flight(addr: SocketAddr, sni: &str) -> Vec<(String, Vec<u8>)> {
    let (connect, sni) = (addr.to_string(), sni.to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args(["s_client", "-tls1_2", "-msg", "-connect", &connect])
            .args(["-servername", &sni])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("openssl s_client: install openssl with `bash scripts/install-test-deps.sh`")
    })
    .await
    .expect("s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flight: Vec<(String, Vec<u8>)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if line.starts_with(' ') {
            if let Some(i) = current {
                let bytes = line
                    .split_whitespace()
                    .map_while(|b| u8::from_str_radix(b, 16).ok());
                flight[i].1.extend(bytes);
            }
            continue;
        }
        current = None;
        let Some(head) = line.strip_prefix("<<< ") else {
            continue;
        };
        if let Some((_, name)) = head
            .split_once("Handshake [")
            .and_then(|(_, r)| r.split_once("], "))
        {
            flight.push((name.trim().to_string(), Vec::new()));
            current = Some(flight.len() - 1);
        }
    }
    for (name, bytes) in &mut flight {
        match name.as_str() {
            // type (1), length (3), version (2), random (32), session id length (1) and id.
            "ServerHello" if bytes.len() > 38 => {
                let id = usize::from(bytes[38]);
                let end = (39 + id).min(bytes.len());
                bytes[6..end].fill(0);
            }
            "ServerKeyExchange" => bytes.clear(),
            _ => {}
        }
    }
    assert!(
        flight.iter().any(|(n, _)| n == "ServerHelloDone"),
        "no first flight from {addr}: {text}"
    );
    flight
}
