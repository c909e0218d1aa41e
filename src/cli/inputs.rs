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

/// The files under `directory` ending in `suffix`, hidden entries skipped. Symbolic
/// links are not followed (`walkdir` does not unless asked), so a link back up the
/// tree cannot loop and a link out of the root is never read; a link to a file is
/// neither listed nor opened.
fn under(directory: &Path, suffix: &str, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let walk = walkdir::WalkDir::new(directory).follow_links(false).sort_by_file_name().into_iter();
    let visible = walk.filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_str().is_some_and(|name| name.starts_with('.'))
    });
    for entry in visible {
        let entry = entry.map_err(std::io::Error::from)?;
        if entry.file_type().is_file() && entry.path().to_string_lossy().ends_with(suffix) {
            found.push(entry.into_path());
        }
    }
    Ok(())
}
