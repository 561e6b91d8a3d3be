//! `origin_exporter demo`: origins that each show one cause, started in this process on
//! loopback from the [lab](crate::lab) the tests use, with their certificates made at start, and
//! a config that probes them. `main` runs the daemon on that config until Ctrl-C, so that the
//! landing page, `/metrics`, `check`, the alert rules and the dashboards can be seen at work
//! without breaking a real server. Nothing leaves 127.0.0.0/8: names resolve through the lab's
//! own DNS servers (`global.resolvers`, `global.dns_port`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lab::dns::{Behaviour, DnsLab, Zone};
use crate::lab::http::HttpOrigin;
use crate::lab::pki::{Ca, Leaf, LeafSpec, Pki};
use crate::lab::switch::SwitchOrigin;
use crate::lab::tcp::closed_port;
use crate::lab::tls::{AiaServer, RustlsOrigin, Speaks};
use crate::lab::LabDir;

/// One origin of the demo: its name, the causes it shows (none: it is ready), and what its
/// server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shows {
    pub name: &'static str,
    pub causes: &'static [&'static str],
    pub how: &'static str,
}

const fn shows(name: &'static str, causes: &'static [&'static str], how: &'static str) -> Shows {
    Shows { name, causes, how }
}

/// Every origin of the demo, in the order it prints them.
pub const ORIGINS: [Shows; 18] = [
    shows(
        "healthy",
        &[],
        "resolves, TLS 1.2 and 1.3 with a valid chain, HTTP 200",
    ),
    shows("expired", &["cert_expired"], "leaf expired yesterday"),
    shows(
        "not-yet-valid",
        &["cert_not_yet_valid"],
        "leaf valid from tomorrow",
    ),
    shows(
        "wrong-name",
        &["cert_hostname_mismatch"],
        "leaf for www.elsewhere.test only",
    ),
    shows("self-signed", &["cert_self_signed"], "self-signed leaf"),
    shows(
        "untrusted",
        &["cert_untrusted"],
        "chain from a root the CDN does not trust",
    ),
    shows(
        "missing-intermediate",
        &["cert_chain_incomplete"],
        "leaf without its intermediate (published at its AIA URL)",
    ),
    shows(
        "chain-order",
        &["cert_chain_order"],
        "leaf, then its issuer's issuer, then its issuer",
    ),
    shows(
        "expiring-soon",
        &["cert_expiring_soon"],
        "leaf expires in 10 days (a warning: still ready)",
    ),
    shows(
        "tls13-only",
        &["tls_protocol_mismatch"],
        "TLS 1.3 only: the CDN offers origins up to TLS 1.2",
    ),
    shows(
        "no-common-cipher",
        &["tls_cipher_mismatch"],
        "TLS 1.2 with ChaCha20 suites only: the CDN offers none",
    ),
    shows(
        "client-cert",
        &["tls_client_certificate_required"],
        "asks for a client certificate the CDN does not have",
    ),
    shows("http-503", &["http_error_status"], "answers 503"),
    shows(
        "slow",
        &["http_timeout"],
        "answers after 6 s; the CDN's read timeout here is 2 s",
    ),
    shows(
        "keepalive-race",
        &["http_keepalive_race"],
        "closes idle connections after 1 s; the CDN keeps them 5 s (a warning)",
    ),
    shows("closed-port", &["port_unreachable"], "nothing listens"),
    shows(
        "nxdomain",
        &["dns_resolution_failed"],
        "its name does not exist (NXDOMAIN)",
    ),
    shows(
        "lame-nameserver",
        &["dns_lame_delegation"],
        "one of its zone's nameservers answers REFUSED (a warning)",
    ),
];

/// How often the demo probes each origin.
pub const INTERVAL: &str = "10s";

/// The demo's nameservers: `demo.test` on the first two, `shaky.test` on the others (the last
/// one lame).
const NAMESERVERS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 0, 0, 31),
    Ipv4Addr::new(127, 0, 0, 32),
    Ipv4Addr::new(127, 0, 0, 33),
    Ipv4Addr::new(127, 0, 0, 34),
];

/// The running demo origins and the config that probes them; everything stops, and the
/// directory with the config and the CA file goes, when it is dropped.
pub struct Lab {
    config_file: PathBuf,
    _servers: Servers,
    _dns: DnsLab,
    _pki: Pki,
    _dir: LabDir,
}

