//! `backup`: PostgreSQL dumps (`pg_dump`, verified with `pg_restore --list`) and tar.gz
//! archives of directories, kept in the environment's backup store with sha256 and
//! size, pruned to `[backups] keep`. `restore` (in `restore.rs`) shares the checks of
//! a database or directory argument and the wording of archive errors kept here.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::base::confined::{ConfiguredPath, ConfinedPath};
use crate::base::names::{DatabaseName, Label};
use crate::base::suggest::did_you_mean;
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::backup_store::{BackupRecord, Kind, RECORD_FORMAT, Store, Temporary, hash_file, new_id};
use crate::providers::{archive, postgres};

/// The backup primitive.
#[doc = include_str!("docs/backup.md")]
pub struct Backup;

/// Arguments of `backup`: exactly one of `postgres` or `files`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    pub postgres: Option<DatabaseName>,
    pub files: Option<String>,
    pub label: Option<Label>,
    pub format: Option<String>,
}

/// Result of `backup`.
#[derive(Debug, Serialize)]
pub struct BackupOutput {
    pub id: String,
    /// `postgres` or `files`.
    pub kind: &'static str,
    /// The database or directory as the script named it.
    pub source: String,
    /// The database (postgres) or the directory archived (files).
    pub database: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub label: String,
    pub environment: String,
    pub created_at: String,
    pub verified: bool,
    /// Older backups removed by `[backups] keep`.
    pub pruned: Vec<String>,
    /// What `plan --refresh` learned (`12.3 MiB now; would prune ...`), or
    /// `unknown (why)` when the database could not be reached; empty otherwise.
    pub summary: String,
}

/// What `backup` was asked to copy.
enum Source {
    Postgres(String),
    Files(String),
}

fn source(params: &BackupParams) -> Result<Source, EffectError> {
    match (&params.postgres, &params.files) {
        (Some(database), None) => Ok(Source::Postgres(database.to_string())),
        (None, Some(files)) => {
            if params.format.is_some() {
                return Err(EffectError::new("format applies to postgres backups; files backups are tar.gz"));
            }
            Ok(Source::Files(files.clone()))
        }
        _ => Err(EffectError::new("backup needs exactly one of postgres or files")
            .with_help("backup(#{ postgres: \"<database>\" }) or backup(#{ files: \"<directory>\" })")),
    }
}

/// `custom` (default) or `tar`, and the data file's extension.
fn dump_format(params: &BackupParams) -> Result<(&'static str, &'static str), EffectError> {
    match params.format.as_deref() {
        None | Some("custom") => Ok(("custom", "dump")),
        Some("tar") => Ok(("tar", "tar")),
        Some(other) => Err(EffectError::new(format!("unknown format \"{other}\" for a postgres backup")).with_help(
            "use \"custom\" (the default) or \"tar\": both are verified with pg_restore --list and restored with pg_restore",
        )),
    }
}

/// The directory a `files` argument names: a `[backups.paths]` entry (shipctl.toml
/// names it on purpose, anywhere), else a directory under the scripts root resolved
/// through [`ConfinedPath`] (no `..` out, no absolute path, no symlink out).
fn files_dir(name: &str, context: &EffectContext) -> Result<PathBuf, EffectError> {
    let path = match context.project.config.backups.paths.get(name) {
        Some(path) => ConfiguredPath::from_config(&context.project.root, path).into_path(),
        None => ConfinedPath::with_help(context.root(), "files", name, &outside_help(name, context))?.path(),
    };
    if !path.is_dir() {
        return Err(EffectError::new(format!("files \"{name}\": {} is not a directory", path.display())));
    }
    Ok(path.canonicalize().unwrap_or(path))
}

pub(super) fn outside_help(name: &str, context: &EffectContext) -> String {
    let paths = &context.project.config.backups.paths;
    match did_you_mean(name, paths.keys().map(String::as_str)) {
        Some(close) => format!("did you mean \"{close}\"?"),
        None => "name directories outside the scripts root in [backups.paths] in shipctl.toml".to_string(),
    }
}

/// Fails unless `database` names a `[databases.*]` entry or is a postgres URL without
/// password (checks config only: secrets are read when the backup runs).
pub(super) fn check_database(database: &str, context: &EffectContext) -> Result<(), EffectError> {
    if context.project.config.databases.contains_key(database) {
        return Ok(());
    }
    if database.contains("://") {
        return crate::config::check_database_url(database).map_err(|message| {
            EffectError::new(message)
                .with_help("declare the database as [databases.<name>] with password_secret, and name it instead")
        });
    }
    postgres::resolve(database, context).map(|_| ())
}

/// One live backup being taken: its params, context, store, time and label.
struct Job<'a> {
    params: &'a BackupParams,
    context: &'a EffectContext,
    store: &'a Store,
    created: SystemTime,
    label: String,
}

