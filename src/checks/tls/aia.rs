//! Fetching a missing issuer from a certificate's AIA caIssuers URL, to tell an incomplete
//! chain from an untrusted one. Plain HTTP only (what CAs publish), bounded in size, time and
//! redirects, and cached: many origins share a few issuers, and an issuer changes rarely. The URL
//! comes from a certificate the origin chose, so a fetch goes to public addresses only, unless
//! `global.aia_allowed_networks` names a private range ([`aia_refusal`]); for a `/probe?target=`
//! origin the address must pass `global.adhoc_allowed_networks` too. Host names resolve through
//! `global.resolvers` (the checks' resolver), never the system's resolver directly.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{header, Request, Uri};
use hyper_util::rt::TokioIo;
use quick_cache::sync::Cache;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tracing::{debug, warn};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::analysis::MAX_CHAIN;
use crate::checks::dial;
use crate::checks::names::{fqdn, reason};
use crate::netpolicy::{aia_refusal, AdhocPolicy, Cidr, Reach};

/// Largest issuer document accepted (a certificate is 1-2 KiB; a PKCS#7 bundle a few).
pub const MAX_BODY: usize = 64 * 1024;
/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 3;
/// Longest time one fetch may take, within the probe's own timeout.
pub const MAX_FETCH_TIME: Duration = Duration::from_secs(5);
/// Most URLs remembered; beyond it the least used go (quick_cache's CLOCK-Pro).
pub const MAX_ENTRIES: usize = 1024;
const TTL_FOUND: Duration = Duration::from_secs(3600);
const TTL_FAILED: Duration = Duration::from_secs(300);

type Issuers = Arc<Vec<CertificateDer<'static>>>;

/// Where AIA fetches may connect, and how their host names resolve. The default resolves
/// nothing (IP literals only) and allows public addresses only.
#[derive(Clone, Default)]
pub struct AiaPolicy {
    /// The checks' recursive resolver (`global.resolvers`, or the system's configuration).
    pub resolver: Option<TokioResolver>,
    /// `global.aia_allowed_networks`.
    pub allowed: Vec<Cidr>,
    /// `global.adhoc_allowed_networks` (and the ranges it refuses), for ad-hoc origins.
    pub adhoc: AdhocPolicy,
}

impl fmt::Debug for AiaPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiaPolicy")
            .field("resolver", &self.resolver.is_some())
            .field("allowed", &self.allowed)
            .field("adhoc", &self.adhoc)
            .finish()
    }
}

impl AiaPolicy {
    /// Why `ip` may not be fetched from, if it may not.
    fn refusal(&self, ip: IpAddr, adhoc: bool) -> Option<String> {
        aia_refusal(ip, &self.allowed, adhoc.then_some(&self.adhoc))
    }

    /// What the dialer checks a fetch's connection against.
    fn reach(&self, adhoc: bool) -> Reach {
        Reach::Aia {
            allowed: self.allowed.clone(),
            adhoc: adhoc.then(|| self.adhoc.clone()),
        }
    }
}

/// Issuers fetched by URL, shared by every probe of a config.
#[derive(Debug)]
pub struct AiaCache {
    entries: Cache<String, Entry>,
    policy: AiaPolicy,
}

impl Default for AiaCache {
    fn default() -> Self {
        AiaCache::new(AiaPolicy::default())
    }
}

/// An entry older than its TTL is absent: it stays until evicted or replaced.
#[derive(Debug, Clone)]
struct Entry {
    issuers: Issuers,
    at: Instant,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        let ttl = if self.issuers.is_empty() {
            TTL_FAILED
        } else {
            TTL_FOUND
        };
        now.saturating_duration_since(self.at) < ttl
    }
}

impl AiaCache {
    pub fn new(policy: AiaPolicy) -> AiaCache {
        AiaCache {
            entries: Cache::new(MAX_ENTRIES),
            policy,
        }
    }

