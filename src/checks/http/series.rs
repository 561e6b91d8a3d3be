//! The HTTP check's series: the status and time to headers of the CDN's request, the time to the
//! last byte, and how long the origin keeps an idle connection.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use crate::exposition::{detail_family, family, Observed};

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    use crate::checks::{HttpOutcome, HttpReport};
    fn answered<'a>(s: &Observed<'a>) -> Option<(&'a HttpReport, u16)> {
        let report = s.results.get::<super::HttpCheck>()?.completed()?;
        match report.outcome {
            HttpOutcome::Status(code) => Some((report, code)),
            _ => None,
        }
    }
    family(
        enc,
        "origin_http_status_code",
        "Status of the request the CDN would send.",
        rows,
        |o, s, e| match answered(s) {
            Some((_, code)) => e.gauge(o, &[], i64::from(code)),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_http_duration_seconds",
        "Time from sending the request to the response headers.",
        rows,
        |o, s, e| match answered(s) {
            Some((r, _)) => e.gauge(o, &[], r.duration.as_secs_f64()),
            None => Ok(()),
        },
    )?;
    detail_family(
        enc,
        "origin_http_response_complete_seconds",
        "Time from the request to the last byte of the response (with response_completion_timeout set).",
        rows,
        |o, s, e| {
            let after = answered(s)
                .filter(|_| o.response_completion_timeout().is_some())
                .and_then(|(r, _)| r.body.complete_after());
            match after {
                Some(after) => e.gauge(o, &[], after.as_secs_f64()),
                None => Ok(()),
            }
        },
    )?;
    detail_family(
        enc,
        "origin_http_keepalive_idle_seconds",
        "How long the origin kept the connection open, idle, after its response (watched up to keepalive_timeout plus 1 s; the shortest of the origin's addresses).",
        rows,
        |o, s, e| {
            let keepalive = o.keepalive_timeout();
            let idle = s
                .results
                .get::<super::HttpCheck>()
                .and_then(|r| r.completed())
                .into_iter()
                .flat_map(HttpReport::all)
                .filter_map(|r| r.keepalive.observation())
                .filter(|seen| seen.conclusive(keepalive))
                .map(|seen| seen.idle)
                .min();
            match idle {
                Some(idle) => e.gauge(o, &[], idle.as_secs_f64()),
                None => Ok(()),
            }
        },
    )?;
    detail_family(
        enc,
        "origin_cdn_keepalive_timeout_seconds",
        "How long the CDN keeps an idle connection to the origin for its next request (keepalive_timeout): what origin_http_keepalive_idle_seconds is held against.",
        rows,
        |o, s, e| match answered(s) {
            Some(_) => e.gauge(o, &[], o.keepalive_timeout().as_secs_f64()),
            None => Ok(()),
        },
    )
}
