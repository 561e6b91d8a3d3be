//! Edge causes, and the echo rule: a CDN-generated 5xx that an active origin-side critical cause
//! explains is that cause's confirmation, not a cause of its own. Lambda@Edge and CloudFront
//! Functions errors are never an origin's echo: the origin side cannot cause them.

use super::{EdgeAnswer, EdgeOutcome, EdgeResult};
use crate::checks::{Check, OriginResults};
use crate::config::Origin;
use crate::diagnose::{Cause, Finding, Severity};

/// The edge's answer as it would be quoted to the CDN's support.
fn quote(a: &EdgeAnswer) -> String {
    let mut parts = vec![format!("status {}", a.status)];
    for (name, value) in [
        ("X-Cache", &a.x_cache),
        ("X-Amz-Cf-Pop", &a.pop),
        ("X-Amz-Cf-Id", &a.request_id),
    ] {
        if let Some(v) = value {
            parts.push(format!("{name}: {v}"));
        }
    }
    parts.join(", ")
}

fn answer(results: &OriginResults) -> Option<&EdgeAnswer> {
    match &results.get::<super::EdgeCheck>()?.completed()?.outcome {
        EdgeOutcome::Answered(a) => Some(a),
        _ => None,
    }
}

pub(super) fn findings(origin: &Origin, results: &OriginResults) -> Vec<Finding> {
    let Some(a) = answer(results) else {
        return Vec::new();
    };
    let url = origin.edge.as_ref().map_or("", |e| e.url.as_str());
    if a.result.is_lambda_error() {
        vec![Finding::new(
            Cause::EdgeLambdaError,
            format!(
                "the CDN answers {url} with a Lambda@Edge error ({})",
                quote(a)
            ),
        )]
    } else if a.result.is_function_error() {
        vec![Finding::new(
            Cause::EdgeFunctionError,
            format!(
                "the CDN answers {url} with a CloudFront Functions error ({})",
                quote(a)
            ),
        )]
    } else if a.result == EdgeResult::Error && a.status >= 500 {
        vec![Finding::new(
            Cause::EdgeUnexplainedError,
            format!(
                "the CDN itself answers {url} with an error while the exporter reaches the origin ({})",
                quote(a)
            ),
        )]
    } else {
        Vec::new()
    }
}

