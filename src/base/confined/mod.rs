//! The only way outside input becomes a path.
//!
//! What a script, a journal, a backup record, a test file or an environment's name
//! says about a file is untrusted: it becomes a [`ConfinedPath`], which resolves it
//! inside the scripts root and refuses `..` that leads out, absolute paths and symlinks
//! that leave the root. What shipctl.toml names on purpose (`[repos]` paths,
//! `[backups.paths]`, `pg_bin`, `[helm] bin`, the backup directory, a kubeconfig) may
//! lie anywhere: it becomes a [`ConfiguredPath`], whose single constructor says so in
//! its name. A name that becomes part of a file name goes through
//! [`encode_file_name`] and is never joined raw.
//!
//! Resolution is done by `cap-std` (`Dir::canonicalize` on a handle of the root),
//! which walks the path one component at a time below that handle and refuses any
//! step out of it. Files shipctl itself reads or deletes are opened the same way,
//! relative to the root's handle ([`ConfinedPath::read_to_string`],
//! [`ConfinedPath::remove_file`]), so a symlink swapped in after the check cannot lead
//! out either. A path handed to another program (helm, git) is the resolved absolute
//! path, with every symlink already followed.
//!
//! A directory another program reads whole (a chart helm renders, following every
//! symlink in it) is taken with [`ConfinedPath::tree_with_help`]: the directory is
//! walked below the root's handle without following symlinks, and each symlink found
//! must resolve inside the root by the same `cap-std` resolution; a symlink to a
//! directory inside the root has that directory walked too, once.

use std::collections::HashSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

mod configured;
mod file_name;
#[cfg(test)]
mod tests;

pub use configured::ConfiguredPath;
pub use file_name::{encode_file_name, is_plain_file_name};

/// Why outside input was refused as a path: the value, what it was meant to be, the
/// reason and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// What the value names, as the user knows it (`values file`, `repo`, `script`).
    pub what: String,
    /// The value as it was given.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
    /// What to do instead.
    pub help: String,
    /// Refused because nothing is there (rather than because of where it leads): a
    /// caller that may create it can tell without reading `reason`.
    pub missing: bool,
}

impl fmt::Display for PathError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} \"{}\" {}", self.what, self.value, self.reason)
    }
}

impl std::error::Error for PathError {}

impl miette::Diagnostic for PathError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::path"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.help.as_str()))
    }
}

/// A path inside the scripts root, resolved: no `..`, no symlink; it exists, or (for
/// [`ConfinedPath::new_file`]) its parent directory does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedPath {
    /// The scripts root, canonical.
    root: PathBuf,
    /// The path below the root, canonical, never empty for a file.
    relative: PathBuf,
}

/// What a path from outside is checked against, and how it is described in errors.
struct Request<'a> {
    root: &'a Path,
    what: &'a str,
    value: &'a str,
    help: &'a str,
}

impl Request<'_> {
    fn refuse(&self, reason: String) -> PathError {
        let (what, value, help) = (self.what.to_string(), self.value.to_string(), self.help.to_string());
        PathError { what, value, reason, help, missing: false }
    }

    fn open_root(&self) -> Result<(PathBuf, Dir), PathError> {
        let canonical = self.root.canonicalize().map_err(|error| {
            self.refuse(format!("cannot be checked: the scripts root {} is unreadable ({error})", self.root.display()))
        })?;
        let dir = Dir::open_ambient_dir(&canonical, ambient_authority()).map_err(|error| {
            self.refuse(format!(
                "cannot be checked: the scripts root {} cannot be opened ({error})",
                canonical.display()
            ))
        })?;
        Ok((canonical, dir))
    }

    /// Refuse what is wrong before looking at the disk: empty, NUL, absolute, `..` out.
    fn lexical(&self, base: &Path, value: &Path) -> Result<PathBuf, PathError> {
        if self.value.is_empty() {
            return Err(self.refuse("is empty".to_string()));
        }
        if self.value.contains('\0') {
            return Err(self.refuse("holds a NUL character".to_string()));
        }
        if value.is_absolute() || value.has_root() {
            return Err(self.refuse(format!(
                "is an absolute path; only paths inside the scripts root {} are allowed, written relative to it",
                self.root.display()
            )));
        }
        let mut normal: Vec<&std::ffi::OsStr> = Vec::new();
        for component in base.components().chain(value.components()) {
            match component {
                Component::Normal(part) => normal.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if normal.pop().is_none() {
                        return Err(self
                            .refuse(format!("leads outside the scripts root {} through \"..\"", self.root.display())));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.refuse("is an absolute path".to_string()));
                }
            }
        }
        Ok(normal.iter().collect())
    }

    /// Resolve `relative` below `dir`, following symlinks only while they stay inside.
    fn resolve(&self, dir: &Dir, relative: &Path) -> Result<PathBuf, PathError> {
        canonical_below(dir, relative).map_err(|unresolved| match unresolved {
            Unresolved::Missing => PathError {
                missing: true,
                ..self.refuse(format!("does not exist under the scripts root {}", self.root.display()))
            },
            Unresolved::Outside => {
                self.refuse(format!("leads outside the scripts root {} through a symlink", self.root.display()))
            }
            Unresolved::Other(error) => {
                self.refuse(format!("cannot be resolved under the scripts root {}: {error}", self.root.display()))
            }
        })
    }
}

