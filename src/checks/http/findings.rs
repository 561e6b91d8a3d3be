//! HTTP causes. A request that could not be sent (no connection, no TLS) is an echo of the TCP
//! or TLS check and raises nothing here.

use std::time::Duration;

use super::body::{Body, Stop};
use super::keepalive::KeepAlive;
use super::HttpCheck;
use crate::checks::tcp::TcpCheck;
use crate::checks::tls::TlsCheck;
use crate::checks::{
    CheckModule, Earlier, Handshake, HttpOutcome, HttpReport, OriginResults, Outcome,
};
use crate::config::Origin;
use crate::diagnose::{merge_addresses, Cause, Finding};

/// The causes active on any of the addresses the request went to, each naming its addresses.
pub(super) fn findings(origin: &Origin, results: &OriginResults) -> Vec<Finding> {
    let Some(run) = results.get::<super::HttpCheck>() else {
        return Vec::new();
    };
    let earlier = Earlier::new(results, HttpCheck.needs());
    let report = match &run.outcome {
        Outcome::Completed(r) => r,
        Outcome::TimedOut => {
            return vec![Finding::new(
                Cause::HttpTimeout,
                format!(
                    "no complete answer within {:.1}s (the HTTP check's bound)",
                    run.duration.as_secs_f64()
                ),
            )]
        }
        Outcome::NotRun(_) => return Vec::new(),
    };
    merge_addresses(
        report
            .all()
            .map(|r| {
                let findings = if refusal_named_by_tls(&earlier, r) {
                    Vec::new()
                } else {
                    address_findings(origin, &earlier, r)
                };
                (r.address.ip(), findings)
            })
            .collect(),
    )
}

/// The TLS check raised `tls_client_certificate_rejected` on this answer's address: an answer
/// refusing the client certificate is its echo.
fn refusal_named_by_tls(earlier: &Earlier<'_>, report: &HttpReport) -> bool {
    report.refusal.is_some()
        && earlier
            .get::<TlsCheck>()
            .and_then(|t| t.completed())
            .is_some_and(|tls| {
                tls.all().any(|t| {
                    t.address == report.address
                        && matches!(t.handshake, Handshake::ClientCertificateRejected(_))
                })
            })
}

/// The causes one address's answer shows.
fn address_findings(origin: &Origin, earlier: &Earlier<'_>, report: &HttpReport) -> Vec<Finding> {
    let spec = origin.http.clone().unwrap_or_default();
    // An answer that refuses the client certificate reaches every viewer, whatever statuses
    // `expect_status` admits (nginx's 400 is a 4xx).
    if let (HttpOutcome::Status(status), Some(refusal)) = (&report.outcome, &report.refusal) {
        return vec![Finding::new(
            Cause::HttpErrorStatus,
            format!(
                "{} {} answered {status} {} (from {}): the origin refused the client certificate: {}",
                spec.method,
                spec.path,
                status_text(*status),
                report.address,
                refusal.describe()
            ),
        )];
    }
    let mut found = outcome_findings(origin, earlier, report);
    found.extend(completion(origin, report));
    found.extend(keepalive_race(origin, report));
    found
}

