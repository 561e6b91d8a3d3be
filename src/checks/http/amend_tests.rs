//! The keep-alive watch's findings amending a published snapshot, through [`crate::cycle`].

use std::sync::Arc;
use std::time::Duration;

use crate::checks::{Amend, CheckRun, OriginResults, Outcome};
use crate::cycle::{amended, Snapshot};
use crate::diagnose::diagnose;

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
        let results = OriginResults::default().with::<crate::checks::http::HttpCheck>(CheckRun {
            duration: Duration::from_millis(5),
            outcome: Outcome::Completed(report),
        });
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
