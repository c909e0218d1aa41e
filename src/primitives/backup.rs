//! `backup` and `restore`: PostgreSQL dumps (`pg_dump`, verified with `pg_restore
//! --list`) and tar.gz archives of directories, kept in the environment's backup store
//! with sha256 and size, pruned to `[backups] keep`, restored only after the sha256
//! matches and only where policy lets a restore write.

pub mod archive;
pub mod postgres;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base::confined::{ConfiguredPath, ConfinedPath};
use crate::base::names::{DatabaseName, Label};
use crate::base::suggest::did_you_mean;
use crate::effect::{EffectContext, EffectError, Primitive};

use store::{BackupRecord, Kind, RECORD_FORMAT, Store, Temporary, hash_file, new_id};

/// The backup primitive.
#[doc = include_str!("docs/backup.md")]
pub struct Backup;

/// The restore primitive.
#[doc = include_str!("docs/restore.md")]
pub struct Restore;

/// Arguments of `backup`: exactly one of `postgres` or `files`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    #[serde(default)]
    pub postgres: Option<DatabaseName>,
    #[serde(default)]
    pub files: Option<String>,
    #[serde(default)]
    pub label: Option<Label>,
    #[serde(default)]
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
}

/// Which backup `restore` means: an id, or the map `backup` returned.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BackupRef {
    /// `restore(#{ backup: "catalogue-production-20261124-021512-345" })`
    Id(String),
    /// `restore(#{ backup: dump })` with what `backup` returned (its other fields are
    /// checked against the record where they matter: `sha256`).
    Result {
        id: String,
        #[serde(flatten)]
        rest: serde_json::Map<String, Value>,
    },
}

impl BackupRef {
    fn id(&self) -> &str {
        match self {
            BackupRef::Id(id) | BackupRef::Result { id, .. } => id,
        }
    }

    fn field(&self, name: &str) -> Option<&str> {
        match self {
            BackupRef::Id(_) => None,
            BackupRef::Result { rest, .. } => rest.get(name).and_then(Value::as_str),
        }
    }
}

/// Arguments of `restore`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreParams {
    pub backup: BackupRef,
    #[serde(default)]
    pub postgres: Option<DatabaseName>,
}

