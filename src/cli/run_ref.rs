//! A run named on the command line: a journal's path, or a run id as `history` prints
//! it (or a unique prefix of one), looked up in the project's journal directory.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::Error;
use crate::journal::find_run;

/// Is `argument` a journal's path rather than a run id? A path ends in `.jsonl` or
/// holds a `/`; anything else is a run id, checked as one (so `..` is refused, not
/// read).
fn is_path(argument: &Path) -> bool {
    match argument.to_str() {
        Some(text) => text.ends_with(".jsonl") || text.contains('/'),
        None => true,
    }
}

/// The journal `argument` names: a path as given, or the journal of the run id, found
/// only inside the journal directory of the project at `root`.
pub fn journal_path(argument: &Path, root: &Path) -> Result<PathBuf, Error> {
    if is_path(argument) {
        return Ok(argument.to_path_buf());
    }
    let id = argument.to_str().unwrap_or_default();
    let project = Project::discover(root)?;
    let found = find_run(&project.journal_dir(), id).map_err(|error| {
        let help = error.help();
        Error::usage(error.to_string(), Some(help))
    })?;
    Ok(found.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_run_ids_are_told_apart() {
        for path in ["run.jsonl", "./run", ".shipctl/runs/20260101-000000-aaaaaa.jsonl", "../x.jsonl", "/tmp/x"] {
            assert!(is_path(Path::new(path)), "{path}");
        }
        for id in ["20260101-000000-aaaaaa", "2026", "..", ".", "x\\y"] {
            assert!(!is_path(Path::new(id)), "{id}");
        }
    }
}
