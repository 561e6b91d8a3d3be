//! The HTTP side: `/metrics`, health and readiness, reload, and the landing page.

mod auth;
pub(crate) mod landing;
pub mod listener;
mod probe;
mod scrape;
pub mod sd;

pub use scrape::MAX_SCRAPES;
pub mod web;
pub mod web_config;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use crate::checks::ProbeContext;
use crate::config::Config;
use crate::metrics::ExporterMetrics;
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
    /// The exporter's own metrics; the origins' series are pre-rendered (`prerender`).
    pub registry: Arc<Registry>,
    pub store: Arc<Store>,
    pub own: Arc<ExporterMetrics>,
    pub current: Arc<ArcSwap<Current>>,
    /// Origins probed at once, shared with the scheduler (`global.concurrency`).
    pub budget: Arc<Budget>,
    /// `/metrics` scrapes served at once.
    pub scrapes: Arc<tokio::sync::Semaphore>,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub web: Arc<web::Web>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route("/metrics", get(scrape::metrics))
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

async fn ready(State(state): State<AppState>) -> Response {
    let settled = state.own.discovery.settled();
    if state.store.ready(settled) {
        (StatusCode::OK, "Ready\n").into_response()
    } else if !settled {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: the first discovery refresh has not ended\n",
        )
            .into_response()
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
