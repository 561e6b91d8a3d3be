//! `/metrics` and `/probe` as Prometheus fetches them: gzip when asked (as Prometheus always
//! does), plain otherwise, the same series either way.

mod lab;

use std::io::Read as _;

use lab::tcp::OpenPort;
use lab::{http_raw, Exporter, Scrape};

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

#[tokio::test]
async fn metrics_and_probe_are_gzip_when_the_client_asks() {
    let port = OpenPort::start().await;
    let origins: String = (0..50)
        .map(|i| {
            format!(
                "  - {{name: o{i}, domain: o{i}.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp], labels: {{team: t{i}}}}}\n",
                port.port()
            )
        })
        .collect();
    let exporter = Exporter::start(&format!(
        "global: {{interval: 2s, timeout: 1s}}\norigins:\n{origins}"
    ))
    .await;
    exporter
        .wait_for("every origin probed", |s| {
            (0..50).all(|i| s.has_origin(&format!("o{i}")))
        })
        .await;

    let (status, headers, plain) = http_raw(exporter.addr, "GET", "/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(headers["vary"], "accept-encoding");

    let (status, headers, packed) = http_raw(
        exporter.addr,
        "GET",
        "/metrics",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    let text = gunzip(&packed);
    assert!(
        packed.len() * 5 < plain.len(),
        "gzip {} bytes vs plain {}",
        packed.len(),
        plain.len()
    );
    // The same series (only the runtime's task gauge may differ between two scrapes).
    let names = |s: &Scrape| {
        let mut n: Vec<String> = s
            .text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("origin_exporter_runtime_tasks"))
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    };
    let plain = Scrape::parse(&String::from_utf8_lossy(&plain));
    let unpacked = Scrape::parse(&text);
    assert_eq!(names(&unpacked), names(&plain));
    unpacked.assert_value("origin_cdn_ready", &[("origin", "o7"), ("team", "t7")], 1.0);

    let (status, headers, packed) = http_raw(
        exporter.addr,
        "GET",
        "/probe?origin=o3",
        &[("accept-encoding", "deflate, gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    Scrape::parse(&gunzip(&packed)).assert_value("origin_cdn_ready", &[("origin", "o3")], 1.0);

    // A client that refuses gzip gets plain text.
    let (_, headers, body) = http_raw(
        exporter.addr,
        "GET",
        "/metrics",
        &[("accept-encoding", "gzip;q=0")],
    )
    .await;
    assert!(headers.get("content-encoding").is_none());
    assert!(String::from_utf8_lossy(&body).contains("origin_cdn_ready"));
    exporter.stop().await;
}
