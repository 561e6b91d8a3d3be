//! Runs every origin's checks on its interval. Each origin has its own task, so a slow or hung
//! origin delays no other; a semaphore caps how many origins are probed at once; first runs are
//! spread over the interval by a stable hash of the name, so a start or reload causes no burst.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant, MissedTickBehavior};

use crate::config::{Check, Config, Origin};
use crate::diagnose::diagnose;
use crate::metrics::{ExporterMetrics, ProbeResult};
use crate::probe::{self, OriginResults, Outcome, ProbeContext};
use crate::store::{Slot, Snapshot, Store};

pub struct Scheduler {
    store: Arc<Store>,
    metrics: Arc<ExporterMetrics>,
    running: HashMap<String, Running>,
    ctx: Option<Arc<ProbeContext>>,
    limiter: Arc<Semaphore>,
}

struct Running {
    slot: Arc<Slot>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scheduler {
    pub fn new(store: Arc<Store>, metrics: Arc<ExporterMetrics>) -> Self {
        Scheduler {
            store,
            metrics,
            running: HashMap::new(),
            ctx: None,
            limiter: Arc::new(Semaphore::new(1)),
        }
    }

    /// Makes `config` the running one: new origins start, removed ones stop and their series
    /// vanish, changed ones restart; unchanged ones keep their task and latest results. A change
    /// of global settings restarts every origin with a fresh probe context.
    pub fn apply(&mut self, config: &Config, ctx: Arc<ProbeContext>) -> Arc<ProbeContext> {
        let ctx = match &self.ctx {
            Some(current) if current.global == config.global => Arc::clone(current),
            _ => {
                self.running.clear();
                self.limiter = Arc::new(Semaphore::new(config.global.concurrency));
                self.ctx = Some(Arc::clone(&ctx));
                ctx
            }
        };

        let mut next = HashMap::with_capacity(config.origins.len());
        for origin in &config.origins {
            let kept = self
                .running
                .remove(&origin.name)
                .filter(|r| *r.slot.origin == **origin);
            let running = kept.unwrap_or_else(|| self.start(Arc::clone(origin), &ctx));
            next.insert(origin.name.clone(), running);
        }
        // What is left in `running` was removed or changed: dropping it aborts its task.
        self.running = next;
        self.store
            .replace(self.running.values().map(|r| Arc::clone(&r.slot)).collect());
        self.metrics.origins.set(self.running.len() as i64);
        ctx
    }

    fn start(&self, origin: Arc<Origin>, ctx: &Arc<ProbeContext>) -> Running {
        let slot = Arc::new(Slot::new(origin));
        let task = tokio::spawn(run(
            Arc::clone(&slot),
            Arc::clone(ctx),
            Arc::clone(&self.limiter),
            Arc::clone(&self.metrics),
        ));
        Running { slot, task }
    }

    /// Stops every origin's task.
    pub fn stop(&mut self) {
        self.running.clear();
    }
}

async fn run(
    slot: Arc<Slot>,
    ctx: Arc<ProbeContext>,
    limiter: Arc<Semaphore>,
    metrics: Arc<ExporterMetrics>,
) {
    let origin = Arc::clone(&slot.origin);
    sleep(first_run_offset(&origin.name, origin.interval)).await;
    let mut ticker = tokio::time::interval_at(Instant::now(), origin.interval);
    // A cycle that overran its interval is followed by the next one at once, then on schedule.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut memory = probe::Memory::default();
    loop {
        ticker.tick().await;
        let Ok(_permit) = limiter.acquire().await else {
            return; // closed: the scheduler is gone
        };
        // Boxed: the probe's state (13 KB: every check's futures) lives only while it runs. A
        // task holds its future's largest state for its whole life, so inline it would cost
        // 13 KB per origin for good (130 MB at 10,000 origins) instead of per running probe.
        let snapshot = Box::pin(probe_cycle(&origin, &ctx, &metrics, &mut memory)).await;
        slot.publish(Arc::new(snapshot));
    }
}

/// One full cycle of one origin, remembering nothing: every check, the verdict, the counters.
pub async fn probe_once(
    origin: &Origin,
    ctx: &ProbeContext,
    metrics: &ExporterMetrics,
) -> Snapshot {
    probe_cycle(origin, ctx, metrics, &mut probe::Memory::default()).await
}

/// One cycle of one origin's scheduled probing, with what its earlier cycles left in `memory`.
pub async fn probe_cycle(
    origin: &Origin,
    ctx: &ProbeContext,
    metrics: &ExporterMetrics,
    memory: &mut probe::Memory,
) -> Snapshot {
    let results = probe::probe_origin_with(origin, ctx, memory).await;
    let diagnosis = diagnose(origin, &results);
    for &(check, ok) in &diagnosis.check_success {
        if let Some(result) = probe_result(check, ok, &results) {
            metrics.count_probe(check, result);
        }
    }
    Snapshot {
        results,
        diagnosis,
        finished_at: SystemTime::now(),
    }
}

fn probe_result(check: Check, ok: bool, results: &OriginResults) -> Option<ProbeResult> {
    let timed_out = match check {
        Check::Dns => match (&results.resolution, &results.dns) {
            (None, None) => None,
            (r, d) => Some(
                r.as_ref().is_some_and(|r| r.timed_out())
                    || d.as_ref().is_some_and(|d| d.timed_out()),
            ),
        },
        Check::Tcp => results
            .tcp
            .as_ref()
            .map(|r| r.timed_out() || matches!(r.outcome, Outcome::NotRun(_))),
        // A TLS check that did not run (closed port, no address) is not counted; one whose
        // CDN hello got no answer in time is a timeout.
        Check::Tls => match results.tls.as_ref().map(|r| &r.outcome) {
            None | Some(Outcome::NotRun(_)) => None,
            Some(Outcome::TimedOut) => Some(true),
            Some(Outcome::Completed(report)) => Some(matches!(
                report.handshake,
                probe::Handshake::Failed(probe::tls::Reply::TimedOut)
            )),
        },
        Check::Http => results.http.as_ref().map(|r| {
            r.timed_out()
                || matches!(
                    r.completed().map(|h| &h.outcome),
                    Some(crate::probe::HttpOutcome::HeadersTimedOut)
                )
        }),
    };
    match (timed_out?, ok) {
        (true, _) => Some(ProbeResult::Timeout),
        (false, true) => Some(ProbeResult::Success),
        (false, false) => Some(ProbeResult::Failure),
    }
}

/// Where in its interval an origin's first run falls: stable for a name, spread evenly.
pub fn first_run_offset(name: &str, interval: Duration) -> Duration {
    let nanos = interval.as_nanos().max(1) as u64;
    Duration::from_nanos(stable_hash(name) % nanos)
}

/// FNV-1a: stable across processes and versions, unlike `std`'s randomly keyed hasher.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_probes_are_counted_by_how_the_cdn_hello_ended() {
        use crate::probe::tls::Reply;
        use crate::probe::{CheckRun, Handshake, NotRun, TlsReport};
        let run = |outcome| OriginResults {
            tls: Some(CheckRun {
                duration: Duration::from_millis(3),
                outcome,
            }),
            ..OriginResults::default()
        };
        let report = |handshake| {
            Outcome::Completed(TlsReport {
                address: "127.0.0.1:443".parse().expect("address"),
                cdn_reply: Reply::TimedOut,
                handshake,
                negotiated: None,
                protocols: Vec::new(),
                chain: None,
            })
        };
        let cases = [
            (
                run(report(Handshake::Accepted)),
                true,
                Some(ProbeResult::Success),
            ),
            (
                run(report(Handshake::Failed(Reply::NotTls))),
                false,
                Some(ProbeResult::Failure),
            ),
            (
                run(report(Handshake::Failed(Reply::TimedOut))),
                false,
                Some(ProbeResult::Timeout),
            ),
            (run(Outcome::TimedOut), false, Some(ProbeResult::Timeout)),
            (run(Outcome::NotRun(NotRun::PortClosed)), false, None),
        ];
        for (results, ok, want) in cases {
            assert_eq!(probe_result(Check::Tls, ok, &results), want);
        }
    }

    /// What each origin's task holds between its cycles stays small (see `run`).
    #[test]
    fn an_idle_origin_task_is_small() {
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let ctx = Arc::new(ProbeContext::new(&cfg.global).expect("context"));
        let task = run(
            Arc::new(Slot::new(Arc::clone(&cfg.origins[0]))),
            ctx,
            Arc::new(Semaphore::new(1)),
            Arc::new(ExporterMetrics::default()),
        );
        let size = std::mem::size_of_val(&task);
        assert!(size < 1024, "an origin's task future is {size} bytes");
    }

    #[test]
    fn first_runs_spread_over_the_interval() {
        let interval = Duration::from_secs(60);
        let mut buckets = [0u32; 6];
        for i in 0..6000 {
            let offset = first_run_offset(&format!("origin-{i}"), interval);
            assert!(offset < interval);
            buckets[(offset.as_secs() / 10) as usize] += 1;
        }
        for b in buckets {
            assert!((900..1100).contains(&b), "uneven spread: {buckets:?}");
        }
    }

    #[test]
    fn offsets_are_stable() {
        let i = Duration::from_secs(60);
        assert_eq!(first_run_offset("shop", i), first_run_offset("shop", i));
        // Published FNV-1a 64 test vectors: shards and offsets must not change between versions.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
