//! What the run report holds of each effect.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::Effect;

/// One effect as the run report shows it (arguments and results redacted).
#[derive(Debug, Clone)]
pub struct EffectReport {
    /// The effect; its `seq` is 0 for an effect policy refused (it never ran).
    pub effect: Effect,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// Not performed: the result came from this earlier run's journal.
    pub replayed_from: Option<String>,
    pub duration: Duration,
}

/// A report reads as the effect it reports (`report.kind`, `report.args`).
impl std::ops::Deref for EffectReport {
    type Target = Effect;

    fn deref(&self) -> &Effect {
        &self.effect
    }
}

/// Written by hand rather than with `#[serde(flatten)]`: the report (`--output json`)
/// always has `step` and `compensation`, where the journal's compact form leaves them
/// out when empty. The duration is whole milliseconds named `duration_ms`, the unit the
/// journal, `history` and the output's events use.
impl Serialize for EffectReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let effect = &self.effect;
        let mut report = serializer.serialize_struct("EffectReport", 10)?;
        report.serialize_field("seq", &effect.seq)?;
        report.serialize_field("kind", &effect.kind)?;
        report.serialize_field("step", &effect.step)?;
        report.serialize_field("args", &effect.args)?;
        report.serialize_field("origin", &effect.origin)?;
        report.serialize_field("compensation", &effect.compensation)?;
        report.serialize_field("result", &self.result)?;
        report.serialize_field("error", &self.error)?;
        report.serialize_field("replayed_from", &self.replayed_from)?;
        report.serialize_field("duration_ms", &duration_ms(self.duration))?;
        report.end()
    }
}

/// A duration in whole milliseconds, the one unit of durations in JSON output (a
/// duration past `u64::MAX` ms, half a billion years, saturates).
pub fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
