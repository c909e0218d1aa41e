//! What a run tells the outside while it goes: the events a reporter receives. The CLI's
//! human and JSON outputs are reporters; tests use one that records.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Effect, EffectError, Mode};
use crate::base::location::Location;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Level {
    Debug,
    Info,
    Warn,
}

impl Level {
    /// The name the journal and the output use (`warn`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Something that happened in a run.
#[derive(Debug)]
pub enum Event<'a> {
    RunStarted {
        run_id: &'a str,
        script: &'a str,
        environment: &'a str,
        mode: Mode,
        journal: Option<&'a Path>,
    },
    StepStarted {
        name: &'a str,
        depth: usize,
    },
    StepFinished {
        name: &'a str,
        depth: usize,
        ok: bool,
        duration: Duration,
    },
    EffectStarted {
        effect: &'a Effect,
    },
    /// A long effect's progress ("attempt 2 of 5: 503").
    EffectProgress {
        seq: u64,
        message: &'a str,
    },
    /// `replayed_from`: not performed, the result is from that earlier run's journal.
    EffectFinished {
        effect: &'a Effect,
        result: Result<&'a Value, &'a EffectError>,
        duration: Duration,
        replayed_from: Option<&'a str>,
    },
    Log {
        level: Level,
        message: &'a str,
        origin: Option<&'a Location>,
    },
    /// Text a primitive prints for the operator (the `stdout` notification channel).
    Output {
        text: &'a str,
    },
    /// The script failed; `count` compensations are about to run.
    CompensationsStarted {
        count: usize,
    },
    /// A compensation ran; `error` if it failed.
    CompensationFinished {
        origin: &'a Location,
        error: Option<&'a str>,
    },
}

/// Receives a run's events, on the script thread.
pub trait Reporter {
    fn event(&mut self, event: &Event<'_>);

    /// Run `work`, which talks to the operator on the terminal, with any animation
    /// (a spinner) out of its way.
    fn suspend(&mut self, work: &mut dyn FnMut()) {
        work();
    }
}

/// Discards everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&mut self, _event: &Event<'_>) {}
}
