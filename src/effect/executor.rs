//! Executors: what happens to an effect once it passed the gate.
//!
//! | executor | what a primitive does |
//! | --- | --- |
//! | [`Live`] | performs it through its provider |
//! | [`Plan`] | returns a mock result of the live shape, no side effect |
//!
//! A replay executor (results recorded in a journal) and a scenario executor (results
//! scripted by a test) implement the same trait; the gate does not change for them.

use std::any::Any;

use serde_json::Value;

use super::{Effect, EffectContext, EffectError, ErasedPrimitive};

/// Everything an executor gets for one effect.
pub struct Request<'a> {
    pub effect: &'a Effect,
    pub primitive: &'a dyn ErasedPrimitive,
    /// The typed parameters, as the primitive's `parse` produced them.
    pub params: &'a dyn Any,
    pub context: &'a EffectContext,
}

/// Decides what an effect does and what it returns.
pub trait Executor {
    /// `live`, `plan`, ...: shown in output and journals.
    fn name(&self) -> &'static str;

    /// Execute one effect and return its result as JSON.
    fn execute(&mut self, request: &Request<'_>) -> Result<Value, EffectError>;
}

/// Performs effects for real.
#[derive(Debug, Default)]
pub struct Live;

impl Executor for Live {
    fn name(&self) -> &'static str {
        "live"
    }

    fn execute(&mut self, request: &Request<'_>) -> Result<Value, EffectError> {
        request.primitive.live(request.params, request.context)
    }
}

/// Returns each primitive's mock, which has the live result's shape.
#[derive(Debug, Default)]
pub struct Plan;

impl Executor for Plan {
    fn name(&self) -> &'static str {
        "plan"
    }

    fn execute(&mut self, request: &Request<'_>) -> Result<Value, EffectError> {
        request.primitive.plan(request.params, request.context)
    }
}
