//! The `origin_exporter` binary: `config check`, environment overrides, SIGHUP reload.

#![allow(
    clippy::disallowed_methods,
    reason = "the test's own clients connect directly: they are not the exporter's probes"
)]

mod lab;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_origin_exporter");

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run binary");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn config_check_prints_every_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "bad.yaml",
        "global: {interval: 1x}
origins:
  - {name: a, domain: a.example.com}
  - {name: a, domain: b.example.com, https_port: 0, ssl_protocols: [TLSv1.9]}
  - {name: c, domain: c.example.com, protocol_policy: never}
",
    );
    let (code, out) = run(
        &["config", "check", "--config.file", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2, "{out}");
    for line in [
        "bad.yaml: global.interval: invalid duration \"1x\"",
        "bad.yaml: origins[1].name: duplicate origin name \"a\"",
        "bad.yaml: origins[1].https_port: must be 1-65535, got 0",
        "bad.yaml: origins[1].ssl_protocols[0]: unknown protocol \"TLSv1.9\"",
        "bad.yaml: origins[2].protocol_policy: must be one of https-only, http-only, match-viewer, got \"never\"",
        "bad.yaml: 5 error(s)",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn config_check_accepts_the_shipped_config() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml");
    let (code, out) = run(&["config", "check", "--config.file", shipped], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn unknown_keys_and_env_overrides_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "c.yaml",
        "origins:\n  - {name: a, domain: a.example.com, colour: red}\n",
    );
    let (code, out) = run(
        &["config", "check", "--config.file", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("origins[0]") && out.contains("colour"),
        "{out}"
    );

    let good = write(
        &dir,
        "g.yaml",
        "origins:\n  - {name: a, domain: a.example.com}\n",
    );
    let path = good.to_str().unwrap();
    let (code, out) = run(
        &["config", "check", "--config.file", path],
        &[("ORIGIN_EXPORTER_INTERVAL", "30s")],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(
        &["config", "check", "--config.file", path],
        &[("ORIGIN_EXPORTER_INTERVAL", "soon")],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("global.interval: invalid duration \"soon\""),
        "{out}"
    );
    let (code, out) = run(
        &["config", "check", "--config.file", path],
        &[("ORIGIN_EXPORTER_COLOUR", "red")],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("environment"), "{out}");
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let (code, out) = run(
        &["config", "check", "--config.file", "/nonexistent/x.yaml"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        out.contains("/nonexistent/x.yaml") && out.contains("No such file"),
        "{out}"
    );
}

/// The real binary: SIGHUP reloads, SIGTERM stops it cleanly.
#[tokio::test]
async fn sighup_reloads_and_sigterm_stops() {
    let open = lab::tcp::OpenPort::start().await;
    let dir = tempfile::tempdir().unwrap();
    let origin = |name: &str| {
        format!(
            "  - {{name: {name}, domain: {name}.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp]}}\n",
            open.port()
        )
    };
    let global = "global: {interval: 1s, timeout: 500ms}\norigins:\n";
    let file = write(&dir, "c.yaml", &(global.to_string() + &origin("first")));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--config.file",
            file.to_str().unwrap(),
            "--web.listen-address",
            &addr.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start exporter");

    let scrape_until = |want: &'static str| async move {
        let deadline = Instant::now() + lab::WAIT;
        loop {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                    .await
            {
                drop(stream);
                let (_, body) = lab::http_get(addr, "/metrics").await;
                if body.contains(want) {
                    return body;
                }
            }
            assert!(Instant::now() < deadline, "never saw {want}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    scrape_until("origin_cdn_ready{origin=\"first\"}").await;
    std::fs::write(&file, global.to_string() + &origin("second")).unwrap();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let body = scrape_until("origin_cdn_ready{origin=\"second\"}").await;
    assert!(!body.contains("origin=\"first\""), "{body}");

    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "exporter did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `check` runs the probes once and explains; the lab origins are served from a runtime thread.
#[test]
fn check_explains_healthy_and_broken_origins() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let web = runtime.block_on(lab::http::HttpOrigin::plain(200, Duration::ZERO));
    let closed = lab::tcp::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "c.yaml",
        &format!(
            "global: {{timeout: 2s}}
origins:
  - {{name: web, domain: web.lab.test, address: 127.0.0.1, protocol_policy: http-only, http_port: {}, checks: [tcp, http], http: {{path: /ok}}}}
  - {{name: down, domain: down.lab.test, address: 127.0.0.1, https_port: {closed}, checks: [tcp, tls]}}
",
            web.port()
        ),
    );
    let f = file.to_str().unwrap();

    let (code, out) = run(&["check", "--config.file", f, "web"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("web (web.lab.test): CDN READY"), "{out}");
    assert!(out.contains("answered 200"), "{out}");
    assert!(
        !out.contains("\x1b["),
        "colour codes when not on a terminal:\n{out}"
    );

    let (code, out) = run(&["check", "--config.file", f], &[]);
    assert_eq!(code, 1, "{out}");
    for line in [
        "down (down.lab.test): NOT READY",
        "✘ port_unreachable [critical]",
        &format!("evidence: 127.0.0.1:{closed} connection refused"),
        &format!("confirm:  nc -vz -w 5 127.0.0.1 {closed}"),
        "2 origins checked, 1 not ready",
        "tls:  not run (an earlier check failed)",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // Every fix and confirm line names the origin's own names, no placeholder.
    assert!(!out.contains("DOMAIN"), "{out}");

    let (code, out) = run(&["check", "--config.file", f, "--format", "json"], &[]);
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(json["ready"], false);
    let down = &json["origins"][1];
    assert_eq!(down["origin"], "down");
    assert_eq!(down["causes"][0]["cause"], "port_unreachable");
    assert_eq!(down["causes"][0]["severity"], "critical");
    assert_eq!(down["checks"]["tcp"]["success"], false);
    assert_eq!(down["checks"]["tcp"]["result"], "failure");
    // The closed port kept the TLS check from running: neither a success nor a failure.
    assert_eq!(down["checks"]["tls"]["result"], "not_run");
    assert_eq!(down["checks"]["tls"]["success"], serde_json::Value::Null);
    assert_eq!(json["origins"][0]["checks"]["http"]["result"], "success");
    assert_eq!(json["origins"][0]["checks"]["http"]["success"], true);
    assert_eq!(json["origins"][0]["cdn_ready"], true);

    // One origin from flags, without a config file.
    let port = web.port().to_string();
    let (code, out) = run(
        &[
            "check",
            "--domain",
            "web.lab.test",
            "--address",
            "127.0.0.1",
            "--http-port",
            &port,
            "--checks",
            "tcp,http",
            "--http-path",
            "/x",
            "--protocol-policy",
            "http-only",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("GET /x (Host: web.lab.test)"), "{out}");
    // The same port over HTTPS: it speaks plain HTTP, and no TLS check is there to own that.
    let (code, out) = run(
        &[
            "check",
            "--domain",
            "web.lab.test",
            "--address",
            "127.0.0.1",
            "--https-port",
            &port,
            "--checks",
            "tcp,http",
            "--http-path",
            "/x",
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✘ http_error_status [critical]"), "{out}");

    // Usage and config errors exit 2.
    assert_eq!(run(&["check", "--config.file", f, "nope"], &[]).0, 2);
    assert_eq!(run(&["check", "--host-header", "x"], &[]).0, 2);
    assert_eq!(
        run(&["check", "--config.file", "/nonexistent.yaml"], &[]).0,
        2
    );
    drop(web);
}

/// `check` on a TLS origin: the CDN's handshake, then every served certificate in order, and the
/// certificate cause explained.
#[test]
fn check_shows_the_served_chain() {
    use lab::tls::{LeafSpec, Pki, RustlsOrigin};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(
        &LeafSpec::new(&["shop.lab.test"]).valid(-30, -2),
        Some(&pki.inter),
    );
    let origin = runtime.block_on(RustlsOrigin::serving(&pki, &leaf, false));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "c.yaml",
        &format!(
            "global: {{timeout: 2s, ca_file: '{}'}}\norigins:\n  - {{name: shop, domain: shop.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls]}}\n",
            pki.ca_file.display(),
            origin.port()
        ),
    );
    let (code, out) = run(&["check", "--config.file", file.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{out}");
    for line in [
        "CDN hello: TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384",
        "#0 shop.lab.test issued by",
        "#1 ",
        "✘ cert_expired [critical]",
        "confirm:  openssl s_client -connect 127.0.0.1:",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // The leaf's issuer is the second certificate served.
    let issuer = out
        .lines()
        .find(|l| l.trim_start().starts_with("#0 "))
        .and_then(|l| l.split(" issued by ").nth(1))
        .and_then(|l| l.split(',').next())
        .unwrap()
        .to_string();
    assert!(
        out.lines().any(|l| l
            .trim_start()
            .starts_with(&format!("#1 {issuer} issued by"))),
        "{out}"
    );
    drop(origin);
}

#[test]
fn startup_errors_are_logged_as_json_or_logfmt() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.yaml", "origins: []\n");
    let args = |format: &'static str| {
        vec![
            "--config.file".to_string(),
            bad.to_str().unwrap().to_string(),
            "--web.listen-address".into(),
            "127.0.0.1:0".into(),
            "--log.format".into(),
            format.into(),
        ]
    };
    let out = Command::new(BIN).args(args("json")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().expect("a log line");
    let json: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(json["level"], "ERROR", "{line}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("origins: must list at least one origin"),
        "{line}"
    );

    let out = Command::new(BIN).args(args("logfmt")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().expect("a log line");
    assert!(
        line.starts_with("ts=")
            && line.contains(" level=error ")
            && line.contains("msg=\"cannot start\""),
        "{line}"
    );
    assert!(
        line.contains("origins: must list at least one origin"),
        "{line}"
    );
}

/// `check` on an origin whose server closes idle connections after 2 s (nginx
/// `keepalive_timeout 2s`), against CloudFront's default 5 s keep-alive: `http_keepalive_race`
/// with both numbers and the command that shows it by hand.
#[tokio::test]
async fn check_names_the_keepalive_race_with_both_numbers() {
    use lab::nginx::{NginxConfig, NginxOrigin};
    use lab::tls::{LeafSpec, Pki};
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["short.lab.test"]), Some(&pki.inter));
    let nginx = NginxOrigin::start(&NginxConfig::tls(&pki, &leaf).keepalive_timeout(2)).await;
    let config = format!(
        "global: {{ca_file: '{}'}}\norigins:\n  - {{name: short, domain: short.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls, http], http: {{path: /}}}}\n",
        pki.ca_file.display(),
        nginx.port()
    );
    let out = lab::check_output(&config, "short").await;
    let port = nginx.port();
    for line in [
        "short (short.lab.test): CDN READY",
        "! http_keepalive_race [warning]",
        &format!("evidence: 127.0.0.1:{port} closed the idle connection after 2.0 s; CloudFront keeps it up to 5 s (keepalive_timeout) and may send its next request on it: 502"),
        &format!("confirm:  time timeout 6 openssl s_client -quiet -connect 127.0.0.1:{port} -servername short.lab.test < <(printf 'GET / HTTP/1.1\\r\\nHost: short.lab.test\\r\\n\\r\\n'; sleep 6)"),
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

/// `check` on an origin whose client certificate (the one the CDN presents through origin mTLS)
/// expires in 5 days: a warning with the date, in text and in JSON; the origin stays ready.
#[test]
fn check_warns_of_the_cdns_client_certificate_expiring_with_its_date() {
    use lab::tls::{LeafSpec, Pki, RustlsOrigin};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["shop.lab.test"]), Some(&pki.inter));
    let origin = runtime.block_on(RustlsOrigin::serving(&pki, &leaf, false));
    let client = pki.leaf(
        &LeafSpec::new(&["cdn-client.lab.test"]).valid(-30, 5),
        Some(&pki.inter),
    );
    let dir = tempfile::tempdir().unwrap();
    let cert = write(
        &dir,
        "client.pem",
        &format!("{}{}", client.pem, pki.inter.pem),
    );
    let key = write(&dir, "client.key", &client.key_pem);
    let file = write(
        &dir,
        "c.yaml",
        &format!(
            "global: {{timeout: 2s, ca_file: '{}'}}\norigins:\n  - {{name: shop, domain: shop.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls], client_certificate: {{cert_file: '{}', key_file: '{}'}}}}\n",
            pki.ca_file.display(),
            origin.port(),
            cert.display(),
            key.display()
        ),
    );
    let t = time::OffsetDateTime::from_unix_timestamp(client.not_after).unwrap();
    let date = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let f = file.to_str().unwrap();
    let (code, out) = run(&["check", "--config.file", f], &[]);
    assert_eq!(code, 0, "a warning leaves the origin ready:\n{out}");
    for line in [
        "shop (shop.lab.test): CDN READY".to_string(),
        "! cdn_client_certificate_expiring_soon [warning]".to_string(),
        format!(
            "evidence: the client certificate the CDN presents (client_certificate {}) expires on {date}, in 5 days (expiry_warning_days 21)",
            cert.display()
        ),
        format!("confirm:  openssl x509 -noout -enddate -in {}", cert.display()),
        format!("mtls: the client certificate the CDN presents (client_certificate {}) valid to {date}", cert.display()),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }

    let (code, out) = run(&["check", "--config.file", f, "--format", "json"], &[]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let cause = &json["origins"][0]["causes"][0];
    assert_eq!(cause["cause"], "cdn_client_certificate_expiring_soon");
    assert_eq!(cause["severity"], "warning");
    assert!(
        cause["evidence"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("expires on {date}"))),
        "{cause}"
    );
    drop(origin);
}
