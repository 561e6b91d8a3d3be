//! An nginx origin (Debian's `nginx`): a child process with a generated config in a temp dir
//! (pid file, logs and temp paths all inside), one worker, listening on a loopback address with
//! TLS from the lab PKI or plain HTTP. `reconfigure` rewrites the config and reloads (SIGHUP)
//! and returns once only workers of the new config serve. It runs under `timeout`, so it ends by
//! itself if the test process dies, and is stopped on drop.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls::{Leaf, Pki};

/// How long an nginx origin lives unless dropped first.
pub const LIFETIME: Duration = Duration::from_secs(300);

/// How long to wait for nginx to start, reload or stop.
const WAIT: Duration = Duration::from_secs(20);

/// `ssl_verify_client`, with the CA file (PEM) that verifies client certificates.
#[derive(Clone, Debug, Default)]
pub enum VerifyClient {
    #[default]
    Off,
    /// `on`: nginx finishes the handshake whatever the client sends, then answers every request
    /// with `400` ("No required SSL certificate was sent" or "The SSL certificate error").
    On { ca_pem: String },
    /// `optional`: no certificate is fine; an untrusted one gets the 400 page.
    Optional { ca_pem: String },
    /// `optional_no_ca`: the handshake and the request go on whatever the certificate; the
    /// config decides (`$ssl_client_verify`), e.g. `return 444` closes the connection unanswered.
    OptionalNoCa { ca_pem: String },
}

/// TLS on the listener.
#[derive(Clone, Debug)]
pub struct NginxTls {
    /// Leaf first, then the intermediates (PEM).
    pub chain_pem: String,
    pub key_pem: String,
    /// `ssl_protocols`.
    pub protocols: String,
    pub verify_client: VerifyClient,
}

/// What the origin serves; `NginxOrigin::reconfigure` takes a new one.
#[derive(Clone, Debug)]
pub struct NginxConfig {
    /// `None`: plain HTTP.
    pub tls: Option<NginxTls>,
    /// The answer of `location /`: `return status "body"`.
    pub status: u16,
    pub body: String,
    /// `keepalive_timeout`, in seconds (`0` closes after each answer).
    pub keepalive_timeout_secs: Option<u32>,
    /// More directives for the `server` block, verbatim (each ends with `;` or a block).
    pub directives: Vec<String>,
}

impl NginxConfig {
    /// Plain HTTP answering `200 ok`.
    pub fn plain() -> NginxConfig {
        NginxConfig {
            tls: None,
            status: 200,
            body: "ok\n".into(),
            keepalive_timeout_secs: None,
            directives: Vec::new(),
        }
    }

    /// TLS 1.2 and 1.3 serving `leaf` and the lab intermediate, answering `200 ok`.
    pub fn tls(pki: &Pki, leaf: &Leaf) -> NginxConfig {
        NginxConfig {
            tls: Some(NginxTls {
                chain_pem: format!("{}{}", leaf.pem, pki.inter.pem),
                key_pem: leaf.key_pem.clone(),
                protocols: "TLSv1.2 TLSv1.3".into(),
                verify_client: VerifyClient::Off,
            }),
            ..Self::plain()
        }
    }

    /// `ssl_verify_client`; panics on a plain-HTTP config.
    pub fn verify_client(mut self, verify: VerifyClient) -> NginxConfig {
        self.tls
            .as_mut()
            .expect("ssl_verify_client needs TLS")
            .verify_client = verify;
        self
    }

    /// `ssl_protocols` (e.g. `"TLSv1.2"`); panics on a plain-HTTP config.
    pub fn protocols(mut self, protocols: &str) -> NginxConfig {
        self.tls
            .as_mut()
            .expect("ssl_protocols needs TLS")
            .protocols = protocols.into();
        self
    }

    /// What `location /` answers.
    pub fn answer(mut self, status: u16, body: &str) -> NginxConfig {
        self.status = status;
        self.body = body.into();
        self
    }

    pub fn keepalive_timeout(mut self, secs: u32) -> NginxConfig {
        self.keepalive_timeout_secs = Some(secs);
        self
    }

    /// One more `server` directive, verbatim.
    pub fn directive(mut self, directive: &str) -> NginxConfig {
        self.directives.push(directive.into());
        self
    }