/// The causes of the answer itself: its status, or no answer.
fn outcome_findings(origin: &Origin, earlier: &Earlier<'_>, report: &HttpReport) -> Vec<Finding> {
    let spec = origin.http.clone().unwrap_or_default();
    match &report.outcome {
        HttpOutcome::Status(status) if !spec.accepts(*status) => vec![Finding::new(
            Cause::HttpErrorStatus,
            format!(
                "{} {} answered {status} {} (from {}){}",
                spec.method,
                spec.path,
                status_text(*status),
                report.address,
                aws_front(&report.headers)
                    .map(|f| format!("; {f}"))
                    .unwrap_or_default()
            ),
        )],
        HttpOutcome::Status(_) => Vec::new(),
        HttpOutcome::HeadersTimedOut => vec![Finding::new(
            Cause::HttpTimeout,
            format!(
                "no response headers within read_timeout {:.0}s from {}",
                origin.read_timeout.as_secs_f64(),
                report.address
            ),
        )],
        HttpOutcome::BadResponse(why) => vec![Finding::new(
            Cause::HttpErrorStatus,
            format!("no valid HTTP response from {}: {why}", report.address),
        )],
        // Echoes when the TCP or TLS check owns the failure; otherwise the request failed.
        HttpOutcome::ConnectFailed(_) if earlier.enabled::<TcpCheck>(origin) => Vec::new(),
        HttpOutcome::TlsFailed(_) if earlier.enabled::<TlsCheck>(origin) => Vec::new(),
        HttpOutcome::ConnectFailed(why) | HttpOutcome::TlsFailed(why) => vec![Finding::new(
            Cause::HttpErrorStatus,
            format!("no response from {}: {why}", report.address),
        )],
    }
}

/// `http_timeout` for a response whose body had not ended when `response_completion_timeout`
/// ran out (the CDN ends the connection then: 504).
fn completion(origin: &Origin, report: &HttpReport) -> Option<Finding> {
    let rct = origin.response_completion_timeout()?;
    match &report.body {
        Body::Stopped {
            bytes,
            why: Stop::Deadline,
            ..
        } => Some(Finding::new(
            Cause::HttpTimeout,
            format!(
                "the response was not complete within response_completion_timeout {} from {}: the headers after {:.1} s (read_timeout {}), {bytes} bytes of the body by then",
                seconds(rct),
                report.address,
                report.duration.as_secs_f64(),
                seconds(origin.read_timeout),
            ),
        )),
        _ => None,
    }
}

/// `http_keepalive_race` when the origin closed the idle connection sooner than the CDN's
/// `keepalive_timeout`: this cycle's watch, or while it runs, the latest earlier one.
fn keepalive_race(origin: &Origin, report: &HttpReport) -> Option<Finding> {
    let keepalive = origin.keepalive_timeout();
    let seen = report.keepalive.observation()?;
    if !seen.races(keepalive) {
        return None;
    }
    let age = match &report.keepalive {
        KeepAlive::Watching { since, .. } => format!(
            " (seen by the previous watch of this address, {:.0} s before this cycle's, which is still running)",
            since
                .duration_since(seen.since)
                .unwrap_or_default()
                .as_secs_f64()
        ),
        _ => String::new(),
    };
    Some(Finding::new(
        Cause::HttpKeepaliveRace,
        format!(
            "{} closed the idle connection after {:.1} s; CloudFront keeps it up to {} (keepalive_timeout) and may send its next request on it: 502{age}",
            report.address,
            seen.idle.as_secs_f64(),
            seconds(keepalive),
        ),
    ))
}

/// A setting's duration as its config value reads: `5 s`, `1.5 s`.
pub(super) fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// When an AWS front answered (an Application Load Balancer or API Gateway that itself failed,
/// as CloudFront's 502 guide lists), which one, from its response headers, and its own guide.
pub(super) fn aws_front(headers: &[(&str, String)]) -> Option<String> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(server) = get("server").filter(|s| s.starts_with("awselb")) {
        return Some(format!(
            "the answer comes from an Application Load Balancer (Server: {server}), not from its targets: see https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html"
        ));
    }
    let apigw: Vec<String> = ["x-amzn-requestid", "x-amzn-errortype", "x-amz-apigw-id"]
        .into_iter()
        .filter_map(|n| get(n).map(|v| format!("{n}: {v}")))
        .collect();
    if get("x-amz-apigw-id").is_some() || get("x-amzn-errortype").is_some() {
        return Some(format!(
            "the answer comes from Amazon API Gateway ({}): see https://repost.aws/knowledge-center/api-gateway-502-error-lambda",
            apigw.join(", ")
        ));
    }
    None
}

