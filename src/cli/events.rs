//! `--output json`: the run as it happens, one JSON object a line (NDJSON) on stdout.
//! Every line has `schema` and `event`; the last is `run_finished` with the whole
//! report. The events and their fields are documented in docs/json-output.md; within a
//! schema version fields are only ever added, never renamed, retyped or removed.

use serde_json::{Map, Value, json};

use crate::effect::{Event, Reporter, duration_ms};
use crate::run::RunReport;

use super::output;

/// The version of the event schema; a change that is not an added field bumps it.
pub const SCHEMA: u32 = 1;

/// The reporter of `--output json`: each event a line as it happens.
#[derive(Debug, Default)]
pub struct Events;

impl Reporter for Events {
    fn event(&mut self, event: &Event<'_>) {
        let (name, fields) = fields(event);
        emit(name, fields);
    }
}

/// One line: `{"schema": 1, "event": <name>, ...fields}`.
fn emit(name: &str, fields: Value) {
    let mut line = Map::new();
    line.insert("schema".into(), json!(SCHEMA));
    line.insert("event".into(), json!(name));
    if let Value::Object(fields) = fields {
        line.extend(fields);
    }
    match serde_json::to_string(&Value::Object(line)) {
        Ok(text) => output::outln(&text),
        Err(error) => output::err(&format!("error: cannot serialize the {name} event: {error}\n")),
    }
}

/// The event's name and fields. Texts come redacted: the gate redacts effects and their
/// outcomes, `EffectContext::report` everything else.
fn fields(event: &Event<'_>) -> (&'static str, Value) {
    match event {
        Event::RunStarted { run_id, script, environment, mode, journal } => (
            "run_started",
            json!({ "run_id": run_id, "mode": mode, "script": script, "environment": environment, "journal": journal }),
        ),
        Event::StepStarted { name, depth } => ("step_started", json!({ "name": name, "depth": depth })),
        Event::StepFinished { name, depth, ok, duration } => {
            ("step_finished", json!({ "name": name, "depth": depth, "ok": ok, "duration_ms": duration_ms(*duration) }))
        }
        Event::EffectStarted { effect } => (
            "effect_started",
            json!({
                "seq": effect.seq, "kind": effect.kind, "step": effect.step, "args": effect.args,
                "origin": effect.origin, "compensation": effect.compensation,
            }),
        ),
        Event::EffectProgress { seq, message } => ("effect_progress", json!({ "seq": seq, "message": message })),
        Event::EffectFinished { effect, result, duration, replayed_from } => (
            "effect_finished",
            json!({
                "seq": effect.seq, "kind": effect.kind, "ok": result.is_ok(),
                "result": result.ok(), "error": result.err().map(|error| &error.message),
                "duration_ms": duration_ms(*duration), "replayed_from": replayed_from,
            }),
        ),
        Event::Log { level, message, origin } => {
            ("log", json!({ "level": level, "message": message, "origin": origin }))
        }
        Event::Output { text } => ("output", json!({ "text": text })),
        Event::CompensationsStarted { count } => ("compensations_started", json!({ "count": count })),
        Event::CompensationFinished { origin, error } => {
            ("compensation_finished", json!({ "origin": origin, "error": error }))
        }
    }
}

/// The last line: `run_finished` with the whole report (the fields `--output json`
/// printed as one document before events) and the run's `duration_ms`.
pub fn run_finished(report: &RunReport) {
    let mut fields = match serde_json::to_value(report) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) | Err(_) => {
            output::err("error: cannot serialize the report\n");
            return;
        }
    };
    fields.insert("duration_ms".into(), json!(duration_ms(report.duration)));
    emit("run_finished", Value::Object(fields));
}
