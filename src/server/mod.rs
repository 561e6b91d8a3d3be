//! The HTTP side: `/metrics`, health and readiness, reload, and the landing page.

mod landing;
mod probe;
pub mod sd;
pub mod web;
pub mod web_config;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use crate::checks::ProbeContext;
use crate::config::Config;
use crate::metrics::{self, ExporterMetrics, Format};
use crate::scheduler::Budget;
use crate::store::Store;

/// A request to reload the config, answered with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// The config in force and the probe context built for it.
#[derive(Debug)]
pub struct Current {
    pub config: Arc<Config>,
    pub ctx: Arc<ProbeContext>,
}

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub store: Arc<Store>,
    pub own: Arc<ExporterMetrics>,
    pub current: Arc<ArcSwap<Current>>,
    /// Origins probed at once, shared with the scheduler (`global.concurrency`).
    pub budget: Arc<Budget>,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub web: Arc<web::Web>,
    /// Where the exporter listens: ad-hoc probes may not target it.
    pub listen: std::net::SocketAddr,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route("/metrics", get(serve_metrics))
        .route("/probe", get(probe::probe))
        .route("/sd", get(sd::sd))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.web),
            web::guard,
        ))
        .with_state(state)
}

/// Bytes of exposition sent per chunk: the scrape never holds the whole body (tens of MB for
/// ten thousand origins) in memory.
const METRICS_CHUNK: usize = 64 * 1024;
/// Chunks encoded ahead of a slow client.
const METRICS_CHUNKS_AHEAD: usize = 4;

async fn serve_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let (tx, rx) = mpsc::channel::<Bytes>(METRICS_CHUNKS_AHEAD);
    // Encoding thousands of origins is CPU work: keep it off the async workers.
    let registry = Arc::clone(&state.registry);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            buf: String::with_capacity(METRICS_CHUNK),
            tx,
        };
        // Fails only when the client went away: then there is no one to tell.
        if metrics::encode_to(&mut writer, &registry, format).is_ok() {
            writer.flush();
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    (
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response()
}

/// A `fmt::Write` that hands full chunks to the response body, waiting when the client lags.
struct ChunkWriter {
    buf: String,
    tx: mpsc::Sender<Bytes>,
}

impl ChunkWriter {
    fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(METRICS_CHUNK));
        self.tx.blocking_send(Bytes::from(chunk)).is_ok()
    }
}

impl std::fmt::Write for ChunkWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= METRICS_CHUNK && !self.flush() {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.store.ready() {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: the first probe cycle has not finished\n",
        )
            .into_response()
    }
}

async fn reload(State(state): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if state.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(())) => (StatusCode::OK, "config reloaded\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

/// Minimal HTML escaping for text from configs and origins.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
