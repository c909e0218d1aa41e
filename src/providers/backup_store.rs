//! The backup store: a directory holding each backup's data file next to a record of
//! it (`<id>.json`: what, where from, sha256, size, verification). A backup exists once
//! its record does; data is written under a hidden temporary name and renamed into
//! place only after it was verified, so nothing that looks like a good backup is ever
//! half-written.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::confined::{ConfiguredPath, is_plain_file_name};

/// The version of the record format. A newer one is refused with a clear message.
pub const RECORD_FORMAT: u32 = 1;

/// Prefix of the temporary names data is written under before it is verified.
pub const TEMPORARY_PREFIX: &str = ".partial-";

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A `pg_dump` archive of a PostgreSQL database.
    Postgres,
    /// A tar.gz archive of a directory.
    Files,
}

impl Kind {
    /// `postgres` or `files`, as results and listings show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Files => "files",
        }
    }
}

/// The record of one backup, `<id>.json` beside its data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupRecord {
    pub format: u32,
    pub id: String,
    pub kind: Kind,
    /// What was backed up, as the script named it: a `[databases.*]` name or a URL
    /// without password; a `[backups.paths]` name or a path under the scripts root.
    pub source: String,
    /// For files: the directory archived, absolute. For postgres: the database name.
    pub target: String,
    pub environment: String,
    pub label: String,
    /// The data file, relative to the store directory.
    pub file: String,
    /// `custom` or `tar` (pg_dump formats), `tar.gz` for files.
    pub format_name: String,
    pub sha256: String,
    pub bytes: u64,
    pub created_at: String,
    /// The archive was read back completely before it was renamed into place.
    pub verified: bool,
    /// The run that made it.
    pub run_id: String,
}

/// A failure of the store, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub message: String,
    pub help: Option<String>,
}

impl miette::Diagnostic for StoreError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::backup_store"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

impl StoreError {
    fn io(action: &str, path: &Path, error: &std::io::Error) -> StoreError {
        StoreError { message: format!("cannot {action} {}: {error}", path.display()), help: None }
    }
}

impl From<StoreError> for crate::effect::EffectError {
    fn from(error: StoreError) -> Self {
        let mut effect = crate::effect::EffectError::new(error.message);
        effect.help = error.help;
        effect
    }
}

/// One backup directory. Its place comes from shipctl.toml (`[backups] dir`, an
/// environment's `backup_dir`); everything inside it is found by plain file names,
/// and the records read back are checked before any of their fields names a file.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// The data file extensions a record of each kind may name.
fn extensions(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Postgres => &["dump", "tar"],
        Kind::Files => &["tar.gz"],
    }
}

/// A record read from disk is untrusted: its id must be the record's own file name, its
/// data file a plain name in the store made of that id and an extension of its kind, its
/// sha256 hex. Otherwise it could make retention delete, or restore read, any file.
fn check_record(record: &BackupRecord, file_stem: &str) -> Result<(), String> {
    if !is_plain_file_name(&record.id) || record.id != file_stem {
        return Err(format!("its id {:?} is not its file name ({file_stem}.json)", record.id));
    }
    let plain_data = is_plain_file_name(&record.file);
    let extension_ok = extensions(record.kind).iter().any(|extension| {
        record.file.strip_prefix(record.id.as_str()).and_then(|rest| rest.strip_prefix('.')) == Some(*extension)
    });
    if !plain_data || !extension_ok {
        return Err(format!(
            "its data file {:?} is not {}.<{}> in the backup directory",
            record.file,
            record.id,
            extensions(record.kind).join("|")
        ));
    }
    if record.sha256.len() != 64 || !record.sha256.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(format!("its sha256 {:?} is not 64 lowercase hex digits", record.sha256));
    }
    Ok(())
}

/// Is the entry at `path` a regular file (not a symlink, FIFO, socket, device or
/// directory)? Checked without following symlinks and before opening: a FIFO opened for
/// reading blocks until a writer appears.
fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_file())
}

impl Store {
    /// The store in `dir`, a directory shipctl.toml names (created on the first backup).
    pub fn new(dir: ConfiguredPath) -> Store {
        Store { dir: dir.into_path() }
    }

