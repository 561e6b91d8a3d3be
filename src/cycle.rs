//! One probe cycle of one origin: resolution, every enabled check in registry order, then the
//! diagnosis. The one runner behind the scheduler, `/probe` and `check`; it writes nowhere, so
//! what calls it decides what becomes of the result.

use std::time::{Duration, SystemTime};

use crate::checks::{
    dial, timed, Amend, CheckModule, CheckRun, Earlier, Lingering, Memory, Notes, OriginResults,
    Outcome, ProbeContext, Resolution, ThisCycle, REGISTRY,
};
use crate::config::Origin;
use crate::diagnose::{diagnose, Diagnosis};

/// What one probe cycle of one origin produced.
#[derive(Debug)]
pub struct Snapshot {
    pub results: OriginResults,
    pub diagnosis: Diagnosis,
    pub finished_at: SystemTime,
}

/// Runs one cycle, remembering nothing from earlier ones (`check`), its lingering work
/// included.
pub async fn run_once(origin: &Origin, ctx: &ProbeContext) -> Snapshot {
    run(origin, ctx, &mut Memory::default()).await
}

/// Runs one cycle with what the origin's earlier cycles left in `memory`, and waits for the
/// work its checks left running (the keep-alive watch): the snapshot holds what it found.
pub async fn run(origin: &Origin, ctx: &ProbeContext, memory: &mut Memory) -> Snapshot {
    let (snapshot, lingering) = start(origin, ctx, memory).await;
    settle(origin, snapshot, lingering, None).await
}

/// Runs one cycle's checks with what the origin's earlier cycles left in `memory`: its
/// snapshot, and the work its checks left running (the keep-alive watch), which holds nothing
/// the verdict waits for. The scheduler publishes the snapshot, gives back the budget slot,
/// then amends the published snapshot with what that work finds ([`amended`]).
pub async fn start(
    origin: &Origin,
    ctx: &ProbeContext,
    memory: &mut Memory,
) -> (Snapshot, Lingering) {
    fault::check(&origin.name);
    let (results, lingering) = run_checks(origin, ctx, memory).await;
    let diagnosis = diagnose(origin, &results);
    let snapshot = Snapshot {
        results,
        diagnosis,
        finished_at: SystemTime::now(),
    };
    (snapshot, lingering)
}

/// Waits for `lingering` (until `deadline`, when there is one) and returns `snapshot` amended
/// with what it found.
pub async fn settle(
    origin: &Origin,
    snapshot: Snapshot,
    lingering: Lingering,
    deadline: Option<tokio::time::Instant>,
) -> Snapshot {
    if lingering.is_empty() {
        return snapshot;
    }
    let found = lingering.settle(deadline).await;
    amended(origin, &snapshot, &found).unwrap_or(snapshot)
}

/// `snapshot` with what lingering work found, diagnosed again; `None` when it changes nothing.
/// It keeps `finished_at`: the time its checks ended, which the amendment does not move.
pub fn amended(origin: &Origin, snapshot: &Snapshot, found: &[Amend]) -> Option<Snapshot> {
    let mut results = snapshot.results.clone();
    let mut changed = false;
    for amend in found {
        changed |= amend(&mut results);
    }
    changed.then(|| Snapshot {
        diagnosis: diagnose(origin, &results),
        results,
        finished_at: snapshot.finished_at,
    })
}

/// Every enabled check, each under the origin's timeouts, every connection within the origin's
/// reach ([`dial`]). Checks that need no address run beside resolution; the others run in
/// registry order, each seeing what the earlier found. Returns the results and the work the
/// checks left running.
pub async fn run_checks(
    origin: &Origin,
    ctx: &ProbeContext,
    memory: &mut Memory,
) -> (OriginResults, Lingering) {
    dial::within(ctx.reach(origin), checks(origin, ctx, memory)).await
}

async fn checks(
    origin: &Origin,
    ctx: &ProbeContext,
    memory: &mut Memory,
) -> (OriginResults, Lingering) {
    // What the cycle holds for its checks: handovers and lingering work. Dropped at the end,
    // closing every connection no later check took.
    let mut cycle = ThisCycle::default();
    let enabled = || REGISTRY.iter().copied().filter(|m| m.enabled(origin));
    let beside: Vec<&dyn CheckModule> = enabled().filter(|m| m.beside_resolution()).collect();
    // Whether an enabled later check takes what `m` leaves for this cycle.
    let taken = |m: &dyn CheckModule| enabled().any(|later| later.takes().contains(&m.id()));
    let resolution = async {
        match (origin.address, origin.adhoc) {
            (Some(_), _) => None,
            // Resolved once, when the request was vetted: that answer (a failure included) is
            // this cycle's. Resolving again could reach what the vetting never saw.
            (None, true) => Some(origin.vetted.as_deref().cloned().unwrap_or_else(unvetted)),
            (None, false) => Some(
                timed(
                    origin.timeout,
                    crate::checks::resolve::resolve(&origin.domain, origin.ip_address_type, ctx),
                )
                .await,
            ),
        }
    };
    let nothing_yet = OriginResults::default();
    let independent = async {
        let mut reports = Vec::with_capacity(beside.len());
        for m in &beside {
            let earlier = Earlier::new(&nothing_yet, m.needs()).with_handover(taken(*m));
            reports.push(m.run(origin, ctx, earlier, memory, &mut cycle).await);
        }
        reports
    };
    let (resolution, reports) = tokio::join!(resolution, independent);
    let mut results = OriginResults::new(resolution);
    for report in reports {
        results.put(report);
    }
    for m in enabled().filter(|m| !m.beside_resolution()) {
        let earlier = Earlier::new(&results, m.needs()).with_handover(taken(m));
        let report = m.run(origin, ctx, earlier, memory, &mut cycle).await;
        results.put(report);
    }
    // Later checks tell earlier ones what contradicts their reuse; each revises its own report.
    let mut notes = Notes::default();
    for m in enabled() {
        m.tell(origin, &results, &mut notes);
    }
    for m in enabled() {
        m.revise(origin, &mut results, memory, &notes);
    }
    (results, std::mem::take(&mut cycle.lingering))
}

