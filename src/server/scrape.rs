//! `/metrics`: the exporter's own metrics encoded and the origins' pre-rendered series
//! (`prerender`) written off the async workers and streamed in chunks, gzip when the client
//! accepts it, at most [`MAX_SCRAPES`] at once.

use std::io::{self, Write as _};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use tokio::sync::mpsc;

use super::AppState;
use crate::metrics::Format;

/// Scrapes encoded at once; more answer 503 at once (as Prometheus's own handler can be told
/// to): each costs a blocking thread and CPU for as long as the client reads.
pub const MAX_SCRAPES: usize = 8;
/// Bytes of exposition sent per chunk: the scrape never holds the whole body (tens of MB for
/// ten thousand origins) in memory.
const METRICS_CHUNK: usize = 64 * 1024;
/// Chunks encoded ahead of a slow client.
const METRICS_CHUNKS_AHEAD: usize = 4;

pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Ok(permit) = Arc::clone(&state.scrapes).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many scrapes in flight (at most {MAX_SCRAPES}); try again\n"),
        )
            .into_response();
    };
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = accepts_gzip(&headers);
    let (tx, rx) = mpsc::channel::<Bytes>(METRICS_CHUNKS_AHEAD);
    // Writing (and compressing) tens of MB, and rendering the origins whose latest snapshot is
    // not rendered yet, is CPU work: keep it off the async workers. The permit lives as long as
    // the writing.
    let registry = Arc::clone(&state.registry);
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let sink = ChunkSink {
            buf: Vec::with_capacity(METRICS_CHUNK),
            tx,
        };
        // Fails only when the client went away: then there is no one to tell.
        let _ = if gzip {
            let mut packed = GzEncoder::new(sink, flate2::Compression::fast());
            crate::prerender::scrape(&mut packed, &registry, &store, format)
                .and_then(|()| packed.finish())
                .and_then(|mut sink| sink.flush())
        } else {
            let mut sink = sink;
            crate::prerender::scrape(&mut sink, &registry, &store, format)
                .and_then(|()| sink.flush())
        };
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    let mut response = (
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response();
    mark_encoding(&mut response, gzip);
    response
}

/// The client accepts gzip (`Accept-Encoding: gzip`, not with `q=0`).
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Sets `Content-Encoding` for a gzip body and `Vary` either way.
pub(super) fn mark_encoding(response: &mut Response, gzip: bool) {
    let headers = response.headers_mut();
    headers.insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if gzip {
        headers.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
}

/// A whole body, gzip-compressed (for the small bodies of `/probe`).
pub(super) fn gzip(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// Bytes handed to the response body in chunks, waiting when the client lags.
struct ChunkSink {
    buf: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
}

impl io::Write for ChunkSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= METRICS_CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(METRICS_CHUNK));
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, value.parse().expect("header"));
        h
    }

    #[test]
    fn gzip_only_when_the_client_accepts_it() {
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&with("gzip")));
        // What Prometheus sends.
        assert!(accepts_gzip(&with("gzip")));
        assert!(accepts_gzip(&with("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("deflate, br")));
        assert!(!accepts_gzip(&with("gzipx")));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let body = "origin_cdn_ready{origin=\"a\"} 1\n".repeat(1000);
        let packed = gzip(body.as_bytes()).expect("gzip");
        assert!(packed.len() < body.len() / 10, "{} bytes", packed.len());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut out)
            .expect("gunzip");
        assert_eq!(out, body);
    }
}
