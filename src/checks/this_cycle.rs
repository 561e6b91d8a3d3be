//! What one cycle of one origin holds for its checks for that cycle only, beside their memory:
//! what a check leaves for the later checks of the cycle (the TCP check's open connections), and
//! the work the checks leave running. Dropped when the cycle's checks are done: nothing in it
//! outlives its cycle (lingering work is handed to the caller first).

use std::any::Any;

use super::{CheckTypes, Lingering, CHECKS};

/// What one cycle holds for its checks: each check's handover, by check index, created on first
/// use, and the work its checks left running.
#[derive(Default)]
pub struct ThisCycle {
    handovers: [Option<Box<dyn Any + Send>>; CHECKS],
    /// Work this cycle's checks left running (the keep-alive watch); the cycle takes it when its
    /// checks are done.
    pub lingering: Lingering,
}

impl ThisCycle {
    /// What check `C` leaves for this cycle's later checks ([`CheckTypes::Handover`]: the TCP
    /// check's `conn::Handoff`): created empty the first time. The check that leaves it fills it;
    /// a later check that declares it in `takes()` takes from it.
    pub fn handover<C: CheckTypes>(&mut self) -> &mut C::Handover {
        let slot = &mut self.handovers[C::ID.index()];
        // Only `handover::<C>` fills `C`'s slot, always with a `C::Handover` (see
        // `Memory::of`): another type is replaced, never misread.
        if !slot.as_deref().is_some_and(|h| h.is::<C::Handover>()) {
            *slot = Some(Box::<C::Handover>::default());
        }
        match slot.as_deref_mut().and_then(|h| h.downcast_mut()) {
            Some(handover) => handover,
            None => unreachable!("the slot was just filled with a C::Handover"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::check_types::TestCheck;

    /// A check's handover stays in its slot for the cycle, apart from the others'.
    #[test]
    fn a_checks_handover_is_kept_in_its_slot() {
        type First = TestCheck<1, Vec<u8>>;
        type Second = TestCheck<2, Vec<u8>>;
        let mut cycle = ThisCycle::default();
        cycle.handover::<First>().push(1);
        assert_eq!(cycle.handover::<First>(), &vec![1]);
        assert!(cycle.handover::<Second>().is_empty());
    }
}
