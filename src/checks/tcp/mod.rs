//! TCP check: does every port the CDN uses accept a connection, on every address?

mod check;
mod findings;
mod series;

pub use check::TcpCheck;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::net::TcpStream;

use crate::config::Scheme;

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
    pub duration: Duration,
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

/// Connects to every (address, port) pair at once, each bounded by `limit`.
pub async fn probe(addresses: &[IpAddr], ports: &[(Scheme, u16)], limit: Duration) -> TcpReport {
    let attempts = addresses.iter().flat_map(|&address| {
        ports.iter().map(move |&(scheme, port)| async move {
            let start = Instant::now();
            let state = connect(SocketAddr::new(address, port), limit).await;
            PortResult {
                address,
                port,
                scheme,
                state,
                duration: start.elapsed(),
            }
        })
    });
    let ports = join_all(attempts).await;
    TcpReport { ports }
}

async fn connect(addr: SocketAddr, limit: Duration) -> PortState {
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => PortState::Open,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => PortState::Refused,
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => PortState::TimedOut,
        Ok(Err(e)) => PortState::Failed(e.kind()),
        Err(_) => PortState::TimedOut,
    }
}
