//! The TLS check's tests: classification tables, and the probe against real servers on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::classify::*;
use super::hellos::*;
use super::probe::*;
use super::reuse::*;
use super::*;
use crate::cdn::{self, TlsVersion};
use crate::checks::conn::Handoff;
use crate::checks::{dial, ContextError};
use crate::config::Origin;
use TlsVersion::*;

fn matrix(ok: &[TlsVersion]) -> Vec<(TlsVersion, bool)> {
    TlsVersion::ALL
        .iter()
        .map(|v| (*v, ok.contains(v)))
        .collect()
}

#[test]
fn classification_table() {
    let alert = Reply::Alert(40);
    let cases = [
        (true, matrix(&[Tls1_2]), vec![Tls1_2], Handshake::Accepted),
        (
            false,
            matrix(&[Tls1_0]),
            vec![Tls1_2],
            Handshake::ProtocolMismatch {
                supported: vec![Tls1_0],
                allowed: vec![Tls1_2],
            },
        ),
        (
            false,
            matrix(&[Tls1_3]),
            vec![Tls1_0, Tls1_1, Tls1_2],
            Handshake::ProtocolMismatch {
                supported: vec![Tls1_3],
                allowed: vec![Tls1_0, Tls1_1, Tls1_2],
            },
        ),
        (
            false,
            matrix(&[Tls1_2, Tls1_3]),
            vec![Tls1_2],
            Handshake::CipherMismatch {
                versions: vec![Tls1_2],
            },
        ),
        (
            false,
            matrix(&[]),
            vec![Tls1_2],
            Handshake::Failed(alert.clone()),
        ),
    ];
    for (ok, protocols, allowed, want) in cases {
        assert_eq!(classify(ok, &protocols, &allowed, &alert), want);
    }
    // protocol_version to the CDN's hello: a mismatch in the origin's own words, even when
    // no version's hello succeeds (lighttpd + mbedTLS 2.28, TLS 1.3 only); any other
    // refusal of every hello stays a failed handshake.
    let refused = Reply::Alert(70);
    assert_eq!(
        classify(false, &matrix(&[]), &[Tls1_2], &refused),
        Handshake::ProtocolMismatch {
            supported: vec![],
            allowed: vec![Tls1_2],
        }
    );
    for other in [Reply::Alert(40), Reply::Closed, Reply::Reset, Reply::NotTls] {
        assert_eq!(
            classify(false, &matrix(&[]), &[Tls1_2], &other),
            Handshake::Failed(other.clone())
        );
    }
    // An acceptable hello followed by a reset is a failed handshake, not a mismatch.
    let broken = Reply::HelloThen(
        ServerHello {
            version: 0x0303,
            suite: 0xC02F,
            retry: false,
        },
        Box::new(Reply::Reset),
    );
    assert_eq!(
        classify(true, &matrix(&[Tls1_2]), &[Tls1_2], &broken),
        Handshake::Failed(broken.clone())
    );
}

