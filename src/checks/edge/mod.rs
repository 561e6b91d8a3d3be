//! Edge check: what the CDN itself answers for a URL it serves from this origin. The only witness
//! of the 502s no origin probe can see (Lambda@Edge and CloudFront Functions errors, a firewall
//! that admits the exporter but not the CDN), and a running comparison of the exporter's verdict
//! with the CDN's. One `GET` of `edge.url`, SNI and `Host` from the URL, bounded by the origin's
//! `timeout`; the status, the time to headers and the CDN's `X-Cache` are what it reads.

mod check;
mod findings;
mod series;

pub use check::EdgeCheck;

/// The check's id: its place in the registry.
pub const ID: super::Check = super::Check::at(4);

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::http_client::{self, Exchange};
use super::{resolve, HttpOutcome, ProbeContext};
use crate::config::{EdgeSpec, IpAddressType, Origin};

/// What the edge answered, or why it did not.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeReport {
    /// Where the request went; `None` when the URL's host did not resolve.
    pub address: Option<SocketAddr>,
    pub outcome: EdgeOutcome,
    /// From the start of the request to the response headers (or the failure).
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EdgeOutcome {
    Answered(EdgeAnswer),
    /// The edge itself could not be asked: no address, no connection, no TLS, no HTTP.
    Unreachable(String),
    /// No response headers within the origin's `timeout`.
    HeadersTimedOut,
}

/// The CDN's answer, and what a person quoting it to the CDN's support needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeAnswer {
    pub status: u16,
    pub result: EdgeResult,
    /// `X-Cache` as sent.
    pub x_cache: Option<String>,
    /// `X-Amz-Cf-Id`: the request's id at CloudFront.
    pub request_id: Option<String>,
    /// `X-Amz-Cf-Pop`: the edge location that answered.
    pub pop: Option<String>,
}

/// What the CDN said it did, from its `X-Cache` header (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeResult {
    Hit,
    Miss,
    RefreshHit,
    Error,
    LambdaValidationError,
    LambdaExecutionError,
    LambdaLimitExceeded,
    FunctionValidationError,
    FunctionExecutionError,
    FunctionThrottled,
    Other,
}

impl EdgeResult {
    pub const ALL: [EdgeResult; 11] = [
        EdgeResult::Hit,
        EdgeResult::Miss,
        EdgeResult::RefreshHit,
        EdgeResult::Error,
        EdgeResult::LambdaValidationError,
        EdgeResult::LambdaExecutionError,
        EdgeResult::LambdaLimitExceeded,
        EdgeResult::FunctionValidationError,
        EdgeResult::FunctionExecutionError,
        EdgeResult::FunctionThrottled,
        EdgeResult::Other,
    ];

    /// The `result` label value.
    pub fn name(self) -> &'static str {
        match self {
            EdgeResult::Hit => "hit",
            EdgeResult::Miss => "miss",
            EdgeResult::RefreshHit => "refresh_hit",
            EdgeResult::Error => "error",
            EdgeResult::LambdaValidationError => "lambda_validation_error",
            EdgeResult::LambdaExecutionError => "lambda_execution_error",
            EdgeResult::LambdaLimitExceeded => "lambda_limit_exceeded",
            EdgeResult::FunctionValidationError => "function_validation_error",
            EdgeResult::FunctionExecutionError => "function_execution_error",
            EdgeResult::FunctionThrottled => "function_throttled",
            EdgeResult::Other => "other",
        }
    }

    /// Classifies an `X-Cache` value (`Hit from cloudfront`, `LambdaValidationError from
    /// cloudfront`, ...): the word before ` from `, case-insensitively.
    pub fn from_x_cache(value: Option<&str>) -> EdgeResult {
        let Some(value) = value else {
            return EdgeResult::Other;
        };
        let word = value.split_whitespace().next().unwrap_or_default();
        let from_cdn = value.to_ascii_lowercase().contains(" from cloudfront");
        if !from_cdn {
            return EdgeResult::Other;
        }
        match word.to_ascii_lowercase().as_str() {
            "hit" => EdgeResult::Hit,
            "miss" => EdgeResult::Miss,
            "refreshhit" => EdgeResult::RefreshHit,
            "error" => EdgeResult::Error,
            "lambdavalidationerror" => EdgeResult::LambdaValidationError,
            "lambdaexecutionerror" => EdgeResult::LambdaExecutionError,
            "lambdalimitexceeded" => EdgeResult::LambdaLimitExceeded,
            "functionvalidationerror" => EdgeResult::FunctionValidationError,
            "functionexecutionerror" => EdgeResult::FunctionExecutionError,
            "functionthrottlederror" => EdgeResult::FunctionThrottled,
            _ => EdgeResult::Other,
        }
    }

    pub fn is_lambda_error(self) -> bool {
        matches!(
            self,
            EdgeResult::LambdaValidationError
                | EdgeResult::LambdaExecutionError
                | EdgeResult::LambdaLimitExceeded
        )
    }

    pub fn is_function_error(self) -> bool {
        matches!(
            self,
            EdgeResult::FunctionValidationError
                | EdgeResult::FunctionExecutionError
                | EdgeResult::FunctionThrottled
        )
    }
}

