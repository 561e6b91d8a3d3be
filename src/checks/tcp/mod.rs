//! TCP check: does every port the CDN uses accept a connection, on every address?

mod check;
#[cfg(test)]
mod diagnosis_tests;
mod findings;
mod series;

pub use check::TcpCheck;

/// The check's id: its place in the registry.
pub const ID: super::Check = super::Check::at(1);

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::net::TcpStream;

use crate::checks::{dial, Earlier, NotRun};
use crate::config::{Origin, Scheme};

#[derive(Debug, Clone, PartialEq)]
pub struct TcpReport {
    /// One entry per address and port, in address order.
    pub ports: Vec<PortResult>,
}

impl TcpReport {
    pub fn closed(&self) -> impl Iterator<Item = &PortResult> {
        self.ports.iter().filter(|p| p.state != PortState::Open)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortResult {
    pub address: IpAddr,
    pub port: u16,
    pub scheme: Scheme,
    pub state: PortState,
    /// From the first attempt to the last one's end.
    pub duration: Duration,
    /// Attempts made: 1 when the first was accepted; `connection_attempts` when all failed.
    pub attempts: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    Open,
    Refused,
    TimedOut,
    /// Any other failure: unreachable network, reset, ...
    Failed(io::ErrorKind),
}

impl PortState {
    /// A bounded reason, fit for a label or a log line.
    pub fn reason(self) -> String {
        match self {
            PortState::Open => "open".into(),
            PortState::Refused => "connection refused".into(),
            PortState::TimedOut => "timed out".into(),
            PortState::Failed(kind) => kind.to_string(),
        }
    }
}

/// How the CDN connects: up to `attempts` tries, each bounded by `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Attempts {
    pub attempts: u8,
    pub limit: Duration,
}

impl Attempts {
    /// The longest all attempts to one port can take.
    pub fn total(self) -> Duration {
        self.limit.saturating_mul(u32::from(self.attempts.max(1)))
    }
}

/// An accepted connection: where to, the stream, and when it was accepted.
pub type Accepted = (SocketAddr, TcpStream, tokio::time::Instant);

/// Connects to every (address, port) pair at once, as the CDN does: a port is unreachable when
/// every one of its attempts failed. Returns the accepted connections too, for the caller to
/// hold on to one (the TLS check sends its hello on it) or close.
pub async fn probe(
    addresses: &[IpAddr],
    ports: &[(Scheme, u16)],
    how: Attempts,
) -> (TcpReport, Vec<Accepted>) {
    let pairs = addresses.iter().flat_map(|&address| {
        ports.iter().map(move |&(scheme, port)| async move {
            let start = Instant::now();
            let addr = SocketAddr::new(address, port);
            let mut made = 0;
            let mut state = PortState::TimedOut;
            let mut open = None;
            while made < how.attempts.max(1) {
                made += 1;
                match connect(addr, how.limit).await {
                    Ok(stream) => {
                        state = PortState::Open;
                        open = Some((addr, stream, tokio::time::Instant::now()));
                        break;
                    }
                    Err(failed) => state = failed,
                }
            }
            let result = PortResult {
                address,
                port,
                scheme,
                state,
                duration: start.elapsed(),
                attempts: made,
            };
            (result, open)
        })
    });
    let (ports, open): (Vec<PortResult>, Vec<_>) = join_all(pairs).await.into_iter().unzip();
    (TcpReport { ports }, open.into_iter().flatten().collect())
}

async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, PortState> {
    match tokio::time::timeout(limit, dial::connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Err(PortState::Refused),
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => Err(PortState::TimedOut),
        Ok(Err(e)) => Err(PortState::Failed(e.kind())),
        Err(_) => Err(PortState::TimedOut),
    }
}

/// The probed addresses whose port for `scheme` accepted a connection, in order; without a TCP
/// check, every probed address (for the later checks that declare the TCP check). An error means no later check on that scheme can run.
pub fn open_addresses(
    origin: &Origin,
    earlier: &Earlier<'_>,
    scheme: Scheme,
) -> Result<Vec<SocketAddr>, NotRun> {
    let port = match scheme {
        Scheme::Http => origin.http_port,
        Scheme::Https => origin.https_port,
    };
    let addrs = earlier.probed_addresses(origin);
    if addrs.is_empty() {
        return Err(NotRun::NoAddress);
    }
    let open: Vec<SocketAddr> = match earlier.get::<TcpCheck>().map(|t| t.completed()) {
        None => addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
        Some(Some(report)) => addrs
            .iter()
            .filter(|ip| {
                report
                    .ports
                    .iter()
                    .any(|p| p.address == **ip && p.port == port && p.state == PortState::Open)
            })
            .map(|ip| SocketAddr::new(*ip, port))
            .collect(),
        Some(None) => Vec::new(),
    };
    if open.is_empty() {
        Err(NotRun::PortClosed)
    } else {
        Ok(open)
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the test's own client fills a listener's queue; it is no probe"
)]
mod tests {
    use super::*;
    use crate::netpolicy::Reach;

