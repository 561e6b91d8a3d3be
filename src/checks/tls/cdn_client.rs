//! The CDN-profile TLS client: OpenSSL configured exactly as the CDN's client side towards an
//! origin (the origin's allowed versions, the profile's suites, groups and signature schemes,
//! no TLS 1.3, no ALPN, no session tickets, no renegotiation), that finishes the handshake so a
//! failure at any step is seen, and carries the HTTP check's request.
//!
//! OpenSSL (built from source, with the weak suites and SSLv3 enabled and the legacy provider
//! built in) speaks every suite of the CloudFront profile, including RC4-MD5, DES-CBC3-SHA,
//! RSA key exchange, CBC suites and TLS 1.0/1.1 at security level 0. A suite the library cannot
//! speak is listed by [`unspeakable`] and exported, never dropped silently.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;

use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslVerifyMode, SslVersion,
};
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, UnitWeighter};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_openssl::SslStream;

use crate::cdn::{CdnProfile, TlsVersion};
use crate::checks::dial;

/// `SSL_OP_LEGACY_SERVER_CONNECT`: talk to servers without secure renegotiation, as the CDN
/// does (OpenSSL 3 refuses them by default).
const OP_LEGACY_SERVER_CONNECT: u64 = 1 << 2;
/// `SSL_OP_NO_ENCRYPT_THEN_MAC`: the CDN does not send the encrypt_then_mac extension.
const OP_NO_ENCRYPT_THEN_MAC: u64 = 1 << 19;

/// Largest Certificate list the client accepts: OpenSSL's default (`SSL_CTX_set_max_cert_list`),
/// 100 KiB. A bigger Certificate message fails the handshake (documented in docs/bounds.md).
pub const MAX_CERT_LIST: usize = 100 * 1024;

/// The client certificate the CDN presents to the origin (CloudFront's origin mTLS).
pub use crate::config::ClientCertificate as ClientIdentity;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot configure the CDN-profile TLS client: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    #[error("client_certificate {file}: {reason}")]
    Identity { file: String, reason: String },
}

/// Most client contexts kept: one per distinct (`ssl_protocols`, `client_certificate`) in use.
/// A config has a few; reloads with rotated client certificates add new ones, and the least used
/// go (quick_cache's CLOCK-Pro). An evicted one is built again when next needed.
pub const MAX_CLIENTS: usize = 64;
/// Shards of the client cache: `MAX_CLIENTS` divides among them exactly.
const CLIENT_SHARDS: usize = 4;

type Key = (Vec<TlsVersion>, Option<ClientIdentity>);

/// One client context per (allowed versions, client certificate): built once, shared by every
/// origin with the same settings, at most [`MAX_CLIENTS`] kept.
#[derive(Debug)]
pub struct CdnClients {
    contexts: Cache<Key, SslContext>,
}

impl Default for CdnClients {
    fn default() -> Self {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(MAX_CLIENTS)
            .weight_capacity(MAX_CLIENTS as u64)
            .shards(CLIENT_SHARDS)
            .build()
            .expect("weight capacity is set");
        CdnClients {
            contexts: Cache::with_options(
                options,
                UnitWeighter,
                Default::default(),
                Default::default(),
            ),
        }
    }
}

impl CdnClients {
    pub fn get(
        &self,
        profile: &CdnProfile,
        versions: &[TlsVersion],
        identity: Option<&ClientIdentity>,
    ) -> Result<SslContext, ClientError> {
        let key = (versions.to_vec(), identity.cloned());
        if let Some(ctx) = self.contexts.get(&key) {
            return Ok(ctx);
        }
        let ctx = context(profile, versions, identity)?;
        self.contexts.insert(key, ctx.clone());
        Ok(ctx)
    }

    /// Contexts kept now.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }
}

/// Loads OpenSSL's legacy provider (RC4) beside the default one, once per process.
fn providers() {
    static LOADED: OnceLock<bool> = OnceLock::new();
    LOADED.get_or_init(|| {
        match openssl::provider::Provider::try_load(None, "legacy", true) {
            // Kept loaded for the life of the process.
            Ok(p) => {
                std::mem::forget(p);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "OpenSSL legacy provider unavailable: RC4 suites cannot be spoken");
                false
            }
        }
    });
}

fn ssl_version(v: TlsVersion) -> SslVersion {
    match v {
        TlsVersion::Ssl3 => SslVersion::SSL3,
        TlsVersion::Tls1_0 => SslVersion::TLS1,
        TlsVersion::Tls1_1 => SslVersion::TLS1_1,
        TlsVersion::Tls1_2 => SslVersion::TLS1_2,
        TlsVersion::Tls1_3 => SslVersion::TLS1_3,
    }
}

