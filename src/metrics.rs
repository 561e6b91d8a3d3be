//! Results to series. Per-origin series are encoded from the latest snapshots by a
//! [`prometheus_client::collector::Collector`] ([`OriginCollector`]), so an origin removed from
//! the config vanishes with its slot: the verdict families here, then each registered check's
//! own families. `/metrics` runs it over one origin at a time, when a cycle publishes, and
//! serves the stored output (`prerender`); [`registry`] encodes every origin at once (the
//! reference the pre-rendered output is tested against). The
//! exporter's own metrics are ordinary registered metrics, plus the store's counters read at
//! scrape time.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::checks::{module, unix_seconds, Check, Ran, REGISTRY};
use crate::cycle::Snapshot;
use crate::diagnose::Cause;
use crate::exposition::{
    detail_family, family, lookup, push_label, Labeled, Observed, Rendered, Row,
};
use crate::store::{Counters, Slot, Store};

/// The exporter's own metrics, updated by the reloader.
#[derive(Debug, Default)]
pub struct ExporterMetrics {
    pub config_reload_successful: Gauge,
    pub config_reload_timestamp: Gauge<f64, AtomicU64>,
    pub web_config_reload_successful: Gauge,
    pub origins: Gauge,
    /// Discovery's own state (`origin_exporter_discovery_*`, origin groups).
    pub discovery: Arc<crate::discovery::DiscoveryStatus>,
    build_info: Family<[(&'static str, &'static str); 2], Gauge>,
}

impl ExporterMetrics {
    /// The config file was (re)loaded and applied: the reload metrics say so. Only a load of
    /// the file sets them (a discovery refresh does not).
    pub fn config_loaded(&self) {
        self.config_reload_successful.set(1);
        self.config_reload_timestamp
            .set(unix_seconds(std::time::SystemTime::now()));
    }
}

/// A registry of the exporter's metrics and every origin's series, encoded at once: what
/// `/metrics` serves, as [`own_registry`] followed by the origins' pre-rendered series
/// (`prerender`), which tests compare with this.
pub fn registry(store: Arc<Store>, own: Arc<ExporterMetrics>) -> Registry {
    let mut registry = own_registry(Arc::clone(&store), own);
    registry.register_collector(Box::new(OriginCollector { store }));
    registry
}

/// The exporter's own metrics, encoded at every scrape ahead of the origins' series.
pub fn own_registry(store: Arc<Store>, own: Arc<ExporterMetrics>) -> Registry {
    let mut registry = Registry::default();
    own.build_info
        .get_or_create(&[
            ("version", env!("CARGO_PKG_VERSION")),
            (
                "revision",
                option_env!("BUILD_REVISION").unwrap_or("unknown"),
            ),
        ])
        .set(1);
    registry.register(
        "origin_exporter_build_info",
        "Version and revision of the running exporter; value 1",
        own.build_info.clone(),
    );
    registry.register(
        "origin_exporter_config_last_reload_successful",
        "1 if the last config (re)load succeeded, 0 if it failed and the previous config is still in force",
        own.config_reload_successful.clone(),
    );
    registry.register(
        "origin_exporter_config_last_reload_success_timestamp_seconds",
        "When the config was last loaded successfully",
        own.config_reload_timestamp.clone(),
    );
    registry.register(
        "origin_exporter_web_config_last_reload_successful",
        "1 if the last load of --web.config.file succeeded (or none is set), 0 if it failed and the previous one is in force",
        own.web_config_reload_successful.clone(),
    );
    registry.register(
        "origin_exporter_origins",
        "Origins in the running config",
        own.origins.clone(),
    );
    // What each check says about the exporter itself, once (see `CheckModule::register_startup`).
    for m in REGISTRY {
        m.register_startup(&mut registry);
    }
    registry.register_collector(Box::new(CounterCollector {
        store: Arc::clone(&store),
    }));
    registry.register_collector(Box::new(RuntimeCollector));
    registry.register_collector(Box::new(crate::discovery::DiscoveryCollector {
        status: Arc::clone(&own.discovery),
        store,
    }));
    registry
}

