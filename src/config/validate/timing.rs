//! The durations: how often an origin is probed and how long each step may take, each within
//! bounds that keep every sum and product the checks make in range, an origin's own value
//! overriding `global`'s.

use std::time::Duration;

use super::super::raw::{RawGlobal, RawOrigin};
use super::fields::{duration, show};
use super::origin::at;
use super::Errors;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Bounds of the durations, so that every sum and product of them the checks make fits: an
/// interval from 1 s to a day, a timeout of at most the interval, a read timeout of at most the
/// 180 s the CDN allows (CloudFront's `OriginReadTimeout`, raised by quota).
const INTERVAL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(86_400));
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(1), INTERVAL_RANGE.1);
const READ_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(180));
/// CloudFront's `OriginKeepaliveTimeout`: 5 s by default; the API takes 1-120 s and the
/// console up to 180 s (more by quota), so 1-180 s, the same ceiling as the read timeout.
const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(180));
/// CloudFront's `ResponseCompletionTimeout` has no documented ceiling (unset = no bound) and
/// must be at least `OriginReadTimeout`; a day keeps every sum the checks make in range.
const RESPONSE_COMPLETION_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(86_400));

/// The durations in force: `global`'s, which origins inherit, or one origin's.
pub(super) struct Timing {
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
    pub(super) read_timeout: Duration,
    pub(super) keepalive_timeout: Duration,
    pub(super) response_completion_timeout: Option<Duration>,
}

/// `global`'s durations, each within its bounds, or the default.
pub(super) fn global(g: &RawGlobal, errors: &mut Errors) -> Timing {
    let interval = duration(
        g.interval.as_deref(),
        "global.interval",
        DEFAULT_INTERVAL,
        INTERVAL_RANGE,
        errors,
    );
    let timeout = duration(
        g.timeout.as_deref(),
        "global.timeout",
        DEFAULT_TIMEOUT,
        TIMEOUT_RANGE,
        errors,
    );
    let read_timeout = duration(
        g.read_timeout.as_deref(),
        "global.read_timeout",
        DEFAULT_READ_TIMEOUT,
        READ_TIMEOUT_RANGE,
        errors,
    );
    let keepalive_timeout = duration(
        g.keepalive_timeout.as_deref(),
        "global.keepalive_timeout",
        DEFAULT_KEEPALIVE_TIMEOUT,
        KEEPALIVE_TIMEOUT_RANGE,
        errors,
    );
    let response_completion_timeout = g.response_completion_timeout.as_deref().map(|s| {
        duration(
            Some(s),
            "global.response_completion_timeout",
            read_timeout,
            RESPONSE_COMPLETION_TIMEOUT_RANGE,
            errors,
        )
    });
    if let Some(rct) = response_completion_timeout.filter(|rct| *rct < read_timeout) {
        errors.push(
            "global.response_completion_timeout",
            completion_below_read(rct, read_timeout),
        );
    }
    if timeout > interval {
        errors.push(
            "global.timeout",
            format!("must not exceed interval ({})", show(interval)),
        );
    }
    Timing {
        interval,
        timeout,
        read_timeout,
        keepalive_timeout,
        response_completion_timeout,
    }
}

/// One origin's durations: its own where it sets them, else `global`'s.
pub(super) fn origin(o: &RawOrigin, global: &Timing, path: &str, errors: &mut Errors) -> Timing {
    let interval = match o.interval.as_deref() {
        None => global.interval,
        Some(s) => duration(
            Some(s),
            &at(path, "interval"),
            global.interval,
            INTERVAL_RANGE,
            errors,
        ),
    };
    let timeout = match o.timeout.as_deref() {
        None => global.timeout.min(interval),
        Some(s) => duration(
            Some(s),
            &at(path, "timeout"),
            global.timeout,
            TIMEOUT_RANGE,
            errors,
        ),
    };
    if timeout > interval {
        errors.push(
            at(path, "timeout"),
            format!("must not exceed interval ({})", show(interval)),
        );
    }
    let read_timeout = match o.read_timeout.as_deref() {
        None => global.read_timeout,
        Some(s) => duration(
            Some(s),
            &at(path, "read_timeout"),
            global.read_timeout,
            READ_TIMEOUT_RANGE,
            errors,
        ),
    };
    let keepalive_timeout = match o.keepalive_timeout.as_deref() {
        None => global.keepalive_timeout,
        Some(s) => duration(
            Some(s),
            &at(path, "keepalive_timeout"),
            global.keepalive_timeout,
            KEEPALIVE_TIMEOUT_RANGE,
            errors,
        ),
    };
    let response_completion_timeout = match o.response_completion_timeout.as_deref() {
        None => global.response_completion_timeout,
        Some(s) => Some(duration(
            Some(s),
            &at(path, "response_completion_timeout"),
            read_timeout,
            RESPONSE_COMPLETION_TIMEOUT_RANGE,
            errors,
        )),
    };
    if let Some(rct) = response_completion_timeout.filter(|rct| *rct < read_timeout) {
        // Said where the origin says one of the two; both from `global` is `global`'s error.
        if o.response_completion_timeout.is_some() {
            errors.push(
                at(path, "response_completion_timeout"),
                completion_below_read(rct, read_timeout),
            );
        } else if o.read_timeout.is_some() {
            errors.push(
                at(path, "read_timeout"),
                format!(
                    "must not exceed response_completion_timeout ({}, from global), as CloudFront requires, got {}",
                    show(rct),
                    show(read_timeout)
                ),
            );
        }
    }
    Timing {
        interval,
        timeout,
        read_timeout,
        keepalive_timeout,
        response_completion_timeout,
    }
}

/// A validated duration (at least 1 ms, at most a day) in milliseconds.
pub(super) fn millis(d: Duration) -> std::num::NonZeroU32 {
    let ms = u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    std::num::NonZeroU32::new(ms).unwrap_or(std::num::NonZeroU32::MIN)
}

/// CloudFront refuses a `ResponseCompletionTimeout` below the `OriginReadTimeout`.
fn completion_below_read(rct: Duration, read_timeout: Duration) -> String {
    format!(
        "must be at least read_timeout ({}), as CloudFront requires, got {}",
        show(read_timeout),
        show(rct)
    )
}
