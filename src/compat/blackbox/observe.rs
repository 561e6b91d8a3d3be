//! What a blackbox probe of an origin would have seen, read from the checks' reports of one
//! cycle. The only code of the compatibility series that knows a check's report: resolution,
//! the TCP port, the TLS check's finished handshake and analysed chain, the HTTP check's answer.
//! Pure.
//!
//! blackbox's rules, applied to what the checks saw (docs/blackbox.md):
//! - one address: the first the checks probe;
//! - a handshake counts only when it finished and Go would accept the chain: trusted, the first
//!   certificate sent is the leaf, every certificate of the verified path is within its validity
//!   at the end of the cycle, and a SAN dNSName covers the name sent as SNI. Otherwise Go's
//!   handshake fails, and blackbox writes no TLS series, no status and no request phases;
//! - an HTTP module succeeds on a 2xx status (`http_2xx`: no `valid_status_codes`), a TCP module
//!   on a connection (and a verified handshake).

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use super::{go, HttpSeen, Module, Probe, TlsSeen};
use crate::analysis::Trust;
use crate::cdn::TlsVersion;
use crate::checks::http::HttpCheck;
use crate::checks::tcp::TcpCheck;
use crate::checks::tls::cdn_client::Finish;
use crate::checks::tls::TlsCheck;
use crate::checks::{probed_addresses, unix_seconds, HttpOutcome, HttpReport, OriginResults};
use crate::checks::{PortState, TlsReport};
use crate::config::{Check, Origin, Scheme};

/// The probe blackbox would have made of `origin` in the cycle that found `results` and ended
/// `at`; `None` for an origin with none of the TCP, TLS and HTTP checks (no module fits it).
pub fn observe(origin: &Origin, results: &OriginResults, at: SystemTime) -> Option<Probe> {
    let scheme = if origin.uses_https() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let tls_checked = scheme == Scheme::Https && origin.has_check(Check::Tls);
    let module = if origin.has_check(Check::Http) {
        Module::Http
    } else if tls_checked {
        Module::Tcp { tls: true }
    } else if origin.has_check(Check::Tcp) {
        Module::Tcp { tls: false }
    } else {
        return None;
    };
    let dns_lookup = results
        .resolution
        .as_ref()
        .map_or(0.0, |r| r.duration.as_secs_f64());
    let Some(ip) = probed_addresses(origin, results).first().copied() else {
        return Some(unresolved(module, dns_lookup));
    };
    let port = match scheme {
        Scheme::Https => origin.https_port,
        Scheme::Http => origin.http_port,
    };
    let address = SocketAddr::new(ip, port);
    let seen = Seen {
        origin,
        results,
        address,
        at: unix_seconds(at),
    };
    let tls = if tls_checked {
        seen.tls_report().and_then(|t| seen.verified(t))
    } else {
        None
    };
    // Without the TLS check the chain is not known: the handshake is taken as blackbox's.
    let handshake_ok = !tls_checked || tls.is_some();
    let connect = seen.connect_seconds();
    let tls_seconds = match tls_checked {
        true => results
            .get::<TlsCheck>()
            .map_or(0.0, |r| r.duration.as_secs_f64()),
        false => 0.0,
    };
    Some(match module {
        Module::Http => {
            let report = seen.http_report();
            let http = http_seen(report, handshake_ok, scheme, dns_lookup);
            let exchange = report.map_or(connect + tls_seconds, |r| r.duration.as_secs_f64());
            Probe {
                module,
                success: handshake_ok && (200..300).contains(&http.status),
                duration: dns_lookup + exchange,
                dns_lookup,
                ip: Some(ip),
                tls: tls.filter(|_| http.ssl),
                http: Some(http),
            }
        }
        Module::Tcp { tls: with_tls } => {
            let connected = match seen.port_state() {
                Some(state) => state == PortState::Open,
                // No TCP check: the TLS check's handshake is the connection.
                None => tls.is_some(),
            };
            Probe {
                module,
                success: connected && handshake_ok,
                duration: dns_lookup + connect + tls_seconds,
                dns_lookup,
                ip: Some(ip),
                tls: tls.filter(|_| with_tls && connected),
                http: None,
            }
        }
    })
}

/// A name that did not resolve: blackbox stops after the lookup.
fn unresolved(module: Module, dns_lookup: f64) -> Probe {
    Probe {
        module,
        success: false,
        duration: dns_lookup,
        dns_lookup,
        ip: None,
        tls: None,
        http: (module == Module::Http).then(|| HttpSeen {
            resolved: false,
            ..no_response(dns_lookup)
        }),
    }
}

/// The series of a request that got no response, as Go leaves them: every count 0, and the
/// phases after the lookup 0 too (blackbox adds them only for a connection it got).
fn no_response(dns_lookup: f64) -> HttpSeen {
    HttpSeen {
        resolved: true,
        status: 0,
        ssl: false,
        version: 0.0,
        content_length: 0,
        body_length: Some(0),
        last_modified: None,
        phases: [dns_lookup, 0.0, 0.0, 0.0, 0.0],
    }
}

