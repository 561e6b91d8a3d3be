//! `--web.config.file` in the Prometheus exporter-toolkit format: TLS (with optional client
//! certificates), bcrypt basic auth, and extra response headers, for every endpoint.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.pem
//!   min_version: TLS12
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! http_server_config:
//!   headers: {X-Frame-Options: deny}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttpServer>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    headers: Option<BTreeMap<String, String>>,
    http2: Option<bool>,
}

/// A loaded web config.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS for every connection; `None` serves plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// User name → bcrypt hash; empty means no authentication.
    pub users: BTreeMap<String, String>,
    /// A bcrypt hash of a random password, at the highest cost of `users`: a login with an
    /// unknown user name is verified against it, so that it costs what a known user's wrong
    /// password costs and response times do not tell which users exist.
    pub dummy_hash: Option<String>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct WebConfigError {
    pub file: PathBuf,
    pub field: String,
    pub reason: String,
}

/// Reads and checks a web config file; every path in it is relative to the file's folder.
pub fn load(file: &Path) -> Result<WebConfig, WebConfigError> {
    let err = |field: &str, reason: String| WebConfigError {
        file: file.to_path_buf(),
        field: field.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(file).map_err(|e| err("(file)", e.to_string()))?;
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig::default()
    } else {
        serde_norway::from_str(&text).map_err(|e| err("(document)", e.to_string()))?
    };
    let base = file.parent().unwrap_or(Path::new("."));

    let mut users = BTreeMap::new();
    let mut cost = None;
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        // Parse the hash now, so a typo is a startup error rather than a locked door.
        let parts = match (hash.parse::<bcrypt::HashParts>(), bcrypt::verify("", &hash)) {
            (Ok(parts), Ok(_)) => parts,
            _ => {
                return Err(err(
                    &format!("basic_auth_users.{user}"),
                    "not a bcrypt hash ($2a$/$2b$/$2y$)".into(),
                ))
            }
        };
        cost = cost.max(Some(parts.get_cost()));
        users.insert(user, hash);
    }
    let dummy_hash = match cost {
        None => None,
        Some(cost) => Some(dummy_hash(cost).map_err(|reason| err("basic_auth_users", reason))?),
    };

    let mut headers = Vec::new();
    if let Some(http) = raw.http_server_config {
        if http.http2 == Some(true) {
            return Err(err(
                "http_server_config.http2",
                "HTTP/2 is not supported".into(),
            ));
        }
        for (name, value) in http.headers.unwrap_or_default() {
            let field = format!("http_server_config.headers.{name}");
            let n = HeaderName::try_from(name.as_str()).map_err(|e| err(&field, e.to_string()))?;
            let v =
                HeaderValue::try_from(value.as_str()).map_err(|e| err(&field, e.to_string()))?;
            headers.push((n, v));
        }
    }

    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => Some(Arc::new(tls_config(t, base, &err)?)),
    };
    Ok(WebConfig {
        tls,
        users,
        dummy_hash,
        headers,
    })
}

/// A bcrypt hash of a random password (that nobody knows) at `cost`.
fn dummy_hash(cost: u32) -> Result<String, String> {
    let mut password = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut password)
        .map_err(|_| "no random bytes for the unknown-user hash".to_string())?;
    let password = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, password);
    bcrypt::hash(password, cost).map_err(|e| e.to_string())
}

