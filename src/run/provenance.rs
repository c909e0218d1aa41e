//! Who ran what, from where: the facts a journal header records.

use std::path::{Path, PathBuf};

use crate::journal::RepoState;

/// This build: `0.1.0 (4f2a9c1 2026-12-02)`, the version, commit and build date
/// `build.rs` found ("unknown" commit outside a git checkout).
pub const SHIPCTL_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("SHIPCTL_COMMIT"), " ", env!("SHIPCTL_BUILD_DATE"), ")");

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

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

/// Where `ast` imports a module by a computed path (`import name as m;` with `name` a
/// variable): such a module is found only while the script runs, so it cannot be
/// checked for being committed before the run starts.
pub fn computed_imports(ast: &rhai::AST) -> Vec<rhai::Position> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[rhai::ASTNode]| {
        if let Some(rhai::ASTNode::Stmt(rhai::Stmt::Import(import, position))) = path.last()
            && !matches!(import.0, rhai::Expr::StringConstant(..))
        {
            found.push(*position);
        }
        true
    });
    found
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

/// The files under `root` that make the tree dirty, for a refusal message.
pub fn dirty_files(root: &Path, exclude: &Path) -> Vec<String> {
    let Ok(repository) = git2::Repository::discover(root) else {
        return Vec::new();
    };
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let Ok(statuses) = repository.statuses(Some(&mut options)) else {
        return Vec::new();
    };
    let workdir = repository.workdir().and_then(|dir| dir.canonicalize().ok()).unwrap_or_default();
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let exclude = exclude.canonicalize().ok();
    statuses
        .iter()
        .filter_map(|entry| entry.path().ok().map(|path| workdir.join(path)))
        .filter(|path| path.starts_with(&root) && !exclude.as_ref().is_some_and(|exclude| path.starts_with(exclude)))
        .map(|path| path.strip_prefix(&root).unwrap_or(&path).display().to_string())
        .collect()
}