/// Dump the database `name` into a temporary file of the store, verify the dump lists
/// entries, and make its record. Also the database as shown.
fn dump_postgres(job: &Job<'_>, name: &str) -> Result<(BackupRecord, Temporary, String), EffectError> {
        let (format, extension) = dump_format(job.params)?;
        let database = postgres::resolve(name, job.context)?;
        let tools = postgres::Tools::new(job.context);
        let id = new_id(&database.display, &job.context.environment_name, job.created);
        let temporary = Temporary::new(job.store.temporary(&id, extension));
        job.context.progress(&format!("pg_dump {} ({format} format)", database.display));
        tools.dump(&database, format, temporary.path(), job.context)?;
        job.context.progress("verifying the dump with pg_restore --list");
        let entries = tools.list(temporary.path(), job.context)?;
        if entries == 0 {
            return Err(EffectError::new(format!("the dump of {} lists no entries", database.display)));
        }
        let (sha256, bytes) = hash_file(temporary.path())?;
        let record = BackupRecord {
            format: RECORD_FORMAT,
            file: format!("{id}.{extension}"),
            id,
            kind: Kind::Postgres,
            source: database.source.clone(),
            target: database.name.clone(),
            environment: job.context.environment_name.clone(),
            label: job.label.clone(),
            format_name: format.to_string(),
            sha256,
            bytes,
            created_at: crate::base::time::rfc3339(job.created),
            verified: true,
            run_id: job.context.run_id.clone(),
        };
        Ok((record, temporary, database.display))
}

/// Archive the files source `name` into a temporary file of the store, verify the
/// archive, and make its record.
fn archive_files(job: &Job<'_>, name: String) -> Result<(BackupRecord, Temporary, String), EffectError> {
        let dir = files_dir(&name, job.context)?;
        let store_dir = job.store.dir.canonicalize().unwrap_or_else(|_| job.store.dir.clone());
        if store_dir.starts_with(&dir) {
            return Err(EffectError::new(format!(
                "the backup store {} is inside {}, the directory to archive",
                job.store.dir.display(),
                dir.display()
            ))
            .with_help("archive a directory that does not hold the backups, or move [backups] dir"));
        }
        let id = new_id(&name, &job.context.environment_name, job.created);
        let temporary = Temporary::new(job.store.temporary(&id, "tar.gz"));
        job.context.progress(&format!("archiving {}", dir.display()));
        let archived = archive::create(&dir, temporary.path(), job.context.deadline())
            .and_then(|()| {
                job.context.progress("verifying the archive");
                archive::verify(temporary.path(), job.context.deadline())
            })
            .map_err(|error| archive_error(error, &format!("archiving {}", dir.display()), job.context));
        archived?;
        let (sha256, bytes) = hash_file(temporary.path())?;
        let record = BackupRecord {
            format: RECORD_FORMAT,
            file: format!("{id}.tar.gz"),
            id,
            kind: Kind::Files,
            source: name,
            target: dir.display().to_string(),
            environment: job.context.environment_name.clone(),
            label: job.label.clone(),
            format_name: "tar.gz".to_string(),
            sha256,
            bytes,
            created_at: crate::base::time::rfc3339(job.created),
            verified: true,
            run_id: job.context.run_id.clone(),
        };
        Ok((record, temporary, String::new()))
}

fn store_for(context: &EffectContext) -> Store {
    Store::new(context.project.backup_dir(&context.environment))
}

fn output(record: &BackupRecord, store: &Store, database: String, pruned: Vec<String>) -> BackupOutput {
    BackupOutput {
        id: record.id.clone(),
        kind: record.kind.as_str(),
        source: record.source.clone(),
        database,
        path: store.data_path(record).display().to_string(),
        sha256: record.sha256.clone(),
        bytes: record.bytes,
        label: record.label.clone(),
        environment: record.environment.clone(),
        created_at: record.created_at.clone(),
        verified: record.verified,
        pruned,
        summary: String::new(),
    }
}

/// Prune after a successful backup. A failure to prune does not undo a good backup:
/// it is reported, and the next backup tries again.
fn prune(store: &Store, record: &BackupRecord, context: &EffectContext) -> Vec<String> {
    let Some(keep) = context.project.config.backups.keep else {
        return Vec::new();
    };
    match store.prune(record, keep) {
        Ok(removed) => removed,
        Err(error) => {
            context.progress(&format!(
                "backup {} is made, but pruning older backups failed: {}",
                record.id, error.message
            ));
            Vec::new()
        }
    }
}

impl Primitive for Backup {
    type Params = BackupParams;
    type Output = BackupOutput;

