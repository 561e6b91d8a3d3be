//! `origin_exporter check`: probe once and explain, for a person, what the CDN would run into:
//! each active cause, its evidence, what to do, and the command that confirms it by hand. The
//! words come from each check's module (`evidence`, `confirm`); this module lays them out.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::checks::{module, ProbeContext, REGISTRY};
use crate::config::Origin;
use crate::cycle::{self, Snapshot};
use crate::diagnose::{Finding, Severity};

/// One origin's result.
pub struct Report {
    pub origin: Arc<Origin>,
    pub snapshot: Snapshot,
}

/// Probes every origin once, at most `concurrency` at a time, in the given order.
pub async fn probe_all(
    origins: &[Arc<Origin>],
    ctx: &ProbeContext,
    concurrency: usize,
) -> Vec<Report> {
    let limiter = Semaphore::new(concurrency.max(1));
    let runs = origins.iter().map(|origin| {
        let limiter = &limiter;
        async move {
            let _permit = limiter.acquire().await;
            Report {
                origin: Arc::clone(origin),
                snapshot: cycle::run_once(origin, ctx).await,
            }
        }
    });
    futures_util::future::join_all(runs).await
}

/// 0 when every origin is CDN-ready, 1 when a critical cause is active somewhere.
pub fn exit_code(reports: &[Report]) -> u8 {
    u8::from(reports.iter().any(|r| !r.snapshot.diagnosis.cdn_ready))
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn red(&self, t: &str) -> String {
        self.wrap("1;31", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
}

/// `1 origin`, `2 origins`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Text from the network (certificate names, server strings, header values) as it may be shown
/// on a terminal: control characters, and so escape sequences, are written as `\u{..}` escapes.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// The diagnosis as text; `colour` adds ANSI colours (for a terminal).
pub fn render_text(reports: &[Report], colour: bool) -> String {
    let p = Paint(colour);
    let mut out = String::new();
    for r in reports {
        let o = &r.origin;
        let d = &r.snapshot.diagnosis;
        let verdict = if d.cdn_ready {
            p.green("CDN READY")
        } else {
            p.red("NOT READY")
        };
        let _ = writeln!(out, "{} ({}): {verdict}", o.name, o.domain);
        // Which of several addresses the CDN may use are broken: a share of viewers gets 502.
        if d.addresses.len() > 1 {
            let each: Vec<String> = d
                .addresses
                .iter()
                .map(|(a, ready)| format!("{a} {}", if *ready { "ready" } else { "NOT READY" }))
                .collect();
            let _ = writeln!(out, "  addresses: {}", each.join(", "));
        }
        for line in evidence(r) {
            let _ = writeln!(out, "  {}", p.dim(&printable(&line)));
        }
        if d.findings.is_empty() {
            let _ = writeln!(out, "  no known cause of a 502 is active");
        }
        for f in &d.findings {
            let tag = match f.cause.severity() {
                Severity::Critical => p.red(&format!("✘ {} [critical]", f.cause.name())),
                Severity::Warning => p.yellow(&format!("! {} [warning]", f.cause.name())),
            };
            let _ = writeln!(out, "  {tag}");
            let _ = writeln!(out, "      {}", f.cause.summary());
            let _ = writeln!(out, "      evidence: {}", printable(&f.detail));
            let _ = writeln!(out, "      fix:      {}", f.cause.remedy());
            let _ = writeln!(
                out,
                "      confirm:  {}",
                printable(&confirm_command(f, o, r))
            );
        }
        out.push('\n');
    }
    let not_ready = reports
        .iter()
        .filter(|r| !r.snapshot.diagnosis.cdn_ready)
        .count();
    let _ = writeln!(
        out,
        "{} checked, {not_ready} not ready",
        count(reports.len(), "origin")
    );
    out
}

/// The same diagnosis as JSON, for scripts.
pub fn render_json(reports: &[Report]) -> Value {
    let origins: Vec<Value> = reports
        .iter()
        .map(|r| {
            let o = &r.origin;
            let d = &r.snapshot.diagnosis;
            let causes: Vec<Value> = d
                .findings
                .iter()
                .map(|f| {
                    json!({
                        "cause": f.cause.name(),
                        "severity": f.cause.severity().name(),
                        "summary": f.cause.summary(),
                        "evidence": f.detail,
                        "addresses": f.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "remedy": f.cause.remedy(),
                        "confirm": confirm_command(f, o, r),
                    })
                })
                .collect();
            let checks: serde_json::Map<String, Value> = d
                .checks
                .iter()
                .map(|c| {
                    let duration = module(c.check)
                        .duration(&r.snapshot.results)
                        .map(|d| d.as_secs_f64());
                    // A check that did not run is neither a success nor a failure.
                    let success = match c.result() {
                        Some("not_run") | None => Value::Null,
                        Some(_) => Value::Bool(c.success),
                    };
                    (
                        c.check.name().to_string(),
                        json!({
                            "result": c.result().unwrap_or("not_run"),
                            "success": success,
                            "duration_seconds": duration,
                        }),
                    )
                })
                .collect();
            json!({
                "origin": o.name,
                "domain": o.domain,
                "host_header": o.host_header,
                "cdn_ready": d.cdn_ready,
                "addresses": d.addresses.iter().map(|(a, ready)| json!({"address": a.to_string(), "ready": ready})).collect::<Vec<_>>(),
                "causes": causes,
                "checks": checks,
                "evidence": evidence(r),
            })
        })
        .collect();
    json!({
        "ready": reports.iter().all(|r| r.snapshot.diagnosis.cdn_ready),
        "origins": origins,
    })
}

/// What each check saw, in run order (a module whose check did not run says nothing).
fn evidence(r: &Report) -> Vec<String> {
    REGISTRY
        .iter()
        .flat_map(|m| m.evidence(&r.origin, &r.snapshot.results))
        .collect()
}

/// The command a person runs to see the problem with their own eyes.
fn confirm_command(f: &Finding, o: &Origin, r: &Report) -> String {
    f.cause.owner().confirm(f.cause, o, &r.snapshot.results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_text_cannot_drive_the_terminal() {
        assert_eq!(
            printable("leaf.example, issued by CA"),
            "leaf.example, issued by CA"
        );
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        let hostile = "evil\x1b[2J\x1b]0;title\x07\r\nnext";
        let shown = printable(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "evil\\u{1b}[2J\\u{1b}]0;title\\u{7}\\u{d}\\u{a}next");
        // Non-ASCII text that is not a control character stays as it is.
        assert_eq!(printable("zürich ✓"), "zürich ✓");
        assert_eq!(count(1, "origin"), "1 origin");
        assert_eq!(count(0, "origin"), "0 origins");
        assert_eq!(count(2, "origin"), "2 origins");
    }
}