/// The scheduler's counters: `origin_exporter_probes_total{check,result}` for every check and
/// result (zeros included, so that `rate()` sees the first one),
/// `origin_exporter_task_panics_total` and `origin_exporter_scheduler_restarts_total`; and its
/// lag, `origin_exporter_scheduler_lag_seconds`, read at scrape time.
#[derive(Debug)]
struct CounterCollector {
    store: Arc<Store>,
}

impl Collector for CounterCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let counters: &Counters = &self.store.counters;
        let mut metric = enc.encode_descriptor(
            "origin_exporter_probes",
            "Checks run by scheduled cycles, by check and result: success, failure (ran and found a critical cause, or could not complete its exchange), timeout, not_run (an earlier check's failure kept it from running).",
            None,
            MetricType::Counter,
        )?;
        for check in Check::ALL {
            for result in Ran::RESULTS {
                let labels = [("check", check.name()), ("result", result)];
                let count = ConstCounter::new(counters.probes(check, result));
                count.encode(metric.encode_family(&labels)?)?;
            }
        }
        let panics = ConstCounter::new(counters.task_panics());
        let metric = enc.encode_descriptor(
            "origin_exporter_task_panics",
            "Probe cycles that panicked; the origin keeps being probed on its interval.",
            None,
            MetricType::Counter,
        )?;
        panics.encode(metric)?;
        let restarts = ConstCounter::new(counters.scheduler_restarts());
        let metric = enc.encode_descriptor(
            "origin_exporter_scheduler_restarts",
            "Times the scheduler's driver ended (a panic) and was started again; origins keep their schedule.",
            None,
            MetricType::Counter,
        )?;
        restarts.encode(metric)?;
        let lag = ConstGauge::new(self.store.lag().as_secs_f64());
        let metric = enc.encode_descriptor(
            "origin_exporter_scheduler_lag_seconds",
            "How late the most overdue origin's cycle is: now minus its scheduled start, 0 when none is overdue. Grows when the exporter cannot keep up (global.concurrency, timeouts, CPU).",
            None,
            lag.metric_type(),
        )?;
        lag.encode(metric)
    }
}

/// `origin_exporter_runtime_tasks`: tokio tasks alive at scrape time. A leak of tasks (probes,
/// connections, DNS exchanges that never end) shows here first; the soak test (bench/soak.sh)
/// watches it. Read at scrape time, so it costs nothing between scrapes.
#[derive(Debug)]
struct RuntimeCollector;

impl Collector for RuntimeCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        // Outside a runtime (an encoder called from a plain thread) there is nothing to count.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        let tasks = ConstGauge::new(handle.metrics().num_alive_tasks() as i64);
        let metric = enc.encode_descriptor(
            "origin_exporter_runtime_tasks",
            "Tokio tasks alive in the exporter's runtime at scrape time.",
            None,
            tasks.metric_type(),
        )?;
        tasks.encode(metric)
    }
}

/// Which exposition format a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    PrometheusText,
}

impl Format {
    /// OpenMetrics when the `Accept` header asks for it, Prometheus text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

pub fn encode(registry: &Registry, format: Format) -> Result<String, fmt::Error> {
    let mut out = String::with_capacity(64 * 1024);
    encode_to(&mut out, registry, format)?;
    Ok(out)
}

/// Encodes into any writer, e.g. one that streams chunks to the client as they fill.
pub fn encode_to(out: &mut impl fmt::Write, registry: &Registry, format: Format) -> fmt::Result {
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(out, registry),
        Format::PrometheusText => {
            prometheus_client::encoding::prometheus_text::encode(out, registry)
        }
    }
}

/// Encodes the latest snapshot of every origin of a store.
#[derive(Debug)]
pub struct OriginCollector {
    store: Arc<Store>,
}

