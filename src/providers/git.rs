//! Git, asked through git2: what a repository's work tree holds that is not committed
//! as it is. A protected run refuses such scripts and charts; a journal header records
//! the commit and whether the tree was dirty.

use std::path::{Path, PathBuf};

use crate::journal::RepoState;

/// The commit checked out in the repository holding `root`, and whether anything under
/// `root` is modified or untracked (ignoring `exclude`, the journal directory). `None`
/// outside a git repository.
pub fn repo_state(root: &Path, exclude: &Path) -> Option<RepoState> {
    let repository = git2::Repository::discover(root).ok()?;
    let workdir = repository.workdir()?.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    let commit =
        repository.head().ok().and_then(|head| head.peel_to_commit().ok()).map(|commit| commit.id().to_string());
    let prefix = root.strip_prefix(&workdir).ok()?.to_path_buf();
    let exclude =
        exclude.canonicalize().ok().and_then(|exclude| exclude.strip_prefix(&workdir).ok().map(Path::to_path_buf));
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    if !prefix.as_os_str().is_empty() {
        options.pathspec(prefix.to_string_lossy().as_ref());
    }
    let statuses = repository.statuses(Some(&mut options)).ok()?;
    let dirty = statuses.iter().any(|entry| {
        let Ok(path) = entry.path() else { return true };
        let excluded = exclude.as_ref().is_some_and(|exclude| Path::new(path).starts_with(exclude));
        !excluded && entry.status() != git2::Status::CURRENT
    });
    Some(RepoState { commit, dirty })
}

/// Of `files` (the script, its modules, shipctl.toml: every file a run reads), those
/// that are not committed exactly as they are, each with why, asked of git's own status
/// with ignored files included: a file in a git-ignored directory is not committed, and
/// neither is a file outside the repository (reached through a symlink, say).
pub fn uncommitted_files(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let Ok(repository) = git2::Repository::discover(root) else {
        return files.iter().map(|file| format!("{} (not in a git repository)", file.display())).collect();
    };
    let Some(workdir) = repository.workdir().and_then(|dir| dir.canonicalize().ok()) else {
        return files.iter().map(|file| format!("{} (the repository has no work tree)", file.display())).collect();
    };
    files
        .iter()
        .filter_map(|file| {
            uncommitted_reason(&repository, &workdir, file).map(|why| format!("{} ({why})", file.display()))
        })
        .collect()
}

/// Like [`uncommitted_files`] for paths a protected run hands to a program (a chart
/// directory, a values file): a directory is checked file by file, ignored and
/// untracked files included.
pub fn uncommitted_paths(root: &Path, paths: &[PathBuf]) -> Vec<String> {
    let Ok(repository) = git2::Repository::discover(root) else {
        return paths.iter().map(|path| format!("{} (not in a git repository)", path.display())).collect();
    };
    let Some(workdir) = repository.workdir().and_then(|dir| dir.canonicalize().ok()) else {
        return paths.iter().map(|path| format!("{} (the repository has no work tree)", path.display())).collect();
    };
    let mut found = Vec::new();
    for path in paths {
        if !path.is_dir() {
            found.extend(
                uncommitted_reason(&repository, &workdir, path).map(|why| format!("{} ({why})", path.display())),
            );
            continue;
        }
        let Some(relative) =
            path.canonicalize().ok().and_then(|real| real.strip_prefix(&workdir).ok().map(Path::to_path_buf))
        else {
            found.push(format!("{} (outside the git repository)", path.display()));
            continue;
        };
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(true)
            .recurse_ignored_dirs(true)
            .pathspec(relative.to_string_lossy().as_ref());
        let Ok(statuses) = repository.statuses(Some(&mut options)) else {
            found.push(format!("{} (git cannot tell its status)", path.display()));
            continue;
        };
        for entry in statuses.iter().filter(|entry| entry.status() != git2::Status::CURRENT) {
            let file = workdir.join(entry.path().unwrap_or_default());
            let why = if entry.status().contains(git2::Status::IGNORED) {
                "ignored by git"
            } else {
                "not committed as it is"
            };
            found.push(format!("{} ({why})", file.display()));
        }
    }
    found
}

/// Why `file` is not committed as it is, or `None` when it is.
fn uncommitted_reason(repository: &git2::Repository, workdir: &Path, file: &Path) -> Option<&'static str> {
    let Ok(real) = file.canonicalize() else {
        return Some("cannot be read");
    };
    let Ok(relative) = real.strip_prefix(workdir) else {
        return Some("outside the git repository");
    };
    let status = match repository.status_file(relative) {
        Ok(status) => status,
        Err(error) if error.code() == git2::ErrorCode::NotFound => return Some("not tracked by git"),
        Err(_) => return Some("git cannot tell its status"),
    };
    if status.is_empty() {
        return None;
    }
    Some(if status.contains(git2::Status::IGNORED) {
        "ignored by git, so not committed"
    } else if status.intersects(git2::Status::WT_NEW | git2::Status::INDEX_NEW) {
        "not committed"
    } else {
        "changed since the last commit"
    })
}
