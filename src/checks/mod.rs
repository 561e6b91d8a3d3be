//! The checks, one module each, behind one interface ([`CheckModule`]), and their registry
//! ([`REGISTRY`]): the scheduler's runner, diagnosis, `/metrics`, `/probe`, `check` and the landing
//! page all iterate over the registry and know no check by name.
//!
//! A check's module holds everything of that check: how it runs (I/O), which causes its report
//! shows (`findings`, pure), the series it exports (`series`), and what it tells a person
//! (`explain`). Adding a check is a new module and one line in each of the three tables below
//! (its [`Check`] id, its field in [`OriginResults`] / variant in [`Report`], its registry entry):
//! see ARCHITECTURE.md.

pub mod conn;
pub mod context;
pub mod dial;
pub mod dns;
pub mod edge;
pub mod http;
pub mod resolve;
pub mod tcp;
pub mod tls;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;

use crate::config::{Origin, Scheme};
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

pub use context::{ContextError, ContextFiles, ProbeContext};
pub use dns::{DnsContext, DnsReport};
pub use edge::EdgeReport;
pub use http::{HttpOutcome, HttpReport, Phases};
pub use resolve::Resolution;
pub use tcp::{PortResult, PortState, TcpReport};
pub use tls::{Handshake, TlsContext, TlsReport};

/// The checks an origin can run, in the order they run (the `check` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    Dns,
    Tcp,
    Tls,
    Http,
    Edge,
}

impl Check {
    pub const ALL: [Check; 5] = [Check::Dns, Check::Tcp, Check::Tls, Check::Http, Check::Edge];

    pub fn name(self) -> &'static str {
        module(self).name()
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Check::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Every check's module, in the order the checks run.
pub static REGISTRY: [&dyn CheckModule; 5] = [
    &dns::DnsCheck,
    &tcp::TcpCheck,
    &tls::TlsCheck,
    &http::HttpCheck,
    &edge::EdgeCheck,
];

/// The module of one check.
pub fn module(check: Check) -> &'static dyn CheckModule {
    match check {
        Check::Dns => &dns::DnsCheck,
        Check::Tcp => &tcp::TcpCheck,
        Check::Tls => &tls::TlsCheck,
        Check::Http => &http::HttpCheck,
        Check::Edge => &edge::EdgeCheck,
    }
}

/// One check's report of one cycle, as it hands it to the runner.
#[derive(Debug, Clone)]
pub enum Report {
    Dns(CheckRun<DnsReport>),
    Tcp(CheckRun<TcpReport>),
    Tls(CheckRun<TlsReport>),
    Http(CheckRun<HttpReport>),
    Edge(CheckRun<EdgeReport>),
}

/// Everything one cycle found out about one origin: one field per check.
#[derive(Debug, Clone, Default)]
pub struct OriginResults {
    /// Resolution of `domain`: not a check of its own but the addresses every check connects
    /// to; reported under the `dns` check. `None` when the origin pins an `address`.
    pub resolution: Option<CheckRun<Resolution>>,
    /// The authoritative nameservers of the domain's zone; `None` without the `dns` check.
    pub dns: Option<Box<CheckRun<DnsReport>>>,
    pub tcp: Option<CheckRun<TcpReport>>,
    pub tls: Option<Box<CheckRun<TlsReport>>>,
    pub http: Option<Box<CheckRun<HttpReport>>>,
    pub edge: Option<Box<CheckRun<EdgeReport>>>,
}

impl OriginResults {
    pub fn put(&mut self, report: Report) {
        match report {
            Report::Dns(r) => self.dns = Some(Box::new(r)),
            Report::Tcp(r) => self.tcp = Some(r),
            Report::Tls(r) => self.tls = Some(Box::new(r)),
            Report::Http(r) => self.http = Some(Box::new(r)),
            Report::Edge(r) => self.edge = Some(Box::new(r)),
        }
    }
}

