//! Results to series. Per-origin series are encoded at scrape time from the latest snapshots by a
//! [`prometheus_client::collector::Collector`], so an origin removed from the config vanishes
//! with its slot; the exporter's own metrics are ordinary registered metrics.

use std::fmt::{self, Write as _};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabel, EncodeLabelSet, EncodeMetric,
    LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::cdn::TlsVersion;
use crate::config::{Check, Origin};
use crate::diagnose::Cause;
use crate::probe::dns::ServerReport;
use crate::probe::{unix_seconds, DnsReport, PortState};
use crate::store::{Slot, Snapshot, Store};

/// The exporter's own metrics, updated by the scheduler and the reloader.
#[derive(Debug, Default)]
pub struct ExporterMetrics {
    pub config_reload_successful: Gauge,
    pub config_reload_timestamp: Gauge<f64, AtomicU64>,
    pub web_config_reload_successful: Gauge,
    pub origins: Gauge,
    probes: Family<[(&'static str, &'static str); 2], Counter>,
    build_info: Family<[(&'static str, &'static str); 2], Gauge>,
}

/// How one check run ended, for `origin_exporter_probes_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    Failure,
    Timeout,
}

impl ExporterMetrics {
    pub fn count_probe(&self, check: Check, result: ProbeResult) {
        let result = match result {
            ProbeResult::Success => "success",
            ProbeResult::Failure => "failure",
            ProbeResult::Timeout => "timeout",
        };
        self.probes
            .get_or_create(&[("check", check.name()), ("result", result)])
            .inc();
    }
}

/// Builds the registry served on `/metrics`: the exporter's metrics and the origins' collector.
pub fn registry(store: Arc<Store>, own: Arc<ExporterMetrics>) -> Registry {
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
        "Version and revision of the running exporter; value 1.",
        own.build_info.clone(),
    );
    registry.register(
        "origin_exporter_config_last_reload_successful",
        "1 if the last config (re)load succeeded, 0 if it failed and the previous config is still in force.",
        own.config_reload_successful.clone(),
    );
    registry.register(
        "origin_exporter_config_last_reload_success_timestamp_seconds",
        "When the config was last loaded successfully.",
        own.config_reload_timestamp.clone(),
    );
    registry.register(
        "origin_exporter_web_config_last_reload_successful",
        "1 if the last load of --web.config.file succeeded (or none is set), 0 if it failed and the previous one is in force.",
        own.web_config_reload_successful.clone(),
    );
    registry.register(
        "origin_exporter_origins",
        "Origins in the running config.",
        own.origins.clone(),
    );
    // Registered without `_total`: the encoder adds it to counters.
    registry.register(
        "origin_exporter_probes",
        "Checks run, by check and result (success, failure, timeout).",
        own.probes.clone(),
    );
    registry.register_collector(Box::new(RuntimeCollector));
    registry.register_collector(Box::new(OriginCollector { store }));
    registry
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

/// Encodes the latest snapshot of every origin (or of the given slots only, for `/probe`).
#[derive(Debug)]
pub struct OriginCollector {
    store: Arc<Store>,
}

/// Encodes one origin's series without the exporter's own metrics, for `/probe`.
pub fn encode_origin(slot: Arc<Slot>, format: Format) -> Result<String, fmt::Error> {
    let store = Arc::new(Store::default());
    store.replace(vec![slot]);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(OriginCollector { store }));
    encode(&registry, format)
}

impl Collector for OriginCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let slots = self.store.slots();
        let snaps: Vec<(Labeled, Arc<Snapshot>)> = slots
            .iter()
            .filter_map(|s| s.latest().map(|snap| (Labeled::new(&s.origin), snap)))
            .collect();
        encode_verdict(&mut enc, &snaps)?;
        encode_dns(&mut enc, &snaps)?;
        encode_tcp(&mut enc, &snaps)?;
        encode_tls(&mut enc, &snaps)?;
        encode_http(&mut enc, &snaps)?;
        Ok(())
    }
}