#[test]
fn finishing_the_handshake_table() {
    use cdn_client::Finish;
    let done = Finish::Done {
        version: "TLSv1.2",
        cipher: "AES128-SHA",
    };
    let alert = |a| Finish::AlertReceived {
        alert: a,
        step: "SSLv3/TLS read server key exchange".into(),
    };
    let failed = Handshake::Failed(Reply::Alert(40));
    let ed = || Some("Ed25519".to_string());
    let key = Handshake::KeyMismatch {
        key: "Ed25519".into(),
    };
    // (hello verdict, finish, cert_request, identity, unusable key, want)
    let cases = [
        (
            Handshake::Accepted,
            Some(done.clone()),
            false,
            false,
            None,
            Handshake::Accepted,
        ),
        (
            Handshake::Accepted,
            Some(alert(80)),
            false,
            false,
            None,
            Handshake::Unfinished(alert(80)),
        ),
        // `ssl_verify_client optional`: the handshake finishes, the CDN still drops it.
        (
            Handshake::Accepted,
            Some(done.clone()),
            true,
            false,
            None,
            Handshake::ClientCertificateRequired {
                finish: done.clone(),
            },
        ),
        (
            Handshake::Accepted,
            Some(alert(116)),
            true,
            false,
            None,
            Handshake::ClientCertificateRequired { finish: alert(116) },
        ),
        (
            Handshake::Accepted,
            Some(done.clone()),
            true,
            true,
            None,
            Handshake::Accepted,
        ),
        (
            Handshake::Accepted,
            Some(alert(48)),
            true,
            true,
            None,
            Handshake::ClientCertificateRejected(Rejection::Handshake(alert(48))),
        ),
        // A failure unrelated to the certificate the server asked for.
        (
            Handshake::Accepted,
            Some(Finish::TimedOut),
            true,
            true,
            None,
            Handshake::Unfinished(Finish::TimedOut),
        ),
        // Go: ServerHello, Certificate (Ed25519), then alert 40.
        (failed.clone(), None, false, false, ed(), key.clone()),
        // OpenSSL: no suite for the key; the matrix shows TLS 1.2 and the certificate.
        (
            Handshake::CipherMismatch {
                versions: vec![Tls1_2],
            },
            None,
            false,
            false,
            ed(),
            key.clone(),
        ),
        (
            Handshake::Accepted,
            Some(alert(40)),
            false,
            false,
            ed(),
            key,
        ),
        (failed.clone(), None, false, false, None, failed.clone()),
        (
            Handshake::ProtocolMismatch {
                supported: vec![Tls1_3],
                allowed: vec![Tls1_2],
            },
            None,
            false,
            false,
            ed(),
            Handshake::ProtocolMismatch {
                supported: vec![Tls1_3],
                allowed: vec![Tls1_2],
            },
        ),
    ];
    for (hello, finish, request, identity, key, want) in cases {
        let got = finish_classify(hello.clone(), finish.as_ref(), request, identity, key);
        assert_eq!(
            got, want,
            "{hello:?} {finish:?} request={request} identity={identity}"
        );
    }
}

#[test]
fn ca_file_adds_roots_and_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mozilla = TlsContext::new(None).unwrap().roots.len();
    assert!(mozilla > 100, "webpki-roots: {mozilla}");

    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, &pem).unwrap();
    assert_eq!(
        TlsContext::new(Some(&good)).unwrap().roots.len(),
        mozilla + 1
    );

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for bad in [&empty, &missing] {
        match TlsContext::new(Some(bad)) {
            Err(ContextError::CaFile { file, .. }) => assert!(file.ends_with(".pem")),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn acceptance_needs_an_allowed_version_and_a_cdn_suite() {
    let hello = |version, suite| {
        Reply::Hello(ServerHello {
            version,
            suite,
            retry: false,
        })
    };
    let cf = &cdn::CLOUDFRONT;
    let got = accepted(&hello(0x0303, 0x002F), cf, &[Tls1_2]).unwrap();
    assert_eq!((got.version, got.cipher.as_str()), (Tls1_2, "AES128-SHA"));
    assert!(accepted(&hello(0x0301, 0x002F), cf, &[Tls1_2]).is_none());
    assert!(accepted(&hello(0x0303, 0xCCA8), cf, &[Tls1_2]).is_none());
    // A TLS 1.2-only suite chosen in TLS 1.0 is not one the CDN offered there.
    assert!(accepted(&hello(0x0301, 0xC02F), cf, &[Tls1_0]).is_none());
    assert!(accepted(&Reply::Closed, cf, &[Tls1_2]).is_none());
}

/// A loopback "origin" that answers every hello with a TLS 1.2 ServerHello choosing `suite`
/// and a one-byte "certificate" (so no recording handshake is needed), and counts connections.
async fn canned_origin(
    suite: Arc<std::sync::atomic::AtomicU16>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
) -> SocketAddr {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            let suite = suite.load(Ordering::SeqCst).to_be_bytes();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await;
                let mut hello = vec![2, 0, 0, 38, 3, 3];
                hello.extend_from_slice(&[1; 32]);
                hello.extend_from_slice(&[0, suite[0], suite[1], 0]);
                hello.extend_from_slice(&[11, 0, 0, 7, 0, 0, 4, 0, 0, 1, b'x', 14, 0, 0, 0]);
                let mut record = vec![22, 3, 3, 0, hello.len() as u8];
                record.extend(hello);
                let _ = conn.write_all(&record).await;
            });
        }
    });
    addr
}