/// What an origin's checks remember between its cycles, kept by its scheduler task (fresh when
/// the origin's settings change).
#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub tls: tls::TlsMemory,
    pub http: http::HttpMemory,
    /// Connections the TCP check left for this cycle's TLS check; empty between cycles.
    pub handoff: conn::Handoff,
    /// Work this cycle's checks left running (the keep-alive watch); the cycle takes it when its
    /// checks are done.
    pub lingering: Lingering,
}

impl Memory {
    /// The memory of an origin the scheduler probes for good (not `/probe` or `check`): its
    /// checks may spread their occasional extra work over its first cycles (see
    /// [`tls::TlsMemory::scheduled`]).
    pub fn scheduled() -> Self {
        Memory {
            tls: tls::TlsMemory::scheduled(),
            ..Memory::default()
        }
    }
}

/// What a check's lingering work found, as a change to a cycle's results: applied to the
/// results of the cycle that started it, or to a later cycle's when that one was published
/// meanwhile (and again when another was published while it applied). Returns whether it
/// changed anything.
pub type Amend = Box<dyn Fn(&mut OriginResults) -> bool + Send + Sync>;

/// Work a check leaves running after its run, each task bounded in time by the check: the HTTP
/// check's keep-alive watch. The cycle's verdict does not wait for it and no budget slot is held
/// while it runs; what each task finds amends the results when it ends. Dropping it aborts
/// what still runs.
#[derive(Default)]
pub struct Lingering {
    tasks: Vec<tokio::task::JoinHandle<Amend>>,
}

impl Lingering {
    pub fn push(&mut self, task: tokio::task::JoinHandle<Amend>) {
        self.tasks.push(task);
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for every task, until `deadline` when there is one; what those that ended found.
    /// Those still running are aborted.
    pub async fn settle(mut self, deadline: Option<tokio::time::Instant>) -> Vec<Amend> {
        let tasks = std::mem::take(&mut self.tasks);
        let mut found = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            let ended = match deadline {
                Some(at) => tokio::time::timeout_at(at, &mut task).await.ok(),
                None => Some((&mut task).await),
            };
            match ended {
                Some(Ok(amend)) => found.push(amend),
                // Panicked, aborted, or past the deadline: it found nothing.
                Some(Err(_)) | None => task.abort(),
            }
        }
        found
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Lingering work holds live tasks: a copy of an origin's memory starts without them.
impl Clone for Lingering {
    fn clone(&self) -> Self {
        Lingering::default()
    }
}

impl fmt::Debug for Lingering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lingering({} tasks)", self.tasks.len())
    }
}

/// One check: runs for an origin, turns its report into findings, encodes its series, explains
/// its evidence. Implemented by a unit struct in each check's module.
pub trait CheckModule: Send + Sync {
    fn id(&self) -> Check;

    /// The `check` label value and the name in `checks:`.
    fn name(&self) -> &'static str;

    /// The causes this check can detect, in SPEC order.
    fn causes(&self) -> &'static [Cause];

    /// Whether the origin's settings enable the check (`checks:` lists it).
    fn enabled(&self, origin: &Origin) -> bool {
        origin.checks.contains(&self.id())
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

    /// Runs the check for `origin` given what earlier checks found. Bounded by the origin's
    /// timeouts; never panics on what the network sends.
    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        earlier: &'a OriginResults,
        memory: &'a mut Memory,
    ) -> BoxFuture<'a, Report>;

    /// How the check's run ended; `None` when it is not part of the results.
    fn ran(&self, results: &OriginResults) -> Option<Ran>;

    /// How long the check took, when it ran.
    fn duration(&self, results: &OriginResults) -> Option<Duration>;

    /// The causes its report shows. Pure; names roots, not echoes of earlier checks.
    fn findings(&self, origin: &Origin, results: &OriginResults) -> Vec<Finding>;

    /// Whether a completed run saw what the origin's settings expect, beyond its causes (the
    /// edge check's `expect_status`): part of `origin_probe_success`.
    fn as_expected(&self, _origin: &Origin, _results: &OriginResults) -> bool {
        true
    }