    /// The certificates published at `url` (empty when the fetch failed or was refused), at
    /// most `limit` away. `adhoc`: the certificate came from a `/probe?target=` origin, whose
    /// fetches pass the ad-hoc network policy too (and are cached apart). Concurrent misses for
    /// one URL share one fetch: the first makes it, the others wait for its result (each no
    /// longer than its own `limit`), so origins sharing an issuer cost its server one request.
    pub async fn issuers(&self, url: &str, limit: Duration, adhoc: bool) -> Issuers {
        let key = match adhoc {
            true => format!("adhoc {url}"),
            false => url.to_string(),
        };
        // An entry past its TTL counts as absent: it goes, so that a fetch can take its place.
        let now = Instant::now();
        self.entries.remove_if(&key, |e| !e.fresh(now));
        let limit = limit.min(MAX_FETCH_TIME);
        let guard =
            match tokio::time::timeout(limit, self.entries.get_value_or_guard_async(&key)).await {
                Ok(Ok(entry)) => return entry.issuers,
                Ok(Err(guard)) => guard,
                // Another probe's fetch of it outlasted this one's time.
                Err(_) => return Arc::new(Vec::new()),
            };
        let issuers = match tokio::time::timeout(limit, fetch(url, &self.policy, adhoc)).await {
            Ok(Ok(certs)) => certs,
            Ok(Err(AiaError::Refused { host, why })) => {
                // Remembered like any failure: logged once per URL per TTL_FAILED.
                warn!(url, host, reason = %why, "AIA fetch refused; the chain stays incomplete");
                Vec::new()
            }
            Ok(Err(e)) => {
                debug!(url, error = %e, "AIA fetch failed");
                Vec::new()
            }
            Err(_) => {
                debug!(url, "AIA fetch timed out");
                // Cut short by what was left of a probe's timeout, it says little: try again
                // next time (a waiting probe takes the fetch over). A full-length timeout is a
                // failure like any other, remembered so that every probe does not wait for it
                // again.
                if limit < MAX_FETCH_TIME {
                    drop(guard);
                    return Arc::new(Vec::new());
                }
                Vec::new()
            }
        };
        let issuers = Arc::new(issuers);
        let _ = guard.insert(Entry {
            issuers: Arc::clone(&issuers),
            at: Instant::now(),
        });
        issuers
    }

    #[cfg(test)]
    fn lookup(&self, url: &str, now: Instant) -> Option<Issuers> {
        self.entries
            .get(url)
            .filter(|e| e.fresh(now))
            .map(|e| e.issuers)
    }

