//! `shipctl check`: compile scripts and every module they import, report every error.

use std::path::Path;

use crate::config::Project;
use crate::engine::{self, SourceMap};
use crate::error::Error;
use crate::exit_codes;

use super::CheckArgs;
use super::inputs::inputs;
use super::output;

/// `shipctl check [paths]`.
pub fn check(args: CheckArgs) -> i32 {
    let files = match inputs(&args.paths, ".rhai", "scripts") {
        Ok(files) => files,
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    };
    // Compiling recurses as deep as the script nests: do it on the script thread, whose
    // stack the depth limits of shipctl.toml are measured against.
    let github = args.format.github();
    match crate::run::on_script_thread(move || check_all(&files, github)) {
        Ok(code) => code,
        Err(error) => {
            output::print_error(&error);
            error.exit_code()
        }
    }
}

fn check_all(files: &[std::path::PathBuf], github: bool) -> i32 {
    let registry = crate::primitives::registry();
    let mut failed = 0;
    for file in files {
        match check_file(file, &registry) {
            Ok(()) => {
                output::outln(&format!("ok     {}", file.display()));
                report_needs(file);
            }
            Err(error) => {
                failed += 1;
                output::outln(&format!("error  {}", file.display()));
                output::print_error(&error);
                if github {
                    super::github::print(&super::github::error_commands(&error));
                }
            }
        }
    }
    if failed > 0 {
        output::err(&format!("{failed} of {} scripts have errors\n", files.len()));
        return exit_codes::SCRIPT_INVALID;
    }
    exit_codes::SUCCESS
}

/// What a live run of `file` would stop at (a secret not set, a repo that is not a git
/// repository): reported, not failed, since a check runs where the secrets of the
/// environments need not be. Environments differ in their cluster only; `local` is the
/// one every scripts root has.
fn report_needs(file: &Path) {
    if file.to_string_lossy().ends_with(crate::testing::SUFFIX) {
        return;
    }
    if let Ok(problems) = crate::run::needs::problems_here(file, crate::config::LOCAL_ENVIRONMENT) {
        output::print_needs(&problems);
    }
}

fn check_file(file: &Path, registry: &crate::effect::Registry) -> Result<(), Error> {
    let project = Project::discover(file)?;
    let text = crate::base::files::read_regular(file).map_err(|source| Error::Io {
        action: "cannot read",
        path: file.to_path_buf(),
        source,
    })?;
    let name = project.source_name(file);
    let sources = SourceMap::default();
    let mut preflight =
        engine::preflight::preflight(&project.config.limits, &project.root, &name, &text, &sources, Some(registry));
    preflight.errors.append(&mut preflight.argument_errors);
    preflight.errors.extend(engine::calls::unknown_names(&preflight.calls, &project.config, &project.root));
    preflight.errors.sort_by_key(|error| error.location.as_ref().map(|l| (l.file.clone(), l.line, l.column)));
    if preflight.errors.is_empty() {
        return Ok(());
    }
    Err(Error::Script { errors: preflight.errors, sources: sources.snapshot() })
}
