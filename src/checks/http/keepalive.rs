//! The keep-alive watch. After its response, the CDN keeps the connection idle for its next
//! request, up to `keepalive_timeout` (CloudFront's `OriginKeepaliveTimeout`, 5 s by default).
//! An origin that closes idle connections sooner races it: a request the CDN sends on a
//! connection the origin is closing fails, and the viewer gets a 502 (the race AWS documents for
//! load balancer targets whose keep-alive is shorter than the balancer's idle timeout).
//!
//! So after the HTTP check's response, read to its end, the connection stays idle and the
//! moment the origin closes it is noted, up to `keepalive_timeout` + [`BEYOND`]. The watch runs
//! as a task of its own ([`Lingering`](crate::checks::Lingering)): the cycle's verdict does not
//! wait for it and no budget slot is held while it runs; when it ends, what it saw amends the
//! results of the cycle that started it. Until then the cycle's report carries the latest
//! observation an earlier watch of the address finished ([`KeepAlive::Watching`]), so the cause
//! does not blink off while each watch runs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::HttpReport;
pub use crate::checks::http_client::Idle;
use crate::checks::{Amend, Lingering, Memory, OriginResults, MAX_PROBED_ADDRESSES};

/// How much longer than the CDN's `keepalive_timeout` the watch waits: an origin still
/// holding the connection then holds it longer than the CDN does.
pub const BEYOND: Duration = Duration::from_secs(1);

/// What one watch saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// When the response ended and the connection fell idle.
    pub since: SystemTime,
    /// How long the connection stayed open, idle, as far as the watch saw.
    pub idle: Duration,
    /// The origin closed it after `idle`; `false`: still open when the watch ended.
    pub closed: bool,
}

impl Observation {
    /// The origin closed the idle connection while the CDN, with `keepalive_timeout`, would
    /// still send its next request on it.
    pub fn races(&self, keepalive_timeout: Duration) -> bool {
        self.closed && self.idle < keepalive_timeout
    }

    /// It tells whether the origin races a CDN with `keepalive_timeout`: the origin closed the
    /// connection, or kept it at least that long (a watch cut short tells neither).
    pub fn conclusive(&self, keepalive_timeout: Duration) -> bool {
        self.closed || self.idle >= keepalive_timeout
    }
}

/// What is known of how long an address keeps idle connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepAlive {
    /// Not watched: no answer, or its body was not read to its end (`HttpReport::body` says
    /// why), so the connection could not serve another request.
    NotWatched,
    /// The origin ends the connection after its response (`Connection: close`, or HTTP/1.0
    /// without keep-alive): the CDN opens a new one for each request, and nothing races.
    Closes,
    /// This cycle's watch, of a connection idle `since`, has not ended; `earlier` is the latest
    /// observation an earlier watch of this address finished, if any.
    Watching {
        since: SystemTime,
        earlier: Option<Observation>,
    },
    /// What this cycle's watch saw.
    Observed(Observation),
}

impl KeepAlive {
    /// The observation that stands for the address: this cycle's, or while its watch runs, the
    /// latest earlier one.
    pub fn observation(&self) -> Option<&Observation> {
        match self {
            KeepAlive::Observed(o) => Some(o),
            KeepAlive::Watching { earlier, .. } => earlier.as_ref(),
            KeepAlive::NotWatched | KeepAlive::Closes => None,
        }
    }

    /// Folds in `seen`, what a watch of this address saw when it ended: this cycle's watch's
    /// observation replaces the earlier one, an earlier watch's replaces an older one. A
    /// report whose response said the connection could not be watched stays as it is: it is
    /// newer than any watch. Returns whether anything changed.
    pub fn fold(&mut self, seen: Observation) -> bool {
        let newer = |o: &Option<Observation>| o.is_none_or(|o| seen.since > o.since);
        match self {
            KeepAlive::Watching { since, .. } if seen.since == *since => {
                *self = KeepAlive::Observed(seen);
                true
            }
            KeepAlive::Watching { earlier, .. } if newer(earlier) => {
                *earlier = Some(seen);
                true
            }
            KeepAlive::Observed(o) if seen.since > o.since => {
                *o = seen;
                true
            }
            _ => false,
        }
    }
}

