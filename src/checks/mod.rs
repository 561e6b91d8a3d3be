//! The checks, one module each, behind one interface ([`CheckModule`]), and their registry
//! ([`REGISTRY`]): the scheduler's runner, diagnosis, `/metrics`, `/probe`, `check` and the landing
//! page all iterate over the registry and know no check by name.
//!
//! A check's module holds everything of that check: how it runs (I/O), which causes its report
//! shows (`findings`, pure), the series it exports (`series`), and what it tells a person
//! (`explain`), its `ID` (its place in [`REGISTRY`]) and what it needs of earlier checks
//! ([`CheckModule::needs`], read through [`Earlier`]), and its own types ([`CheckTypes`]: its
//! report, memory, context part and handover, each in the check's slot of [`OriginResults`],
//! [`Memory`], [`ProbeContext`] and [`ThisCycle`], slots the registry creates, one per check). Adding a check is a new module and its line in
//! [`REGISTRY`], as the test-only `example` check proves: see ARCHITECTURE.md.

mod check_types;
pub mod conn;
pub mod context;
pub mod dial;
pub mod dns;
pub mod earlier;
pub mod edge;
#[cfg(test)]
pub mod example;
pub mod http;
pub mod http_client;
mod lingering;
mod memory;
pub mod names;
pub mod resolve;
mod results;
mod run;
#[cfg(test)]
mod scrape_golden_tests;
pub mod tcp;
mod this_cycle;
pub mod tls;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;

use crate::config::Origin;
use crate::diagnose::{Cause, Diagnosis, Finding};
use crate::exposition::Observed;

pub use check_types::{CheckTypes, OwnTypes};
pub use context::{ContextError, ContextFiles, Part, ProbeContext};
pub use dns::{DnsContext, DnsReport};
pub use earlier::{Earlier, Notes};
pub use edge::EdgeReport;
pub use http::{HttpOutcome, HttpReport, Phases};
pub use lingering::{Amend, Lingering};
pub use memory::Memory;
pub use resolve::Resolution;
pub use results::{OriginResults, Report};
pub use run::{timed, CheckRun, NotRun, Outcome, Ran};
pub use tcp::{PortResult, PortState, TcpReport};
pub use this_cycle::ThisCycle;
pub use tls::{Handshake, TlsContext, TlsReport};

/// A check: its index in [`REGISTRY`], so the order checks run in (the `check` label is its
/// module's name). Each check's module declares its own (`Check::at(i)`, a registry test proves
/// `REGISTRY[i]` is check `i`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Check(u8);

#[allow(
    non_upper_case_globals,
    reason = "the built-in checks by the names config, tests and SPEC's check label use"
)]
impl Check {
    pub const Dns: Check = dns::ID;
    pub const Tcp: Check = tcp::ID;
    pub const Tls: Check = tls::ID;
    pub const Http: Check = http::ID;
    pub const Edge: Check = edge::ID;

    /// Every registered check, in registry order.
    pub const ALL: [Check; REGISTRY.len()] = {
        let mut all = [Check(0); REGISTRY.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = Check(i as u8);
            i += 1;
        }
        all
    };

    /// The check at `index` in [`REGISTRY`]: for a check module's own `ID` only.
    pub(crate) const fn at(index: u8) -> Check {
        Check(index)
    }

    /// Its place in [`REGISTRY`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn name(self) -> &'static str {
        module(self).name()
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Check::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every check's module, in the order the checks run. A new check is its module and one line
/// here.
pub const REGISTRY: &[&dyn CheckModule] = &[
    &dns::DnsCheck,
    &tcp::TcpCheck,
    &tls::TlsCheck,
    &http::HttpCheck,
    &edge::EdgeCheck,
    #[cfg(test)]
    &example::ExampleCheck,
];

/// How many checks [`REGISTRY`] holds: the size of every per-check slot array (reports, memory).
pub const CHECKS: usize = REGISTRY.len();

/// The module of one check.
pub fn module(check: Check) -> &'static dyn CheckModule {
    REGISTRY[check.index()]
}

/// One check: runs for an origin, turns its report into findings, encodes its series, explains
/// its evidence. Implemented by a unit struct in each check's module, which also implements
/// [`CheckTypes`] (its id and own types; [`OwnTypes`] is how the registry reaches them).
pub trait CheckModule: OwnTypes {
    /// The `check` label value and the name in `checks:`.
    fn name(&self) -> &'static str;

    /// The causes this check can detect, in SPEC order.
    fn causes(&self) -> &'static [Cause];

    /// Whether the origin's settings enable the check (`checks:` lists it).
    fn enabled(&self, origin: &Origin) -> bool {
        origin.checks.contains(&self.id())
    }

