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
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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
        std::io::ErrorKind::PermissionDenied if error.to_string().contains("outside") => Unresolved::Outside,
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
        let dir = self.dir()?;
        if !dir.metadata(&self.relative)?.is_file() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
        }
        dir.read(&self.relative)
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

/// A path shipctl.toml names on purpose, which may lie outside the scripts root:
/// `[repos]` paths, `[backups.paths]`, `pg_bin`, `[helm] bin`, the backup directory,
/// a kubeconfig. Nothing a script, a journal or a record says can become one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredPath {
    path: PathBuf,
}

impl ConfiguredPath {
    /// `path` as shipctl.toml wrote it, relative paths taken from the scripts `root`.
    /// Callers pass only values read from shipctl.toml.
    pub fn from_config(root: &Path, path: &Path) -> ConfiguredPath {
        ConfiguredPath { path: root.join(path) }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, owned.
    pub fn into_path(self) -> PathBuf {
        self.path
    }
}

impl fmt::Display for ConfiguredPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.path.display())
    }
}

/// Every byte except ASCII letters, digits, `-` and `_` is percent-encoded: no `/`, no
/// `.` (so no `..` and no hidden file), no `%` left raw (so encoding is one-to-one).
const FILE_NAME_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// `name` as one component of a file name: percent-encoded, one-to-one, never empty.
/// `production` stays `production`; `../x` becomes `%2E%2E%2Fx`.
pub fn encode_file_name(name: &str) -> String {
    if name.is_empty() {
        // No encoding of a non-empty name is a lone `%`.
        return "%".to_string();
    }
    utf8_percent_encode(name, FILE_NAME_SET).to_string()
}