    /// Create the directory if needed and check that files can be created in it.
    pub fn prepare(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|error| StoreError {
            message: format!("cannot create the backup directory {}: {error}", self.dir.display()),
            help: Some(
                "fix the path or its permissions, or point [backups] dir (or the environment's backup_dir) elsewhere"
                    .into(),
            ),
        })?;
        if !self.dir.is_dir() {
            return Err(StoreError {
                message: format!("the backup directory {} is not a directory", self.dir.display()),
                help: Some("point [backups] dir (or the environment's backup_dir) at a directory".into()),
            });
        }
        Ok(())
    }

    /// A fresh temporary path in the store for data of `id` (hidden, never listed).
    pub fn temporary(&self, id: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{TEMPORARY_PREFIX}{id}.{extension}"))
    }

    /// The path of a data file named in a record. Records read from the store were
    /// checked (a plain file name made of the id); one made here is built the same way.
    pub fn data_path(&self, record: &BackupRecord) -> PathBuf {
        if !is_plain_file_name(&record.file) {
            // Unreachable for checked records; never join anything else.
            return self.dir.join(format!("{TEMPORARY_PREFIX}invalid"));
        }
        self.dir.join(&record.file)
    }

    /// The data file of `record`, when it is there as a regular file.
    pub fn data_file(&self, record: &BackupRecord) -> Result<PathBuf, StoreError> {
        let path = self.data_path(record);
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(StoreError {
                message: format!("the data of backup {} is gone: {} does not exist", record.id, path.display()),
                help: Some("restore another backup; `shipctl backups` shows their state".into()),
            });
        }
        if !is_regular_file(&path) {
            return Err(StoreError {
                message: format!("the data of backup {} ({}) is not a regular file", record.id, path.display()),
                help: Some("something replaced it (a symlink, a FIFO); restore another backup".into()),
            });
        }
        Ok(path)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Move verified data from `temporary` to its final name and write its record.
    /// The data is synced before the rename and the record after, so a crash leaves
    /// either no record or a complete backup.
    pub fn commit(&self, temporary: &Path, record: &BackupRecord) -> Result<(), StoreError> {
        let stem = record.id.clone();
        check_record(record, &stem).map_err(|problem| StoreError {
            message: format!("refusing to write backup record {}: {problem}", record.id),
            help: None,
        })?;
        let final_path = self.data_path(record);
        if final_path.exists() || self.record_path(&record.id).exists() {
            return Err(StoreError {
                message: format!("a backup with id {} already exists in {}", record.id, self.dir.display()),
                help: Some("run the backup again: ids carry the time to the millisecond".into()),
            });
        }
        sync_file(temporary)?;
        std::fs::rename(temporary, &final_path).map_err(|error| StoreError::io("rename into", &final_path, &error))?;
        let json = serde_json::to_vec_pretty(record)
            .map_err(|error| StoreError { message: format!("cannot encode the backup record: {error}"), help: None })?;
        let record_temporary = self.dir.join(format!("{TEMPORARY_PREFIX}{}.json", record.id));
        let written = write_synced(&record_temporary, &json)
            .and_then(|()| {
                std::fs::rename(&record_temporary, self.record_path(&record.id))
                    .map_err(|error| StoreError::io("rename into", &self.record_path(&record.id), &error))
            })
            .and_then(|()| sync_dir(&self.dir));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&record_temporary);
            let _ = std::fs::remove_file(&final_path);
            return Err(error);
        }
        Ok(())
    }

    /// Every backup recorded in this directory, oldest first. Unreadable records and
    /// leftovers of interrupted backups are returned as problems beside the good ones.
    pub fn list(&self) -> Result<(Vec<BackupRecord>, Vec<String>), StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(error) => return Err(StoreError::io("read", &self.dir, &error)),
        };
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMPORARY_PREFIX) {
                problems.push(format!(
                    "{} is left from a backup that was interrupted or is still running; it is not a backup \
                     (delete it once no backup runs)",
                    entry.path().display()
                ));
                continue;
            }
            if !name.ends_with(".json") || name.starts_with('.') {
                continue;
            }
            if !is_regular_file(&entry.path()) {
                problems.push(format!(
                    "{} is not a regular file (a symlink, FIFO or directory); it was skipped",
                    entry.path().display()
                ));
                continue;
            }
            match read_record(&entry.path()) {
                Ok(record) => records.push(record),
                Err(problem) => problems.push(problem),
            }
        }
        records.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        problems.sort();
        Ok((records, problems))
    }

    /// The backup with this id, if this store has it.
    pub fn find(&self, id: &str) -> Result<Option<BackupRecord>, StoreError> {
        if !is_plain_file_name(id) {
            return Ok(None);
        }
        let path = self.record_path(id);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        if !is_regular_file(&path) {
            return Err(StoreError {
                message: format!("the record of backup {id} ({}) is not a regular file", path.display()),
                help: Some("remove it: shipctl writes records as plain files".into()),
            });
        }
        read_record(&path).map(Some).map_err(|message| StoreError { message, help: None })
    }

    /// Delete the oldest backups of the same kind, source and environment as `newest`
    /// beyond `keep`. The record goes first, so a backup is never listed without its
    /// data. Returns the ids removed.
    pub fn prune(&self, newest: &BackupRecord, keep: u32) -> Result<Vec<String>, StoreError> {
        let (records, _) = self.list()?;
        let same: Vec<&BackupRecord> = records
            .iter()
            .filter(|record| {
                record.kind == newest.kind && record.source == newest.source && record.environment == newest.environment
            })
            .collect();
        let excess = same.len().saturating_sub(keep as usize);
        let mut removed = Vec::new();
        for record in same.into_iter().take(excess).filter(|record| record.id != newest.id) {
            let record_path = self.record_path(&record.id);
            std::fs::remove_file(&record_path).map_err(|error| StoreError::io("remove", &record_path, &error))?;
            // Checked when read: a plain name in this directory, made of the record's id.
            let data = self.data_path(record);
            match std::fs::remove_file(&data) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StoreError::io("remove", &data, &error)),
            }
            removed.push(record.id.clone());
        }
        Ok(removed)
    }

    /// Which backups a successful backup of `kind`/`source`/`environment` would prune.
    pub fn would_prune(&self, kind: Kind, source: &str, environment: &str, keep: u32) -> Vec<String> {
        let Ok((records, _)) = self.list() else {
            return Vec::new();
        };
        let same: Vec<&BackupRecord> = records
            .iter()
            .filter(|record| record.kind == kind && record.source == source && record.environment == environment)
            .collect();
        // The new backup counts as one of the kept.
        let excess = (same.len() + 1).saturating_sub(keep as usize);
        same.into_iter().take(excess).map(|record| record.id.clone()).collect()
    }
}

