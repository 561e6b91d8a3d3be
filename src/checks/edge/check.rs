//! The edge check as the registry sees it.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{findings, series, EdgeOutcome};
use crate::checks::{
    timed, Check, CheckModule, CheckTypes, ContextError, Earlier, Memory, OriginResults, Outcome,
    ProbeContext, Ran, Report, ThisCycle,
};
use crate::config::Origin;
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

/// What the CDN itself answers for `edge.url`.
pub struct EdgeCheck;

impl CheckTypes for EdgeCheck {
    const ID: Check = super::ID;
    type Report = super::EdgeReport;
    type Memory = ();
    type Handover = ();
    type Context = ();

    fn context(_shared: &ProbeContext) -> Result<(), ContextError> {
        Ok(())
    }
}

/// Lets the request, itself bounded by the timeout, report instead of being cut off.
const MARGIN: Duration = Duration::from_millis(100);

impl CheckModule for EdgeCheck {
    fn name(&self) -> &'static str {
        "edge"
    }

    fn causes(&self) -> &'static [Cause] {
        &[
            Cause::EdgeLambdaError,
            Cause::EdgeFunctionError,
            Cause::EdgeUnexplainedError,
        ]
    }

    fn enabled(&self, origin: &Origin) -> bool {
        origin.checks.contains(&Check::Edge) && origin.edge.is_some()
    }

    /// The CDN's answer does not depend on what the exporter found.
    fn beside_resolution(&self) -> bool {
        true
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        _earlier: Earlier<'a>,
        _memory: &'a mut Memory,
        _cycle: &'a mut ThisCycle,
    ) -> BoxFuture<'a, Report> {
        async move {
            let Some(edge) = origin.edge.as_ref() else {
                return Report::of::<EdgeCheck>(crate::checks::CheckRun::not_run(
                    crate::checks::NotRun::NoAddress,
                ));
            };
            let limit = origin.timeout.saturating_add(MARGIN);
            Report::of::<EdgeCheck>(timed(limit, super::probe(origin, edge, ctx)).await)
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        Some(results.get::<EdgeCheck>()?.ran(|r| match r.outcome {
            EdgeOutcome::Answered(_) => Ran::Completed,
            EdgeOutcome::Unreachable(_) => Ran::Incomplete,
            EdgeOutcome::HeadersTimedOut => Ran::TimedOut,
        }))
    }

    fn as_expected(&self, origin: &Origin, results: &OriginResults) -> bool {
        let spec = origin.edge.as_ref();
        match results.get::<EdgeCheck>().and_then(|r| r.completed()) {
            Some(r) => match &r.outcome {
                EdgeOutcome::Answered(a) => spec.is_none_or(|s| s.accepts(a.status)),
                _ => false,
            },
            None => false,
        }
    }

    fn duration(&self, results: &OriginResults) -> Option<Duration> {
        results.get::<EdgeCheck>().map(|r| r.duration)
    }

    fn findings(&self, origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        findings::findings(origin, results)
    }

    fn reconcile(&self, results: &OriginResults, findings: &mut Vec<Finding>) {
        findings::reconcile(results, findings);
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String> {
        let (Some(run), Some(edge)) = (results.get::<EdgeCheck>(), &origin.edge) else {
            return Vec::new();
        };
        let line = match &run.outcome {
            Outcome::Completed(r) => {
                let via = r.address.map(|a| format!(" via {a}")).unwrap_or_default();
                match &r.outcome {
                    EdgeOutcome::Answered(a) => format!(
                        "edge: GET {}{via} answered {} in {:.0} ms; X-Cache: {}; X-Amz-Cf-Pop: {}; X-Amz-Cf-Id: {}",
                        edge.url,
                        a.status,
                        r.duration.as_secs_f64() * 1000.0,
                        a.x_cache.as_deref().unwrap_or("(none)"),
                        a.pop.as_deref().unwrap_or("(none)"),
                        a.request_id.as_deref().unwrap_or("(none)"),
                    ),
                    EdgeOutcome::Unreachable(why) => {
                        format!("edge: GET {}{via}: the CDN could not be asked: {why}", edge.url)
                    }
                    EdgeOutcome::HeadersTimedOut => format!(
                        "edge: GET {}{via}: no response headers within {:.1}s",
                        edge.url,
                        origin.timeout.as_secs_f64()
                    ),
                }
            }
            Outcome::TimedOut => format!("edge: GET {}: no answer in time", edge.url),
            Outcome::NotRun(_) => format!("edge: GET {}: not run", edge.url),
        };
        vec![line]
    }

    fn confirm(&self, _cause: Cause, origin: &Origin, _results: &OriginResults) -> String {
        let Some(edge) = &origin.edge else {
            return String::new();
        };
        let pin = edge
            .address
            .map(|ip| {
                let ip = match ip {
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    v4 => v4.to_string(),
                };
                format!(
                    " --connect-to {}:{}:{ip}:{}",
                    edge.host, edge.port, edge.port
                )
            })
            .unwrap_or_default();
        format!(
            "curl -sv -o /dev/null{pin} {} 2>&1 | grep -i -e '^< HTTP' -e '^< x-cache' -e '^< x-amz-cf'",
            edge.url
        )
    }
}
