//! Tests of reusing a finished CDN-profile handshake, against real servers on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::tests::counted_cycle;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::lab::pki::{LeafSpec, Pki};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::reuse::*;
use super::*;
use crate::cdn::TlsVersion;

/// A rustls origin on loopback (ECDSA certificate, TLS 1.2 and 1.3) that finishes every
/// handshake, counting connections. Its certificate is self-signed (a cause: untrusted).
async fn finishing_origin(connections: Arc<AtomicUsize>) -> SocketAddr {
    let leaf = Pki::new().leaf(&LeafSpec::new(&["a.example"]), None);
    serve(vec![leaf.der], leaf.key_der, connections).await
}

/// The same, healthy: a leaf for `a.example` issued by `pki`'s root, and a TLS context that
/// trusts that root.
async fn healthy_origin(connections: Arc<AtomicUsize>, pki: &Pki) -> (SocketAddr, TlsContext) {
    let leaf = pki.leaf(&LeafSpec::new(&["a.example"]), Some(&pki.root));
    let addr = serve(vec![leaf.der], leaf.key_der, connections).await;
    (addr, TlsContext::new(Some(&pki.ca_file)).expect("context"))
}

async fn serve(
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
    connections: Arc<AtomicUsize>,
) -> SocketAddr {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        chain,
        rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
    )
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A request over a finished handshake gets 200.
                use tokio::io::AsyncReadExt;
                if let Ok(mut tls) = acceptor.accept(conn).await {
                    let mut buf = [0u8; 1024];
                    if matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                }
            });
        }
    });
    addr
}

/// A TCP proxy to `backend` that, while `cut` is set when a connection arrives, forwards the
/// client's first bytes (its ClientHello) and the server's first flight, then closes the
/// connection when the client sends anything more: the first flight stays the same, and no
/// handshake can finish.
#[allow(
    clippy::disallowed_methods,
    reason = "the proxy's connection to its backend is the lab's, not a probe's"
)]
async fn cutting_proxy(backend: SocketAddr, cut: Arc<std::sync::atomic::AtomicBool>) -> SocketAddr {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(backend).await else {
                continue;
            };
            let cut = cut.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                if cut {
                    let mut buf = vec![0u8; 16 * 1024];
                    if let Ok(n) = cr.read(&mut buf).await {
                        let _ = sw.write_all(&buf[..n]).await;
                    }
                    let _ = cr.read(&mut buf).await;
                    down.abort();
                } else {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = down.await;
                }
            });
        }
    });
    addr
}

/// A handshake reused while the first flight stays the same is contradicted by the HTTP
/// check's own handshake the cycle that one fails: the TLS check raises the failure in that
/// cycle (not dropped as an echo), and the next cycle makes a handshake of its own.
#[tokio::test]
async fn a_failed_http_handshake_contradicts_a_reused_one() {
    use std::sync::atomic::AtomicBool;
    let connections = Arc::new(AtomicUsize::new(0));
    let pki = Pki::new();
    let (backend, _) = healthy_origin(Arc::clone(&connections), &pki).await;
    let cut = Arc::new(AtomicBool::new(false));
    let proxy = cutting_proxy(backend, Arc::clone(&cut)).await;
    let cfg = crate::config::load_str(
        &format!(
            "global: {{ca_file: '{}'}}\norigins: [{{name: a, domain: a.example, address: 127.0.0.1, https_port: {}, protocol_policy: https-only, checks: [tls, http], http: {{path: /}}}}]",
            pki.ca_file.display(),
            proxy.port()
        ),
        Path::new("t.yaml"),
    )
    .expect("config");
    let origin = &cfg.origins[0];
    let ctx = crate::checks::ProbeContext::new(&cfg.global).expect("context");
    let mut memory = crate::checks::Memory::default();
    // One cycle: where its finish came from, and the causes it shows.
    macro_rules! cycle {
        () => {{
            let snapshot = crate::cycle::run(origin, &ctx, &mut memory).await;
            let tls = snapshot
                .results
                .get::<super::TlsCheck>()
                .and_then(|t| t.completed());
            let from = tls.map(|t| t.finish_from);
            let causes: Vec<&str> = snapshot
                .diagnosis
                .findings
                .iter()
                .map(|f| f.cause.name())
                .collect();
            (from, causes)
        }};
    }
    assert_eq!(cycle!(), (Some(FinishFrom::ThisCycle), vec![]));
    assert_eq!(cycle!(), (Some(FinishFrom::Reused), vec![]));
    cut.store(true, Ordering::SeqCst);
    assert_eq!(
        cycle!(),
        (Some(FinishFrom::Later), vec!["tls_handshake_failed"]),
        "the HTTP check's handshake contradicts the reused one"
    );
    assert_eq!(
        cycle!(),
        (Some(FinishFrom::ThisCycle), vec!["tls_handshake_failed"]),
        "the next cycle finishes a handshake of its own"
    );
    cut.store(false, Ordering::SeqCst);
    assert_eq!(cycle!(), (Some(FinishFrom::ThisCycle), vec![]), "mended");
    assert_eq!(cycle!(), (Some(FinishFrom::Reused), vec![]));
}

