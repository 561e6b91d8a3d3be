//! `/probe`: probe one origin now and return only its series (the multi-target pattern).
//! `?origin=NAME` probes a configured origin; `?target=DOMAIN` an ad-hoc one, refused unless
//! `global.allow_adhoc_targets` is on. The result is this request's alone: it never changes
//! `/metrics`, whose snapshots only the scheduler writes. Probes wait for the budget they share
//! with the scheduler (`global.concurrency`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use std::net::SocketAddr;

use super::Current;
use crate::checks::resolve::resolve;
use crate::checks::{timed, Memory};
use crate::config::{AdhocTarget, Check, Origin};
use crate::cycle;
use crate::metrics::{self, Format};

/// Taken off Prometheus's scrape timeout so the answer arrives before it gives up (as blackbox).
const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);
/// How long a request without a scrape timeout waits for the probe budget (the default
/// `timeout`).
const UNBOUNDED_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub(super) struct ProbeParams {
    origin: Option<String>,
    target: Option<String>,
    host_header: Option<String>,
    address: Option<String>,
    https_port: Option<i64>,
    http_port: Option<i64>,
}

pub(super) async fn probe(
    State(state): State<AppState>,
    Query(params): Query<ProbeParams>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let current = state.current.load_full();
    if params.origin.is_some() == params.target.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "give exactly one of origin=NAME or target=DOMAIN",
        );
    }
    let budget = scrape_budget(&headers);
    // Requests beyond the shared budget wait for a slot, but no longer than the probe itself
    // could take: a flood of /probe requests queues instead of opening connections without
    // end. The wait counts against the scrape timeout: what is left of it is the probe's.
    let wait = budget.unwrap_or(UNBOUNDED_WAIT);
    let Ok(Some(permit)) = tokio::time::timeout_at(started + wait, state.budget.acquire()).await
    else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many probes in flight (global.concurrency); try again",
        );
    };
    let left = budget.map(|b| b.saturating_sub(started.elapsed()));
    let origin = match (&params.origin, &params.target) {
        (Some(name), _) => match state.store.get(name) {
            Some(slot) => Arc::clone(&slot.origin),
            None => return error(StatusCode::NOT_FOUND, &format!("unknown origin {name:?}")),
        },
        (None, Some(target)) => match adhoc_origin(&current, target, &params, left).await {
            Ok(origin) => Arc::new(origin),
            Err(response) => return response,
        },
        (None, None) => return error(StatusCode::BAD_REQUEST, "no origin given"),
    };
    let probed = match left {
        Some(left) => origin.within(left),
        None => (*origin).clone(),
    };
    let mut memory = Memory::default();
    let cycle = cycle::start(&probed, &current.ctx, &mut memory);
    // `within` makes the checks fit; this holds the answer to the scrape timeout whatever they do.
    let (snapshot, lingering) = match budget {
        Some(budget) => match tokio::time::timeout_at(started + budget, cycle).await {
            Ok(done) => done,
            Err(_) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the probe did not finish within the scrape timeout",
                )
            }
        },
        None => cycle.await,
    };
    // The keep-alive watch needs no slot of the budget: it waits without one, and what it has
    // not seen by the scrape timeout is not in the answer.
    drop(permit);
    let snapshot = cycle::settle(
        &probed,
        snapshot,
        lingering,
        budget.map(|budget| started + budget),
    )
    .await;
    let snapshot = Arc::new(snapshot);
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let Ok(body) = metrics::encode_snapshot(origin, snapshot, format) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed");
    };
    let gzip = super::scrape::accepts_gzip(&headers);
    let body = match gzip {
        true => match super::scrape::gzip(body.as_bytes()) {
            Ok(packed) => packed,
            Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "compressing failed"),
        },
        false => body.into_bytes(),
    };
    let mut response = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
    super::scrape::mark_encoding(&mut response, gzip);
    response
}

/// An ad-hoc origin, vetted: the domain is allowlisted, and every address it will connect to
/// passes the ad-hoc network policy (the dialer checks each connection against it again).
/// Refusals are 403 with the reason. The name is resolved here, once, within the probe's share
/// of `left` (the scrape timeout's rest): that resolution is the cycle's own, so the cycle never
/// resolves the name again. A lookup that fails, times out or finds no address vets nothing and
/// is the answer: the probe reports `dns_resolution_failed` and connects nowhere.
async fn adhoc_origin(
    current: &Current,
    target: &str,
    params: &ProbeParams,
    left: Option<Duration>,
) -> Result<Origin, Response> {
    let global = &current.config.global;
    if !global.allow_adhoc_targets {
        return Err(error(
            StatusCode::FORBIDDEN,
            "ad-hoc targets are disabled (global.allow_adhoc_targets: false)",
        ));
    }
    let adhoc = AdhocTarget {
        domain: target.to_string(),
        host_header: params.host_header.clone(),
        address: params.address.clone(),
        https_port: params.https_port,
        http_port: params.http_port,
        ..Default::default()
    };
    let mut origin = current.config.adhoc_origin(&adhoc).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        error(StatusCode::BAD_REQUEST, &text.join("; "))
    })?;
    if !global.adhoc.allows_domain(&origin.domain) {
        return Err(error(
            StatusCode::FORBIDDEN,
            &format!("{} is not in global.adhoc_allowed_domains", origin.domain),
        ));
    }
    // A zone's nameservers can be anywhere: ad-hoc probes resolve, but query no nameservers.
    origin.checks.remove(&Check::Dns);
    // The resolution's share of what is left, as the cycle's would be (`Origin::within`).
    let limit = left.map_or(origin.timeout, |left| origin.within(left).timeout);
    let resolution = match origin.address {
        Some(_) => None,
        None => Some(
            timed(
                limit,
                resolve(&origin.domain, origin.ip_address_type, &current.ctx),
            )
            .await,
        ),
    };
    let addresses = match (origin.address, &resolution) {
        (Some(ip), _) => vec![ip],
        (None, resolved) => resolved
            .as_ref()
            .and_then(|r| r.completed())
            .map(|r| r.addresses.clone())
            .unwrap_or_default(),
    };
    let reach = current.ctx.reach(&origin);
    for &ip in &addresses {
        for (_, port) in origin.ports() {
            if let Some(why) = reach.refusal(SocketAddr::new(ip, port)) {
                return Err(error(StatusCode::FORBIDDEN, &why));
            }
        }
    }
    origin.vetted = resolution.map(Arc::new);
    Ok(origin)
}

/// The time left for the probe: Prometheus's scrape timeout less a safety offset.
fn scrape_budget(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let total = Duration::try_from_secs_f64(seconds).ok()?;
    Some(
        total
            .saturating_sub(SCRAPE_TIMEOUT_OFFSET)
            .max(Duration::from_millis(100)),
    )
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_the_scrape_timeout_less_the_offset() {
        let mut h = HeaderMap::new();
        assert_eq!(scrape_budget(&h), None);
        h.insert("x-prometheus-scrape-timeout-seconds", "10".parse().unwrap());
        assert_eq!(scrape_budget(&h), Some(Duration::from_millis(9500)));
        h.insert(
            "x-prometheus-scrape-timeout-seconds",
            "0.2".parse().unwrap(),
        );
        assert_eq!(scrape_budget(&h), Some(Duration::from_millis(100)));
        h.insert(
            "x-prometheus-scrape-timeout-seconds",
            "soon".parse().unwrap(),
        );
        assert_eq!(scrape_budget(&h), None);
    }
}