/// Waits until the origin closes the idle connection, at most `bound`; then closes it.
pub async fn watch(idle: Idle, bound: Duration) -> Observation {
    let Idle {
        sender,
        mut driver,
        since,
        since_wall,
    } = idle;
    let closed = tokio::time::timeout_at(since + bound, &mut driver)
        .await
        .is_ok();
    let idle = if closed { since.elapsed() } else { bound };
    driver.abort();
    drop(sender);
    Observation {
        since: since_wall,
        idle: idle.min(bound),
        closed,
    }
}

/// What the HTTP check remembers of an origin between cycles: the latest observation each
/// address's watch finished, shared with the watches still running (which outlive their cycle
/// and record what they saw when they end). It fills the report of a cycle whose own watch has
/// not ended yet ([`KeepAlive::Watching`]).
#[derive(Debug, Default, Clone)]
pub struct HttpMemory {
    /// Created by the origin's first watch.
    recent: Option<Arc<Recent>>,
}

/// The latest finished observation per address, at most [`RECENT_MAX`] addresses (the
/// oldest go first).
#[derive(Debug, Default)]
struct Recent(Mutex<Vec<(SocketAddr, Observation)>>);

/// Addresses whose latest observation is kept: twice those a cycle probes, so that a name whose
/// addresses rotate keeps the ones it comes back to.
const RECENT_MAX: usize = 2 * MAX_PROBED_ADDRESSES;

impl Recent {
    fn latest(&self, address: SocketAddr) -> Option<Observation> {
        let recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().find(|(a, _)| *a == address).map(|(_, o)| *o)
    }

    fn record(&self, address: SocketAddr, seen: Observation) {
        let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match recent.iter_mut().find(|(a, _)| *a == address) {
            Some((_, o)) if seen.since > o.since => *o = seen,
            Some(_) => {}
            None => {
                if recent.len() >= RECENT_MAX {
                    if let Some(oldest) = recent
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, o))| o.since)
                        .map(|(i, _)| i)
                    {
                        recent.swap_remove(oldest);
                    }
                }
                recent.push((address, seen));
            }
        }
    }
}

impl HttpMemory {
    /// The latest observation a watch of `address` finished.
    pub fn latest(&self, address: SocketAddr) -> Option<Observation> {
        self.recent.as_ref()?.latest(address)
    }

    fn recent(&mut self) -> Arc<Recent> {
        Arc::clone(self.recent.get_or_insert_with(Default::default))
    }
}

/// Starts the watch of each idle connection (by address), each bounded by `keepalive_timeout` +
/// [`BEYOND`], as lingering work of the cycle; fills the reports still watching with the latest
/// earlier observation of their address.
pub(super) fn start(
    report: &mut HttpReport,
    idle: Vec<(SocketAddr, Idle)>,
    keepalive_timeout: Duration,
    memory: &mut Memory,
    lingering: &mut Lingering,
) {
    let known = memory.get::<super::HttpCheck>();
    let fill = |r: &mut HttpReport| {
        if let KeepAlive::Watching { earlier, .. } = &mut r.keepalive {
            *earlier = known.and_then(|m| m.latest(r.address));
        }
    };
    report.more.iter_mut().for_each(fill);
    fill(report);
    if idle.is_empty() {
        // Nothing watched: an origin that never keeps a connection open keeps no memory.
        return;
    }
    let memory = memory.of::<super::HttpCheck>(HttpMemory::default);
    let bound = keepalive_timeout.saturating_add(BEYOND);
    for (address, idle) in idle {
        let recent = memory.recent();
        lingering.push(tokio::spawn(async move {
            let seen = watch(idle, bound).await;
            recent.record(address, seen);
            let amend: Amend =
                Box::new(move |results: &mut OriginResults| fold_into(results, address, seen));
            amend
        }));
    }
}

