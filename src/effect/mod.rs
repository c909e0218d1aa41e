//! Effects are data. Every primitive call becomes an [`Effect`] and passes one choke
//! point, the [`Gate`], which in order: validates the arguments against the
//! primitive's typed parameters, checks policy, journals the intent, hands the effect
//! to the run's [`Executor`], journals the outcome (secrets redacted) and returns the
//! result to the script.
//!
//! Executors: [`Live`] performs effects through providers, [`Plan`] returns mocks of
//! the same shape and touches nothing, [`Replay`] returns a journal's results,
//! [`Resume`] replays a failed run's finished part and then goes live, [`Scenario`]
//! returns what a test scripted. All plug in through the [`Executor`] trait.

mod context;
mod event;
mod executor;
mod gate;
mod policy;
mod primitive;
mod replay;
mod report;
mod scenario;
pub mod value;

pub use context::{EffectContext, Interrupt, Mode, ProbeSeed, signal_name};
pub use event::{Event, Level, Reporter, Silent};
pub use executor::{
    Call, Difference, Divergence, Executed, Executor, Halt, HaltReason, Live, Plan, Request, differences,
};
pub use gate::{Gate, GateError, GateErrorKind, argument_message};
pub use policy::check as check_policy;
pub use primitive::{ArgumentError, ArgumentProblem, ErasedPrimitive, Primitive, Registry, unknown_argument};
pub use replay::{Replay, Resume, Undone, recorded_class, skipped_by_resume, undone_write};
pub use report::{EffectReport, duration_ms};
pub use scenario::{Answer, Mock, Scenario};

/// One primitive call, as data: what the journal records and executors receive. It
/// lives with the journal (the layer below) so the journal's records embed it.
pub use crate::journal::Effect;
/// What an effect does (read, notify, write); see [`Primitive::class`].
pub use crate::journal::EffectClass;

/// A primitive that failed: the message the script and the journal see.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EffectError {
    pub message: String,
    /// What the operator can do about it.
    pub help: Option<String>,
    /// Policy refused the effect (restoring into a protected environment): the run
    /// ends with the policy exit code, as for an environment's allow/deny lists.
    pub refused: bool,
}

impl miette::Diagnostic for EffectError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::effect"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

impl EffectError {
    pub fn new(message: impl Into<String>) -> Self {
        EffectError { message: message.into(), help: None, refused: false }
    }

    /// A refusal by policy, decided by the primitive (it knows what its arguments
    /// would touch).
    pub fn refused(message: impl Into<String>) -> Self {
        EffectError { refused: true, ..EffectError::new(message) }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl From<String> for EffectError {
    fn from(message: String) -> Self {
        EffectError::new(message)
    }
}

/// A path a script named was refused (outside the scripts root, ...): the run's error
/// names the value and what to do.
impl From<crate::base::confined::PathError> for EffectError {
    fn from(error: crate::base::confined::PathError) -> Self {
        EffectError::new(error.to_string()).with_help(error.help)
    }
}
