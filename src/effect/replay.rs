//! The executors that work from a recorded run: [`Replay`] (every result from the
//! journal; any other effect is a divergence) and [`Resume`] (a failed or killed run's
//! finished effects from the journal, then live), and what resume may skip after a
//! failure ([`undone_write`]).

use crate::journal::{RecordedEffect, RecordedOutcome, Recording};

use super::executor::{Call, Divergence, Executed, Halt, HaltReason, differences};
use super::{Effect, EffectClass, EffectError, Executor, Registry, Request};

/// The class of a recorded effect, from the registry: never from the journal, which
/// anyone can edit. A kind the registry does not know counts as a write, the class that
/// asks the most of the operator.
pub fn recorded_class(registry: &Registry, kind: &str) -> EffectClass {
    registry.get(kind).map_or(EffectClass::Write, |primitive| primitive.class())
}

/// The effects a resume replays instead of performing: the run's own effects (not its
/// compensations) up to the first that did not succeed.
pub fn skipped_by_resume(recording: &Recording) -> impl Iterator<Item = &RecordedEffect> {
    recording
        .effects
        .iter()
        .filter(|effect| !effect.compensation)
        .take_while(|effect| matches!(effect.outcome, Some(RecordedOutcome::Succeeded(_))))
}

/// A write a compensation undid that a resume would skip as finished.
#[derive(Debug)]
pub struct Undone<'a> {
    /// The finished write taken to be undone: the latest one of the compensation's own
    /// kind (a tag for a tag, an upgrade for a rollback's release), else the latest.
    pub write: &'a RecordedEffect,
    /// The compensation's effect that wrote.
    pub by: &'a RecordedEffect,
    /// Finished writes besides `write` that the compensations may have undone too.
    pub others: usize,
}

/// The first compensation that wrote, and the finished write it is taken to have undone,
/// when a resume would skip one. A compensation that only reads or notifies undoes
/// nothing; one that writes is assumed to undo any of the run's finished writes (which
/// of them it touched is not recorded). Classes come from `registry`.
pub fn undone_write<'a>(recording: &'a Recording, registry: &Registry) -> Option<Undone<'a>> {
    let writes = |effect: &&RecordedEffect| recorded_class(registry, &effect.kind) == EffectClass::Write;
    let by = recording.effects.iter().filter(|effect| effect.compensation).find(writes)?;
    let skipped: Vec<&RecordedEffect> = skipped_by_resume(recording).filter(writes).collect();
    let write = skipped.iter().rev().find(|write| write.kind == by.kind).or(skipped.last())?;
    Some(Undone { write, by, others: skipped.len() - 1 })
}

fn recorded_call(recorded: &RecordedEffect) -> Call {
    Call {
        kind: recorded.kind.to_string(),
        args: recorded.args.clone(),
        step: recorded.step.clone(),
        origin: recorded.origin.clone(),
    }
}

fn requested_call(effect: &Effect) -> Call {
    Call {
        kind: effect.kind.to_string(),
        args: effect.args.clone(),
        step: effect.step.clone(),
        origin: effect.origin.clone(),
    }
}

/// The effect differs from the recorded one: a halt describing both.
fn compare(recorded: &RecordedEffect, effect: &Effect) -> Result<(), Halt> {
    if recorded.kind == effect.kind && recorded.args == effect.args {
        return Ok(());
    }
    let differences = if recorded.kind == effect.kind { differences(&recorded.args, &effect.args) } else { Vec::new() };
    let message = if recorded.kind == effect.kind {
        let paths: Vec<&str> = differences.iter().map(|difference| difference.path.as_str()).collect();
        format!("effect {} ({}) differs from the recording in {}", effect.seq, effect.kind, paths.join(", "))
    } else {
        format!("effect {} is {} where the recording has {}", effect.seq, effect.kind, recorded.kind)
    };
    Err(Halt {
        reason: HaltReason::Diverged,
        message,
        help: None,
        divergence: Some(Box::new(Divergence {
            seq: effect.seq,
            recorded: Some(recorded_call(recorded)),
            requested: Some(requested_call(effect)),
            differences,
        })),
    })
}

fn recorded_result(recording: &Recording, recorded: &RecordedEffect) -> Executed {
    let outcome = match &recorded.outcome {
        Some(RecordedOutcome::Succeeded(value)) => Ok(value.clone()),
        Some(RecordedOutcome::Failed(message)) => Err(EffectError::new(message.clone())),
        None => Err(EffectError::new("the recorded run stopped during this effect")),
    };
    Executed { outcome, replayed_from: Some(recording.run_id.clone()) }
}

/// Returns the recorded result of the n-th effect, if the script asks for the same
/// effect as the recorded run did. `now()` returns the recorded time, so a replay is
/// deterministic.
pub struct Replay {
    recording: Recording,
    next: usize,
}