/// Is `name` one plain file name (no separator, not `.`/`..`, not hidden, no NUL)?
/// Names read back from disk (a record's data file) are checked with this before use.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).components().count() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("charts/web")).unwrap();
        std::fs::write(dir.path().join("charts/web/values.yaml"), "a: 1\n").unwrap();
        dir
    }

    #[test]
    fn a_path_inside_resolves() {
        let dir = root();
        let path = ConfinedPath::new(dir.path(), "values file", "charts/./web/../web/values.yaml").unwrap();
        assert_eq!(path.relative(), Path::new("charts/web/values.yaml"));
        assert!(path.is_file());
        assert_eq!(path.read_to_string().unwrap(), "a: 1\n");
    }

    #[test]
    fn escapes_are_refused_with_the_value() {
        let dir = root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        for (value, reason) in [
            ("../x", "through \"..\""),
            ("charts/../../x", "through \"..\""),
            ("/etc/passwd", "absolute"),
            ("link/secret", "symlink"),
            ("", "empty"),
            ("missing", "does not exist"),
        ] {
            let error = ConfinedPath::new(dir.path(), "values file", value).unwrap_err();
            assert!(error.to_string().contains(reason), "{value}: {error}");
            assert!(error.to_string().contains(&format!("\"{value}\"")), "{error}");
        }
    }

    #[test]
    fn a_new_file_needs_a_confined_parent_and_no_symlink() {
        let dir = root();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), dir.path().join("dangling")).unwrap();
        assert!(ConfinedPath::new_file(dir.path(), "lock", "charts/new.lock").is_ok());
        assert!(ConfinedPath::new_file(dir.path(), "lock", "dangling").is_err());
        assert!(ConfinedPath::new_file(dir.path(), "lock", "../new.lock").is_err());
    }

    /// A chart `charts/web` with a template, and an outside directory holding a secret
    /// file and a chart.
    fn chart_root() -> (tempfile::TempDir, tempfile::TempDir) {
        let dir = root();
        std::fs::create_dir_all(dir.path().join("charts/web/templates")).unwrap();
        std::fs::write(dir.path().join("charts/web/templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::fs::create_dir_all(outside.path().join("chart/templates")).unwrap();
        (dir, outside)
    }

    fn tree(root: &Path, value: &str) -> Result<ConfinedTree, PathError> {
        ConfinedPath::tree_with_help(root, "chart", value, "the chart's help")
    }

    fn link(target: impl AsRef<Path>, at: &Path) {
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    #[test]
    fn a_tree_with_symlinks_that_stay_inside_is_taken() {
        let (dir, _outside) = chart_root();
        std::fs::create_dir_all(dir.path().join("shared/templates")).unwrap();
        std::fs::write(dir.path().join("shared/templates/common.yaml"), "a: 1\n").unwrap();
        link("../../../shared/templates/common.yaml", &dir.path().join("charts/web/templates/common.yaml"));
        link("../../shared/templates", &dir.path().join("charts/web/shared"));
        link("values.yaml", &dir.path().join("charts/web/values-copy.yaml"));
        let checked = tree(dir.path(), "./charts/web/").unwrap();
        assert_eq!(checked.top.relative(), Path::new("charts/web"));
        // What the links reach outside the chart, each once; the link inside it is not listed.
        let mut linked: Vec<&Path> = checked.linked.iter().map(ConfinedPath::relative).collect();
        linked.sort();
        assert_eq!(linked, [Path::new("shared/templates"), Path::new("shared/templates/common.yaml")]);
        // The root itself, and a file (a packaged chart), are trees too.
        assert!(tree(dir.path(), ".").is_ok());
        assert!(tree(dir.path(), "charts/web/values.yaml").is_ok());
    }

    #[test]
    fn a_symlink_in_the_tree_that_leads_out_is_refused_by_name() {
        let (dir, outside) = chart_root();
        let secret = outside.path().join("secret");
        link(&secret, &dir.path().join("charts/web/templates/leak.yaml"));
        let error = tree(dir.path(), "charts/web").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("chart \"charts/web\" holds a symlink that leads outside the scripts root"), "{text}");
        assert!(text.ends_with(&format!("charts/web/templates/leak.yaml -> {}", secret.display())), "{text}");
        assert!(error.help.contains("replace a symlink that leads out"), "{}", error.help);
        // The plain check of the directory itself does not walk it.
        assert!(ConfinedPath::new(dir.path(), "chart", "charts/web").is_ok());
    }

    #[test]
    fn every_way_a_tree_leads_out_is_refused() {
        /// Plants symlinks in a root (first argument) leading to an outside directory.
        type Plant = fn(&Path, &Path);
        let cases: [(&str, Plant); 5] = [
            ("charts/web/charts/sub", |root, outside| link(outside.join("chart"), &root.join("charts/web/charts/sub"))),
            ("charts/web/files", |root, outside| link(outside, &root.join("charts/web/files"))),
            ("charts/web/templates/up.yaml", |root, outside| {
                let name = outside.file_name().unwrap().to_string_lossy();
                link(format!("../../../../{name}/secret"), &root.join("charts/web/templates/up.yaml"))
            }),
            // A symlink to a directory inside the root, which holds a symlink out.
            ("shared/leak", |root, outside| {
                std::fs::create_dir_all(root.join("shared")).unwrap();
                link(outside.join("secret"), &root.join("shared/leak"));
                link("../../../shared", &root.join("charts/web/templates/shared"));
            }),
            // The same out-link reached through a chain of in-root links.
            ("elsewhere/deep/leak", |root, outside| {
                std::fs::create_dir_all(root.join("elsewhere/deep")).unwrap();
                link(outside.join("secret"), &root.join("elsewhere/deep/leak"));
                link("elsewhere", &root.join("hop"));
                link("../../hop/deep", &root.join("charts/web/deep"));
            }),
        ];
        for (symlink, plant) in cases {
            let (dir, outside) = chart_root();
            std::fs::create_dir_all(dir.path().join("charts/web/charts")).unwrap();
            plant(dir.path(), outside.path());
            let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
            assert!(error.contains("leads outside the scripts root"), "{symlink}: {error}");
            assert!(error.contains(&format!(": {symlink} -> ")), "{symlink}: {error}");
        }
    }

    #[test]
    fn loops_and_dangling_symlinks_end_the_walk_with_their_name() {
        let (dir, _outside) = chart_root();
        link("..", &dir.path().join("charts/web/templates/self"));
        let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
        assert!(error.contains("a loop: charts/web/templates/self -> .."), "{error}");

        let (dir, _outside) = chart_root();
        link("b.yaml", &dir.path().join("charts/web/templates/a.yaml"));
        link("a.yaml", &dir.path().join("charts/web/templates/b.yaml"));
        let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
        assert!(error.contains("holds a symlink that cannot be resolved"), "{error}");
        assert!(error.contains("charts/web/templates/a.yaml -> b.yaml") || error.contains("b.yaml -> a.yaml"));

        let (dir, _outside) = chart_root();
        link("missing.yaml", &dir.path().join("charts/web/templates/gone.yaml"));
        let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
        assert!(error.contains("to nothing (its target does not exist): charts/web/templates/gone.yaml"), "{error}");

        // Two symlinks to each other's directories inside the root: each walked once.
        let (dir, _outside) = chart_root();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        link("../b", &dir.path().join("a/to-b"));
        link("../a", &dir.path().join("b/to-a"));
        link("../../a", &dir.path().join("charts/web/a"));
        assert!(tree(dir.path(), "charts/web").is_ok());
    }

    #[test]
    fn a_tree_too_large_or_too_deep_is_refused_not_walked_for_long() {
        let (dir, _outside) = chart_root();
        let many = dir.path().join("charts/web/many");
        std::fs::create_dir_all(&many).unwrap();
        for index in 0..MAX_TREE_ENTRIES {
            std::fs::write(many.join(index.to_string()), "").unwrap();
        }
        let error = tree(dir.path(), "charts/web").unwrap_err();
        assert!(error.to_string().contains("holds more than 10000 files and directories"), "{error}");
        assert!(error.help.contains("helm package"), "{}", error.help);

        let (dir, _outside) = chart_root();
        let deep: PathBuf = std::iter::repeat_n("d", MAX_TREE_DEPTH).collect();
        std::fs::create_dir_all(dir.path().join("charts/web").join(&deep)).unwrap();
        assert!(tree(dir.path(), "charts/web").is_ok(), "{MAX_TREE_DEPTH} levels are walked");
        std::fs::create_dir_all(dir.path().join("charts/web").join(&deep).join("d")).unwrap();
        let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
        assert!(error.contains("more than 32 levels deep"), "{error}");
    }

    #[test]
    fn names_are_encoded_one_to_one() {
        assert_eq!(encode_file_name("production"), "production");
        assert_eq!(encode_file_name("../x"), "%2E%2E%2Fx");
        assert_ne!(encode_file_name("a/b"), encode_file_name("a_b"));
        assert!(!encode_file_name("..").contains('.'));
        assert!(is_plain_file_name("b1.tar.gz"));
        for bad in ["", "..", ".hidden", "a/b", "../b"] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
