//! The HTTP check as the registry sees it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{findings, series, HttpOutcome, KeepAlive};
use crate::checks::tcp::{open_addresses, TcpCheck};
use crate::checks::tls::{Contradiction, TlsCheck};
use crate::checks::{
    timed, Check, CheckModule, CheckRun, CheckTypes, ContextError, Earlier, Handshake, Memory,
    NotRun, Notes, OriginResults, Outcome, ProbeContext, Ran, Report, ThisCycle,
};
use crate::config::{Origin, Scheme};
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

/// The CDN's request, answered within its read timeout with an expected status.
pub struct HttpCheck;

impl CheckTypes for HttpCheck {
    const ID: Check = super::ID;
    type Report = super::HttpReport;
    /// Kept only once it watches a connection (the keep-alive watch).
    type Memory = super::keepalive::HttpMemory;
    type Context = ();
    type Handover = ();

    fn context(_shared: &ProbeContext) -> Result<(), ContextError> {
        Ok(())
    }
}

impl CheckModule for HttpCheck {
    fn name(&self) -> &'static str {
        "http"
    }

    fn per_address(&self) -> bool {
        true
    }

    /// The ports the TCP check found open, and the TLS check's verdict per address: no request
    /// goes over a failed CDN handshake, and a failure either check owns is an echo here.
    fn needs(&self) -> &'static [Check] {
        &[TcpCheck::ID, TlsCheck::ID]
    }

    fn causes(&self) -> &'static [Cause] {
        &[
            Cause::HttpErrorStatus,
            Cause::HttpTimeout,
            Cause::HttpKeepaliveRace,
        ]
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        earlier: Earlier<'a>,
        memory: &'a mut Memory,
        cycle: &'a mut ThisCycle,
    ) -> BoxFuture<'a, Report> {
        async move {
            let scheme = scheme(origin);
            let reachable = open_addresses(origin, &earlier, scheme).and_then(|addrs| {
                // No request over a failed CDN handshake: the TLS cause is the root.
                let addrs: Vec<SocketAddr> = match scheme {
                    Scheme::Https => addrs
                        .into_iter()
                        .filter(|a| !tls_failed(&earlier, *a))
                        .collect(),
                    Scheme::Http => addrs,
                };
                if addrs.is_empty() {
                    Err(NotRun::NoTls)
                } else {
                    Ok(addrs)
                }
            });
            Report::of::<HttpCheck>(match reachable {
                Err(why) => CheckRun::not_run(why),
                // Connect and TLS within the timeout each, then the CDN's read timeout for
                // headers, or its response completion timeout for the whole response.
                Ok(addrs) => {
                    let limit = origin.check_bound(Check::Http);
                    let identity = origin.client_certificate.as_deref();
                    // The CDN's own TLS client; one that cannot be built is the TLS check's
                    // finding (its handshake fails the same way).
                    match ctx.part::<TlsCheck>().clients.get(
                        ctx.cdn,
                        &origin.ssl_protocols,
                        identity,
                    ) {
                        Ok(tls) => {
                            let mut idle = Vec::new();
                            let probes = async {
                                let (report, left) =
                                    super::probe_all(origin, &addrs, scheme, &tls).await?;
                                idle = left;
                                Some(report)
                            };
                            let mut run = timed(limit, probes).await.or_not_run(NotRun::NoAddress);
                            if let Outcome::Completed(report) = &mut run.outcome {
                                super::keepalive::start(
                                    report,
                                    idle,
                                    origin.keepalive_timeout(),
                                    memory,
                                    &mut cycle.lingering,
                                );
                            }
                            run
                        }
                        Err(_) => CheckRun::not_run(NotRun::NoTls),
                    }
                }
            })
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        // Completed when the request to every address was answered, else how the first one
        // that was not ended.
        Some(results.get::<HttpCheck>()?.ran(|report| {
            let ran = |h: &super::HttpReport| match h.outcome {
                HttpOutcome::Status(_) | HttpOutcome::BadResponse(_) => Ran::Completed,
                HttpOutcome::HeadersTimedOut => Ran::TimedOut,
                HttpOutcome::ConnectFailed(_) | HttpOutcome::TlsFailed(_) => Ran::Incomplete,
            };
            report
                .all()
                .map(ran)
                .find(|r| *r != Ran::Completed)
                .unwrap_or(Ran::Completed)
        }))
    }

    fn duration(&self, results: &OriginResults) -> Option<Duration> {
        results.get::<HttpCheck>().map(|r| r.duration)
    }

    fn answered_status(&self, results: &OriginResults) -> Option<u16> {
        match results.get::<HttpCheck>()?.completed()?.outcome {
            HttpOutcome::Status(s) => Some(s),
            _ => None,
        }
    }

    fn findings(&self, origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        findings::findings(origin, results)
    }

    /// Its CDN-profile handshakes that failed, per address: the TLS check judges whether one
    /// contradicts a handshake it reused.
    fn tell(&self, _origin: &Origin, results: &OriginResults, notes: &mut Notes) {
        let Some(report) = results.get::<HttpCheck>().and_then(|r| r.completed()) else {
            return;
        };
        for h in report.all() {
            if let Some(finish) = &h.handshake {
                notes.post(Contradiction {
                    address: h.address,
                    finish: finish.clone(),
                });
            }
        }
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String> {
        let Some(run) = results.get::<HttpCheck>() else {
            return Vec::new();
        };
        let spec = origin.http.clone().unwrap_or_default();
        let Some(report) = run.completed() else {
            return vec![if run.timed_out() {
                "http: no answer in time".to_string()
            } else {
                "http: not sent (an earlier check failed)".to_string()
            }];
        };
        let mut lines: Vec<String> = report
            .all()
            .map(|h| match &h.outcome {
                HttpOutcome::Status(s) => format!(
                    "http: {} {} (Host: {}) to {} answered {s} in {:.0} ms{}",
                    spec.method,
                    spec.path,
                    origin.sni(),
                    h.address,
                    h.duration.as_secs_f64() * 1000.0,
                    h.refusal.as_ref().map_or_else(String::new, |r| format!(
                        ": the origin refused the client certificate: {}",
                        r.describe()
                    ))
                ),
                other => format!("http: request to {}: {other:?}", h.address),
            })
            .collect();
        lines.extend(report.all().filter_map(|h| after_response(origin, h)));
        lines
    }

    fn confirm(&self, cause: Cause, origin: &Origin, results: &OriginResults) -> String {
        let spec = origin.http.clone().unwrap_or_default();
        // The first address the cause is active on, else the name.
        let target = findings::findings(origin, results)
            .into_iter()
            .find(|f| f.cause == cause)
            .and_then(|f| f.addresses.first().copied())
            .map_or_else(
                || origin.domain.clone(),
                |ip| match ip {
                    std::net::IpAddr::V4(v4) => v4.to_string(),
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                },
            );
        let sni = origin.sni();
        let (scheme, port) = match scheme(origin) {
            Scheme::Https => (Scheme::Https, origin.https_port),
            Scheme::Http => (Scheme::Http, origin.http_port),
        };
        let url_scheme = match scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        let curl = format!(
            "curl -sv -o /dev/null -X {} -H 'Host: {sni}' --connect-to {sni}:{port}:{target}:{port} {url_scheme}://{sni}:{port}{}",
            spec.method, spec.path
        );
        match cause {
            // The time to the headers and to the last byte, cut where the CDN cuts.
            Cause::HttpTimeout => format!(
                "{curl} --max-time {} -w 'headers after %{{time_starttransfer}} s, complete after %{{time_total}} s\\n'",
                origin
                    .response_completion_timeout()
                    .unwrap_or(origin.read_timeout)
                    .as_secs_f64()
            ),
            // One request, then the connection left idle: `real` is when the origin closed it.
            Cause::HttpKeepaliveRace => {
                let wait = origin
                    .keepalive_timeout()
                    .saturating_add(super::keepalive::BEYOND)
                    .as_secs();
                let request = format!(
                    "printf '{} {} HTTP/1.1\\r\\nHost: {sni}\\r\\n\\r\\n'",
                    spec.method, spec.path
                );
                let bare = target.trim_start_matches('[').trim_end_matches(']');
                match scheme {
                    Scheme::Http => format!(
                        "time (exec 3<>/dev/tcp/{bare}/{port}; {request} >&3; timeout {wait} cat <&3)"
                    ),
                    Scheme::Https => format!(
                        "time timeout {wait} openssl s_client -quiet -connect {target}:{port} -servername {sni} < <({request}; sleep {wait})"
                    ),
                }
            }
            _ => curl,
        }
    }
}

