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
/// links are not followed into directories (`walkdir` does not unless asked), so a
/// link back up the tree cannot loop. A link named like a script is listed when it
/// leads to a regular file under `directory`; one that leads elsewhere (out of the
/// tree, to a FIFO, nowhere) is skipped with a warning, never read.
fn under(directory: &Path, suffix: &str, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let walk = walkdir::WalkDir::new(directory).follow_links(false).sort_by_file_name().into_iter();
    let visible = walk.filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_str().is_some_and(|name| name.starts_with('.'))
    });
    let tree = directory.canonicalize()?;
    for entry in visible {
        let entry = entry.map_err(std::io::Error::from)?;
        if !entry.path().to_string_lossy().ends_with(suffix) {
            continue;
        }
        if entry.file_type().is_file() {
            found.push(entry.into_path());
        } else if entry.file_type().is_symlink() {
            match link_within(entry.path(), &tree) {
                Ok(()) => found.push(entry.into_path()),
                Err(why) => super::output::err(&format!("warning: skipped {}: {why}\n", entry.path().display())),
            }
        }
    }
    Ok(())
}

/// Does the link at `path` lead to a regular file under `tree` (canonical)?
fn link_within(path: &Path, tree: &Path) -> Result<(), &'static str> {
    let target = path.canonicalize().map_err(|_| "a link that leads nowhere")?;
    if !target.starts_with(tree) {
        return Err("a link out of the directory it was found in");
    }
    if !std::fs::metadata(&target).is_ok_and(|metadata| metadata.is_file()) {
        return Err("a link to something that is not a regular file");
    }
    Ok(())
}
