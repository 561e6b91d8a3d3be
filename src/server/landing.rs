//! The landing page: one row per origin, readable at a glance, no JavaScript.

use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::State;
use axum::response::Html;

use super::{escape, AppState};
use crate::diagnose::Severity;

pub(super) async fn page(State(state): State<AppState>) -> Html<String> {
    let slots = state.store.slots();
    let mut rows = String::new();
    for slot in slots.iter() {
        let o = &slot.origin;
        let name = escape(&o.name);
        let (ready, causes, age) = match slot.latest() {
            None => (
                "<td class=pending>pending</td>".to_string(),
                String::new(),
                "never".to_string(),
            ),
            Some(s) => {
                let ready = if s.diagnosis.cdn_ready {
                    "<td class=ok>ready</td>".to_string()
                } else {
                    "<td class=bad>NOT READY</td>".to_string()
                };
                let mut causes = String::new();
                for f in &s.diagnosis.findings {
                    let class = match f.cause.severity() {
                        Severity::Critical => "crit",
                        Severity::Warning => "warn",
                    };
                    let _ = write!(
                        causes,
                        "<div class={class}><b>{}</b> ({}): {}</div>",
                        f.cause.name(),
                        f.cause.severity().name(),
                        escape(&f.detail)
                    );
                }
                let age = SystemTime::now()
                    .duration_since(s.finished_at)
                    .map(|d| format!("{}s ago", d.as_secs()))
                    .unwrap_or_else(|_| "just now".into());
                (ready, causes, age)
            }
        };
        let _ = write!(
            rows,
            "<tr><td>{name}</td><td>{}</td>{ready}<td>{causes}</td><td>{age}</td></tr>",
            escape(&o.domain)
        );
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>origin_exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
.ok{{color:#070}}.bad{{color:#b00;font-weight:bold}}.crit{{color:#b00}}.warn{{color:#a60}}.pending{{color:#777}}</style>
</head><body><h1>origin_exporter</h1>
<p>Probes CDN origins the way the CDN connects to them. <a href=\"/metrics\">Metrics</a> ·
<a href=\"/-/ready\">Readiness</a></p>
<table><tr><th>Origin</th><th>Domain</th><th>CDN</th><th>Active causes</th><th>Last probe</th></tr>
{rows}</table></body></html>"
    ))
}
