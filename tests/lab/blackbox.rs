//! Debian's blackbox_exporter (`prometheus-blackbox-exporter`, 0.23 in Debian 12) on loopback,
//! with a config of the test's in a temp dir: what the exporter's `global.compat: [blackbox]`
//! series are compared with. Stops on drop, and by itself after [`LIFETIME`].

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{http_get, Scrape};

/// The Debian package's binary.
const BINARY: &str = "prometheus-blackbox-exporter";

/// The longest a blackbox_exporter of the lab runs, even if the test never drops it.
const LIFETIME: Duration = Duration::from_secs(300);

pub struct Blackbox {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Blackbox {
    /// Starts blackbox_exporter with `modules` (the YAML under `modules:`) on a free port of
    /// 127.0.0.1.
    pub async fn start(modules: &str) -> Blackbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("blackbox.yml");
        std::fs::write(&config, format!("modules:\n{modules}")).expect("write blackbox config");
        // A free port: bound then released (blackbox binds it itself).
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let log = std::fs::File::create(dir.path().join("blackbox.log")).expect("log file");
        if Command::new(BINARY).arg("--version").output().is_err() {
            panic!(
                "{BINARY} is missing: install the Debian package prometheus-blackbox-exporter \
                 with `bash scripts/install-test-deps.sh`"
            );
        }
        let mut child = Command::new("timeout")
            .args(["--kill-after=5", &LIFETIME.as_secs().to_string(), BINARY])
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("timeout (coreutils) running blackbox_exporter");
        super::tls::wait_listening(&mut child, addr, "blackbox_exporter").await;
        Blackbox { addr, child, dir }
    }

    /// `/probe?module=MODULE&target=TARGET`, parsed; panics unless it answers 200.
    pub async fn probe(&self, module: &str, target: &str) -> Scrape {
        let (status, body) = http_get(
            self.addr,
            &format!("/probe?module={module}&target={target}"),
        )
        .await;
        assert_eq!(status, 200, "blackbox /probe: {body}\n{}", self.logs());
        Scrape::parse(&body)
    }

    /// What blackbox_exporter logged.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("blackbox.log")).unwrap_or_default()
    }
}

impl Drop for Blackbox {
    fn drop(&mut self) {
        // TERM to `timeout`, which passes it on to blackbox_exporter and exits with it (a KILL
        // would leave blackbox_exporter running until its lifetime ends).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
