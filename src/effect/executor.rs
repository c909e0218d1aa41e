//! Executors: what happens to an effect once it passed the gate.
//!
//! | executor | what a primitive does | used by |
//! | --- | --- | --- |
//! | [`Live`] | performs it through its provider | `run` |
//! | [`Plan`] | returns a mock result of the live shape, no side effect | `plan`, `watch`, `check` |
//! | [`Replay`](super::Replay) | returns the result recorded in a journal; another effect is a divergence | `replay` |
//! | [`Resume`](super::Resume) | replays a failed run's finished effects, then performs the rest | `resume` |
//! | [`Scenario`](super::Scenario) | returns results a test scripted, mocks otherwise | `test` |

use std::any::Any;

use serde::Serialize;
use serde_json::Value;

use crate::base::location::Location;

use super::{Effect, EffectContext, EffectError, ErasedPrimitive};

/// Everything an executor gets for one effect.
pub struct Request<'a> {
    pub effect: &'a Effect,
    /// The arguments as the script gave them (the effect's are redacted): what the
    /// typed parameters were parsed from.
    pub args: &'a Value,
    pub primitive: &'a dyn ErasedPrimitive,
    /// The typed parameters, as the primitive's `parse` produced them.
    pub params: &'a dyn Any,
    pub context: &'a EffectContext,
}

/// What an executor made of an effect.
#[derive(Debug, Clone)]
pub struct Executed {
    pub outcome: Result<Value, EffectError>,
    /// Not performed: the outcome comes from this earlier run's journal.
    pub replayed_from: Option<String>,
}

impl Executed {
    /// An outcome produced now (performed, or mocked).
    pub fn now(outcome: Result<Value, EffectError>) -> Self {
        Executed { outcome, replayed_from: None }
    }
}

/// Why an executor stops the run before an effect: nothing more may happen.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Halt {
    pub reason: HaltReason,
    pub message: String,
    pub help: Option<String>,
    /// For divergences: what was recorded and what the script asked for.
    pub divergence: Option<Box<Divergence>>,
}

impl miette::Diagnostic for Halt {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::halt"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

/// The kinds of halt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltReason {
    /// The script asked for something other than the recording holds.
    Diverged,
    /// The recording ends inside an effect whose outcome was never written.
    Unfinished,
}

/// A call as recorded or as asked for now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub kind: String,
    pub args: Value,
    pub step: Option<String>,
    pub origin: Location,
}

/// Where a script and a recording part ways.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// The effect number at which they differ.
    pub seq: u64,
    /// `None`: the script asked for an effect the recorded run never reached.
    pub recorded: Option<Call>,
    /// `None`: the script ended where the recorded run went on.
    pub requested: Option<Call>,
    /// Field by field, when both sides are the same kind.
    pub differences: Vec<Difference>,
}

/// One argument that differs: its path and both values (`None` where absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub path: String,
    pub recorded: Option<Value>,
    pub requested: Option<Value>,
}

/// The field-by-field differences between two argument values.
pub fn differences(recorded: &Value, requested: &Value) -> Vec<Difference> {
    let mut found = Vec::new();
    diff_into("", recorded, requested, &mut found);
    found
}

fn diff_into(path: &str, recorded: &Value, requested: &Value, found: &mut Vec<Difference>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (recorded, requested) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, old_value) in old {
                match new.get(key) {
                    Some(new_value) => diff_into(&join(key), old_value, new_value, found),
                    None => {
                        found.push(Difference { path: join(key), recorded: Some(old_value.clone()), requested: None })
                    }
                }
            }
            for (key, new_value) in new.iter().filter(|(key, _)| !old.contains_key(*key)) {
                found.push(Difference { path: join(key), recorded: None, requested: Some(new_value.clone()) });
            }
        }
        (old, new) if old != new => found.push(Difference {
            path: if path.is_empty() { "(arguments)".to_string() } else { path.to_string() },
            recorded: Some(old.clone()),
            requested: Some(new.clone()),
        }),
        _ => {}
    }
}

/// Decides what an effect does and what it returns.
pub trait Executor {
    /// `live`, `plan`, `replay`, ...: shown in output and journals.
    fn name(&self) -> &'static str;

    /// Called before the effect's intent is journaled: an executor that must not go on
    /// (a replay diverged) halts the run here, so no intent is written for it.
    fn admit(&mut self, _effect: &Effect) -> Result<(), Halt> {
        Ok(())
    }

    /// Execute one admitted effect.
    fn execute(&mut self, request: &Request<'_>) -> Executed;

    /// Called when the script is done: anything the executor expected and did not see.
    fn finish(&mut self) -> Option<Halt> {
        None
    }
}

/// Performs effects for real.
#[derive(Debug, Default)]
pub struct Live;

impl Executor for Live {
    fn name(&self) -> &'static str {
        "live"
    }

    fn execute(&mut self, request: &Request<'_>) -> Executed {
        Executed::now(request.primitive.live(request.params, request.context))
    }
}

/// Returns each primitive's mock, which has the live result's shape.
#[derive(Debug, Default)]
pub struct Plan;

impl Executor for Plan {
    fn name(&self) -> &'static str {
        "plan"
    }

    fn execute(&mut self, request: &Request<'_>) -> Executed {
        Executed::now(request.primitive.plan(request.params, request.context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_each_field() {
        let recorded = json!({"url": "https://a/health", "retries": 5, "fields": {"env": "prod"}});
        let requested = json!({"url": "https://b/health", "fields": {"env": "prod", "team": "web"}, "status": 200});
        let found = differences(&recorded, &requested);
        let paths: Vec<&str> = found.iter().map(|difference| difference.path.as_str()).collect();
        assert_eq!(paths, vec!["url", "retries", "fields.team", "status"]);
        assert_eq!(found[1].requested, None);
        assert!(differences(&recorded, &recorded).is_empty());
    }
}
