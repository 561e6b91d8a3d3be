//! The HTTP check as the registry sees it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{findings, series, HttpOutcome};
use crate::checks::{
    reachable_address, timed, Check, CheckModule, CheckRun, Handshake, Memory, NotRun,
    OriginResults, Outcome, ProbeContext, Ran, Report,
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
            let reachable = reachable_address(origin, earlier, scheme).and_then(|found| {
                // No request after a failed CDN handshake: the TLS cause is the root.
                if scheme == Scheme::Https && tls_failed(earlier) {
                    Err(NotRun::NoTls)
                } else {
                    Ok(found)
                }
            });
            Report::Http(match reachable {
                Err(why) => CheckRun::not_run(why),
                // Connect and TLS within the timeout each, then the CDN's read timeout for
                // headers.
                Ok((ip, port)) => {
                    let limit = origin
                        .timeout
                        .saturating_mul(2)
                        .saturating_add(origin.read_timeout);
                    let address = SocketAddr::new(ip, port);
                    let identity = origin.client_certificate.as_ref();
                    // The CDN's own TLS client; one that cannot be built is the TLS check's
                    // finding (its handshake fails the same way).
                    match ctx
                        .tls
                        .clients
                        .get(ctx.cdn, &origin.ssl_protocols, identity)
                    {
                        Ok(tls) => timed(limit, super::probe(origin, address, scheme, &tls)).await,
                        Err(_) => CheckRun::not_run(NotRun::NoTls),
                    }
                }
            })
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        Some(results.http.as_ref()?.ran(|h| match h.outcome {
            HttpOutcome::Status(_) | HttpOutcome::BadResponse(_) => Ran::Completed,
            HttpOutcome::HeadersTimedOut => Ran::TimedOut,
            HttpOutcome::ConnectFailed(_) | HttpOutcome::TlsFailed(_) => Ran::Incomplete,
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
        let line = match run.completed().map(|h| (&h.outcome, h.address)) {
            Some((HttpOutcome::Status(s), addr)) => format!(
                "http: {} {} (Host: {}) to {addr} answered {s} in {:.0} ms",
                spec.method,
                spec.path,
                origin.sni(),
                run.duration.as_secs_f64() * 1000.0
            ),
            Some((other, addr)) => format!("http: request to {addr}: {other:?}"),
            None if run.timed_out() => "http: no answer in time".to_string(),
            None => "http: not sent (an earlier check failed)".to_string(),
        };
        vec![line]
    }

    fn confirm(&self, _cause: Cause, origin: &Origin, _results: &OriginResults) -> String {
        let spec = origin.http.clone().unwrap_or_default();
        let sni = origin.sni();
        let (scheme, port) = match scheme(origin) {
            Scheme::Https => ("https", origin.https_port),
            Scheme::Http => ("http", origin.http_port),
        };
        format!(
            "curl -sv -o /dev/null -X {} -H 'Host: {sni}' --connect-to {sni}:{port}:{}:{port} {scheme}://{sni}:{port}{}",
            spec.method, origin.domain, spec.path
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

/// The TLS check ran and the CDN's handshake did not succeed.
fn tls_failed(results: &OriginResults) -> bool {
    match results.tls.as_ref().map(|r| &r.outcome) {
        Some(Outcome::Completed(report)) => report.handshake != Handshake::Accepted,
        Some(Outcome::TimedOut) => true,
        None | Some(Outcome::NotRun(_)) => false,
    }
}
