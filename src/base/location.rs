//! The place in a file an error or a log line points at.

use std::fmt;

use serde::{Deserialize, Serialize};

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