impl Lab {
    /// Makes the certificates, starts every origin on 127.0.0.1 and writes the config.
    pub async fn start() -> Lab {
        let pki = Pki::new();
        let mut servers = Servers::default();
        let mut lines = Vec::with_capacity(ORIGINS.len());
        for origin in ORIGINS {
            lines.push(start_origin(origin.name, &pki, &mut servers).await);
        }
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let [ns1, ns2, ns3, ns4] = NAMESERVERS;
        let dns = DnsLab::start(
            vec![
                Zone::new("demo.test", 1, &[ns1, ns2]).with_record("healthy.demo.test", localhost),
                Zone::new("shaky.test", 1, &[ns3, ns4]).with_record("www.shaky.test", localhost),
            ],
            &[(ns4, Behaviour::Refused)],
        )
        .await;
        let dir = LabDir::new("demo");
        let config = config_yaml(&pki.ca_file, &dns, &lines);
        let config_file = dir.write("config.yaml", &config);
        Lab {
            config_file,
            _servers: servers,
            _dns: dns,
            _pki: pki,
            _dir: dir,
        }
    }

    /// The config the demo's daemon runs on; `check --config.file=` it while the demo runs.
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// What the demo prints once the daemon listens on `web`: every origin and its cause, and
    /// where to look. `exe` is this program, for the `check` command line.
    pub fn guide(&self, web: SocketAddr, exe: &Path) -> String {
        let url = web_url(web);
        let mut out = format!(
            "origin_exporter demo: {} origins on 127.0.0.1, each a server in this process showing one cause\n\n",
            ORIGINS.len()
        );
        let _ = writeln!(
            out,
            "  {:<22} {:<33} what its server does",
            "origin", "cause"
        );
        for o in ORIGINS {
            let causes = if o.causes.is_empty() {
                "(none: ready)".to_string()
            } else {
                o.causes.join(", ")
            };
            let _ = writeln!(out, "  {:<22} {causes:<33} {}", o.name, o.how);
        }
        let config = self.config_file.display();
        let _ = write!(
            out,
            "\nThe first results come within seconds; origins are probed every {INTERVAL}.\n\
             Landing page:  {url}/\n\
             Metrics:       {url}/metrics\n\
             Check:         {} check --config.file={config} [ORIGIN...]\n\
             Config:        {config} (reloaded on SIGHUP)\n\
             Alerts and dashboards: scrape {url}/metrics with Prometheus and the rules of\n\
             deploy/prometheus/alerts.yml, and import dashboards/*.json into Grafana.\n\
             Ctrl-C stops everything.\n",
            exe.display()
        );
        out
    }
}

/// Where a browser reaches the web server: `localhost` for an address of every interface.
fn web_url(web: SocketAddr) -> String {
    match web.ip() {
        ip if ip.is_unspecified() => format!("http://localhost:{}", web.port()),
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", web.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", web.port()),
    }
}

/// The origins' servers, each serving while it is held.
#[derive(Default)]
struct Servers(Vec<Box<dyn std::any::Any>>);

impl Servers {
    fn keep<S: 'static>(&mut self, server: S) {
        self.0.push(Box::new(server));
    }
}

