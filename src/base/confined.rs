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
        PathError { what: self.what.to_string(), value: self.value.to_string(), reason, help: self.help.to_string() }
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
        if relative.as_os_str().is_empty() {
            return Ok(PathBuf::new());
        }
        dir.canonicalize(relative).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => {
                self.refuse(format!("does not exist under the scripts root {}", self.root.display()))
            }
            std::io::ErrorKind::PermissionDenied if error.to_string().contains("outside") => {
                self.refuse(format!("leads outside the scripts root {} through a symlink", self.root.display()))
            }
            _ => self.refuse(format!("cannot be resolved under the scripts root {}: {error}", self.root.display())),
        })
    }
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

    fn checked(request: Request<'_>, base: &Path) -> Result<ConfinedPath, PathError> {
        let relative = request.lexical(base, Path::new(request.value))?;
        let (canonical_root, dir) = request.open_root()?;
        let relative = request.resolve(&dir, &relative)?;
        Ok(ConfinedPath { root: canonical_root, relative })
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