fn tls_config(
    t: RawTls,
    base: &Path,
    err: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<ServerConfig, WebConfigError> {
    let field = "tls_server_config";
    let path = |name: &str, value: Option<String>| -> Result<PathBuf, WebConfigError> {
        let v = value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(&format!("{field}.{name}"), "is required".into()))?;
        Ok(base.join(v))
    };
    if t.cipher_suites.is_some() || t.curve_preferences.is_some() {
        return Err(err(
            field,
            "cipher_suites and curve_preferences are not supported: rustls offers only modern AEAD suites and groups".into(),
        ));
    }
    let cert_file = path("cert_file", t.cert_file)?;
    let key_file = path("key_file", t.key_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            err(
                &format!("{field}.cert_file"),
                format!("{}: {e}", cert_file.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(err(
            &format!("{field}.cert_file"),
            format!("{}: no certificate", cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        err(
            &format!("{field}.key_file"),
            format!("{}: {e}", key_file.display()),
        )
    })?;

    let versions = versions(t.min_version.as_deref(), t.max_version.as_deref())
        .map_err(|reason| err(&format!("{field}.min_version"), reason))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| err(field, e.to_string()))?;

    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca_file = path("client_ca_file", t.client_ca_file)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca_file)
                .map_err(|e| err(&format!("{field}.client_ca_file"), format!("{}: {e}", ca_file.display())))?
            {
                let cert = cert.map_err(|e| err(&format!("{field}.client_ca_file"), e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| err(&format!("{field}.client_ca_file"), e.to_string()))?;
            }
            let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth_type == "VerifyClientCertIfGiven" {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| err(&format!("{field}.client_ca_file"), e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(err(
                &format!("{field}.client_auth_type"),
                format!("{auth_type} accepts unverified certificates and is not supported; use RequireAndVerifyClientCert or VerifyClientCertIfGiven"),
            ))
        }
        other => {
            return Err(err(
                &format!("{field}.client_auth_type"),
                format!("unknown value {other:?}; known: NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
            ))
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(&format!("{field}.key_file"), e.to_string()))?;
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS versions between `min` and `max` (exporter-toolkit names TLS10..TLS13). rustls
/// speaks TLS 1.2 and 1.3 only, so a lower minimum means TLS 1.2.
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: Option<&str>, default: u8| -> Result<u8, String> {
        match v {
            None | Some("") => Ok(default),
            Some("TLS10") => Ok(10),
            Some("TLS11") => Ok(11),
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(other) => Err(format!(
                "unknown TLS version {other:?}; known: TLS10, TLS11, TLS12, TLS13"
            )),
        }
    };
    let (min, max) = (rank(min, 12)?, rank(max, 13)?);
    let mut out = Vec::new();
    if min <= 12 && max >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err(
            "no TLS version between min and max that rustls supports (TLS12, TLS13)".to_string(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn empty_file_means_plain_and_open() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(&write(&dir, "w.yml", "")).unwrap();
        assert!(c.tls.is_none() && c.users.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "basic_auth_users: {alice: plaintext}",
                "basic_auth_users.alice: not a bcrypt hash",
            ),
            (
                "tls_server_config: {key_file: k}",
                "tls_server_config.cert_file: is required",
            ),
            (
                "tls_server_config: {cert_file: missing.crt, key_file: k}",
                "tls_server_config.cert_file: ",
            ),
            ("tls_config: {}", "(document): unknown field `tls_config`"),
            (
                "http_server_config: {headers: {'bad name': x}}",
                "http_server_config.headers.bad name",
            ),
        ];
        for (yaml, expected) in cases {
            let file = write(&dir, "w.yml", yaml);
            let e = load(&file).unwrap_err().to_string();
            assert!(e.starts_with(&file.display().to_string()), "{e}");
            assert!(e.contains(expected), "{yaml}: {e}");
        }
    }

    /// The unknown-user hash has the cost of the most expensive user's hash (so that it costs
    /// as much to verify), and exists only when users do.
    #[test]
    fn the_dummy_hash_has_the_users_highest_cost() {
        let dir = tempfile::tempdir().unwrap();
        let (cheap, dear) = (bcrypt::hash("a", 4).unwrap(), bcrypt::hash("b", 5).unwrap());
        let c = load(&write(
            &dir,
            "w.yml",
            &format!("basic_auth_users: {{a: '{cheap}', b: '{dear}'}}"),
        ))
        .unwrap();
        let dummy = c.dummy_hash.expect("a dummy hash");
        let parts: bcrypt::HashParts = dummy.parse().unwrap();
        assert_eq!(parts.get_cost(), 5);
        assert!(!bcrypt::verify("", &dummy).unwrap());
        let open = load(&write(&dir, "w.yml", "")).unwrap();
        assert!(open.dummy_hash.is_none());
    }

    #[test]
    fn version_ranges() {
        assert_eq!(versions(None, None).unwrap().len(), 2);
        assert_eq!(versions(Some("TLS13"), None).unwrap().len(), 1);
        assert_eq!(versions(Some("TLS10"), Some("TLS12")).unwrap().len(), 1);
        assert!(versions(Some("TLS13"), Some("TLS12")).is_err());
        assert!(versions(Some("SSL3"), None).is_err());
    }
}