/// Encodes one origin's series from a snapshot of its own, without the exporter's metrics and
/// without touching any store (`/probe`).
pub fn encode_snapshot(
    origin: Arc<crate::config::Origin>,
    snapshot: Arc<Snapshot>,
    format: Format,
) -> Result<String, fmt::Error> {
    let slot = Slot::new(origin);
    slot.publish(snapshot);
    let store = Arc::new(Store::default());
    store.replace(vec![Arc::new(slot)]);
    encode_origins(store, format)
}

/// Encodes the latest snapshot of every origin of `store`, without the exporter's metrics.
pub fn encode_origins(store: Arc<Store>, format: Format) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(OriginCollector { store }));
    encode(&registry, format)
}

/// An origin and its latest snapshot: a row of the verdict families.
struct Latest<'a> {
    origin: Labeled<'a>,
    snapshot: Arc<Snapshot>,
}

impl Row for Latest<'_> {
    fn origin(&self) -> &Labeled<'_> {
        &self.origin
    }

    /// See [`Observed::detailed`].
    fn detailed(&self) -> bool {
        !self.origin.large_fleet || !self.snapshot.diagnosis.findings.is_empty()
    }
}

impl std::ops::Deref for Latest<'_> {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

impl Collector for OriginCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let slots = self.store.slots();
        let latest: Vec<Latest> = slots
            .iter()
            .filter_map(|s| {
                s.latest().map(|snapshot| Latest {
                    origin: Labeled::new(&s.origin),
                    snapshot,
                })
            })
            .collect();
        encode_verdict(&mut enc, &latest)?;
        let observed: Vec<Observed> = latest
            .iter()
            .map(|l| Observed {
                origin: &l.origin,
                results: &l.snapshot.results,
                detailed: l.detailed(),
            })
            .collect();
        for check in REGISTRY {
            check.encode(&mut enc, &observed)?;
        }
        encode_compat(&mut enc, &latest)
    }
}

/// The series of other exporters that origins asked for (`global.compat`), after their own.
fn encode_compat(enc: &mut DescriptorEncoder, rows: &[Latest]) -> fmt::Result {
    use crate::compat::blackbox;
    let probed: Vec<blackbox::Probed> = rows
        .iter()
        .filter(|l| l.origin.compat.blackbox)
        .filter_map(|l| {
            let probe = blackbox::observe(&l.origin, &l.snapshot.results, l.snapshot.finished_at)?;
            Some(blackbox::Probed {
                origin: &l.origin,
                probe,
            })
        })
        .collect();
    if probed.is_empty() {
        return Ok(());
    }
    blackbox::encode(enc, &probed)
}

