//! The edge check's series: whether the CDN answered, its status, time to headers and what its
//! `X-Cache` says it did. The request id and location are evidence, never labels.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{EdgeAnswer, EdgeOutcome, EdgeReport};
use crate::exposition::{family, Observed};

fn report<'a>(s: &Observed<'a>) -> Option<&'a EdgeReport> {
    s.results.get::<super::EdgeCheck>()?.completed()
}

fn answer<'a>(s: &Observed<'a>) -> Option<&'a EdgeAnswer> {
    match &report(s)?.outcome {
        EdgeOutcome::Answered(a) => Some(a),
        _ => None,
    }
}

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    family(
        enc,
        "origin_edge_up",
        "1 when the CDN answered the edge URL with an HTTP response within the timeout; 0 when the edge check itself failed (not an origin cause).",
        rows,
        |o, s, e| match s.results.get::<super::EdgeCheck>() {
            Some(_) => e.gauge(o, &[], i64::from(answer(s).is_some())),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_edge_status_code",
        "Status the CDN answered for the edge URL.",
        rows,
        |o, s, e| match answer(s) {
            Some(a) => e.gauge(o, &[], i64::from(a.status)),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_edge_duration_seconds",
        "Time to the edge's response headers.",
        rows,
        |o, s, e| match (answer(s), report(s)) {
            (Some(_), Some(r)) => e.gauge(o, &[], r.duration.as_secs_f64()),
            _ => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_edge_result_info",
        "What the CDN said it did, from its X-Cache header; value 1.",
        rows,
        |o, s, e| match answer(s) {
            Some(a) => e.gauge(o, &[("result", a.result.name())], 1),
            None => Ok(()),
        },
    )
}
