//! The DNS check as the registry sees it. Resolution itself is not this check's: every check
//! needs the addresses, so the runner resolves; this check reports on it and on the zone's
//! authoritative nameservers.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{explain, findings, series};
use crate::checks::{
    timed, Check, CheckModule, CheckTypes, ContextError, Earlier, Memory, OriginResults, Outcome,
    ProbeContext, Ran, Report, ThisCycle,
};
use crate::config::Origin;
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

/// Resolution through the recursive resolvers, and the health of the zone's nameservers.
pub struct DnsCheck;

impl CheckTypes for DnsCheck {
    const ID: Check = super::ID;
    type Report = super::DnsReport;
    type Memory = ();
    type Context = super::DnsContext;
    type Handover = ();

    /// Zone discovery through the shared resolver, and its cache.
    fn context(shared: &ProbeContext) -> Result<super::DnsContext, ContextError> {
        Ok(super::DnsContext::new(
            &shared.global,
            shared.resolver.clone(),
        ))
    }
}

impl CheckModule for DnsCheck {
    fn name(&self) -> &'static str {
        "dns"
    }

    /// A zone's nameservers can be anywhere: an ad-hoc probe resolves, but queries no
    /// nameservers.
    fn adhoc(&self) -> bool {
        false
    }

    fn causes(&self) -> &'static [Cause] {
        use Cause::*;
        &[
            DnsResolutionFailed,
            DnsAllNameserversDown,
            DnsNameserverDown,
            DnsLameDelegation,
            DnsSoaSerialMismatch,
            DnsDelegationMismatch,
        ]
    }

    /// The nameserver queries do not feed the later checks: they run beside resolution.
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
            Report::of::<DnsCheck>(
                timed(origin.timeout, super::check(origin, ctx.part::<DnsCheck>())).await,
            )
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        let runs = [
            results
                .resolution
                .as_ref()
                .map(|r| r.ran(|_| Ran::Completed)),
            results.get::<DnsCheck>().map(|r| r.ran(|_| Ran::Completed)),
        ];
        let runs: Vec<Ran> = runs.into_iter().flatten().collect();
        if runs.is_empty() {
            None
        } else if runs.contains(&Ran::TimedOut) {
            Some(Ran::TimedOut)
        } else {
            Some(Ran::Completed)
        }
    }

    fn duration(&self, results: &OriginResults) -> Option<Duration> {
        // Resolution and the nameserver queries run side by side.
        [
            results.resolution.as_ref().map(|r| r.duration),
            results.get::<DnsCheck>().map(|r| r.duration),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    fn findings(&self, _origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        findings::findings(results)
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(run) = &results.resolution {
            lines.push(match &run.outcome {
                Outcome::Completed(x) if x.succeeded() => {
                    let addrs: Vec<String> = x.addresses.iter().map(ToString::to_string).collect();
                    format!("dns:  {} resolves to {}", origin.domain, addrs.join(", "))
                }
                Outcome::Completed(x) => format!(
                    "dns:  {} does not resolve: {}",
                    origin.domain,
                    x.error.as_deref().unwrap_or("no address")
                ),
                _ => format!("dns:  no answer for {} in time", origin.domain),
            });
        }
        if let Some(report) = results.get::<DnsCheck>().and_then(|d| d.completed()) {
            lines.extend(
                explain::nameserver_lines(report)
                    .into_iter()
                    .map(|l| format!("dns:  {l}")),
            );
        }
        lines
    }

    fn confirm(&self, cause: Cause, origin: &Origin, results: &OriginResults) -> String {
        explain::confirm_command(
            cause,
            &origin.domain,
            results.get::<DnsCheck>().and_then(|d| d.completed()),
        )
    }
}