/// One cycle of the TLS check against `addr`: its report, and how many connections the
/// origin counted for it.
pub(super) async fn counted_cycle(
    origin: &Origin,
    ctx: &TlsContext,
    memory: &mut TlsMemory,
    addr: SocketAddr,
    connections: &std::sync::atomic::AtomicUsize,
) -> (TlsReport, usize) {
    use std::sync::atomic::Ordering;
    let before = connections.load(Ordering::SeqCst);
    let (addrs, mut handoff) = ([addr], Handoff::default());
    let cycle = probe_all(origin, &cdn::CLOUDFRONT, ctx, &addrs, memory, &mut handoff);
    let report = dial::within(crate::netpolicy::Reach::Configured, cycle)
        .await
        .expect("one address");
    (report, connections.load(Ordering::SeqCst) - before)
}

#[tokio::test]
async fn the_matrix_is_reused_only_while_the_cdn_answer_stays_the_same() {
    use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
    let suite = Arc::new(AtomicU16::new(0xC02F));
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = canned_origin(Arc::clone(&suite), Arc::clone(&connections)).await;
    let cfg = crate::config::load_str(
        "origins: [{name: a, domain: a.example, address: 127.0.0.1, checks: [tls]}]",
        Path::new("t.yaml"),
    )
    .unwrap();
    let origin = &cfg.origins[0];
    let ctx = TlsContext::new(None).unwrap();
    let mut memory = TlsMemory::default();
    // One cycle: its report and how many connections the origin accepted for it.
    macro_rules! cycle {
        () => {
            counted_cycle(origin, &ctx, &mut memory, addr, &connections).await
        };
    }
    // The canned origin accepts the hello but cannot finish a handshake: the CDN-profile
    // handshake (one more connection per accepted hello) says so.
    let (first, n) = cycle!();
    assert!(
        matches!(first.handshake, Handshake::Unfinished(_)),
        "{:?}",
        first.handshake
    );
    assert_eq!(n, 7);
    assert_eq!(first.protocols, matrix(&[Tls1_2]));
    let reuses = reuse_cycles(origin.interval);
    assert_eq!(reuses, 14, "every 15th cycle at the default 60 s");
    for _ in 0..reuses {
        let (again, n) = cycle!();
        assert_eq!(n, 2, "only the CDN hello and its handshake");
        assert_eq!(again.protocols, first.protocols);
    }
    assert_eq!(cycle!().1, 7, "refreshed after {reuses} reuses");
    assert_eq!(cycle!().1, 2);
    // Another answer (a suite CloudFront does not offer): the matrix is probed again at once,
    // and not reused while the hello fails.
    suite.store(0xCCA8, Ordering::SeqCst);
    let (failed, n) = cycle!();
    assert_eq!(n, 6, "the CDN hello, then the matrix");
    assert_eq!(
        failed.handshake,
        Handshake::CipherMismatch {
            versions: vec![Tls1_2]
        }
    );
    assert_eq!(cycle!().1, 6);
}

/// The leaf's key type names the key no CDN signature scheme fits; RSA and ECDSA keys fit,
/// and bytes that are no certificate name nothing.
#[test]
fn an_unusable_key_is_named_by_its_type() {
    use crate::lab::pki::{LeafSpec, Pki};
    let pki = Pki::new();
    let spec = LeafSpec::new(&["origin.example.com"]);
    let leaf = |spec: &LeafSpec| pki.leaf(spec, None).der;
    let ed = LeafSpec {
        ed25519: true,
        ..spec.clone()
    };
    let rsa = LeafSpec {
        rsa: true,
        ..spec.clone()
    };
    assert_eq!(unusable_key(&leaf(&ed)), Some("Ed25519".to_string()));
    assert_eq!(unusable_key(&leaf(&spec)), None);
    assert_eq!(unusable_key(&leaf(&rsa)), None);
    assert_eq!(
        unusable_key(&rustls::pki_types::CertificateDer::from(vec![
            0x30, 0x03, 1, 2, 3
        ])),
        None
    );
}

/// A key no CDN scheme fits breaks only a handshake that did not finish: one that finished
/// (the key was never used to sign) keeps its own verdict.
#[test]
fn an_unusable_key_does_not_override_a_finished_handshake() {
    let done = cdn_client::Finish::Done {
        version: "TLSv1.3",
        cipher: "TLS_AES_128_GCM_SHA256",
    };
    let ed = || Some("Ed25519".to_string());
    assert_eq!(
        finish_classify(Handshake::Accepted, Some(&done), false, false, ed()),
        Handshake::Accepted
    );
    assert_eq!(
        finish_classify(Handshake::Accepted, Some(&done), true, false, ed()),
        Handshake::ClientCertificateRequired {
            finish: done.clone()
        }
    );
    // Without a finish at all, the hello's verdict stands.
    assert_eq!(
        finish_classify(Handshake::Accepted, None, true, false, None),
        Handshake::Accepted
    );
}

