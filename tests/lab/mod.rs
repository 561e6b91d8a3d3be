//! The shared test lab: the exporter started in-process on loopback, scrapes parsed into series,
//! and origins that misbehave on purpose. The servers that run in this process (the PKI, rustls,
//! HTTP, TCP, DNS and switchable origins) are the library's lab (`origin_exporter::lab`, shared
//! with `origin_exporter demo`), re-exported here; the ones that are other programs (nginx,
//! `openssl s_server`, Go, Java, other TLS stacks, the AWS stand-ins) live here. Integration
//! tests, benchmarks and the soak test reuse it. Every server binds 127.0.0.0/8 only and stops
//! when dropped.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of the lab"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "the lab's servers and clients connect directly: they are not the exporter's probes"
)]

pub mod aws;
pub mod blackbox;
pub mod edge;
pub mod hostile;
pub mod java;
pub mod lighttpd;
pub mod nginx;
pub mod stacks;
pub mod tls;
pub mod webpki;

pub use origin_exporter::lab::{dns, http, switch, tcp};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use origin_exporter::daemon::{Daemon, Options};

/// How long a test waits for the exporter to reach a state before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// An exporter running in this process on 127.0.0.1, with its config in a temp dir.
pub struct Exporter {
    daemon: Option<Daemon>,
    pub addr: SocketAddr,
    pub config_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts the exporter on `config_yaml`; panics if it does not start.
    pub async fn start(config_yaml: &str) -> Exporter {
        Self::start_with_web(config_yaml, None)
            .await
            .expect("exporter starts")
    }

    /// Starts the exporter with `--web.config.file` (a file path; its relative paths resolve
    /// against its folder).
    pub async fn start_with_web(
        config_yaml: &str,
        web_config_file: Option<PathBuf>,
    ) -> Result<Exporter, origin_exporter::daemon::DaemonError> {
        Self::launch(
            config_yaml,
            web_config_file,
            origin_exporter::shard::Shard::ALL,
        )
        .await
    }

    /// Starts one replica of a sharded deployment.
    pub async fn start_shard(config_yaml: &str, shard: origin_exporter::shard::Shard) -> Exporter {
        Self::launch(config_yaml, None, shard)
            .await
            .expect("exporter starts")
    }

    async fn launch(
        config_yaml: &str,
        web_config_file: Option<PathBuf>,
        shard: origin_exporter::shard::Shard,
    ) -> Result<Exporter, origin_exporter::daemon::DaemonError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config_yaml).expect("write config");
        let daemon = Daemon::start(Options {
            config_file: config_path.clone(),
            listen_address: "127.0.0.1:0".into(),
            web_config_file,
            shard,
        })
        .await?;
        Ok(Exporter {
            addr: daemon.local_addr(),
            daemon: Some(daemon),
            config_path,
            _dir: dir,
        })
    }

    /// Replaces the config file (the next reload reads it).
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config_path, yaml).expect("write config");
    }

    pub async fn get(&self, path_and_query: &str) -> (u16, String) {
        http_get(self.addr, path_and_query).await
    }

    pub async fn post(&self, path: &str) -> (u16, String) {
        let (status, _, body) = http_request(self.addr, "POST", path, &[]).await;
        (status, body)
    }

    /// GET with an `Accept` header; returns status, content type and body.
    pub async fn get_accept(&self, path: &str, accept: &str) -> (u16, String, String) {
        http_request(self.addr, "GET", path, &[("accept", accept)]).await
    }

    /// GET with extra request headers; returns status, content type and body.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        http_request(self.addr, "GET", path, headers).await
    }

    pub async fn scrape(&self) -> Scrape {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "GET /metrics: {body}");
        Scrape::parse(&body)
    }

    /// Scrapes until `ready` holds; panics with the last scrape after [`WAIT`].
    pub async fn wait_for(&self, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + WAIT;
        loop {
            let scrape = self.scrape().await;
            if ready(&scrape) {
                return scrape;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; last scrape:\n{}",
                    scrape.text
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every named origin has finished a probe cycle that ended after this call.
    pub async fn wait_cycle(&self, origins: &[&str]) -> Scrape {
        let since = now_seconds();
        self.wait_for(&format!("a new probe cycle of {origins:?}"), |s| {
            origins.iter().all(|o| {
                s.value("origin_last_probe_timestamp_seconds", &[("origin", o)])
                    .is_some_and(|t| t > since)
            })
        })
        .await
    }

    /// The versions `origin` speaks (`origin_tls_protocol_supported` = 1, in SSLv3 to TLSv1.3
    /// order), as `/probe?origin=` reports them: a probe sends every version's hello at once,
    /// while a scheduled origin whose TLS check finds nothing wrong sends them on a later cycle.
    pub async fn supported_protocols(&self, origin: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/probe?origin={origin}")).await;
        assert_eq!(status, 200, "{body}");
        let s = Scrape::parse(&body);
        ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
            .into_iter()
            .filter(|v| {
                let value = s.value(
                    "origin_tls_protocol_supported",
                    &[("origin", origin), ("version", v)],
                );
                assert!(value.is_some(), "no protocol series for {origin}:\n{body}");
                value == Some(1.0)
            })
            .map(str::to_string)
            .collect()
    }

    pub async fn stop(mut self) {
        if let Some(d) = self.daemon.take() {
            d.shutdown().await;
        }
    }
}

pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let (status, _, body) = http_request(addr, "GET", path_and_query, &[]).await;
    (status, body)
}

async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let (status, response_headers, body) = http_raw(addr, method, path, headers).await;
    let content_type = response_headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// A request; the status, the response headers and the body's bytes as sent.
pub async fn http_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, hyper::HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Empty::new()).expect("request");
    let resp = tokio::time::timeout(WAIT, client.request(req))
        .await
        .expect("exporter answers in time")
        .expect("HTTP request");
    let status = resp.status().as_u16();
    let response_headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, response_headers, body)
}

