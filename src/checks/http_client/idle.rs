//! A connection left idle after a response read to its end, for the keep-alive watch.

use std::time::SystemTime;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The response ends the connection: `Connection: close`, or HTTP/1.0 without
/// `Connection: keep-alive`.
pub(crate) fn closes_after<B>(response: &hyper::Response<B>) -> bool {
    let says = |word: &str| {
        response
            .headers()
            .get_all(hyper::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(word))
    };
    says("close") || (response.version() <= hyper::Version::HTTP_10 && !says("keep-alive"))
}

/// A connection idle after a response read to its end: the HTTP/1.1 client's handle (held, so
/// that the client itself does not close it) and the task that drives it, which ends when the
/// origin closes the connection (or sends anything unasked).
pub struct Idle {
    pub(crate) sender: SendRequest<Empty<Bytes>>,
    pub(crate) driver: JoinHandle<hyper::Result<()>>,
    pub(crate) since: Instant,
    pub(crate) since_wall: SystemTime,
}

impl Idle {
    /// Idle from now.
    pub(crate) fn new(
        sender: SendRequest<Empty<Bytes>>,
        driver: JoinHandle<hyper::Result<()>>,
    ) -> Idle {
        Idle {
            sender,
            driver,
            since: Instant::now(),
            since_wall: SystemTime::now(),
        }
    }

    pub fn since_wall(&self) -> SystemTime {
        self.since_wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_close_and_http_1_0_end_the_connection() {
        let response = |version, connection: Option<&str>| {
            let mut r = hyper::Response::builder().version(version);
            if let Some(c) = connection {
                r = r.header(hyper::header::CONNECTION, c);
            }
            r.body(()).expect("response")
        };
        use hyper::Version;
        let cases = [
            (Version::HTTP_11, None, false),
            (Version::HTTP_11, Some("keep-alive"), false),
            (Version::HTTP_11, Some("close"), true),
            (Version::HTTP_11, Some("Upgrade, Close"), true),
            (Version::HTTP_10, None, true),
            (Version::HTTP_10, Some("Keep-Alive"), false),
        ];
        for (version, connection, closes) in cases {
            assert_eq!(
                closes_after(&response(version, connection)),
                closes,
                "{version:?} {connection:?}"
            );
        }
    }
}
