//! Origins on the server stacks users put behind a CDN, each asking for a client certificate and
//! refusing one its own way (docs/mtls.md): Apache httpd, HAProxy, Caddy, Node.js and GnuTLS's
//! `gnutls-serv` (lighttpd is tests/lab/lighttpd.rs, Java tests/lab/java.rs). Each is a child process with a config
//! generated in a temp dir, listening on a loopback address, started under `timeout` (it ends by
//! itself if the test process dies) in a process group of its own that is stopped on drop.
//! `gnutls-serv` cannot choose its address (it binds every one): it runs in a network namespace
//! of its own, whose only interface is its own loopback, behind a relay on 127.0.0.1.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

use super::tls::{Leaf, Pki};

/// How long a stack origin lives unless dropped first.
pub const LIFETIME: Duration = Duration::from_secs(300);

/// How long to wait for a server to start or stop.
const WAIT: Duration = Duration::from_secs(20);

/// What every stack serves: a lab leaf with its chain, and the CA client certificates must chain
/// to.
#[derive(Clone, Debug)]
pub struct StackTls {
    /// Leaf first, then the lab intermediate (PEM).
    pub chain_pem: String,
    /// PKCS#8 (PEM).
    pub key_pem: String,
    /// The lab root: a client certificate of the lab intermediate is trusted, one of the
    /// stranger root is not.
    pub client_ca_pem: String,
}

impl StackTls {
    pub fn new(pki: &Pki, leaf: &Leaf) -> StackTls {
        StackTls {
            chain_pem: format!("{}{}", leaf.pem, pki.inter.pem),
            key_pem: leaf.key_pem.clone(),
            client_ca_pem: pki.root.pem.clone(),
        }
    }
}

/// Apache httpd's `SSLVerifyClient`.
#[derive(Clone, Copy, Debug)]
pub enum ApacheVerify {
    /// `require` for the whole server: the handshake ends with an alert.
    Require,
    /// `require` inside `<Location />`: asked for by a renegotiation after the request, which
    /// the CDN does not do: the origin answers the request with a `handshake_failure` alert.
    RequireInLocation,
    /// `optional_no_ca` and `Require expr %{SSL_CLIENT_VERIFY} == 'SUCCESS'`: an untrusted
    /// certificate gets Apache's 403 page, which does not name the certificate.
    OptionalNoCaRequireExpr,
}

/// HAProxy's `verify` on the `bind` line.
#[derive(Clone, Copy, Debug)]
pub enum HaproxyVerify {
    /// `verify required`: the handshake ends with an alert.
    Required,
    /// `verify required ca-ignore-err all crt-ignore-err all` and `http-request deny` when
    /// `ssl_c_verify` is not 0: HAProxy's 403 page, which does not name the certificate.
    IgnoreErrorsDeny,
    /// The same with `http-request return status 495` (nginx's code for an untrusted client
    /// certificate) and a body of the user's.
    IgnoreErrorsReturn495,
}

/// Node.js's refusal (`--mode` of tests/lab/node/mtls-origin.js).
#[derive(Clone, Copy, Debug)]
pub enum NodeMode {
    /// `requestCert` and `rejectUnauthorized`: TLS closes the connection at the end of the
    /// handshake, without an alert.
    Reject,
    /// The app answers 401 (no certificate) or 403 (untrusted) with its own words.
    Answer,
    /// The app destroys the socket on a request of an unauthorized client: no answer at all.
    Destroy,
}

/// A server of one of the stacks; its process group is stopped on drop.
pub struct StackOrigin {
    pub addr: SocketAddr,
    what: String,
    child: Child,
    dir: tempfile::TempDir,
    relay: Option<JoinHandle<()>>,
}

