//! The landing page: every origin in one table a person can read at a glance — origins the CDN
//! cannot reach first, then those with warnings, then the healthy ones. Server-rendered HTML, no
//! JavaScript.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::response::Html;

use super::{escape, AppState};
use crate::checks::REGISTRY;
use crate::config::Origin;
use crate::diagnose::Severity;
use crate::discovery::{SkipReason, Skipped};
use crate::store::{Slot, Snapshot};

/// Where an origin stands, in the order the page lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    NotReady,
    Warning,
    Pending,
    Ready,
}

fn standing(snapshot: Option<&Snapshot>) -> Standing {
    match snapshot {
        None => Standing::Pending,
        Some(s) if !s.diagnosis.cdn_ready => Standing::NotReady,
        Some(s) if !s.diagnosis.findings.is_empty() => Standing::Warning,
        Some(_) => Standing::Ready,
    }
}

struct Row<'a> {
    standing: Standing,
    slot: &'a Arc<Slot>,
    snapshot: Option<Arc<Snapshot>>,
}

pub(super) async fn page(State(state): State<AppState>) -> Html<String> {
    let slots = state.store.slots();
    let skipped = state.own.discovery.skipped_origins();
    Html(render(&slots, &skipped, SystemTime::now()))
}

/// The page of `slots` (and of the CDN origins discovery skipped), as of `now`.
pub(crate) fn render(slots: &[Arc<Slot>], skipped: &[Skipped], now: SystemTime) -> String {
    let mut rows: Vec<Row> = slots
        .iter()
        .map(|slot| {
            let snapshot = slot.latest();
            Row {
                standing: standing(snapshot.as_deref()),
                slot,
                snapshot,
            }
        })
        .collect();
    rows.sort_by(|a, b| (a.standing, &a.slot.origin.name).cmp(&(b.standing, &b.slot.origin.name)));

    let count = |s: Standing| rows.iter().filter(|r| r.standing == s).count();
    let summary = format!(
        "<p class=summary><b>{}</b>: <span class=bad>{} not ready</span> · <span class=warn>{} with warnings</span> · <span class=ok>{} ready</span> · {} not probed yet</p>",
        crate::report::count(rows.len(), "origin"),
        count(Standing::NotReady),
        count(Standing::Warning),
        count(Standing::Ready),
        count(Standing::Pending)
    );

    let headings: String = REGISTRY
        .iter()
        .flat_map(|m| m.columns())
        .map(|c| format!("<th>{}</th>", escape(c)))
        .collect();
    let skipped = self::skipped(skipped);
    let mut body = String::new();
    for r in &rows {
        row(
            &mut body,
            r.standing,
            &r.slot.origin,
            r.snapshot.as_deref(),
            now,
        );
    }
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content=\"width=device-width, initial-scale=1\">
<title>origin_exporter</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
h1{{margin:0 0 .2em}} .sub{{color:#555;margin:0 0 1em}}
table{{border-collapse:collapse;width:100%}}
th{{background:#f0f0f0;text-align:left}}
td,th{{border:1px solid #ddd;padding:6px 8px;vertical-align:top}}
tr.NotReady td:first-child{{border-left:6px solid #c00}} tr.Warning td:first-child{{border-left:6px solid #e90}}
tr.Ready td:first-child{{border-left:6px solid #2a2}} tr.Pending td:first-child{{border-left:6px solid #999}}
.ok{{color:#1a7f1a}} .bad{{color:#c00;font-weight:bold}} .warn{{color:#b36b00}} .muted{{color:#777}}
.verdict{{white-space:nowrap}} .cause{{margin:.15em 0}} .detail{{color:#555;font-size:90%}} code{{font-size:90%}}
</style></head><body>
<h1>origin_exporter</h1>
<p class=sub>Probes CDN origins the way the CDN connects to them. <a href=\"/metrics\">Metrics</a> · <a href=\"/-/ready\">Readiness</a> · <a href=\"/-/healthy\">Health</a></p>
{summary}
<table>
<tr><th>Origin</th><th>CDN</th><th>Active causes</th>{headings}<th>Last probe</th></tr>
{body}</table>
{skipped}</body></html>"
    )
}

/// Rows of the not-probed table at most; the count says how many there are.
const MAX_SKIPPED_ROWS: usize = 1000;

/// The CDN origins discovery found and does not probe, so that nobody takes them for watched.
fn skipped(list: &[Skipped]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut rows = String::new();
    for s in list.iter().take(MAX_SKIPPED_ROWS) {
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b>: {}</td></tr>",
            escape(&s.distribution_id),
            escape(&s.origin_id),
            escape(&s.domain),
            s.reason.name(),
            why_skipped(s.reason)
        );
    }
    if list.len() > MAX_SKIPPED_ROWS {
        let _ = writeln!(
            rows,
            "<tr><td colspan=4 class=muted>and {} more (origin_exporter_discovery_skipped_origins counts them)</td></tr>",
            list.len() - MAX_SKIPPED_ROWS
        );
    }
    format!(
        "<h2 id=skipped>Not probed</h2>
<p class=sub>{} discovered from the CDN and <b>not watched</b> by this exporter:</p>
<table>
<tr><th>Distribution</th><th>CDN origin</th><th>Domain</th><th>Why not probed</th></tr>
{rows}</table>",
        crate::report::count(list.len(), "origin")
    )
}

fn why_skipped(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::VpcOrigin => "a VPC origin, reachable from inside its VPC only; run the exporter in that VPC with discovery.cloudfront.vpc_origins: probe",
        SkipReason::S3Origin => "an S3 bucket origin",
        SkipReason::Invalid => "its settings make no valid origin (the exporter's log says which)",
        SkipReason::DuplicateName => "an origin of the same name exists",
    }
}

fn row(out: &mut String, standing: Standing, o: &Origin, s: Option<&Snapshot>, now: SystemTime) {
    let name = escape(&o.name);
    let link = format!("/probe?origin={}", percent_encode(&o.name));
    let host = o
        .host_header
        .as_deref()
        .map(|h| format!("<br><span class=muted>Host: {}</span>", escape(h)))
        .unwrap_or_default();
    let verdict = match standing {
        Standing::NotReady => "<span class=bad>NOT READY</span>",
        Standing::Warning => "<span class=warn>ready, warnings</span>",
        Standing::Ready => "<span class=ok>ready</span>",
        Standing::Pending => "<span class=muted>pending</span>",
    };
    let (causes, cells, age) = match s {
        None => (String::new(), pending_cells(), "never".into()),
        Some(s) => (causes(s) + &evidence(o, s), cells(o, s), age(s, now)),
    };
    let _ = writeln!(
        out,
        "<tr class={standing:?}><td><a href=\"{link}\"><b>{name}</b></a><br><span class=muted>{}</span>{host}</td><td class=verdict>{verdict}</td><td>{causes}</td>{cells}<td>{age}</td></tr>",
        escape(&o.domain),
    );
}

fn causes(s: &Snapshot) -> String {
    let mut out = String::new();
    for f in &s.diagnosis.findings {
        let class = match f.cause.severity() {
            Severity::Critical => "bad",
            Severity::Warning => "warn",
        };
        let _ = write!(
            out,
            "<div class=cause><span class={class}>{}</span> <span class=muted>({})</span><div class=detail>{}</div></div>",
            f.cause.name(),
            f.cause.severity().name(),
            escape(&f.detail)
        );
    }
    if out.is_empty() {
        out.push_str("<span class=muted>none</span>");
    }
    out
}

/// What each check saw, folded: the same words as `origin_exporter check` prints.
fn evidence(o: &Origin, s: &Snapshot) -> String {
    let lines: Vec<String> = REGISTRY
        .iter()
        .flat_map(|m| m.evidence(o, &s.results))
        .map(|l| escape(&l))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "<details class=detail><summary>evidence</summary><pre>{}</pre></details>",
        lines.join("\n")
    )
}

/// Every check's cells of a probed origin, in registry order (see `CheckModule::cells`).
fn cells(o: &Origin, s: &Snapshot) -> String {
    REGISTRY
        .iter()
        .flat_map(|m| {
            let mut cells = m.cells(o, &s.results, &s.diagnosis);
            // One cell per column, whatever the check returned.
            cells.resize(m.columns().len(), String::new());
            cells
        })
        .map(|c| format!("<td>{c}</td>"))
        .collect()
}

/// The checks' cells of an origin not probed yet.
fn pending_cells() -> String {
    let columns = REGISTRY.iter().map(|m| m.columns().len()).sum();
    "<td>–</td>".repeat(columns)
}

fn age(s: &Snapshot, now: SystemTime) -> String {
    match now.duration_since(s.finished_at) {
        Ok(d) if d.as_secs() < 120 => format!("{}s ago", d.as_secs()),
        Ok(d) if d.as_secs() < 7200 => format!("{}m ago", d.as_secs() / 60),
        Ok(d) => format!("{}h ago", d.as_secs() / 3600),
        Err(_) => "just now".into(),
    }
}

/// Origin names are `[A-Za-z0-9_.-]+`, all safe in a query; encode anyway, defensively.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