/// An origin whose handshake finishes with the same first flight every cycle: the CDN-profile
/// handshake (like the matrix) is made again only every 15th cycle; in between a cycle costs
/// one connection, the CDN hello, and reports the same finished handshake.
#[tokio::test]
async fn a_finished_handshake_is_reused_while_the_first_flight_is_the_same() {
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = finishing_origin(Arc::clone(&connections)).await;
    let cfg = crate::config::load_str(
        "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tls]}]",
        Path::new("t.yaml"),
    )
    .expect("config");
    let origin = &cfg.origins[0];
    let ctx = TlsContext::new(None).expect("context");
    let mut memory = TlsMemory::default();
    // One cycle: its report and how many connections the origin accepted for it.
    macro_rules! cycle {
        () => {
            counted_cycle(origin, &ctx, &mut memory, addr, &connections).await
        };
    }
    let (first, n) = cycle!();
    assert_eq!(first.handshake, Handshake::Accepted, "{first:?}");
    assert!(
        matches!(first.finish, Some(cdn_client::Finish::Done { .. })),
        "{:?}",
        first.finish
    );
    assert_eq!(
        n, 7,
        "the CDN hello, 5 matrix hellos, the CDN-profile handshake"
    );
    for _ in 0..reuse_cycles(origin.interval) {
        let (again, n) = cycle!();
        assert_eq!(n, 1, "only the CDN hello");
        assert_eq!(again.finish, first.finish);
        assert_eq!(again.handshake, Handshake::Accepted);
    }
    assert_eq!(cycle!().1, 7, "both made again after 14 reuses");
    assert_eq!(cycle!().1, 1);
}

#[test]
fn the_refresh_comes_at_least_every_15_minutes() {
    let secs = Duration::from_secs;
    assert_eq!(reuse_cycles(secs(60)), 14);
    assert_eq!(reuse_cycles(secs(10)), 89);
    assert_eq!(reuse_cycles(secs(300)), 2);
    // An interval of 15 minutes or more reuses nothing.
    assert_eq!(reuse_cycles(secs(900)), 0);
    assert_eq!(reuse_cycles(secs(3600)), 0);
}

#[test]
fn first_refreshes_spread_evenly_over_the_cycles() {
    let addr: SocketAddr = "192.0.2.1:443".parse().expect("address");
    let limit = 14;
    let mut counts = [0u32; 15];
    for i in 0..15_000 {
        let s = stagger(&format!("origin-{i}"), addr, limit);
        assert!(s <= limit);
        counts[s as usize] += 1;
    }
    for c in counts {
        assert!((850..1150).contains(&c), "uneven: {counts:?}");
    }
    assert_eq!(stagger("shop", addr, limit), stagger("shop", addr, limit));
    assert_eq!(stagger("shop", addr, 0), 0);
}