impl Replay {
    pub fn new(recording: Recording) -> Self {
        Replay { recording, next: 0 }
    }
}

impl Executor for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn admit(&mut self, effect: &Effect) -> Result<(), Halt> {
        let Some(recorded) = self.recording.effects.get(self.next) else {
            return Err(Halt {
                reason: HaltReason::Diverged,
                message: format!(
                    "effect {} ({}) is a new effect the recorded run never reached",
                    effect.seq, effect.kind
                ),
                help: None,
                divergence: Some(Box::new(Divergence {
                    seq: effect.seq,
                    recorded: None,
                    requested: Some(requested_call(effect)),
                    differences: Vec::new(),
                })),
            });
        };
        compare(recorded, effect)?;
        if recorded.outcome.is_none() {
            return Err(Halt {
                reason: HaltReason::Unfinished,
                message: format!(
                    "the recorded run stopped during effect {} ({}); its outcome was never written, so the replay ends here",
                    recorded.seq, recorded.kind
                ),
                help: None,
                divergence: None,
            });
        }
        Ok(())
    }

    fn execute(&mut self, _request: &Request<'_>) -> Executed {
        let executed = match self.recording.effects.get(self.next) {
            Some(recorded) => recorded_result(&self.recording, recorded),
            None => Executed::now(Err(EffectError::new("internal error: replay executed past the recording"))),
        };
        self.next += 1;
        executed
    }

    fn finish(&mut self) -> Option<Halt> {
        let recorded = self.recording.effects.get(self.next)?;
        Some(Halt {
            reason: HaltReason::Diverged,
            message: format!(
                "the script ended; the recorded run went on to effect {} ({}) and {} more",
                recorded.seq,
                recorded.kind,
                self.recording.effects.len() - self.next - 1
            ),
            help: None,
            divergence: Some(Box::new(Divergence {
                seq: recorded.seq,
                recorded: Some(recorded_call(recorded)),
                requested: None,
                differences: Vec::new(),
            })),
        })
    }
}

/// What resume does with the effect the gate admitted last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Replay,
    Perform,
}

/// Replays a failed or killed run's finished effects (without performing them), then
/// performs the rest through `live`. The recorded run's compensations are left out: they
/// ran after its failure, and the resumed script registers its own. An effect whose
/// outcome was never recorded is not repeated unless the operator (or, for a read, the
/// caller) said so.
pub struct Resume {
    recording: Recording,
    live: Box<dyn Executor>,
    retry_unfinished: bool,
    next: usize,
    performing: bool,
    decision: Decision,
}

impl Resume {
    /// The caller has checked that no compensation undid a write this skips
    /// ([`undone_write`]); `retry_unfinished` performs an unfinished effect again.
    pub fn new(mut recording: Recording, live: Box<dyn Executor>, retry_unfinished: bool) -> Self {
        recording.effects.retain(|effect| !effect.compensation);
        Resume { recording, live, retry_unfinished, next: 0, performing: false, decision: Decision::Perform }
    }
}

impl Executor for Resume {
    fn name(&self) -> &'static str {
        "resume"
    }

    fn admit(&mut self, effect: &Effect) -> Result<(), Halt> {
        self.decision = Decision::Perform;
        if self.performing {
            return Ok(());
        }
        let Some(recorded) = self.recording.effects.get(self.next) else {
            self.performing = true;
            return Ok(());
        };
        match &recorded.outcome {
            Some(RecordedOutcome::Succeeded(_)) => {
                compare(recorded, effect).map_err(|mut halt| {
                    halt.help = Some(
                        "the finished part of a resumed run must ask for the same effects; revert the change, or start a new run"
                            .to_string(),
                    );
                    halt
                })?;
                self.decision = Decision::Replay;
            }
            None if !self.retry_unfinished => {
                return Err(Halt {
                    reason: HaltReason::Unfinished,
                    message: format!(
                        "effect {} ({}{}) was started by run {} but its outcome was never recorded: the process died while it ran, so nobody knows whether it took effect",
                        recorded.seq,
                        recorded.kind,
                        recorded.step.as_ref().map(|step| format!(" in step \"{step}\"")).unwrap_or_default(),
                        self.recording.run_id
                    ),
                    help: Some(
                        "it changes a system: check by hand whether it happened, then resume with --retry-unfinished to perform it again"
                            .to_string(),
                    ),
                    divergence: None,
                });
            }
            None => {
                compare(recorded, effect)?;
                self.performing = true;
            }
            Some(RecordedOutcome::Failed(_)) => self.performing = true,
        }
        Ok(())
    }

    fn execute(&mut self, request: &Request<'_>) -> Executed {
        if self.decision == Decision::Replay {
            let executed = recorded_result(&self.recording, &self.recording.effects[self.next]);
            self.next += 1;
            return executed;
        }
        self.performing = true;
        self.live.execute(request)
    }
}
