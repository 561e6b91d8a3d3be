//! From one origin's check results to the causes that are active now, and whether the CDN could
//! fetch from the origin. Pure: no I/O, no presentation; tested with tables of results.
//!
//! Each check's module turns its own report into findings; this module puts them together: one
//! finding per cause, only causes the origin's checks can detect, the verdict per check and for
//! the origin. Causes name the root, not its echoes: a check that did not run because an earlier
//! one failed ([`crate::checks::Outcome::NotRun`]) adds no cause of its own.

mod cause;

use std::net::IpAddr;

use crate::checks::{Check, OriginResults, Ran, REGISTRY};
use crate::config::Origin;

pub use cause::{Cause, Severity};

/// One active cause and the evidence for it, in words a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub cause: Cause,
    pub detail: String,
    /// The origin's addresses the cause is active on; empty when it is not tied to addresses
    /// (a DNS cause) or concerns every address (a check that timed out as a whole).
    pub addresses: Vec<IpAddr>,
}

impl Finding {
    pub fn new(cause: Cause, detail: impl Into<String>) -> Self {
        Finding {
            cause,
            detail: detail.into(),
            addresses: Vec::new(),
        }
    }

    /// The finding, active on `addresses` only.
    pub fn on(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.addresses = addresses.into_iter().collect();
        self
    }

    /// Whether the cause is active on `address`: it names that address, or names none and the
    /// check that found it connects to every address.
    pub fn concerns(&self, address: IpAddr) -> bool {
        if self.addresses.is_empty() {
            self.cause.owner().per_address()
        } else {
            self.addresses.contains(&address)
        }
    }
}

/// One finding per cause from the findings of each probed address (in probe order): a cause is
/// active when it is active on any address. The detail is the first address's; when the cause
/// is active on some addresses only, it says on which of how many.
pub fn merge_addresses(per_address: Vec<(IpAddr, Vec<Finding>)>) -> Vec<Finding> {
    let probed = per_address.len();
    let mut merged: Vec<Finding> = Vec::new();
    for (address, findings) in per_address {
        for finding in findings {
            match merged.iter_mut().find(|m| m.cause == finding.cause) {
                Some(m) => m.addresses.push(address),
                None => merged.push(Finding {
                    addresses: vec![address],
                    ..finding
                }),
            }
        }
    }
    if probed > 1 {
        for m in &mut merged {
            if m.addresses.len() < probed {
                let on: Vec<String> = m.addresses.iter().map(IpAddr::to_string).collect();
                m.detail = format!(
                    "{} (on {} of {probed} addresses: {})",
                    m.detail,
                    on.len(),
                    on.join(", ")
                );
            }
        }
    }
    merged
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
    /// Each address the checks probed, and whether no critical cause is active on it
    /// (`origin_address_ready`).
    pub addresses: Vec<(IpAddr, bool)>,
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
    let critical = || {
        findings
            .iter()
            .filter(|f| f.cause.severity() == Severity::Critical)
    };
    let cdn_ready = critical().next().is_none();
    let addresses = probed_addresses(origin, results)
        .into_iter()
        .map(|a| (a, !critical().any(|f| f.concerns(a))))
        .collect();
    Diagnosis {
        applicable,
        findings,
        checks,
        cdn_ready,
        addresses,
    }
}

/// The addresses the TLS and HTTP checks probe (every address the CDN may use, within
/// [`crate::checks::MAX_PROBED_ADDRESSES`]); none when no check connects to the origin.
fn probed_addresses(origin: &Origin, results: &OriginResults) -> Vec<IpAddr> {
    if !REGISTRY
        .iter()
        .any(|m| m.per_address() && m.enabled(origin))
    {
        return Vec::new();
    }
    crate::checks::probed_addresses(origin, results)
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

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// A cause active on any address is active once, naming exactly those addresses; the detail
    /// says on which of how many only when not on all of them.
    #[test]
    fn findings_of_each_address_merge_into_one_per_cause() {
        let (a, b, c) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("2001:db8::3"));
        let expired = || Finding::new(Cause::CertExpired, "expired");
        let merged = merge_addresses(vec![
            (a, vec![expired()]),
            (b, vec![Finding::new(Cause::HttpTimeout, "slow"), expired()]),
            (c, vec![]),
        ]);
        assert_eq!(
            merged,
            vec![
                Finding {
                    cause: Cause::CertExpired,
                    detail: "expired (on 2 of 3 addresses: 192.0.2.1, 192.0.2.2)".into(),
                    addresses: vec![a, b],
                },
                Finding {
                    cause: Cause::HttpTimeout,
                    detail: "slow (on 1 of 3 addresses: 192.0.2.2)".into(),
                    addresses: vec![b],
                },
            ]
        );
        // On every address: the detail stays as the first address said it.
        let all = merge_addresses(vec![(a, vec![expired()]), (b, vec![expired()])]);
        assert_eq!(all[0].detail, "expired");
        assert_eq!(all[0].addresses, vec![a, b]);
        // One address: nothing to add.
        let one = merge_addresses(vec![(a, vec![expired()])]);
        assert_eq!(one[0].detail, "expired");
        assert_eq!(one[0].addresses, vec![a]);
        assert!(merge_addresses(vec![(a, vec![]), (b, vec![])]).is_empty());
    }

    /// A finding concerns the addresses it names; one that names none concerns every address
    /// when its check connects to each address, and none when it does not (DNS, edge).
    #[test]
    fn a_finding_concerns_its_addresses_or_all_of_a_per_address_check() {
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let named = Finding::new(Cause::CertExpired, "x").on([a]);
        assert!(named.concerns(a));
        assert!(!named.concerns(b));
        let tls_timeout = Finding::new(Cause::TlsHandshakeFailed, "timed out");
        assert!(tls_timeout.concerns(a) && tls_timeout.concerns(b));
        let tcp = Finding::new(Cause::PortUnreachable, "timed out");
        assert!(tcp.concerns(b));
        let dns = Finding::new(Cause::DnsLameDelegation, "ns2");
        assert!(!dns.concerns(a));
        let edge = Finding::new(Cause::EdgeUnexplainedError, "502");
        assert!(!edge.concerns(a));
    }

    /// `is_active` is exactly "a finding names the cause".
    #[test]
    fn is_active_means_a_finding_names_the_cause() {
        let d = Diagnosis {
            applicable: vec![Cause::PortUnreachable, Cause::CertExpired],
            findings: vec![Finding::new(Cause::CertExpired, "x")],
            checks: Vec::new(),
            cdn_ready: false,
            addresses: Vec::new(),
        };
        assert!(d.is_active(Cause::CertExpired));
        assert!(!d.is_active(Cause::PortUnreachable));
        assert!(!d.is_active(Cause::HttpTimeout));
    }
}