/// The response headers the edge check keeps.
const EDGE_HEADERS: &[&str] = &["x-cache", "x-amz-cf-id", "x-amz-cf-pop"];

/// Asks the CDN for `edge.url`, all of it within `origin.timeout`.
pub async fn probe(origin: &Origin, edge: &EdgeSpec, ctx: &ProbeContext) -> EdgeReport {
    let start = Instant::now();
    let address = match edge.address {
        Some(ip) => Some(SocketAddr::new(ip, edge.port)),
        // The edge is reached as a viewer reaches it: any address family.
        None => resolve::resolve(&edge.host, IpAddressType::Dualstack, ctx)
            .await
            .addresses
            .first()
            .map(|&ip| SocketAddr::new(ip, edge.port)),
    };
    let Some(address) = address else {
        return EdgeReport {
            address: None,
            outcome: EdgeOutcome::Unreachable(format!("{} does not resolve", edge.host)),
            duration: start.elapsed(),
        };
    };
    let left = origin.timeout.saturating_sub(start.elapsed());
    let exchange = Exchange {
        address,
        scheme: edge.scheme,
        host: &edge.host,
        method: "GET",
        path: &edge.path,
        connect_timeout: left,
        read_timeout: left,
        headers: &[],
        keep: EDGE_HEADERS,
    };
    let (outcome, headers) = http_client::send(&exchange, &ctx.http_tls).await;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let outcome = match outcome {
        HttpOutcome::Status(status) => {
            let x_cache = header("x-cache");
            EdgeOutcome::Answered(EdgeAnswer {
                status,
                result: EdgeResult::from_x_cache(x_cache.as_deref()),
                x_cache,
                request_id: header("x-amz-cf-id"),
                pop: header("x-amz-cf-pop"),
            })
        }
        HttpOutcome::HeadersTimedOut => EdgeOutcome::HeadersTimedOut,
        HttpOutcome::ConnectFailed(why)
        | HttpOutcome::TlsFailed(why)
        | HttpOutcome::BadResponse(why) => EdgeOutcome::Unreachable(why),
    };
    EdgeReport {
        address: Some(address),
        outcome,
        duration: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::EdgeResult;

    #[test]
    fn x_cache_values_name_what_the_cdn_did() {
        let cases = [
            ("Hit from cloudfront", EdgeResult::Hit),
            ("Miss from cloudfront", EdgeResult::Miss),
            ("RefreshHit from cloudfront", EdgeResult::RefreshHit),
            ("Error from cloudfront", EdgeResult::Error),
            (
                "LambdaValidationError from cloudfront",
                EdgeResult::LambdaValidationError,
            ),
            (
                "LambdaExecutionError from cloudfront",
                EdgeResult::LambdaExecutionError,
            ),
            (
                "LambdaLimitExceeded from cloudfront",
                EdgeResult::LambdaLimitExceeded,
            ),
            (
                "FunctionValidationError from cloudfront",
                EdgeResult::FunctionValidationError,
            ),
            (
                "FunctionExecutionError from cloudfront",
                EdgeResult::FunctionExecutionError,
            ),
            (
                "FunctionThrottledError from cloudfront",
                EdgeResult::FunctionThrottled,
            ),
            ("miss FROM CloudFront", EdgeResult::Miss),
            ("HIT", EdgeResult::Other),
            ("Hit from varnish", EdgeResult::Other),
            ("Surprise from cloudfront", EdgeResult::Other),
            ("", EdgeResult::Other),
        ];
        for (value, want) in cases {
            assert_eq!(EdgeResult::from_x_cache(Some(value)), want, "{value:?}");
        }
        assert_eq!(EdgeResult::from_x_cache(None), EdgeResult::Other);
        let names: Vec<&str> = EdgeResult::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "hit",
                "miss",
                "refresh_hit",
                "error",
                "lambda_validation_error",
                "lambda_execution_error",
                "lambda_limit_exceeded",
                "function_validation_error",
                "function_execution_error",
                "function_throttled",
                "other"
            ]
        );
        let lambda: Vec<_> = EdgeResult::ALL
            .into_iter()
            .filter(|r| r.is_lambda_error())
            .collect();
        assert_eq!(lambda.len(), 3);
        let function: Vec<_> = EdgeResult::ALL
            .into_iter()
            .filter(|r| r.is_function_error())
            .collect();
        assert_eq!(function.len(), 3);
        assert!(lambda.iter().all(|r| !r.is_function_error()));
    }
}