fn status_text(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::checks::{CheckRun, HttpOutcome, HttpReport, NotRun, OriginResults, Outcome};
    use crate::config::{Check, Scheme};
    use crate::diagnose::diagnose;
    use crate::diagnose::test_support::origin;

    fn with_http(outcome: Outcome<HttpOutcome>) -> OriginResults {
        let outcome = match outcome {
            Outcome::Completed(o) => Outcome::Completed(HttpReport {
                address: "192.0.2.1:443".parse().unwrap(),
                scheme: Scheme::Https,
                outcome: o,
                headers: Vec::new(),
                duration: Duration::from_millis(20),
                phases: Default::default(),
                version: None,
                handshake: None,
                refusal: None,
                body: crate::checks::http::Body::NotRead,
                keepalive: crate::checks::http::KeepAlive::NotWatched,
                more: Vec::new(),
            }),
            Outcome::TimedOut => Outcome::TimedOut,
            Outcome::NotRun(n) => Outcome::NotRun(n),
        };
        OriginResults::default().with::<crate::checks::http::HttpCheck>(CheckRun {
            duration: Duration::from_millis(20),
            outcome,
        })
    }

    #[test]
    fn table() {
        let mut o = (*origin(&[Check::Http])).clone();
        o.address = Some("192.0.2.1".parse().unwrap());
        o.http = Some(Default::default()); // expect 2xx, 3xx, 4xx
        let cases: [(&str, Outcome<HttpOutcome>, &[&str], bool); 8] = [
            (
                "200",
                Outcome::Completed(HttpOutcome::Status(200)),
                &[],
                true,
            ),
            (
                "404 is expected",
                Outcome::Completed(HttpOutcome::Status(404)),
                &[],
                true,
            ),
            (
                "503",
                Outcome::Completed(HttpOutcome::Status(503)),
                &["http_error_status"],
                false,
            ),
            (
                "slow",
                Outcome::Completed(HttpOutcome::HeadersTimedOut),
                &["http_timeout"],
                false,
            ),
            ("check cut", Outcome::TimedOut, &["http_timeout"], false),
            (
                "garbage",
                Outcome::Completed(HttpOutcome::BadResponse("x".into())),
                &["http_error_status"],
                false,
            ),
            (
                "no TLS, and no TLS check to own it",
                Outcome::Completed(HttpOutcome::TlsFailed("x".into())),
                &["http_error_status"],
                false,
            ),
            (
                "port closed: echo",
                Outcome::NotRun(NotRun::PortClosed),
                &[],
                true,
            ),
        ];
        for (name, outcome, causes, ready) in cases {
            let d = diagnose(&o, &with_http(outcome));
            let active: Vec<_> = d.findings.iter().map(|f| f.cause.name()).collect();
            assert_eq!(active, causes, "{name}");
            assert_eq!(d.cdn_ready, ready, "{name}");
        }
    }

    #[test]
    fn connection_failures_are_echoes_of_the_check_that_owns_them() {
        let mut o = (*origin(&[Check::Tcp, Check::Tls, Check::Http])).clone();
        o.http = Some(Default::default());
        for outcome in [
            HttpOutcome::TlsFailed("alert".into()),
            HttpOutcome::ConnectFailed("refused".into()),
        ] {
            let d = diagnose(&o, &with_http(Outcome::Completed(outcome)));
            assert!(d.findings.is_empty(), "{:?}", d.findings);
        }
    }

    #[test]
    fn evidence_names_the_request_and_status() {
        let mut o = (*origin(&[Check::Http])).clone();
        o.http = Some(Default::default());
        let d = diagnose(&o, &with_http(Outcome::Completed(HttpOutcome::Status(503))));
        assert_eq!(
            d.findings[0].detail,
            "GET / answered 503 Service Unavailable (from 192.0.2.1:443)"
        );
    }

    /// A connection the HTTP check could not make is its own cause when the TCP check is not
    /// there to own it, and the TLS check owns only TLS failures.
    #[test]
    fn a_failed_connection_without_the_tcp_check_is_an_http_cause() {
        let mut o = (*origin(&[Check::Tls, Check::Http])).clone();
        o.http = Some(Default::default());
        let d = diagnose(
            &o,
            &with_http(Outcome::Completed(HttpOutcome::ConnectFailed(
                "connection refused".into(),
            ))),
        );
        let got: Vec<_> = d
            .findings
            .iter()
            .map(|f| (f.cause.name(), f.detail.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                "http_error_status",
                "no response from 192.0.2.1:443: connection refused"
            )]
        );
    }
}