impl StackOrigin {
    /// Apache httpd (Debian's `apache2`) answering `200 ok` for `/`.
    pub async fn apache(tls: &StackTls, verify: ApacheVerify) -> StackOrigin {
        let (addr, dir) = (free_addr(), temp_dir());
        let d = dir.path().display();
        let files = Pem::write(dir.path(), tls);
        let htdocs = htdocs(dir.path());
        // Started as root, Apache serves as `User`, which must be able to read the pages.
        open_to_all(dir.path(), &htdocs);
        let verify = match verify {
            ApacheVerify::Require => "SSLVerifyClient require\nSSLVerifyDepth 4\n".to_string(),
            ApacheVerify::RequireInLocation => {
                "<Location />\nSSLVerifyClient require\nSSLVerifyDepth 4\n</Location>\n".to_string()
            }
            ApacheVerify::OptionalNoCaRequireExpr => "SSLVerifyClient optional_no_ca\n\
                 SSLVerifyDepth 4\n<Location />\nRequire expr %{SSL_CLIENT_VERIFY} == 'SUCCESS'\n</Location>\n"
                .to_string(),
        };
        let modules = "/usr/lib/apache2/modules";
        let mut conf = String::new();
        let _ = write!(
            conf,
            "ServerRoot {d}\nServerName origin.lab.test\nDefaultRuntimeDir {d}\nPidFile {d}/httpd.pid\n\
             ErrorLog {d}/error.log\nLogLevel info\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             LoadModule authz_core_module {modules}/mod_authz_core.so\n\
             LoadModule dir_module {modules}/mod_dir.so\n\
             LoadModule ssl_module {modules}/mod_ssl.so\n\
             User nobody\nGroup nogroup\nListen {addr}\nDocumentRoot {}\nDirectoryIndex index.html\n\
             SSLEngine on\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\nSSLCACertificateFile {}\n{verify}",
            htdocs.display(),
            files.chain.display(),
            files.key.display(),
            files.client_ca.display(),
        );
        let conf = write(dir.path(), "httpd.conf", &conf);
        let mut cmd = Command::new(binary("apache2", "apache2"));
        cmd.arg("-f").arg(conf).args(["-D", "FOREGROUND"]);
        Self::spawn("Apache httpd", addr, dir, cmd).await
    }

    /// HAProxy (Debian's `haproxy`) answering `200 ok` itself (no backend).
    pub async fn haproxy(tls: &StackTls, verify: HaproxyVerify) -> StackOrigin {
        let addr = free_addr();
        let dir = temp_dir();
        let files = Pem::write(dir.path(), tls);
        // The certificate and its key in one file, as `crt` reads them.
        let crt = write(
            dir.path(),
            "crt.pem",
            &format!("{}{}", tls.chain_pem, tls.key_pem),
        );
        let bind = format!(
            "bind {addr} ssl crt {} ca-file {}",
            crt.display(),
            files.client_ca.display()
        );
        let (bind_verify, rule) = match verify {
            HaproxyVerify::Required => ("verify required", ""),
            HaproxyVerify::IgnoreErrorsDeny => (
                "verify required ca-ignore-err all crt-ignore-err all",
                "  http-request deny deny_status 403 unless { ssl_c_verify 0 }\n",
            ),
            HaproxyVerify::IgnoreErrorsReturn495 => (
                "verify required ca-ignore-err all crt-ignore-err all",
                "  http-request return status 495 content-type text/plain string \"certificate not accepted\" unless { ssl_c_verify 0 }\n",
            ),
        };
        let conf = format!(
            "global\n  log stderr format raw local0 info\ndefaults\n  mode http\n  log global\n  option httplog\n\
             \x20 timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n\
             frontend origin\n  {bind} {bind_verify}\n{rule}\
             \x20 http-request return status 200 content-type text/plain string \"ok\"\n"
        );
        let conf = write(dir.path(), "haproxy.cfg", &conf);
        let mut cmd = Command::new(binary("haproxy", "haproxy"));
        cmd.arg("-f").arg(conf);
        Self::spawn("HAProxy", addr, dir, cmd).await
    }

