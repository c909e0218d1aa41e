//! A run named as `shipctl history` prints it: its run id, or a unique prefix of one
//! (as git takes a commit). The name is untrusted input: it must be a run id (letters,
//! digits, `-`, `_`; no `.`, no separator), and it resolves, through
//! [`ConfinedPath`], only to a regular file inside the journal directory.

use std::path::{Path, PathBuf};

use crate::base::confined::{ConfinedPath, PathError};

use super::JournalError;

/// The longest run id looked up (a generated one has 22 characters).
pub const MAX_RUN_ID: usize = 64;

/// At most this many candidates are named when a prefix is ambiguous.
const MAX_CANDIDATES: usize = 10;

/// Why a run id did not name one journal.
#[derive(Debug, thiserror::Error)]
pub enum RunLookupError {
    /// Not the shape of a run id (a path, `..`, a NUL, too long).
    #[error("\"{value}\" is not a run id: {reason}")]
    NotARunId { value: String, reason: &'static str },
    /// No journal's id starts with it.
    #[error("no run {id} in {}", dir.display())]
    Unknown { id: String, dir: PathBuf },
    /// Several journals' ids start with it (newest first, at most ten).
    #[error("run id prefix {prefix} names {count} runs: {}", candidates.join(", "))]
    Ambiguous { prefix: String, count: usize, candidates: Vec<String> },
    /// The journal found leads out of the journal directory, or is no regular file.
    #[error(transparent)]
    Refused(PathError),
    /// The journal directory cannot be listed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl RunLookupError {
    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            RunLookupError::NotARunId { .. } => {
                "a run id is letters, digits, - and _, as `shipctl history` prints it; a journal file is named by \
                 its path (ending in .jsonl)"
                    .to_string()
            }
            RunLookupError::Unknown { .. } => {
                "`shipctl history` lists the recorded runs; a journal elsewhere is named by its path (ending in .jsonl)"
                    .to_string()
            }
            RunLookupError::Ambiguous { .. } => "give more characters of the run id".to_string(),
            RunLookupError::Refused(error) => error.help.clone(),
            RunLookupError::Journal(_) => "check the journal directory's permissions".to_string(),
        }
    }
}

/// Why `value` is not a run id, if it is not one.
fn not_a_run_id(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it is empty");
    }
    if value.len() > MAX_RUN_ID {
        return Some("it is longer than a run id can be (64 characters)");
    }
    if value.starts_with('-') {
        return Some("it starts with -");
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Some("it holds characters other than letters, digits, - and _");
    }
    None
}

/// Is `value` shaped like a run id (what [`find_run`] accepts, and what a journal's
/// file name is made of)?
pub fn is_run_id(value: &str) -> bool {
    not_a_run_id(value).is_none()
}

/// The run ids of the journals in `dir`: `<id>.jsonl` files and symlinks whose `<id>`
/// is a run id, newest first (run ids sort by start time). A symlink is listed so that
/// one leading out is refused by name rather than reported missing.
fn run_ids(dir: &Path) -> Result<Vec<String>, JournalError> {
    let read_error = |source| JournalError::Read { path: dir.to_path_buf(), source };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(read_error(source)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        let Some(id) = entry.file_name().to_str().and_then(|name| name.strip_suffix(".jsonl")).map(str::to_string)
        else {
            continue;
        };
        let kind = entry.file_type().map_err(read_error)?;
        if is_run_id(&id) && (kind.is_file() || kind.is_symlink()) {
            ids.push(id);
        }
    }
    ids.sort_by(|a, b| b.cmp(a));
    Ok(ids)
}