fn encode_verdict(enc: &mut DescriptorEncoder, rows: &[Latest]) -> fmt::Result {
    family(
        enc,
        "origin_cdn_ready",
        "1 when no critical cause is active: the CDN can fetch from this origin now.",
        rows,
        |o, s, e| e.gauge(o, &[], u8::from(s.diagnosis.cdn_ready) as i64),
    )?;
    family(
        enc,
        "origin_address_ready",
        "1 when no critical cause is active on this address of the origin (the CDN connects to any of them).",
        rows,
        |o, s, e| {
            for (address, ready) in &s.diagnosis.addresses {
                let address = address.to_string();
                e.gauge(o, &[("address", &address)], i64::from(*ready))?;
            }
            Ok(())
        },
    )?;
    family(enc, "origin_problem", "1 when the cause is active, 0 when not; one series per cause the origin's checks can detect (in large-fleet mode, active causes only).", rows, |o, s, e| {
        for &cause in &s.diagnosis.applicable {
            let active = s.diagnosis.is_active(cause);
            if active || !s.origin.large_fleet {
                e.gauge_rendered(o, cause_labels(cause), i64::from(active))?;
            }
        }
        Ok(())
    })?;
    family(
        enc,
        "origin_probe_success",
        "1 when the check ran to the end and found nothing critical.",
        rows,
        |o, s, e| {
            for c in &s.diagnosis.checks {
                e.gauge_rendered(o, check_labels(c.check), i64::from(c.success))?;
            }
            Ok(())
        },
    )?;
    detail_family(
        enc,
        "origin_probe_duration_seconds",
        "How long the check took.",
        rows,
        |o, s, e| {
            for c in &s.diagnosis.checks {
                if let Some(d) = module(c.check).duration(&s.results) {
                    e.gauge_rendered(o, check_labels(c.check), d.as_secs_f64())?;
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_last_probe_timestamp_seconds",
        "When the last full probe cycle of the origin ended.",
        rows,
        |o, s, e| e.gauge(o, &[], unix_seconds(s.finished_at)),
    )?;
    family(
        enc,
        "origin_probe_interval_seconds",
        "How often the origin is probed (its configured interval).",
        rows,
        |o, _, e| e.gauge(o, &[], o.interval.as_secs_f64()),
    )
}

fn cause_labels(cause: Cause) -> &'static str {
    static TABLE: Rendered<Cause> = Rendered::new();
    lookup(&TABLE, &Cause::ALL, cause, |c| {
        let mut s = String::new();
        push_label(&mut s, "cause", c.name());
        s.push(',');
        push_label(&mut s, "severity", c.severity().name());
        s
    })
}

fn check_labels(check: Check) -> &'static str {
    static TABLE: Rendered<Check> = Rendered::new();
    lookup(&TABLE, &Check::ALL, check, |c| {
        let mut s = String::new();
        push_label(&mut s, "check", c.name());
        s
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::checks::OriginResults;
    use crate::diagnose::diagnose;

    /// The pre-rendered origin and cause labels are exactly what prometheus-client writes for
    /// the same label pairs, escapes included, in both formats.
    #[test]
    fn rendered_origin_labels_match_the_generic_encoder() {
        let yaml = r#"origins:
  - {name: shop, domain: shop.example, labels: {team: "a\"b\\c\nd", tier: "1"}}
  - {name: bare, domain: bare.example}
"#;
        let cfg = crate::config::load_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        let store = Arc::new(Store::default());
        let mut reference = Registry::default();
        let family = Family::<Vec<(String, String)>, Gauge<f64, AtomicU64>>::default();
        reference.register(
            "origin_probe_interval_seconds",
            "How often the origin is probed (its configured interval).",
            family.clone(),
        );
        let problems = Family::<Vec<(String, String)>, Gauge>::default();
        reference.register(
            "origin_problem",
            "1 when the cause is active, 0 when not; one series per cause the origin's checks can detect.",
            problems.clone(),
        );
        let mut slots = Vec::new();
        for origin in &cfg.origins {
            let results = OriginResults::default();
            let diagnosis = diagnose(origin, &results);
            let own = |extra: &[(&str, &str)]| {
                let mut labels = vec![("origin".to_string(), origin.name.clone())];
                labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
                labels.extend(origin.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                labels
            };
            for &cause in &diagnosis.applicable {
                let labels = own(&[
                    ("cause", cause.name()),
                    ("severity", cause.severity().name()),
                ]);
                problems
                    .get_or_create(&labels)
                    .set(i64::from(diagnosis.is_active(cause)));
            }
            family
                .get_or_create(&own(&[]))
                .set(Duration::from_secs(60).as_secs_f64());
            let slot = Arc::new(Slot::new(Arc::clone(origin)));
            slot.publish(Arc::new(Snapshot {
                diagnosis,
                results,
                finished_at: SystemTime::now(),
            }));
            slots.push(slot);
        }
        store.replace(slots);
        let mut ours = Registry::default();
        ours.register_collector(Box::new(OriginCollector { store }));
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let want = encode(&reference, format).unwrap();
            let got = encode(&ours, format).unwrap();
            let lines = |text: &str| -> Vec<String> {
                let mut l: Vec<String> = text
                    .lines()
                    .filter(|l| {
                        l.starts_with("origin_probe_interval_seconds{")
                            || l.starts_with("origin_problem{")
                    })
                    .map(String::from)
                    .collect();
                l.sort();
                l
            };
            assert!(lines(&want).len() > 20, "{want}");
            assert_eq!(lines(&got), lines(&want), "{format:?}");
            assert!(got.contains(r#"{origin="shop",team="a\"b\\c\nd",tier="1"}"#));
        }
    }
}