#[cfg(test)]
mod refusal_tests {
    use std::time::Duration;

    use crate::checks::http::HttpCheck;
    use crate::checks::tls::refusal::recognise;
    use crate::checks::tls::{refusal, Rejection, TlsCheck};
    use crate::checks::{CheckRun, Handshake, HttpOutcome, HttpReport, OriginResults, Outcome};
    use crate::config::{Check, Scheme};
    use crate::diagnose::diagnose;
    use crate::diagnose::test_support::origin;

    const NGINX_495: &[u8] =
        b"<html><head><title>400 The SSL certificate error</title></head></html>";

    fn results(status: u16, body: &[u8], tls: Option<Handshake>) -> OriginResults {
        let address = "192.0.2.1:443".parse().unwrap();
        let http = HttpReport {
            address,
            scheme: Scheme::Https,
            outcome: HttpOutcome::Status(status),
            headers: Vec::new(),
            duration: Duration::from_millis(20),
            phases: Default::default(),
            version: None,
            handshake: None,
            refusal: recognise(status, body),
            body: crate::checks::http::Body::NotRead,
            keepalive: crate::checks::http::KeepAlive::NotWatched,
            more: Vec::new(),
        };
        fn run<T>(outcome: Outcome<T>) -> CheckRun<T> {
            CheckRun {
                duration: Duration::from_millis(20),
                outcome,
            }
        }
        let tls = tls.map(|handshake| {
            let mut report = crate::checks::tls::tests_support::report(address);
            report.handshake = handshake;
            run(Outcome::Completed(report))
        });
        let results = OriginResults::default().with::<HttpCheck>(run(Outcome::Completed(http)));
        match tls {
            Some(tls) => results.with::<TlsCheck>(tls),
            None => results,
        }
    }

    /// An answer refusing the client certificate is `http_error_status` even where
    /// `expect_status` admits it, with the server's words; the echo of the TLS check's
    /// `tls_client_certificate_rejected` on the same address; an ordinary 400 stays expected.
    #[test]
    fn table() {
        let rejected = Handshake::ClientCertificateRejected(Rejection::After(
            refusal::After::Refused(recognise(400, NGINX_495).expect("a refusal")),
        ));
        let cases: [(&str, &[Check], OriginResults, &[&str]); 4] = [
            (
                "no TLS check: the HTTP check names it",
                &[Check::Http],
                results(400, NGINX_495, None),
                &["http_error_status"],
            ),
            (
                "the TLS check named it: an echo",
                &[Check::Tls, Check::Http],
                results(400, NGINX_495, Some(rejected)),
                &["tls_client_certificate_rejected"],
            ),
            (
                "the TLS check saw the handshake accepted: the HTTP check names it",
                &[Check::Tls, Check::Http],
                results(400, NGINX_495, Some(Handshake::Accepted)),
                &["http_error_status"],
            ),
            (
                "an ordinary 400 is expected",
                &[Check::Http],
                results(400, b"<html>400 Bad Request</html>", None),
                &[],
            ),
        ];
        for (name, checks, results, want) in cases {
            let mut o = (*origin(checks)).clone();
            o.http = Some(Default::default());
            let d = diagnose(&o, &results);
            let got: Vec<_> = d.findings.iter().map(|f| f.cause.name()).collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(d.cdn_ready, want.is_empty(), "{name}");
        }
        let mut o = (*origin(&[Check::Http])).clone();
        o.http = Some(Default::default());
        let d = diagnose(&o, &results(400, NGINX_495, None));
        assert_eq!(
            d.findings[0].detail,
            "GET / answered 400 Bad Request (from 192.0.2.1:443): the origin refused the client certificate: 400 \"The SSL certificate error\" (nginx: the client certificate failed verification: untrusted, revoked or expired (nginx's 495))"
        );
    }
}