    /// Caddy (Debian's `caddy`, Go's crypto/tls) with `client_auth { mode require_and_verify }`,
    /// answering `200 ok`.
    pub async fn caddy(tls: &StackTls) -> StackOrigin {
        let addr = free_addr();
        let dir = temp_dir();
        let d = dir.path().display();
        let files = Pem::write(dir.path(), tls);
        // HTTP/1.1 and 2 only: HTTP/3 would listen on UDP too.
        let conf = format!(
            "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {d}/data\n\
             \tservers {{\n\t\tprotocols h1 h2\n\t}}\n}}\n\
             https://:{port} {{\n\tbind {ip}\n\ttls {} {} {{\n\t\tclient_auth {{\n\
             \t\t\tmode require_and_verify\n\t\t\ttrusted_ca_cert_file {}\n\t\t}}\n\t}}\n\
             \trespond \"ok\" 200\n}}\n",
            files.chain.display(),
            files.key.display(),
            files.client_ca.display(),
            port = addr.port(),
            ip = addr.ip(),
        );
        let conf = write(dir.path(), "Caddyfile", &conf);
        let mut cmd = Command::new(binary("caddy", "caddy"));
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(conf)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path());
        Self::spawn("Caddy", addr, dir, cmd).await
    }

    /// A Node.js HTTPS server (tests/lab/node/mtls-origin.js) refusing the way `mode` says.
    pub async fn node(tls: &StackTls, mode: NodeMode) -> StackOrigin {
        let dir = temp_dir();
        let files = Pem::write(dir.path(), tls);
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/node/mtls-origin.js");
        let mode = match mode {
            NodeMode::Reject => "reject",
            NodeMode::Answer => "answer",
            NodeMode::Destroy => "destroy",
        };
        let mut cmd = Command::new(binary("node", "nodejs"));
        cmd.arg(script)
            .arg("--cert")
            .arg(&files.chain)
            .arg("--key")
            .arg(&files.key)
            .arg("--client-ca")
            .arg(&files.client_ca)
            .args(["--mode", mode, "--listen", "127.0.0.1"])
            .args(["--lifetime", &LIFETIME.as_secs().to_string()]);
        let mut child = spawn_timed("Node.js", dir.path(), cmd, true);
        let port = printed_port("Node.js", dir.path(), &mut child);
        Self::ready(
            "Node.js",
            SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            child,
        )
        .await
    }

    /// GnuTLS's test server (`gnutls-serv --http --require-client-cert --verify-client-cert`,
    /// Debian's `gnutls-bin`). It binds every address of its host, so it runs in a network
    /// namespace of its own (`unshare`: only that namespace's loopback), where `socat` hands
    /// its port to a Unix socket; a relay on 127.0.0.1 carries each connection's bytes there.
    pub async fn gnutls_serv(tls: &StackTls) -> StackOrigin {
        let dir = temp_dir();
        let files = Pem::write(dir.path(), tls);
        let socket = dir.path().join("relay.sock");
        // The namespace is private: any port will do.
        let port = 4433;
        let script = format!(
            "PATH=\"$PATH:/usr/sbin:/sbin\"\nip link set lo up || exit 1\n\
             gnutls-serv --http --port {port} --x509certfile '{}' --x509keyfile '{}' \
             --x509cafile '{}' --require-client-cert --verify-client-cert &\n\
             until socat -u /dev/null TCP:127.0.0.1:{port} 2>/dev/null; do sleep 0.02; done\n\
             exec socat UNIX-LISTEN:'{}',fork TCP:127.0.0.1:{port}\n",
            files.chain.display(),
            files.key.display(),
            files.client_ca.display(),
            socket.display(),
        );
        for (tool, package) in [
            ("gnutls-serv", "gnutls-bin"),
            ("socat", "socat"),
            ("ip", "iproute2"),
            ("unshare", "util-linux"),
        ] {
            binary(tool, package);
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["--map-root-user", "--net", "sh", "-c", &script]);
        let child = spawn_timed("gnutls-serv", dir.path(), cmd, false);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut origin = StackOrigin {
            addr,
            what: "gnutls-serv".into(),
            child,
            dir,
            relay: None,
        };
        // Ready when the socket exists: socat listens only once gnutls-serv does.
        let deadline = Instant::now() + WAIT;
        while !socket.exists() {
            origin.assert_running(deadline, "not ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        origin.relay = Some(tokio::spawn(relay(listener, socket)));
        origin
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every log and config file of the server, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if [".log", ".conf", ".cfg", "Caddyfile"]
                .iter()
                .any(|end| name.ends_with(end))
            {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let _ = writeln!(out, "--- {name}:\n{text}");
            }
        }
        format!("{} on {}:\n{out}", self.what, self.addr)
    }

    async fn spawn(what: &str, addr: SocketAddr, dir: tempfile::TempDir, cmd: Command) -> Self {
        let child = spawn_timed(what, dir.path(), cmd, false);
        Self::ready(what, addr, dir, child).await
    }

    /// Waits until `addr` accepts a connection.
    async fn ready(what: &str, addr: SocketAddr, dir: tempfile::TempDir, child: Child) -> Self {
        let mut origin = StackOrigin {
            addr,
            what: what.into(),
            child,
            dir,
            relay: None,
        };
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            origin.assert_running(deadline, "not ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        origin
    }

    /// Panics with the logs when the server exited or `deadline` passed.
    fn assert_running(&mut self, deadline: Instant, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited: {status}\n{}", self.what, self.logs());
        }
        assert!(
            Instant::now() < deadline,
            "{} {what}\n{}",
            self.what,
            self.logs()
        );
    }
}