/// What followed an answer's headers: how its body was read, and how long the origin kept the
/// connection idle after it.
fn after_response(origin: &Origin, h: &super::HttpReport) -> Option<String> {
    use super::body::{Body, Stop, MAX_BODY};
    use super::findings::seconds;
    let rct = origin.response_completion_timeout();
    let body = match (&h.body, rct) {
        (Body::NotRead, _) => return None,
        (Body::Complete { bytes, after }, Some(rct)) => format!(
            "the body ({bytes} bytes) complete after {:.2} s (response_completion_timeout {})",
            after.as_secs_f64(),
            seconds(rct)
        ),
        (Body::Complete { bytes, after }, None) => format!(
            "the body ({bytes} bytes) complete after {:.2} s",
            after.as_secs_f64()
        ),
        (Body::Stopped { bytes, why: Stop::Deadline, .. }, Some(rct)) => format!(
            "the body was not complete within response_completion_timeout {}: {bytes} bytes by then",
            seconds(rct)
        ),
        (Body::Stopped { bytes, why: Stop::Deadline, .. }, None) => format!(
            "the body had not ended within read_timeout {} ({bytes} bytes): read no further",
            seconds(origin.read_timeout)
        ),
        (Body::Stopped { why: Stop::TooLarge, .. }, _) => format!(
            "the body is larger than {} MiB: read no further, so neither its last byte nor the keep-alive is timed",
            MAX_BODY / (1024 * 1024)
        ),
        (Body::Stopped { bytes, why: Stop::Failed(why), .. }, _) => {
            format!("the body broke off after {bytes} bytes: {why}")
        }
    };
    let keepalive = origin.keepalive_timeout();
    let idle = match &h.keepalive {
        KeepAlive::NotWatched => "keep-alive not watched".to_string(),
        KeepAlive::Closes => "the origin closes the connection after its response (Connection: close): the CDN opens a new connection for each request, nothing races".to_string(),
        KeepAlive::Watching { earlier: None, .. } => "the keep-alive watch is still running".to_string(),
        KeepAlive::Watching { earlier: Some(seen), .. } | KeepAlive::Observed(seen) => {
            let was = if seen.closed {
                format!("the origin closed the idle connection after {:.1} s", seen.idle.as_secs_f64())
            } else if seen.conclusive(keepalive) {
                format!("the idle connection was still open after {:.1} s", seen.idle.as_secs_f64())
            } else {
                format!("the keep-alive watch was cut short after {:.1} s, the connection open", seen.idle.as_secs_f64())
            };
            let when = match &h.keepalive {
                KeepAlive::Watching { .. } => " (the previous watch; this cycle's is still running)",
                _ => "",
            };
            format!("{was}; the CDN keeps it up to {} (keepalive_timeout){when}", seconds(keepalive))
        }
    };
    Some(format!("http: {}: {body}; {idle}", h.address))
}

/// HTTPS unless the CDN speaks only HTTP to the origin.
fn scheme(origin: &Origin) -> Scheme {
    if origin.uses_https() {
        Scheme::Https
    } else {
        Scheme::Http
    }
}

/// The TLS check ran and the CDN's handshake with `address` did not succeed.
fn tls_failed(earlier: &Earlier<'_>, address: SocketAddr) -> bool {
    match earlier.get::<TlsCheck>().map(|r| &r.outcome) {
        Some(Outcome::Completed(report)) => report
            .all()
            .any(|t| t.address == address && t.handshake != Handshake::Accepted),
        Some(Outcome::TimedOut) => true,
        None | Some(Outcome::NotRun(_)) => false,
    }
}
