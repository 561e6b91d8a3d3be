//! `/metrics` from pre-rendered bytes (`prerender`) against the encoder of every origin at once
//! (`metrics::registry`): byte for byte in both formats, over origins with every check, several
//! causes, large-fleet mode and the blackbox-compatible series, origins with and without
//! configured labels; after a new snapshot, a removed origin, and before any snapshot.

#[path = "../benches/fixtures/mod.rs"]
#[allow(
    dead_code,
    reason = "the benches use more of the fixtures than this test"
)]
mod fixtures;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use origin_exporter::checks::dns::DnsCheck;
use origin_exporter::checks::edge::{EdgeCheck, EdgeOutcome, EdgeReport};
use origin_exporter::checks::http::HttpCheck;
use origin_exporter::checks::tcp::TcpCheck;
use origin_exporter::checks::tls::TlsCheck;
use origin_exporter::checks::{CheckRun, HttpOutcome, OriginResults, Outcome, PortState};
use origin_exporter::config::{self, Origin};
use origin_exporter::diagnose::diagnose;
use origin_exporter::metrics::{self, ExporterMetrics, Format};
use origin_exporter::prerender;
use origin_exporter::store::{Slot, Snapshot, Store};

const ORIGINS: usize = 120;

fn origins() -> Vec<Origin> {
    let mut yaml = String::from("origins:\n");
    for i in 0..ORIGINS {
        let edge = if i % 5 == 0 {
            ", edge: {url: 'https://d1.cloudfront.net/healthz'}"
        } else {
            ""
        };
        // Every seventh origin without configured labels.
        let labels = if i % 7 == 6 {
            String::new()
        } else {
            format!(", labels: {{team: \"t{}\\\"x\"}}", i % 4)
        };
        yaml.push_str(&format!(
            "  - {{name: origin-{i:03}, domain: origin-{i}.example.com, http: {{path: /health}}{labels}{edge}}}\n"
        ));
    }
    config::load_str(&yaml, std::path::Path::new("t.yaml"))
        .expect("valid config")
        .origins
        .iter()
        .map(|o| Origin::clone(o))
        .collect()
}

fn run<T>(outcome: Outcome<T>) -> CheckRun<T> {
    CheckRun {
        duration: Duration::from_millis(7),
        outcome,
    }
}

/// Results with a cause chosen by `i`: healthy, refused port, 502, unresolved name, TLS timed
/// out, DNS not run, edge unreachable.
fn results(
    i: usize,
    origin: &Origin,
    facts: &origin_exporter::analysis::ChainFacts,
) -> OriginResults {
    let mut r = fixtures::results(origin, facts);
    match i % 7 {
        1 => {
            if let Some(Outcome::Completed(tcp)) = r.get_mut::<TcpCheck>().map(|t| &mut t.outcome) {
                tcp.ports[0].state = PortState::Refused;
            }
        }
        2 => {
            if let Some(Outcome::Completed(http)) = r.get_mut::<HttpCheck>().map(|h| &mut h.outcome)
            {
                http.outcome = HttpOutcome::Status(502);
            }
        }
        3 => {
            r.resolution = Some(run(Outcome::Completed(
                origin_exporter::checks::Resolution {
                    addresses: Vec::new(),
                    error: Some("NXDOMAIN".into()),
                },
            )));
            r.remove::<TcpCheck>();
            r.remove::<TlsCheck>();
            r.remove::<HttpCheck>();
        }
        4 => r = r.with::<TlsCheck>(run(Outcome::TimedOut)),
        5 => r.remove::<DnsCheck>(),
        _ => {}
    }
    if origin.edge.is_some() {
        r = r.with::<EdgeCheck>(run(Outcome::Completed(EdgeReport {
            address: Some("192.0.2.80:443".parse().expect("address")),
            outcome: EdgeOutcome::Unreachable("connection refused".into()),
            duration: Duration::from_millis(3),
        })));
    }
    r
}

fn snapshot(origin: &Origin, results: OriginResults, at: u64) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        diagnosis: diagnose(origin, &results),
        results,
        finished_at: SystemTime::UNIX_EPOCH + Duration::from_secs(at),
    })
}

/// Every third origin in large-fleet mode, every fourth with blackbox's series.
fn store() -> (Arc<Store>, Vec<Arc<Slot>>) {
    let lab = fixtures::lab();
    let facts = lab.facts();
    let slots: Vec<Arc<Slot>> = origins()
        .into_iter()
        .enumerate()
        .map(|(i, mut origin)| {
            origin.large_fleet = i % 3 == 0;
            origin.compat.blackbox = i % 4 == 1;
            let r = results(i, &origin, &facts);
            let s = snapshot(&origin, r, 1_700_000_000 + i as u64);
            let slot = Arc::new(Slot::new(Arc::new(origin)));
            slot.publish(s);
            slot
        })
        .collect();
    let store = Arc::new(Store::default());
    store.replace(slots.clone());
    (store, slots)
}

