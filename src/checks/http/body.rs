//! A response's body read to its end, as the CDN reads it: the time to its last byte (held
//! against `response_completion_timeout`), and a connection left ready for another request (the
//! keep-alive watch needs one). Bounded in bytes by [`MAX_BODY`]: the bytes are counted, not kept,
//! past the first few an error answer is judged by.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

/// Most bytes of a body read: past them reading stops, the connection is closed, and neither
/// the time to the last byte nor the keep-alive is measured. A probe path answers with a page,
/// not a download (8 MiB a minute is about 1.1 Mbit/s per origin).
pub const MAX_BODY: u64 = 8 * 1024 * 1024;

/// How far the body of a response was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Not read to its end: no response, or a request that reads only the headers.
    NotRead,
    /// Read to its end, `bytes` long, its last byte `after` the request's first connection
    /// attempt started.
    Complete { bytes: u64, after: Duration },
    /// Reading stopped before the end, `after` the start, with `bytes` read.
    Stopped {
        bytes: u64,
        after: Duration,
        why: Stop,
    },
}

/// Why reading a body stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The deadline passed: `response_completion_timeout` when the origin has one, else the
    /// headers' `read_timeout`.
    Deadline,
    /// Longer than [`MAX_BODY`].
    TooLarge,
    /// The connection failed mid-body (a reset, a close before the announced length).
    Failed(String),
}

impl Body {
    /// The time to the last byte, when the body was read to its end.
    pub fn complete_after(&self) -> Option<Duration> {
        match self {
            Body::Complete { after, .. } => Some(*after),
            _ => None,
        }
    }
}

/// Where reading ended, before it is told relative to the request's start.
pub(super) struct End {
    at: Instant,
    bytes: u64,
    stop: Option<Stop>,
}

impl End {
    /// The body as read, its times counted from `started`.
    pub(super) fn since(self, started: Instant) -> Body {
        let after = self.at.saturating_duration_since(started);
        match self.stop {
            None => Body::Complete {
                bytes: self.bytes,
                after,
            },
            Some(why) => Body::Stopped {
                bytes: self.bytes,
                after,
                why,
            },
        }
    }
}

/// How much of a body to read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Extent {
    /// Its first bytes only, as many as are kept.
    Kept,
    /// All of it, up to this many bytes.
    Whole(u64),
}

/// Reads `incoming` until its end, `by`, or past `extent`; keeps its first `keep` bytes.
pub(super) async fn read(
    mut incoming: Incoming,
    by: Instant,
    keep: usize,
    extent: Extent,
) -> (Vec<u8>, End) {
    let mut kept = Vec::new();
    let mut bytes: u64 = 0;
    let stop = loop {
        let enough = match extent {
            Extent::Kept => kept.len() >= keep,
            Extent::Whole(max) => bytes > max,
        };
        if enough {
            break Some(Stop::TooLarge);
        }
        match tokio::time::timeout_at(by, incoming.frame()).await {
            Ok(None) => break None,
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    bytes = bytes.saturating_add(data.len() as u64);
                    let room = keep.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Ok(Some(Err(e))) => break Some(Stop::Failed(e.to_string())),
            Err(_) => break Some(Stop::Deadline),
        }
    };
    let end = End {
        at: Instant::now(),
        bytes,
        stop,
    };
    (kept, end)
}
