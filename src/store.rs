//! The latest results of every origin: one immutable snapshot per origin, swapped in atomically
//! by the scheduler and read lock-free by scrapes and the landing page.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::config::Origin;
use crate::diagnose::Diagnosis;
use crate::probe::OriginResults;

/// What one probe cycle of one origin produced.
#[derive(Debug)]
pub struct Snapshot {
    pub results: OriginResults,
    pub diagnosis: Diagnosis,
    pub finished_at: SystemTime,
}

/// One configured origin and its latest snapshot (none before its first cycle ends).
#[derive(Debug)]
pub struct Slot {
    pub origin: Arc<Origin>,
    latest: ArcSwapOption<Snapshot>,
}

impl Slot {
    pub fn new(origin: Arc<Origin>) -> Self {
        Slot {
            origin,
            latest: ArcSwapOption::empty(),
        }
    }

    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.load_full()
    }

    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        self.latest.store(Some(snapshot));
    }
}

/// Every configured origin's slot, sorted by name. Replaced as a whole on reload.
#[derive(Debug, Default)]
pub struct Store {
    slots: ArcSwap<Vec<Arc<Slot>>>,
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

    /// Every origin has finished at least one cycle.
    pub fn all_probed(&self) -> bool {
        self.slots.load().iter().all(|s| s.latest.load().is_some())
    }
}
