//! Origin mTLS against the server stacks users put behind a CDN (docs/mtls.md): each stack
//! refuses an untrusted client certificate its own way (an alert in the handshake, a close right
//! after it, or an error answer about the certificate) and the exporter names each one
//! `tls_client_certificate_rejected`, with evidence saying which; a trusted certificate makes a
//! healthy origin, and a 4xx that does not speak of the certificate stays an HTTP status.

mod lab;

use std::path::Path;

use lab::java::JavaOrigin;
use lab::lighttpd::{LighttpdOrigin, TlsModule};
use lab::nginx::{NginxConfig, NginxOrigin, VerifyClient};
use lab::stacks::{ApacheVerify, HaproxyVerify, NodeMode, StackOrigin, StackTls};
use lab::tls::{Files, LeafSpec, Pki};
use lab::Exporter;

/// What the exporter must report for an origin.
enum Expect {
    /// No cause, CDN ready, the request answered 200.
    Healthy,
    /// `tls_client_certificate_rejected`, its finding holding every one of these words.
    Rejected(&'static [&'static str]),
    /// No cause (the default `expect_status` admits 4xx): the answer is not about the
    /// certificate.
    Status(u16),
    /// `http_error_status`, its finding holding every one of these words.
    HttpError(&'static [&'static str]),
}

struct Case {
    /// The origin's name; its domain is `<stack>.lab.test`.
    name: String,
    port: u16,
    /// The trusted client certificate, else the untrusted one.
    trusted: bool,
    expect: Expect,
}

/// The `<td>` cells of an origin's row on the landing page, tags and escapes left in.
fn landing_row<'a>(page: &'a str, origin: &str) -> &'a str {
    let start = page
        .find(&format!("<b>{origin}</b>"))
        .unwrap_or_else(|| panic!("no row of {origin} on the landing page:\n{page}"));
    let row = &page[start..];
    &row[..row.find("</tr>").unwrap_or(row.len())]
}

fn client(cert: &Path, key: &Path) -> String {
    format!(
        ", client_certificate: {{cert_file: '{}', key_file: '{}'}}",
        cert.display(),
        key.display()
    )
}

/// The finding of Apache httpd's `SSLVerifyClient` inside `<Location>`.
const APACHE_LOCATION: &[&str] = &[
    "alert 40 (handshake_failure) after the request",
    "renegotiating",
    "&lt;Location&gt;",
];

