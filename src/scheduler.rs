//! Runs every origin's checks on its interval. Each origin has its own task, so a slow or hung
//! origin delays no other; one [`Budget`] (shared with `/probe`) caps how many origins are probed
//! at once; first runs are spread over the interval by a stable hash of the name, so a start or
//! reload causes no burst. A reload restarts only the origins whose settings changed; a panic in
//! a cycle is caught, counted, and the origin keeps its schedule.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant, MissedTickBehavior};
use tracing::error;

use crate::checks::{Memory, ProbeContext};
use crate::config::Config;
use crate::cycle::{self, Snapshot};
use crate::store::{Slot, Store};

/// How many origins are probed at once, by the scheduler and `/probe` together
/// (`global.concurrency`). Resized on reload without stopping anything: probes holding a permit
/// of the old size finish under it.
#[derive(Debug)]
pub struct Budget {
    permits: ArcSwap<Semaphore>,
    size: std::sync::atomic::AtomicUsize,
}

impl Budget {
    pub fn new(size: usize) -> Self {
        Budget {
            permits: ArcSwap::from_pointee(Semaphore::new(size)),
            size: size.into(),
        }
    }

    pub fn resize(&self, size: usize) {
        use std::sync::atomic::Ordering;
        if self.size.swap(size, Ordering::AcqRel) != size {
            self.permits.store(Arc::new(Semaphore::new(size)));
        }
    }

    /// Waits for a permit; `None` once the budget is closed.
    pub async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.load_full().acquire_owned().await.ok()
    }
}

pub struct Scheduler {
    store: Arc<Store>,
    running: HashMap<String, Running>,
    ctx: Arc<ArcSwap<ProbeContext>>,
    budget: Arc<Budget>,
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

/// What every origin's task shares.
struct Shared {
    ctx: Arc<ArcSwap<ProbeContext>>,
    budget: Arc<Budget>,
    store: Arc<Store>,
}

impl Scheduler {
    pub fn new(store: Arc<Store>, ctx: Arc<ProbeContext>, budget: Arc<Budget>) -> Self {
        Scheduler {
            store,
            running: HashMap::new(),
            ctx: Arc::new(ArcSwap::new(ctx)),
            budget,
        }
    }

    /// Makes `config` the running one: new origins start, removed ones stop and their series
    /// vanish; an origin whose settings changed restarts and keeps its latest snapshot until its
    /// first new cycle ends; unchanged ones keep their task, schedule and snapshot. A new probe
    /// context or concurrency applies from each origin's next cycle.
    pub fn apply(&mut self, config: &Config, ctx: Arc<ProbeContext>) {
        if !Arc::ptr_eq(&self.ctx.load(), &ctx) {
            self.ctx.store(ctx);
        }
        self.budget.resize(config.global.concurrency);
        let mut next = HashMap::with_capacity(config.origins.len());
        for origin in &config.origins {
            let running = match self.running.remove(&origin.name) {
                Some(r) if *r.slot.origin == **origin => r,
                Some(changed) => self.start(Slot::succeeding(Arc::clone(origin), &changed.slot)),
                None => self.start(Slot::new(Arc::clone(origin))),
            };
            next.insert(origin.name.clone(), running);
        }
        // What is left in `running` was removed: dropping it aborts its task.
        self.running = next;
        self.store
            .replace(self.running.values().map(|r| Arc::clone(&r.slot)).collect());
    }

    fn start(&self, slot: Slot) -> Running {
        let slot = Arc::new(slot);
        let shared = Shared {
            ctx: Arc::clone(&self.ctx),
            budget: Arc::clone(&self.budget),
            store: Arc::clone(&self.store),
        };
        let task = tokio::spawn(run(Arc::clone(&slot), shared));
        Running { slot, task }
    }

    /// Origins running.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Stops every origin's task.
    pub fn stop(&mut self) {
        self.running.clear();
    }
}

async fn run(slot: Arc<Slot>, shared: Shared) {
    let origin = Arc::clone(&slot.origin);
    sleep(first_run_offset(&origin.name, origin.interval)).await;
    let mut ticker = tokio::time::interval_at(Instant::now(), origin.interval);
    // A cycle that overran its interval is followed by the next one at once, then on schedule.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut memory = Memory::scheduled();
    loop {
        ticker.tick().await;
        let Some(_permit) = shared.budget.acquire().await else {
            return; // closed: the scheduler is gone
        };
        let ctx = shared.ctx.load_full();
        // Boxed: the cycle's state (13 KB: every check's futures) lives only while it runs. A
        // task holds its future's largest state for its whole life, so inline it would cost
        // 13 KB per origin for good instead of per running probe.
        let cycle = Box::pin(cycle::run(&origin, &ctx, &mut memory));
        match AssertUnwindSafe(cycle).catch_unwind().await {
            Ok(snapshot) => {
                count(&shared.store, &snapshot);
                slot.publish(Arc::new(snapshot));
            }
            Err(panic) => {
                shared.store.counters.count_panic();
                // What the checks remembered may be half-updated: start afresh.
                memory = Memory::scheduled();
                error!(origin = %origin.name, panic = panic_message(&panic), "probe cycle panicked; the origin keeps being probed");
            }
        }
    }
}

/// Counts every enabled check's run by how it ended.
fn count(store: &Store, snapshot: &Snapshot) {
    for status in &snapshot.diagnosis.checks {
        if let Some(result) = status.result() {
            store.counters.count_probe(status.check, result);
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
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

    /// What each origin's task holds between its cycles stays small (see `run`).
    #[test]
    fn an_idle_origin_task_is_small() {
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let ctx = Arc::new(ProbeContext::new(&cfg.global).expect("context"));
        let shared = Shared {
            ctx: Arc::new(ArcSwap::new(ctx)),
            budget: Arc::new(Budget::new(1)),
            store: Arc::new(Store::default()),
        };
        let task = run(Arc::new(Slot::new(Arc::clone(&cfg.origins[0]))), shared);
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