/// The HTTP module's series from the HTTP check's report for the address (`None`: the check did
/// not reach it), given whether Go's handshake would have succeeded.
fn http_seen(
    report: Option<&HttpReport>,
    handshake_ok: bool,
    scheme: Scheme,
    dns_lookup: f64,
) -> HttpSeen {
    let failed = no_response(dns_lookup);
    let Some(report) = report.filter(|_| handshake_ok) else {
        return failed;
    };
    let seconds = |d: Option<std::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    let connected = [
        dns_lookup,
        seconds(report.phases.connect),
        seconds(report.phases.tls),
        0.0,
        0.0,
    ];
    match &report.outcome {
        HttpOutcome::Status(status) => {
            let header = |name: &str| {
                report
                    .headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
            };
            let (content_length, body_length) = lengths(*status, header("content-length"));
            let mut phases = connected;
            phases[3] = seconds(report.phases.headers);
            HttpSeen {
                resolved: true,
                status: *status,
                ssl: scheme == Scheme::Https,
                version: match report.version {
                    Some(hyper::Version::HTTP_10) => 1.0,
                    Some(hyper::Version::HTTP_11) => 1.1,
                    Some(hyper::Version::HTTP_2) => 2.0,
                    _ => 0.0,
                },
                content_length,
                body_length,
                last_modified: header("last-modified")
                    .and_then(|v| httpdate::parse_http_date(v).ok())
                    .map(|t| unix_seconds(t) as i64),
                phases,
            }
        }
        // A connection, then no response: Go fills the connection's phases only.
        HttpOutcome::HeadersTimedOut | HttpOutcome::BadResponse(_) => HttpSeen {
            phases: connected,
            ..failed
        },
        HttpOutcome::ConnectFailed(_) | HttpOutcome::TlsFailed(_) => failed,
    }
}

/// `Content-Length` as Go's `resp.ContentLength` (-1 when unknown; 0 for a status without a
/// body), and the body's length when that tells it without reading the body.
fn lengths(status: u16, content_length: Option<&str>) -> (i64, Option<i64>) {
    if status / 100 == 1 || status == 204 || status == 304 {
        return (0, Some(0));
    }
    match content_length.and_then(|v| v.trim().parse::<i64>().ok()) {
        Some(n) if n >= 0 => (n, Some(n)),
        _ => (-1, None),
    }
}

/// One cycle's reports, looked up for the address blackbox would have probed.
struct Seen<'a> {
    origin: &'a Origin,
    results: &'a OriginResults,
    address: SocketAddr,
    /// When the cycle ended, Unix seconds: the moment validity is judged at.
    at: f64,
}

impl<'a> Seen<'a> {
    fn port_state(&self) -> Option<PortState> {
        let tcp = self.results.get::<TcpCheck>()?.completed()?;
        tcp.ports
            .iter()
            .find(|p| p.address == self.address.ip() && p.port == self.address.port())
            .map(|p| p.state)
    }

    fn connect_seconds(&self) -> f64 {
        let Some(tcp) = self.results.get::<TcpCheck>().and_then(|t| t.completed()) else {
            return 0.0;
        };
        tcp.ports
            .iter()
            .find(|p| p.address == self.address.ip() && p.port == self.address.port())
            .map_or(0.0, |p| p.duration.as_secs_f64())
    }

    fn tls_report(&self) -> Option<&'a TlsReport> {
        let tls = self.results.get::<TlsCheck>()?.completed()?;
        tls.all().find(|t| t.address == self.address)
    }

    fn http_report(&self) -> Option<&'a HttpReport> {
        let http = self.results.get::<HttpCheck>()?.completed()?;
        http.all().find(|h| h.address == self.address)
    }

    /// The handshake as blackbox reports it: finished, with a chain Go accepts.
    fn verified(&self, report: &TlsReport) -> Option<TlsSeen> {
        let Some(Finish::Done { version, cipher }) = &report.finish else {
            return None;
        };
        let chain = report.chain.as_ref()?;
        let peer = chain.peer.as_ref()?;
        if chain.trust != Trust::Trusted || chain.unparsable > 0 {
            return None;
        }
        let (not_before, not_after) = peer.path_validity?;
        if self.at < not_before as f64 || self.at > not_after as f64 {
            return None;
        }
        let host = self.origin.sni();
        let named = match host.parse::<IpAddr>() {
            // An address is matched against IP SANs, as the chain analysis did.
            Ok(_) => chain.names.iter().any(|(name, ok)| name == host && *ok),
            Err(_) => go::covers(&peer.dns_names, host),
        };
        if !named {
            return None;
        }
        Some(TlsSeen {
            version: TlsVersion::from_name(version).map_or("unknown", go::tls_version),
            cipher: go::cipher_name(cipher),
            earliest_expiry: chain.certs.iter().map(|c| c.not_after).min()?,
            last_chain_expiry: not_after,
            peer: std::sync::Arc::clone(peer),
        })
    }
}

#[cfg(test)]
mod tests;
