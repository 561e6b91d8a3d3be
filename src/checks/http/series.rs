//! The HTTP check's series: the status and time to headers of the CDN's request.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use crate::exposition::{family, Observed};

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    use crate::checks::{HttpOutcome, HttpReport};
    fn answered<'a>(s: &Observed<'a>) -> Option<(&'a HttpReport, u16)> {
        let report = s.results.http.as_ref()?.completed()?;
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
    )
}
