//! The latest results of every origin: one immutable snapshot per origin, swapped in atomically
//! by the scheduler and read lock-free by scrapes and the landing page; and the scheduler's
//! counters. The store knows nothing of how it is exposed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::checks::{Check, Ran};
use crate::config::Origin;
pub use crate::cycle::Snapshot;

/// One configured origin and its latest snapshot (none before its first cycle ends).
#[derive(Debug)]
pub struct Slot {
    pub origin: Arc<Origin>,
    latest: ArcSwapOption<Snapshot>,
    /// A cycle of the origin has ended, with a snapshot or with a panic (which leaves none).
    cycled: AtomicBool,
    /// The origin's series as last rendered for `/metrics` (see `prerender`), and from which
    /// snapshot: the store only keeps them.
    rendered: ArcSwapOption<crate::prerender::Block>,
}

impl Slot {
    pub fn new(origin: Arc<Origin>) -> Self {
        Slot {
            origin,
            latest: ArcSwapOption::empty(),
            cycled: AtomicBool::new(false),
            rendered: ArcSwapOption::empty(),
        }
    }

    /// A slot for changed settings of an origin that keeps the previous latest snapshot until
    /// its first cycle under the new settings ends.
    pub fn succeeding(origin: Arc<Origin>, previous: &Slot) -> Self {
        Slot {
            origin,
            latest: ArcSwapOption::new(previous.latest()),
            cycled: AtomicBool::new(previous.cycled()),
            // Its settings (labels among them) changed: its series are rendered again.
            rendered: ArcSwapOption::empty(),
        }
    }

    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.load_full()
    }

    pub fn rendered(&self) -> Option<Arc<crate::prerender::Block>> {
        self.rendered.load_full()
    }

    pub fn set_rendered(&self, block: Arc<crate::prerender::Block>) {
        self.rendered.store(Some(block));
    }

    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        self.latest.store(Some(snapshot));
        self.cycled.store(true, Ordering::Release);
    }

    /// A cycle ended without a snapshot (it panicked; the panic is counted apart). For
    /// readiness it has finished: an origin whose every cycle panics must not keep the whole
    /// exporter unready.
    pub fn cycle_failed(&self) {
        self.cycled.store(true, Ordering::Release);
    }

    /// A cycle of the origin has ended, however.
    pub fn cycled(&self) -> bool {
        self.cycled.load(Ordering::Acquire)
    }

    /// Replaces the latest snapshot with what `amend` makes of it (`None`: nothing to change).
    /// A cycle that publishes meanwhile is not overwritten: `amend` runs again on its snapshot.
    pub fn amend(&self, amend: impl Fn(&Snapshot) -> Option<Snapshot>) {
        self.latest
            .rcu(|current| match current.as_deref().and_then(&amend) {
                Some(amended) => Some(Arc::new(amended)),
                None => current.clone(),
            });
    }
}

/// Every configured origin's slot, sorted by name. Replaced as a whole on reload.
#[derive(Debug, Default)]
pub struct Store {
    slots: ArcSwap<Vec<Arc<Slot>>>,
    /// Set once every origin has finished a cycle; a reload never clears it.
    ready: AtomicBool,
    pub counters: Counters,
    /// How late the scheduler is, asked at scrape time; none before a scheduler runs.
    lag: Mutex<Option<Arc<dyn Lag>>>,
}

/// The scheduler's answer to "how late is the most overdue origin now".
pub trait Lag: Send + Sync + std::fmt::Debug {
    /// Now minus the scheduled start of the most overdue origin; zero when none is overdue.
    fn lag(&self) -> Duration;
}

impl Store {
    pub fn slots(&self) -> Arc<Vec<Arc<Slot>>> {
        self.slots.load_full()
    }

    pub fn replace(&self, mut slots: Vec<Arc<Slot>>) {
        slots.sort_by(|a, b| a.origin.name.cmp(&b.origin.name));
        self.slots.store(Arc::new(slots));
    }

    pub fn get(&self, name: &str) -> Option<Arc<Slot>> {
        let slots = self.slots.load();
        slots
            .binary_search_by(|s| s.origin.name.as_str().cmp(name))
            .ok()
            .map(|i| Arc::clone(&slots[i]))
    }