    /// A port that drops connections at first (its accept queue is full, as behind a
    /// saturated origin) and accepts from `after` on: it needs more than one attempt.
    async fn slow_to_accept(after: Duration) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind loopback");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let filler = TcpStream::connect(addr).await.expect("filler");
        let task = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            drop(filler);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                match listener.accept().await {
                    Ok(conn) => drop(conn),
                    Err(_) => return,
                }
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_port_is_up_when_a_later_attempt_is_accepted() {
        let (addr, task) = slow_to_accept(Duration::from_millis(700)).await;
        let how = Attempts {
            attempts: 3,
            limit: Duration::from_millis(500),
        };
        let (ips, ports) = ([addr.ip()], [(Scheme::Https, addr.port())]);
        let (report, open) = dial::within(Reach::Configured, probe(&ips, &ports, how)).await;
        task.abort();
        assert_eq!(open.len(), 1, "the accepted connection is returned");
        let p = &report.ports[0];
        assert_eq!(p.state, PortState::Open, "{p:?}");
        assert!(p.attempts > 1, "{p:?}");
    }

    #[tokio::test]
    async fn a_port_is_unreachable_when_every_attempt_fails() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let how = Attempts {
            attempts: 2,
            limit: Duration::from_millis(500),
        };
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let (report, open) = dial::within(
            Reach::Configured,
            probe(&[ip], &[(Scheme::Http, port)], how),
        )
        .await;
        assert!(open.is_empty());
        assert_eq!(report.ports[0].state, PortState::Refused);
        assert_eq!(report.ports[0].attempts, 2);
    }

    /// TLS and HTTP probe every address whose port accepted a connection, at most
    /// [`MAX_PROBED_ADDRESSES`], in resolution order; without a TCP check, every address.
    #[test]
    fn open_addresses_are_the_probed_ones_whose_port_is_open() {
        use crate::checks::{
            Check, CheckRun, OriginResults, Outcome, Resolution, MAX_PROBED_ADDRESSES,
        };
        use crate::diagnose::test_support::origin;
        const NEEDS: &[Check] = &[Check::Tcp];
        let ips: Vec<IpAddr> = (1..=10)
            .map(|i| format!("192.0.2.{i}").parse().expect("ip"))
            .collect();
        let resolution = Some(CheckRun {
            duration: Duration::ZERO,
            outcome: Outcome::Completed(Resolution {
                addresses: ips.clone(),
                error: None,
            }),
        });
        let o = origin(&[Check::Tcp]);
        let without_tcp = OriginResults::new(resolution.clone());
        let all =
            open_addresses(&o, &Earlier::new(&without_tcp, NEEDS), Scheme::Https).expect("open");
        assert_eq!(all.len(), MAX_PROBED_ADDRESSES);
        assert_eq!(all[0], SocketAddr::new(ips[0], o.https_port));
        assert_eq!(all[7], SocketAddr::new(ips[7], o.https_port));
        let port = |i: usize, port: u16, state: PortState| PortResult {
            address: ips[i],
            port,
            scheme: Scheme::Https,
            state,
            duration: Duration::ZERO,
            attempts: 1,
        };
        let tcp = |ports| {
            OriginResults::new(resolution.clone()).with::<crate::checks::tcp::TcpCheck>(CheckRun {
                duration: Duration::ZERO,
                outcome: Outcome::Completed(TcpReport { ports }),
            })
        };
        // Open on 2 and 9 (past the bound), refused on 1; port 80 open on 1 does not count.
        let some = tcp(vec![
            port(0, o.https_port, PortState::Refused),
            port(0, o.http_port, PortState::Open),
            port(1, o.https_port, PortState::Open),
            port(8, o.https_port, PortState::Open),
        ]);
        assert_eq!(
            open_addresses(&o, &Earlier::new(&some, NEEDS), Scheme::Https),
            Ok(vec![SocketAddr::new(ips[1], o.https_port)])
        );
        assert_eq!(
            open_addresses(&o, &Earlier::new(&some, NEEDS), Scheme::Http),
            Ok(vec![SocketAddr::new(ips[0], o.http_port)])
        );
        let none = tcp(vec![port(0, o.https_port, PortState::TimedOut)]);
        assert_eq!(
            open_addresses(&o, &Earlier::new(&none, NEEDS), Scheme::Https),
            Err(NotRun::PortClosed)
        );
        let unresolved = OriginResults::default();
        assert_eq!(
            open_addresses(&o, &Earlier::new(&unresolved, NEEDS), Scheme::Https),
            Err(NotRun::NoAddress)
        );
    }
}