fn read_record(path: &Path) -> Result<BackupRecord, String> {
    let text =
        crate::base::files::read_regular(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| format!("{} is not a backup record: {error}", path.display()))?;
    let format = value.get("format").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if format > u64::from(RECORD_FORMAT) {
        return Err(format!(
            "{} was written by a newer shipctl (record format {format}, this one reads {RECORD_FORMAT})",
            path.display()
        ));
    }
    let record: BackupRecord =
        serde_json::from_value(value).map_err(|error| format!("{} is not a backup record: {error}", path.display()))?;
    let stem = path.file_name().and_then(|name| name.to_str()).and_then(|name| name.strip_suffix(".json"));
    check_record(&record, stem.unwrap_or_default())
        .map_err(|problem| format!("{} is not a valid backup record: {problem}; it was ignored", path.display()))?;
    Ok(record)
}

/// sha256 (hex) and size of a file, read in blocks.
pub fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut file = crate::base::files::open_regular(path).map_err(|error| StoreError::io("open", path, &error))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(|error| StoreError::io("read", path, &error))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    let digest = hasher.finalize();
    Ok((digest.iter().map(|byte| format!("{byte:02x}")).collect(), bytes))
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    File::open(path).and_then(|file| file.sync_all()).map_err(|error| StoreError::io("sync", path, &error))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = File::create(path).map_err(|error| StoreError::io("create", path, &error))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|error| StoreError::io("write", path, &error))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|file| file.sync_all()).map_err(|error| StoreError::io("sync", dir, &error))
}

/// Removes a temporary file when dropped, unless it was kept (renamed into place).
pub struct Temporary {
    path: Option<PathBuf>,
}

impl Temporary {
    /// Take charge of `path`, which may not exist yet.
    pub fn new(path: PathBuf) -> Temporary {
        Temporary { path: Some(path) }
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or_else(|| Path::new(""))
    }