    /// Every origin has finished at least one cycle (a panicked cycle counts: see
    /// [`Slot::cycle_failed`]).
    pub fn all_probed(&self) -> bool {
        self.slots.load().iter().all(|s| s.cycled())
    }

    /// The scheduler that runs this store's origins says how late it is through `lag`.
    pub fn set_lag(&self, lag: Arc<dyn Lag>) {
        if let Ok(mut l) = self.lag.lock() {
            *l = Some(lag);
        }
    }

    /// How late the most overdue origin is now (zero without a scheduler).
    pub fn lag(&self) -> Duration {
        let lag = self.lag.lock().ok().and_then(|l| l.clone());
        lag.map_or(Duration::ZERO, |l| l.lag())
    }

    /// Ready once every origin has finished its first cycle (and, with discovery, once its
    /// first refresh has `settled`, so that the discovered origins are among them), and from
    /// then on: origins a reload adds do not make a running exporter unready.
    pub fn ready(&self, settled: bool) -> bool {
        if self.ready.load(Ordering::Acquire) {
            return true;
        }
        let ready = settled && self.all_probed();
        if ready {
            self.ready.store(true, Ordering::Release);
        }
        ready
    }
}

/// What the scheduler counts: checks run by result, panicked cycles, and restarts of its
/// driver.
#[derive(Debug, Default)]
pub struct Counters {
    probes: [[AtomicU64; Ran::RESULTS.len()]; Check::ALL.len()],
    task_panics: AtomicU64,
    scheduler_restarts: AtomicU64,
}

impl Counters {
    /// Counts one run of `check` that ended with `result` (one of [`Ran::RESULTS`]).
    pub fn count_probe(&self, check: Check, result: &str) {
        if let Some(r) = Ran::RESULTS.iter().position(|&x| x == result) {
            self.probes[check.index()][r].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn probes(&self, check: Check, result: &str) -> u64 {
        Ran::RESULTS
            .iter()
            .position(|&x| x == result)
            .map_or(0, |r| self.probes[check.index()][r].load(Ordering::Relaxed))
    }

    pub fn count_panic(&self) {
        self.task_panics.fetch_add(1, Ordering::Relaxed);
    }

    pub fn task_panics(&self) -> u64 {
        self.task_panics.load(Ordering::Relaxed)
    }

    pub fn count_scheduler_restart(&self) {
        self.scheduler_restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn scheduler_restarts(&self) -> u64 {
        self.scheduler_restarts.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_each_check_and_result_apart() {
        let c = Counters::default();
        let (a, b) = (Check::ALL[1], Check::ALL[2]);
        c.count_probe(a, "not_run");
        c.count_probe(a, "not_run");
        c.count_probe(b, "timeout");
        c.count_probe(b, "bogus");
        assert_eq!(c.probes(a, "not_run"), 2);
        assert_eq!(c.probes(a, "timeout"), 0);
        assert_eq!(c.probes(b, "timeout"), 1);
        assert_eq!(c.probes(b, "bogus"), 0);
        c.count_panic();
        assert_eq!(c.task_panics(), 1);
        c.count_scheduler_restart();
        assert_eq!(c.scheduler_restarts(), 1);
    }

    /// A cycle that panicked leaves no snapshot but counts as finished for readiness, and a
    /// changed origin's successor slot keeps that.
    #[test]
    fn a_panicked_cycle_counts_as_finished_for_readiness() {
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example}, {name: b, domain: b.example}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let store = Store::default();
        let slots: Vec<Arc<Slot>> = cfg
            .origins
            .iter()
            .map(|o| Arc::new(Slot::new(Arc::clone(o))))
            .collect();
        store.replace(slots.clone());
        assert!(!store.ready(true));
        slots[0].cycle_failed();
        assert!(!store.ready(true), "b has not finished a cycle yet");
        let successor = Slot::succeeding(Arc::clone(&slots[1].origin), &slots[0]);
        assert!(successor.cycled() && successor.latest().is_none());
        slots[1].cycle_failed();
        assert!(!store.ready(false), "discovery has not settled");
        assert!(store.ready(true));
    }
}
