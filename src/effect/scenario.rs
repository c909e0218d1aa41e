//! The scenario executor of `shipctl test`: results scripted by a test where it asked
//! for them, each primitive's plan mock otherwise. Nothing is performed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::executor::Executed;
use super::{EffectError, Executor, Request};

/// What a mocked call returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// These fields, laid over the plan mock (so the result keeps its shape).
    Result(Value),
    /// The effect fails with this message.
    Error(String),
}

/// A mock for the calls of one primitive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mock {
    pub kind: String,
    /// The n-th call (from 1) of that primitive only; every call when `None`.
    pub call: Option<u64>,
    pub answer: Answer,
}

/// Answers effects from mocks; records nothing itself (the gate does).
#[derive(Debug, Default)]
pub struct Scenario {
    mocks: Vec<Mock>,
    calls: BTreeMap<String, u64>,
}

impl Scenario {
    pub fn new(mocks: Vec<Mock>) -> Self {
        Scenario { mocks, calls: BTreeMap::new() }
    }
}

/// `over`'s fields laid on `base` (recursively for objects).
fn overlay(base: Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (key, value) in over {
                let merged = match base.remove(key) {
                    Some(existing) => overlay(existing, value),
                    None => value.clone(),
                };
                base.insert(key.clone(), merged);
            }
            Value::Object(base)
        }
        (_, over) => over.clone(),
    }
}

impl Executor for Scenario {
    fn name(&self) -> &'static str {
        "scenario"
    }

    fn execute(&mut self, request: &Request<'_>) -> Executed {
        let kind = request.effect.kind.as_ref();
        let count = self.calls.entry(kind.to_string()).or_insert(0);
        *count += 1;
        let number = *count;
        let mock = self
            .mocks
            .iter()
            .find(|mock| mock.kind == kind && mock.call == Some(number))
            .or_else(|| self.mocks.iter().find(|mock| mock.kind == kind && mock.call.is_none()));
        let planned = request.primitive.plan(request.params, request.context);
        let outcome = match mock.map(|mock| &mock.answer) {
            None => planned,
            Some(Answer::Error(message)) => Err(EffectError::new(message.clone())),
            Some(Answer::Result(fields)) => planned.map(|base| overlay(base, fields)),
        };
        Executed::now(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlay_keeps_the_shape() {
        let base = json!({"status": 200, "attempts": 1, "url": "u"});
        assert_eq!(overlay(base, &json!({"status": 503})), json!({"status": 503, "attempts": 1, "url": "u"}));
    }
}