    /// The file was moved away; nothing to clean up.
    pub fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if path.is_dir() {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// A name safe in a file name: letters, digits, `-`, `_`, `.`; anything else `_`.
pub fn slug(text: &str) -> String {
    let slug: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    let slug = slug.trim_matches(['.', '_']).to_string();
    if slug.is_empty() { "backup".to_string() } else { slug }
}

/// `<source>-<environment>-<YYYYMMDD>-<HHMMSS>-<millis>`: sortable by time within a
/// source, readable, unique to the millisecond.
pub fn new_id(source: &str, environment: &str, at: std::time::SystemTime) -> String {
    let stamp = humantime::format_rfc3339_millis(at).to_string();
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, rest) = digits.split_at(8.min(digits.len()));
    let (time, millis) = rest.split_at(6.min(rest.len()));
    format!("{}-{}-{date}-{time}-{millis}", slug(source), slug(environment))
}

/// Every backup store of the project: the environment's first, then `[backups] dir`,
/// then the other environments' `backup_dir`s.
pub fn all_stores(project: &crate::config::Project, first: Option<&crate::config::Environment>) -> Vec<Store> {
    let mut dirs: Vec<ConfiguredPath> = Vec::new();
    if let Some(environment) = first {
        dirs.push(project.backup_dir(environment));
    }
    dirs.push(ConfiguredPath::from_config(&project.root, &project.config.backups.dir));
    for environment in project.config.environments.values() {
        dirs.push(project.backup_dir(environment));
    }
    let mut unique: Vec<ConfiguredPath> = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique.into_iter().map(Store::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, created_at: &str) -> BackupRecord {
        BackupRecord {
            format: RECORD_FORMAT,
            id: id.to_string(),
            kind: Kind::Files,
            source: "uploads".into(),
            target: "/srv/uploads".into(),
            environment: "production".into(),
            label: String::new(),
            file: format!("{id}.tar.gz"),
            format_name: "tar.gz".into(),
            sha256: "0".repeat(64),
            bytes: 1,
            created_at: created_at.into(),
            verified: true,
            run_id: "r".into(),
        }
    }

    #[test]
    fn records_read_back_are_checked_before_their_fields_name_files() {
        let good = record("b1", "2026-01-01T00:00:00.000Z");
        assert!(check_record(&good, "b1").is_ok());
        let mut foreign = good.clone();
        foreign.file = "../../victim".into();
        assert!(check_record(&foreign, "b1").unwrap_err().contains("its data file"));
        foreign.file = "b2.tar.gz".into();
        assert!(check_record(&foreign, "b1").is_err(), "another backup's data file");
        foreign.file = "b1.dump".into();
        assert!(check_record(&foreign, "b1").is_err(), "an extension of another kind");
        let mut renamed = good.clone();
        renamed.id = "b2".into();
        assert!(check_record(&renamed, "b1").unwrap_err().contains("is not its file name"));
        let mut bad_sha = good;
        bad_sha.sha256 = "G".repeat(64);
        assert!(check_record(&bad_sha, "b1").unwrap_err().contains("sha256"));
    }

    #[test]
    fn ids_are_readable_and_safe() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123);
        assert_eq!(new_id("postgres://app@db/main", "prod", at), "postgres___app_db_main-prod-20261118-110640-123");
    }

    #[test]
    fn prune_keeps_the_newest_and_removes_record_then_data() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(ConfiguredPath::from_config(dir.path(), Path::new("")));
        let records: Vec<BackupRecord> =
            (1..=4).map(|n| record(&format!("b{n}"), &format!("2026-01-0{n}T00:00:00.000Z"))).collect();
        for record in &records {
            let temporary = store.temporary(&record.id, "tar.gz");
            std::fs::write(&temporary, b"x").unwrap();
            store.commit(&temporary, record).unwrap();
        }
        assert_eq!(store.would_prune(Kind::Files, "uploads", "production", 2), vec!["b1", "b2", "b3"]);
        let removed = store.prune(&records[3], 2).unwrap();
        assert_eq!(removed, vec!["b1", "b2"]);
        let (left, problems) = store.list().unwrap();
        assert!(problems.is_empty());
        assert_eq!(left.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["b3", "b4"]);
        assert!(!dir.path().join("b1.tar.gz").exists());
    }
}