/// Why a path did not resolve below the root's handle.
enum Unresolved {
    /// It, or what a symlink on the way points to, does not exist.
    Missing,
    /// A `..` or a symlink on the way leads out of the root.
    Outside,
    /// Anything else (permissions, a symlink loop).
    Other(std::io::Error),
}

/// `relative` resolved below `dir` (the root's handle) by `cap-std`, which follows
/// symlinks one component at a time and refuses any step out of `dir`. The one
/// confinement test every path from outside, and every symlink in a walked tree, passes.
fn canonical_below(dir: &Dir, relative: &Path) -> Result<PathBuf, Unresolved> {
    if relative.as_os_str().is_empty() {
        return Ok(PathBuf::new());
    }
    dir.canonicalize(relative).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Unresolved::Missing,
        // cap-std's refusal of a step out of the root (`escape_attempt` in cap-primitives,
        // crate-private, no type of its own) is a PermissionDenied made by cap-std, so it
        // carries no OS error code; a PermissionDenied from the OS (EACCES) carries one.
        std::io::ErrorKind::PermissionDenied if error.raw_os_error().is_none() => Unresolved::Outside,
        _ => Unresolved::Other(error),
    })
}

/// `relative` as a path `cap-std` opens below the root's handle: the root itself is `.`.
fn below(relative: &Path) -> &Path {
    if relative.as_os_str().is_empty() { Path::new(".") } else { relative }
}

/// A path below the root as errors show it: `/`-separated, the root itself as `.`.
fn shown(relative: &Path) -> String {
    below(relative).display().to_string()
}

/// The symlink at `path` (below the root) as errors show it: `templates/a.yaml -> /etc/x`.
fn link_shown(dir: &Dir, path: &Path) -> String {
    match dir.read_link_contents(path) {
        Ok(target) => format!("{} -> {}", shown(path), target.display()),
        Err(_) => shown(path),
    }
}

/// The most entries (files, directories, symlinks) [`ConfinedPath::tree_with_help`]
/// looks at: a larger tree is refused rather than walked for long.
pub const MAX_TREE_ENTRIES: usize = 10_000;

/// The deepest directory [`ConfinedPath::tree_with_help`] walks into, counted from the
/// tree's top (a directory reached through a symlink counts one below the symlink).
pub const MAX_TREE_DEPTH: usize = 32;

const TREE_HELP: &str = "every file in it must lie inside the scripts root, as the program reading it follows \
     symlinks: replace a symlink that leads out with a copy of what it points to, or point it at a file inside \
     the scripts root";

/// What to do about a tree too large or too deep to walk.
fn tree_size_help() -> String {
    format!(
        "shipctl checks at most {MAX_TREE_ENTRIES} entries, {MAX_TREE_DEPTH} directories deep, for symlinks that \
         lead out; remove what the program does not need (build output, vendored trees), or package it (a chart: \
         `helm package`) and name the archive"
    )
}

const HELP: &str =
    "name a file inside the scripts root, relative to it; a path outside it must be declared in shipctl.toml";

impl ConfinedPath {
    /// `value`, relative to the scripts `root`: an existing file or directory inside it.
    /// `what` names the value in errors (`values file`, `script`).
    pub fn new(root: &Path, what: &str, value: &str) -> Result<ConfinedPath, PathError> {
        ConfinedPath::within(root, Path::new(""), what, value)
    }

