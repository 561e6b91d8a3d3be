//! Origin mTLS end to end: servers that ask for the CDN's client certificate and refuse it in the
//! handshake (an alert), right after it (a close), or in their answer (nginx's 400 pages), on
//! nginx, OpenSSL and Go; and the lab's nginx origin itself.

mod lab;

use lab::nginx::{NginxConfig, NginxOrigin};
use lab::tls::{LeafSpec, Pki};
use lab::Exporter;

/// The lab's nginx answers what its config says, and a reload changes the answer for every new
/// connection once `reconfigure` returns.
#[tokio::test]
async fn the_lab_nginx_answers_and_reloads() {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["nginx.lab.test"]), Some(&pki.inter));
    let mut nginx = NginxOrigin::start(&NginxConfig::tls(&pki, &leaf)).await;
    let config = format!(
        "global: {{interval: 2s, timeout: 2s, ca_file: '{}'}}\norigins:\n  - {{name: nginx, domain: nginx.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls, http], http: {{path: /}}}}\n",
        pki.ca_file.display(),
        nginx.port()
    );
    let exporter = Exporter::start(&config).await;
    let status = |s: &lab::Scrape| s.value("origin_http_status_code", &[("origin", "nginx")]);
    let s = exporter
        .wait_for("nginx answers 200", |s| status(s) == Some(200.0))
        .await;
    assert_eq!(s.active_causes("nginx"), Vec::<String>::new());
    nginx
        .reconfigure(&NginxConfig::tls(&pki, &leaf).answer(503, "down\n"))
        .await;
    // Every cycle that starts now meets the new config.
    exporter.wait_cycle(&["nginx"]).await;
    let s = exporter.wait_cycle(&["nginx"]).await;
    assert_eq!(status(&s), Some(503.0), "{}", nginx.logs());
    assert_eq!(s.active_causes("nginx"), ["http_error_status"]);
    exporter.stop().await;
}
