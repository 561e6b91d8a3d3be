//! What discovery exposes: its own health per provider, skipped origins by reason, and the
//! origin groups (membership and whether a group can still serve).
//!
//! Whether a group can serve follows CloudFront's documented failover: requests go to the
//! primary; CloudFront fails over to the secondary when it cannot get a response from the
//! primary (DNS, connection, TLS or read timeout failures) or when the primary answers one of
//! the group's failover status codes. So a group can serve when its primary is ready, or when
//! the primary's failure is one that fails over and the secondary is ready. A primary whose
//! only failure is an unexpected status that is not a failover code cannot be saved by the
//! secondary.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::{Group, Mapping, SkipReason, Skipped, CLOUDFRONT};
use crate::diagnose::Cause;
use crate::store::{Slot, Store};

/// One provider's discovery state, updated by its refresh loop and the reloader.
#[derive(Debug, Default)]
pub struct DiscoveryStatus {
    inner: Mutex<Inner>,
    errors: AtomicU64,
    /// The first refresh has ended: its origins were applied, or it failed.
    settled: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Discovery is configured: its series exist.
    enabled: bool,
    last_success: Option<f64>,
    origins: usize,
    skipped: BTreeMap<SkipReason, usize>,
    /// Each CDN origin not probed, for the landing page.
    skipped_origins: Arc<[Skipped]>,
    groups: Vec<Group>,
}

impl DiscoveryStatus {
    pub fn set_enabled(&self, enabled: bool) {
        if let Ok(mut i) = self.inner.lock() {
            i.enabled = enabled;
        }
    }

    pub fn succeeded(&self, at: f64) {
        if let Ok(mut i) = self.inner.lock() {
            i.last_success = Some(at);
        }
    }

    pub fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.settle();
    }

    /// The first refresh has ended (its origins are applied, or it failed).
    pub fn settle(&self) {
        self.settled.store(true, Ordering::Release);
    }

    /// Without discovery, or once its first refresh has ended: `/-/ready` waits for it, so that
    /// the discovered origins are probed before the exporter says it is ready.
    pub fn settled(&self) -> bool {
        self.settled.load(Ordering::Acquire) || !self.inner.lock().is_ok_and(|i| i.enabled)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Records what the last merge made of the discovered set.
    pub fn mapped(&self, mapping: &Mapping) {
        if let Ok(mut i) = self.inner.lock() {
            i.origins = mapping.origins.len();
            i.skipped = super::skipped_by_reason(mapping);
            i.skipped_origins = Arc::from(mapping.skipped_origins.as_slice());
            i.groups = mapping.groups.clone();
        }
    }

    /// The CDN origins the last merge did not probe, and why.
    pub fn skipped_origins(&self) -> Arc<[Skipped]> {
        self.inner
            .lock()
            .map(|i| Arc::clone(&i.skipped_origins))
            .unwrap_or_else(|_| Arc::from(Vec::new()))
    }
}

/// Encodes the discovery families (when discovery is configured) and the group families.
#[derive(Debug)]
pub struct DiscoveryCollector {
    pub status: Arc<DiscoveryStatus>,
    pub store: Arc<Store>,
}