/// Applies the echo rule to the origin's findings (every check's, one per cause).
pub(super) fn reconcile(results: &OriginResults, findings: &mut Vec<Finding>) {
    let Some(a) = answer(results) else {
        return;
    };
    if a.result != EdgeResult::Error || a.status < 500 {
        return;
    }
    let origin_side_critical =
        |f: &Finding| f.cause.severity() == Severity::Critical && f.cause.check() != Check::Edge;
    if !findings.iter().any(origin_side_critical) {
        return;
    }
    findings.retain(|f| f.cause != Cause::EdgeUnexplainedError);
    let confirmed = format!(
        "; the CDN answers {} for this origin: confirmed ({})",
        a.status,
        quote(a)
    );
    for f in findings.iter_mut().filter(|f| origin_side_critical(f)) {
        f.detail.push_str(&confirmed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{EdgeAnswer, EdgeCheck, EdgeOutcome, EdgeReport, EdgeResult};
    use crate::checks::tcp::TcpCheck;
    use crate::checks::{
        Check, CheckRun, OriginResults, Outcome, PortResult, PortState, TcpReport,
    };
    use crate::config::Scheme;
    use crate::diagnose::diagnose;
    use crate::diagnose::test_support::origin_with_edge;

    fn edge(status: u16, result: EdgeResult) -> CheckRun<EdgeReport> {
        CheckRun {
            duration: Duration::from_millis(30),
            outcome: Outcome::Completed(EdgeReport {
                address: Some("192.0.2.50:443".parse().expect("address")),
                outcome: EdgeOutcome::Answered(EdgeAnswer {
                    status,
                    result,
                    x_cache: Some(format!("{} from cloudfront", result.name())),
                    request_id: Some("abc==".into()),
                    pop: Some("FRA56-P1".into()),
                }),
                duration: Duration::from_millis(30),
            }),
        }
    }

    fn tcp(open: bool) -> CheckRun<TcpReport> {
        CheckRun {
            duration: Duration::from_millis(1),
            outcome: Outcome::Completed(TcpReport {
                ports: vec![PortResult {
                    address: "192.0.2.1".parse().expect("ip"),
                    port: 443,
                    scheme: Scheme::Https,
                    state: if open {
                        PortState::Open
                    } else {
                        PortState::Refused
                    },
                    attempts: 1,
                    duration: Duration::from_millis(1),
                }],
            }),
        }
    }

    /// (name, port open, edge answer, active causes, CDN ready, edge check success)
    type Case = (
        &'static str,
        bool,
        CheckRun<EdgeReport>,
        &'static [&'static str],
        bool,
        bool,
    );

    #[test]
    fn edge_causes_and_the_echo_rule() {
        use EdgeResult::*;
        let cases: [Case; 10] = [
            ("hit", true, edge(200, Hit), &[], true, true),
            ("miss 404 expected", true, edge(404, Miss), &[], true, true),
            (
                "lambda validation",
                true,
                edge(502, LambdaValidationError),
                &["edge_lambda_error"],
                false,
                false,
            ),
            (
                "lambda throttled",
                true,
                edge(503, LambdaLimitExceeded),
                &["edge_lambda_error"],
                false,
                false,
            ),
            (
                "function error",
                true,
                edge(503, FunctionExecutionError),
                &["edge_function_error"],
                false,
                false,
            ),
            (
                "unexplained 502",
                true,
                edge(502, Error),
                &["edge_unexplained_error"],
                false,
                false,
            ),
            // The origin's port is closed: the CDN's 502 is that cause's echo.
            (
                "explained 502",
                false,
                edge(502, Error),
                &["port_unreachable"],
                false,
                false,
            ),
            // A Lambda error is never an origin's echo.
            (
                "lambda and closed port",
                false,
                edge(502, LambdaValidationError),
                &["port_unreachable", "edge_lambda_error"],
                false,
                false,
            ),
            // A CDN-generated 4xx (geo block, WAF) is no 502 cause.
            ("error 403", true, edge(403, Error), &[], true, true),
            (
                "edge unexpected 500 miss",
                true,
                edge(500, Miss),
                &[],
                true,
                false,
            ),
        ];
        let o = origin_with_edge(&[Check::Tcp, Check::Edge]);
        for (name, open, edge_run, causes, ready, edge_ok) in cases {
            let results = OriginResults::default()
                .with::<TcpCheck>(tcp(open))
                .with::<EdgeCheck>(edge_run);
            let d = diagnose(&o, &results);
            let active: Vec<_> = d.findings.iter().map(|f| f.cause.name()).collect();
            assert_eq!(active, causes, "{name}");
            assert_eq!(d.cdn_ready, ready, "{name}");
            let edge_status = d
                .checks
                .iter()
                .find(|c| c.check == Check::Edge)
                .expect("edge");
            assert_eq!(edge_status.success, edge_ok, "{name}");
        }
    }

    #[test]
    fn an_explained_edge_error_confirms_the_origin_side_cause() {
        let o = origin_with_edge(&[Check::Tcp, Check::Edge]);
        let results = OriginResults::default()
            .with::<TcpCheck>(tcp(false))
            .with::<EdgeCheck>(edge(502, EdgeResult::Error));
        let d = diagnose(&o, &results);
        assert_eq!(d.findings.len(), 1);
        let detail = &d.findings[0].detail;
        assert!(
            detail.ends_with("; the CDN answers 502 for this origin: confirmed (status 502, X-Cache: error from cloudfront, X-Amz-Cf-Pop: FRA56-P1, X-Amz-Cf-Id: abc==)"),
            "{detail}"
        );
    }

    #[test]
    fn the_edge_failing_itself_is_no_origin_cause() {
        let o = origin_with_edge(&[Check::Tcp, Check::Edge]);
        for outcome in [
            Outcome::Completed(EdgeReport {
                address: None,
                outcome: EdgeOutcome::Unreachable("edge.example does not resolve".into()),
                duration: Duration::from_millis(5),
            }),
            Outcome::Completed(EdgeReport {
                address: Some("192.0.2.50:443".parse().expect("address")),
                outcome: EdgeOutcome::HeadersTimedOut,
                duration: Duration::from_secs(10),
            }),
            Outcome::TimedOut,
        ] {
            let results = OriginResults::default()
                .with::<TcpCheck>(tcp(true))
                .with::<EdgeCheck>(CheckRun {
                    duration: Duration::from_secs(1),
                    outcome,
                });
            let d = diagnose(&o, &results);
            assert!(d.findings.is_empty(), "{:?}", d.findings);
            assert!(d.cdn_ready);
            let edge_status = d
                .checks
                .iter()
                .find(|c| c.check == Check::Edge)
                .expect("edge");
            assert!(!edge_status.success);
        }
    }

    /// The echo rule at its edges: a 500 is a CDN error like a 502; only a critical cause of
    /// another check explains it, never a warning, never the edge check's own cause.
    #[test]
    fn the_echo_rule_needs_a_5xx_error_and_an_origin_side_critical_cause() {
        use crate::diagnose::{Cause, Finding};
        let reconciled = |status: u16, result: EdgeResult, causes: &[Cause]| {
            let results = OriginResults::default().with::<EdgeCheck>(edge(status, result));
            let mut findings: Vec<Finding> = causes
                .iter()
                .map(|c| Finding::new(*c, "evidence"))
                .collect();
            super::reconcile(&results, &mut findings);
            findings
                .into_iter()
                .map(|f| (f.cause, f.detail.ends_with(")")))
                .collect::<Vec<_>>()
        };
        use Cause::*;
        // A 500 from the CDN with the port closed: the port is the cause, confirmed.
        assert_eq!(
            reconciled(
                500,
                EdgeResult::Error,
                &[PortUnreachable, EdgeUnexplainedError]
            ),
            [(PortUnreachable, true)]
        );
        // A 499 is no CDN 5xx: nothing is confirmed or dropped.
        assert_eq!(
            reconciled(499, EdgeResult::Error, &[PortUnreachable]),
            [(PortUnreachable, false)]
        );
        // A miss with a 502 is the origin's own answer, not the CDN's error.
        assert_eq!(
            reconciled(
                502,
                EdgeResult::Miss,
                &[PortUnreachable, EdgeUnexplainedError]
            ),
            [(PortUnreachable, false), (EdgeUnexplainedError, false)]
        );
        // A warning explains no 502.
        assert_eq!(
            reconciled(
                502,
                EdgeResult::Error,
                &[CertExpiringSoon, EdgeUnexplainedError]
            ),
            [(CertExpiringSoon, false), (EdgeUnexplainedError, false)]
        );
        // The edge's own critical cause is not an origin-side one.
        assert_eq!(
            reconciled(502, EdgeResult::Error, &[EdgeLambdaError]),
            [(EdgeLambdaError, false)]
        );
        // Only the origin-side critical causes are confirmed, and every one of them.
        assert_eq!(
            reconciled(
                503,
                EdgeResult::Error,
                &[
                    PortUnreachable,
                    CertExpired,
                    CertExpiringSoon,
                    EdgeUnexplainedError
                ]
            ),
            [
                (PortUnreachable, true),
                (CertExpired, true),
                (CertExpiringSoon, false)
            ]
        );
    }

    #[test]
    fn a_500_error_from_the_cdn_is_unexplained_a_499_is_not() {
        let o = origin_with_edge(&[Check::Tcp, Check::Edge]);
        let active = |status| {
            let results = OriginResults::default()
                .with::<TcpCheck>(tcp(true))
                .with::<EdgeCheck>(edge(status, EdgeResult::Error));
            diagnose(&o, &results)
                .findings
                .iter()
                .map(|f| f.cause.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(active(500), ["edge_unexplained_error"]);
        assert_eq!(active(499), Vec::<&str>::new());
    }
}
