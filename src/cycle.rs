//! One probe cycle of one origin: resolution, every enabled check in registry order, then the
//! diagnosis. The one runner behind the scheduler, `/probe` and `check`; it writes nowhere, so
//! what calls it decides what becomes of the result.

use std::time::{Duration, SystemTime};

use crate::checks::{
    dial, timed, Amend, CheckModule, CheckRun, Lingering, Memory, OriginResults, Outcome,
    ProbeContext, Resolution, REGISTRY,
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
    let results = run_checks(origin, ctx, memory).await;
    let lingering = std::mem::take(&mut memory.lingering);
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
/// registry order, each seeing what the earlier found.
pub async fn run_checks(origin: &Origin, ctx: &ProbeContext, memory: &mut Memory) -> OriginResults {
    dial::within(ctx.reach(origin), checks(origin, ctx, memory)).await
}

async fn checks(origin: &Origin, ctx: &ProbeContext, memory: &mut Memory) -> OriginResults {
    let enabled = || REGISTRY.iter().copied().filter(|m| m.enabled(origin));
    let beside: Vec<&dyn CheckModule> = enabled().filter(|m| m.beside_resolution()).collect();
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
            reports.push(m.run(origin, ctx, &nothing_yet, memory).await);
        }
        reports
    };
    let (resolution, reports) = tokio::join!(resolution, independent);
    let mut results = OriginResults {
        resolution,
        ..OriginResults::default()
    };
    for report in reports {
        results.put(report);
    }
    for m in enabled().filter(|m| !m.beside_resolution()) {
        let report = m.run(origin, ctx, &results, memory).await;
        results.put(report);
    }
    for m in enabled() {
        m.revise(origin, &mut results, memory);
    }
    memory.handoff.clear();
    results
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
    use crate::checks::NotRun;
    use crate::diagnose::diagnose;

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
        let results = run_checks(&origin, &ctx, &mut Memory::default()).await;
        let resolution = results.resolution.expect("a resolution");
        assert_eq!(resolution, unvetted());
        assert!(matches!(
            results.tcp.map(|t| t.outcome),
            Some(Outcome::NotRun(NotRun::NoAddress))
        ));
        let vetted = CheckRun {
            duration: Duration::from_secs(1),
            outcome: Outcome::TimedOut,
        };
        origin.vetted = Some(Arc::new(vetted.clone()));
        let results = run_checks(&origin, &ctx, &mut Memory::default()).await;
        assert_eq!(results.resolution, Some(vetted));
    }

    /// What a keep-alive watch finds amends the published snapshot and its verdict, keeping
    /// the time its checks ended; one that ends after a later cycle published its snapshot
    /// amends that one (as the observation its own watch has not replaced yet), never putting
    /// the older snapshot back.
    #[test]
    fn a_watch_amends_the_latest_snapshot() {
        use std::time::SystemTime;

        use crate::checks::http::keepalive::fold_into;
        use crate::checks::http::{Body, KeepAlive, Observation};
        use crate::checks::{HttpOutcome, HttpReport};
        use crate::config::Scheme;
        use crate::store::Slot;

        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 192.0.2.1, checks: [http], http: {}}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let origin = Arc::clone(&cfg.origins[0]);
        let address = "192.0.2.1:443".parse().expect("address");
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs);
        let cycle = |since| {
            let report = HttpReport {
                address,
                scheme: Scheme::Https,
                outcome: HttpOutcome::Status(200),
                headers: Vec::new(),
                duration: Duration::from_millis(5),
                phases: Default::default(),
                version: None,
                handshake: None,
                refusal: None,
                body: Body::Complete {
                    bytes: 2,
                    after: Duration::from_millis(5),
                },
                keepalive: KeepAlive::Watching {
                    since,
                    earlier: None,
                },
                more: Vec::new(),
            };
            let results = OriginResults {
                http: Some(Box::new(CheckRun {
                    duration: Duration::from_millis(5),
                    outcome: Outcome::Completed(report),
                })),
                ..OriginResults::default()
            };
            Arc::new(Snapshot {
                diagnosis: diagnose(&origin, &results),
                results,
                finished_at: since,
            })
        };
        let watch = |since| -> Vec<Amend> {
            let seen = Observation {
                since,
                idle: Duration::from_secs(2),
                closed: true,
            };
            vec![Box::new(move |r: &mut OriginResults| {
                fold_into(r, address, seen)
            })]
        };
        let causes = |slot: &Slot| -> (Vec<&'static str>, SystemTime) {
            let latest = slot.latest().expect("a snapshot");
            let causes = latest.diagnosis.findings.iter().map(|f| f.cause.name());
            (causes.collect(), latest.finished_at)
        };
        let slot = Slot::new(Arc::clone(&origin));

        slot.publish(cycle(at(60)));
        assert_eq!(causes(&slot), (vec![], at(60)));
        let found = watch(at(60));
        slot.amend(|latest| amended(&origin, latest, &found));
        assert_eq!(causes(&slot), (vec!["http_keepalive_race"], at(60)));
        // Nothing new: the snapshot stays the same one.
        let before = slot.latest().expect("a snapshot");
        slot.amend(|latest| amended(&origin, latest, &found));
        assert!(Arc::ptr_eq(&before, &slot.latest().expect("a snapshot")));

        // The next cycle publishes while the watch of the one before still runs.
        slot.publish(cycle(at(120)));
        slot.publish(cycle(at(180)));
        let late = watch(at(120));
        slot.amend(|latest| amended(&origin, latest, &late));
        assert_eq!(causes(&slot), (vec!["http_keepalive_race"], at(180)));
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
