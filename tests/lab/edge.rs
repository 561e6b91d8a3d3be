//! A fake CloudFront edge for the `edge` check: an HTTPS server on 127.0.0.1 with a certificate
//! from the lab CA for the URL's host name, answering every request the way CloudFront does for
//! one `X-Cache` class (status, `Server: CloudFront`, `Via`, `X-Amz-Cf-Pop`, `X-Amz-Cf-Id`,
//! `X-Cache`, and for errors CloudFront's HTML error page), or slowly, or not at all, or by
//! mirroring a lab origin. It stops when dropped.
//!
//! ```ignore
//! let edge = FakeEdge::start(Behaviour::LambdaValidationError).await;
//! // config: edge: {url: <edge.url()>, address: 127.0.0.1}, global.ca_file: <edge.ca_file()>
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::http::Seen;
use super::tls::{LeafSpec, Pki};

/// The host name of the edge URL unless the test picks another: a CloudFront distribution
/// domain (never resolved: the exporter connects to `edge.address`).
pub const DEFAULT_HOST: &str = "d111111abcdef8.cloudfront.net";
/// The path of [`FakeEdge::url`].
pub const PATH: &str = "/healthz";
/// The edge location every answer names (`X-Amz-Cf-Pop`).
pub const POP: &str = "FRA56-P1";
/// [`Behaviour::Proxy`]: how long the edge tries to connect to the origin, then 502.
pub const PROXY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// [`Behaviour::Proxy`]: how long the edge waits for the origin's status line, then 504.
pub const PROXY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the edge answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200, `X-Cache: Hit from cloudfront` (and an `Age` header).
    Hit,
    /// 200, `X-Cache: Miss from cloudfront`.
    Miss,
    /// 200, `X-Cache: RefreshHit from cloudfront`.
    RefreshHit,
    /// 502 with CloudFront's HTML error page, `X-Cache: Error from cloudfront`: the CDN could not
    /// reach the origin.
    Error,
    /// 502, `X-Cache: LambdaValidationError from cloudfront`.
    LambdaValidationError,
    /// 503, `X-Cache: LambdaExecutionError from cloudfront`.
    LambdaExecutionError,
    /// 503, `X-Cache: LambdaLimitExceeded from cloudfront`.
    LambdaLimitExceeded,
    /// 502, `X-Cache: FunctionValidationError from cloudfront`.
    FunctionValidationError,
    /// 503, `X-Cache: FunctionExecutionError from cloudfront`.
    FunctionExecutionError,
    /// 503, `X-Cache: FunctionThrottledError from cloudfront`.
    FunctionThrottledError,
    /// TLS at once, then the response headers (200, `Miss from cloudfront`) after this delay.
    Slow(Duration),
    /// Nothing listens on the port: connections are refused.
    Down,
    /// Forwards each request to the plain-HTTP origin at this address and answers its status:
    /// `Miss from cloudfront` for 1xx-3xx, `Error from cloudfront` for 4xx/5xx (as CloudFront marks
    /// origin errors); 502 with the error page when it cannot connect within
    /// [`PROXY_CONNECT_TIMEOUT`], 504 when no status line arrives within [`PROXY_READ_TIMEOUT`].
    Proxy(SocketAddr),
}

impl Behaviour {
    /// Every fixed answer (not `Slow`, `Down`, `Proxy`), for tests that go through them all.
    pub const ANSWERS: [Behaviour; 10] = [
        Behaviour::Hit,
        Behaviour::Miss,
        Behaviour::RefreshHit,
        Behaviour::Error,
        Behaviour::LambdaValidationError,
        Behaviour::LambdaExecutionError,
        Behaviour::LambdaLimitExceeded,
        Behaviour::FunctionValidationError,
        Behaviour::FunctionExecutionError,
        Behaviour::FunctionThrottledError,
    ];

