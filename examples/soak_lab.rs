//! The soak test's origins (bench/soak.sh): the test lab's servers on loopback, shared by many
//! configured origins, healthy and broken mixed. Writes two configs into DIR (`full.yaml` with
//! every origin, `less.yaml` without every tenth: the reloads alternate between them), prints
//! `ready`, and serves until stdin closes.
//!
//! `cargo run --example soak_lab -- DIR ORIGINS INTERVAL`

#[path = "../tests/lab/mod.rs"]
mod lab;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use lab::dns::{DnsLab, Zone};
use lab::hostile::{records, server_hello, Act, HostileOrigin};
use lab::http::HttpOrigin;
use lab::tcp::closed_port;
use lab::tls::{LeafSpec, Pki, RustlsOrigin};

const NS1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);
const NS2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 22);

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: soak_lab DIR ORIGINS INTERVAL";
    let dir = std::path::PathBuf::from(args.get(1).expect(usage));
    let count: usize = args.get(2).and_then(|n| n.parse().ok()).expect(usage);
    let interval = args.get(3).expect(usage).clone();

    let pki = Pki::new();
    let leaf = |name: &str, from: i64, until: i64| {
        pki.leaf(&LeafSpec::new(&[name]).valid(from, until), Some(&pki.inter))
    };
    let good = RustlsOrigin::serving(&pki, &leaf("*.soak.test", -1, 90), true).await;
    let expired = RustlsOrigin::serving(&pki, &leaf("*.soak.test", -90, -1), false).await;
    let selfie = pki.leaf(&LeafSpec::new(&["*.soak.test"]), None);
    let self_signed = RustlsOrigin::start(vec![selfie.der.clone()], &selfie.key_der, true).await;
    // Accepts and never answers, but closes when the client does (the lab's OpenPort holds every
    // connection until dropped: over a soak that is hundreds of thousands of descriptors).
    let open = HostileOrigin::start(Vec::new()).await;
    let closed = closed_port();
    let ok = HttpOrigin::plain(200, Duration::ZERO).await;
    let unavailable = HttpOrigin::plain(503, Duration::ZERO).await;
    let garbage = HostileOrigin::start(vec![
        Act::Send(records(&server_hello())),
        Act::Send(vec![0x42; 512]),
    ])
    .await;
    let reset = HostileOrigin::start(vec![Act::Send(records(&server_hello())), Act::Reset]).await;
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let zone = (0..count)
        .filter(|i| i % 20 == 9)
        .fold(Zone::new("soak.test", 1, &[NS1, NS2]), |z, i| {
            z.with_record(&format!("o{i}.soak.test"), localhost)
        });
    let dns = DnsLab::start(vec![zone], &[]).await;

    let tls = |name: &str, port: u16| {
        format!("  - {{name: {name}, domain: {name}.soak.test, address: 127.0.0.1, https_port: {port}, checks: [tcp, tls]}}\n")
    };
    let http = |name: &str, port: u16| {
        format!("  - {{name: {name}, domain: {name}.soak.test, address: 127.0.0.1, protocol_policy: http-only, http_port: {port}, http: {{expect_status: [2xx]}}, checks: [tcp, http]}}\n")
    };
    let origin = |i: usize| {
        let name = format!("o{i}");
        match i % 20 {
            0..=5 => tls(&name, good.port()),
            6 => tls(&name, expired.port()),
            7 => tls(&name, self_signed.port()),
            8 => tls(&name, closed),
            // Resolved by the lab DNS; every other one does not exist (NXDOMAIN).
            9 | 10 => format!(
                "  - {{name: {name}, domain: o{}.soak.test, https_port: {}, checks: [dns, tcp]}}\n",
                if i % 20 == 9 { i } else { count + i },
                open.port()
            ),
            11 => tls(&name, open.port()),
            12 => tls(&name, garbage.port()),
            13 => tls(&name, reset.port()),
            14..=16 => http(&name, ok.port()),
            17 => http(&name, unavailable.port()),
            _ => tls(&name, good.port()),
        }
    };
    let global = format!(
        "global: {{interval: {interval}, timeout: 2s, read_timeout: 2s, concurrency: 128, ca_file: '{}'{}}}\norigins:\n",
        pki.ca_file.display(),
        dns.global_yaml()
    );
    let write = |file: &str, keep: &dyn Fn(usize) -> bool| {
        let body: String = (0..count).filter(|i| keep(*i)).map(origin).collect();
        std::fs::write(dir.join(file), format!("{global}{body}")).expect("write config");
    };
    write("full.yaml", &|_| true);
    write("less.yaml", &|i| i % 10 != 3);
    println!("ready");

    // Serves until the script closes stdin (or dies): then everything here is dropped.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
    })
    .await;
}
