//! Paths shipctl.toml names on purpose, which may lie anywhere.

use std::fmt;
use std::path::{Path, PathBuf};

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