/// The journal of run `id` (or of the one run whose id starts with `id`) in the journal
/// directory `dir`, resolved inside it: no `..`, no separator, no symlink out, a regular
/// file. An id matching a run exactly wins over longer ids it is a prefix of.
pub fn find_run(dir: &Path, id: &str) -> Result<ConfinedPath, RunLookupError> {
    if let Some(reason) = not_a_run_id(id) {
        let value: String = id.chars().take(MAX_RUN_ID + 1).collect();
        return Err(RunLookupError::NotARunId { value: value.escape_debug().to_string(), reason });
    }
    let ids = run_ids(dir)?;
    let found = match ids.iter().find(|candidate| *candidate == id) {
        Some(exact) => exact.clone(),
        None => {
            let matching: Vec<&String> = ids.iter().filter(|candidate| candidate.starts_with(id)).collect();
            match matching.as_slice() {
                [] => return Err(RunLookupError::Unknown { id: id.to_string(), dir: dir.to_path_buf() }),
                [one] => (*one).clone(),
                many => {
                    return Err(RunLookupError::Ambiguous {
                        prefix: id.to_string(),
                        count: many.len(),
                        candidates: many.iter().take(MAX_CANDIDATES).map(|id| id.to_string()).collect(),
                    });
                }
            }
        }
    };
    let help = "a run's journal must be a regular file inside the journal directory";
    let path = ConfinedPath::with_help(dir, "the journal of run", &format!("{found}.jsonl"), help)
        .map_err(RunLookupError::Refused)?;
    if !path.is_file() {
        return Err(RunLookupError::Refused(PathError {
            what: "the journal of run".to_string(),
            value: format!("{found}.jsonl"),
            reason: "is not a regular file".to_string(),
            help: help.to_string(),
            missing: false,
        }));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journals(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), "{}\n").unwrap();
        }
        dir
    }

    #[test]
    fn an_id_or_a_unique_prefix_names_one_journal() {
        let dir = journals(&["20260101-000000-aaaaaa.jsonl", "20260102-000000-bbbbbb.jsonl", "notes.txt"]);
        let found = find_run(dir.path(), "20260101-000000-aaaaaa").unwrap();
        assert_eq!(found.relative(), Path::new("20260101-000000-aaaaaa.jsonl"));
        let found = find_run(dir.path(), "20260102").unwrap();
        assert_eq!(found.relative(), Path::new("20260102-000000-bbbbbb.jsonl"));
        // An exact id wins over a longer id it is the prefix of.
        std::fs::write(dir.path().join("2026.jsonl"), "{}\n").unwrap();
        assert_eq!(find_run(dir.path(), "2026").unwrap().relative(), Path::new("2026.jsonl"));
    }

    #[test]
    fn an_ambiguous_or_unknown_id_says_what_to_do() {
        let dir = journals(&["20260101-000000-aaaaaa.jsonl", "20260102-000000-bbbbbb.jsonl"]);
        let error = find_run(dir.path(), "202601").unwrap_err();
        assert_eq!(
            error.to_string(),
            "run id prefix 202601 names 2 runs: 20260102-000000-bbbbbb, 20260101-000000-aaaaaa"
        );
        let error = find_run(dir.path(), "2027").unwrap_err();
        assert!(error.to_string().starts_with("no run 2027 in "), "{error}");
        assert!(error.help().contains("shipctl history"), "{}", error.help());
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(find_run(&empty.path().join("missing"), "2026"), Err(RunLookupError::Unknown { .. })));
    }

    #[test]
    fn hostile_ids_never_leave_the_journal_directory() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("stolen.jsonl"), "{}\n").unwrap();
        let dir = journals(&["20260101-000000-aaaaaa.jsonl"]);
        for id in ["..", ".", "../stolen", "/etc/passwd", "a/b", "a\\b", "2026\0", "", "-x", "20260101.jsonl", "*"] {
            let error = find_run(dir.path(), id).unwrap_err();
            assert!(matches!(error, RunLookupError::NotARunId { .. }), "{id:?}: {error}");
        }
        let long = "a".repeat(MAX_RUN_ID + 1);
        assert!(find_run(dir.path(), &long).unwrap_err().to_string().contains("longer than a run id"));

        std::os::unix::fs::symlink(outside.path().join("stolen.jsonl"), dir.path().join("stolen.jsonl")).unwrap();
        let error = find_run(dir.path(), "stolen").unwrap_err().to_string();
        assert!(error.contains("leads outside"), "{error}");

        std::fs::create_dir(dir.path().join("folder.jsonl")).unwrap();
        assert!(matches!(find_run(dir.path(), "folder"), Err(RunLookupError::Unknown { .. })));
        let fifo = dir.path().join("fifo.jsonl");
        crate::base::files::mkfifo(&fifo);
        assert!(matches!(find_run(dir.path(), "fifo"), Err(RunLookupError::Unknown { .. })));
        // A symlink to a FIFO inside: listed, then refused as no regular file.
        std::os::unix::fs::symlink("fifo.jsonl", dir.path().join("pipe.jsonl")).unwrap();
        let error = find_run(dir.path(), "pipe").unwrap_err().to_string();
        assert!(error.contains("is not a regular file"), "{error}");
    }
}