/// One sample of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A scrape in Prometheus text format, parsed.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| parse_sample(l).unwrap_or_else(|| panic!("unparsable line {l:?}")))
            .collect();
        Scrape {
            text: text.to_string(),
            samples,
        }
    }

    /// Samples of `name` whose labels include all of `labels`.
    pub fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample of `name` with these labels; panics if several match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.matching(name, labels);
        assert!(found.len() <= 1, "{name}{labels:?} matches {found:#?}");
        found.first().map(|s| s.value)
    }

    /// Asserts the series exists with exactly this value.
    #[track_caller]
    pub fn assert_value(&self, name: &str, labels: &[(&str, &str)], expected: f64) {
        match self.value(name, labels) {
            Some(v) => assert_eq!(v, expected, "{name}{labels:?}"),
            None => panic!("no series {name}{labels:?} in:\n{}", self.text),
        }
    }

    /// The causes active for `origin` (`origin_problem == 1`), sorted.
    pub fn active_causes(&self, origin: &str) -> Vec<String> {
        let mut causes: Vec<String> = self
            .matching("origin_problem", &[("origin", origin)])
            .into_iter()
            .filter(|s| s.value == 1.0)
            .filter_map(|s| s.labels.get("cause").cloned())
            .collect();
        causes.sort();
        causes
    }

    pub fn has_origin(&self, origin: &str) -> bool {
        self.samples
            .iter()
            .any(|s| s.labels.get("origin").map(String::as_str) == Some(origin))
    }
}

/// `name{a="b",c="d"} 1.5` (optionally followed by a timestamp).
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut body) = rest.strip_prefix('{') {
        loop {
            body = body.trim_start_matches(',');
            if let Some(after) = body.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = body.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after_key.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key.to_string(), value);
            body = &after_key[end + 1..];
        }
    }
    let value = match rest.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Runs `config check` on `text` with the extra environment `env`: (exit code, stdout + stderr).
pub fn config_check(text: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, text).unwrap();
    // Known in integration tests (not in the examples that share this lab).
    let Some(bin) = option_env!("CARGO_BIN_EXE_origin_exporter") else {
        panic!("config_check runs the binary: only integration tests have it");
    };
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["config", "check", "--config.file"]).arg(&file);
    for (key, _) in std::env::vars() {
        if key.starts_with("ORIGIN_EXPORTER_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run origin_exporter");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    // The file's directory differs per run: name it as a user would see it.
    let text = text.replace(&dir.path().display().to_string(), "DIR");
    (out.status.code().unwrap_or(-1), text)
}

/// The `check` command's output (stdout and stderr) for one origin of `config`, run off the
/// runtime's thread so that in-process origins keep serving.
pub async fn check_output(config: &str, origin: &str) -> String {
    let Some(bin) = option_env!("CARGO_BIN_EXE_origin_exporter") else {
        panic!("check_output runs the binary: only integration tests have it");
    };
    let (config, origin) = (config.to_string(), origin.to_string());
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, config).expect("write config");
        let out = std::process::Command::new(bin)
            .args(["check", "--config.file"])
            .arg(&file)
            .arg(origin)
            .output()
            .expect("run check");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    })
    .await
    .expect("check command")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escaped_labels() {
        let s =
            Scrape::parse("# HELP x y\nx 1\ny{a=\"b\",c=\"d \\\"q\\\" e\"} 2.5\nz{a=\"1\",} 3\n");
        assert_eq!(s.value("x", &[]), Some(1.0));
        assert_eq!(s.value("y", &[("c", "d \"q\" e")]), Some(2.5));
        assert_eq!(s.value("z", &[("a", "1")]), Some(3.0));
    }
}
