//! DNS causes.

use super::{Cause, Finding};
use crate::probe::{OriginResults, Outcome};

pub(super) fn findings(results: &OriginResults) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(run) = &results.resolution {
        match &run.outcome {
            Outcome::Completed(r) if !r.succeeded() => out.push(Finding::new(
                Cause::DnsResolutionFailed,
                r.error.clone().unwrap_or_else(|| "no address".into()),
            )),
            Outcome::TimedOut => out.push(Finding::new(
                Cause::DnsResolutionFailed,
                format!("no answer within {:.1}s", run.duration.as_secs_f64()),
            )),
            _ => {}
        }
    }
    out
}
