//! `shipctl history`: the runs in a journal directory.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::reader::{Lines, parse_footer, parse_header};
use super::{JournalError, MAX_LINE_BYTES};

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

/// More than the longest line and its line break: the tail a footer is looked for in.
const TAIL: u64 = MAX_LINE_BYTES as u64 + 2;

fn summarize(path: &Path) -> Result<RunSummary, JournalError> {
    summarize_with_tail(path, TAIL)
}

/// The header from the first line, the status from the last line, found in the last
/// `tail` bytes: a listing reads at most two lines' worth of any journal.
fn summarize_with_tail(path: &Path, tail: u64) -> Result<RunSummary, JournalError> {
    let mut lines = Lines::open(path)?;
    let first = lines.next_line()?.map(|line| line.text).unwrap_or_default();
    let header =
        parse_header(&first).map_err(|message| JournalError::Invalid { path: path.to_path_buf(), line: 1, message })?;
    lines.skip_to_tail(tail)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"type":"header","format":1,"run_id":"20260101-000000-abcdef","mode":"run","product":"app","script":"release.rhai","script_sha256":"0000000000000000000000000000000000000000000000000000000000000000","root":"/r","repo":null,"shipctl_version":"0.1.0","environment":"local","params":{},"user":"u","host":"h","started_at":"2026-01-01T00:00:00.000Z"}"#;
    const FOOTER: &str = r#"{"type":"footer","status":"succeeded","effects":0,"ended_at":"2026-01-01T00:00:01.000Z","duration_ms":1000}"#;

    #[test]
    fn the_footer_is_found_in_the_tail_whatever_comes_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let log = r#"{"type":"log","level":"info","message":"x","at":"2026-01-01T00:00:00.500Z"}"#;
        let middle = vec![log; 200].join("\n");
        for (text, tail) in [
            (format!("{HEADER}\n{middle}\n{FOOTER}\n"), FOOTER.len() as u64 + 2),
            (format!("{HEADER}\n{middle}\n{FOOTER}"), FOOTER.len() as u64 + 2),
            (format!("{HEADER}\n{FOOTER}\n"), 10_000),
            (format!("{HEADER}\n{middle}\nnot json at all\n{FOOTER}\n"), 300),
        ] {
            std::fs::write(&path, &text).unwrap();
            let summary = summarize_with_tail(&path, tail).unwrap();
            assert_eq!(summary.status, "succeeded", "{tail}");
            assert_eq!(summary.duration_ms, Some(1000));
        }
        std::fs::write(&path, format!("{HEADER}\n{middle}\n")).unwrap();
        assert_eq!(summarize_with_tail(&path, 300).unwrap().status, "unfinished");
    }
}
