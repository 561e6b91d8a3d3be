//! HTTP check: the request the CDN sends (method, path, `Host`), over TLS with the CDN's SNI or
//! plain, and the time until response headers. The certificate is not judged here: the TLS
//! check reports it, and a broken chain must not hide what the origin answers.

mod check;
mod findings;
mod series;

pub use check::HttpCheck;

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
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::tls::fallback::AcceptAnyCertificate;
use crate::config::{Origin, Scheme};

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReport {
    pub address: SocketAddr,
    pub scheme: Scheme,
    pub outcome: HttpOutcome,
    /// From the start of the request to the response headers (or the failure).
    pub duration: Duration,
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

/// Sends the CDN's request to `address` and waits for the response headers.
pub async fn probe(
    origin: &Origin,
    address: SocketAddr,
    scheme: Scheme,
    tls: &Arc<ClientConfig>,
) -> HttpReport {
    let start = Instant::now();
    let outcome = request(origin, address, scheme, tls).await;
    HttpReport {
        address,
        scheme,
        outcome,
        duration: start.elapsed(),
    }
}

async fn request(
    origin: &Origin,
    address: SocketAddr,
    scheme: Scheme,
    tls: &Arc<ClientConfig>,
) -> HttpOutcome {
    let tcp = match tokio::time::timeout(origin.timeout, TcpStream::connect(address)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return HttpOutcome::ConnectFailed(e.to_string()),
        Err(_) => return HttpOutcome::ConnectFailed("connect timed out".into()),
    };
    match scheme {
        Scheme::Http => exchange(origin, tcp).await,
        Scheme::Https => {
            let name = match ServerName::try_from(origin.sni().to_string()) {
                Ok(n) => n,
                Err(e) => return HttpOutcome::TlsFailed(e.to_string()),
            };
            let connector = TlsConnector::from(Arc::clone(tls));
            match tokio::time::timeout(origin.timeout, connector.connect(name, tcp)).await {
                Ok(Ok(stream)) => exchange(origin, stream).await,
                Ok(Err(e)) => HttpOutcome::TlsFailed(e.to_string()),
                Err(_) => HttpOutcome::TlsFailed("TLS handshake timed out".into()),
            }
        }
    }
}

/// One HTTP/1.1 request on an established connection; the body is never read.
async fn exchange<S>(origin: &Origin, stream: S) -> HttpOutcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(spec) = origin.http.as_ref() else {
        return HttpOutcome::BadResponse("no http section".into());
    };
    let exchange = async {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(spec.method.as_str())
            .uri(spec.path.as_str())
            .header(hyper::header::HOST, origin.sni())
            .header(
                hyper::header::USER_AGENT,
                concat!("origin_exporter/", env!("CARGO_PKG_VERSION")),
            );
        // The CDN's custom origin headers. An invalid one was refused by validation; the
        // error never carries the value.
        for (name, value) in &spec.headers.0 {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Empty::new())
            .map_err(|_| "a custom header is not valid HTTP".to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string());
        driver.abort();
        response.map(|r| r.status().as_u16())
    };
    match tokio::time::timeout(origin.read_timeout, exchange).await {
        Ok(Ok(status)) => HttpOutcome::Status(status),
        Ok(Err(e)) => HttpOutcome::BadResponse(e),
        Err(_) => HttpOutcome::HeadersTimedOut,
    }
}
