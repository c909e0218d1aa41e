//! `shipctl history`: the runs in a journal directory.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::JournalError;
use super::reader::{Lines, parse_footer, parse_header};

/// One run, as listed by `shipctl history`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub mode: String,
    pub script: String,
    pub environment: String,
    /// `succeeded`, `failed`, `refused`, or `unfinished` when there is no footer (the
    /// run is going on, or the process died).
    pub status: String,
    pub started_at: String,
    pub duration_ms: Option<u64>,
    pub path: PathBuf,
}

/// Every journal in `dir`, newest first. Files that are not journals are skipped with
/// a warning on the log; so is anything that is not a regular file (a FIFO, a socket,
/// a symbolic link, a directory named `*.jsonl`), which is never opened.
pub fn list_runs(dir: &Path) -> Result<Vec<RunSummary>, JournalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError::Read { path: dir.to_path_buf(), source });
        }
    };
    let mut runs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| JournalError::Read { path: dir.to_path_buf(), source })?.path();
        if path.extension().and_then(|extension| extension.to_str()) != Some("jsonl") {
            continue;
        }
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.file_type().is_file());
        if !regular {
            tracing::warn!("skipping {}: not a regular file", path.display());
            continue;
        }
        match summarize(&path) {
            Ok(summary) => runs.push(summary),
            Err(error) => tracing::warn!("skipping {}: {error}", path.display()),
        }
    }
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| b.run_id.cmp(&a.run_id)));
    Ok(runs)
}

fn summarize(path: &Path) -> Result<RunSummary, JournalError> {
    let mut lines = Lines::open(path)?;
    let first = lines.next_line()?.map(|line| line.text).unwrap_or_default();
    let header =
        parse_header(&first).map_err(|message| JournalError::Invalid { path: path.to_path_buf(), line: 1, message })?;
    let mut last = None;
    while let Some(line) = lines.next_line()? {
        last = Some(line.text);
    }
    let footer = last.as_deref().and_then(parse_footer);
    let (status, duration_ms) = match footer {
        Some(footer) => (footer.status.to_string(), Some(footer.duration_ms)),
        None => ("unfinished".to_string(), None),
    };
    Ok(RunSummary {
        run_id: header.run_id,
        mode: header.mode,
        script: header.script,
        environment: header.environment,
        status,
        started_at: header.started_at,
        duration_ms,
        path: path.to_path_buf(),
    })
}