impl Collector for DiscoveryCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let (enabled, last_success, origins, skipped, groups) = match self.status.inner.lock() {
            Ok(i) => (
                i.enabled,
                i.last_success,
                i.origins,
                i.skipped.clone(),
                i.groups.clone(),
            ),
            Err(_) => return Ok(()),
        };
        if !enabled {
            return Ok(());
        }
        let provider = [("provider", CLOUDFRONT)];
        if let Some(t) = last_success {
            let mut m = enc.encode_descriptor(
                "origin_exporter_discovery_last_success_timestamp_seconds",
                "When the provider's origins were last listed successfully.",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(t).encode(m.encode_family(&provider)?)?;
        }
        let mut m = enc.encode_descriptor(
            "origin_exporter_discovery_origins",
            "Origins discovered from the provider and probed.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(origins as i64).encode(m.encode_family(&provider)?)?;
        // A counter: the encoder appends `_total` (origin_exporter_discovery_errors_total).
        let mut m = enc.encode_descriptor(
            "origin_exporter_discovery_errors",
            "Refreshes that failed; the last discovered origins stay in force.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.status.errors()).encode(m.encode_family(&provider)?)?;
        let mut m = enc.encode_descriptor(
            "origin_exporter_discovery_skipped_origins",
            "CDN origins not probed, by reason: s3_origin, vpc_origin, invalid, duplicate_name.",
            None,
            MetricType::Gauge,
        )?;
        for (reason, n) in &skipped {
            let labels = [("provider", CLOUDFRONT), ("reason", reason.name())];
            ConstGauge::new(*n as i64).encode(m.encode_family(&labels)?)?;
        }
        encode_groups(&mut enc, &groups, &self.store)
    }
}

fn encode_groups(enc: &mut DescriptorEncoder, groups: &[Group], store: &Store) -> fmt::Result {
    if groups.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(
        "origin_group_member_info",
        "The origins of each CloudFront origin group; position 0 is the primary. Value 1.",
        None,
        MetricType::Gauge,
    )?;
    for g in groups {
        for (i, member) in g.members.iter().enumerate() {
            let position = i.to_string();
            let labels = [
                ("origin", member.as_str()),
                ("group", g.name.as_str()),
                ("distribution_id", g.distribution_id.as_str()),
                ("position", position.as_str()),
            ];
            ConstGauge::new(1).encode(m.encode_family(&labels)?)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "origin_group_can_serve",
        "1 when the group can serve: its primary is ready, or the primary fails in a way CloudFront fails over from and the secondary is ready. Absent until its members were probed.",
        None,
        MetricType::Gauge,
    )?;
    for g in groups {
        let members: Vec<Option<Arc<Slot>>> = g.members.iter().map(|n| store.get(n)).collect();
        if let Some(can) = can_serve(g, &members) {
            let labels = [
                ("group", g.name.as_str()),
                ("distribution_id", g.distribution_id.as_str()),
            ];
            ConstGauge::new(i64::from(can)).encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// How the primary stands, as failover sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primary {
    Ready,
    /// Fails in a way CloudFront fails over from.
    FailsOver,
    /// Fails with an answer CloudFront passes to the viewer (a status that is no failover code).
    FailsWithoutFailover,
}

/// `None` until the primary (and, when needed, the secondary) has a snapshot.
fn can_serve(group: &Group, members: &[Option<Arc<Slot>>]) -> Option<bool> {
    let primary = members.first()?.as_ref()?.latest()?;
    let state = primary_state(
        primary.diagnosis.cdn_ready,
        primary
            .diagnosis
            .findings
            .iter()
            .map(|f| f.cause)
            .collect::<Vec<_>>()
            .as_slice(),
        crate::checks::answered_status(&primary.results),
        &group.failover_status_codes,
    );
    let secondary_ready = || {
        members
            .get(1)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.latest())
            .map(|s| s.diagnosis.cdn_ready)
    };
    match state {
        Primary::Ready => Some(true),
        Primary::FailsWithoutFailover => Some(false),
        Primary::FailsOver => secondary_ready(),
    }
}

/// Pure: the primary's readiness, its active causes, the status it answered, the group's
/// failover codes.
pub fn primary_state(
    ready: bool,
    causes: &[Cause],
    status: Option<u16>,
    failover_codes: &[u16],
) -> Primary {
    if ready {
        return Primary::Ready;
    }
    let only_status = causes
        .iter()
        .filter(|c| c.severity() == crate::diagnose::Severity::Critical)
        .all(|c| *c == Cause::HttpErrorStatus);
    match status {
        Some(s) if only_status && !failover_codes.contains(&s) => Primary::FailsWithoutFailover,
        _ => Primary::FailsOver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::{Duration, SystemTime};

    /// `/-/ready` waits for discovery's first refresh to end (applied or failed) only when
    /// discovery is configured.
    #[test]
    fn discovery_settles_on_its_first_applied_or_failed_refresh() {
        let off = DiscoveryStatus::default();
        assert!(
            off.settled(),
            "without discovery there is nothing to wait for"
        );
        let on = DiscoveryStatus::default();
        on.set_enabled(true);
        assert!(!on.settled());
        on.succeeded(1.0);
        assert!(!on.settled(), "listed but not yet applied");
        on.settle();
        assert!(on.settled());
        let failing = DiscoveryStatus::default();
        failing.set_enabled(true);
        failing.failed();
        assert!(
            failing.settled(),
            "a failed refresh keeps the configured origins going"
        );
        // The store's latch: not ready before discovery settles even with every origin probed,
        // and once ready, ready for good.
        let store = Store::default();
        assert!(!store.ready(false));
        assert!(store.ready(true), "no origin left to probe");
        assert!(store.ready(false), "latched");
    }

    use crate::checks::{CheckRun, OriginResults, Outcome, PortResult, PortState, TcpReport};
    use crate::config::Scheme;
    use crate::cycle::Snapshot;

    /// A probed origin whose one port is open (ready) or refused (port_unreachable).
    fn slot(ready: bool) -> Option<Arc<Slot>> {
        let cfg = crate::config::load_str(
            "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tcp]}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let origin = Arc::clone(&cfg.origins[0]);
        let port = PortResult {
            address: [127, 0, 0, 1].into(),
            port: 443,
            scheme: Scheme::Https,
            state: if ready {
                PortState::Open
            } else {
                PortState::Refused
            },
            duration: Duration::ZERO,
            attempts: 3,
        };
        let results = OriginResults::default().with::<crate::checks::tcp::TcpCheck>(CheckRun {
            duration: Duration::ZERO,
            outcome: Outcome::Completed(TcpReport { ports: vec![port] }),
        });
        let diagnosis = crate::diagnose::diagnose(&origin, &results);
        let slot = Slot::new(origin);
        slot.publish(Arc::new(Snapshot {
            results,
            diagnosis,
            finished_at: SystemTime::now(),
        }));
        Some(Arc::new(slot))
    }

    #[test]
    fn a_group_serves_through_its_secondary_when_the_primary_fails_over() {
        let group = Group {
            name: "E1_g".into(),
            distribution_id: "E1".into(),
            members: vec!["p".into(), "s".into()],
            failover_status_codes: vec![502],
        };
        assert_eq!(can_serve(&group, &[slot(true), slot(false)]), Some(true));
        assert_eq!(can_serve(&group, &[slot(false), slot(true)]), Some(true));
        assert_eq!(can_serve(&group, &[slot(false), slot(false)]), Some(false));
        // The secondary not probed yet: unknown.
        assert_eq!(can_serve(&group, &[slot(false), None]), None);
        assert_eq!(can_serve(&group, &[None, slot(true)]), None);
    }

    #[test]
    fn failover_follows_cloudfronts_rules() {
        let codes = [500, 502, 503, 504];
        assert_eq!(primary_state(true, &[], Some(200), &codes), Primary::Ready);
        assert_eq!(
            primary_state(false, &[Cause::PortUnreachable], None, &codes),
            Primary::FailsOver
        );
        assert_eq!(
            primary_state(false, &[Cause::HttpErrorStatus], Some(503), &codes),
            Primary::FailsOver
        );
        assert_eq!(
            primary_state(false, &[Cause::HttpErrorStatus], Some(403), &codes),
            Primary::FailsWithoutFailover
        );
        assert_eq!(
            primary_state(false, &[Cause::HttpTimeout], None, &codes),
            Primary::FailsOver
        );
    }
}
