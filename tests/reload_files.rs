//! A reload re-reads the files the probes use, not only the config: `global.ca_file` replaced
//! under the same path changes the chain verdict from the first cycle after the reload.

mod lab;

use lab::tls::{Files, LeafSpec, Pki, RustlsOrigin};
use lab::Exporter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_ca_file_changes_the_chain_verdict_after_a_reload() {
    // The origin's chain comes from the lab root (CA X); the CA file holds another root (Y).
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::new(&["reload.lab.test"]), Some(&pki.inter));
    let origin = RustlsOrigin::serving(&pki, &leaf, true).await;
    let files = Files::new();
    let ca_file = files.write("ca.pem", &pki.stranger.pem);
    let exporter = Exporter::start(&format!(
        "global: {{interval: 1s, timeout: 1s, ca_file: '{}'}}\norigins:\n  - {{name: reload, domain: reload.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls]}}\n",
        ca_file.display(),
        origin.port()
    ))
    .await;
    exporter
        .wait_for("cert_untrusted under CA Y", |s| {
            s.active_causes("reload") == ["cert_untrusted"]
        })
        .await;

    // CA X into the same file, same path: the config file itself is unchanged.
    files.write("ca.pem", &pki.root.pem);
    let (status, body) = exporter.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    // A cycle may have started before the reload; the one after it started after the reload.
    exporter.wait_cycle(&["reload"]).await;
    let s = exporter.wait_cycle(&["reload"]).await;
    assert_eq!(
        s.active_causes("reload"),
        Vec::<String>::new(),
        "{}",
        s.text
    );
    s.assert_value("origin_tls_chain_valid", &[("origin", "reload")], 1.0);
    s.assert_value("origin_cdn_ready", &[("origin", "reload")], 1.0);

    // And back: the same bytes as before the first reload are a change again.
    files.write("ca.pem", &pki.stranger.pem);
    let (status, body) = exporter.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    exporter.wait_cycle(&["reload"]).await;
    let s = exporter.wait_cycle(&["reload"]).await;
    assert_eq!(s.active_causes("reload"), ["cert_untrusted"], "{}", s.text);

    // A CA file that disappears fails the reload and keeps the running context.
    drop(files);
    let (status, body) = exporter.post("/-/reload").await;
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("ca.pem"), "{body}");
    let s = exporter.wait_cycle(&["reload"]).await;
    s.assert_value("origin_exporter_config_last_reload_successful", &[], 0.0);
    assert_eq!(s.active_causes("reload"), ["cert_untrusted"]);
    exporter.stop().await;
}
