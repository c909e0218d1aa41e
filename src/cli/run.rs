//! `shipctl run` and `shipctl plan`.

use crate::effect::Mode;
use crate::effect::{Reporter, Silent};
use crate::error::Error;
use crate::exit_codes;
use crate::journal::RunStatus;
use crate::providers::kube::KubeOverrides;
use crate::run::{RunReport, RunRequest, execute};

use super::events::{Events, run_finished};
use super::github;
use super::output::{self, Human};
use super::trace::Traced;
use super::{OutputFormat, PlanArgs, RunArgs, ScriptArgs};

/// `--kubeconfig` and `--kube-context` of run, plan and resume.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeArgs {
    /// The kubeconfig file to use instead of the environment's `kubeconfig` (one file; KUBECONFIG may list several).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use instead of the environment's `kube_context`.
    #[arg(long, value_name = "CONTEXT")]
    pub kube_context: Option<String>,
}

impl KubeArgs {
    /// The overrides, checked; `None` when neither flag is given.
    pub fn overrides(&self) -> Result<Option<KubeOverrides>, Error> {
        if self.kubeconfig.is_none() && self.kube_context.is_none() {
            return Ok(None);
        }
        let cwd = std::env::current_dir()
            .map_err(|error| Error::Internal(format!("cannot read the working directory: {error}")))?;
        KubeOverrides::new(self.kubeconfig.as_deref(), self.kube_context.as_deref(), &cwd)
            .map(Some)
            .map_err(|message| Error::usage(message, None))
    }
}

fn request(args: &ScriptArgs, kube: &KubeArgs, mode: Mode) -> Result<RunRequest, Error> {
    let mut request = RunRequest::new(&args.script, &args.env, mode);
    request.params = args.params.iter().cloned().collect();
    request.kube = kube.overrides()?.unwrap_or_default();
    Ok(request)
}

pub(super) fn exit_code(report: &RunReport) -> i32 {
    match report.status {
        RunStatus::Succeeded => exit_codes::SUCCESS,
        RunStatus::Failed => exit_codes::RUN_FAILED,
        RunStatus::Refused => exit_codes::POLICY_REFUSED,
        RunStatus::Halted => exit_codes::HALTED,
        RunStatus::Interrupted => interrupted_exit_code(report),
    }
}

/// 130 after SIGINT, 143 after SIGTERM.
fn interrupted_exit_code(report: &RunReport) -> i32 {
    match report.signal {
        Some("SIGTERM") => exit_codes::INTERRUPTED_SIGTERM,
        _ => exit_codes::INTERRUPTED_SIGINT,
    }
}

/// The reporter of `--output json` (one event a line) or of people.
pub(super) fn reporter(json: bool, people: impl FnOnce() -> Box<dyn Reporter + Send>) -> Box<dyn Reporter + Send> {
    let reporter = if json { Box::new(Events) } else { people() };
    Box::new(Traced(reporter))
}

/// `--format github`: the report's error as an annotation (on stderr when stdout holds
/// JSON) and the summary appended to `$GITHUB_STEP_SUMMARY`.
fn report_to_github(report: &RunReport, json: bool) {
    if let Some(error) = &report.error {
        github_print(&[github::script_error_command(error)], json);
    }
    github::append_step_summary(&github::summary_markdown(report));
}

fn github_print(commands: &[String], json: bool) {
    if json {
        commands.iter().for_each(|command| output::err(&format!("{command}\n")));
    } else {
        github::print(commands);
    }
}

/// An error before or instead of a report: printed (and annotated under `--format
/// github`), its exit code returned.
fn refused(error: &Error, github: bool, json: bool) -> i32 {
    output::print_error(error);
    if github {
        github_print(&github::error_commands(error), json);
    }
    error.exit_code()
}

/// `shipctl run`.
pub fn run(args: RunArgs) -> i32 {
    let github = args.format.github();
    let json = args.script.output == OutputFormat::Json;
    let interval = args.progress.progress_interval;
    let reporter = reporter(json, || Box::new(Human::every(interval)));
    let mut request = match request(&args.script, &args.kube, Mode::Run) {
        Ok(request) => request,
        Err(error) => return refused(&error, github, json),
    };
    request.approved_by = args.approved_by.clone();
    request.watch_signals = true;
    match execute(request, reporter) {
        Ok(report) => {
            if github {
                report_to_github(&report, json);
            }
            print_live_report(&report, json);
            exit_code(&report)
        }
        Err(error) => refused(&error, github, json),
    }
}

/// The end of a live run or resume: the `run_finished` event (its error on stderr) and
/// the resume hint, or the summary for people.
pub(super) fn print_live_report(report: &RunReport, json: bool) {
    if !json {
        output::print_run_summary(report);
        return;
    }
    run_finished(report);
    if let Some(error) = &report.error {
        output::err(&output::render_script_error(error, &report.sources, output::stderr_color()));
    }
    output::print_resume_hint(report);
}

/// `shipctl plan`.
pub fn plan(args: PlanArgs) -> i32 {
    let github = args.format.github();
    let json = args.script.output == OutputFormat::Json;
    let mut request = match request(&args.script, &args.kube, Mode::Plan) {
        Ok(request) => request,
        Err(error) => return refused(&error, github, json),
    };
    request.refresh = args.refresh;
    request.journal = args.journal;
    match execute(request, reporter(json, || Box::new(Silent))) {
        Ok(report) => {
            if github {
                report_to_github(&report, json);
            }
            match args.script.output {
                OutputFormat::Json => run_finished(&report),
                OutputFormat::Text => {
                    output::out(&output::render_plan(&report, output::stdout_color()));
                    if let Some(journal) = &report.journal {
                        output::outln(&format!("journal: {}", journal.display()));
                    }
                }
            }
            if let Some(error) = &report.error {
                output::err(&output::render_script_error(error, &report.sources, output::stderr_color()));
            }
            output::print_needs(&report.needs);
            exit_code(&report)
        }
        Err(error) => refused(&error, github, json),
    }
}
