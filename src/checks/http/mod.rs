//! HTTP check: the request the CDN sends (method, path, `Host`), over TLS with the CDN's SNI or
//! plain, the time until response headers, the body read to its end as the CDN reads it
//! ([`body`]: the time to the last byte, against `response_completion_timeout`), then the
//! connection kept idle as the CDN keeps it for its next request ([`keepalive`]: when the origin
//! closes it, against `keepalive_timeout`). The certificate is not judged here: the TLS check
//! reports it, and a broken chain must not hide what the origin answers.

pub mod body;
mod check;
mod findings;
pub mod keepalive;
mod series;

pub use body::Body;
pub use check::HttpCheck;
pub use keepalive::{HttpMemory, KeepAlive, Observation};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use openssl::ssl::SslContext;

use super::dial;
use super::tls::cdn_client;
use super::tls::fallback::AcceptAnyCertificate;
use super::tls::refusal::{self, Refusal};
use crate::config::{Origin, Scheme};

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReport {
    pub address: SocketAddr,
    pub scheme: Scheme,
    pub outcome: HttpOutcome,
    /// The kept response headers ([`KEPT_HEADERS`]), lowercase name and value.
    pub headers: Vec<(&'static str, String)>,
    /// From the start of the request to the response headers (or the failure).
    pub duration: Duration,
    /// How long each step of the exchange took, as far as it went.
    pub phases: Phases,
    /// The HTTP version of the response, when one arrived.
    pub version: Option<hyper::Version>,
    /// How the CDN-profile handshake failed, when it did: the TLS check compares it with a
    /// handshake it reused (see `TlsReport::finish_from`).
    pub handshake: Option<cdn_client::Finish>,
    /// The answer refuses the client certificate ([`refusal::recognise`]).
    pub refusal: Option<Refusal>,
    /// How far the body was read: to its end (the time to the last byte), or where it stopped.
    pub body: Body,
    /// What the keep-alive watch of this address saw (or, while it runs, an earlier one).
    pub keepalive: KeepAlive,
    /// The same request to the origin's other addresses, in order (each with `more` empty).
    pub more: Vec<HttpReport>,
}

impl HttpReport {
    /// This address's report, then the other addresses'.
    pub fn all(&self) -> impl Iterator<Item = &HttpReport> {
        std::iter::once(self).chain(self.more.iter())
    }
}

/// How long each step of one request took: the connection, the TLS handshake, then the wait
/// for the response headers. A step that was not reached is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    pub connect: Option<Duration>,
    pub tls: Option<Duration>,
    /// From the request sent (on the established connection) to the response headers.
    pub headers: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpOutcome {
    /// Response headers arrived with this status.
    Status(u16),
    /// No response headers within `read_timeout`.
    HeadersTimedOut,
    /// The connection could not be made: the TCP check owns that failure.
    ConnectFailed(String),
    /// No TLS session could be set up: the TLS check owns that failure.
    TlsFailed(String),
    /// The origin answered with something that is not HTTP, or closed the connection.
    BadResponse(String),
}

/// The TLS client the HTTP check uses: accepts any certificate (signatures still verified).
pub fn tls_client(provider: Arc<CryptoProvider>) -> Result<Arc<ClientConfig>, rustls::Error> {
    let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Response headers the HTTP check keeps: the first four tell an AWS load balancer's or API
/// Gateway's own error from the application's (evidence); the last two are what the
/// blackbox_exporter-compatible series read (`probe_http_content_length`,
/// `probe_http_last_modified_timestamp_seconds`).
pub const KEPT_HEADERS: &[&str] = &[
    "server",
    "x-amzn-requestid",
    "x-amzn-errortype",
    "x-amz-apigw-id",
    "content-length",
    "last-modified",
];

/// Sends the CDN's request to `address` over the CDN-profile TLS client, waits for the response
/// headers and reads the body to its end (bounded: [`body::MAX_BODY`] bytes, and
/// `response_completion_timeout` or else `read_timeout`). Returns the report and, when the
/// origin keeps the connection open for another request, that connection, idle, for the
/// keep-alive watch.
pub async fn probe(
    origin: &Origin,
    address: SocketAddr,
    scheme: Scheme,
    tls: &SslContext,
) -> (HttpReport, Option<keepalive::Idle>) {
    let start = Instant::now();
    let spec = origin.http.clone().unwrap_or_default();
    let exchange = Exchange {
        address,
        scheme,
        host: origin.sni(),
        method: &spec.method,
        path: &spec.path,
        connect_timeout: origin.timeout,
        read_timeout: origin.read_timeout,
        headers: &spec.headers.0,
        keep: KEPT_HEADERS,
    };
    // The whole response within `response_completion_timeout` from the first connection
    // attempt, as the CDN counts it; without one, the body is read for the keep-alive watch
    // within the headers' `read_timeout`.
    let started = tokio::time::Instant::from(start);
    let whole = Whole {
        started,
        by: origin
            .response_completion_timeout()
            .map(|rct| started + rct),
    };
    let mut sent = send_over(&exchange, Client::Cdn(tls), Read::Whole(whole)).await;
    let refusal = match &sent.answer {
        Some(Answer::Response { status, body, .. }) => refusal::recognise(*status, body),
        _ => None,
    };
    let (read, closes) = match &sent.answer {
        Some(Answer::Response { read, closes, .. }) => (read.clone(), *closes),
        _ => (Body::NotRead, false),
    };
    let keepalive = match (&sent.idle, closes) {
        (_, true) => KeepAlive::Closes,
        (Some(idle), false) => KeepAlive::Watching {
            since: idle.since_wall(),
            earlier: None,
        },
        (None, false) => KeepAlive::NotWatched,
    };
    let report = HttpReport {
        address,
        scheme,
        outcome: sent.outcome,
        headers: sent.headers,
        duration: start.elapsed(),
        phases: sent.phases,
        version: match &sent.answer {
            Some(Answer::Response { version, .. }) => Some(*version),
            _ => None,
        },
        handshake: sent.handshake,
        refusal,
        body: read,
        keepalive,
        more: Vec::new(),
    };
    (report, sent.idle.take())
}

/// Sends the CDN's request to every address in `addrs` at once; the first one's report holds the
/// others' in `more`, and the idle connections left for the keep-alive watch come beside it.
/// `None` when `addrs` is empty.
pub async fn probe_all(
    origin: &Origin,
    addrs: &[SocketAddr],
    scheme: Scheme,
    tls: &SslContext,
) -> Option<(HttpReport, Vec<(SocketAddr, keepalive::Idle)>)> {
    let probes =
        futures_util::future::join_all(addrs.iter().map(|addr| probe(origin, *addr, scheme, tls)))
            .await;
    let mut idle = Vec::new();
    let mut reports = Vec::with_capacity(probes.len());
    for (report, left) in probes {
        if let Some(left) = left {
            idle.push((report.address, left));
        }
        reports.push(report);
    }
    let first = super::first_holding_rest(reports, |r: &mut HttpReport| &mut r.more)?;
    Some((first, idle))
}

/// One HTTP/1.1 request as the CDN sends it, and what to keep of the answer. No `Debug`: the
/// custom headers' values are secrets.
#[derive(Clone)]
pub struct Exchange<'a> {
    pub address: SocketAddr,
    pub scheme: Scheme,
    /// The TLS SNI and the `Host` header.
    pub host: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// For the connection, and again for the TLS handshake.
    pub connect_timeout: Duration,
    /// For the response headers once the request is sent.
    pub read_timeout: Duration,
    /// Request headers besides `Host` and `User-Agent` (the CDN's custom origin headers):
    /// their values are secrets and never leave this request.
    pub headers: &'a [(String, String)],
    /// Response headers to keep, lowercase.
    pub keep: &'static [&'static str],
}

