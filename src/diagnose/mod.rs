//! From one origin's check results to the causes of SPEC.md that are active now, and whether the
//! CDN could fetch from the origin. Pure: no I/O, tested with tables of results.
//!
//! Causes name the root, not its echoes: a check that did not run because an earlier one failed
//! ([`crate::probe::Outcome::NotRun`]) adds no cause of its own.

mod cause;
mod dns;
mod http;
mod tcp;

use crate::config::{Check, Origin};
use crate::probe::OriginResults;

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

/// The verdict for one origin after one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// Every cause this origin's checks can detect (one `origin_problem` series each).
    pub applicable: Vec<Cause>,
    /// The active ones, with evidence; at most one finding per cause.
    pub findings: Vec<Finding>,
    /// Per enabled check: it ran and found nothing critical.
    pub check_success: Vec<(Check, bool)>,
    /// No critical cause is active: the CDN can fetch from this origin now.
    pub cdn_ready: bool,
}

impl Diagnosis {
    pub fn is_active(&self, cause: Cause) -> bool {
        self.findings.iter().any(|f| f.cause == cause)
    }
}

pub fn diagnose(origin: &Origin, results: &OriginResults) -> Diagnosis {
    let mut findings = Vec::new();
    findings.extend(dns::findings(results));
    findings.extend(tcp::findings(results));
    findings.extend(http::findings(origin, results));
    // One finding per cause, in the order of SPEC.md's table.
    findings.sort_by_key(|f| f.cause as usize);
    findings.dedup_by_key(|f| f.cause);

    let applicable: Vec<Cause> = Cause::ALL
        .into_iter()
        .filter(|c| c.applies_to(origin))
        .collect();
    findings.retain(|f| applicable.contains(&f.cause));

    let check_success = Check::ALL
        .into_iter()
        .filter(|&c| origin.has_check(c))
        .map(|check| {
            let ran = check_ran(check, results);
            let critical = findings
                .iter()
                .any(|f| f.cause.check() == check && f.cause.severity() == Severity::Critical);
            (check, ran && !critical)
        })
        .collect();
    let cdn_ready = !findings
        .iter()
        .any(|f| f.cause.severity() == Severity::Critical);
    Diagnosis {
        applicable,
        findings,
        check_success,
        cdn_ready,
    }
}

/// The check ran to completion (not timed out, not skipped).
fn check_ran(check: Check, results: &OriginResults) -> bool {
    match check {
        // Without a resolution (a pinned address) the DNS check has nothing of its own yet.
        Check::Dns => results
            .resolution
            .as_ref()
            .is_none_or(|r| r.completed().is_some()),
        Check::Tcp => results
            .tcp
            .as_ref()
            .is_some_and(|r| r.completed().is_some()),
        Check::Http => results.http.as_ref().is_some_and(|r| {
            r.completed()
                .is_some_and(|h| matches!(h.outcome, crate::probe::HttpOutcome::Status(_)))
        }),
        Check::Tls => false,
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
}