    /// `value`, relative to `base` (a directory below `root`, itself relative to it):
    /// an existing file or directory inside `root`. A test file names its script
    /// relative to its own directory.
    pub fn within(root: &Path, base: &Path, what: &str, value: &str) -> Result<ConfinedPath, PathError> {
        ConfinedPath::checked(Request { root, what, value, help: HELP }, base)
    }

    /// Like [`ConfinedPath::new`], with the help text a caller knows better.
    pub fn with_help(root: &Path, what: &str, value: &str, help: &str) -> Result<ConfinedPath, PathError> {
        ConfinedPath::checked(Request { root, what, value, help }, Path::new(""))
    }

    /// A file that may not exist yet (a lock file, a file about to be written): its
    /// parent must exist inside `root`; its own name must be a plain name.
    pub fn new_file(root: &Path, what: &str, value: &str) -> Result<ConfinedPath, PathError> {
        let request = Request { root, what, value, help: HELP };
        let relative = request.lexical(Path::new(""), Path::new(value))?;
        let Some(name) = relative.file_name().map(PathBuf::from) else {
            return Err(request.refuse("names no file".to_string()));
        };
        let (canonical_root, dir) = request.open_root()?;
        let parent = request.resolve(&dir, relative.parent().unwrap_or(Path::new("")))?;
        let relative = parent.join(name);
        match dir.symlink_metadata(&relative) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                Err(request.refuse("is a symlink; shipctl does not write through symlinks".to_string()))
            }
            _ => Ok(ConfinedPath { root: canonical_root, relative }),
        }
    }

    /// Like [`ConfinedPath::with_help`], for a file or directory another program reads
    /// whole and follows the symlinks in (a chart: helm renders every template and
    /// `.Files.Get` reads any file in it). A directory is walked below the root's
    /// handle without following symlinks; every symlink in it must resolve inside
    /// `root`, and a symlink to a directory inside it has that directory walked too
    /// (each directory once, so a loop ends). A symlink that stays inside is allowed,
    /// and what it leads to outside the tree is listed in [`ConfinedTree::linked`]
    /// (the program reads it too, so whoever checks the tree's files checks those).
    /// At most [`MAX_TREE_ENTRIES`] entries and [`MAX_TREE_DEPTH`] levels are looked
    /// at; a larger tree is refused. A file (a packaged chart) is not walked.
    pub fn tree_with_help(root: &Path, what: &str, value: &str, help: &str) -> Result<ConfinedTree, PathError> {
        let request = Request { root, what, value, help };
        let top = ConfinedPath::checked(request, Path::new(""))?;
        let linked = top.check_tree(&Request { root, what, value, help: TREE_HELP })?;
        let linked = linked.into_iter().map(|relative| ConfinedPath { root: top.root.clone(), relative }).collect();
        Ok(ConfinedTree { top, linked })
    }

    fn checked(request: Request<'_>, base: &Path) -> Result<ConfinedPath, PathError> {
        let relative = request.lexical(base, Path::new(request.value))?;
        let (canonical_root, dir) = request.open_root()?;
        let relative = request.resolve(&dir, &relative)?;
        Ok(ConfinedPath { root: canonical_root, relative })
    }

    /// Walk the directory below the root's handle; see [`ConfinedPath::tree_with_help`].
    /// `request` names the value in errors. Returns what symlinks lead to outside the
    /// directory (below the root, each once).
    fn check_tree(&self, request: &Request<'_>) -> Result<Vec<PathBuf>, PathError> {
        let (_, dir) = request.open_root()?;
        let unreadable = |path: &Path, error: std::io::Error| {
            request.refuse(format!("cannot be checked: {} ({error})", shown(path)))
        };
        let metadata = dir.metadata(below(&self.relative)).map_err(|error| unreadable(&self.relative, error))?;
        if !metadata.is_dir() {
            return Ok(Vec::new());
        }
        let mut pending = vec![(self.relative.clone(), 0_usize)];
        let mut walked: HashSet<PathBuf> = HashSet::from([self.relative.clone()]);
        let mut linked: Vec<PathBuf> = Vec::new();
        let mut entries = 0_usize;
        while let Some((directory, depth)) = pending.pop() {
            let listing = dir.read_dir(below(&directory)).map_err(|error| unreadable(&directory, error))?;
            for entry in listing {
                let entry = entry.map_err(|error| unreadable(&directory, error))?;
                entries += 1;
                if entries > MAX_TREE_ENTRIES {
                    return Err(PathError {
                        help: tree_size_help(),
                        ..request.refuse(format!(
                            "holds more than {MAX_TREE_ENTRIES} files and directories (counting those its symlinks \
                             lead to), too many to check for symlinks that lead outside the scripts root"
                        ))
                    });
                }
                let path = directory.join(entry.file_name());
                let kind = entry.file_type().map_err(|error| unreadable(&path, error))?;
                let next = if kind.is_symlink() {
                    let target = self.symlink_target(&dir, &path, request)?;
                    if !target.starts_with(&self.relative) && !linked.contains(&target) {
                        linked.push(target.clone());
                    }
                    if !dir.metadata(below(&target)).is_ok_and(|metadata| metadata.is_dir()) {
                        continue;
                    }
                    if path.starts_with(&target) {
                        // helm follows it into itself until the system says too many
                        // levels of symbolic links; refused here with the link's name.
                        return Err(request.refuse(format!(
                            "holds a symlink to a directory that contains it, a loop: {}",
                            link_shown(&dir, &path)
                        )));
                    }
                    target
                } else if kind.is_dir() {
                    path
                } else {
                    continue;
                };
                if depth + 1 > MAX_TREE_DEPTH {
                    return Err(PathError {
                        help: tree_size_help(),
                        ..request.refuse(format!(
                            "nests directories more than {MAX_TREE_DEPTH} levels deep (at {}), too deep to check \
                             for symlinks that lead outside the scripts root",
                            shown(&next)
                        ))
                    });
                }
                if walked.insert(next.clone()) {
                    pending.push((next, depth + 1));
                }
            }
        }
        Ok(linked)
    }

    /// Where the symlink at `path` (below the root) leads, resolved inside the root;
    /// an error naming the symlink when it leads out, nowhere, or cannot be resolved.
    fn symlink_target(&self, dir: &Dir, path: &Path, request: &Request<'_>) -> Result<PathBuf, PathError> {
        let link = link_shown(dir, path);
        canonical_below(dir, path).map_err(|unresolved| {
            request.refuse(match unresolved {
                Unresolved::Outside => {
                    format!("holds a symlink that leads outside the scripts root {}: {link}", self.root.display())
                }
                Unresolved::Missing => format!("holds a symlink to nothing (its target does not exist): {link}"),
                Unresolved::Other(error) => format!("holds a symlink that cannot be resolved ({error}): {link}"),
            })
        })
    }

    /// The absolute, resolved path: what a program is handed.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.relative)
    }

    /// The path below the scripts root (`scripts/release.rhai`), `/`-separated.
    pub fn relative(&self) -> &Path {
        &self.relative
    }

    /// The scripts root, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self) -> std::io::Result<Dir> {
        Dir::open_ambient_dir(&self.root, ambient_authority())
    }

    /// Is it a regular file (not a directory, FIFO or device)?
    pub fn is_file(&self) -> bool {
        self.dir().and_then(|dir| dir.metadata(&self.relative)).is_ok_and(|metadata| metadata.is_file())
    }

    /// Is it a directory?
    pub fn is_dir(&self) -> bool {
        if self.relative.as_os_str().is_empty() {
            return true;
        }
        self.dir().and_then(|dir| dir.metadata(&self.relative)).is_ok_and(|metadata| metadata.is_dir())
    }

    /// Read the whole file, opened below the root's handle (a symlink swapped in since
    /// the check cannot lead out). Only a regular file is read, so a FIFO cannot block.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        use cap_std::fs::OpenOptionsExt;
        use std::io::Read;
        let mut options = cap_std::fs::OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let mut file = super::files::check_regular(self.dir()?.open_with(&self.relative, &options)?)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Read the whole file as UTF-8, like [`ConfinedPath::read`].
    pub fn read_to_string(&self) -> std::io::Result<String> {
        String::from_utf8(self.read()?)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error.utf8_error()))
    }

    /// Delete the file, below the root's handle.
    pub fn remove_file(&self) -> std::io::Result<()> {
        self.dir()?.remove_file(&self.relative)
    }
}

impl fmt::Display for ConfinedPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.path().display())
    }
}

/// A file or directory another program reads whole, symlinks followed, checked by
/// [`ConfinedPath::tree_with_help`]: everything it reaches lies inside the scripts root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedTree {
    /// The file or directory itself.
    pub top: ConfinedPath,
    /// What its symlinks lead to outside `top` (files and directories inside the root,
    /// each once), in the order found: the program reads these too.
    pub linked: Vec<ConfinedPath>,
}
