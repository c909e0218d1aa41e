//! `shipctl test`: run the release scripts' own tests.

use crate::base::time::format_duration;
use crate::exit_codes;
use crate::run::on_script_thread;
use crate::testing::{self, TestFailure, TestFile, TestOutcome};

use super::TestArgs;
use super::github;
use super::inputs::inputs;
use super::output::{self, paint, summarize_args};

/// The failure's details as text: the error with its place, and the last run's effects.
fn describe(file: &TestFile, failure: &TestFailure, color: bool) -> String {
    let mut out = output::render_script_error(&failure.error, &file.sources, color);
    let Some(run) = &failure.last_run else { return out };
    let mut summary = format!("last run: {} · env {} · {}", run.script, run.environment, run.status);
    if let Some(step) = &run.failed_step {
        summary.push_str(&format!(" in step \"{step}\""));
    }
    out.push_str(&format!("{summary}\n"));
    if let Some(error) = &run.error {
        out.push_str(&format!("  error: {error}\n"));
    }
    for effect in &run.effects {
        let marker = match (&effect.error, effect.compensation) {
            (Some(_), _) => " ✗",
            (None, true) => " (compensation)",
            (None, false) => "",
        };
        out.push_str(&format!("  {:>3}  {} {}{marker}\n", effect.seq, effect.kind, summarize_args(&effect.args)));
    }
    out
}

/// A failed test as an annotation at its assertion, named after the test.
fn failed_test_command(name: &str, failure: &TestFailure) -> String {
    let mut error = failure.error.clone();
    error.message = format!("test \"{name}\" failed: {}", error.message);
    github::script_error_command(&error)
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// `shipctl test [paths] [--junit <file>]`.
pub fn test(args: TestArgs) -> i32 {
    let paths = match inputs(&args.paths, testing::SUFFIX, "test files") {
        Ok(paths) => paths,
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    };
    let color = output::stdout_color();
    let github = args.format.github();
    let filter = args.filter.clone();
    let files = on_script_thread(move || {
        let mut files = Vec::new();
        for path in &paths {
            let mut print = |outcome: &TestOutcome| {
                let duration =
                    paint(color, anstyle::Style::new().dimmed(), &format!("({})", format_duration(outcome.duration)));
                match &outcome.failure {
                    None => output::outln(&format!(
                        "{} {} {duration}",
                        paint(color, anstyle::AnsiColor::Green.on_default(), "✓"),
                        outcome.name
                    )),
                    Some(_) => output::outln(&format!(
                        "{} {} {duration}",
                        paint(color, anstyle::AnsiColor::Red.on_default().bold(), "✗"),
                        outcome.name
                    )),
                }
            };
            output::outln(&paint(color, anstyle::Style::new().bold(), &path.display().to_string()));
            let file = testing::run_file_filtered(path, filter.as_deref(), &mut print);
            if let Some(error) = &file.error {
                output::print_error(error);
                if github {
                    github::print(&github::error_commands(error));
                }
            }
            for outcome in &file.outcomes {
                if let Some(failure) = &outcome.failure {
                    output::outln(&format!("\n✗ {}", outcome.name));
                    output::out(&indent(&describe(&file, failure, color)));
                    if github {
                        github::print(&[failed_test_command(&outcome.name, failure)]);
                    }
                }
            }
            files.push(file);
        }
        files
    });
    let files = match files {
        Ok(files) => files,
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    };
    let total: usize = files.iter().map(|file| file.outcomes.len()).sum();
    let failed: usize = files.iter().map(TestFile::failed).sum();
    if let Some(junit) = &args.junit {
        let report = testing::junit_report(&files, &|file, failure| describe(file, failure, false));
        let written = report
            .to_string()
            .map_err(|error| error.to_string())
            .and_then(|xml| std::fs::write(junit, xml).map_err(|error| error.to_string()));
        if let Err(error) = written {
            output::err(&format!("error: cannot write {}: {error}\n", junit.display()));
            return exit_codes::INTERNAL;
        }
    }
    output::outln(&format!("\n{} passed, {failed} failed", total.saturating_sub(failed.min(total))));
    if failed > 0 { exit_codes::RUN_FAILED } else { exit_codes::SUCCESS }
}