impl Drop for StackOrigin {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
        }
        // `timeout` leads a process group of its own: TERM reaches the server and its workers
        // (and, for gnutls-serv, the namespace's socat); whatever is left then gets KILL.
        let group = self.child.id();
        signal(&group.to_string(), "TERM");
        let deadline = Instant::now() + WAIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        signal(&format!("-{group}"), "KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies each connection to 127.0.0.1 to the Unix socket and back, both ways, closing each side
/// when the other closes.
async fn relay(listener: TcpListener, socket: PathBuf) {
    while let Ok((mut tcp, _)) = listener.accept().await {
        let socket = socket.clone();
        tokio::spawn(async move {
            if let Ok(mut unix) = UnixStream::connect(&socket).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            }
        });
    }
}

/// The PEM files a server reads.
struct Pem {
    chain: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
}

impl Pem {
    fn write(dir: &Path, tls: &StackTls) -> Pem {
        Pem {
            chain: write(dir, "chain.pem", &tls.chain_pem),
            key: write(dir, "key.pem", &tls.key_pem),
            client_ca: write(dir, "client-ca.pem", &tls.client_ca_pem),
        }
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write server file");
    path
}

/// A free port on 127.0.0.1: bound then released (the server binds it itself).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A document root serving `ok` for `/`.
fn htdocs(dir: &Path) -> PathBuf {
    let htdocs = dir.join("htdocs");
    std::fs::create_dir(&htdocs).expect("htdocs");
    write(&htdocs, "index.html", "ok\n");
    htdocs
}

/// Lets a server's unprivileged workers enter `dir` and read `htdocs`.
fn open_to_all(dir: &Path, htdocs: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("permissions");
    };
    mode(dir, 0o711);
    mode(htdocs, 0o755);
    mode(&htdocs.join("index.html"), 0o644);
}

/// Starts `cmd` under `timeout` (its own process group, ended after [`LIFETIME`]), in `dir`, its
/// stderr (and stdout unless piped) into files there.
fn spawn_timed(what: &str, dir: &Path, cmd: Command, pipe_stdout: bool) -> Child {
    let log = |name: &str| std::fs::File::create(dir.join(name)).expect("log file");
    let stdout = if pipe_stdout {
        Stdio::piped()
    } else {
        log("stdout.log").into()
    };
    Command::new("timeout")
        .args(["--kill-after=5", &LIFETIME.as_secs().to_string()])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| Some((k.to_os_string(), v?.to_os_string()))),
        )
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log("stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("timeout (coreutils) running {what}: {e}"))
}

/// The port a child prints on its stdout's first line.
fn printed_port(what: &str, dir: &Path, child: &mut Child) -> u16 {
    let mut line = String::new();
    if let Some(out) = child.stdout.as_mut() {
        use std::io::BufRead;
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    line.trim().parse().unwrap_or_else(|_| {
        let stderr = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        panic!("{what} printed no port ({line:?}):\n{stderr}")
    })
}

/// A tool's path, or a panic saying which Debian package has it (daemons are in /usr/sbin, which
/// a user's PATH may lack).
fn binary(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|dir| dir.join(tool))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is missing: apt-get install {package}, or run scripts/install-test-deps.sh")
    })
}

fn signal(target: &str, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg("--")
        .arg(target)
        .stderr(Stdio::null())
        .status();
}