type Snaps<'a> = [(Labeled<'a>, Arc<Snapshot>)];

/// An origin with its own labels rendered once per scrape: `origin="NAME"` and its configured
/// `labels`, escaped, which every one of its ~40-70 series repeats. Encoding them label by label
/// through the generic label encoder was a third of the time of a 10,000-origin scrape.
struct Labeled<'a> {
    origin: &'a Origin,
    /// `origin="NAME"`.
    head: String,
    /// The configured labels, `k="v",k2="v2"`; empty when there are none.
    tail: String,
}

impl<'a> Labeled<'a> {
    fn new(origin: &'a Origin) -> Self {
        let mut head = String::with_capacity(origin.name.len() + 10);
        push_label(&mut head, "origin", &origin.name);
        let mut tail = String::new();
        for (k, v) in &origin.labels {
            if !tail.is_empty() {
                tail.push(',');
            }
            push_label(&mut tail, k, v);
        }
        Labeled { origin, head, tail }
    }
}

impl std::ops::Deref for Labeled<'_> {
    type Target = Origin;
    fn deref(&self) -> &Origin {
        self.origin
    }
}

/// Appends `key="value"` with the value escaped as the text formats require (the same escapes
/// as prometheus-client's label values: backslash, double quote, newline).
fn push_label(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn encode_verdict(enc: &mut DescriptorEncoder, snaps: &Snaps) -> fmt::Result {
    family(
        enc,
        "origin_cdn_ready",
        "1 when no critical cause is active: the CDN can fetch from this origin now.",
        snaps,
        |o, s, e| e.gauge(o, &[], u8::from(s.diagnosis.cdn_ready) as i64),
    )?;
    family(enc, "origin_problem", "1 when the cause is active, 0 when not; one series per cause the origin's checks can detect.", snaps, |o, s, e| {
        for &cause in &s.diagnosis.applicable {
            let active = s.diagnosis.is_active(cause);
            e.gauge_rendered(o, cause_labels(cause), i64::from(active))?;
        }
        Ok(())
    })?;
    family(
        enc,
        "origin_probe_success",
        "1 when the check ran and found nothing critical.",
        snaps,
        |o, s, e| {
            for &(check, ok) in &s.diagnosis.check_success {
                e.gauge_rendered(o, check_labels(check), i64::from(ok))?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_probe_duration_seconds",
        "How long the check took.",
        snaps,
        |o, s, e| {
            for &(check, _) in &s.diagnosis.check_success {
                if let Some(d) = s.results.duration(check) {
                    e.gauge_rendered(o, check_labels(check), d.as_secs_f64())?;
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_last_probe_timestamp_seconds",
        "When the last full probe cycle of the origin ended.",
        snaps,
        |o, s, e| e.gauge(o, &[], unix_seconds(s.finished_at)),
    )?;
    family(
        enc,
        "origin_probe_interval_seconds",
        "How often the origin is probed (its configured interval).",
        snaps,
        |o, _, e| e.gauge(o, &[], o.interval.as_secs_f64()),
    )
}

fn encode_dns(enc: &mut DescriptorEncoder, snaps: &Snaps) -> fmt::Result {
    family(
        enc,
        "origin_dns_resolve_success",
        "1 when the domain resolves to at least one address through the recursive resolvers.",
        snaps,
        |o, s, e| match s.results.resolution.as_ref() {
            Some(run) => e.gauge(
                o,
                &[],
                i64::from(run.completed().is_some_and(|r| r.succeeded())),
            ),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_dns_resolve_duration_seconds",
        "How long resolving the domain took.",
        snaps,
        |o, s, e| match s.results.resolution.as_ref() {
            Some(run) => e.gauge(o, &[], run.duration.as_secs_f64()),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_dns_addresses",
        "Number of A and AAAA addresses the domain resolved to.",
        snaps,
        |o, s, e| match s.results.resolution.as_ref() {
            Some(run) => e.gauge(
                o,
                &[],
                run.completed().map_or(0, |r| r.addresses.len() as i64),
            ),
            None => Ok(()),
        },
    )?;
    encode_nameservers(enc, snaps)
}

/// Per nameserver address of the origin's zone. Addresses this host has no route to (an IPv6
/// server from an IPv4-only host) have no series: nothing was learnt about them.
fn encode_nameservers(enc: &mut DescriptorEncoder, snaps: &Snaps) -> fmt::Result {
    fn report(s: &Snapshot) -> Option<&DnsReport> {
        s.results.dns.as_ref().and_then(|r| r.completed())
    }
    /// Counts and flags print as integers, times as floats.
    enum Num {
        I(i64),
        F(f64),
    }
    type Value = fn(&ServerReport) -> Option<Num>;
    let families: [(&str, &str, Value); 4] = [
        (
            "origin_dns_nameserver_up",
            "1 when a response from that nameserver address arrived within the timeout (any rcode).",
            |s| Some(Num::I(i64::from(s.up()))),
        ),
        (
            "origin_dns_nameserver_authoritative",
            "1 when that nameserver's answers had the AA flag (and were not REFUSED).",
            |s| Some(Num::I(i64::from(s.authoritative()))),
        ),
        (
            "origin_dns_nameserver_response_seconds",
            "Time to that nameserver's answer to the SOA query (to the A query if the SOA got none); absent when it did not answer.",
            |s| s.response_time().map(|d| Num::F(d.as_secs_f64())),
        ),
        (
            "origin_dns_soa_serial",
            "SOA serial that nameserver reports with authority.",
            |s| s.soa_serial().map(|n| Num::I(i64::from(n))),
        ),
    ];
    for (name, help, value) in families {
        family(enc, name, help, snaps, |o, snap, e| {
            let Some(r) = report(snap) else { return Ok(()) };
            let zone = r.zone.as_deref().unwrap_or_default();
            for s in r.servers.iter().filter(|s| !s.untestable()) {
                if let Some(v) = value(s) {
                    let addr = s.address.to_string();
                    let labels = [
                        ("zone", zone),
                        ("nameserver", s.nameserver.as_str()),
                        ("address", addr.as_str()),
                    ];
                    match v {
                        Num::I(i) => e.gauge(o, &labels, i)?,
                        Num::F(f) => e.gauge(o, &labels, f)?,
                    }
                }
            }
            Ok(())
        })?;
    }
    family(
        enc,
        "origin_dns_delegation_match",
        "1 when the parent zone's NS set for the origin's zone equals the zone's own NS set; absent when no parent server gave a referral.",
        snaps,
        |o, snap, e| match report(snap).and_then(|r| Some((r.zone.as_deref()?, r.delegation.as_ref()?))) {
            Some((zone, d)) => e.gauge(
                o,
                &[("zone", zone), ("parent_zone", d.parent_zone.as_str())],
                i64::from(d.matches()),
            ),
            None => Ok(()),
        },
    )
}

fn encode_tcp(enc: &mut DescriptorEncoder, snaps: &Snaps) -> fmt::Result {
    fn ports(s: &Snapshot) -> &[crate::probe::PortResult] {
        s.results
            .tcp
            .as_ref()
            .and_then(|r| r.completed())
            .map_or(&[], |r| r.ports.as_slice())
    }
    family(
        enc,
        "origin_tcp_port_up",
        "1 when a connection to the address and port was accepted.",
        snaps,
        |o, s, e| {
            for p in ports(s) {
                let (addr, port) = (p.address.to_string(), p.port.to_string());
                e.gauge(
                    o,
                    &[("address", &addr), ("port", &port)],
                    i64::from(p.state == PortState::Open),
                )?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_tcp_connect_duration_seconds",
        "How long the TCP connection took to be accepted, refused or time out.",
        snaps,
        |o, s, e| {
            for p in ports(s) {
                let (addr, port) = (p.address.to_string(), p.port.to_string());
                e.gauge(
                    o,
                    &[("address", &addr), ("port", &port)],
                    p.duration.as_secs_f64(),
                )?;
            }
            Ok(())
        },
    )
}

fn encode_http(enc: &mut DescriptorEncoder, snaps: &Snaps) -> fmt::Result {
    use crate::probe::{HttpOutcome, HttpReport};
    fn answered(s: &Snapshot) -> Option<(&HttpReport, u16)> {
        let report = s.results.http.as_ref()?.completed()?;
        match report.outcome {
            HttpOutcome::Status(code) => Some((report, code)),
            _ => None,
        }
    }
    family(
        enc,
        "origin_http_status_code",
        "Status of the request the CDN would send.",
        snaps,
        |o, s, e| match answered(s) {
            Some((_, code)) => e.gauge(o, &[], i64::from(code)),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_http_duration_seconds",
        "Time from sending the request to the response headers.",
        snaps,
        |o, s, e| match answered(s) {
            Some((r, _)) => e.gauge(o, &[], r.duration.as_secs_f64()),
            None => Ok(()),
        },
    )
}

fn encode_tls(enc: &mut DescriptorEncoder, snaps: &Snaps) -> fmt::Result {
    use crate::probe::{Handshake, Outcome, TlsReport};
    fn report(s: &Snapshot) -> Option<&TlsReport> {
        s.results.tls.as_ref().and_then(|r| r.completed())
    }
    fn chain(s: &Snapshot) -> Option<&crate::analysis::ChainReport> {
        report(s).and_then(|r| r.chain.as_ref())
    }
    family(
        enc,
        "origin_tls_handshake_success",
        "1 when the origin answered the CDN's own ClientHello with a protocol and cipher the CDN offered.",
        snaps,
        |o, s, e| match s.results.tls.as_ref().map(|r| &r.outcome) {
            None => Ok(()),
            Some(Outcome::Completed(r)) => {
                e.gauge(o, &[], i64::from(r.handshake == Handshake::Accepted))
            }
            Some(_) => e.gauge(o, &[], 0),
        },
    )?;
    family(
        enc,
        "origin_tls_version_info",
        "Negotiated protocol version; value 1.",
        snaps,
        |o, s, e| match report(s).and_then(|r| r.negotiated.as_ref()) {
            Some(n) => e.gauge(o, &[("version", n.version.name())], 1),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_tls_cipher_info",
        "Negotiated cipher suite (OpenSSL name; IANA name for TLS 1.3 suites); value 1.",
        snaps,
        |o, s, e| match report(s).and_then(|r| r.negotiated.as_ref()) {
            Some(n) => e.gauge(o, &[("cipher", &n.cipher)], 1),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_tls_protocol_supported",
        "1 when the origin accepts a ClientHello offering only that version.",
        snaps,
        |o, s, e| {
            for (v, ok) in report(s).map_or(&[][..], |r| r.protocols.as_slice()) {
                e.gauge_rendered(o, version_labels(*v), i64::from(*ok))?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_tls_cert_days_remaining",
        "Days until the leaf certificate expires (negative once expired).",
        snaps,
        |o, s, e| match chain(s).and_then(|c| c.leaf_days_remaining) {
            Some(days) => e.gauge(o, &[], days),
            None => Ok(()),
        },
    )?;
    for (name, help, not_after) in [
        (
            "origin_tls_cert_not_after_timestamp_seconds",
            "notAfter of every certificate the origin served; position 0 is the first one sent.",
            true,
        ),
        (
            "origin_tls_cert_not_before_timestamp_seconds",
            "notBefore of every certificate the origin served; position 0 is the first one sent.",
            false,
        ),
    ] {
        family(enc, name, help, snaps, |o, s, e| {
            for c in chain(s).map_or(&[][..], |c| &c.certs[..]) {
                let position = c.position.to_string();
                let labels = [
                    ("position", position.as_str()),
                    ("subject_cn", c.subject_cn.as_str()),
                    ("issuer_cn", c.issuer_cn.as_str()),
                    ("serial", c.serial.as_str()),
                ];
                let t = if not_after { c.not_after } else { c.not_before };
                e.gauge(o, &labels, t)?;
            }
            Ok(())
        })?;
    }
    family(
        enc,
        "origin_tls_chain_valid",
        "1 when the served chain is in order, complete, within validity, and reaches a trusted root.",
        snaps,
        |o, s, e| match chain(s) {
            Some(c) => e.gauge(o, &[], i64::from(c.chain_valid())),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_tls_san_match",
        "1 when the leaf certificate covers the name (domain, and host_header if set).",
        snaps,
        |o, s, e| {
            for (name, ok) in chain(s).map_or(&[][..], |c| c.names.as_slice()) {
                e.gauge(o, &[("name", name)], i64::from(*ok))?;
            }
            Ok(())
        },
    )
}

/// Writes one gauge family: its descriptor, then every origin's series through `each`.
fn family<F>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    snaps: &Snaps,
    each: F,
) -> fmt::Result
where
    F: Fn(&Labeled, &Snapshot, &mut Series) -> fmt::Result,
{
    let metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    let mut series = Series { metric };
    for (origin, snap) in snaps {
        each(origin, snap, &mut series)?;
    }
    Ok(())
}

/// Emits series of one family.
pub struct Series<'a> {
    metric: MetricEncoder<'a>,
}

impl Series<'_> {
    fn gauge(
        &mut self,
        origin: &Labeled,
        extra: &[(&str, &str)],
        value: impl EncodeGaugeValue,
    ) -> fmt::Result {
        let labels = OriginLabels {
            origin,
            rendered: "",
            extra,
        };
        self.metric.encode_family(&labels)?.encode_gauge(&value)
    }

    /// A series whose own labels are already rendered (`k="v",...`, see [`cause_labels`]).
    fn gauge_rendered(
        &mut self,
        origin: &Labeled,
        rendered: &str,
        value: impl EncodeGaugeValue,
    ) -> fmt::Result {
        let labels = OriginLabels {
            origin,
            rendered,
            extra: &[],
        };
        self.metric.encode_family(&labels)?.encode_gauge(&value)
    }
}

/// The own labels of the series that repeat for every origin, rendered once per process: half
/// of all series are `origin_problem`'s, whose `cause`/`severity` pairs are fixed identifiers.
type Rendered<T> = std::sync::OnceLock<Vec<(T, String)>>;

fn lookup<T: Copy + PartialEq>(
    table: &'static Rendered<T>,
    all: &[T],
    key: T,
    render: impl Fn(T) -> String,
) -> &'static str {
    let rows = table.get_or_init(|| all.iter().map(|&t| (t, render(t))).collect());
    rows.iter()
        .find(|(t, _)| *t == key)
        .map_or("", |(_, s)| s.as_str())
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

fn version_labels(version: TlsVersion) -> &'static str {
    static TABLE: Rendered<TlsVersion> = Rendered::new();
    lookup(&TABLE, &TlsVersion::ALL, version, |v| {
        let mut s = String::new();
        push_label(&mut s, "version", v.name());
        s
    })
}

/// `origin`, the series' own labels (rendered, then pairs), then the origin's configured
/// `labels`.
struct OriginLabels<'a> {
    origin: &'a Labeled<'a>,
    rendered: &'a str,
    extra: &'a [(&'a str, &'a str)],
}

impl EncodeLabelSet for OriginLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        rendered(encoder, &self.origin.head)?;
        if !self.rendered.is_empty() {
            rendered(encoder, self.rendered)?;
        }
        for (k, v) in self.extra {
            (*k, *v).encode(encoder.encode_label())?;
        }
        if !self.origin.tail.is_empty() {
            rendered(encoder, &self.origin.tail)?;
        }
        Ok(())
    }
}

/// Writes already rendered `k="v"` pairs as one label: the key encoder writes text as is and
/// places the separator (`{` or `,`), and a label whose value is never started ends there.
fn rendered(encoder: &mut LabelSetEncoder, labels: &str) -> fmt::Result {
    encoder.encode_label().encode_label_key()?.write_str(labels)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::diagnose::diagnose;
    use crate::probe::OriginResults;

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
