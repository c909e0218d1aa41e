//! The scripts root: finding `shipctl.toml` upward from a script and loading it.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Environment, FILE_NAME, LOCAL_ENVIRONMENT, parse};
use crate::base::confined::ConfiguredPath;
use crate::base::suggest::did_you_mean;

/// The scripts root and its config: everything a run needs to know about where it is.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `shipctl.toml` (or the script's directory without one).
    pub root: PathBuf,
    /// The config file, if there is one.
    pub config_path: Option<PathBuf>,
    /// The parsed config (defaults without a file).
    pub config: Config,
}

impl Project {
    /// Find the scripts root for `start` (a script or a directory) by searching upward
    /// for `shipctl.toml`, and load it.
    pub fn discover(start: &Path) -> Result<Project, ConfigError> {
        let start = absolute(start);
        let directory =
            if start.is_dir() { start.clone() } else { start.parent().map(Path::to_path_buf).unwrap_or_default() };
        for candidate in directory.ancestors() {
            let path = candidate.join(FILE_NAME);
            // Whatever is there by that name is the config: a FIFO, a directory or a
            // dangling link is refused by `load`, never passed over for a parent's.
            if std::fs::symlink_metadata(&path).is_ok() {
                return Project::load(&path);
            }
        }
        Ok(Project { root: directory, config_path: None, config: Config::default() })
    }

    /// Load a given `shipctl.toml`.
    pub fn load(path: &Path) -> Result<Project, ConfigError> {
        let text = crate::base::files::read_regular(path).map_err(|error| ConfigError {
            location: None,
            message: format!("cannot read {}: {error}", path.display()),
            help: None,
        })?;
        let display = path.display().to_string();
        let config = parse(&text, &display)?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Project { root, config_path: Some(path.to_path_buf()), config })
    }

    /// The environment called `name`: from config, or the built-in `local`.
    pub fn environment(&self, name: &str) -> Result<Environment, ConfigError> {
        if let Some(environment) = self.config.environments.get(name) {
            return Ok(environment.clone());
        }
        if name == LOCAL_ENVIRONMENT {
            return Ok(Environment::default());
        }
        let mut names: Vec<&str> = self.config.environments.keys().map(String::as_str).collect();
        if !names.contains(&LOCAL_ENVIRONMENT) {
            names.push(LOCAL_ENVIRONMENT);
        }
        let help = match did_you_mean(name, names.iter().copied()) {
            Some(close) => format!("did you mean --env {close}? Known environments: {}", names.join(", ")),
            None => format!("known environments: {}", names.join(", ")),
        };
        let place = match &self.config_path {
            Some(path) => format!("in {}", path.display()),
            None => format!("(no {FILE_NAME} found above the script)"),
        };
        Err(ConfigError {
            location: None,
            message: format!("unknown environment \"{name}\" {place}"),
            help: Some(help),
        })
    }

    /// The name errors and journals give the file at `path`: relative to the scripts
    /// root (`scripts/cdc/release.rhai`), with `/` separators.
    pub fn source_name(&self, path: &Path) -> String {
        let root = self.root.canonicalize().unwrap_or_else(|_| self.root.clone());
        let path = absolute(path);
        let path = path.canonicalize().unwrap_or(path);
        path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().replace('\\', "/")
    }

    /// The journal directory, absolute.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join(&self.config.journal.dir)
    }

    /// The backup store of `environment`: its `backup_dir`, else `[backups] dir`. Named
    /// by shipctl.toml, so it may lie outside the scripts root.
    pub fn backup_dir(&self, environment: &Environment) -> ConfiguredPath {
        let dir = environment.backup_dir.as_deref().unwrap_or(&self.config.backups.dir);
        ConfiguredPath::from_config(&self.root, dir)
    }
}

/// An absolute path without touching the file system more than needed.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
