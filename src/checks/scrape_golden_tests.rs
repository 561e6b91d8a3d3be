//! `/metrics` byte for byte: every check's series for fixed snapshots, compared with what the
//! exporter wrote for the same snapshots before the check interface was closed (issue #24). The
//! file `testdata/scrape.prom` was written by this test (`UPDATE_GOLDEN=1`) on that commit.

use crate::checks::dns::DnsCheck;
use crate::checks::edge::EdgeCheck;
use crate::checks::http::HttpCheck;
use crate::checks::tcp::TcpCheck;
use crate::checks::tls::TlsCheck;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hickory_proto::op::ResponseCode;

use crate::checks::dns::{Answer, DnsReport, Reply as DnsReply, ServerReport};
use crate::checks::edge::{EdgeAnswer, EdgeOutcome, EdgeReport, EdgeResult};
use crate::checks::http::{Body, KeepAlive};
use crate::checks::{
    Check, CheckRun, HttpOutcome, HttpReport, NotRun, OriginResults, Outcome, PortResult,
    PortState, Resolution, TcpReport,
};
use crate::config::{Origin, Scheme};
use crate::cycle::Snapshot;
use crate::diagnose::diagnose;
use crate::diagnose::test_support::origin_with_edge;
use crate::metrics::{encode_snapshot, Format};
use crate::store::{Slot, Store};

fn run<T>(ms: u64, t: T) -> CheckRun<T> {
    CheckRun {
        duration: Duration::from_millis(ms),
        outcome: Outcome::Completed(t),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn port(address: IpAddr, port: u16, state: PortState) -> PortResult {
    PortResult {
        address,
        port,
        scheme: if port == 443 {
            Scheme::Https
        } else {
            Scheme::Http
        },
        state,
        duration: Duration::from_millis(3),
        attempts: 1,
    }
}

fn answer(serial: u32) -> DnsReply {
    DnsReply::Answered(Answer {
        rcode: ResponseCode::NoError,
        authoritative: true,
        elapsed: Duration::from_millis(4),
        soa_serial: Some(serial),
    })
}

fn dns() -> DnsReport {
    DnsReport {
        zone: Some("shop.example.com".into()),
        port: 53,
        error: None,
        servers: vec![
            ServerReport {
                nameserver: "ns1.shop.example.com".into(),
                address: ip("192.0.2.53"),
                origin_query: answer(7),
                soa_query: answer(7),
            },
            ServerReport {
                nameserver: "ns2.shop.example.com".into(),
                address: ip("192.0.2.54"),
                origin_query: DnsReply::NoResponse("timed out".into()),
                soa_query: answer(6),
            },
        ],
        unresolved: Vec::new(),
        delegation: None,
    }
}

fn http(address: SocketAddr, status: u16) -> HttpReport {
    HttpReport {
        address,
        scheme: Scheme::Https,
        outcome: HttpOutcome::Status(status),
        headers: vec![("server", "nginx".into())],
        duration: Duration::from_millis(12),
        phases: Default::default(),
        version: Some(hyper::Version::HTTP_11),
        handshake: None,
        refusal: None,
        body: Body::Complete {
            bytes: 2,
            after: Duration::from_millis(13),
        },
        keepalive: KeepAlive::NotWatched,
        more: Vec::new(),
    }
}

fn edge(status: u16, result: EdgeResult) -> EdgeReport {
    EdgeReport {
        address: Some("192.0.2.80:443".parse().expect("address")),
        outcome: EdgeOutcome::Answered(EdgeAnswer {
            status,
            result,
            x_cache: Some("Error from cloudfront".into()),
            request_id: Some("abc".into()),
            pop: Some("FRA56-P1".into()),
        }),
        duration: Duration::from_millis(30),
    }
}

/// Two addresses: the first healthy, the second refusing 443 (so TLS and HTTP see only the
/// first); and an origin whose only address refuses every port (the later checks not run).
fn scenarios() -> Vec<OriginResults> {
    let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let resolution = |addresses: Vec<IpAddr>| {
        Some(run(
            2,
            Resolution {
                addresses,
                error: None,
            },
        ))
    };
    let a443 = SocketAddr::new(a, 443);
    let mut tls = crate::checks::tls::tests_support::report(a443);
    tls.protocols = vec![
        (crate::cdn::TlsVersion::Tls1_2, true),
        (crate::cdn::TlsVersion::Tls1_3, false),
    ];
    let healthy = OriginResults::new(resolution(vec![a, b]))
        .with::<DnsCheck>(run(9, dns()))
        .with::<TcpCheck>(run(
            5,
            TcpReport {
                ports: vec![
                    port(a, 443, PortState::Open),
                    port(a, 80, PortState::Open),
                    port(b, 443, PortState::Refused),
                    port(b, 80, PortState::TimedOut),
                ],
            },
        ))
        .with::<TlsCheck>(run(20, tls))
        .with::<HttpCheck>(run(25, http(a443, 503)))
        .with::<EdgeCheck>(run(40, edge(502, EdgeResult::Error)));
    let closed = OriginResults::new(resolution(vec![b]))
        .with::<DnsCheck>(run(9, dns()))
        .with::<TcpCheck>(run(
            5,
            TcpReport {
                ports: vec![
                    port(b, 443, PortState::Refused),
                    port(b, 80, PortState::Refused),
                ],
            },
        ))
        .with::<TlsCheck>(CheckRun::not_run(NotRun::PortClosed))
        .with::<HttpCheck>(CheckRun::not_run(NotRun::PortClosed))
        .with::<EdgeCheck>(run(40, edge(502, EdgeResult::Error)));
    vec![healthy, closed]
}

/// Each scenario's series in both formats, from `encode` (one origin and its snapshot).
fn scrape_with(encode: impl Fn(Arc<Origin>, Arc<Snapshot>, Format) -> String) -> String {
    let origin = origin_with_edge(&[Check::Dns, Check::Tcp, Check::Tls, Check::Http, Check::Edge]);
    let mut out = String::new();
    for results in scenarios() {
        let snapshot = Arc::new(Snapshot {
            diagnosis: diagnose(&origin, &results),
            results,
            finished_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        });
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            out.push_str(&encode(Arc::clone(&origin), Arc::clone(&snapshot), format));
        }
    }
    out
}

fn scrape() -> String {
    scrape_with(|origin, snapshot, format| {
        encode_snapshot(origin, snapshot, format).expect("encode")
    })
}

/// What `/metrics` writes from pre-rendered series, without the exporter's own metrics.
fn prerendered_scrape() -> String {
    scrape_with(|origin, snapshot, format| {
        let slot = Slot::new(origin);
        slot.publish(snapshot);
        let store = Store::default();
        store.replace(vec![Arc::new(slot)]);
        let mut out = Vec::new();
        let none = prometheus_client::registry::Registry::default();
        crate::prerender::scrape(&mut out, &none, &store, format).expect("scrape");
        String::from_utf8(out).expect("utf-8")
    })
}

#[test]
fn every_checks_series_are_byte_identical() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checks/testdata/scrape.prom");
    let got = scrape();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&path).expect("read the golden scrape");
    assert!(
        got == want,
        "the scrape differs from {}:\n{got}",
        path.display()
    );
    assert!(
        prerendered_scrape() == want,
        "the pre-rendered scrape differs from {}",
        path.display()
    );
}
