//! The effects of a recorded run, in order, checked for a consistent sequence: what
//! replay and resume work from.

use serde_json::Value;

use super::{Effect, Journal, JournalError, Record, RunStatus};

/// What came of a recorded effect.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedOutcome {
    Succeeded(Value),
    Failed(String),
}

/// One effect of a recorded run.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEffect {
    pub effect: Effect,
    /// `None` when the intent was journaled but the outcome never was: the process
    /// died while the effect ran.
    pub outcome: Option<RecordedOutcome>,
    /// The journal line of the intent.
    pub line: usize,
}

/// A recorded effect reads as the effect it records (`recorded.kind`, `recorded.args`).
impl std::ops::Deref for RecordedEffect {
    type Target = Effect;

    fn deref(&self) -> &Effect {
        &self.effect
    }
}

/// A journal's effects.
#[derive(Debug, Clone)]
pub struct Recording {
    pub run_id: String,
    /// The script, relative to the scripts root.
    pub script: String,
    pub effects: Vec<RecordedEffect>,
    /// How the run ended; `None` when it has no footer.
    pub status: Option<RunStatus>,
    /// The journal's last line was cut off.
    pub truncated: bool,
}

impl Recording {
    /// The effects of `journal`. A hand-edited or corrupted sequence (a gap, an outcome
    /// without its intent, two effects open at once) is an error naming the line.
    pub fn from_journal(journal: &Journal) -> Result<Recording, JournalError> {
        let invalid =
            |line: usize, message: String| JournalError::Invalid { path: journal.path.clone(), line, message };
        let mut effects: Vec<RecordedEffect> = Vec::new();
        let mut status = None;
        for (record, &line) in journal.records.iter().zip(&journal.lines) {
            if status.is_some() {
                return Err(invalid(line, "a record after the footer".to_string()));
            }
            match record {
                Record::Intent(intent) => {
                    let expected = effects.len() as u64 + 1;
                    if intent.seq != expected {
                        return Err(invalid(
                            line,
                            format!(
                                "effect {} where effect {expected} was due: the sequence is broken (was the journal edited?)",
                                intent.seq
                            ),
                        ));
                    }
                    if let Some(open) = effects.last().filter(|effect| effect.outcome.is_none()) {
                        return Err(invalid(
                            line,
                            format!(
                                "effect {} starts before effect {} ({}) has an outcome",
                                intent.seq, open.seq, open.kind
                            ),
                        ));
                    }
                    effects.push(RecordedEffect { effect: intent.effect.clone(), outcome: None, line });
                }
                Record::Outcome(outcome) => {
                    let open =
                        effects.last_mut().filter(|effect| effect.seq == outcome.seq && effect.outcome.is_none());
                    let Some(open) = open else {
                        return Err(invalid(
                            line,
                            format!("an outcome for effect {} that was not started", outcome.seq),
                        ));
                    };
                    if open.kind != outcome.kind {
                        return Err(invalid(
                            line,
                            format!(
                                "the outcome of effect {} is for {}, but the effect is {}",
                                outcome.seq, outcome.kind, open.kind
                            ),
                        ));
                    }
                    open.outcome = Some(match (&outcome.result, &outcome.error, outcome.ok) {
                        (_, Some(error), false) => RecordedOutcome::Failed(error.clone()),
                        (result, _, true) => RecordedOutcome::Succeeded(result.clone().unwrap_or(Value::Null)),
                        (_, None, false) => RecordedOutcome::Failed("failed (no message recorded)".to_string()),
                    });
                }
                Record::Footer(footer) => {
                    if let Some(open) = effects.last().filter(|effect| effect.outcome.is_none()) {
                        return Err(invalid(
                            line,
                            format!("the footer closes the run while effect {} has no outcome", open.seq),
                        ));
                    }
                    status = Some(footer.status);
                }
                Record::Header(_) | Record::Step(_) | Record::Log(_) => {}
            }
        }
        Ok(Recording {
            run_id: journal.header.run_id.clone(),
            script: journal.header.script.clone(),
            effects,
            status,
            truncated: journal.truncated,
        })
    }
}