    #[cfg(test)]
    fn store(&self, url: &str, issuers: Issuers) {
        self.entries.insert(
            url.to_string(),
            Entry {
                issuers,
                at: Instant::now(),
            },
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AiaError {
    #[error("not an http:// URL")]
    BadUrl,
    #[error("too many redirects")]
    Redirects,
    #[error("no address for {0}")]
    NoAddress(String),
    #[error("cannot resolve {host}: {why}")]
    Resolve { host: String, why: String },
    #[error("refused to fetch from {host}: {why}")]
    Refused { host: String, why: String },
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("body larger than {MAX_BODY} bytes or unreadable")]
    Body,
    #[error("no certificate in the response")]
    NoCertificate,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Http(#[from] hyper::Error),
    #[error(transparent)]
    Request(#[from] hyper::http::Error),
}

async fn fetch(
    url: &str,
    policy: &AiaPolicy,
    adhoc: bool,
) -> Result<Vec<CertificateDer<'static>>, AiaError> {
    let mut url: Uri = url.parse().map_err(|_| AiaError::BadUrl)?;
    for _ in 0..=MAX_REDIRECTS {
        match get(&url, policy, adhoc).await? {
            Fetched::Body(body) => return decode(&body).ok_or(AiaError::NoCertificate),
            Fetched::Redirect(next) => url = next,
        }
    }
    Err(AiaError::Redirects)
}

enum Fetched {
    Body(Bytes),
    Redirect(Uri),
}

/// The first address of `host` the policy allows: an IP literal as it is, a name through the
/// checks' resolver. Every address refused is [`AiaError::Refused`] with the first reason.
async fn address(host: &str, policy: &AiaPolicy, adhoc: bool) -> Result<IpAddr, AiaError> {
    let candidates: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let resolve_error = |why: String| AiaError::Resolve {
                host: host.to_string(),
                why,
            };
            let resolver = policy
                .resolver
                .as_ref()
                .ok_or_else(|| resolve_error("no resolver".into()))?;
            let name = fqdn(host).map_err(|e| resolve_error(e.to_string()))?;
            let lookup = resolver
                .lookup_ip(name)
                .await
                .map_err(|e| resolve_error(reason(&e)))?;
            lookup.iter().collect()
        }
    };
    let mut refused = None;
    for ip in candidates {
        match policy.refusal(ip, adhoc) {
            None => return Ok(ip),
            Some(why) => {
                refused.get_or_insert(why);
            }
        }
    }
    Err(match refused {
        Some(why) => AiaError::Refused {
            host: host.to_string(),
            why,
        },
        None => AiaError::NoAddress(host.to_string()),
    })
}

async fn get(url: &Uri, policy: &AiaPolicy, adhoc: bool) -> Result<Fetched, AiaError> {
    if url.scheme_str() != Some("http") {
        return Err(AiaError::BadUrl);
    }
    let host = url.host().ok_or(AiaError::BadUrl)?;
    let host_bare = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_u16().unwrap_or(80);
    let ip = address(host_bare, policy, adhoc).await?;
    let stream = dial::connect_as(&policy.reach(adhoc), SocketAddr::new(ip, port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let conn = tokio::spawn(conn);
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let authority = url.authority().map_or(host, |a| a.as_str());
    let request = Request::get(path)
        .header(header::HOST, authority)
        .header(
            header::USER_AGENT,
            concat!("origin_exporter/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let result = if status.is_redirection() {
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| redirect_target(authority, l))
            .map(Fetched::Redirect)
            .ok_or(AiaError::Status(status.as_u16()))
    } else if !status.is_success() {
        Err(AiaError::Status(status.as_u16()))
    } else {
        Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map(|b| Fetched::Body(b.to_bytes()))
            .map_err(|_| AiaError::Body)
    };
    conn.abort();
    result
}

/// Where a `Location` points: an absolute URL, or a path on the same server.
fn redirect_target(authority: &str, location: &str) -> Option<Uri> {
    if location.starts_with('/') {
        format!("http://{authority}{location}").parse().ok()
    } else {
        location.parse().ok()
    }
}

/// The certificates in an issuer document: one DER certificate, a PKCS#7 (certs-only
/// SignedData) bundle, or PEM.
pub fn decode(body: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    if X509Certificate::from_der(body).is_ok() {
        return Some(vec![CertificateDer::from(body.to_vec())]);
    }
    if let Some(certs) = pkcs7_certificates(body).filter(|c| !c.is_empty()) {
        return Some(certs);
    }
    let pem: Vec<_> = CertificateDer::pem_slice_iter(body)
        .take(MAX_CHAIN)
        .filter_map(Result::ok)
        .collect();
    (!pem.is_empty()).then_some(pem)
}

/// `ContentInfo { signedData, [0] SignedData { version, digestAlgorithms, encapContentInfo,
/// [0] IMPLICIT certificates, ... } }` (RFC 5652): the DER of each certificate.
fn pkcs7_certificates(body: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    let (_, content_info, _) = tlv(body, 0x30)?;
    let (_, oid, rest) = tlv(content_info, 0x06)?;
    if oid != SIGNED_DATA {
        return None;
    }
    let (_, explicit, _) = tlv(rest, 0xa0)?;
    let (_, signed_data, _) = tlv(explicit, 0x30)?;
    let (_, _, rest) = tlv(signed_data, 0x02)?; // version
    let (_, _, rest) = tlv(rest, 0x31)?; // digestAlgorithms
    let (_, _, rest) = tlv(rest, 0x30)?; // encapContentInfo
    let (_, mut certs, _) = tlv(rest, 0xa0)?;
    let mut out = Vec::new();
    while !certs.is_empty() && out.len() < MAX_CHAIN {
        let (whole, _, rest) = tlv(certs, 0x30)?;
        out.push(CertificateDer::from(whole.to_vec()));
        certs = rest;
    }
    Some(out)
}

/// One DER element with the expected tag: (whole element, content, what follows).
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        (
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            2 + n,
        )
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((whole, &whole[header..], &input[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn cert() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["ca.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn decodes_der_pkcs7_and_pem() {
        let c = cert();
        assert_eq!(decode(&c).unwrap()[0].as_ref(), &c[..]);

        let mut signed = wrap(0x02, &[1]);
        signed.extend(wrap(0x31, &[]));
        signed.extend(wrap(
            0x30,
            &wrap(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01],
            ),
        ));
        let mut two = c.clone();
        two.extend_from_slice(&c);
        signed.extend(wrap(0xa0, &two));
        signed.extend(wrap(0x31, &[]));
        let mut ci = wrap(
            0x06,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02],
        );
        ci.extend(wrap(0xa0, &wrap(0x30, &signed)));
        let p7 = wrap(0x30, &ci);
        let certs = decode(&p7).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[1].as_ref(), &c[..]);

        let text = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64(&c)
        );
        assert_eq!(decode(text.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_no_certificate() {
        for bytes in [
            &b""[..],
            b"\x30\x84\xff\xff\xff\xff",
            b"<html>",
            &[0x30, 0x80],
        ] {
            assert!(decode(bytes).is_none());
        }
    }

    /// What the lab needs: its AIA servers are on loopback.
    fn lab() -> AiaPolicy {
        AiaPolicy {
            allowed: vec![Cidr::parse("127.0.0.0/8").unwrap()],
            ..AiaPolicy::default()
        }
    }

    #[tokio::test]
    async fn refused_addresses_are_never_connected_to() {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (h, body) = (Arc::clone(&hits), cert());
        let (base, _task) = server(move |_| {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ok(&body)
        })
        .await;
        let url = format!("{base}/cert");
        let refused = |r: Result<Vec<CertificateDer<'static>>, AiaError>| match r {
            Err(AiaError::Refused { why, .. }) => why,
            other => panic!("not refused: {other:?}"),
        };
        // Loopback by default, metadata and link-local even with the lab's allow-list.
        let why = refused(fetch(&url, &AiaPolicy::default(), false).await);
        assert!(why.contains("loopback"), "{why}");
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]:1/",
            "http://10.0.0.1/",
        ] {
            let policy = AiaPolicy {
                allowed: vec![Cidr::parse("127.0.0.0/8").unwrap()],
                ..AiaPolicy::default()
            };
            let r = fetch(bad, &policy, false).await;
            if bad.contains("::ffff:127") {
                // Allowed by the lab's list: the connection itself fails (port 1).
                assert!(matches!(r, Err(AiaError::Io(_))), "{bad}: {r:?}");
            } else {
                refused(r);
            }
        }
        // An ad-hoc origin's fetch passes the ad-hoc networks too.
        let narrow = AiaPolicy {
            adhoc: AdhocPolicy {
                domains: vec!["*.x".into()],
                networks: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            },
            ..lab()
        };
        let why = refused(fetch(&url, &narrow, true).await);
        assert!(why.contains("global.adhoc_allowed_networks"), "{why}");
        // A name with no resolver is not looked up by the system's.
        assert!(matches!(
            fetch("http://localhost/x", &lab(), false).await,
            Err(AiaError::Resolve { .. })
        ));
        // An ad-hoc origin's fetch: loopback refused by the ad-hoc default too.
        let why = refused(fetch(&url, &lab(), true).await);
        assert!(
            why.contains("ad-hoc target: 127.0.0.1 is loopback"),
            "{why}"
        );
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Allowed: fetched, for an ad-hoc origin where both lists admit loopback.
        let both = AiaPolicy {
            adhoc: AdhocPolicy {
                domains: vec!["*.x".into()],
                networks: vec![Cidr::parse("127.0.0.0/8").unwrap()],
            },
            ..lab()
        };
        assert_eq!(fetch(&url, &lab(), false).await.unwrap().len(), 1);
        assert_eq!(fetch(&url, &both, true).await.unwrap().len(), 1);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_redirect_to_a_refused_address_is_not_followed() {
        let (base, _task) = server(|_| {
            b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/creds\r\nContent-Length: 0\r\n\r\n"
                .to_vec()
        })
        .await;
        assert!(matches!(
            fetch(&format!("{base}/x"), &lab(), false).await,
            Err(AiaError::Refused { .. })
        ));
    }

    #[tokio::test]
    async fn ad_hoc_fetches_are_cached_apart() {
        let c = cert();
        let (base, _task) = server(move |_| ok(&c)).await;
        let url = format!("{base}/cert");
        let policy = AiaPolicy {
            adhoc: AdhocPolicy {
                domains: vec!["*.x".into()],
                networks: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            },
            ..lab()
        };
        let cache = AiaCache::new(policy);
        let limit = Duration::from_secs(2);
        assert_eq!(cache.issuers(&url, limit, false).await.len(), 1);
        // The configured origin's success is not the ad-hoc origin's to use.
        assert!(cache.issuers(&url, limit, true).await.is_empty());
        assert_eq!(cache.issuers(&url, limit, false).await.len(), 1);
    }

    /// Concurrent misses for one URL share one fetch; a waiter whose time runs out first gets
    /// nothing, and does not cancel the fetch for the others.
    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let (h, body) = (Arc::clone(&hits), cert());
        // Slow enough that every probe below misses while the first fetch is in flight.
        let (base, _task) = slow_server(Duration::from_millis(300), move |_| {
            h.fetch_add(1, Ordering::SeqCst);
            ok(&body)
        })
        .await;
        let url = format!("{base}/cert");
        let cache = AiaCache::new(lab());
        let probes = (0..16).map(|_| cache.issuers(&url, Duration::from_secs(4), false));
        let impatient = cache.issuers(&url, Duration::from_millis(50), false);
        let (found, impatient) =
            futures_util::join!(futures_util::future::join_all(probes), impatient);
        assert!(found.iter().all(|i| i.len() == 1), "{found:?}");
        assert!(impatient.is_empty());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch for 17 misses");
    }

    /// A loopback HTTP server answering every request with `response(path)`.
    async fn server(
        response: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> (String, tokio::task::JoinHandle<()>) {
        slow_server(Duration::ZERO, response).await
    }

    /// [`server`], answering each request `delay` after it arrived.
    async fn slow_server(
        delay: Duration,
        response: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> (String, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let response = Arc::new(response);
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let response = Arc::clone(&response);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                    tokio::time::sleep(delay).await;
                    let _ = s.write_all(&response(&path)).await;
                });
            }
        });
        (base, task)
    }

    fn ok(body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn fetches_follow_few_redirects_and_small_bodies_only() {
        let c = cert();
        let body = c.clone();
        let (base, _task) = server(move |path| match path {
            "/cert" => ok(&body),
            "/moved" => {
                b"HTTP/1.1 301 Moved\r\nLocation: /cert\r\nContent-Length: 0\r\n\r\n".to_vec()
            }
            "/loop" => {
                b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n".to_vec()
            }
            "/huge" => ok(&vec![0x30; MAX_BODY + 1]),
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        })
        .await;
        let got = fetch(&format!("{base}/cert"), &lab(), false).await.unwrap();
        assert_eq!(got[0].as_ref(), &c[..]);
        assert_eq!(
            fetch(&format!("{base}/moved"), &lab(), false)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            fetch(&format!("{base}/loop"), &lab(), false).await,
            Err(AiaError::Redirects)
        ));
        assert!(matches!(
            fetch(&format!("{base}/huge"), &lab(), false).await,
            Err(AiaError::Body)
        ));
        assert!(matches!(
            fetch(&format!("{base}/gone"), &lab(), false).await,
            Err(AiaError::Status(404))
        ));
        assert!(matches!(
            fetch("https://127.0.0.1/x", &lab(), false).await,
            Err(AiaError::BadUrl)
        ));
    }

    #[tokio::test]
    async fn the_cache_remembers_and_stays_bounded() {
        let c = cert();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (h, body) = (Arc::clone(&hits), c.clone());
        let (base, _task) = server(move |_| {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ok(&body)
        })
        .await;
        let cache = AiaCache::new(lab());
        let url = format!("{base}/cert");
        for _ in 0..3 {
            assert_eq!(
                cache
                    .issuers(&url, Duration::from_secs(2), false)
                    .await
                    .len(),
                1
            );
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Three times the bound of other URLs, while the issuer in use keeps being asked for.
        for i in 0..3 * MAX_ENTRIES {
            cache.store(&format!("http://x/{i}"), Arc::new(Vec::new()));
            if i % 100 == 0 {
                assert!(
                    cache.lookup(&url, Instant::now()).is_some(),
                    "issuer in use evicted at {i}"
                );
            }
        }
        assert!(cache.entries.len() <= MAX_ENTRIES);
        // Not cleared when full: most of the bound is still there, the issuer in use too.
        assert!(cache.entries.len() > MAX_ENTRIES / 2);
        assert_eq!(
            cache
                .issuers(&url, Duration::from_secs(2), false)
                .await
                .len(),
            1
        );
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn entries_past_their_ttl_are_absent() {
        let cache = AiaCache::default();
        let now = Instant::now();
        let (failed, found) = ("http://x/failed", "http://x/found");
        cache.store(failed, Arc::new(Vec::new()));
        cache.store(found, Arc::new(vec![CertificateDer::from(cert())]));
        let later = |d: Duration| now + d + Duration::from_secs(1);
        assert!(cache.lookup(failed, now).is_some());
        assert!(cache.lookup(failed, later(TTL_FAILED)).is_none());
        assert!(cache.lookup(found, later(TTL_FAILED)).is_some());
        assert!(cache.lookup(found, later(TTL_FOUND)).is_none());
    }

    fn base64(data: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }
}