    /// The whole `nginx.conf`, every path inside `dir` (PEM files are written there too).
    fn render(&self, dir: &Path, listen: SocketAddr) -> String {
        let d = dir.display();
        let mut conf = String::new();
        // Workers of a root master would run as `nobody`, which cannot enter the temp dir.
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            conf.push_str("user root;\n");
        }
        let _ = write!(
            conf,
            "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n\
             access_log {d}/access.log;\n\
             client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             default_type text/plain;\n"
        );
        if let Some(secs) = self.keepalive_timeout_secs {
            let _ = writeln!(conf, "keepalive_timeout {secs};");
        }
        conf.push_str("server {\n");
        match &self.tls {
            None => {
                let _ = writeln!(conf, "listen {listen};");
            }
            Some(tls) => {
                let _ = writeln!(conf, "listen {listen} ssl;");
                let chain = write_file(dir, "chain.pem", &tls.chain_pem);
                let key = write_file(dir, "key.pem", &tls.key_pem);
                let _ = writeln!(
                    conf,
                    "ssl_certificate {};\nssl_certificate_key {};\nssl_protocols {};",
                    chain.display(),
                    key.display(),
                    tls.protocols
                );
                let (mode, ca) = match &tls.verify_client {
                    VerifyClient::Off => ("off", None),
                    VerifyClient::On { ca_pem } => ("on", Some(ca_pem)),
                    VerifyClient::Optional { ca_pem } => ("optional", Some(ca_pem)),
                    VerifyClient::OptionalNoCa { ca_pem } => ("optional_no_ca", Some(ca_pem)),
                };
                let _ = writeln!(conf, "ssl_verify_client {mode};");
                if let Some(ca) = ca {
                    let ca = write_file(dir, "client-ca.pem", ca);
                    let _ = writeln!(
                        conf,
                        "ssl_client_certificate {};\nssl_verify_depth 4;",
                        ca.display()
                    );
                }
            }
        }
        for directive in &self.directives {
            let _ = writeln!(conf, "{directive}");
        }
        assert!(
            !self.body.contains('$'),
            "nginx expands `$` in a return body: {:?}",
            self.body
        );
        let body = self.body.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = write!(
            conf,
            "location / {{ return {} \"{body}\"; }}\n}}\n}}\n",
            self.status
        );
        conf
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write nginx file");
    path
}

/// A running nginx; stopped on drop.
pub struct NginxOrigin {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl NginxOrigin {
    /// On 127.0.0.1, a free port.
    pub async fn start(config: &NginxConfig) -> NginxOrigin {
        Self::start_on("127.0.0.1", config).await
    }

    /// On a free port of another loopback address (`127.0.0.2`...).
    pub async fn start_on(ip: &str, config: &NginxConfig) -> NginxOrigin {
        // A free port: bound then released (nginx binds it itself).
        let port = std::net::TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let ip = ip.parse().expect("an IP address");
        Self::start_at(SocketAddr::new(ip, port), config).await
    }

    /// On a given loopback address and port.
    pub async fn start_at(addr: SocketAddr, config: &NginxConfig) -> NginxOrigin {
        assert!(addr.ip().is_loopback(), "lab servers bind loopback only");
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = write_file(dir.path(), "nginx.conf", &config.render(dir.path(), addr));
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let child = Command::new("timeout")
            .args(["--kill-after=5", &format!("{}", LIFETIME.as_secs())])
            .arg(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("timeout (coreutils) running nginx");
        let mut origin = NginxOrigin { addr, child, dir };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = origin.child.try_wait() {
                panic!("nginx exited: {status}\n{}", origin.logs());
            }
            if origin.master_pid().is_some() && tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nginx not ready\n{}",
                origin.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        origin
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Rewrites the config and reloads; returns once every worker of the old config has exited
    /// (a new connection can only meet the new config). Panics if nginx rejects the config.
    pub async fn reconfigure(&mut self, config: &NginxConfig) {
        let master = self.master_pid().expect("nginx master running");
        let old = workers(master);
        let log_len = std::fs::metadata(self.dir.path().join("error.log")).map_or(0, |m| m.len());
        write_file(
            self.dir.path(),
            "nginx.conf",
            &config.render(self.dir.path(), self.addr),
        );
        signal(master, "HUP");
        let deadline = Instant::now() + WAIT;
        loop {
            let now = workers(master);
            if !now.is_empty() && now.iter().all(|pid| !old.contains(pid)) {
                return;
            }
            let log = std::fs::read(self.dir.path().join("error.log")).unwrap_or_default();
            let since = String::from_utf8_lossy(log.get(log_len as usize..).unwrap_or_default());
            assert!(
                !since.contains("[emerg]"),
                "nginx rejected the new config:\n{since}"
            );
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited on reload: {status}\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not reload\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its error log and stderr, for a failure message.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "nginx.conf:\n{}\nerror.log:\n{}\nstderr:\n{}",
            read("nginx.conf"),
            read("error.log"),
            read("stderr.log")
        )
    }

    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for NginxOrigin {
    fn drop(&mut self) {
        if let Some(master) = self.master_pid() {
            let workers = workers(master);
            // TERM: the master stops its workers and exits (killing it would leave them).
            signal(master, "TERM");
            let deadline = Instant::now() + WAIT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            for pid in std::iter::once(master).chain(workers) {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    signal(pid, "KILL");
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian puts nginx in /usr/sbin, which a user's PATH may lack.
fn nginx_binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        return sbin;
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nginx"))
            .find(|p| p.exists())
    });
    found.expect("nginx (install it: apt-get install nginx, or run scripts/install-test-deps.sh)")
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// The children of `master` (its workers), from /proc.
fn workers(master: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid ...`: comm may hold spaces or parentheses.
                    let mut after = stat[stat.rfind(')')? + 1..].split_whitespace();
                    let state = after.next()?;
                    // An exited worker the master has not reaped yet serves nothing.
                    (state != "Z").then_some(())?;
                    after.next()?.parse::<u32>().ok()
                })
                == Some(master)
        })
        .collect()
}
