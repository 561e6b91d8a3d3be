//! A check's own types, tied to it at compile time: what one cycle of it finds (its slot of
//! [`OriginResults`](super::OriginResults)), what it remembers between cycles (its slot of
//! [`Memory`](super::Memory)), its part of the probe context (its slot of
//! [`ProbeContext`](super::ProbeContext)) and what it leaves for the later checks of the cycle
//! (its slot of [`ThisCycle`](super::ThisCycle)). Every accessor takes the check's type
//! (`results.get::<TcpCheck>()`, `memory.of::<TlsCheck>(..)`, `ctx.part::<TlsCheck>()`,
//! `cycle.handover::<TcpCheck>()`), so the type read is the type the check declares.

use std::any::Any;
use std::fmt;

use super::{Check, ContextError, Part, ProbeContext};

/// A check's id and its own types. Implemented by each check's module for its own unit struct
/// (the one in [`REGISTRY`](super::REGISTRY)); a later check names an earlier one by it
/// (`earlier.get::<TcpCheck>()`). A check with nothing of a kind names `()` (no allocation).
pub trait CheckTypes: 'static {
    /// The check this is.
    const ID: Check;
    /// What one cycle of the check found (kept per origin: small, or boxed inside).
    type Report: fmt::Debug + Clone + Send + Sync + 'static;
    /// What the check remembers of an origin between its cycles (created on first use).
    type Memory: fmt::Debug + Clone + Send + 'static;
    /// The check's part of the probe context, built once per config by [`Self::context`].
    type Context: Send + Sync + 'static;
    /// What the check leaves for the later checks of one cycle (created empty on first use).
    type Handover: Default + Send + 'static;

    /// Builds the check's part of the probe context from its shared part, once per config (the
    /// TLS check's roots and caches, the DNS check's discovery cache). An error is the config's
    /// (a CA file that does not parse).
    fn context(shared: &ProbeContext) -> Result<Self::Context, ContextError>;
}

/// What the registry needs of a check's own types through `dyn` [`CheckModule`](super::CheckModule)
/// (its supertrait): implemented for every [`CheckTypes`], so a module's id and the context part
/// it builds are those its types declare.
pub trait OwnTypes: Send + Sync {
    /// The check's id ([`CheckTypes::ID`]).
    fn id(&self) -> Check;

    /// The check's part of the probe context, boxed for its slot: exactly its
    /// [`CheckTypes::Context`] (a `()` part is boxed without allocating).
    fn context_part(&self, shared: &ProbeContext) -> Result<Part, ContextError>;
}

impl<C: CheckTypes + Send + Sync> OwnTypes for C {
    fn id(&self) -> Check {
        C::ID
    }

    fn context_part(&self, shared: &ProbeContext) -> Result<Part, ContextError> {
        let part: Box<dyn Any + Send + Sync> = Box::new(C::context(shared)?);
        Ok(part)
    }
}

/// A test-only check of id `I` whose memory and handover are `T`: for the slot tests, which
/// need two checks with the same types.
#[cfg(test)]
pub(crate) struct TestCheck<const I: u8, T>(std::marker::PhantomData<T>);

#[cfg(test)]
impl<const I: u8, T> CheckTypes for TestCheck<I, T>
where
    T: fmt::Debug + Clone + Default + Send + Sync + 'static,
{
    const ID: Check = Check::at(I);
    type Report = ();
    type Memory = T;
    type Context = ();
    type Handover = T;

    fn context(_shared: &ProbeContext) -> Result<(), ContextError> {
        Ok(())
    }
}
