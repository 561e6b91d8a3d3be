//! The HTTP check as the registry sees it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{findings, series, HttpOutcome};
use crate::checks::{
    open_addresses, timed, Check, CheckModule, CheckRun, Handshake, Memory, NotRun, OriginResults,
    Outcome, ProbeContext, Ran, Report,
};
use crate::config::{Origin, Scheme};
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

/// The CDN's request, answered within its read timeout with an expected status.
pub struct HttpCheck;

impl CheckModule for HttpCheck {
    fn id(&self) -> Check {
        Check::Http
    }

    fn name(&self) -> &'static str {
        "http"
    }

    fn per_address(&self) -> bool {
        true
    }

    fn causes(&self) -> &'static [Cause] {
        &[Cause::HttpErrorStatus, Cause::HttpTimeout]
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        earlier: &'a OriginResults,
        _memory: &'a mut Memory,
    ) -> BoxFuture<'a, Report> {
        async move {
            let scheme = scheme(origin);
            let reachable = open_addresses(origin, earlier, scheme).and_then(|addrs| {
                // No request over a failed CDN handshake: the TLS cause is the root.
                let addrs: Vec<SocketAddr> = match scheme {
                    Scheme::Https => addrs
                        .into_iter()
                        .filter(|a| !tls_failed(earlier, *a))
                        .collect(),
                    Scheme::Http => addrs,
                };
                if addrs.is_empty() {
                    Err(NotRun::NoTls)
                } else {
                    Ok(addrs)
                }
            });
            Report::Http(match reachable {
                Err(why) => CheckRun::not_run(why),
                // Connect and TLS within the timeout each, then the CDN's read timeout for
                // headers.
                Ok(addrs) => {
                    let limit = origin
                        .timeout
                        .saturating_mul(2)
                        .saturating_add(origin.read_timeout);
                    let identity = origin.client_certificate.as_deref();
                    // The CDN's own TLS client; one that cannot be built is the TLS check's
                    // finding (its handshake fails the same way).
                    match ctx
                        .tls
                        .clients
                        .get(ctx.cdn, &origin.ssl_protocols, identity)
                    {
                        Ok(tls) => timed(limit, super::probe_all(origin, &addrs, scheme, &tls))
                            .await
                            .or_not_run(NotRun::NoAddress),
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
        Some(results.http.as_ref()?.ran(|report| {
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
        results.http.as_ref().map(|r| r.duration)
    }

    fn findings(&self, origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        findings::findings(origin, results)
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String> {
        let Some(run) = &results.http else {
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
        report
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
            .collect()
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
            Scheme::Https => ("https", origin.https_port),
            Scheme::Http => ("http", origin.http_port),
        };
        format!(
            "curl -sv -o /dev/null -X {} -H 'Host: {sni}' --connect-to {sni}:{port}:{target}:{port} {scheme}://{sni}:{port}{}",
            spec.method, spec.path
        )
    }
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
fn tls_failed(results: &OriginResults, address: SocketAddr) -> bool {
    match results.tls.as_ref().map(|r| &r.outcome) {
        Some(Outcome::Completed(report)) => report
            .all()
            .any(|t| t.address == address && t.handshake != Handshake::Accepted),
        Some(Outcome::TimedOut) => true,
        None | Some(Outcome::NotRun(_)) => false,
    }
}