#[tokio::test]
async fn every_stack_refuses_an_untrusted_client_certificate_its_own_way() {
    let pki = Pki::new();
    let files = Files::new();
    let stacks = [
        "apache",
        "apacheloc",
        "apacheexpr",
        "haproxy",
        "haproxydeny",
        "haproxy495",
        "caddy",
        "lighttpd",
        "lighttpdmbed",
        "lighttpdgnu",
        "node",
        "nodeanswer",
        "nodedestroy",
        "gnutls",
        "java",
        "nginx",
    ];
    let names: Vec<String> = stacks.iter().map(|s| format!("{s}.lab.test")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let leaf = pki.leaf(&LeafSpec::new(&names), Some(&pki.inter));
    let tls = StackTls::new(&pki, &leaf);
    let root = files.write("root.pem", &pki.root.pem);
    let root = root.to_str().expect("a UTF-8 path");
    let java_args = ["-client-auth", "need", "-client-ca", root];
    let nginx_config = NginxConfig::tls(&pki, &leaf).verify_client(VerifyClient::On {
        ca_pem: pki.root.pem.clone(),
    });
    // The CDN's client certificates: one of the lab intermediate (trusted, sent with its
    // chain), one of the stranger root.
    let good = pki.leaf(&LeafSpec::new(&["cdn-client.lab.test"]), Some(&pki.inter));
    let bad = pki.leaf(
        &LeafSpec::new(&["cdn-client.lab.test"]),
        Some(&pki.stranger),
    );
    let good_cert = files.write("good.pem", &format!("{}{}", good.pem, pki.inter.pem));
    let good_key = files.write("good.key", &good.key_pem);
    let bad_cert = files.write("bad.pem", &bad.pem);
    let bad_key = files.write("bad.key", &bad.key_pem);

    // Every server starts at once: the slowest (Java, Caddy, Node.js) sets the pace.
    let lighttpd = |module| LighttpdOrigin::verifying(&pki, &leaf, module, &pki.root.pem);
    let (
        (apache, apacheloc, apacheexpr),
        (haproxy, haproxydeny, haproxy495),
        (caddy, gnutls, java, nginx),
        (lighttpd, lighttpdmbed, lighttpdgnu),
        (node, nodeanswer, nodedestroy),
    ) = tokio::join!(
        async {
            tokio::join!(
                StackOrigin::apache(&tls, ApacheVerify::Require),
                StackOrigin::apache(&tls, ApacheVerify::RequireInLocation),
                StackOrigin::apache(&tls, ApacheVerify::OptionalNoCaRequireExpr),
            )
        },
        async {
            tokio::join!(
                StackOrigin::haproxy(&tls, HaproxyVerify::Required),
                StackOrigin::haproxy(&tls, HaproxyVerify::IgnoreErrorsDeny),
                StackOrigin::haproxy(&tls, HaproxyVerify::IgnoreErrorsReturn495),
            )
        },
        async {
            tokio::join!(
                StackOrigin::caddy(&tls),
                StackOrigin::gnutls_serv(&tls),
                JavaOrigin::start(&pki, &leaf, &java_args),
                NginxOrigin::start(&nginx_config),
            )
        },
        async {
            tokio::join!(
                lighttpd(TlsModule::OpenSsl),
                lighttpd(TlsModule::MbedTls),
                lighttpd(TlsModule::GnuTls),
            )
        },
        async {
            tokio::join!(
                StackOrigin::node(&tls, NodeMode::Reject),
                StackOrigin::node(&tls, NodeMode::Answer),
                StackOrigin::node(&tls, NodeMode::Destroy),
            )
        },
    );
    // Each stack's port, and its logs for a failure message (lighttpd, Java and nginx show
    // theirs elsewhere).
    let servers: Vec<(&str, u16, Option<&StackOrigin>)> = vec![
        ("apache", apache.port(), Some(&apache)),
        ("apacheloc", apacheloc.port(), Some(&apacheloc)),
        ("apacheexpr", apacheexpr.port(), Some(&apacheexpr)),
        ("haproxy", haproxy.port(), Some(&haproxy)),
        ("haproxydeny", haproxydeny.port(), Some(&haproxydeny)),
        ("haproxy495", haproxy495.port(), Some(&haproxy495)),
        ("caddy", caddy.port(), Some(&caddy)),
        ("lighttpd", lighttpd.port(), None),
        ("lighttpdmbed", lighttpdmbed.port(), None),
        ("lighttpdgnu", lighttpdgnu.port(), None),
        ("node", node.port(), Some(&node)),
        ("nodeanswer", nodeanswer.port(), Some(&nodeanswer)),
        ("nodedestroy", nodedestroy.port(), Some(&nodedestroy)),
        ("gnutls", gnutls.port(), Some(&gnutls)),
        ("java", java.port(), None),
        ("nginx", nginx.port(), None),
    ];
    let port = |stack: &str| {
        servers
            .iter()
            .find(|(s, ..)| *s == stack)
            .map(|(_, port, _)| *port)
            .expect("a server of the stack")
    };
    let case = |stack: &str, trusted: bool, expect: Expect| Case {
        name: format!("{stack}_{}", if trusted { "good" } else { "bad" }),
        port: port(stack),
        trusted,
        expect,
    };
    use Expect::{Healthy, HttpError, Rejected, Status};
    let cases = [
        case("apache", true, Healthy),
        case("apache", false, Rejected(&["alert 48 (unknown_ca)"])),
        case("apacheexpr", true, Healthy),
        case("apacheexpr", false, Status(403)),
        case("haproxy", true, Healthy),
        case("haproxy", false, Rejected(&["alert 48 (unknown_ca)"])),
        case("haproxydeny", true, Healthy),
        case("haproxydeny", false, Status(403)),
        case("haproxy495", true, Healthy),
        case("haproxy495", false, Rejected(&["495 (status 495"])),
        case("caddy", true, Healthy),
        case("caddy", false, Rejected(&["alert 42 (bad_certificate)"])),
        case("lighttpd", true, Healthy),
        case("lighttpd", false, Rejected(&["alert 48 (unknown_ca)"])),
        case("lighttpdmbed", true, Healthy),
        case("lighttpdmbed", false, Rejected(&["alert 48 (unknown_ca)"])),
        case("lighttpdgnu", true, Healthy),
        case(
            "lighttpdgnu",
            false,
            Rejected(&["alert 49 (access_denied)"]),
        ),
        case("node", true, Healthy),
        case("node", false, Rejected(&["closed"])),
        case("nodeanswer", true, Healthy),
        case(
            "nodeanswer",
            false,
            Rejected(&["403 &quot;certificates from&quot; (Node.js example app"]),
        ),
        case("nodedestroy", true, Healthy),
        case("nodedestroy", false, Rejected(&["closed"])),
        case("nginx", true, Healthy),
        case(
            "nginx",
            false,
            Rejected(&["400 &quot;The SSL certificate error&quot; (nginx"]),
        ),
        case("java", true, Healthy),
        case("java", false, Rejected(&["alert 46 (certificate_unknown)"])),
        case("gnutls", true, Healthy),
        case("gnutls", false, Rejected(&["alert 49 (access_denied)"])),
        // Asked for by a renegotiation after the request, which the CDN refuses: every request
        // fails, whatever the certificate.
        case("apacheloc", true, HttpError(APACHE_LOCATION)),
        case("apacheloc", false, HttpError(APACHE_LOCATION)),
    ];
    let origins: String = cases
        .iter()
        .map(|c| {
            let stack = c.name.split('_').next().unwrap_or_default();
            let identity = if c.trusted {
                client(&good_cert, &good_key)
            } else {
                client(&bad_cert, &bad_key)
            };
            format!(
                "  - {{name: {}, domain: {stack}.lab.test, address: 127.0.0.1, https_port: {}, checks: [tcp, tls, http], http: {{path: /}}{identity}}}\n",
                c.name, c.port
            )
        })
        .collect();
    let config = format!(
        "global: {{interval: 2s, timeout: 2s, ca_file: '{}'}}\norigins:\n{origins}",
        pki.ca_file.display()
    );
    let exporter = Exporter::start(&config).await;
    let all: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let s = exporter.wait_cycle(&all).await;
    let (_, page) = exporter.get("/").await;

    let mut failures = Vec::new();
    for c in &cases {
        let o = c.name.as_str();
        let causes = s.active_causes(o);
        let row = landing_row(&page, o);
        let ready = s.value("origin_cdn_ready", &[("origin", o)]);
        let status = s.value("origin_http_status_code", &[("origin", o)]);
        let ok = match &c.expect {
            Healthy => causes.is_empty() && ready == Some(1.0) && status == Some(200.0),
            Rejected(words) => {
                causes == ["tls_client_certificate_rejected"]
                    && ready == Some(0.0)
                    && words.iter().all(|w| row.contains(w))
            }
            HttpError(words) => {
                causes == ["http_error_status"]
                    && ready == Some(0.0)
                    && words.iter().all(|w| row.contains(w))
            }
            Status(want) => {
                causes.is_empty() && ready == Some(1.0) && status == Some(f64::from(*want))
            }
        };
        if !ok {
            let stack = o.split('_').next().unwrap_or_default();
            let logs = servers
                .iter()
                .find(|(s, ..)| *s == stack)
                .and_then(|(.., server)| server.map(StackOrigin::logs))
                .unwrap_or_default();
            failures.push(format!(
                "{o}: causes {causes:?}, ready {ready:?}, status {status:?}\n  row: {row}\n  {logs}"
            ));
        }
    }
    exporter.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {} origins are not reported as expected:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
    );
}
