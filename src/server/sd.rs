//! `/sd`: Prometheus HTTP service discovery (`http_sd_configs`). One target group per origin
//! (configured and discovered), its target the origin's name for the `/probe?origin=` pattern,
//! its labels the origin's own labels (with `distribution_id` and `origin_id` for discovered
//! origins). Never anything else of the origin: custom header values stay out.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::config::Origin;

#[derive(Debug, Serialize, PartialEq)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The target group of one origin.
pub fn target_group(origin: &Origin) -> TargetGroup {
    TargetGroup {
        targets: vec![origin.name.clone()],
        labels: origin.labels.iter().cloned().collect(),
    }
}

pub(super) async fn sd(State(state): State<AppState>) -> Response {
    let current = state.current.load();
    let groups: Vec<TargetGroup> = current
        .config
        .origins
        .iter()
        .map(|o| target_group(o))
        .collect();
    match serde_json::to_string(&groups) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode targets: {e}\n"),
        )
            .into_response(),
    }
}