/// Result of `restore`.
#[derive(Debug, Serialize)]
pub struct RestoreOutput {
    pub id: String,
    pub kind: &'static str,
    /// Where it was restored: the database, or the directory.
    pub target: String,
    pub sha256: String,
    pub bytes: u64,
    pub restored: bool,
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

fn outside_help(name: &str, context: &EffectContext) -> String {
    let paths = &context.project.config.backups.paths;
    match did_you_mean(name, paths.keys().map(String::as_str)) {
        Some(close) => format!("did you mean \"{close}\"?"),
        None => "name directories outside the scripts root in [backups.paths] in shipctl.toml".to_string(),
    }
}

/// Where a files backup of `source` is restored to, from config and the scripts root as
/// they are now, never from the record alone (records on disk are untrusted): a
/// `[backups.paths]` entry, else a directory inside the scripts root (which may be gone,
/// then its parent must be inside). The record's target must agree.
fn restore_target(record: &BackupRecord, context: &EffectContext) -> Result<PathBuf, EffectError> {
    let source = record.source.as_str();
    let target = match context.project.config.backups.paths.get(source) {
        Some(path) => ConfiguredPath::from_config(&context.project.root, path).into_path(),
        None => match ConfinedPath::with_help(context.root(), "files", source, &outside_help(source, context)) {
            Ok(path) => path.path(),
            Err(error) if error.reason.starts_with("does not exist") => {
                ConfinedPath::new_file(context.root(), "files", source)?.path()
            }
            Err(error) => return Err(error.into()),
        },
    };
    let canonical = target.canonicalize().unwrap_or_else(|_| target.clone());
    let recorded = Path::new(&record.target);
    let recorded = recorded.canonicalize().unwrap_or_else(|_| recorded.to_path_buf());
    if canonical != recorded {
        return Err(EffectError::new(format!(
            "backup {} records its target as {}, but its source \"{source}\" is {} now; refusing to restore",
            record.id,
            record.target,
            canonical.display()
        ))
        .with_help(
            "a record's target is not trusted on its own: restore a backup whose source still names that directory",
        ));
    }
    Ok(target)
}

/// Fails unless `database` names a `[databases.*]` entry or is a postgres URL without
/// password (checks config only: secrets are read when the backup runs).
fn check_database(database: &str, context: &EffectContext) -> Result<(), EffectError> {
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

fn store_for(context: &EffectContext) -> Store {
    Store::new(context.project.backup_dir(&context.environment))
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

fn find(id: &str, context: &EffectContext) -> Result<Option<(Store, BackupRecord)>, EffectError> {
    for store in all_stores(&context.project, Some(&context.environment)) {
        if let Some(record) = store.find(id)? {
            return Ok(Some((store, record)));
        }
    }
    Ok(None)
}

fn not_found(id: &str, context: &EffectContext) -> EffectError {
    let dirs: Vec<String> = all_stores(&context.project, Some(&context.environment))
        .iter()
        .map(|store| store.dir.display().to_string())
        .collect();
    EffectError::new(format!("no backup \"{id}\" in {}", dirs.join(", ")))
        .with_help("`shipctl backups` lists the backups shipctl knows")
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
        let created = SystemTime::now();
        let label = params.label.as_ref().map(ToString::to_string).unwrap_or_default();
        let (record, temporary, database) = match source(params)? {
            Source::Postgres(name) => {
                let (format, extension) = dump_format(params)?;
                let database = postgres::resolve(&name, context)?;
                let tools = postgres::Tools::new(context);
                let id = new_id(&database.display, &context.environment_name, created);
                let temporary = Temporary::new(store.temporary(&id, extension));
                context.progress(&format!("pg_dump {} ({format} format)", database.display));
                tools.dump(&database, format, temporary.path(), context)?;
                context.progress("verifying the dump with pg_restore --list");
                let entries = tools.list(temporary.path(), context)?;
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
                    environment: context.environment_name.clone(),
                    label,
                    format_name: format.to_string(),
                    sha256,
                    bytes,
                    created_at: crate::base::time::rfc3339(created),
                    verified: true,
                    run_id: context.run_id.clone(),
                };
                (record, temporary, database.display)
            }
            Source::Files(name) => {
                let dir = files_dir(&name, context)?;
                let store_dir = store.dir.canonicalize().unwrap_or_else(|_| store.dir.clone());
                if store_dir.starts_with(&dir) {
                    return Err(EffectError::new(format!(
                        "the backup store {} is inside {}, the directory to archive",
                        store.dir.display(),
                        dir.display()
                    ))
                    .with_help("archive a directory that does not hold the backups, or move [backups] dir"));
                }
                let id = new_id(&name, &context.environment_name, created);
                let temporary = Temporary::new(store.temporary(&id, "tar.gz"));
                context.progress(&format!("archiving {}", dir.display()));
                let archived = archive::create(&dir, temporary.path(), context.deadline())
                    .and_then(|()| {
                        context.progress("verifying the archive");
                        archive::verify(temporary.path(), context.deadline())
                    })
                    .map_err(|error| archive_error(error, &format!("archiving {}", dir.display()), context));
                archived?;
                let (sha256, bytes) = hash_file(temporary.path())?;
                let record = BackupRecord {
                    format: RECORD_FORMAT,
                    file: format!("{id}.tar.gz"),
                    id,
                    kind: Kind::Files,
                    source: name,
                    target: dir.display().to_string(),
                    environment: context.environment_name.clone(),
                    label,
                    format_name: "tar.gz".to_string(),
                    sha256,
                    bytes,
                    created_at: crate::base::time::rfc3339(created),
                    verified: true,
                    run_id: context.run_id.clone(),
                };
                (record, temporary, String::new())
            }
        };
        store.commit(temporary.path(), &record)?;
        temporary.keep();
        let pruned = prune(&store, &record, context);
        Ok(output(&record, &store, database, pruned))
    }

    fn plan(&self, params: &BackupParams, context: &EffectContext) -> Result<BackupOutput, EffectError> {
        let store = store_for(context);
        let created = SystemTime::now();
        let (kind, source_name, database, extension, bytes) = match source(params)? {
            Source::Postgres(name) => {
                let (_, extension) = dump_format(params)?;
                let (display, bytes) = if context.refresh {
                    let database = postgres::resolve(&name, context)?;
                    let bytes = postgres::Tools::new(context).size(&database, context)?;
                    (database.display, bytes)
                } else {
                    (name.clone(), 0)
                };
                (Kind::Postgres, name, display, extension, bytes)
            }
            Source::Files(name) => {
                let bytes = if context.refresh { directory_size(&files_dir(&name, context)?, context)? } else { 0 };
                (Kind::Files, name, String::new(), "tar.gz", bytes)
            }
        };
        let id = new_id(if database.is_empty() { &source_name } else { &database }, &context.environment_name, created);
        let pruned = match context.project.config.backups.keep {
            Some(keep) if context.refresh => store.would_prune(kind, &source_name, &context.environment_name, keep),
            _ => Vec::new(),
        };
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
        })
    }
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