/// Starts the server of the demo origin `name`; its line in the config's `origins`.
async fn start_origin(name: &str, pki: &Pki, servers: &mut Servers) -> String {
    let domain = format!("{name}.demo.test");
    let spec = LeafSpec::new(&[&domain]);
    let leaf = |spec: LeafSpec| pki.leaf(&spec, Some(&pki.inter));
    // The TCP and TLS checks, on a server at 127.0.0.1.
    let tls = |port: u16| {
        format!("{{name: {name}, domain: {domain}, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls]}}")
    };
    match name {
        "healthy" | "client-cert" | "http-503" => {
            let s = SwitchOrigin::start(pki, &leaf(spec), &pki.root).await;
            s.ask_client_certificate(name == "client-cert");
            if name == "http-503" {
                s.set_status(503);
            }
            let port = s.port();
            servers.keep(s);
            // The healthy one resolves through the demo's DNS; the others are at an address.
            let (address, dns) = if name == "healthy" {
                ("", "dns, ")
            } else {
                (" address: 127.0.0.1,", "")
            };
            format!("{{name: {name}, domain: {domain},{address} https_port: {port}, checks: [{dns}tcp, tls, http], http: {{path: /}}}}")
        }
        "expired" | "not-yet-valid" | "wrong-name" | "expiring-soon" | "tls13-only"
        | "no-common-cipher" => {
            let (spec, speaks) = match name {
                "expired" => (spec.valid(-90, -1), Speaks::Tls12And13),
                "not-yet-valid" => (spec.valid(1, 90), Speaks::Tls12And13),
                "wrong-name" => (LeafSpec::new(&["www.elsewhere.test"]), Speaks::Tls12And13),
                "expiring-soon" => (spec.valid(-80, 10), Speaks::Tls12And13),
                "tls13-only" => (spec, Speaks::Tls13Only),
                _ => (spec, Speaks::Tls12ChaChaOnly),
            };
            let l = leaf(spec);
            let chain = vec![l.der.clone(), pki.inter.der.clone()];
            let s = RustlsOrigin::speaking(chain, &l.key_der, speaks).await;
            let port = s.port();
            servers.keep(s);
            tls(port)
        }
        "self-signed" | "untrusted" | "missing-intermediate" | "chain-order" => {
            let chain_of = |l: &Leaf, rest: &[&Ca]| {
                let mut chain = vec![l.der.clone()];
                chain.extend(rest.iter().map(|ca| ca.der.clone()));
                chain
            };
            let (chain, key) = match name {
                "self-signed" => {
                    let l = pki.leaf(&spec, None);
                    (chain_of(&l, &[]), l.key_der)
                }
                "untrusted" => {
                    let stranger = Ca::new("Stranger Intermediate CA", Some(&pki.stranger));
                    let l = pki.leaf(&spec, Some(&stranger));
                    (chain_of(&l, &[&stranger]), l.key_der)
                }
                "missing-intermediate" => {
                    // The intermediate is where the leaf's AIA URL says, not in the chain.
                    let aia = AiaServer::start("/intermediate.der").await;
                    aia.serve(&pki.inter.der);
                    let l = leaf(spec.aia(&aia.url));
                    servers.keep(aia);
                    (chain_of(&l, &[]), l.key_der)
                }
                _ => {
                    // root -> intermediate -> intermediate 2 -> leaf, served with the root's
                    // intermediate before the leaf's issuer.
                    let inter2 = Ca::new("Lab Intermediate CA 2", Some(&pki.inter));
                    let l = pki.leaf(&spec, Some(&inter2));
                    (chain_of(&l, &[&pki.inter, &inter2]), l.key_der)
                }
            };
            let s = RustlsOrigin::start(chain, &key, true).await;
            let port = s.port();
            servers.keep(s);
            tls(port)
        }
        "slow" => {
            let s = HttpOrigin::plain(200, Duration::from_secs(6)).await;
            let port = s.port();
            servers.keep(s);
            format!("{{name: {name}, domain: {domain}, address: 127.0.0.1, protocol_policy: http-only, http_port: {port}, read_timeout: 2s, checks: [tcp, http], http: {{path: /}}}}")
        }
        "keepalive-race" => {
            let s = HttpOrigin::closing_idle_after(Duration::from_secs(1)).await;
            let port = s.port();
            servers.keep(s);
            format!("{{name: {name}, domain: {domain}, address: 127.0.0.1, protocol_policy: http-only, http_port: {port}, keepalive_timeout: 5s, checks: [tcp, http], http: {{path: /}}}}")
        }
        "closed-port" => tls(closed_port()),
        "nxdomain" => format!("{{name: {name}, domain: missing.demo.test, checks: [dns, tcp]}}"),
        "lame-nameserver" => format!("{{name: {name}, domain: www.shaky.test, checks: [dns]}}"),
        other => unreachable!("the demo origin {other} has no server"),
    }
}

fn config_yaml(ca_file: &Path, dns: &DnsLab, origins: &[String]) -> String {
    let mut yaml = format!(
        "# origin_exporter demo: every origin is a server of the demo process on 127.0.0.1, and\n\
         # every name resolves through the demo's own DNS servers (resolvers, dns_port).\n\
         global:\n  interval: {INTERVAL}\n  timeout: 3s\n  ca_file: '{}'\n  aia_allowed_networks: [127.0.0.0/8]\n  resolvers: ['{}:{}']\n  dns_port: {}\n\
         origins:\n",
        ca_file.display(),
        crate::lab::dns::RESOLVER,
        dns.port,
        dns.port
    );
    for line in origins {
        let _ = writeln!(yaml, "  - {line}");
    }
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_is_named_once() {
        let mut names: Vec<&str> = ORIGINS.iter().map(|o| o.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ORIGINS.len());
    }

    #[test]
    fn every_cause_shown_is_a_cause() {
        for o in ORIGINS {
            for c in o.causes {
                assert!(
                    crate::diagnose::Cause::from_name(c).is_some(),
                    "{}: {c}",
                    o.name
                );
            }
        }
    }

    #[test]
    fn the_landing_page_url_names_a_reachable_host() {
        let url = |s: &str| web_url(s.parse().expect("address"));
        assert_eq!(url("0.0.0.0:19502"), "http://localhost:19502");
        assert_eq!(url("[::]:19502"), "http://localhost:19502");
        assert_eq!(url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("[::1]:8080"), "http://[::1]:8080");
    }
}
