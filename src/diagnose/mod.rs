//! From one origin's check results to the causes that are active now, and whether the CDN could
//! fetch from the origin. Pure: no I/O, no presentation; tested with tables of results.
//!
//! Each check's module turns its own report into findings; this module puts them together: one
//! finding per cause, only causes the origin's checks can detect, the verdict per check and for
//! the origin. Causes name the root, not its echoes: a check that did not run because an earlier
//! one failed ([`crate::checks::Outcome::NotRun`]) adds no cause of its own.

mod cause;

use crate::checks::{Check, OriginResults, Ran, REGISTRY};
use crate::config::Origin;

pub use cause::{Cause, Severity};

/// One active cause and the evidence for it, in words a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub cause: Cause,
    pub detail: String,
}

impl Finding {
    pub fn new(cause: Cause, detail: impl Into<String>) -> Self {
        Finding {
            cause,
            detail: detail.into(),
        }
    }
}

/// How one enabled check fared in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStatus {
    pub check: Check,
    /// How its run ended; `None` when it left nothing in the results.
    pub ran: Option<Ran>,
    /// It ran to the end and found nothing critical (`origin_probe_success`).
    pub success: bool,
}

impl CheckStatus {
    /// The `result` label of `origin_exporter_probes_total`; `None` when there is nothing to
    /// count.
    pub fn result(&self) -> Option<&'static str> {
        self.ran.map(|ran| ran.result(!self.success))
    }
}

/// The verdict for one origin after one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// Every cause this origin's checks can detect (one `origin_problem` series each).
    pub applicable: Vec<Cause>,
    /// The active ones, with evidence; at most one finding per cause.
    pub findings: Vec<Finding>,
    /// Per enabled check, in run order.
    pub checks: Vec<CheckStatus>,
    /// No critical cause is active: the CDN can fetch from this origin now.
    pub cdn_ready: bool,
}

impl Diagnosis {
    pub fn is_active(&self, cause: Cause) -> bool {
        self.findings.iter().any(|f| f.cause == cause)
    }
}