    /// The status CloudFront answers with (`Slow`: 200; `Down`, `Proxy`: `None`, it depends).
    pub fn status(self) -> Option<u16> {
        Some(match self {
            Behaviour::Hit | Behaviour::Miss | Behaviour::RefreshHit | Behaviour::Slow(_) => 200,
            Behaviour::Error
            | Behaviour::LambdaValidationError
            | Behaviour::FunctionValidationError => 502,
            Behaviour::LambdaExecutionError
            | Behaviour::LambdaLimitExceeded
            | Behaviour::FunctionExecutionError
            | Behaviour::FunctionThrottledError => 503,
            Behaviour::Down | Behaviour::Proxy(_) => return None,
        })
    }

    /// The `X-Cache` header value (`Down`, `Proxy`: `None`).
    pub fn x_cache(self) -> Option<&'static str> {
        Some(match self {
            Behaviour::Hit => "Hit from cloudfront",
            Behaviour::Miss | Behaviour::Slow(_) => "Miss from cloudfront",
            Behaviour::RefreshHit => "RefreshHit from cloudfront",
            Behaviour::Error => "Error from cloudfront",
            Behaviour::LambdaValidationError => "LambdaValidationError from cloudfront",
            Behaviour::LambdaExecutionError => "LambdaExecutionError from cloudfront",
            Behaviour::LambdaLimitExceeded => "LambdaLimitExceeded from cloudfront",
            Behaviour::FunctionValidationError => "FunctionValidationError from cloudfront",
            Behaviour::FunctionExecutionError => "FunctionExecutionError from cloudfront",
            Behaviour::FunctionThrottledError => "FunctionThrottledError from cloudfront",
            Behaviour::Down | Behaviour::Proxy(_) => return None,
        })
    }

    /// The `result` label the exporter gives this answer in `origin_edge_result_info`.
    pub fn result_label(self) -> Option<&'static str> {
        Some(match self {
            Behaviour::Hit => "hit",
            Behaviour::Miss | Behaviour::Slow(_) => "miss",
            Behaviour::RefreshHit => "refresh_hit",
            Behaviour::Error => "error",
            Behaviour::LambdaValidationError => "lambda_validation_error",
            Behaviour::LambdaExecutionError => "lambda_execution_error",
            Behaviour::LambdaLimitExceeded => "lambda_limit_exceeded",
            Behaviour::FunctionValidationError => "function_validation_error",
            Behaviour::FunctionExecutionError => "function_execution_error",
            Behaviour::FunctionThrottledError => "function_throttled",
            Behaviour::Down | Behaviour::Proxy(_) => return None,
        })
    }

    /// The sentence of CloudFront's error page for this answer (`None` for a 2xx answer).
    fn error_reason(self) -> Option<&'static str> {
        Some(match self {
            Behaviour::Error => "CloudFront wasn't able to connect to the origin.",
            Behaviour::LambdaValidationError => {
                "The Lambda function returned invalid json: The json output is not parsable."
            }
            Behaviour::LambdaExecutionError => {
                "The Lambda function associated with the CloudFront distribution returned an error."
            }
            Behaviour::LambdaLimitExceeded => {
                "The Lambda function associated with the CloudFront distribution was throttled."
            }
            Behaviour::FunctionValidationError => {
                "The CloudFront function returned an invalid value."
            }
            Behaviour::FunctionExecutionError => {
                "The CloudFront function associated with the CloudFront distribution failed to execute."
            }
            Behaviour::FunctionThrottledError => {
                "The CloudFront function associated with the CloudFront distribution was throttled."
            }
            _ => return None,
        })
    }
}

/// A fake CloudFront edge on 127.0.0.1.
pub struct FakeEdge {
    addr: SocketAddr,
    host: String,
    behaviour: Behaviour,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    ca_file: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: Option<JoinHandle<()>>,
    _pki: Option<Pki>,
}