fn no_version(v: TlsVersion) -> SslOptions {
    match v {
        TlsVersion::Ssl3 => SslOptions::NO_SSLV3,
        TlsVersion::Tls1_0 => SslOptions::NO_TLSV1,
        TlsVersion::Tls1_1 => SslOptions::NO_TLSV1_1,
        TlsVersion::Tls1_2 => SslOptions::NO_TLSV1_2,
        TlsVersion::Tls1_3 => SslOptions::NO_TLSV1_3,
    }
}

/// OpenSSL's name of a TLS 1.2 signature scheme (`SSL_CTX_set1_sigalgs_list`).
fn sigalg_name(scheme: u16) -> Option<&'static str> {
    Some(match scheme {
        0x0401 => "RSA+SHA256",
        0x0501 => "RSA+SHA384",
        0x0601 => "RSA+SHA512",
        0x0301 => "RSA+SHA224",
        0x0201 => "RSA+SHA1",
        0x0403 => "ECDSA+SHA256",
        0x0503 => "ECDSA+SHA384",
        0x0603 => "ECDSA+SHA512",
        0x0303 => "ECDSA+SHA224",
        0x0203 => "ECDSA+SHA1",
        _ => return None,
    })
}

fn group_name(group: u16) -> Option<&'static str> {
    Some(match group {
        0x001d => "X25519",
        0x0017 => "P-256",
        0x0018 => "P-384",
        0x0019 => "P-521",
        _ => return None,
    })
}

/// The client context for an origin allowing `versions` (TLS 1.3 never offered).
pub fn context(
    profile: &CdnProfile,
    versions: &[TlsVersion],
    identity: Option<&ClientIdentity>,
) -> Result<SslContext, ClientError> {
    providers();
    let allowed: Vec<TlsVersion> = versions
        .iter()
        .copied()
        .filter(|v| *v <= TlsVersion::Tls1_2 && profile.origin_protocols.contains(v))
        .collect();
    let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
    let (min, max) = match (allowed.iter().min(), allowed.iter().max()) {
        (Some(min), Some(max)) => (*min, *max),
        _ => (TlsVersion::Tls1_2, TlsVersion::Tls1_2),
    };
    b.set_min_proto_version(Some(ssl_version(min)))?;
    b.set_max_proto_version(Some(ssl_version(max)))?;
    let mut options = SslOptions::NO_TICKET
        | SslOptions::NO_RENEGOTIATION
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_TLSV1_3
        | SslOptions::from_bits_retain(OP_LEGACY_SERVER_CONNECT | OP_NO_ENCRYPT_THEN_MAC);
    // A gap in the allowed versions (SSLv3 and TLSv1.2 only) is a version switched off.
    for v in TlsVersion::ALL {
        if v >= min && v <= max && !allowed.contains(&v) {
            options |= no_version(v);
        }
    }
    b.set_options(options);
    // Security level 0: the CDN accepts small RSA keys, SHA-1, RC4, 3DES and SSLv3.
    let suites: Vec<&str> = profile
        .cipher_suites
        .iter()
        .map(|s| s.openssl_name)
        .collect();
    b.set_cipher_list(&format!("{}:@SECLEVEL=0", suites.join(":")))?;
    b.set_security_level(0);
    let groups: Vec<&str> = profile
        .groups
        .iter()
        .filter_map(|g| group_name(*g))
        .collect();
    b.set_groups_list(&groups.join(":"))?;
    let sigalgs: Vec<&str> = profile
        .signature_schemes
        .iter()
        .filter_map(|s| sigalg_name(*s))
        .collect();
    b.set_sigalgs_list(&sigalgs.join(":"))?;
    // The certificate is judged by the TLS check's chain analysis (with OpenSSL's own chain
    // building); the handshake goes on so that every later step is seen.
    b.set_verify(SslVerifyMode::NONE);
    if let Some(id) = identity {
        let err = |file: &PathBuf, e: openssl::error::ErrorStack| ClientError::Identity {
            file: file.display().to_string(),
            reason: e.to_string(),
        };
        // From the PEM read at config load: no file is read here, on an async worker.
        let mut chain = openssl::x509::X509::stack_from_pem(&id.cert_pem)
            .map_err(|e| err(&id.cert_file, e))?
            .into_iter();
        let leaf = chain.next().ok_or_else(|| ClientError::Identity {
            file: id.cert_file.display().to_string(),
            reason: "no certificate in the file".into(),
        })?;
        b.set_certificate(&leaf)
            .map_err(|e| err(&id.cert_file, e))?;
        for issuer in chain {
            b.add_extra_chain_cert(issuer)
                .map_err(|e| err(&id.cert_file, e))?;
        }
        let key = openssl::pkey::PKey::private_key_from_pem(&id.key_pem)
            .map_err(|e| err(&id.key_file, e))?;
        b.set_private_key(&key).map_err(|e| err(&id.key_file, e))?;
        b.check_private_key().map_err(|e| err(&id.key_file, e))?;
    }
    Ok(b.build())
}

