//! Runs every origin's checks on its interval. One driver task keeps every origin's next run in
//! a queue ordered by time and starts each cycle, when due, as a task of its own that lives only
//! while the cycle runs: an idle origin costs an entry in that queue, not a task and a timer of
//! its own (about 0.5 KB each, 50 MB at 100,000 origins), and a slow or hung origin delays no
//! other. One [`Budget`] (shared with `/probe`) caps how many origins are probed at once; first
//! runs are spread by a stable hash of the name over as long as the budget needs to probe every
//! starting origin once (at most the interval), so a start or reload causes no burst and a small
//! fleet is not left pending. A reload restarts only the origins whose settings changed; a panic in a cycle is
//! caught, counted, and the origin keeps its schedule. The driver itself is supervised: a driver
//! that ends is started again (the queue it works on outlives it) and counted, and how late the
//! most overdue origin is can be read at any time ([`Lag`]).

use std::cmp::Ordering as ByTime;
use std::collections::{BinaryHeap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{sleep_until, Instant};
use tracing::error;

use crate::checks::{Lingering, Memory, ProbeContext};
use crate::config::Config;
use crate::cycle::{self, Snapshot};
use crate::store::{Lag, Slot, Store};

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
    running: HashMap<String, Arc<Entry>>,
    shared: Arc<Shared>,
    queue: Arc<Queue>,
    /// The supervisor of the driver; aborting it aborts the driver.
    supervisor: JoinHandle<()>,
}

/// What the driver and every cycle share.
struct Shared {
    ctx: ArcSwap<ProbeContext>,
    budget: Arc<Budget>,
    store: Arc<Store>,
    /// Test-only fault: the driver panics when it next looks at the queue.
    #[cfg(test)]
    panic_driver: AtomicBool,
}

/// One scheduled origin.
struct Entry {
    slot: Arc<Slot>,
    /// What its checks remember between cycles: taken by the running cycle, put back after it.
    memory: Mutex<Memory>,
    /// Removed, or replaced by changed settings: no further cycle starts.
    stopped: AtomicBool,
    /// The running cycle, aborted when the origin stops.
    cycle: Mutex<Option<AbortHandle>>,
}