pub fn diagnose(origin: &Origin, results: &OriginResults) -> Diagnosis {
    // Every module, not only the enabled ones: resolution is reported by the DNS module but
    // runs for every origin that resolves its domain (`applicable` filters what cannot apply).
    let mut findings: Vec<Finding> = REGISTRY
        .iter()
        .flat_map(|m| m.findings(origin, results))
        .collect();
    // One finding per cause, in the order of the cause table.
    findings.sort_by_key(|f| f.cause as usize);
    findings.dedup_by_key(|f| f.cause);

    let applicable: Vec<Cause> = Cause::ALL
        .into_iter()
        .filter(|c| c.applies_to(origin))
        .collect();
    findings.retain(|f| applicable.contains(&f.cause));
    for m in REGISTRY.iter().filter(|m| m.enabled(origin)) {
        m.reconcile(results, &mut findings);
    }

    let checks = REGISTRY
        .iter()
        .filter(|m| m.enabled(origin))
        .map(|m| {
            let ran = m.ran(results);
            let critical = findings
                .iter()
                .any(|f| f.cause.check() == m.id() && f.cause.severity() == Severity::Critical);
            CheckStatus {
                check: m.id(),
                ran,
                success: ran == Some(Ran::Completed) && !critical && m.as_expected(origin, results),
            }
        })
        .collect();
    let cdn_ready = !findings
        .iter()
        .any(|f| f.cause.severity() == Severity::Critical);
    Diagnosis {
        applicable,
        findings,
        checks,
        cdn_ready,
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use crate::config::{self, Check, Origin};

    /// An origin with the given checks and defaults for everything else.
    pub fn origin(checks: &[Check]) -> Arc<Origin> {
        let yaml = "origins: [{name: shop, domain: origin.shop.example.com}]";
        let cfg = config::load_str(yaml, std::path::Path::new("test.yaml")).expect("valid");
        let mut o = (*cfg.origins[0]).clone();
        o.checks = checks.iter().copied().collect::<BTreeSet<_>>();
        Arc::new(o)
    }

    /// An origin with the given checks and an edge URL.
    pub fn origin_with_edge(checks: &[Check]) -> Arc<Origin> {
        let yaml = "origins: [{name: shop, domain: origin.shop.example.com, edge: {url: 'https://d111111abcdef8.cloudfront.net/healthz'}}]";
        let cfg = config::load_str(yaml, std::path::Path::new("test.yaml")).expect("valid");
        let mut o = (*cfg.origins[0]).clone();
        o.checks = checks.iter().copied().collect::<BTreeSet<_>>();
        Arc::new(o)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::{CheckRun, NotRun, Outcome, Resolution, TcpReport};
    use test_support::origin;

    fn resolution(ok: bool) -> Option<CheckRun<Resolution>> {
        Some(CheckRun {
            duration: Duration::from_millis(2),
            outcome: Outcome::Completed(Resolution {
                addresses: if ok {
                    vec!["192.0.2.1".parse().expect("ip")]
                } else {
                    Vec::new()
                },
                error: (!ok).then(|| "NXDOMAIN".to_string()),
            }),
        })
    }

    /// The verdict per check: success only for a check that ran to the end without a critical
    /// cause; a check that could not run is counted as not run, never as a timeout or success.
    #[test]
    fn check_statuses_follow_how_each_check_ended() {
        let o = origin(&[Check::Dns, Check::Tcp]);
        let unresolved = OriginResults {
            resolution: resolution(false),
            tcp: Some(CheckRun::not_run(NotRun::NoAddress)),
            ..OriginResults::default()
        };
        let d = diagnose(&o, &unresolved);
        assert_eq!(
            d.checks,
            vec![
                CheckStatus {
                    check: Check::Dns,
                    ran: Some(Ran::Completed),
                    success: false
                },
                CheckStatus {
                    check: Check::Tcp,
                    ran: Some(Ran::NotRun),
                    success: false
                },
            ]
        );
        assert_eq!(d.checks[0].result(), Some("failure"));
        assert_eq!(d.checks[1].result(), Some("not_run"));
        assert!(!d.cdn_ready);
        assert!(d.is_active(Cause::DnsResolutionFailed));
        assert!(!d.is_active(Cause::PortUnreachable));

        let open = OriginResults {
            resolution: resolution(true),
            tcp: Some(CheckRun {
                duration: Duration::from_millis(1),
                outcome: Outcome::Completed(TcpReport { ports: Vec::new() }),
            }),
            ..OriginResults::default()
        };
        let d = diagnose(&o, &open);
        assert!(d.cdn_ready);
        assert!(d.findings.is_empty());
        assert!(d.checks.iter().all(|c| c.success));
        assert_eq!(d.checks[1].result(), Some("success"));

        let timed_out = OriginResults {
            resolution: resolution(true),
            tcp: Some(CheckRun {
                duration: Duration::from_secs(1),
                outcome: Outcome::TimedOut,
            }),
            ..OriginResults::default()
        };
        let d = diagnose(&o, &timed_out);
        assert_eq!(d.checks[1].ran, Some(Ran::TimedOut));
        assert_eq!(d.checks[1].result(), Some("timeout"));
        assert!(d.is_active(Cause::PortUnreachable));
        assert!(!d.is_active(Cause::DnsResolutionFailed));
    }

    /// `is_active` is exactly "a finding names the cause".
    #[test]
    fn is_active_means_a_finding_names_the_cause() {
        let d = Diagnosis {
            applicable: vec![Cause::PortUnreachable, Cause::CertExpired],
            findings: vec![Finding::new(Cause::CertExpired, "x")],
            checks: Vec::new(),
            cdn_ready: false,
        };
        assert!(d.is_active(Cause::CertExpired));
        assert!(!d.is_active(Cause::PortUnreachable));
        assert!(!d.is_active(Cause::HttpTimeout));
    }
}