#[cfg(test)]
mod aws_front_tests {
    use super::aws_front;

    #[test]
    fn tells_load_balancers_and_api_gateways_from_applications() {
        let alb = [("server", "awselb/2.0".to_string())];
        let got = aws_front(&alb).expect("an ALB");
        assert!(
            got.contains("Application Load Balancer (Server: awselb/2.0)"),
            "{got}"
        );
        let apigw = [
            ("x-amzn-requestid", "5f0c".to_string()),
            (
                "x-amzn-errortype",
                "InternalServerErrorException".to_string(),
            ),
        ];
        let got = aws_front(&apigw).expect("an API Gateway");
        assert!(got.contains("Amazon API Gateway (x-amzn-requestid: 5f0c, x-amzn-errortype: InternalServerErrorException)"), "{got}");
        // A request id alone is any AWS service's; nginx is the application itself.
        assert_eq!(aws_front(&[("x-amzn-requestid", "1".to_string())]), None);
        assert_eq!(aws_front(&[("server", "nginx".to_string())]), None);
        assert_eq!(aws_front(&[]), None);
    }
}

#[cfg(test)]
mod after_headers_tests {
    use std::time::{Duration, SystemTime};

    use crate::checks::http::body::{Body, Stop};
    use crate::checks::http::{KeepAlive, Observation};
    use crate::checks::{CheckRun, HttpOutcome, HttpReport, OriginResults, Outcome};
    use crate::config::{Origin, Scheme};
    use crate::diagnose::diagnose;

    /// An origin with the HTTP check and `extra` keys (`response_completion_timeout`, ...).
    fn origin(extra: &str) -> Origin {
        let yaml = format!(
            "origins: [{{name: shop, domain: origin.shop.example.com, address: 192.0.2.1, checks: [http], http: {{}}{extra}}}]"
        );
        let cfg = crate::config::load_str(&yaml, std::path::Path::new("t.yaml")).expect("config");
        (*cfg.origins[0]).clone()
    }

