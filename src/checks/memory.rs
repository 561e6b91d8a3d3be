//! What an origin's checks remember between its cycles: a slot per check, of the check's own
//! type, beside what the cycle owns (the TCP check's hand-over, the work left running).

use std::any::Any;
use std::fmt;

use super::{conn, Check, Lingering};

/// What an origin's checks remember between its cycles, kept by its scheduler task (fresh when
/// the origin's settings change): a slot per check, created the first time the check asks for it
/// ([`Memory::of`]); the TCP check's connections for this cycle only; the work left running.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    /// Each check's own memory, by check index; empty (and allocation-free) until a check asks.
    slots: Vec<Option<Box<dyn CheckMemory>>>,
    /// The origin is probed for good by the scheduler (see [`Memory::scheduled`]).
    scheduled: bool,
    /// Connections the TCP check left for this cycle's later checks; empty between cycles.
    pub handoff: conn::Handoff,
    /// Work this cycle's checks left running (the keep-alive watch); the cycle takes it when its
    /// checks are done.
    pub lingering: Lingering,
}

/// One check's memory in its slot: any `Clone + Debug` type of the check's own.
trait CheckMemory: Any + fmt::Debug + Send {
    fn clone_box(&self) -> Box<dyn CheckMemory>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + fmt::Debug + Send + Clone> CheckMemory for T {
    fn clone_box(&self) -> Box<dyn CheckMemory> {
        Box::new(self.clone())
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
    /// [`tls::TlsMemory::scheduled`]).
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

    /// The memory of `check`, of the check's own type `T`: created by `fresh` the first time
    /// (or when the slot holds another type, which only a programming error could cause).
    pub fn of<T>(&mut self, check: Check, fresh: impl FnOnce() -> T) -> &mut T
    where
        T: Any + fmt::Debug + Send + Clone,
    {
        self.parts(check, fresh).0
    }

    /// [`Memory::of`], beside the cycle's hand-over and lingering work.
    pub fn parts<T>(
        &mut self,
        check: Check,
        fresh: impl FnOnce() -> T,
    ) -> (&mut T, &mut conn::Handoff, &mut Lingering)
    where
        T: Any + fmt::Debug + Send + Clone,
    {
        let i = check.index();
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        let slot = &mut self.slots[i];
        let fits = slot
            .as_mut()
            .is_some_and(|m| (**m).as_any_mut().downcast_mut::<T>().is_some());
        if !fits {
            *slot = Some(Box::new(fresh()));
        }
        let memory = match slot
            .as_mut()
            .and_then(|m| (**m).as_any_mut().downcast_mut::<T>())
        {
            Some(memory) => memory,
            None => unreachable!("the slot was just filled with a T"),
        };
        (memory, &mut self.handoff, &mut self.lingering)
    }
}