/// Longest header value kept: evidence, not storage.
const MAX_KEPT_VALUE: usize = 256;

/// Sends the request and waits for the response headers; the body is never read. Returns how
/// it ended and the kept headers (name, printable value) of an answer.
pub async fn send(
    x: &Exchange<'_>,
    tls: &Arc<ClientConfig>,
) -> (HttpOutcome, Vec<(&'static str, String)>) {
    let sent = send_over(x, Client::Rustls(tls), Read::ErrorBody(0)).await;
    (sent.outcome, sent.headers)
}

/// The TLS client a request goes over.
#[derive(Clone, Copy)]
enum Client<'a> {
    /// rustls, any certificate: the edge check's client towards the CDN itself.
    Rustls(&'a Arc<ClientConfig>),
    /// The CDN's own client towards origins.
    Cdn(&'a SslContext),
}

/// How one request went.
struct Sent {
    outcome: HttpOutcome,
    headers: Vec<(&'static str, String)>,
    /// How the CDN-profile handshake failed, when it did.
    handshake: Option<cdn_client::Finish>,
    /// The answer, when the request went out.
    answer: Option<Answer>,
    /// The connection, idle after a response read to its end that leaves it open.
    idle: Option<keepalive::Idle>,
    phases: Phases,
}

impl Sent {
    fn failed(outcome: HttpOutcome) -> Sent {
        Sent {
            outcome,
            headers: Vec::new(),
            handshake: None,
            answer: None,
            idle: None,
            phases: Phases::default(),
        }
    }

    fn asked((answer, idle): (Answer, Option<keepalive::Idle>)) -> Sent {
        Sent {
            idle,
            ..Sent::answered(answer)
        }
    }

    /// How far the exchange went: `phases` with the wait for the answer's headers added.
    fn timed(mut self, phases: Phases) -> Sent {
        self.phases = phases;
        self
    }

    fn answered(answer: Answer) -> Sent {
        let (outcome, headers) = match &answer {
            Answer::Response { status, kept, .. } => (HttpOutcome::Status(*status), kept.clone()),
            Answer::Ended(why) | Answer::Invalid(why) => {
                (HttpOutcome::BadResponse(why.clone()), Vec::new())
            }
            Answer::TimedOut => (HttpOutcome::HeadersTimedOut, Vec::new()),
        };
        Sent {
            outcome,
            headers,
            handshake: None,
            answer: Some(answer),
            idle: None,
            phases: Phases::default(),
        }
    }
}

/// Connects, sets up TLS, sends the request; reads the body as `read` says.
async fn send_over(x: &Exchange<'_>, client: Client<'_>, read: Read) -> Sent {
    let start = Instant::now();
    let tcp = match tokio::time::timeout(x.connect_timeout, dial::connect(x.address)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Sent::failed(HttpOutcome::ConnectFailed(e.to_string())),
        Err(_) => return Sent::failed(HttpOutcome::ConnectFailed("connect timed out".into())),
    };
    let mut phases = Phases {
        connect: Some(start.elapsed()),
        ..Phases::default()
    };
    let timed_out = || Sent::failed(HttpOutcome::TlsFailed("TLS handshake timed out".into()));
    let secured = Instant::now();
    let ready = match x.scheme {
        Scheme::Http => Ok(Stream::Plain(tcp)),
        Scheme::Https => match client {
            Client::Cdn(ssl) => {
                let handshake = cdn_client::handshake(ssl, tcp, x.host);
                match tokio::time::timeout(x.connect_timeout, handshake).await {
                    Ok((_, Some(stream))) => Ok(Stream::Cdn(stream)),
                    Ok((finish, None)) => Err(Sent {
                        handshake: Some(finish.clone()),
                        ..Sent::failed(HttpOutcome::TlsFailed(finish.describe()))
                    }),
                    Err(_) => Err(Sent {
                        handshake: Some(cdn_client::Finish::TimedOut),
                        ..timed_out()
                    }),
                }
            }
            Client::Rustls(tls) => {
                let name = match ServerName::try_from(x.host.to_string()) {
                    Ok(n) => n,
                    Err(e) => return Sent::failed(HttpOutcome::TlsFailed(e.to_string())),
                };
                let connector = TlsConnector::from(Arc::clone(tls));
                match tokio::time::timeout(x.connect_timeout, connector.connect(name, tcp)).await {
                    Ok(Ok(stream)) => Ok(Stream::Rustls(Box::new(stream))),
                    Ok(Err(e)) => Err(Sent::failed(HttpOutcome::TlsFailed(e.to_string()))),
                    Err(_) => Err(timed_out()),
                }
            }
        },
    };
    if x.scheme == Scheme::Https {
        phases.tls = Some(secured.elapsed());
    }
    let stream = match ready {
        Ok(stream) => stream,
        Err(failed) => return failed.timed(phases),
    };
    let (answer, idle) = match stream {
        Stream::Plain(s) => exchange(x, s, read).await,
        Stream::Cdn(s) => exchange(x, s, read).await,
        Stream::Rustls(s) => exchange(x, *s, read).await,
    };
    if let Answer::Response { waited, .. } = &answer {
        phases.headers = Some(*waited);
    }
    Sent::asked((answer, idle)).timed(phases)
}

/// A connection ready for the request.
enum Stream {
    Plain(tokio::net::TcpStream),
    Cdn(tokio_openssl::SslStream<tokio::net::TcpStream>),
    Rustls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// How the origin answered a request on an established connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A response: its status and version, the kept headers, up to the caller's limit of its
    /// body when the status is an error (a refusal of the client certificate is told by its
    /// words), how far the body was read, and whether the origin closes the connection after it.
    Response {
        status: u16,
        version: hyper::Version,
        /// From the request sent to the response headers.
        waited: Duration,
        kept: Vec<(&'static str, String)>,
        body: Vec<u8>,
        read: Body,
        /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`: the connection
        /// serves no further request.
        closes: bool,
    },
    /// The connection ended before a response: closed, reset, or a TLS alert.
    Ended(String),
    /// What came back is not an HTTP response.
    Invalid(String),
    /// No response headers within the read timeout.
    TimedOut,
}

/// How much of a response's body a request reads.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// Up to this many bytes of an error answer's body, within the headers' `read_timeout`;
    /// the connection is closed after it.
    ErrorBody(usize),
    /// The whole body, as the CDN reads it, bounded by [`body::MAX_BODY`]; the first
    /// [`refusal::MAX_ANSWER`] bytes of an error answer's body are kept. A connection the origin
    /// leaves open after it is handed back, idle.
    Whole(Whole),
}

/// When the whole response must have arrived.
#[derive(Debug, Clone, Copy)]
pub struct Whole {
    /// When the request's first connection attempt started: the time to the last byte counts
    /// from it.
    pub started: tokio::time::Instant,
    /// `response_completion_timeout` after `started`; `None`: the headers' `read_timeout`
    /// bounds the body too.
    pub by: Option<tokio::time::Instant>,
}

/// One HTTP/1.1 request on an established connection: the response headers within
/// `read_timeout`, then, for an error status, up to `body_limit` bytes of the body within what is
/// left of it.
pub async fn ask<S>(x: &Exchange<'_>, stream: S, body_limit: usize) -> Answer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    exchange(x, stream, Read::ErrorBody(body_limit)).await.0
}

/// One HTTP/1.1 request on an established connection, the body read as `read` says; the
/// connection, idle, when the whole body was read and the origin keeps the connection open.
async fn exchange<S>(x: &Exchange<'_>, stream: S, read: Read) -> (Answer, Option<keepalive::Idle>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let asked = Instant::now();
    let deadline = tokio::time::Instant::now() + x.read_timeout;
    let exchange = async {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| Answer::Invalid(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(x.method)
            .uri(x.path)
            .header(hyper::header::HOST, x.host)
            .header(
                hyper::header::USER_AGENT,
                concat!("origin_exporter/", env!("CARGO_PKG_VERSION")),
            );
        // The CDN's custom origin headers. An invalid one was refused by validation; the
        // error never carries the value.
        for (name, value) in x.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Empty::new())
            .map_err(|_| Answer::Invalid("a custom header is not valid HTTP".to_string()))?;
        let response = sender.send_request(request).await;
        Ok((response, sender, driver))
    };
    let (response, sender, driver) = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(Ok(sent)) => sent,
        Ok(Err(answer)) => return (answer, None),
        Err(_) => return (Answer::TimedOut, None),
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            driver.abort();
            return (not_answered(&e), None);
        }
    };
    let waited = asked.elapsed();
    let status = response.status().as_u16();
    let version = response.version();
    let kept = x
        .keep
        .iter()
        .filter_map(|&name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name, printable(value)))
        })
        .collect();
    let closes = keepalive::closes_after(&response);
    let keep_body = |limit: usize| if status >= 400 { limit } else { 0 };
    let (body, read) = match read {
        Read::ErrorBody(limit) => {
            let limit = keep_body(limit);
            let (body, _) =
                body::read(response.into_body(), deadline, limit, body::Extent::Kept).await;
            (body, Body::NotRead)
        }
        Read::Whole(whole) => {
            let by = whole.by.unwrap_or(deadline);
            let (body, end) = body::read(
                response.into_body(),
                by,
                keep_body(refusal::MAX_ANSWER),
                body::Extent::Whole(body::MAX_BODY),
            )
            .await;
            (body, end.since(whole.started))
        }
    };
    let answer = Answer::Response {
        status,
        version,
        waited,
        kept,
        body,
        read: read.clone(),
        closes,
    };
    match read {
        // A connection the origin closed at once is watched too: it closed without saying so.
        Body::Complete { .. } if !closes => (answer, Some(keepalive::Idle::new(sender, driver))),
        _ => {
            driver.abort();
            (answer, None)
        }
    }
}

/// Why a request got no response: the connection ended (closed, reset, an alert), or the
/// answer was not HTTP.
fn not_answered(e: &hyper::Error) -> Answer {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return Answer::Invalid(e.to_string());
    }
    if e.is_incomplete_message() {
        return Answer::Ended("an orderly close".into());
    }
    // The I/O error underneath: a reset, or OpenSSL's error for an alert.
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Answer::Ended(ended_by(io));
        }
        source = err.source();
    }
    Answer::Ended(e.to_string())
}

/// How a connection ended, from the read error: an alert by its number and name.
fn ended_by(io: &std::io::Error) -> String {
    let alert = io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
        .and_then(cdn_client::alert_of);
    match (alert, io.kind()) {
        (Some(alert), _) => {
            let name = super::tls::reply::alert_name(alert);
            match refusal::alert_after_request(alert) {
                Some(means) => format!("alert {alert} ({name}) after the request: {means}"),
                None => format!("alert {alert} ({name})"),
            }
        }
        (None, std::io::ErrorKind::ConnectionReset) => "a reset".into(),
        (None, _) => io.to_string(),
    }
}

/// A header value as evidence: at most [`MAX_KEPT_VALUE`] characters, no control characters.
fn printable(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_KEPT_VALUE)
        .collect()
}
