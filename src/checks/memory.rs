//! What an origin's checks remember between its cycles: a slot per check in
//! [`REGISTRY`](super::REGISTRY), of the check's own type ([`CheckTypes::Memory`]). What a cycle holds for its checks for
//! that cycle only is not here but in [`ThisCycle`](super::ThisCycle).

use std::any::Any;
use std::fmt;

use super::{CheckTypes, CHECKS};

/// What an origin's checks remember between its cycles, kept by its scheduler task (fresh when
/// the origin's settings change): a slot per check, created the first time the check has
/// something to keep ([`Memory::of`]). Held for every origin for good: a check that keeps nothing
/// costs it an empty slot (two words) and no allocation.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    /// Each check's own memory, by check index.
    slots: [Option<Box<dyn CheckMemory>>; CHECKS],
    /// The origin is probed for good by the scheduler (see [`Memory::scheduled`]).
    scheduled: bool,
}

/// One check's memory in its slot: any `Clone + Debug` type of the check's own.
trait CheckMemory: Any + fmt::Debug + Send {
    fn clone_box(&self) -> Box<dyn CheckMemory>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + fmt::Debug + Send + Clone> CheckMemory for T {
    fn clone_box(&self) -> Box<dyn CheckMemory> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

// The slot's `Box` is itself a `CheckMemory` (the blanket impl), so calls go through `**` to
// reach the check's own memory.
impl Clone for Box<dyn CheckMemory> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

impl Memory {
    /// The memory of an origin the scheduler probes for good (not `/probe` or `check`): its
    /// checks may spread their occasional extra work over its first cycles (see
    /// [`tls::TlsMemory::scheduled`](super::tls::TlsMemory::scheduled)).
    pub fn scheduled() -> Self {
        Memory {
            scheduled: true,
            ..Memory::default()
        }
    }

    /// Whether the scheduler probes the origin for good (see [`Memory::scheduled`]).
    pub fn is_scheduled(&self) -> bool {
        self.scheduled
    }

    /// What check `C` remembers; `None` before it kept anything.
    pub fn get<C: CheckTypes>(&self) -> Option<&C::Memory> {
        self.slots[C::ID.index()]
            .as_deref()
            .and_then(|m| m.as_any().downcast_ref())
    }

    /// The memory of check `C`: created by `fresh` the first time.
    pub fn of<C: CheckTypes>(&mut self, fresh: impl FnOnce() -> C::Memory) -> &mut C::Memory {
        let slot = &mut self.slots[C::ID.index()];
        // Only `of::<C>` fills `C`'s slot, always with a `C::Memory`: a slot holding another
        // type would take two `CheckTypes` with one id (only the tests' `TestCheck` shares a
        // registered check's). Such a slot is replaced, never misread, so the `unreachable!`
        // below cannot fire: the slot was just checked or filled.
        if !slot
            .as_deref()
            .is_some_and(|m| m.as_any().is::<C::Memory>())
        {
            *slot = Some(Box::new(fresh()));
        }
        match slot
            .as_deref_mut()
            .and_then(|m| m.as_any_mut().downcast_mut())
        {
            Some(memory) => memory,
            None => unreachable!("the slot was just filled with a C::Memory"),
        }
    }
}
