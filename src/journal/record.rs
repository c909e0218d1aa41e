//! The journal's records. Versioned: a format change bumps [`FORMAT_VERSION`], and a
//! reader refuses a newer version with a clear message.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base::location::Location;

/// Version of the journal format written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    Step(StepRecord),
    Intent(Intent),
    Outcome(Outcome),
    Log(LogRecord),
    Footer(Footer),
}

/// First line: what ran, where, by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub run_id: String,
    /// `run` or `plan`.
    pub mode: String,
    /// The product: the script's directory name (`scripts/cdc/release.rhai` is `cdc`).
    pub product: String,
    /// The script, relative to the scripts root.
    pub script: String,
    pub script_sha256: String,
    /// The scripts root, absolute, as it was on the machine that ran.
    pub root: String,
    /// The scripts repository, when the root is inside one.
    pub repo: Option<RepoState>,
    pub shipctl_version: String,
    pub environment: String,
    pub params: BTreeMap<String, String>,
    pub user: String,
    pub host: String,
    pub started_at: String,
    /// The run this one resumes, when it is a resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// `--kubeconfig` and `--kube-context` given for the run (`kubeconfig`,
    /// `kube_context`), over the environment's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kube: BTreeMap<String, String>,
    /// The CI job that ran shipctl (who started it, its page), when it ran in CI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<Box<crate::base::operator::CiIdentity>>,
}

/// The state of the git repository holding the scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoState {
    pub commit: Option<String>,
    /// Uncommitted or untracked changes under the scripts root.
    pub dirty: bool,
}

/// A step starting or ending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub event: StepEvent,
    pub name: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEvent {
    Start,
    End,
}

/// One primitive call, as data: the fields every form of an effect shares (the
/// journal's intent, a recorded effect, the executors' request, the run report), each
/// embedding it with `#[serde(flatten)]` and adding its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Position in the run, from 1.
    pub seq: u64,
    /// The primitive's name. Borrowed from the registry while a run performs it, owned
    /// when read back from a journal.
    pub kind: Cow<'static, str>,
    /// The innermost `step` the effect ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The arguments as the script passed them (validated; redacted before anything
    /// outside the gate sees them).
    pub args: Value,
    /// Where in the script the call is.
    pub origin: Location,
    /// Run by a compensation after a failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compensation: bool,
    /// The primitive's class when the effect was journaled; absent in journals written
    /// before classes existed. Informative only: nothing decides by a recorded class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<EffectClass>,
}

/// What an effect does to the world, declared by its primitive (`Primitive::class`).
/// Policy and resume decide by the registry's class, never by one read from a journal
/// (a journal is untrusted input and may claim anything); the journal's intent records
/// it only for people reading it. Lives with the journal so intents can embed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum EffectClass {
    /// Changes nothing anywhere (`now`, `http_check`, `wait_healthy`, `approve`, plan
    /// probes): performing it again is harmless, and a compensation has nothing of it to
    /// undo.
    Read,
    /// Tells people (`notify`): changes no system, but cannot be taken back, and a second
    /// one is seen. A compensation that notifies undoes nothing.
    Notify,
    /// Changes a system (`tag`, `helm_upgrade`, `backup`, `restore`, `promote_image`, ...):
    /// a compensation performing a write is taken to undo the run's finished writes.
    Write,
}

/// An effect about to be handed to the executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    #[serde(flatten)]
    pub effect: Effect,
    pub at: String,
}

/// An intent reads as the effect it announces (`intent.seq`, `intent.kind`).
impl std::ops::Deref for Intent {
    type Target = Effect;

    fn deref(&self) -> &Effect {
        &self.effect
    }
}

/// What came of an effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub seq: u64,
    pub kind: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: u64,
    /// Not performed: the result was taken from this earlier run's journal (resume).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed_from: Option<String>,
}

/// `print`, `debug`, `log`, `info`, `warn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub level: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Location>,
    pub at: String,
}

/// Last line: how the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footer {
    pub status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// After a second signal: the compensations that did not run (where each was registered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensations_not_run: Vec<String>,
    pub effects: u64,
    pub ended_at: String,
    pub duration_ms: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Refused by policy before or during the run.
    Refused,
    /// Stopped before an effect by its executor: a replay diverged, or an effect whose
    /// outcome was never recorded needs the operator's decision.
    Halted,
    /// SIGINT or SIGTERM stopped the run; its compensations ran (unless a second signal
    /// cut them short) and it can be resumed.
    Interrupted,
}