/// The sha256 and size of the data are what was recorded, and the result map (if one
/// was passed) names the same backup.
fn check_integrity(store: &Store, record: &BackupRecord, reference: &BackupRef) -> Result<(), EffectError> {
    if let Some(sha256) = reference.field("sha256")
        && !sha256.is_empty()
        && sha256 != record.sha256
    {
        return Err(EffectError::new(format!(
            "backup {} is recorded with sha256 {}, but the map passed to restore says {sha256}",
            record.id, record.sha256
        )));
    }
    let path = store.data_file(record)?;
    let (sha256, bytes) = hash_file(&path)?;
    if sha256 != record.sha256 || bytes != record.bytes {
        return Err(EffectError::new(format!(
            "backup {} was modified after it was written: {} has sha256 {sha256} ({bytes} bytes), \
             recorded {} ({} bytes); refusing to restore it",
            record.id,
            path.display(),
            record.sha256,
            record.bytes
        ))
        .with_help("restore another backup; `shipctl backups --verify` checks every one"));
    }
    Ok(())
}

/// Replace `target` with the archive's contents: extract beside it, then swap, so a
/// failed extraction leaves the directory as it was.
fn restore_files(store: &Store, record: &BackupRecord, context: &EffectContext) -> Result<PathBuf, EffectError> {
    let target = restore_target(record, context)?;
    let parent =
        target.parent().ok_or_else(|| EffectError::new(format!("cannot restore into {}", target.display())))?;
    let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    std::fs::create_dir_all(parent)
        .map_err(|error| EffectError::new(format!("cannot create {}: {error}", parent.display())))?;
    let staging = Temporary::new(parent.join(format!(".{name}.restore-{}", record.id)));
    let _ = std::fs::remove_dir_all(staging.path());
    std::fs::create_dir(staging.path())
        .map_err(|error| EffectError::new(format!("cannot create {}: {error}", staging.path().display())))?;
    archive::extract(&store.data_path(record), staging.path(), context.deadline())
        .map_err(|error| archive_error(error, &format!("extracting into {}", target.display()), context))?;
    let previous = Temporary::new(parent.join(format!(".{name}.replaced-{}", record.id)));
    let _ = std::fs::remove_dir_all(previous.path());
    let existed = target.exists();
    if existed {
        std::fs::rename(&target, previous.path())
            .map_err(|error| EffectError::new(format!("cannot move {} aside: {error}", target.display())))?;
    }
    if let Err(error) = std::fs::rename(staging.path(), &target) {
        if existed {
            let _ = std::fs::rename(previous.path(), &target);
        }
        return Err(EffectError::new(format!("cannot put the restored files in {}: {error}", target.display())));
    }
    staging.keep();
    Ok(target)
}

impl Primitive for Restore {
    type Params = RestoreParams;
    type Output = RestoreOutput;

