//! TLS origins that are other programs: `openssl s_server` children for what rustls cannot serve
//! (TLS 1.0, RSA key exchange, DHE, and a TLS 1.3-only server), and Go crypto/tls. The lab PKI
//! and the in-process rustls origins live in the library (`origin_exporter::lab`, shared with
//! the demo) and are re-exported here. Everything binds 127.0.0.1 and stops on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use origin_exporter::lab::pki::*;
pub use origin_exporter::lab::tls::*;

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