/// Folds what the watch of `address` saw into the HTTP report of `results`.
pub fn fold_into(results: &mut OriginResults, address: SocketAddr, seen: Observation) -> bool {
    let Some(report) = results
        .get_mut::<super::HttpCheck>()
        .and_then(|r| match &mut r.outcome {
            crate::checks::Outcome::Completed(report) => Some(report),
            _ => None,
        })
    else {
        return false;
    };
    let mut changed = false;
    if report.address == address {
        changed |= report.keepalive.fold(seen);
    }
    for r in report.more.iter_mut().filter(|r| r.address == address) {
        changed |= r.keepalive.fold(seen);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn seen(since: u64, idle_ms: u64, closed: bool) -> Observation {
        Observation {
            since: at(since),
            idle: Duration::from_millis(idle_ms),
            closed,
        }
    }

    /// A race is a close before the CDN's keep-alive ends; a watch that ran past it, or saw the
    /// close later, is none; a watch cut short before it tells nothing.
    #[test]
    fn a_close_before_the_cdn_stops_using_the_connection_is_a_race() {
        let five = Duration::from_secs(5);
        let cases = [
            ("closed after 2 s", seen(0, 2000, true), true, true),
            ("closed at once", seen(0, 0, true), true, true),
            (
                "closed after 5 s: the CDN is done with it",
                seen(0, 5000, true),
                false,
                true,
            ),
            ("open after 6 s", seen(0, 6000, false), false, true),
            ("cut short after 3 s", seen(0, 3000, false), false, false),
        ];
        for (name, o, races, conclusive) in cases {
            assert_eq!(o.races(five), races, "{name}");
            assert_eq!(o.conclusive(five), conclusive, "{name}");
        }
    }

    /// This cycle's watch replaces the earlier observation; an earlier watch replaces only an
    /// older one; a response that could not be watched stays what it is.
    #[test]
    fn folding_keeps_the_newest_observation() {
        let watching = |earlier| KeepAlive::Watching {
            since: at(60),
            earlier,
        };
        let cases: [(&str, KeepAlive, Observation, KeepAlive, bool); 7] = [
            (
                "this cycle's watch ends",
                watching(Some(seen(0, 2000, true))),
                seen(60, 6000, false),
                KeepAlive::Observed(seen(60, 6000, false)),
                true,
            ),
            (
                "an earlier watch ends after this cycle began",
                watching(Some(seen(0, 2000, true))),
                seen(30, 1000, true),
                watching(Some(seen(30, 1000, true))),
                true,
            ),
            (
                "the first watch ever ends while this one runs",
                watching(None),
                seen(30, 1000, true),
                watching(Some(seen(30, 1000, true))),
                true,
            ),
            (
                "an older watch than the one shown",
                watching(Some(seen(30, 1000, true))),
                seen(0, 6000, false),
                watching(Some(seen(30, 1000, true))),
                false,
            ),
            (
                "an older watch than this cycle's, which ended first",
                KeepAlive::Observed(seen(60, 1000, true)),
                seen(30, 6000, false),
                KeepAlive::Observed(seen(60, 1000, true)),
                false,
            ),
            (
                "the origin now closes after each response",
                KeepAlive::Closes,
                seen(30, 1000, true),
                KeepAlive::Closes,
                false,
            ),
            (
                "not watched this cycle",
                KeepAlive::NotWatched,
                seen(30, 1000, true),
                KeepAlive::NotWatched,
                false,
            ),
        ];
        for (name, mut before, observation, after, changed) in cases {
            assert_eq!(before.fold(observation), changed, "{name}");
            assert_eq!(before, after, "{name}");
        }
    }

    /// The memory keeps the newest observation per address, for at most [`RECENT_MAX`]
    /// addresses, the oldest going first.
    #[test]
    fn recent_observations_are_bounded_and_newest_first() {
        let recent = Recent::default();
        let addr = |i: u16| SocketAddr::from(([192, 0, 2, 1], 1000 + i));
        recent.record(addr(0), seen(10, 1000, true));
        recent.record(addr(0), seen(5, 9000, false));
        assert_eq!(recent.latest(addr(0)), Some(seen(10, 1000, true)));
        for i in 1..=RECENT_MAX as u16 {
            recent.record(addr(i), seen(100 + u64::from(i), 1000, true));
        }
        assert_eq!(recent.latest(addr(0)), None, "the oldest went first");
        assert_eq!(
            recent.latest(addr(RECENT_MAX as u16)),
            Some(seen(100 + RECENT_MAX as u64, 1000, true))
        );
    }
}