impl FakeEdge {
    /// An edge for [`DEFAULT_HOST`] with its own lab CA ([`FakeEdge::ca_file`]).
    pub async fn start(behaviour: Behaviour) -> FakeEdge {
        let pki = Pki::new();
        let mut edge = Self::start_with(&pki, DEFAULT_HOST, behaviour).await;
        edge._pki = Some(pki);
        edge
    }

    /// An edge for `host` whose certificate (leaf plus the lab intermediate) is issued by `pki`,
    /// so that one `global.ca_file` trusts it and the lab's origins.
    pub async fn start_with(pki: &Pki, host: &str, behaviour: Behaviour) -> FakeEdge {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (addr, task) = if behaviour == Behaviour::Down {
            let port = super::tcp::closed_port();
            (SocketAddr::from(([127, 0, 0, 1], port)), None)
        } else {
            let leaf = pki.leaf(&LeafSpec::new(&[host]), Some(&pki.inter));
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der.clone(), pki.inter.der.clone()], key)
                .expect("edge server config");
            let acceptor = TlsAcceptor::from(Arc::new(config));
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let addr = listener.local_addr().expect("local addr");
            let log = Arc::clone(&seen);
            let host = host.to_string();
            let task = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (acceptor, log, host) = (acceptor.clone(), Arc::clone(&log), host.clone());
                    tokio::spawn(async move {
                        let accepted =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                                .await;
                        if let Ok(Ok(stream)) = accepted {
                            let sni = stream.get_ref().1.server_name().map(str::to_string);
                            serve(stream, sni, behaviour, &host, log).await;
                        }
                    });
                }
            });
            (addr, Some(task))
        };
        FakeEdge {
            addr,
            host: host.to_string(),
            behaviour,
            ca_pem: pki.root.pem.clone(),
            ca_der: pki.root.der.clone(),
            ca_file: pki.ca_file.clone(),
            seen,
            task,
            _pki: None,
        }
    }

    /// Where it listens (for `Down`, a port where nothing listens).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The host name of the URL: SNI, `Host`, and the name its certificate covers.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    /// `https://HOST:PORT/healthz`; pair it with `edge.address: 127.0.0.1`.
    pub fn url(&self) -> String {
        format!("https://{}:{}{PATH}", self.host, self.addr.port())
    }

    /// The lab root CA that issued its certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The lab root CA, DER (for a rustls root store).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// A PEM file with the lab root CA, for `global.ca_file` (lives as long as the edge, or the
    /// `Pki` given to [`FakeEdge::start_with`]).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Every request that reached it: request line, `Host`, SNI.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for FakeEdge {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Reads one request head, records it, answers as `behaviour` says and closes.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    sni: Option<String>,
    behaviour: Behaviour,
    host: &str,
    log: Arc<Mutex<Vec<Seen>>>,
) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let request_host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_string());
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or(PATH)
        .to_string();
    if let Ok(mut v) = log.lock() {
        v.push(Seen {
            request_line,
            host: request_host,
            sni,
            headers: Vec::new(),
        });
    }
    let response = match behaviour {
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            answer(200, "Miss from cloudfront", None)
        }
        Behaviour::Proxy(origin) => proxy(origin, host, &path).await,
        fixed => answer(
            fixed.status().unwrap_or(502),
            fixed.x_cache().unwrap_or("Error from cloudfront"),
            fixed.error_reason(),
        ),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return None;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// `Behaviour::Proxy`: one plain-HTTP request to the origin, its status mirrored.
