//! `shipctl check`: compile scripts and every module they import, report every error.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::engine::{self, SourceMap};
use crate::error::Error;
use crate::exit_codes;

use super::CheckArgs;
use super::output;

/// Every `.rhai` file under `dir`, skipping hidden directories (`.shipctl`, `.git`).
fn scripts_under(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    entries.sort();
    for path in entries {
        let hidden = path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            scripts_under(&path, found)?;
        } else if path.extension().and_then(|extension| extension.to_str()) == Some("rhai") {
            found.push(path);
        }
    }
    Ok(())
}

/// `shipctl check [paths]`.
pub fn check(args: CheckArgs) -> i32 {
    let starts = if args.paths.is_empty() {
        match Project::discover(Path::new(".")) {
            Ok(project) => vec![project.root],
            Err(error) => {
                output::print_error(&Error::Config(error));
                return exit_codes::USAGE;
            }
        }
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for start in &starts {
        if start.is_dir() {
            if let Err(error) = scripts_under(start, &mut files) {
                output::print_error(&Error::Io { action: "cannot read", path: start.clone(), source: error });
                return exit_codes::USAGE;
            }
        } else if start.exists() {
            files.push(start.clone());
        } else {
            output::print_error(&Error::usage(format!("no such file or directory: {}", start.display()), None));
            return exit_codes::USAGE;
        }
    }
    if files.is_empty() {
        output::err("error: no .rhai scripts found\n");
        return exit_codes::USAGE;
    }
    let registry = crate::primitives::registry();
    let mut failed = 0;
    for file in &files {
        match check_file(file, &registry) {
            Ok(()) => output::outln(&format!("ok     {}", file.display())),
            Err(error) => {
                failed += 1;
                output::outln(&format!("error  {}", file.display()));
                output::print_error(&error);
            }
        }
    }
    if failed > 0 {
        output::err(&format!("{failed} of {} scripts have errors\n", files.len()));
        return exit_codes::SCRIPT_INVALID;
    }
    exit_codes::SUCCESS
}

fn check_file(file: &Path, registry: &crate::effect::Registry) -> Result<(), Error> {
    let project = Project::discover(file)?;
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        action: "cannot read",
        path: file.to_path_buf(),
        source,
    })?;
    let absolute = crate::config::absolute(file).canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let name = absolute.strip_prefix(&root).unwrap_or(&absolute).to_string_lossy().replace('\\', "/");
    let sources = SourceMap::default();
    let preflight =
        engine::preflight::preflight(&project.config.limits, &project.root, &name, &text, &sources, Some(registry));
    if preflight.errors.is_empty() {
        return Ok(());
    }
    Err(Error::Script { errors: preflight.errors, sources: sources.snapshot() })
}
