//! The TCP check as the registry sees it.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{findings, series};
use crate::checks::{
    conn, timed, Check, CheckModule, CheckRun, CheckTypes, ContextError, Earlier, Memory, NotRun,
    OriginResults, ProbeContext, Ran, Report, ThisCycle, MAX_PROBED_ADDRESSES,
};
use crate::config::Origin;
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

/// Every port the CDN uses (by protocol policy), on every address it may connect to.
pub struct TcpCheck;

impl CheckTypes for TcpCheck {
    const ID: Check = Check::Tcp;
    type Report = super::TcpReport;
    type Memory = ();
    /// The connections it leaves open for the TLS check's hello.
    type Handover = conn::Handoff;
    type Context = ();

    fn context(_shared: &ProbeContext) -> Result<(), ContextError> {
        Ok(())
    }
}

/// Whether the connection to `addr` is one a later check takes (`wanted`: one that declares it
/// in `takes()` is enabled): the HTTPS port of an address the per-address checks probe (see
/// [`crate::checks::conn`]).
fn hands_off(
    wanted: bool,
    origin: &Origin,
    addrs: &[std::net::IpAddr],
    addr: std::net::SocketAddr,
) -> bool {
    wanted
        && addr.port() == origin.https_port
        && addrs
            .iter()
            .take(MAX_PROBED_ADDRESSES)
            .any(|ip| *ip == addr.ip())
}

/// Lets each connection, itself bounded by the timeout, report instead of being cut off.
const MARGIN: Duration = Duration::from_millis(100);

impl CheckModule for TcpCheck {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn per_address(&self) -> bool {
        true
    }

    fn causes(&self) -> &'static [Cause] {
        &[Cause::PortUnreachable]
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        _ctx: &'a ProbeContext,
        earlier: Earlier<'a>,
        _memory: &'a mut Memory,
        cycle: &'a mut ThisCycle,
    ) -> BoxFuture<'a, Report> {
        async move {
            let addrs = earlier.addresses(origin);
            Report::of::<TcpCheck>(if addrs.is_empty() {
                CheckRun::not_run(NotRun::NoAddress)
            } else {
                let how = super::Attempts {
                    attempts: origin.connection_attempts,
                    limit: origin.attempt_timeout(),
                };
                let handoff = cycle.handover::<TcpCheck>();
                let probe = async {
                    let (report, open) = super::probe(&addrs, &origin.ports(), how).await;
                    for (addr, stream, accepted) in open {
                        if hands_off(earlier.handover(), origin, &addrs, addr) {
                            handoff.keep(addr, stream, accepted);
                        } else {
                            conn::abort(stream);
                        }
                    }
                    report
                };
                timed(how.total().saturating_add(MARGIN), probe).await
            })
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        Some(results.get::<TcpCheck>()?.ran(|_| Ran::Completed))
    }

    fn duration(&self, results: &OriginResults) -> Option<Duration> {
        results.get::<TcpCheck>().map(|r| r.duration)
    }

    fn findings(&self, _origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        findings::findings(results)
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, _origin: &Origin, results: &OriginResults) -> Vec<String> {
        let Some(run) = results.get::<TcpCheck>() else {
            return Vec::new();
        };
        let Some(report) = run.completed() else {
            return vec![match run.ran(|_| Ran::Completed) {
                Ran::TimedOut => "tcp:  no connection completed in time".to_string(),
                _ => "tcp:  not run (no address to connect to)".to_string(),
            }];
        };
        let ports: Vec<String> = report
            .ports
            .iter()
            .map(|p| {
                let mut line = format!("{}:{} {}", p.address, p.port, p.state.reason());
                if p.attempts > 1 {
                    line.push_str(&format!(" after {} attempts", p.attempts));
                }
                line
            })
            .collect();
        vec![format!("tcp:  {}", ports.join("; "))]
    }

    fn confirm(&self, _cause: Cause, origin: &Origin, results: &OriginResults) -> String {
        let closed: Vec<String> = results
            .get::<TcpCheck>()
            .and_then(|t| t.completed())
            .map(|t| {
                t.closed()
                    .map(|p| format!("nc -vz -w 5 {} {}", p.address, p.port))
                    .collect()
            })
            .unwrap_or_default();
        if closed.is_empty() {
            let port = origin.ports().first().map_or(origin.https_port, |p| p.1);
            format!("nc -vz -w 5 {} {port}", origin.domain)
        } else {
            closed.join("; ")
        }
    }
}