async fn proxy(origin: SocketAddr, host: &str, path: &str) -> Vec<u8> {
    let connect = tokio::time::timeout(PROXY_CONNECT_TIMEOUT, TcpStream::connect(origin)).await;
    let Ok(Ok(mut conn)) = connect else {
        return answer(
            502,
            "Error from cloudfront",
            Behaviour::Error.error_reason(),
        );
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Amazon CloudFront\r\nVia: 1.1 {}.cloudfront.net (CloudFront)\r\nConnection: close\r\n\r\n",
        via_id()
    );
    if conn.write_all(request.as_bytes()).await.is_err() {
        return answer(
            502,
            "Error from cloudfront",
            Behaviour::Error.error_reason(),
        );
    }
    let status = tokio::time::timeout(PROXY_READ_TIMEOUT, async {
        let head = read_head(&mut conn).await?;
        let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
        line.split_whitespace().nth(1)?.parse::<u16>().ok()
    })
    .await;
    match status {
        Ok(Some(code)) if code < 400 => answer(code, "Miss from cloudfront", None),
        Ok(Some(code)) => answer(code, "Error from cloudfront", None),
        // Closed without a status line, or garbage: CloudFront's 502.
        Ok(None) => answer(502, "Error from cloudfront", Behaviour::Error.error_reason()),
        Err(_) => answer(
            504,
            "Error from cloudfront",
            Some("CloudFront attempted to establish a connection with the origin, but either the attempt failed or the origin closed the connection."),
        ),
    }
}

/// A complete HTTP/1.1 response as CloudFront sends it. `error_reason`: CloudFront's own HTML
/// error page with that sentence; `None`: a small text body (`ok`, or the origin's status).
fn answer(status: u16, x_cache: &str, error_reason: Option<&str>) -> Vec<u8> {
    let reason = reason_phrase(status);
    let (content_type, body) = match error_reason {
        Some(sentence) => ("text/html", error_page(status, sentence)),
        None if status < 400 => ("text/plain", "ok\n".to_string()),
        None => ("text/plain", format!("{status} {reason}\n")),
    };
    let age = if x_cache.starts_with("Hit ") {
        "Age: 42\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         Server: CloudFront\r\n\
         {age}\
         X-Cache: {x_cache}\r\n\
         Via: 1.1 {}.cloudfront.net (CloudFront)\r\n\
         X-Amz-Cf-Pop: {POP}\r\n\
         X-Amz-Cf-Id: {}\r\n\
         \r\n",
        body.len(),
        via_id(),
        cf_id(),
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// CloudFront's error page: "NNN ERROR ... The request could not be satisfied ... Generated by
/// cloudfront (CloudFront)".
fn error_page(status: u16, sentence: &str) -> String {
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n\
         <HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n\
         <TITLE>ERROR: The request could not be satisfied</TITLE>\n\
         </HEAD><BODY>\n\
         <H1>{status} ERROR</H1>\n\
         <H2>The request could not be satisfied.</H2>\n\
         <HR noshade size=\"1px\">\n\
         {sentence}\n\
         We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.\n\
         <BR clear=\"all\">\n\
         If you provide content to customers through CloudFront, you can find steps to troubleshoot and help prevent this error by reviewing the CloudFront documentation.\n\
         <BR clear=\"all\">\n\
         <HR noshade size=\"1px\">\n\
         <PRE>\n\
         Generated by cloudfront (CloudFront)\n\
         Request ID: {}\n\
         </PRE>\n\
         <ADDRESS>\n\
         </ADDRESS>\n\
         </BODY></HTML>\n",
        cf_id()
    )
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Lab",
    }
}

/// A new pseudo-random 64-bit value per call (no RNG dependency: a counter through splitmix64).
fn next_random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0x5eed);
    let mut z = COUNTER
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 32 lowercase hex digits, as in `Via: 1.1 <id>.cloudfront.net (CloudFront)`.
fn via_id() -> String {
    format!("{:016x}{:016x}", next_random(), next_random())
}

/// A request id as CloudFront writes it in `X-Amz-Cf-Id`: 54 URL-safe base64 characters and
/// `==` (56 in all).
fn cf_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = String::with_capacity(56);
    let mut bits = 0u64;
    let mut left = 0;
    for _ in 0..54 {
        if left < 6 {
            bits = next_random();
            left = 64;
        }
        id.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
        left -= 6;
    }
    id.push_str("==");
    id
}