/// The CDN's request over a handshake that finished with the client certificate: an
/// unanswered close or an answer about the certificate is a refusal; any other answer leaves
/// the verdict to the HTTP check; nothing changes a verdict that is not `Accepted`.
#[test]
fn what_the_request_after_the_handshake_adds() {
    use refusal::After;
    let nginx = refusal::recognise(400, b"The SSL certificate error").expect("a refusal");
    let rejected = |after: After| Handshake::ClientCertificateRejected(Rejection::After(after));
    let cases = [
        (Handshake::Accepted, None, Handshake::Accepted),
        (
            Handshake::Accepted,
            Some(After::Answered(200)),
            Handshake::Accepted,
        ),
        (
            Handshake::Accepted,
            Some(After::Answered(403)),
            Handshake::Accepted,
        ),
        (
            Handshake::Accepted,
            Some(After::NotHttp),
            Handshake::Accepted,
        ),
        (
            Handshake::Accepted,
            Some(After::TimedOut),
            Handshake::Accepted,
        ),
        (
            Handshake::Accepted,
            Some(After::Refused(nginx.clone())),
            rejected(After::Refused(nginx.clone())),
        ),
        (
            Handshake::Accepted,
            Some(After::Ended("a reset".into())),
            rejected(After::Ended("a reset".into())),
        ),
        (
            Handshake::Failed(Reply::Alert(40)),
            Some(After::Ended("a reset".into())),
            Handshake::Failed(Reply::Alert(40)),
        ),
    ];
    for (handshake, after, want) in cases {
        assert_eq!(
            after_classify(handshake.clone(), after.as_ref()),
            want,
            "{handshake:?} {after:?}"
        );
    }
}

#[test]
fn refused_certificates_are_the_certificate_alerts_and_a_dropped_connection() {
    use cdn_client::Finish;
    let refused = |finish: Finish| {
        finish_classify(Handshake::Accepted, Some(&finish), true, true, None)
            == Handshake::ClientCertificateRejected(Rejection::Handshake(finish))
    };
    let alert = |alert| Finish::AlertReceived {
        alert,
        step: "SSLv3/TLS read finished".into(),
    };
    for a in [40, 42, 43, 44, 45, 46, 48, 49, 51, 116] {
        assert!(refused(alert(a)), "alert {a}");
    }
    for a in [0, 10, 47, 50, 70, 80, 112] {
        assert!(!refused(alert(a)), "alert {a}");
    }
    assert!(refused(Finish::Io("connection reset".into())));
    assert!(refused(Finish::Refused {
        reason: "unexpected message".into(),
        step: "SSLv3/TLS read finished".into(),
    }));
    assert!(!refused(Finish::TimedOut));
}

#[test]
fn a_version_is_spoken_only_when_the_hello_names_it() {
    let hello = |version| ServerHello {
        version,
        suite: 0x1301,
        retry: false,
    };
    assert!(speaks(&Reply::Hello(hello(0x0303)), Tls1_2));
    assert!(!speaks(&Reply::Hello(hello(0x0303)), Tls1_3));
    assert!(speaks(
        &Reply::HelloThen(hello(0x0304), Box::new(Reply::Reset)),
        Tls1_3
    ));
    assert!(!speaks(&Reply::Alert(70), Tls1_2));
    // Each matrix hello is judged against its own version.
    let replies: Vec<Exchanged> = TlsVersion::ALL
        .into_iter()
        .map(|v| {
            let reply = match v {
                Tls1_2 => Reply::Hello(hello(0x0303)),
                // An origin answering a TLS 1.1 hello with TLS 1.2 does not speak 1.1.
                Tls1_1 => Reply::Hello(hello(0x0303)),
                _ => Reply::Alert(70),
            };
            (reply, reply::Flight::default())
        })
        .collect();
    assert_eq!(protocols_of(&replies), matrix(&[Tls1_2]));
}
