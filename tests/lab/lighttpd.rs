//! lighttpd as a TLS origin, with its mbedTLS module (Debian's `lighttpd-mod-mbedtls`, mbedTLS
//! 2.28), its GnuTLS one or its OpenSSL one: a small embedded-style stack whose version refusals
//! differ from OpenSSL's, and which refuses a client certificate with each library's own alert. Settings go through `ssl.openssl.ssl-conf-cmd` (MinProtocol, MaxProtocol,
//! CipherString), which both modules read. Binds 127.0.0.1, answers `GET /` with 200, and is
//! killed on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::tls::{wait_listening, Files, Leaf, Pki};

/// The TLS module lighttpd loads.
#[derive(Debug, Clone, Copy)]
pub enum TlsModule {
    MbedTls,
    OpenSsl,
    GnuTls,
}

impl TlsModule {
    fn name(self) -> &'static str {
        match self {
            TlsModule::MbedTls => "mod_mbedtls",
            TlsModule::OpenSsl => "mod_openssl",
            TlsModule::GnuTls => "mod_gnutls",
        }
    }

    fn package(self) -> &'static str {
        match self {
            TlsModule::MbedTls => "lighttpd-mod-mbedtls",
            TlsModule::OpenSsl => "lighttpd-mod-openssl",
            TlsModule::GnuTls => "lighttpd-mod-gnutls",
        }
    }
}

pub struct LighttpdOrigin {
    pub addr: SocketAddr,
    child: Child,
    _files: Files,
}

impl LighttpdOrigin {
    /// Serves `leaf` and the lab intermediate through `module`, with `ssl-conf-cmd` settings
    /// (`("MinProtocol", "TLSv1.0")`...).
    pub async fn start(
        pki: &Pki,
        leaf: &Leaf,
        module: TlsModule,
        conf_cmd: &[(&str, &str)],
    ) -> LighttpdOrigin {
        Self::launch(pki, leaf, module, conf_cmd, None).await
    }

    /// Serves `leaf` through `module`, asking for a client certificate and refusing one that
    /// does not chain to `client_ca_pem` (`ssl.verifyclient.activate` and `.enforce`).
    pub async fn verifying(
        pki: &Pki,
        leaf: &Leaf,
        module: TlsModule,
        client_ca_pem: &str,
    ) -> LighttpdOrigin {
        Self::launch(pki, leaf, module, &[], Some(client_ca_pem)).await
    }

    async fn launch(
        pki: &Pki,
        leaf: &Leaf,
        module: TlsModule,
        conf_cmd: &[(&str, &str)],
        client_ca_pem: Option<&str>,
    ) -> LighttpdOrigin {
        let so = Path::new("/usr/lib/lighttpd").join(format!("{}.so", module.name()));
        assert!(
            so.exists(),
            "{} missing (install {}: scripts/install-test-deps.sh)",
            so.display(),
            module.package()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let files = Files::new();
        let root = files.dir.path().join("www");
        std::fs::create_dir(&root).expect("document root");
        std::fs::write(root.join("index.html"), "ok\n").expect("index");
        let cert = files.write("cert.pem", &format!("{}{}", leaf.pem, pki.inter.pem));
        let key = files.write("key.pem", &leaf.key_pem);
        let commands: Vec<String> = conf_cmd
            .iter()
            .map(|(k, v)| format!("\"{k}\" => \"{v}\""))
            .collect();
        let verify = client_ca_pem.map_or_else(String::new, |ca| {
            format!(
                "ssl.ca-file = \"{}\"\nssl.verifyclient.activate = \"enable\"\n\
                 ssl.verifyclient.enforce = \"enable\"\nssl.verifyclient.depth = 4\n",
                files.write("client-ca.pem", ca).display()
            )
        });
        let conf = files.write(
            "lighttpd.conf",
            &format!(
                "server.document-root = \"{root}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
server.errorlog = \"{log}\"\nindex-file.names = (\"index.html\")\nserver.modules = (\"{module}\")\nssl.engine = \"enable\"\n\
ssl.pemfile = \"{cert}\"\nssl.privkey = \"{key}\"\nssl.openssl.ssl-conf-cmd = ({commands})\n{verify}",
                root = root.display(),
                log = files.dir.path().join("error.log").display(),
                module = module.name(),
                cert = cert.display(),
                key = key.display(),
                commands = commands.join(", "),
            ),
        );
        let mut child = Command::new("lighttpd")
            .arg("-D")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lighttpd (install lighttpd: scripts/install-test-deps.sh)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_listening(&mut child, addr, "lighttpd").await;
        LighttpdOrigin {
            addr,
            child,
            _files: files,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for LighttpdOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
