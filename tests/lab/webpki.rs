//! A CA with a server certificate (localhost, 127.0.0.1) and a client certificate, as PEM files,
//! and an HTTPS client for the exporter's own endpoints when `--web.config.file` turns TLS on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

pub struct WebPki {
    pub dir: tempfile::TempDir,
    pub ca_pem: PathBuf,
    pub server_crt: PathBuf,
    pub server_key: PathBuf,
    pub client_crt: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate from a CA the exporter does not trust.
    pub stranger_crt: PathBuf,
    pub stranger_key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("CA");
    (params, key, cert.pem())
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, &KeyPair>,
) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("leaf");
    (cert.pem(), key.serialize_pem())
}

impl WebPki {
    pub fn new() -> WebPki {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| -> PathBuf {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write PEM");
            p
        };
        let (ca_params, ca_key, ca_pem) = ca("lab web CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let (server_pem, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        );
        let (client_pem, client_key) = leaf(
            &["prometheus"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        );
        let (other_params, other_key, _) = ca("someone else's CA");
        let other = Issuer::from_params(&other_params, &other_key);
        let (stranger_pem, stranger_key) =
            leaf(&["stranger"], ExtendedKeyUsagePurpose::ClientAuth, &other);
        WebPki {
            ca_pem: write("ca.pem", &ca_pem),
            server_crt: write("server.crt", &server_pem),
            server_key: write("server.key", &server_key),
            client_crt: write("client.crt", &client_pem),
            client_key: write("client.key", &client_key),
            stranger_crt: write("stranger.crt", &stranger_pem),
            stranger_key: write("stranger.key", &stranger_key),
            dir,
        }
    }

    /// Writes a web config file next to the certificates (so relative paths work).
    pub fn web_config(&self, yaml: &str) -> PathBuf {
        let p = self.dir.path().join("web.yml");
        std::fs::write(&p, yaml).expect("write web config");
        p
    }

    /// A client trusting the lab CA, optionally presenting a certificate.
    pub fn client(&self, identity: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&self.ca_pem).expect("CA PEM"))
            .expect("add CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((crt, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_file(crt).expect("client cert")],
                    PrivateKeyDer::from_pem_file(key).expect("client key"),
                )
                .expect("client auth"),
        };
        Arc::new(config)
    }
}

/// GET over TLS; `Err` when the TLS handshake or the request fails.
pub async fn https_get(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    path: &str,
    authorization: Option<&str>,
) -> Result<(u16, String), String> {
    https_request(addr, client, "GET", path, authorization).await
}

/// A request over TLS; `Err` when the TLS handshake or the request fails.
pub async fn https_request(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<(u16, String), String> {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(client)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `Authorization: Basic …` for a user and password.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
