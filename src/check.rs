//! `origin_exporter check`: probe once and explain, for a person, what the CDN would run into:
//! each active cause, its evidence, what to do, and the command that confirms it by hand.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::config::{Check, Origin, Scheme};
use crate::diagnose::{dns_confirm_command, nameserver_lines, Finding, Severity};
use crate::metrics::ExporterMetrics;
use crate::probe::{self, HttpOutcome, Outcome, ProbeContext};
use crate::scheduler::probe_once;
use crate::store::Snapshot;

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
    let metrics = ExporterMetrics::default();
    let runs = origins.iter().map(|origin| {
        let (limiter, metrics) = (&limiter, &metrics);
        async move {
            let _permit = limiter.acquire().await;
            Report {
                origin: Arc::clone(origin),
                snapshot: probe_once(origin, ctx, metrics).await,
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
        for line in evidence(r) {
            let _ = writeln!(out, "  {}", p.dim(&line));
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
            let _ = writeln!(out, "      evidence: {}", f.detail);
            let _ = writeln!(out, "      fix:      {}", f.cause.remedy());
            let _ = writeln!(out, "      confirm:  {}", confirm_command(f, o, r));
        }
        out.push('\n');
    }
    let not_ready = reports
        .iter()
        .filter(|r| !r.snapshot.diagnosis.cdn_ready)
        .count();
    let _ = writeln!(
        out,
        "{} origin(s) checked, {not_ready} not ready",
        reports.len()
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
                        "remedy": f.cause.remedy(),
                        "confirm": confirm_command(f, o, r),
                    })
                })
                .collect();
            let checks: serde_json::Map<String, Value> = d
                .check_success
                .iter()
                .map(|(check, ok)| {
                    let duration = r.snapshot.results.duration(*check).map(|d| d.as_secs_f64());
                    (
                        check.name().to_string(),
                        json!({"success": ok, "duration_seconds": duration}),
                    )
                })
                .collect();
            json!({
                "origin": o.name,
                "domain": o.domain,
                "host_header": o.host_header,
                "cdn_ready": d.cdn_ready,
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

/// What each check saw, one line per check.
fn evidence(r: &Report) -> Vec<String> {
    let res = &r.snapshot.results;
    let o = &r.origin;
    let mut lines = Vec::new();
    if let Some(run) = &res.resolution {
        lines.push(match &run.outcome {
            Outcome::Completed(x) if x.succeeded() => {
                let addrs: Vec<String> = x.addresses.iter().map(ToString::to_string).collect();
                format!("dns:  {} resolves to {}", o.domain, addrs.join(", "))
            }
            Outcome::Completed(x) => format!(
                "dns:  {} does not resolve: {}",
                o.domain,
                x.error.as_deref().unwrap_or("no address")
            ),
            _ => format!("dns:  no answer for {} in time", o.domain),
        });
    }
    if let Some(report) = res.dns.as_ref().and_then(|d| d.completed()) {
        lines.extend(
            nameserver_lines(report)
                .into_iter()
                .map(|l| format!("dns:  {l}")),
        );
    }
    if let Some(report) = res.tcp.as_ref().and_then(|t| t.completed()) {
        let ports: Vec<String> = report
            .ports
            .iter()
            .map(|p| format!("{}:{} {}", p.address, p.port, p.state.reason()))
            .collect();
        lines.push(format!("tcp:  {}", ports.join("; ")));
    }
    if let Some(run) = &res.tls {
        lines.extend(tls_evidence(run));
    }
    if let Some(run) = &res.http {
        let spec = o.http.clone().unwrap_or_default();
        let line = match run.completed().map(|h| (&h.outcome, h.address)) {
            Some((HttpOutcome::Status(s), addr)) => format!(
                "http: {} {} (Host: {}) to {addr} answered {s} in {:.0} ms",
                spec.method,
                spec.path,
                o.sni(),
                run.duration.as_secs_f64() * 1000.0
            ),
            Some((other, addr)) => format!("http: request to {addr}: {other:?}"),
            None if run.timed_out() => "http: no answer in time".to_string(),
            None => "http: not sent (an earlier check failed)".to_string(),
        };
        lines.push(line);
    }
    lines
}

/// The CDN's handshake, the versions the origin speaks, the leaf, then every served certificate
/// in the order the origin sent it.
fn tls_evidence(run: &probe::CheckRun<probe::TlsReport>) -> Vec<String> {
    let Some(t) = run.completed() else {
        return vec![match run.outcome {
            Outcome::TimedOut => "tls:  no answer in time".to_string(),
            _ => "tls:  not attempted (an earlier check failed)".to_string(),
        }];
    };
    let hello = match (&t.handshake, &t.negotiated) {
        (probe::Handshake::Accepted, Some(n)) => format!("{} {}", n.version, n.cipher),
        _ => format!("refused: {}", t.cdn_reply.describe()),
    };
    let versions: Vec<&str> = t
        .protocols
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(v, _)| v.name())
        .collect();
    let mut line = format!(
        "tls:  {} CDN hello: {hello}; speaks: {}",
        t.address,
        if versions.is_empty() {
            "nothing".to_string()
        } else {
            versions.join(", ")
        }
    );
    if let Some(chain) = &t.chain {
        let leaf = chain
            .leaf
            .and_then(|p| chain.certs.iter().find(|c| c.position == p));
        if let (Some(leaf), Some(days)) = (leaf, chain.leaf_days_remaining) {
            line.push_str(&format!(
                "; leaf {} from {}, {days:.0} days left; {} certificate(s) served",
                leaf.subject_cn,
                leaf.issuer_cn,
                chain.certs.len()
            ));
        }
    }
    let mut lines = vec![line];
    for c in t.chain.iter().flat_map(|chain| chain.certs.iter()) {
        lines.push(format!(
            "      #{} {} issued by {}, valid {} to {}, serial {}",
            c.position,
            c.subject_cn,
            c.issuer_cn,
            date(c.not_before),
            date(c.not_after),
            c.serial
        ));
    }
    lines
}

/// A certificate time the way `openssl x509 -dates` shows it.
fn date(unix: i64) -> String {
    x509_parser::time::ASN1Time::from_timestamp(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("@{unix}"))
}

/// The command a person runs to see the problem with their own eyes.
fn confirm_command(f: &Finding, o: &Origin, r: &Report) -> String {
    let target = probe::reachable_address(o, &r.snapshot.results, Scheme::Https)
        .map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string())
        .unwrap_or_else(|_| format!("{}:{}", o.domain, o.https_port));
    let sni = o.sni();
    match f.cause.check() {
        Check::Dns => dns_confirm_command(
            f.cause,
            &o.domain,
            r.snapshot.results.dns.as_ref().and_then(|d| d.completed()),
        ),
        Check::Tcp => {
            let closed: Vec<String> = r
                .snapshot
                .results
                .tcp
                .as_ref()
                .and_then(|t| t.completed())
                .map(|t| {
                    t.closed()
                        .map(|p| format!("nc -vz -w 5 {} {}", p.address, p.port))
                        .collect()
                })
                .unwrap_or_default();
            if closed.is_empty() {
                format!("nc -vz -w 5 {} {}", o.domain, o.https_port)
            } else {
                closed.join("; ")
            }
        }
        Check::Tls => {
            format!("openssl s_client -connect {target} -servername {sni} -showcerts </dev/null")
        }
        Check::Http => {
            let spec = o.http.clone().unwrap_or_default();
            let (scheme, port) = if o.uses_https() {
                ("https", o.https_port)
            } else {
                ("http", o.http_port)
            };
            format!(
                "curl -sv -o /dev/null -X {} -H 'Host: {sni}' --connect-to {sni}:{port}:{}:{port} {scheme}://{sni}:{port}{}",
                spec.method, o.domain, spec.path
            )
        }
    }
}