    /// May run for an ad-hoc target (`/probe?target=`): false for a check whose traffic goes
    /// where the target's settings cannot bound it (a zone's nameservers can be anywhere).
    fn adhoc(&self) -> bool {
        true
    }

    /// Whether the origin's settings let this check detect `cause` (one of its [`Self::causes`])
    /// at all, beyond enabling the check: the TLS check's causes about the certificate the CDN
    /// presents apply only where the CDN presents one.
    fn detects(&self, _cause: Cause, _origin: &Origin) -> bool {
        true
    }

    /// Registers the series the check exports once, at startup, about the exporter itself (not
    /// about an origin): the TLS check's suites its client cannot speak.
    fn register_startup(&self, _registry: &mut prometheus_client::registry::Registry) {}

    /// The landing page's columns this check fills, by heading (plain text).
    fn columns(&self) -> &'static [&'static str] {
        &[]
    }

    /// The landing page's cells of one probed origin, one per [`Self::columns`], as HTML (every
    /// text from the network escaped).
    fn cells(
        &self,
        _origin: &Origin,
        _results: &OriginResults,
        _diagnosis: &Diagnosis,
    ) -> Vec<String> {
        Vec::new()
    }

    /// The earlier checks whose reports this check reads (its run, its findings' echo rules):
    /// each runs before it in the registry (a registry test proves it). Only these are handed
    /// to it ([`Earlier`]).
    fn needs(&self) -> &'static [Check] {
        &[]
    }

    /// The earlier checks (among [`Self::needs`]) whose handover this check takes: what they
    /// leave for this cycle only (the TCP check's open connections). The cycle tells such a check
    /// whether an enabled later check takes it ([`Earlier::handover`]).
    fn takes(&self) -> &'static [Check] {
        &[]
    }

    /// Needs no address, so it runs beside resolution instead of after it.
    fn beside_resolution(&self) -> bool {
        false
    }

    /// Connects to each of the origin's addresses, so its causes concern addresses
    /// (`origin_address_ready`): a finding of it that names no address concerns every one.
    fn per_address(&self) -> bool {
        false
    }

    /// Runs the check for `origin` given what earlier checks found, with what it remembers of
    /// the origin's earlier cycles (its slot of `memory`) and what this cycle holds for its checks
    /// (`cycle`: handovers, lingering work). Bounded by the origin's timeouts; never panics on
    /// what the network sends.
    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        earlier: Earlier<'a>,
        memory: &'a mut Memory,
        cycle: &'a mut ThisCycle,
    ) -> BoxFuture<'a, Report>;

    /// How the check's run ended; `None` when it is not part of the results.
    fn ran(&self, results: &OriginResults) -> Option<Ran>;

    /// How long the check took, when it ran.
    fn duration(&self, results: &OriginResults) -> Option<Duration>;

    /// The causes its report shows. Pure; names roots, not echoes of earlier checks.
    fn findings(&self, origin: &Origin, results: &OriginResults) -> Vec<Finding>;

    /// The HTTP status the origin answered the CDN's request with (on its first address), when
    /// this check sends that request: what an origin group's failover status codes are compared
    /// with.
    fn answered_status(&self, _results: &OriginResults) -> Option<u16> {
        None
    }

    /// Whether a completed run saw what the origin's settings expect, beyond its causes (the
    /// edge check's `expect_status`): part of `origin_probe_success`.
    fn as_expected(&self, _origin: &Origin, _results: &OriginResults) -> bool {
        true
    }

    /// Rules between this check's findings and the others' (one finding per cause, every
    /// check's): an echo of another check's cause is dropped, a confirmation added. Pure.
    fn reconcile(&self, _results: &OriginResults, _findings: &mut Vec<Finding>) {}

    /// After every check of the cycle ran: what this check tells the earlier checks it declares
    /// about the cycle, as notes of their types (the HTTP check: its CDN-profile handshakes that
    /// failed, as the TLS check's `Contradiction`s).
    fn tell(&self, _origin: &Origin, _results: &OriginResults, _notes: &mut Notes) {}

    /// After every check of the cycle ran and told: revises this check's own report with what
    /// later checks told it that contradicts work it reused from earlier cycles, and makes its
    /// memory forget that work (the TLS check: a finished handshake a later check's own
    /// handshake contradicts). Touches only this check's report and memory; names no later
    /// check.
    fn revise(
        &self,
        _origin: &Origin,
        _results: &mut OriginResults,
        _memory: &mut Memory,
        _notes: &Notes,
    ) {
    }

    /// Writes the check's metric families for every observed origin.
    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result;

    /// What the check saw, one line each, for `check` and the landing page.
    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String>;

    /// The command a person runs to see `cause` with their own eyes.
    fn confirm(&self, cause: Cause, origin: &Origin, results: &OriginResults) -> String;
}

