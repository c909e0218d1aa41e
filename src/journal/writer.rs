//! Appending records durably.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::JournalError;

/// Appends records to one run's journal, each fsync'd before `append` returns.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    buffer: Vec<u8>,
}

impl JournalWriter {
    /// Create `<dir>/<run_id>.jsonl`; the directory is created if needed. Never
    /// overwrites an existing journal.
    pub fn create(dir: &Path, run_id: &str) -> Result<JournalWriter, JournalError> {
        let path = dir.join(format!("{run_id}.jsonl"));
        let write_error = |source| JournalError::Write { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(write_error)?;
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(write_error)?;
        // The new file's directory entry must survive a crash too.
        File::open(dir).and_then(|directory| directory.sync_all()).map_err(write_error)?;
        Ok(JournalWriter { file, path, buffer: Vec::with_capacity(1024) })
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write one record as a line and make it durable.
    pub fn append(&mut self, record: &impl serde::Serialize) -> Result<(), JournalError> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, record)
            .map_err(|error| JournalError::Write { path: self.path.clone(), source: error.into() })?;
        self.buffer.push(b'\n');
        let result = self.file.write_all(&self.buffer).and_then(|()| self.file.sync_data());
        result.map_err(|source| JournalError::Write { path: self.path.clone(), source })
    }
}

/// A run id that sorts by start time and is unique enough for one journal directory
/// (the writer refuses to overwrite): `20261124-022715-3f9a1c`.
pub fn new_run_id() -> String {
    let now = SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(8.min(digits.len()));
    // RandomState is seeded randomly per process; mixing in the clock and pid makes
    // two runs started in the same second differ.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    hasher.write_u32(std::process::id());
    format!("{date}-{time}-{:06x}", hasher.finish() & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let first = new_run_id();
        let second = new_run_id();
        assert_eq!(first.len(), "20261124-022715-3f9a1c".len(), "{first}");
        assert_ne!(first, second);
    }
}
