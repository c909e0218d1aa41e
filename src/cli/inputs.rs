//! The files a command works on: those named, and under named directories those ending
//! in a suffix (hidden directories such as `.shipctl` and `.git` skipped); with nothing
//! named, everything under the scripts root of the current directory.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::Error;

/// The files for `paths`, sorted within each directory. `what` names them in the error
/// when there are none ("scripts", "test files").
pub fn inputs(paths: &[PathBuf], suffix: &str, what: &str) -> Result<Vec<PathBuf>, Error> {
    let starts = if paths.is_empty() { vec![Project::discover(Path::new("."))?.root] } else { paths.to_vec() };
    let mut found = Vec::new();
    for start in &starts {
        if start.is_dir() {
            under(start, suffix, &mut found).map_err(|source| Error::Io {
                action: "cannot read",
                path: start.clone(),
                source,
            })?;
        } else if start.exists() {
            found.push(start.clone());
        } else {
            return Err(Error::usage(format!("no such file or directory: {}", start.display()), None));
        }
    }
    if found.is_empty() {
        return Err(Error::usage(format!("no {what} (*{suffix}) found"), None));
    }
    Ok(found)
}

fn under(directory: &Path, suffix: &str, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(directory)?.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    entries.sort();
    for path in entries {
        let hidden = path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            under(&path, suffix, found)?;
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    Ok(())
}