impl Entry {
    fn new(slot: Slot) -> Self {
        Entry {
            slot: Arc::new(slot),
            memory: Mutex::new(Memory::scheduled()),
            stopped: AtomicBool::new(false),
            cycle: Mutex::new(None),
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(cycle) = lock(&self.cycle).take() {
            cycle.abort();
        }
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// Every origin's next run, earliest first. A stopped origin's run is dropped when it comes up.
/// A run leaves the queue only when its cycle starts (with a permit of the budget), so a run
/// waiting for a permit is still here and counts in the [`Lag`].
#[derive(Default)]
struct Queue {
    due: Mutex<BinaryHeap<Due>>,
    /// Wakes the driver when a run is queued before the one it sleeps for.
    wake: Notify,
}

impl Queue {
    fn push(&self, at: Instant, entry: Arc<Entry>) {
        let first = {
            let mut due = lock(&self.due);
            let first = due.peek().is_none_or(|d| at < d.at);
            due.push(Due { at, entry });
            first
        };
        if first {
            self.wake.notify_one();
        }
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("queued", &lock(&self.due).len())
            .finish()
    }
}

impl Lag for Queue {
    fn lag(&self) -> Duration {
        let first = lock(&self.due).peek().map(|d| d.at);
        first.map_or(Duration::ZERO, |at| {
            Instant::now().saturating_duration_since(at)
        })
    }
}

struct Due {
    at: Instant,
    entry: Arc<Entry>,
}

/// Reversed: `BinaryHeap` pops its greatest element, the queue its earliest.
impl Ord for Due {
    fn cmp(&self, other: &Self) -> ByTime {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<ByTime> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

/// A poisoned lock only means a cycle panicked while holding it; what it guards stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Scheduler {
    /// Starts the driver under its supervisor: must be called within the runtime. The store
    /// learns how late the scheduler is from its queue.
    pub fn new(store: Arc<Store>, ctx: Arc<ProbeContext>, budget: Arc<Budget>) -> Self {
        let queue = Arc::new(Queue::default());
        store.set_lag(Arc::clone(&queue) as Arc<dyn Lag>);
        let shared = Arc::new(Shared {
            ctx: ArcSwap::new(ctx),
            budget,
            store,
            #[cfg(test)]
            panic_driver: AtomicBool::new(false),
        });
        let supervisor = tokio::spawn(supervise(Arc::clone(&queue), Arc::clone(&shared)));
        Scheduler {
            running: HashMap::new(),
            shared,
            queue,
            supervisor,
        }
    }

    /// Makes `config` the running one: new origins start, removed ones stop and their series
    /// vanish; an origin whose settings changed restarts and keeps its latest snapshot until its
    /// first new cycle ends; unchanged ones keep their schedule, memory and snapshot. A new probe
    /// context or concurrency applies from each origin's next cycle.
    pub fn apply(&mut self, config: &Config, ctx: Arc<ProbeContext>) {
        if !Arc::ptr_eq(&self.shared.ctx.load(), &ctx) {
            self.shared.ctx.store(ctx);
        }
        self.shared.budget.resize(config.global.concurrency);
        let starting = config
            .origins
            .iter()
            .filter(|o| {
                self.running
                    .get(&o.name)
                    .is_none_or(|e| *e.slot.origin != ***o)
            })
            .count();
        let spread = first_run_spread(starting, config.global.concurrency);
        let mut next = HashMap::with_capacity(config.origins.len());
        for origin in &config.origins {
            let entry = match self.running.remove(&origin.name) {
                Some(e) if *e.slot.origin == **origin => e,
                Some(changed) => {
                    changed.stop();
                    self.start(Slot::succeeding(Arc::clone(origin), &changed.slot), spread)
                }
                None => self.start(Slot::new(Arc::clone(origin)), spread),
            };
            next.insert(origin.name.clone(), entry);
        }
        // What is left in `running` was removed.
        for removed in self.running.values() {
            removed.stop();
        }
        self.running = next;
        self.shared
            .store
            .replace(self.running.values().map(|e| Arc::clone(&e.slot)).collect());
    }

    /// Queues `slot`'s first run within `spread` (and within its interval).
    fn start(&self, slot: Slot, spread: Duration) -> Arc<Entry> {
        let offset = first_run_offset(&slot.origin.name, spread.min(slot.origin.interval));
        let entry = Arc::new(Entry::new(slot));
        self.queue.push(Instant::now() + offset, Arc::clone(&entry));
        entry
    }

    /// Origins running.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Stops every origin.
    pub fn stop(&mut self) {
        for entry in self.running.values() {
            entry.stop();
        }
        self.running.clear();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
        self.supervisor.abort();
    }
}

/// After a restart, a driver that ends again within this time is restarted only after it: a
/// driver that panics at once every time must not spin a CPU.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Runs the driver, and starts it again (counted in `origin_exporter_scheduler_restarts_total`
/// and logged) whenever it ends: every origin's next run is in the queue, which outlives the
/// driver, so a new driver carries on where the old one stopped. Ends when aborted (and then
/// aborts the driver) or when the driver was cancelled (the runtime is shutting down).
async fn supervise(queue: Arc<Queue>, shared: Arc<Shared>) {
    /// Aborts the driver when the supervisor is aborted (dropped at an await).
    struct Abort(JoinHandle<()>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut last_restart: Option<Instant> = None;
    loop {
        let mut driver = Abort(tokio::spawn(drive(Arc::clone(&queue), Arc::clone(&shared))));
        let why = match (&mut driver.0).await {
            Err(e) if e.is_cancelled() => return,
            Err(_) => "panicked",
            Ok(()) => "returned",
        };
        shared.store.counters.count_scheduler_restart();
        error!(
            queued = lock(&queue.due).len(),
            "the scheduler's driver {why}; starting it again"
        );
        if last_restart.is_some_and(|t| t.elapsed() < RESTART_PAUSE) {
            tokio::time::sleep(RESTART_PAUSE).await;
        }
        last_restart = Some(Instant::now());
    }
}

/// Starts each origin's cycle when it is due, in time order, each once it holds a permit of the
/// budget. Only returns if the budget is closed (it never is): the supervisor restarts it then.
async fn drive(queue: Arc<Queue>, shared: Arc<Shared>) {
    loop {
        #[cfg(test)]
        if shared.panic_driver.swap(false, Ordering::AcqRel) {
            panic!("fault injected into the scheduler's driver");
        }
        let next = {
            let mut due = lock(&queue.due);
            // Runs of stopped origins go as soon as they come up, before waiting for a permit.
            while due.peek().is_some_and(|d| d.entry.stopped()) {
                due.pop();
            }
            due.peek().map(|d| d.at)
        };
        match next {
            None => queue.wake.notified().await,
            Some(at) if at > Instant::now() => {
                tokio::select! {
                    () = sleep_until(at) => {}
                    () = queue.wake.notified() => {}
                }
            }
            Some(_) => {
                // The run stays queued while it waits (it counts in the lag); the permit goes
                // to whichever run is earliest once it is had.
                let Some(permit) = shared.budget.acquire().await else {
                    return; // closed: nothing can run any more
                };
                let Some(Due { at, entry }) = lock(&queue.due).pop() else {
                    continue;
                };
                if !entry.stopped() {
                    start_cycle(at, entry, permit, &queue, &shared);
                }
            }
        }
    }
}

/// Runs one cycle of `entry` (due at `at`) as a task of its own, then queues its next one: one
/// interval after `at`, or at once when the cycle overran it (and on schedule from then on).
/// Work the cycle's checks left running (the keep-alive watch) goes on in the same task after the
/// budget slot is given back and the next cycle is queued: it holds up neither, and what it
/// finds amends the origin's latest snapshot when it ends.
fn start_cycle(
    at: Instant,
    entry: Arc<Entry>,
    permit: OwnedSemaphorePermit,
    queue: &Arc<Queue>,
    shared: &Arc<Shared>,
) {
    // Held while the task is spawned, so that the task cannot clear its handle before it is
    // stored.
    let mut running = lock(&entry.cycle);
    let task = tokio::spawn({
        let entry = Arc::clone(&entry);
        let queue = Arc::clone(queue);
        let shared = Arc::clone(shared);
        async move {
            let lingering = run_cycle(&entry, &shared).await;
            drop(permit);
            let next = (at + entry.slot.origin.interval).max(Instant::now());
            if !entry.stopped() {
                queue.push(next, Arc::clone(&entry));
            }
            if let Some(lingering) = lingering.filter(|l| !l.is_empty()) {
                // Each task is bounded (keepalive_timeout + 1 s); a stopped origin's cycle task
                // is aborted, and its lingering work with it, unless its next cycle already
                // started (then it ends within that bound).
                let found = lingering.settle(None).await;
                if !entry.stopped() {
                    let origin = &entry.slot.origin;
                    entry
                        .slot
                        .amend(|latest| cycle::amended(origin, latest, &found));
                    render(&entry.slot);
                }
            }
            // A handle keeps the finished task's memory (the cycle's whole state) allocated:
            // drop it now, not at the next cycle.
            let mut running = lock(&entry.cycle);
            if running
                .as_ref()
                .is_some_and(|h| h.id() == tokio::task::id())
            {
                *running = None;
            }
        }
    });
    *running = Some(task.abort_handle());
}

/// Runs one cycle and publishes its snapshot; what its checks left running, unless it panicked.
async fn run_cycle(entry: &Entry, shared: &Shared) -> Option<Lingering> {
    let origin = &entry.slot.origin;
    let ctx = shared.ctx.load_full();
    // Fresh memory in the entry while the cycle runs: after a panic it stays fresh, since what
    // the checks remembered may be half-updated.
    let mut memory = std::mem::replace(&mut *lock(&entry.memory), Memory::scheduled());
    let cycle = cycle::start(origin, &ctx, &mut memory);
    match AssertUnwindSafe(cycle).catch_unwind().await {
        Ok((snapshot, lingering)) => {
            count(&shared.store, &snapshot);
            entry.slot.publish(Arc::new(snapshot));
            render(&entry.slot);
            *lock(&entry.memory) = memory;
            Some(lingering)
        }
        Err(panic) => {
            shared.store.counters.count_panic();
            entry.slot.cycle_failed();
            error!(origin = %origin.name, panic = panic_message(&panic), "probe cycle panicked; the origin keeps being probed");
            None
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

/// Renders the slot's new snapshot for `/metrics` now, once, so that scrapes only copy it
/// (`prerender`): tens of microseconds, less than the cycle's own handshake verification. A
/// panic in an encoder goes no further than a log line: the cycle must still schedule the
/// origin's next one (the next scrape renders it again, and a panic there ends that scrape
/// only, as the encoders always did).
fn render(slot: &Slot) {
    if let Err(panic) =
        std::panic::catch_unwind(AssertUnwindSafe(|| crate::prerender::current(slot)))
    {
        error!(origin = %slot.origin.name, panic = panic_message(&panic), "rendering the origin's series panicked");
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// What a first cycle is taken to last when first runs are spread: most end well within it on
/// a working network; the slow ones (timeouts) hold a permit longer, and wait their turn.
const TYPICAL_CYCLE: Duration = Duration::from_secs(1);

/// How far the first runs of `starting` origins are spread: the time `concurrency` permits take
/// to probe them all once at [`TYPICAL_CYCLE`] each. Bounded by each origin's interval where it
/// is used. A few dozen origins all start within a second instead of over a whole interval (a
/// landing page showing most of them pending for a minute); 100,000 under 64 permits still
/// spread over the interval.
pub fn first_run_spread(starting: usize, concurrency: usize) -> Duration {
    let rounds = starting.div_ceil(concurrency.max(1));
    TYPICAL_CYCLE.saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX))
}

/// Where in `window` an origin's first run falls: stable for a name, spread evenly.
pub fn first_run_offset(name: &str, window: Duration) -> Duration {
    let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(crate::stable_hash::stable_hash(name) % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an idle origin costs the scheduler: its entry and its place in the queue (its
    /// settings and snapshot live in its slot), not a task and a timer of its own. Its checks'
    /// memory is a slot per check, inline (two words each; 6 checks in a test build), rather
    /// than a vector and its allocation.
    #[test]
    fn an_idle_origin_is_small() {
        let size = std::mem::size_of::<Entry>() + std::mem::size_of::<Due>();
        assert!(
            size <= 88 + 16 * crate::checks::CHECKS,
            "an idle origin costs the scheduler {size} bytes"
        );
    }

    /// The queue gives the earliest run first, whatever the order runs were queued in.
    #[test]
    fn the_queue_is_earliest_first() {
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let entry = || Arc::new(Entry::new(Slot::new(Arc::clone(&cfg.origins[0]))));
        let queue = Queue::default();
        let now = Instant::now();
        for secs in [30, 10, 50, 20] {
            queue.push(now + Duration::from_secs(secs), entry());
        }
        let mut due = lock(&queue.due);
        let order: Vec<u64> = std::iter::from_fn(|| due.pop())
            .map(|d| (d.at - now).as_secs())
            .collect();
        assert_eq!(order, [10, 20, 30, 50]);
    }

    /// A config of origins `names`, each every 30 s with no checks (a cycle ends at once), one
    /// probed at a time.
    fn config(names: &[&str]) -> Config {
        let items: Vec<String> = names
            .iter()
            .map(|n| format!("{{name: {n}, domain: {n}.invalid, address: 127.0.0.1, interval: 30s, checks: []}}"))
            .collect();
        let yaml = format!(
            "global: {{concurrency: 1}}\norigins: [{}]",
            items.join(", ")
        );
        crate::config::load_str(&yaml, std::path::Path::new("t.yaml")).expect("config")
    }

    /// A scheduler running `names` under `budget` (resized to the config's one permit), and its
    /// store.
    fn running(names: &[&str], budget: &Arc<Budget>) -> (Scheduler, Arc<Store>, Arc<ProbeContext>) {
        let cfg = config(names);
        let ctx = Arc::new(ProbeContext::new(&cfg.global).expect("context"));
        let store = Arc::new(Store::default());
        let mut scheduler =
            Scheduler::new(Arc::clone(&store), Arc::clone(&ctx), Arc::clone(budget));
        scheduler.apply(&cfg, Arc::clone(&ctx));
        (scheduler, store, ctx)
    }

    fn finished(store: &Store, name: &str) -> Option<std::time::SystemTime> {
        store
            .get(name)
            .and_then(|s| s.latest())
            .map(|s| s.finished_at)
    }

    /// Waits (in paused time) until `done` holds; fails after a minute of it.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "never saw {what}");
    }

    /// A stopped origin starts no further cycle; the others keep their schedule.
    #[tokio::test(start_paused = true)]
    async fn removed_origins_stop_and_the_others_keep_running() {
        let (mut scheduler, store, ctx) = running(&["a", "b"], &Arc::new(Budget::new(4)));
        tokio::time::sleep(Duration::from_secs(31)).await;
        let a_first = finished(&store, "a").expect("a ran within its interval");
        assert!(finished(&store, "b").is_some(), "b ran within its interval");
        scheduler.apply(&config(&["a"]), Arc::clone(&ctx));
        assert_eq!(scheduler.len(), 1);
        assert!(store.get("b").is_none(), "b's series vanish with it");
        tokio::time::sleep(Duration::from_secs(31)).await;
        let a_again = finished(&store, "a").expect("a still runs");
        assert!(a_again > a_first, "a ran again after the reload");
        // Between its cycles an origin holds no finished task (its memory would stay allocated).
        let idle = scheduler.running.values().all(|e| lock(&e.cycle).is_none());
        assert!(idle, "a finished cycle's task handle was kept");
        scheduler.stop();
        assert!(scheduler.is_empty());
    }

    /// A driver that panics is started again and counted; the queue outlived it, so every
    /// origin keeps its schedule.
    #[tokio::test(start_paused = true)]
    async fn a_driver_that_panics_is_restarted_and_counted() {
        let (scheduler, store, _) = running(&["a", "b"], &Arc::new(Budget::new(4)));
        tokio::time::sleep(Duration::from_secs(31)).await;
        let before = [finished(&store, "a"), finished(&store, "b")];
        assert!(before.iter().all(Option::is_some), "{before:?}");
        scheduler.shared.panic_driver.store(true, Ordering::Release);
        scheduler.queue.wake.notify_one();
        until("the driver's restart counted", || {
            store.counters.scheduler_restarts() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_secs(31)).await;
        for (name, before) in ["a", "b"].into_iter().zip(before) {
            assert!(
                finished(&store, name) > before,
                "{name} ran after the restart"
            );
        }
        assert_eq!(store.counters.scheduler_restarts(), 1);
        assert_eq!(store.lag(), Duration::ZERO);
    }

    /// An aborted supervisor (a dropped scheduler) takes its driver with it: no task is left.
    #[tokio::test(start_paused = true)]
    async fn dropping_the_scheduler_ends_its_driver() {
        let tasks = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let (scheduler, store, _) = running(&["a"], &Arc::new(Budget::new(4)));
        until("the supervisor and its driver", || tasks() == 2).await;
        drop(scheduler);
        until("no task left", || tasks() == 0).await;
        assert_eq!(store.counters.scheduler_restarts(), 0);
    }

    /// While every permit is taken, due runs wait in the queue and the lag is how late the
    /// earliest of them is; once permits are free again, nothing is overdue.
    #[tokio::test(start_paused = true)]
    async fn the_lag_is_how_late_the_most_overdue_origin_is() {
        let budget = Arc::new(Budget::new(1));
        // Two origins under one permit: first runs within two typical cycles.
        let spread = first_run_spread(2, 1);
        let (_scheduler, store, _) = running(&["a", "b"], &budget);
        assert_eq!(store.lag(), Duration::ZERO);
        let taken = budget.acquire().await.expect("permit");
        tokio::time::sleep(Duration::from_secs(40)).await;
        let earliest = first_run_offset("a", spread).min(first_run_offset("b", spread));
        assert_eq!(store.lag(), Duration::from_secs(40) - earliest);
        assert!(finished(&store, "a").is_none() && finished(&store, "b").is_none());
        drop(taken);
        until("both origins probed", || {
            finished(&store, "a").is_some() && finished(&store, "b").is_some()
        })
        .await;
        assert_eq!(store.lag(), Duration::ZERO);
    }

    /// A config of `n` origins every 60 s with no checks, probed `concurrency` at a time.
    fn fleet(n: usize, concurrency: usize) -> Config {
        let items: Vec<String> = (0..n)
            .map(|i| format!("{{name: o{i}, domain: o{i}.invalid, address: 127.0.0.1, interval: 60s, checks: []}}"))
            .collect();
        let yaml = format!(
            "global: {{concurrency: {concurrency}}}\norigins: [{}]",
            items.join(", ")
        );
        crate::config::load_str(&yaml, std::path::Path::new("t.yaml")).expect("config")
    }

    /// How many origins of `cfg` finished a cycle `after` its start (paused time).
    async fn finished_after(cfg: &Config, after: Duration) -> usize {
        let ctx = Arc::new(ProbeContext::new(&cfg.global).expect("context"));
        let store = Arc::new(Store::default());
        let budget = Arc::new(Budget::new(cfg.global.concurrency));
        let mut scheduler = Scheduler::new(Arc::clone(&store), Arc::clone(&ctx), budget);
        scheduler.apply(cfg, ctx);
        tokio::time::sleep(after).await;
        cfg.origins
            .iter()
            .filter(|o| finished(&store, &o.name).is_some())
            .count()
    }

    /// 35 origins under the default 64 permits: every first cycle starts within a second, none
    /// waits for most of the interval.
    #[tokio::test(start_paused = true)]
    async fn a_small_fleet_starts_at_once() {
        assert_eq!(first_run_spread(35, 64), Duration::from_secs(1));
        assert_eq!(
            finished_after(&fleet(35, 64), Duration::from_secs(2)).await,
            35
        );
    }

    /// 2,000 origins under 8 permits would take 250 rounds: their first runs stay spread over
    /// the whole 60 s interval, and all have run by its end.
    #[tokio::test(start_paused = true)]
    async fn a_large_fleet_is_still_spread() {
        assert_eq!(first_run_spread(2000, 8), Duration::from_secs(250));
        let cfg = fleet(2000, 8);
        let early = finished_after(&cfg, Duration::from_secs(6)).await;
        assert!(
            (100..300).contains(&early),
            "{early} of 2,000 ran in the first 6 s"
        );
        assert_eq!(finished_after(&cfg, Duration::from_secs(61)).await, 2000);
    }

    /// The spread grows with the rounds the permits need, from one typical cycle up.
    #[test]
    fn the_spread_is_what_the_permits_need() {
        let s = Duration::from_secs;
        assert_eq!(first_run_spread(0, 64), s(0));
        assert_eq!(first_run_spread(1, 64), s(1));
        assert_eq!(first_run_spread(64, 64), s(1));
        assert_eq!(first_run_spread(65, 64), s(2));
        assert_eq!(first_run_spread(100_000, 64), s(1563));
        assert_eq!(
            first_run_spread(usize::MAX, 1),
            Duration::from_secs(u64::from(u32::MAX))
        );
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
    }
}