/// The suites of `profile` the library cannot speak (none with the vendored build; a system
/// OpenSSL without the legacy provider would list RC4-MD5): OpenSSL refuses a cipher string
/// naming only a suite whose cipher or MAC no provider supplies.
pub fn unspeakable(profile: &CdnProfile) -> Vec<&'static str> {
    providers();
    let all = || profile.cipher_suites.iter().map(|s| s.openssl_name);
    let Ok(mut b) = SslContextBuilder::new(SslMethod::tls_client()) else {
        return all().collect();
    };
    b.set_security_level(0);
    all()
        .filter(|name| b.set_cipher_list(&format!("{name}:@SECLEVEL=0")).is_err())
        .collect()
}

/// How the CDN-profile handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Finished: version and suite as OpenSSL names them (OpenSSL's own static strings: every
    /// origin keeps one in its report and one in its memory, so no copy is made).
    Done {
        version: &'static str,
        cipher: &'static str,
    },
    /// The origin sent a fatal alert (`step`: where OpenSSL was in the handshake).
    AlertReceived {
        alert: u8,
        step: String,
    },
    /// The client gave up (bad signature, excessive message, unexpected message...).
    Refused {
        reason: String,
        step: String,
    },
    /// The connection ended or could not be made.
    Io(String),
    TimedOut,
}

impl Finish {
    pub fn describe(&self) -> String {
        match self {
            Finish::Done { version, cipher } => format!("finished: {version} {cipher}"),
            Finish::AlertReceived { alert, step } => format!(
                "origin sent alert {alert} ({}) at: {step}",
                super::reply::alert_name(*alert)
            ),
            Finish::Refused { reason, step } => format!("{reason} at: {step}"),
            Finish::Io(e) => e.clone(),
            Finish::TimedOut => "no answer within the timeout".into(),
        }
    }
}

