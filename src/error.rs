//! The library's top-level error: what stops a command before or outside a script run.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::engine::{ScriptError, ScriptErrorKind};
use crate::exit_codes;
use crate::journal::JournalError;

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

impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let code = match self {
            Error::Config(_) => "shipctl::config",
            Error::Usage { .. } => "shipctl::usage",
            Error::Script { .. } => "shipctl::script",
            Error::Policy { .. } => "shipctl::policy",
            Error::Journal(_) => "shipctl::journal",
            Error::Io { .. } => "shipctl::io",
            Error::Internal(_) => "shipctl::internal",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Error::help(self).map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}
