//! The run record: one JSON Lines file per run. A header, then one record per step,
//! effect intent, effect outcome and log line, then a footer. Every record is flushed
//! and fsync'd before the effect it describes proceeds, so a crash leaves a journal
//! that says exactly how far the run got.

mod history;
mod lookup;
mod reader;
mod record;
mod recording;
mod validate;
mod writer;

pub use history::{RunSummary, list_runs};
pub use lookup::{MAX_RUN_ID, RunLookupError, find_run, is_run_id};
pub use reader::{Journal, parse_journal, read_journal};
pub use record::{
    Effect, EffectClass, FORMAT_VERSION, Footer, Header, Intent, LogRecord, Outcome, Record, RepoState, RunStatus,
    StepEvent, StepRecord,
};
pub use recording::{RecordedEffect, RecordedOutcome, Recording};
pub use validate::{MAX_LINE_BYTES, MAX_SEQ};
pub use writer::{JournalWriter, new_run_id};

use std::path::PathBuf;

/// A journal that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read the journal {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
}
