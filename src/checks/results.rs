//! What one cycle found out about one origin: the resolution every check shares, and a slot per
//! check in [`REGISTRY`](super::REGISTRY) holding that check's run of its own report type.
//! Adding a check adds a slot, not a field.

use std::any::Any;
use std::fmt;

use super::{Check, CheckRun, CheckTypes, Resolution, CHECKS};

/// One check's report of one cycle, as its run hands it to the runner: the run of the check's own
/// report type, boxed once (the box moves into the check's slot of [`OriginResults`]).
#[derive(Debug)]
pub struct Report {
    check: Check,
    run: Box<dyn AnyReport>,
}

impl Report {
    /// The run of check `C`.
    pub fn of<C: CheckTypes>(run: CheckRun<C::Report>) -> Self {
        Report {
            check: C::ID,
            run: Box::new(run),
        }
    }
}

/// A check's run in its slot: any `CheckRun` of a check's own report type.
trait AnyReport: Any + fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn clone_box(&self) -> Box<dyn AnyReport>;
}

impl<T: Any + fmt::Debug + Clone + Send + Sync> AnyReport for CheckRun<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn AnyReport> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn AnyReport> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

/// Everything one cycle found out about one origin. Every origin keeps its latest one for good:
/// a check that did not run costs it an empty slot (two words), one that ran a box of its report.
#[derive(Debug, Clone, Default)]
pub struct OriginResults {
    /// Resolution of `domain`: not a check of its own but the addresses every check connects
    /// to; reported under the `dns` check. `None` when the origin pins an `address`.
    pub resolution: Option<CheckRun<Resolution>>,
    /// Each check's run, by its index in the registry; `None` when it did not run.
    reports: [Option<Box<dyn AnyReport>>; CHECKS],
}

impl OriginResults {
    /// The results of a cycle that resolved the origin's name to `resolution` (`None`: it pins
    /// an address), before any check reports.
    pub fn new(resolution: Option<CheckRun<Resolution>>) -> Self {
        OriginResults {
            resolution,
            ..OriginResults::default()
        }
    }

    /// Keeps `report` in its check's slot, in place of an earlier one.
    pub fn put(&mut self, report: Report) {
        self.reports[report.check.index()] = Some(report.run);
    }

    /// These results with `run` as check `C`'s.
    pub fn with<C: CheckTypes>(mut self, run: CheckRun<C::Report>) -> Self {
        self.put(Report::of::<C>(run));
        self
    }

    /// The run of check `C`; `None` when it did not run.
    pub fn get<C: CheckTypes>(&self) -> Option<&CheckRun<C::Report>> {
        self.reports[C::ID.index()]
            .as_deref()
            .and_then(|r| r.as_any().downcast_ref())
    }

    /// The run of check `C`, to revise or amend; `None` when it did not run.
    pub fn get_mut<C: CheckTypes>(&mut self) -> Option<&mut CheckRun<C::Report>> {
        self.reports[C::ID.index()]
            .as_deref_mut()
            .and_then(|r| r.as_any_mut().downcast_mut())
    }

    /// Forgets the run of check `C`, as if it had not run.
    pub fn remove<C: CheckTypes>(&mut self) {
        self.reports[C::ID.index()] = None;
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;

    /// Every origin keeps its latest results for good: a check it does not run costs it an empty
    /// slot of two words, whatever the size of that check's report.
    #[test]
    fn a_check_that_did_not_run_costs_an_empty_slot() {
        assert_eq!(
            size_of::<OriginResults>(),
            size_of::<Option<CheckRun<Resolution>>>() + CHECKS * 2 * size_of::<usize>()
        );
    }

    /// A report is found in its check's slot by the check's type, and a copy copies it.
    #[test]
    fn a_report_is_kept_in_its_checks_slot() {
        use crate::checks::tcp::TcpCheck;
        use crate::checks::{NotRun, TcpReport};
        let run = CheckRun::<TcpReport>::not_run(NotRun::NoAddress);
        let mut results = OriginResults::default().with::<TcpCheck>(run.clone());
        assert_eq!(results.clone().get::<TcpCheck>(), Some(&run));
        results.remove::<TcpCheck>();
        assert_eq!(results.get::<TcpCheck>(), None);
    }
}