fn prerendered(store: &Arc<Store>, own: &Arc<ExporterMetrics>, format: Format) -> Vec<u8> {
    let registry = metrics::own_registry(Arc::clone(store), Arc::clone(own));
    let mut out = Vec::new();
    prerender::scrape(&mut out, &registry, store, format).expect("scrape");
    out
}

fn reference(store: &Arc<Store>, own: &Arc<ExporterMetrics>, format: Format) -> String {
    metrics::encode(
        &metrics::registry(Arc::clone(store), Arc::clone(own)),
        format,
    )
    .expect("encode")
}

#[test]
fn prerendered_scrapes_equal_the_encoder_of_all_origins_byte_for_byte() {
    let (store, slots) = store();
    let own = Arc::new(ExporterMetrics::default());
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let want = reference(&store, &own, format);
        assert!(want.contains("origin_tls_cert_not_after_timestamp_seconds{"));
        assert!(want.contains("probe_success{"), "blackbox's series");
        assert!(want.contains("origin_edge_"), "the edge check's series");
        // Twice: rendered during the first scrape, stored for the second.
        for _ in 0..2 {
            let got = String::from_utf8(prerendered(&store, &own, format)).expect("utf-8");
            assert!(got == want, "{format:?}: {}", first_difference(&got, &want));
        }
    }
    // A new snapshot of one origin is seen by the next scrape, and a removed origin's series
    // and its families with it.
    let lab = fixtures::lab();
    let changed = &slots[1];
    let r = results(2, &changed.origin, &lab.facts());
    changed.publish(snapshot(&changed.origin, r, 1_800_000_000));
    let no_compat: Vec<Arc<Slot>> = slots
        .iter()
        .filter(|s| !s.origin.compat.blackbox)
        .cloned()
        .collect();
    let fewer = Arc::new(Store::default());
    fewer.replace(no_compat);
    for store in [&store, &fewer] {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let want = reference(store, &own, format);
            let got = String::from_utf8(prerendered(store, &own, format)).expect("utf-8");
            assert!(got == want, "{format:?}: {}", first_difference(&got, &want));
        }
    }
    assert!(!reference(&fewer, &own, Format::OpenMetrics).contains("\nprobe_success{"));
}

/// A reload that changes an origin's configured labels keeps its snapshot until the next cycle:
/// the next scrape writes the new labels, not the ones rendered before.
#[test]
fn changed_labels_show_in_the_next_scrape_without_a_new_cycle() {
    let (store, slots) = store();
    let own = Arc::new(ExporterMetrics::default());
    // Rendered with the old labels.
    prerendered(&store, &own, Format::PrometheusText);
    let relabeled: Vec<Arc<Slot>> = slots
        .iter()
        .map(|s| {
            let mut origin = Origin::clone(&s.origin);
            origin.labels.retain(|(k, _)| k != "team");
            origin.labels.push(("team".into(), "renamed".into()));
            origin.labels.sort();
            Arc::new(Slot::succeeding(Arc::new(origin), s))
        })
        .collect();
    store.replace(relabeled);
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let want = reference(&store, &own, format);
        assert!(want.contains("team=\"renamed\""));
        let got = String::from_utf8(prerendered(&store, &own, format)).expect("utf-8");
        assert!(got == want, "{format:?}: {}", first_difference(&got, &want));
    }
}

/// Before any origin has a snapshot, the families the encoders write for no origin, as before.
#[test]
fn no_snapshot_yet_writes_what_the_encoder_writes() {
    let store = Arc::new(Store::default());
    let origin = Arc::new(origins().swap_remove(0));
    store.replace(vec![Arc::new(Slot::new(origin))]);
    let own = Arc::new(ExporterMetrics::default());
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let want = reference(&store, &own, format);
        assert!(want.contains("# HELP origin_cdn_ready "), "{want}");
        let got = String::from_utf8(prerendered(&store, &own, format)).expect("utf-8");
        assert!(got == want, "{format:?}: {}", first_difference(&got, &want));
    }
}

fn first_difference(got: &str, want: &str) -> String {
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let from = at.saturating_sub(200);
    format!(
        "first difference at byte {at} (lengths {} and {}):\n--- got\n{}\n--- want\n{}",
        got.len(),
        want.len(),
        &got[from..(at + 200).min(got.len())],
        &want[from..(at + 200).min(want.len())]
    )
}