    fn results(status: u16, body: Body, keepalive: KeepAlive) -> OriginResults {
        let report = HttpReport {
            address: "192.0.2.1:443".parse().unwrap(),
            scheme: Scheme::Https,
            outcome: HttpOutcome::Status(status),
            headers: Vec::new(),
            duration: Duration::from_millis(120),
            phases: Default::default(),
            version: None,
            handshake: None,
            refusal: None,
            body,
            keepalive,
            more: Vec::new(),
        };
        OriginResults::default().with::<crate::checks::http::HttpCheck>(CheckRun {
            duration: Duration::from_millis(20),
            outcome: Outcome::Completed(report),
        })
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn seen(idle_ms: u64, closed: bool) -> Observation {
        Observation {
            since: at(0),
            idle: Duration::from_millis(idle_ms),
            closed,
        }
    }

    /// `http_timeout` for a body late against `response_completion_timeout` (and only then);
    /// `http_keepalive_race` for a close before `keepalive_timeout`, from this cycle's watch or,
    /// while it runs, the previous one; both beside the status's own cause.
    #[test]
    fn table() {
        let complete = Body::Complete {
            bytes: 3,
            after: Duration::from_millis(150),
        };
        let stopped = |why| Body::Stopped {
            bytes: 4096,
            after: Duration::from_secs(2),
            why,
        };
        let rct = ", response_completion_timeout: 2s, read_timeout: 1s";
        let cases: [(&str, &str, OriginResults, &[&str]); 11] = [
            (
                "late against response_completion_timeout",
                rct,
                results(200, stopped(Stop::Deadline), KeepAlive::NotWatched),
                &["http_timeout"],
            ),
            (
                "a slow body without response_completion_timeout: not read further, no cause",
                "",
                results(200, stopped(Stop::Deadline), KeepAlive::NotWatched),
                &[],
            ),
            (
                "larger than the bound: not timed",
                rct,
                results(200, stopped(Stop::TooLarge), KeepAlive::NotWatched),
                &[],
            ),
            (
                "broke off mid-body: not a timeout",
                rct,
                results(
                    200,
                    stopped(Stop::Failed("reset".into())),
                    KeepAlive::NotWatched,
                ),
                &[],
            ),
            (
                "complete in time",
                rct,
                results(
                    200,
                    complete.clone(),
                    KeepAlive::Observed(seen(6000, false)),
                ),
                &[],
            ),
            (
                "closed after 2 s: a race",
                "",
                results(200, complete.clone(), KeepAlive::Observed(seen(2000, true))),
                &["http_keepalive_race"],
            ),
            (
                "closed after 5 s: the CDN is done with it",
                "",
                results(200, complete.clone(), KeepAlive::Observed(seen(5000, true))),
                &[],
            ),
            (
                "the previous watch saw a race; this one still runs",
                "",
                results(
                    200,
                    complete.clone(),
                    KeepAlive::Watching {
                        since: at(60),
                        earlier: Some(seen(2000, true)),
                    },
                ),
                &["http_keepalive_race"],
            ),
            (
                "the first watch still runs",
                "",
                results(
                    200,
                    complete.clone(),
                    KeepAlive::Watching {
                        since: at(60),
                        earlier: None,
                    },
                ),
                &[],
            ),
            (
                "Connection: close",
                "",
                results(200, complete.clone(), KeepAlive::Closes),
                &[],
            ),
            (
                "a 503 that also races",
                "",
                results(503, complete.clone(), KeepAlive::Observed(seen(1000, true))),
                &["http_error_status", "http_keepalive_race"],
            ),
        ];
        for (name, extra, results, want) in cases {
            let d = diagnose(&origin(extra), &results);
            let got: Vec<_> = d.findings.iter().map(|f| f.cause.name()).collect();
            assert_eq!(got, want, "{name}");
            // The race is a warning: the CDN still fetches.
            let critical = want.iter().any(|c| *c != "http_keepalive_race");
            assert_eq!(d.cdn_ready, !critical, "{name}");
        }
    }

    #[test]
    fn evidence_names_both_numbers_and_which_timeout() {
        let detail = |extra: &str, results: OriginResults| {
            diagnose(&origin(extra), &results).findings[0]
                .detail
                .clone()
        };
        let complete = Body::Complete {
            bytes: 3,
            after: Duration::from_millis(150),
        };
        assert_eq!(
            detail(
                ", keepalive_timeout: 5s",
                results(200, complete.clone(), KeepAlive::Observed(seen(2000, true)))
            ),
            "192.0.2.1:443 closed the idle connection after 2.0 s; CloudFront keeps it up to 5 s (keepalive_timeout) and may send its next request on it: 502"
        );
        assert_eq!(
            detail(
                ", keepalive_timeout: 1500ms",
                results(
                    200,
                    complete,
                    KeepAlive::Watching {
                        since: at(60),
                        earlier: Some(seen(1000, true)),
                    }
                )
            ),
            "192.0.2.1:443 closed the idle connection after 1.0 s; CloudFront keeps it up to 1.5 s (keepalive_timeout) and may send its next request on it: 502 (seen by the previous watch of this address, 60 s before this cycle's, which is still running)"
        );
        assert_eq!(
            detail(
                ", response_completion_timeout: 2s, read_timeout: 1s",
                results(
                    200,
                    Body::Stopped {
                        bytes: 4096,
                        after: Duration::from_secs(2),
                        why: Stop::Deadline,
                    },
                    KeepAlive::NotWatched
                )
            ),
            "the response was not complete within response_completion_timeout 2 s from 192.0.2.1:443: the headers after 0.1 s (read_timeout 1 s), 4096 bytes of the body by then"
        );
    }
}
