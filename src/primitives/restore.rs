//! `restore`: a backup from the store back into its database or directory, only after
//! its sha256 matches the record and only where policy lets a restore write.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base::confined::{ConfiguredPath, ConfinedPath};
use crate::base::names::DatabaseName;
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::backup_store::{BackupRecord, Kind, Store, Temporary, all_stores, hash_file};
use crate::providers::{archive, postgres};

use super::backup::{archive_error, check_database, outside_help};

/// The restore primitive.
#[doc = include_str!("docs/restore.md")]
pub struct Restore;

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
            Err(error) if error.missing => {
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

    fn class(&self) -> EffectClass {
        EffectClass::Write
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

    fn refresh_probes(&self) -> bool {
        true
    }
}
