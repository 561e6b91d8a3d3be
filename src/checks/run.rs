//! How one check's run ended: its outcome, how long it took, and how it is counted.

use std::future::Future;
use std::time::{Duration, Instant};

/// How one check's run ended, for `origin_exporter_probes_total{result}` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// An earlier check's failure explains why it could not run (no address, closed port, no
    /// TLS): neither a success nor a failure of its own.
    NotRun,
    /// It did not finish (or got no answer) within its time limit.
    TimedOut,
    /// It ran but could not complete its exchange (a connection or handshake failed).
    Incomplete,
    /// It ran to the end; its findings tell whether what it saw is healthy.
    Completed,
}

impl Ran {
    /// `origin_exporter_probes_total{result}` for this run, given whether the check found a
    /// critical cause.
    pub fn result(self, critical: bool) -> &'static str {
        match self {
            Ran::NotRun => "not_run",
            Ran::TimedOut => "timeout",
            Ran::Completed if !critical => "success",
            Ran::Completed | Ran::Incomplete => "failure",
        }
    }

    pub const RESULTS: [&'static str; 4] = ["success", "failure", "timeout", "not_run"];
}

/// Why a check did not run: an earlier check already explains the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRun {
    /// The domain did not resolve, so there is no address to connect to.
    NoAddress,
    /// The port the check needs refused or timed out in the TCP check.
    PortClosed,
    /// No TLS connection could be made, so no request can be sent over it.
    NoTls,
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Completed(T),
    /// The check did not finish within the origin's `timeout`.
    TimedOut,
    NotRun(NotRun),
}

/// One check's outcome and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun<T> {
    pub duration: Duration,
    pub outcome: Outcome<T>,
}

impl<T> CheckRun<T> {
    pub fn not_run(why: NotRun) -> Self {
        CheckRun {
            duration: Duration::ZERO,
            outcome: Outcome::NotRun(why),
        }
    }

    pub fn completed(&self) -> Option<&T> {
        match &self.outcome {
            Outcome::Completed(t) => Some(t),
            _ => None,
        }
    }

    pub fn timed_out(&self) -> bool {
        matches!(self.outcome, Outcome::TimedOut)
    }

    /// How the run ended, with `completed` judging a finished report.
    pub fn ran(&self, completed: impl FnOnce(&T) -> Ran) -> Ran {
        match &self.outcome {
            Outcome::Completed(t) => completed(t),
            Outcome::TimedOut => Ran::TimedOut,
            Outcome::NotRun(_) => Ran::NotRun,
        }
    }
}

impl<T> CheckRun<Option<T>> {
    /// The run, with a completed run that has no report counted as not run for `why`.
    pub fn or_not_run(self, why: NotRun) -> CheckRun<T> {
        let outcome = match self.outcome {
            Outcome::Completed(Some(t)) => Outcome::Completed(t),
            Outcome::Completed(None) => return CheckRun::not_run(why),
            Outcome::TimedOut => Outcome::TimedOut,
            Outcome::NotRun(why) => Outcome::NotRun(why),
        };
        CheckRun {
            duration: self.duration,
            outcome,
        }
    }
}

/// Runs one check under a time limit and measures it.
pub async fn timed<T>(limit: Duration, check: impl Future<Output = T>) -> CheckRun<T> {
    let start = Instant::now();
    let outcome = match tokio::time::timeout(limit, check).await {
        Ok(t) => Outcome::Completed(t),
        Err(_) => Outcome::TimedOut,
    };
    CheckRun {
        duration: start.elapsed(),
        outcome,
    }
}