    /// Rules between this check's findings and the others' (one finding per cause, every
    /// check's): an echo of another check's cause is dropped, a confirmation added. Pure.
    fn reconcile(&self, _results: &OriginResults, _findings: &mut Vec<Finding>) {}

    /// After every check of the cycle ran: revises this check's own report with what later
    /// checks saw that contradicts work it reused from earlier cycles, and makes its memory
    /// forget that work (the TLS check: a finished handshake the HTTP check's own handshake
    /// contradicts). Touches only this check's report and memory.
    fn revise(&self, _origin: &Origin, _results: &mut OriginResults, _memory: &mut Memory) {}

    /// Writes the check's metric families for every observed origin.
    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result;

    /// What the check saw, one line each, for `check` and the landing page.
    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String>;

    /// The command a person runs to see `cause` with their own eyes.
    fn confirm(&self, cause: Cause, origin: &Origin, results: &OriginResults) -> String;
}

/// How one check's run ended, for `origin_exporter_probes_total{result}` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// An earlier check's failure explains why it could not run (no address, closed port, no
    /// TLS): neither a success nor a failure of its own.
    NotRun,
    /// It did not finish (or got no answer) within its time limit.
    TimedOut,
    /// It ran but could not complete its exchange (a connection or handshake failed).
    Incomplete,
    /// It ran to the end; its findings tell whether what it saw is healthy.
    Completed,
}

impl Ran {
    /// `origin_exporter_probes_total{result}` for this run, given whether the check found a
    /// critical cause.
    pub fn result(self, critical: bool) -> &'static str {
        match self {
            Ran::NotRun => "not_run",
            Ran::TimedOut => "timeout",
            Ran::Completed if !critical => "success",
            Ran::Completed | Ran::Incomplete => "failure",
        }
    }

    pub const RESULTS: [&'static str; 4] = ["success", "failure", "timeout", "not_run"];
}

/// Why a check did not run: an earlier check already explains the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRun {
    /// The domain did not resolve, so there is no address to connect to.
    NoAddress,
    /// The port the check needs refused or timed out in the TCP check.
    PortClosed,
    /// No TLS connection could be made, so no request can be sent over it.
    NoTls,
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Completed(T),
    /// The check did not finish within the origin's `timeout`.
    TimedOut,
    NotRun(NotRun),
}

/// One check's outcome and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun<T> {
    pub duration: Duration,
    pub outcome: Outcome<T>,
}

impl<T> CheckRun<T> {
    pub fn not_run(why: NotRun) -> Self {
        CheckRun {
            duration: Duration::ZERO,
            outcome: Outcome::NotRun(why),
        }
    }

    pub fn completed(&self) -> Option<&T> {
        match &self.outcome {
            Outcome::Completed(t) => Some(t),
            _ => None,
        }
    }

    pub fn timed_out(&self) -> bool {
        matches!(self.outcome, Outcome::TimedOut)
    }

    /// How the run ended, with `completed` judging a finished report.
    pub fn ran(&self, completed: impl FnOnce(&T) -> Ran) -> Ran {
        match &self.outcome {
            Outcome::Completed(t) => completed(t),
            Outcome::TimedOut => Ran::TimedOut,
            Outcome::NotRun(_) => Ran::NotRun,
        }
    }
}

impl<T> CheckRun<Option<T>> {
    /// The run, with a completed run that has no report counted as not run for `why`.
    pub fn or_not_run(self, why: NotRun) -> CheckRun<T> {
        let outcome = match self.outcome {
            Outcome::Completed(Some(t)) => Outcome::Completed(t),
            Outcome::Completed(None) => return CheckRun::not_run(why),
            Outcome::TimedOut => Outcome::TimedOut,
            Outcome::NotRun(why) => Outcome::NotRun(why),
        };
        CheckRun {
            duration: self.duration,
            outcome,
        }
    }
}

