//! What a check may see of the others in its cycle. A later check declares the earlier checks it
//! depends on ([`CheckModule::needs`](super::CheckModule::needs)); the cycle hands it an
//! [`Earlier`] view that yields their reports only, beside the resolution every check shares.
//! What a later check tells an earlier one about the same cycle goes the other way, through
//! [`Notes`]: typed, posted after every check ran, read by the earlier check's `revise`.

use std::any::Any;
use std::net::IpAddr;

use super::{Check, CheckRun, CheckTypes, OriginResults};
use crate::config::Origin;

/// What a running check sees of the checks before it in the cycle: the resolution, and the
/// reports of the checks it declared in `needs()`; and whether a later check takes what it
/// leaves for this cycle (the TCP check's open connections).
#[derive(Clone, Copy)]
pub struct Earlier<'a> {
    results: &'a OriginResults,
    needs: &'static [Check],
    handover: bool,
}

impl<'a> Earlier<'a> {
    /// The view of `results` for a check that declares `needs`.
    pub fn new(results: &'a OriginResults, needs: &'static [Check]) -> Self {
        Earlier {
            results,
            needs,
            handover: false,
        }
    }

    /// The same view, telling the check whether an enabled later check takes its handover.
    pub fn with_handover(self, handover: bool) -> Self {
        Earlier { handover, ..self }
    }

    /// Whether an enabled later check takes what this check leaves for the cycle
    /// ([`CheckModule::takes`](super::CheckModule::takes)).
    pub fn handover(&self) -> bool {
        self.handover
    }

    /// The run of a declared earlier check; `None` when it did not run. Asking for an undeclared
    /// one is a programming error (a debug assertion; `None` in a release build).
    pub fn get<C: CheckTypes>(&self) -> Option<&'a CheckRun<C::Report>> {
        let declared = self.needs.contains(&C::ID);
        debug_assert!(declared, "{:?} is not declared in needs()", C::ID);
        if declared {
            self.results.get::<C>()
        } else {
            None
        }
    }

    /// Whether the origin's settings enable a declared earlier check (an echo rule: the earlier
    /// check owns the failure when it runs).
    pub fn enabled<C: CheckTypes>(&self, origin: &Origin) -> bool {
        debug_assert!(
            self.needs.contains(&C::ID),
            "{:?} is not declared in needs()",
            C::ID
        );
        origin.has_check(C::ID)
    }

    /// The addresses the CDN would connect to (see [`super::addresses`]).
    pub fn addresses(&self, origin: &Origin) -> Vec<IpAddr> {
        super::addresses(origin, self.results)
    }

    /// The addresses the per-address checks probe (see [`super::probed_addresses`]).
    pub fn probed_addresses(&self, origin: &Origin) -> Vec<IpAddr> {
        super::probed_addresses(origin, self.results)
    }
}

/// What later checks of a cycle tell earlier ones, by type: posted after every check ran
/// ([`CheckModule::tell`](super::CheckModule::tell)), read by `revise`. The type is the earlier
/// check's (the TLS check's `Contradiction`), so only a check that declares it can post one.
#[derive(Default)]
pub struct Notes {
    notes: Vec<Box<dyn Any + Send + Sync>>,
}

impl Notes {
    pub fn post<T: Any + Send + Sync>(&mut self, note: T) {
        self.notes.push(Box::new(note));
    }

    /// Every note of type `T`, in the order they were posted.
    pub fn of<T: Any>(&self) -> impl Iterator<Item = &T> {
        self.notes.iter().filter_map(|n| n.downcast_ref::<T>())
    }
}