    fn name(&self) -> &'static str {
        "backup"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/backup.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Write
    }

    fn validate(&self, params: &BackupParams, context: &EffectContext) -> Result<(), EffectError> {
        match source(params)? {
            Source::Postgres(database) => {
                dump_format(params)?;
                check_database(&database, context)
            }
            Source::Files(name) => files_dir(&name, context).map(|_| ()),
        }
    }

    fn live(&self, params: &BackupParams, context: &EffectContext) -> Result<BackupOutput, EffectError> {
        let store = store_for(context);
        store.prepare()?;
        let label = params.label.as_ref().map(ToString::to_string).unwrap_or_default();
        let job = Job { params, context, store: &store, created: SystemTime::now(), label };
        let (record, temporary, database) = match source(params)? {
            Source::Postgres(name) => dump_postgres(&job, &name)?,
            Source::Files(name) => archive_files(&job, name)?,
        };
        store.commit(temporary.path(), &record)?;
        temporary.keep();
        let pruned = prune(&store, &record, context);
        Ok(output(&record, &store, database, pruned))
    }

    fn plan(&self, params: &BackupParams, context: &EffectContext) -> Result<BackupOutput, EffectError> {
        let store = store_for(context);
        let created = SystemTime::now();
        let source = source(params)?;
        let (kind, source_name, extension) = match &source {
            Source::Postgres(name) => (Kind::Postgres, name.clone(), dump_format(params)?.1),
            Source::Files(name) => (Kind::Files, name.clone(), "tar.gz"),
        };
        let unmeasured = if kind == Kind::Postgres { source_name.clone() } else { String::new() };
        let (database, bytes, mut summary) = match measure(&source, context)? {
            None => (unmeasured, 0, String::new()),
            Some(Ok((database, bytes))) => (database, bytes, format!("{} now", bytes_in_words(bytes))),
            // What cannot be reached leaves the plan going, its size unknown.
            Some(Err(error)) => (unmeasured, 0, format!("unknown ({})", error.message)),
        };
        let id = new_id(if database.is_empty() { &source_name } else { &database }, &context.environment_name, created);
        let pruned = match context.project.config.backups.keep {
            Some(keep) if context.refresh => store.would_prune(kind, &source_name, &context.environment_name, keep),
            _ => Vec::new(),
        };
        if !pruned.is_empty() {
            summary.push_str(&format!("; would prune {}", pruned.join(", ")));
        }
        Ok(BackupOutput {
            path: store.dir.join(format!("{id}.{extension}")).display().to_string(),
            id,
            kind: kind.as_str(),
            source: source_name,
            database,
            sha256: String::new(),
            bytes,
            label: params.label.as_ref().map(ToString::to_string).unwrap_or_default(),
            environment: context.environment_name.clone(),
            created_at: crate::base::time::rfc3339(created),
            verified: false,
            pruned,
            summary,
        })
    }

    fn refresh_probes(&self) -> bool {
        true
    }
}

/// For `plan --refresh`: the database as resolved and its size, or the directory's size;
/// the inner error is a system that could not be reached (the plan goes on), the outer
/// one a configuration error. `None` without `--refresh`.
#[allow(clippy::type_complexity)]
fn measure(source: &Source, context: &EffectContext) -> Result<Option<Result<(String, u64), EffectError>>, EffectError> {
    if !context.refresh {
        return Ok(None);
    }
    Ok(Some(match source {
        Source::Postgres(name) => {
            let database = postgres::resolve(name, context)?;
            postgres::Tools::new(context).size(&database, context).map(|bytes| (database.display.clone(), bytes))
        }
        Source::Files(name) => {
            let dir = files_dir(name, context)?;
            directory_size(&dir, context).map(|bytes| (String::new(), bytes))
        }
    }))
}

/// `12.3 MiB`, `512 bytes`.
fn bytes_in_words(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Bytes in the regular files under `dir` (for `plan --refresh`), within the deadline.
/// Links are not followed, so a link loop is walked once.
fn directory_size(dir: &Path, context: &EffectContext) -> Result<u64, EffectError> {
    let mut total = 0;
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        context.check_deadline().map_err(|passed| EffectError {
            message: format!("{} while measuring {}", passed.message, dir.display()),
            ..passed
        })?;
        let Ok(entry) = entry else {
            continue;
        };
        if entry.file_type().is_file() {
            total += entry.metadata().map(|meta| meta.len()).unwrap_or(0);
        }
    }
    Ok(total)
}

/// An archive's error for the script. A passed deadline says so, with what it stopped
/// (`doing`: "archiving <dir>"); the partial file or directory goes with its `Temporary`.
pub(super) fn archive_error(error: archive::ArchiveError, doing: &str, context: &EffectContext) -> EffectError {
    match error {
        archive::ArchiveError::Failed(message) => EffectError::new(message),
        archive::ArchiveError::Deadline => {
            let passed =
                context.check_deadline().err().unwrap_or_else(|| EffectError::new("the run's deadline passed"));
            EffectError { message: format!("{} while {doing}", passed.message), ..passed }
        }
    }
}