    fn name(&self) -> &'static str {
        "restore"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/restore.md")
    }

    fn validate(&self, params: &RestoreParams, context: &EffectContext) -> Result<(), EffectError> {
        if params.backup.id().is_empty() {
            return Err(EffectError::new("restore needs the id of a backup (or the map backup returned)"));
        }
        if let Some(database) = &params.postgres {
            check_database(database, context)?;
        }
        let environment = &context.environment;
        if environment.protected && !environment.allow_restore {
            return Err(EffectError::refused(format!(
                "restore into protected environment \"{}\" is not allowed",
                context.environment_name
            ))
            .with_help(format!(
                "a restore overwrites live data: set allow_restore = true in [environments.{}] to allow it",
                context.environment_name
            )));
        }
        Ok(())
    }

    fn live(&self, params: &RestoreParams, context: &EffectContext) -> Result<RestoreOutput, EffectError> {
        let id = params.backup.id();
        let (store, record) = find(id, context)?.ok_or_else(|| not_found(id, context))?;
        context.progress(&format!("checking the sha256 of {id}"));
        check_integrity(&store, &record, &params.backup)?;
        let target = match record.kind {
            Kind::Postgres => {
                // A record read back from disk is untrusted: its source must be a
                // database name like one a script may give.
                let name = match &params.postgres {
                    Some(name) => name.clone(),
                    None => DatabaseName::new(record.source.clone()).map_err(|error| {
                        EffectError::new(format!("backup {id} records a source that is not a database: {error}"))
                    })?,
                };
                let database = postgres::resolve(&name, context)?;
                context.progress(&format!("pg_restore into {}", database.display));
                postgres::Tools::new(context).restore(&database, &store.data_path(&record), context)?;
                database.display
            }
            Kind::Files => {
                if params.postgres.is_some() {
                    return Err(EffectError::new(format!("backup {id} is of files; postgres does not apply")));
                }
                context.progress(&format!("extracting into {}", record.target));
                restore_files(&store, &record, context)?.display().to_string()
            }
        };
        Ok(RestoreOutput {
            id: record.id.clone(),
            kind: record.kind.as_str(),
            target,
            sha256: record.sha256.clone(),
            bytes: record.bytes,
            restored: true,
        })
    }

    fn plan(&self, params: &RestoreParams, context: &EffectContext) -> Result<RestoreOutput, EffectError> {
        let id = params.backup.id();
        let found = find(id, context)?;
        if context.refresh {
            let Some((store, record)) = &found else {
                return Err(not_found(id, context));
            };
            check_integrity(store, record, &params.backup)?;
        }
        let kind = match (&found, params.backup.field("kind"), &params.postgres) {
            (Some((_, record)), _, _) => record.kind.as_str(),
            (None, Some("files"), None) => "files",
            _ => "postgres",
        };
        let target = match (&params.postgres, &found) {
            (Some(database), _) => database.to_string(),
            (None, Some((_, record))) if record.kind == Kind::Postgres => record.source.clone(),
            (None, Some((_, record))) => record.target.clone(),
            (None, None) => params.backup.field("source").unwrap_or_default().to_string(),
        };
        let (sha256, bytes) = match &found {
            Some((_, record)) => (record.sha256.clone(), record.bytes),
            None => (params.backup.field("sha256").unwrap_or_default().to_string(), 0),
        };
        Ok(RestoreOutput { id: id.to_string(), kind, target, sha256, bytes, restored: true })
    }
}

/// An archive's error for the script. A passed deadline says so, with what it stopped
/// (`doing`: "archiving <dir>"); the partial file or directory goes with its `Temporary`.
fn archive_error(error: archive::ArchiveError, doing: &str, context: &EffectContext) -> EffectError {
    match error {
        archive::ArchiveError::Failed(message) => EffectError::new(message),
        archive::ArchiveError::Deadline => {
            let passed =
                context.check_deadline().err().unwrap_or_else(|| EffectError::new("the run's deadline passed"));
            EffectError { message: format!("{} while {doing}", passed.message), ..passed }
        }
    }
}
