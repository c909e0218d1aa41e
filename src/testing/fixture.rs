//! Recorded runs as test fixtures: `run(#{ journal: "fixtures/prod.jsonl" })` answers
//! each effect from the journal as `shipctl replay` does, so a test checks a changed
//! script against a real run. The journal is untrusted: its path is confined to the
//! scripts root, only a regular file is read, and it is validated as replay validates
//! it (every record checked, the effect sequence consistent).

use std::path::Path;

use serde_json::Value;

use crate::base::confined::ConfinedPath;
use crate::effect::{Call, Halt};
use crate::journal::{Header, Recording, parse_journal};

/// A recorded run a test replays against.
pub struct Fixture {
    /// The journal as the test named it, relative to the scripts root.
    pub name: String,
    pub header: Header,
    pub recording: Recording,
}

/// Read and validate the journal at `path` (already confined).
pub fn load(path: &ConfinedPath) -> Result<Fixture, String> {
    let name = path.relative().display().to_string();
    if !path.is_file() {
        return Err(format!("the journal \"{name}\" is not a regular file"));
    }
    let bytes = path.read().map_err(|error| format!("cannot read the journal \"{name}\": {error}"))?;
    let journal = parse_journal(&bytes, Path::new(&name)).map_err(|error| error.to_string())?;
    let recording = Recording::from_journal(&journal).map_err(|error| error.to_string())?;
    Ok(Fixture { name, header: journal.header, recording })
}

/// A call as the failure shows it: `notify {"channel":"log","text":"done"}`.
fn call_line(call: &Call) -> String {
    let args = match &call.args {
        Value::Null => String::new(),
        args => format!(" {args}"),
    };
    format!("{}{args}", call.kind)
}

fn value_text(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_else(|| "(absent)".to_string())
}

/// The test failure for a replay that diverged from `fixture`: what `shipctl replay`
/// reports, the effect number, its step, both calls and the fields that differ. `None`
/// when the run did not diverge (a recording that ends inside an effect only ends the
/// replay there, as it does for `shipctl replay`).
pub fn divergence(fixture: &Fixture, halt: &Halt) -> Option<String> {
    let divergence = halt.divergence.as_ref()?;
    let mut out = format!(
        "the run diverged from the recorded run {} ({}): {}",
        fixture.recording.run_id, fixture.name, halt.message
    );
    let step = divergence.requested.as_ref().or(divergence.recorded.as_ref()).and_then(|call| call.step.as_ref());
    out.push_str(&format!(
        "\n  at effect {}{}",
        divergence.seq,
        step.map(|step| format!(" in step \"{step}\"")).unwrap_or_default()
    ));
    match &divergence.recorded {
        Some(call) => {
            out.push_str(&format!("\n  recorded: {} (at {} in the recorded run)", call_line(call), call.origin))
        }
        None => out.push_str("\n  recorded: nothing: the recorded run never reached this effect"),
    }
    match &divergence.requested {
        Some(call) => out.push_str(&format!("\n  now:      {} (at {})", call_line(call), call.origin)),
        None => out.push_str("\n  now:      nothing: the script ended here"),
    }
    for difference in &divergence.differences {
        out.push_str(&format!(
            "\n  {}: {} -> {}",
            difference.path,
            value_text(difference.recorded.as_ref()),
            value_text(difference.requested.as_ref())
        ));
    }
    Some(out)
}
