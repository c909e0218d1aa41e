//! `shipctl history --export <run> <dir>`: a run's journal copied into a directory of
//! the project (a test's `fixtures/`), every record redacted again with the project's
//! secrets as they are declared now.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::base::confined::ConfinedPath;
use crate::config::{Project, Redactor, SecretStore};
use crate::error::Error;
use crate::exit_codes;
use crate::journal::{Journal, Record, Recording, is_run_id, parse_journal, read_journal};

use super::output;
use super::run_ref::journal_path;

/// What an export did.
struct Exported {
    path: PathBuf,
    run_id: String,
    records: usize,
    warnings: Vec<String>,
}

/// `shipctl history --export <run> <dir> [--force]`.
pub fn export(root: &Path, run: &Path, dir: &Path, force: bool) -> i32 {
    match export_run(root, run, dir, force) {
        Ok(exported) => {
            for warning in &exported.warnings {
                output::err(&format!("warning: {warning}\n"));
            }
            output::outln(&format!(
                "exported run {} to {} ({} records, secrets redacted)",
                exported.run_id,
                exported.path.display(),
                exported.records
            ));
            exit_codes::SUCCESS
        }
        Err(error) => {
            output::print_error(&error);
            error.exit_code()
        }
    }
}

fn export_run(root: &Path, run: &Path, dir: &Path, force: bool) -> Result<Exported, Error> {
    let project = Project::discover(root)?;
    let source = journal_path(run, root)?;
    let journal = read_journal(&source)?;
    Recording::from_journal(&journal)?;
    let run_id = journal.header.run_id.clone();
    if !is_run_id(&run_id) {
        return Err(Error::usage(
            format!("{}: the run id {:?} is not one shipctl writes", source.display(), run_id),
            Some("export a journal shipctl wrote".to_string()),
        ));
    }
    let mut warnings = Vec::new();
    if journal.truncated {
        warnings.push("the journal's last line is cut off (the run died while writing it); it is left out".to_string());
    }
    let store = SecretStore::new(project.config.secrets.clone(), project.root.clone());
    for name in project.config.secrets.keys() {
        if store.shown(name) {
            warnings.push(format!(
                "secret \"{name}\" is declared with redact = false: its value is not redacted from the copy"
            ));
            continue;
        }
        if let Err(why) = store.get(name) {
            warnings.push(format!("{why}: its value cannot be redacted from the copy; check it holds none"));
        }
    }
    let text = redacted(&journal, &store.redactor())?;
    // The copy must read back as the journal it is, so a fixture replays as the run did.
    let copy = parse_journal(text.as_bytes(), &source)?;
    Recording::from_journal(&copy)?;
    let root = project.root.canonicalize().map_err(|source| Error::Io {
        action: "cannot read the scripts root",
        path: project.root.clone(),
        source,
    })?;
    let directory = export_dir(&root, dir)?;
    let target = ConfinedPath::new_file(&root, "the exported journal", &format!("{directory}/{run_id}.jsonl"))
        .map_err(|error| Error::usage(error.to_string(), Some(error.help)))?;
    if source.canonicalize().ok().as_deref() == Some(target.path().as_path()) {
        return Err(Error::usage(
            format!("{target} is the journal itself"),
            Some("export to another directory".to_string()),
        ));
    }
    write(&target, &text, force)?;
    Ok(Exported { path: target.path(), run_id, records: copy.records.len() + 1, warnings })
}

/// Every record of `journal` (the header first) as a JSON line, redacted.
fn redacted(journal: &Journal, redactor: &Redactor) -> Result<String, Error> {
    let header = Record::Header(journal.header.clone());
    let mut text = String::new();
    for record in std::iter::once(&header).chain(&journal.records) {
        let mut value = serde_json::to_value(record)
            .map_err(|error| Error::Internal(format!("cannot write a journal record: {error}")))?;
        redactor.redact_value(&mut value);
        text.push_str(&value.to_string());
        text.push('\n');
    }
    Ok(text)
}

fn refuse(dir: &Path, reason: &str) -> Error {
    Error::usage(
        format!("the export directory {} {reason}", dir.display()),
        Some("export into a directory inside the project (fixtures/, say)".to_string()),
    )
}

/// `dir` (relative to the current directory) as a directory inside the project root
/// `root` (canonical), created if it is missing, returned relative to `root`. What
/// exists of it is resolved (symlinks followed) and must lie inside the root; what is
/// missing must be plain names, each created in turn.
fn export_dir(root: &Path, dir: &Path) -> Result<String, Error> {
    let absolute = crate::config::absolute(dir);
    let mut existing = absolute.as_path();
    let mut missing = Vec::new();
    while std::fs::symlink_metadata(existing).is_err() {
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(Component::Normal(name))) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return Err(refuse(dir, "leads through a directory that does not exist")),
        }
    }
    let real = existing.canonicalize().map_err(|error| refuse(dir, &format!("cannot be resolved: {error}")))?;
    let Ok(inside) = real.strip_prefix(root) else {
        return Err(refuse(dir, &format!("lies outside the project root {}", root.display())));
    };
    let mut relative = inside.to_path_buf();
    let shown = |relative: &Path| {
        if relative.as_os_str().is_empty() { ".".to_string() } else { relative.display().to_string() }
    };
    let base = ConfinedPath::new(root, "the export directory", &shown(&relative))
        .map_err(|error| Error::usage(error.to_string(), Some(error.help)))?;
    if !base.is_dir() {
        return Err(refuse(dir, "is not a directory"));
    }
    for name in missing.into_iter().rev() {
        relative.push(name);
        // create_dir, not create_dir_all: each name is new, so nothing put in the way
        // (a symlink) is followed.
        std::fs::create_dir(root.join(&relative)).map_err(|source| Error::Io {
            action: "cannot create",
            path: root.join(&relative),
            source,
        })?;
    }
    let checked = ConfinedPath::new(root, "the export directory", &shown(&relative))
        .map_err(|error| Error::usage(error.to_string(), Some(error.help)))?;
    Ok(shown(checked.relative()))
}

/// Write `text` to `target`: a new file, or with `force` over a regular file there. A
/// symlink put in place since the check is not followed (`O_NOFOLLOW`).
fn write(target: &ConfinedPath, text: &str, force: bool) -> Result<(), Error> {
    let path = target.path();
    if let Ok(metadata) = std::fs::symlink_metadata(&path) {
        if !force {
            return Err(Error::usage(format!("{} exists", path.display()), Some("--force overwrites it".to_string())));
        }
        if !metadata.is_file() {
            return Err(Error::usage(format!("{} exists and is not a regular file", path.display()), None));
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let io = |source| Error::Io { action: "cannot write", path: path.clone(), source };
    let mut file = options.open(&path).map_err(io)?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io)
}