/// Runs one check under a time limit and measures it.
pub async fn timed<T>(limit: Duration, check: impl Future<Output = T>) -> CheckRun<T> {
    let start = Instant::now();
    let outcome = match tokio::time::timeout(limit, check).await {
        Ok(t) => Outcome::Completed(t),
        Err(_) => Outcome::TimedOut,
    };
    CheckRun {
        duration: start.elapsed(),
        outcome,
    }
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

/// The probed addresses whose port for `scheme` accepted a connection, in order; without a TCP
/// check, every probed address. An error means no later check on that scheme can run.
pub fn open_addresses(
    origin: &Origin,
    results: &OriginResults,
    scheme: Scheme,
) -> Result<Vec<SocketAddr>, NotRun> {
    let port = match scheme {
        Scheme::Http => origin.http_port,
        Scheme::Https => origin.https_port,
    };
    let addrs = probed_addresses(origin, results);
    if addrs.is_empty() {
        return Err(NotRun::NoAddress);
    }
    let open: Vec<SocketAddr> = match results.tcp.as_ref().map(|t| t.completed()) {
        None => addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
        Some(Some(report)) => addrs
            .iter()
            .filter(|ip| {
                report
                    .ports
                    .iter()
                    .any(|p| p.address == **ip && p.port == port && p.state == PortState::Open)
            })
            .map(|ip| SocketAddr::new(*ip, port))
            .collect(),
        Some(None) => Vec::new(),
    };
    if open.is_empty() {
        Err(NotRun::PortClosed)
    } else {
        Ok(open)
    }
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

    /// TLS and HTTP probe every address whose port accepted a connection, at most
    /// [`MAX_PROBED_ADDRESSES`], in resolution order; without a TCP check, every address.
    #[test]
    fn open_addresses_are_the_probed_ones_whose_port_is_open() {
        use crate::diagnose::test_support::origin;
        let ips: Vec<IpAddr> = (1..=10)
            .map(|i| format!("192.0.2.{i}").parse().expect("ip"))
            .collect();
        let resolution = Some(CheckRun {
            duration: Duration::ZERO,
            outcome: Outcome::Completed(Resolution {
                addresses: ips.clone(),
                error: None,
            }),
        });
        let o = origin(&[Check::Tls]);
        let without_tcp = OriginResults {
            resolution: resolution.clone(),
            ..OriginResults::default()
        };
        let all = open_addresses(&o, &without_tcp, Scheme::Https).expect("open");
        assert_eq!(all.len(), MAX_PROBED_ADDRESSES);
        assert_eq!(all[0], SocketAddr::new(ips[0], o.https_port));
        assert_eq!(all[7], SocketAddr::new(ips[7], o.https_port));
        let port = |i: usize, port: u16, state: PortState| PortResult {
            address: ips[i],
            port,
            scheme: Scheme::Https,
            state,
            duration: Duration::ZERO,
            attempts: 1,
        };
        let tcp = |ports| OriginResults {
            resolution: resolution.clone(),
            tcp: Some(CheckRun {
                duration: Duration::ZERO,
                outcome: Outcome::Completed(TcpReport { ports }),
            }),
            ..OriginResults::default()
        };
        // Open on 2 and 9 (past the bound), refused on 1; port 80 open on 1 does not count.
        let some = tcp(vec![
            port(0, o.https_port, PortState::Refused),
            port(0, o.http_port, PortState::Open),
            port(1, o.https_port, PortState::Open),
            port(8, o.https_port, PortState::Open),
        ]);
        assert_eq!(
            open_addresses(&o, &some, Scheme::Https),
            Ok(vec![SocketAddr::new(ips[1], o.https_port)])
        );
        assert_eq!(
            open_addresses(&o, &some, Scheme::Http),
            Ok(vec![SocketAddr::new(ips[0], o.http_port)])
        );
        let none = tcp(vec![port(0, o.https_port, PortState::TimedOut)]);
        assert_eq!(
            open_addresses(&o, &none, Scheme::Https),
            Err(NotRun::PortClosed)
        );
        let unresolved = OriginResults::default();
        assert_eq!(
            open_addresses(&o, &unresolved, Scheme::Https),
            Err(NotRun::NoAddress)
        );
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
