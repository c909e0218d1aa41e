//! `shipctl replay` and `shipctl resume`: runs that work from a journal.

use crate::exit_codes;
use crate::journal::RunStatus;
use crate::run::{RunReport, execute, replay_request, resume_request};

use crate::effect::Reporter;

use super::events::{Events, run_finished};
use super::output::{self, Human};
use super::run_ref::journal_path;
use super::{OutputFormat, ReplayArgs, ResumeArgs};

fn warn(warnings: &[String]) {
    for warning in warnings {
        output::err(&format!("warning: {warning}\n"));
    }
}

/// `shipctl replay <run> [--script <path>]`: `<run>` is a run id, a unique prefix of
/// one, or a journal's path.
pub fn replay(args: ReplayArgs) -> i32 {
    let prepared =
        journal_path(&args.journal, &args.root).and_then(|journal| replay_request(&journal, args.script.as_deref()));
    let (request, warnings) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    };
    warn(&warnings);
    let json = args.output == OutputFormat::Json;
    let reporter: Box<dyn Reporter + Send> = if json { Box::new(Events) } else { Box::new(Human::new()) };
    let report = match execute(request, reporter) {
        Ok(report) => report,
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    };
    if json {
        run_finished(&report);
    }
    finish(&report, "replayed identically", json)
}

/// `shipctl resume <run>`: a run id, a unique prefix of one, or a journal's path.
pub fn resume(args: ResumeArgs) -> i32 {
    let prepared = journal_path(&args.journal, &args.root)
        .and_then(|journal| resume_request(&journal, args.retry_unfinished, args.allow_changed_script));
    let (mut request, warnings) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    };
    warn(&warnings);
    request.approved_by = args.approved_by.clone();
    match args.kube.overrides() {
        Ok(Some(overrides)) => request.kube = overrides,
        Ok(None) => {}
        Err(error) => {
            output::print_error(&error);
            return error.exit_code();
        }
    }
    let json = args.output == OutputFormat::Json;
    let interval = args.progress.progress_interval;
    let reporter = super::run::reporter(json, || Box::new(Human::every(interval)));
    match execute(request, reporter) {
        Ok(report) => {
            super::run::print_live_report(&report, json);
            if let Some(halt) = &report.halt {
                output::err(&output::render_halt(halt, output::stderr_color()));
            }
            super::run::exit_code(&report)
        }
        Err(error) => {
            output::print_error(&error);
            error.exit_code()
        }
    }
}

/// A replay's verdict: identical (whatever the recorded run's own outcome was), or where
/// it diverged. Under `--output json` the verdict is `run_finished`'s `halt`, and only
/// a divergence is also told on stderr.
fn finish(report: &RunReport, identical: &str, json: bool) -> i32 {
    if let Some(halt) = &report.halt {
        if halt.divergence.is_some() {
            output::err(&output::render_halt(halt, output::stderr_color()));
            return exit_codes::HALTED;
        }
        if !json {
            output::outln(&format!("\n{identical} up to where the recording ends: {}", halt.message));
        }
        return exit_codes::SUCCESS;
    }
    if json {
        return exit_codes::SUCCESS;
    }
    let outcome = match (&report.status, &report.failed_step) {
        (RunStatus::Succeeded, _) => "the recorded run succeeded".to_string(),
        (_, Some(step)) => format!("the recorded run failed in step \"{step}\", and so does the replay"),
        _ => "the recorded run failed, and so does the replay".to_string(),
    };
    output::outln(&format!("\n{identical}: {} effects; {outcome}", report.effects.len()));
    exit_codes::SUCCESS
}
