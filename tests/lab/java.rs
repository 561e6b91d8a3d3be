//! A Java (JSSE) TLS origin: tests/lab/java/TlsOrigin.java, compiled with `javac` once per test
//! binary and run with `java`. Flags choose the protocol versions (TLS 1.0 and 1.1 included,
//! which a JDK disables by default), the cipher suites and the client-certificate mode (see the
//! source for every flag). Binds loopback only, answers HTTP, exits by itself after two minutes
//! and on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use super::tls::{wait_listening, Files, Leaf, Pki};

/// The directory holding the compiled class.
fn classes() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/java/TlsOrigin.java");
        let dir = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let out = dir.join(format!("lab-java-{}", std::process::id()));
        let status = Command::new("javac")
            .arg("-d")
            .arg(&out)
            .arg(&src)
            .status()
            .expect("javac (install default-jdk-headless: scripts/install-test-deps.sh)");
        assert!(status.success(), "javac of the lab's Java origin failed");
        out
    })
}

pub struct JavaOrigin {
    pub addr: SocketAddr,
    child: Child,
    _files: Files,
}

impl JavaOrigin {
    /// Serves `leaf` and the lab intermediate with extra flags of TlsOrigin (`-protocols`,
    /// `-ciphers`, `-client-auth`, `-client-ca`, `-status`, `-listen`).
    pub async fn start(pki: &Pki, leaf: &Leaf, args: &[&str]) -> JavaOrigin {
        let files = Files::new();
        let cert = files.write("cert.pem", &format!("{}{}", leaf.pem, pki.inter.pem));
        let key = files.write("key.pem", &leaf.key_pem);
        let mut child = Command::new("java")
            .arg("-cp")
            .arg(classes())
            .arg("TlsOrigin")
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("java (install default-jdk-headless: scripts/install-test-deps.sh)");
        let mut line = String::new();
        if let Some(out) = child.stdout.as_mut() {
            use std::io::BufRead;
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Java origin {args:?} printed no port: {line:?}"));
        let listen = args
            .iter()
            .position(|a| *a == "-listen")
            .and_then(|i| args.get(i + 1))
            .and_then(|l| l.parse::<SocketAddr>().ok())
            .map_or_else(|| [127, 0, 0, 1].into(), |l| l.ip());
        let addr = SocketAddr::new(listen, port);
        wait_listening(&mut child, addr, "Java origin").await;
        JavaOrigin {
            addr,
            child,
            _files: files,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for JavaOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