/// The resolution of an ad-hoc origin that came without one: no address, never a lookup.
fn unvetted() -> CheckRun<Resolution> {
    CheckRun {
        duration: Duration::ZERO,
        outcome: Outcome::Completed(Resolution {
            addresses: Vec::new(),
            error: Some("an ad-hoc origin is resolved only when its request is vetted".into()),
        }),
    }
}

/// A test-only fault hook: makes the next cycle (or every cycle) of a named origin panic, so
/// that tests can prove the scheduler survives a panicking check. Costs one atomic load per
/// cycle when unused.
#[doc(hidden)]
pub mod fault {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    static ARMED: AtomicBool = AtomicBool::new(false);
    static PANIC_NEXT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static PANIC_EVERY: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// The next cycle of `origin` panics.
    pub fn panic_next(origin: &str) {
        if let Ok(mut names) = PANIC_NEXT.lock() {
            names.push(origin.to_string());
            ARMED.store(true, Ordering::Release);
        }
    }

    /// Every cycle of `origin` panics, for as long as the process runs.
    pub fn panic_every(origin: &str) {
        if let Ok(mut names) = PANIC_EVERY.lock() {
            names.push(origin.to_string());
            ARMED.store(true, Ordering::Release);
        }
    }

    pub(super) fn check(origin: &str) {
        if !ARMED.load(Ordering::Acquire) {
            return;
        }
        let next = match PANIC_NEXT.lock() {
            Ok(mut names) => match names.iter().position(|n| n == origin) {
                Some(i) => {
                    names.swap_remove(i);
                    true
                }
                None => false,
            },
            Err(_) => false,
        };
        let every = PANIC_EVERY
            .lock()
            .is_ok_and(|names| names.iter().any(|n| n == origin));
        if next || every {
            panic!("fault injected into the cycle of origin {origin}");
        }
    }
}
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// An ad-hoc origin's cycle takes the resolution its request was vetted with, a failed one
    /// too, and without one resolves nothing: its checks have no address to connect to.
    #[tokio::test]
    async fn an_adhoc_origin_is_never_resolved_by_its_cycle() {
        let cfg = crate::config::load_str(
            "global: {resolvers: ['127.0.0.1:9']}\norigins: [{name: a, domain: a.example, checks: [tcp]}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let ctx = ProbeContext::new(&cfg.global).expect("context");
        let mut origin = (*cfg.origins[0]).clone();
        origin.adhoc = true;
        let (results, _) = run_checks(&origin, &ctx, &mut Memory::default()).await;
        let resolution = results.resolution.as_ref().expect("a resolution");
        assert_eq!(*resolution, unvetted());
        // Every check of the origin: not run, for want of an address.
        for check in &origin.checks {
            let ran = crate::checks::module(*check).ran(&results);
            assert_eq!(ran, Some(crate::checks::Ran::NotRun), "{check:?}");
        }
        let vetted = CheckRun {
            duration: Duration::from_secs(1),
            outcome: Outcome::TimedOut,
        };
        origin.vetted = Some(Arc::new(vetted.clone()));
        let (results, _) = run_checks(&origin, &ctx, &mut Memory::default()).await;
        assert_eq!(results.resolution, Some(vetted));
    }

    /// Every origin keeps its latest snapshot for good: a check an origin does not run must cost
    /// it a pointer, not the size of that check's report (100,000 `[tcp, tls]` origins carried
    /// 50 MB of empty DNS, HTTP and edge reports when they were inline).
    #[test]
    fn a_snapshot_holds_only_the_checks_that_ran() {
        let size = std::mem::size_of::<super::Snapshot>();
        assert!(size <= 320, "a snapshot is {size} bytes inline");
    }

    /// Every origin's settings live as long as the config: the settings few origins have
    /// (`http`, `edge`, `client_certificate`) cost the others a pointer each.
    #[test]
    fn an_origin_keeps_rare_settings_behind_a_pointer() {
        let size = std::mem::size_of::<crate::config::Origin>();
        assert!(size <= 320, "an origin's settings are {size} bytes inline");
    }
}
