//! The library's top-level error and the place in a file an error points at.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::engine::{ScriptError, ScriptErrorKind};
use crate::exit_codes;
use crate::journal::JournalError;

/// A place in a script or config file: `scripts/cdc/release.rhai:12:5`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The file as the user knows it: relative to the scripts root, or `std/<name>`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Everything that stops a command before or outside a script run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{message}")]
    Usage { message: String, help: Option<String> },
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Script { errors: Vec<ScriptError>, sources: crate::engine::Sources },
    #[error("{message}")]
    Policy { message: String, help: Option<String> },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A usage error with a hint saying what to do.
    pub fn usage(message: impl Into<String>, help: impl Into<Option<String>>) -> Self {
        Error::Usage { message: message.into(), help: help.into() }
    }

    /// The exit code documented in [`exit_codes`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage { .. } => exit_codes::USAGE,
            Error::Script { errors, .. } if errors.iter().all(|error| error.kind == ScriptErrorKind::Usage) => {
                exit_codes::USAGE
            }
            Error::Script { .. } => exit_codes::SCRIPT_INVALID,
            Error::Policy { .. } => exit_codes::POLICY_REFUSED,
            Error::Journal(_) | Error::Io { .. } | Error::Internal(_) => exit_codes::INTERNAL,
        }
    }

    /// What to do about it, when we know.
    pub fn help(&self) -> Option<&str> {
        match self {
            Error::Usage { help, .. } | Error::Policy { help, .. } => help.as_deref(),
            Error::Config(error) => error.help.as_deref(),
            _ => None,
        }
    }
}

/// The closest candidate to `word`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3) && *distance < candidate.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["release", "chart", "namespace", "values"];
        assert_eq!(did_you_mean("namesapce", fields), Some("namespace"));
        assert_eq!(did_you_mean("chrat", fields), Some("chart"));
        assert_eq!(did_you_mean("colour", fields), None);
    }
}