/// A scheduled origin's first cycle makes the CDN hello and the handshake only when the
/// check finds nothing wrong; the matrix and the handshake's refresh come together on one
/// later cycle within the refresh period. An origin with a cause gets its matrix at once.
#[tokio::test]
async fn a_healthy_scheduled_origin_probes_its_matrix_later() {
    let connections = Arc::new(AtomicUsize::new(0));
    let (addr, ctx) = healthy_origin(Arc::clone(&connections), &Pki::new()).await;
    let cfg = crate::config::load_str(
        "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tls]}]",
        Path::new("t.yaml"),
    )
    .expect("config");
    let origin = &cfg.origins[0];
    let mut memory = TlsMemory::scheduled();
    let (first, n) = counted_cycle(origin, &ctx, &mut memory, addr, &connections).await;
    assert_eq!(first.handshake, Handshake::Accepted, "{first:?}");
    assert!(
        findings::address_findings(&first).is_empty(),
        "{:?}",
        findings::address_findings(&first)
    );
    assert_eq!(n, 2, "the CDN hello and the CDN-profile handshake");
    assert!(first.protocols.is_empty(), "{:?}", first.protocols);
    let mut counts = Vec::new();
    let mut protocols = Vec::new();
    for _ in 0..=reuse_cycles(origin.interval) {
        let (report, n) = counted_cycle(origin, &ctx, &mut memory, addr, &connections).await;
        counts.push(n);
        protocols = report.protocols;
    }
    assert_eq!(counts.iter().filter(|n| **n == 7).count(), 1, "{counts:?}");
    assert!(counts.iter().all(|n| *n == 1 || *n == 7), "{counts:?}");
    assert_eq!(protocols.len(), TlsVersion::ALL.len(), "probed by now");

    // A self-signed certificate is a cause: the versions are part of its evidence at once.
    let faulty = finishing_origin(Arc::clone(&connections)).await;
    let mut memory = TlsMemory::scheduled();
    let (first, n) = counted_cycle(origin, &ctx, &mut memory, faulty, &connections).await;
    assert!(!findings::address_findings(&first).is_empty());
    assert_eq!(first.protocols.len(), TlsVersion::ALL.len());
    assert_eq!(n, 7, "hello, handshake, then the matrix");
    // Known now: refreshed once within the period, on the origin's own cycle.
    let mut counts = Vec::new();
    for _ in 0..=reuse_cycles(origin.interval) {
        counts.push(
            counted_cycle(origin, &ctx, &mut memory, faulty, &connections)
                .await
                .1,
        );
    }
    assert_eq!(counts.iter().filter(|n| **n == 7).count(), 1, "{counts:?}");
    assert!(counts.iter().all(|n| *n == 1 || *n == 7), "{counts:?}");
}

/// With `[tcp, tls]`, the CDN's hello goes on the TCP check's connection: a steady cycle
/// costs the origin one connection, and nothing is left open after it.
#[tokio::test]
async fn the_cdn_hello_goes_on_the_tcp_checks_connection() {
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = finishing_origin(Arc::clone(&connections)).await;
    let cfg = crate::config::load_str(
        &format!(
            "origins: [{{name: a, domain: a.example, address: 127.0.0.1, https_port: {}, \
             protocol_policy: https-only, checks: [tcp, tls]}}]",
            addr.port()
        ),
        Path::new("t.yaml"),
    )
    .expect("config");
    let origin = &cfg.origins[0];
    let ctx = crate::checks::ProbeContext::new(&cfg.global).expect("context");
    let mut memory = crate::checks::Memory::default();
    macro_rules! cycle {
        () => {{
            let before = connections.load(Ordering::SeqCst);
            let snapshot = crate::cycle::run(origin, &ctx, &mut memory).await;
            (snapshot, connections.load(Ordering::SeqCst) - before)
        }};
    }
    let (first, n) = cycle!();
    let tls = first
        .results
        .get::<super::TlsCheck>()
        .and_then(|t| t.completed());
    assert_eq!(
        tls.map(|t| &t.handshake),
        Some(&Handshake::Accepted),
        "{first:?}"
    );
    assert_eq!(
        n, 7,
        "one connection for TCP and the CDN hello, 5 matrix, 1 handshake"
    );
    let (steady, n) = cycle!();
    assert_eq!(n, 1, "the TCP check's connection carried the CDN hello");
    let tcp = steady
        .results
        .get::<crate::checks::tcp::TcpCheck>()
        .and_then(|t| t.completed());
    assert_eq!(
        tcp.map(|t| t.closed().count()),
        Some(0),
        "{:?}",
        steady.results.get::<crate::checks::tcp::TcpCheck>()
    );
}