/// Connects and finishes the handshake; the stream when it finished.
pub async fn connect(
    ctx: &SslContext,
    addr: SocketAddr,
    sni: &str,
    deadline: Instant,
) -> (Finish, Option<SslStream<TcpStream>>) {
    let work = async {
        match dial::connect(addr).await {
            Ok(tcp) => handshake(ctx, tcp, sni).await,
            Err(e) => (Finish::Io(e.to_string()), None),
        }
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or((Finish::TimedOut, None))
}

/// Finishes the handshake on a connected stream (the caller bounds the time).
pub async fn handshake(
    ctx: &SslContext,
    tcp: TcpStream,
    sni: &str,
) -> (Finish, Option<SslStream<TcpStream>>) {
    let mut ssl = match Ssl::new(ctx) {
        Ok(s) => s,
        Err(e) => return (Finish::Io(e.to_string()), None),
    };
    if super::hello::sendable_sni(sni) {
        if let Err(e) = ssl.set_hostname(sni.trim_end_matches('.')) {
            return (Finish::Io(e.to_string()), None);
        }
    }
    let mut stream = match SslStream::new(ssl, tcp) {
        Ok(s) => s,
        Err(e) => return (Finish::Io(e.to_string()), None),
    };
    match Pin::new(&mut stream).connect().await {
        Ok(()) => {
            let ssl = stream.ssl();
            let done = Finish::Done {
                version: ssl.version_str(),
                cipher: ssl.current_cipher().map_or("", |c| c.name()),
            };
            (done, Some(stream))
        }
        Err(e) => (failure(&e, stream.ssl().state_string_long()), None),
    }
}

/// Reason codes of received alerts: `SSL_AD_REASON_OFFSET` plus the alert.
const ALERT_REASON_OFFSET: i32 = 1000;

/// The alert the peer sent, when OpenSSL's error is a received alert.
pub fn alert_of(e: &openssl::ssl::Error) -> Option<u8> {
    e.ssl_error()?.errors().iter().find_map(|err| {
        let code = err.reason_code();
        (ALERT_REASON_OFFSET..ALERT_REASON_OFFSET + 256)
            .contains(&code)
            .then(|| (code - ALERT_REASON_OFFSET) as u8)
    })
}

fn failure(e: &openssl::ssl::Error, step: &str) -> Finish {
    let step = step.to_string();
    if let Some(alert) = alert_of(e) {
        return Finish::AlertReceived { alert, step };
    }
    if let Some(stack) = e.ssl_error() {
        if let Some(reason) = stack.errors().iter().find_map(|e| e.reason()) {
            return Finish::Refused {
                reason: reason.to_string(),
                step,
            };
        }
    }
    match e.io_error() {
        Some(io) => Finish::Io(format!("{io} at: {step}")),
        None => Finish::Io(format!("connection closed at: {step}")),
    }
}

/// The chain the origin served in the finished handshake, in served order.
pub fn served_chain(stream: &SslStream<TcpStream>) -> Vec<CertificateDer<'static>> {
    stream
        .ssl()
        .peer_cert_chain()
        .map(|chain| {
            chain
                .iter()
                .filter_map(|c| c.to_der().ok())
                .map(CertificateDer::from)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdn::CLOUDFRONT;

    #[test]
    fn every_cloudfront_suite_is_speakable() {
        assert_eq!(unspeakable(&CLOUDFRONT), Vec::<&str>::new());
    }

    /// The client certificate comes from the PEM read at config load; a rotated certificate
    /// (same files, new content) is a new client, so a reload picks it up.
    #[test]
    fn a_client_certificate_is_built_from_its_pem_and_a_rotated_one_is_a_new_client() {
        let identity = |cn: &str| {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).expect("params");
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            let cert = params.self_signed(&key).expect("certificate");
            ClientIdentity {
                cert_file: "client.pem".into(),
                key_file: "client.key".into(),
                cert_pem: cert.pem().into_bytes().into(),
                key_pem: key.serialize_pem().into_bytes().into(),
                not_after: None,
            }
        };
        let subject = |ctx: &SslContext| {
            ctx.certificate()
                .and_then(|c| {
                    c.subject_name()
                        .entries()
                        .next()
                        .and_then(|e| e.data().to_string().ok())
                })
                .expect("a client certificate")
        };
        let clients = CdnClients::default();
        let versions = [TlsVersion::Tls1_2];
        let old = clients
            .get(&CLOUDFRONT, &versions, Some(&identity("old.client.test")))
            .expect("client");
        let new = clients
            .get(&CLOUDFRONT, &versions, Some(&identity("new.client.test")))
            .expect("client");
        assert_eq!(subject(&old), "old.client.test");
        assert_eq!(subject(&new), "new.client.test");
        // A key that is no PEM: an error naming the key file, not a panic.
        let mut broken = identity("broken.client.test");
        broken.key_pem = b"-----BEGIN PRIVATE KEY-----\nnope\n".to_vec().into();
        let err = clients
            .get(&CLOUDFRONT, &versions, Some(&broken))
            .expect_err("no key");
        assert!(
            err.to_string()
                .starts_with("client_certificate client.key:"),
            "{err}"
        );

        // Bounded: reloads that rotate certificates without end keep at most MAX_CLIENTS.
        let first = identity("rotated-0.client.test");
        for i in 0..MAX_CLIENTS + MAX_CLIENTS / 2 {
            clients
                .get(
                    &CLOUDFRONT,
                    &versions,
                    Some(&identity(&format!("rotated-{i}.client.test"))),
                )
                .expect("client");
            // The one in use is asked for again and again: it stays.
            clients
                .get(&CLOUDFRONT, &versions, Some(&first))
                .expect("client");
            assert!(clients.len() <= MAX_CLIENTS, "{} at {i}", clients.len());
        }
        assert!(clients.len() > MAX_CLIENTS / 2, "not cleared when full");
    }

    #[test]
    fn contexts_build_for_every_version_set() {
        use TlsVersion::*;
        for versions in [
            vec![Tls1_2],
            vec![Ssl3, Tls1_2],
            vec![Ssl3],
            vec![Tls1_0, Tls1_1, Tls1_2],
        ] {
            context(&CLOUDFRONT, &versions, None).unwrap();
        }
        assert!(unspeakable(&CLOUDFRONT).is_empty());
    }
}