/// The HTTP status the origin answered the CDN's request with in this cycle, from the check
/// that sends it ([`CheckModule::answered_status`]).
pub fn answered_status(results: &OriginResults) -> Option<u16> {
    REGISTRY.iter().find_map(|m| m.answered_status(results))
}

/// Most addresses of one origin probed in a cycle: bounds the work a hostile zone can cause.
pub const MAX_ADDRESSES: usize = 16;

/// The addresses the CDN would connect to: the pinned `address`, else what `domain` resolved to
/// in this cycle (for an ad-hoc origin, when it was vetted: see [`crate::cycle`]).
pub fn addresses(origin: &Origin, results: &OriginResults) -> Vec<IpAddr> {
    if let Some(ip) = origin.address {
        return vec![ip];
    }
    results
        .resolution
        .as_ref()
        .and_then(|r| r.completed())
        .map(|r| r.addresses.clone())
        .unwrap_or_default()
}

/// Most addresses of one origin the TLS and HTTP checks probe (and `origin_address_ready`
/// reports): the first ones of [`addresses`]. Round-robin names rarely have more (an AWS load
/// balancer answers at most 8); the TCP check still tries all [`MAX_ADDRESSES`].
pub const MAX_PROBED_ADDRESSES: usize = 8;

/// The addresses the TLS and HTTP checks probe: every address the CDN may use, up to
/// [`MAX_PROBED_ADDRESSES`].
pub fn probed_addresses(origin: &Origin, results: &OriginResults) -> Vec<IpAddr> {
    let mut addrs = addresses(origin, results);
    addrs.truncate(MAX_PROBED_ADDRESSES);
    addrs
}

/// The reports of every probed address, in order, as one: the first address's, holding the
/// others' in the field `more` gives. `None` when no address was probed.
pub fn first_holding_rest<T>(reports: Vec<T>, more: fn(&mut T) -> &mut Vec<T>) -> Option<T> {
    let mut reports = reports.into_iter();
    let mut first = reports.next()?;
    *more(&mut first) = reports.collect();
    Some(first)
}

/// Wall-clock seconds since the epoch, for `_timestamp_seconds` metrics.
pub fn unix_seconds(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_every_check_once_in_run_order() {
        let ids: Vec<Check> = REGISTRY.iter().map(|m| m.id()).collect();
        assert_eq!(ids, Check::ALL);
        for check in Check::ALL {
            assert_eq!(module(check).id(), check);
            assert_eq!(Check::from_name(check.name()), Some(check));
        }
        assert_eq!(Check::from_name("nope"), None);
    }

    /// A check depends only on checks that run before it, and takes a handover only from a
    /// check it declares.
    #[test]
    fn every_dependency_is_on_an_earlier_check() {
        for (i, m) in REGISTRY.iter().enumerate() {
            for need in m.needs() {
                let at = REGISTRY.iter().position(|e| e.id() == *need);
                assert!(
                    at.is_some_and(|at| at < i),
                    "{} needs {need:?}, which does not run before it",
                    m.name()
                );
            }
            for taken in m.takes() {
                assert!(m.needs().contains(taken), "{} takes {taken:?}", m.name());
            }
        }
    }

    /// A check's memory stays in its slot from cycle to cycle, apart from the others', and a
    /// copy of the memory copies it.
    #[test]
    fn a_checks_memory_is_kept_in_its_slot() {
        type First = check_types::TestCheck<2, u32>;
        type Second = check_types::TestCheck<3, u32>;
        let mut m = Memory::default();
        assert_eq!(m.get::<First>(), None);
        *m.of::<First>(|| 0) += 2;
        *m.of::<First>(|| 0) += 3;
        assert_eq!(*m.of::<First>(|| 0), 5);
        assert_eq!(*m.of::<Second>(|| 7), 7);
        let copy = m.clone();
        assert_eq!(copy.get::<First>(), Some(&5));
        assert!(!m.is_scheduled() && Memory::scheduled().is_scheduled());
    }

    #[test]
    fn every_cause_belongs_to_exactly_one_check() {
        for cause in Cause::ALL {
            let owners: Vec<Check> = REGISTRY
                .iter()
                .filter(|m| m.causes().contains(&cause))
                .map(|m| m.id())
                .collect();
            assert_eq!(owners, vec![cause.check()], "{}", cause.name());
        }
    }

    #[test]
    fn probe_results_are_named_by_how_the_run_ended() {
        assert_eq!(Ran::NotRun.result(false), "not_run");
        assert_eq!(Ran::NotRun.result(true), "not_run");
        assert_eq!(Ran::TimedOut.result(false), "timeout");
        assert_eq!(Ran::TimedOut.result(true), "timeout");
        assert_eq!(Ran::Incomplete.result(false), "failure");
        assert_eq!(Ran::Completed.result(true), "failure");
        assert_eq!(Ran::Completed.result(false), "success");
    }
}
