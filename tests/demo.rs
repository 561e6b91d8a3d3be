//! `origin_exporter demo` as a user runs it: the binary on a free port; every origin shows the
//! cause the demo lists for it and nothing else, the ones without a critical cause are ready, the
//! landing page and the printed `check` command line work, and Ctrl-C (SIGINT) stops everything
//! and removes the demo's directory.

mod lab;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::{http_get, Scrape};
use origin_exporter::demo::ORIGINS;
use origin_exporter::diagnose::{Cause, Severity};

/// How long the demo may take to print its guide, and then to show every cause.
const DEMO_WAIT: Duration = Duration::from_secs(60);

/// The causes the demo must show (issue #26), each on an origin of its own.
const REQUIRED: [&str; 14] = [
    "cert_expired",
    "cert_not_yet_valid",
    "cert_hostname_mismatch",
    "cert_self_signed",
    "cert_untrusted",
    "cert_chain_incomplete",
    "cert_chain_order",
    "tls_protocol_mismatch",
    "tls_cipher_mismatch",
    "tls_client_certificate_required",
    "http_error_status",
    "http_timeout",
    "port_unreachable",
    "http_keepalive_race",
];

/// The demo process, killed if the test ends before it stopped.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The guide the demo prints, up to its last line.
async fn guide(demo: &mut Demo) -> Vec<String> {
    let stdout = demo.0.stdout.take().expect("piped stdout");
    let read = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.starts_with("Ctrl-C");
            lines.push(line);
            if last {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(DEMO_WAIT, read)
        .await
        .expect("the demo prints its guide in time")
        .expect("read the guide");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("Ctrl-C")),
        "the demo ended before its guide was complete: {lines:#?}"
    );
    lines
}

/// The text after `label` on the guide's line that starts with it.
fn field<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:#?}"))
}

/// Runs the guide's `check` command line for `origin`: (exit code, output).
async fn check(command_line: &str, origin: &str) -> (i32, String) {
    let mut words = command_line
        .split_whitespace()
        .filter(|w| *w != "[ORIGIN...]");
    let program = words.next().expect("a program").to_string();
    let args: Vec<String> = words.map(str::to_string).collect();
    let origin = origin.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(program)
            .args(args)
            .arg(origin)
            .output()
            .expect("run the check command line");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .expect("check")
}

#[test]
fn the_demo_shows_every_required_cause_on_an_origin_of_its_own() {
    for cause in REQUIRED {
        let shown: Vec<&str> = ORIGINS
            .iter()
            .filter(|o| o.causes == [cause])
            .map(|o| o.name)
            .collect();
        assert_eq!(shown.len(), 1, "{cause}: {shown:?}");
    }
    let healthy: Vec<&str> = ORIGINS
        .iter()
        .filter(|o| o.causes.is_empty())
        .map(|o| o.name)
        .collect();
    assert_eq!(healthy, ["healthy"]);
}

#[tokio::test]
#[allow(
    clippy::disallowed_methods,
    reason = "the test connects to the demo's web port itself, not as a probe"
)]
async fn the_demo_shows_each_cause_on_its_origin_and_stops_on_ctrl_c() {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_origin_exporter"))
        .args(["demo", "--web.listen-address=127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let mut demo = Demo(child);
    let lines = guide(&mut demo).await;
    for o in ORIGINS {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("  {} ", o.name))),
            "{} missing from the guide: {lines:#?}",
            o.name
        );
    }
    let url = field(&lines, "Landing page:");
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("landing page {url:?}: {e}"));
    assert!(addr.ip().is_loopback(), "{addr}");

    // Every origin shows exactly its causes; ready unless one of them is critical.
    let deadline = Instant::now() + DEMO_WAIT;
    let scrape = loop {
        let (status, body) = http_get(addr, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        let s = Scrape::parse(&body);
        let shown = ORIGINS.iter().all(|o| {
            s.active_causes(o.name) == o.causes
                && s.value("origin_cdn_ready", &[("origin", o.name)]).is_some()
        });
        if shown {
            eprintln!(
                "every demo origin showed its causes {:.1} s after the demo started",
                started.elapsed().as_secs_f64()
            );
            break s;
        }
        if Instant::now() > deadline {
            let seen: Vec<(&str, Vec<String>)> = ORIGINS
                .iter()
                .map(|o| (o.name, s.active_causes(o.name)))
                .collect();
            panic!("not every origin shows its cause: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for o in ORIGINS {
        let critical = o
            .causes
            .iter()
            .any(|c| Cause::from_name(c).map(Cause::severity) == Some(Severity::Critical));
        scrape.assert_value(
            "origin_cdn_ready",
            &[("origin", o.name)],
            if critical { 0.0 } else { 1.0 },
        );
    }
    let (status, page) = http_get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(
        ORIGINS.iter().all(|o| page.contains(o.name)),
        "the landing page lists every origin:\n{page}"
    );

    // The printed `check` line works while the demo runs.
    let command_line = field(&lines, "Check:");
    let (code, out) = check(command_line, "missing-intermediate").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cert_chain_incomplete"), "{out}");
    let (code, out) = check(command_line, "healthy").await;
    assert_eq!(code, 0, "{out}");

    // Ctrl-C: the demo ends cleanly, its port closes, its directory goes.
    let config = PathBuf::from(
        field(&lines, "Config:")
            .split_whitespace()
            .next()
            .expect("config path"),
    );
    assert!(config.exists(), "{}", config.display());
    let origin_ports = ports_of(&config);
    assert!(origin_ports.len() >= ORIGINS.len() - 3, "{origin_ports:?}");
    let pid = demo.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.0.try_wait().expect("demo status") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo still runs after SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let dir = config.parent().expect("config directory");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "{addr} still accepts after the demo stopped"
    );
    for port in origin_ports {
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "origin port {port} still accepts after the demo stopped"
        );
    }
}

/// The origins' ports in the demo's config (`https_port: N`, `http_port: N`).
fn ports_of(config: &std::path::Path) -> Vec<u16> {
    let text = std::fs::read_to_string(config).expect("read the demo's config");
    text.split(['{', '}', ','])
        .filter_map(|item| {
            let (key, value) = item.split_once(':')?;
            matches!(key.trim(), "https_port" | "http_port")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .collect()
}
