//! `shipctl history`: the recorded runs, newest first.

use crate::base::time::format_duration;
use crate::config::Project;
use crate::error::Error;
use crate::exit_codes;
use crate::journal::list_runs;

use super::output;
use super::{HistoryArgs, OutputFormat};

/// `shipctl history`, or with `--export` a run's journal copied with its secrets redacted.
pub fn history(args: HistoryArgs) -> i32 {
    if let Some([run, dir]) = args.export.as_deref() {
        return super::export::export(&args.root, run, dir, args.force);
    }
    let project = match Project::discover(&args.root) {
        Ok(project) => project,
        Err(error) => {
            output::print_error(&Error::Config(error));
            return exit_codes::USAGE;
        }
    };
    let dir = project.journal_dir();
    let runs = match list_runs(&dir) {
        Ok(runs) => runs,
        Err(error) => {
            output::print_error(&Error::Journal(error));
            return exit_codes::INTERNAL;
        }
    };
    let runs: Vec<_> = runs
        .into_iter()
        .filter(|run| args.env.as_ref().is_none_or(|env| &run.environment == env))
        .take(args.limit)
        .collect();
    if args.output == OutputFormat::Json {
        match serde_json::to_string_pretty(&runs) {
            Ok(json) => output::outln(&json),
            Err(error) => output::err(&format!("error: {error}\n")),
        }
        return exit_codes::SUCCESS;
    }
    if runs.is_empty() {
        output::outln(&format!("no runs recorded in {}", dir.display()));
        return exit_codes::SUCCESS;
    }
    let script_width = runs.iter().map(|run| run.script.len()).max().unwrap_or(6).max(6);
    let env_width = runs.iter().map(|run| run.environment.len()).max().unwrap_or(3).max(3);
    output::outln(&format!(
        "{:<22}  {:<5}  {:<script_width$}  {:<env_width$}  {:<10}  {:<24}  DURATION",
        "RUN", "MODE", "SCRIPT", "ENV", "STATUS", "STARTED"
    ));
    for run in &runs {
        let duration = run
            .duration_ms
            .map(|ms| format_duration(std::time::Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".to_string());
        output::outln(&format!(
            "{:<22}  {:<5}  {:<script_width$}  {:<env_width$}  {:<10}  {:<24}  {duration}",
            run.run_id, run.mode, run.script, run.environment, run.status, run.started_at
        ));
    }
    exit_codes::SUCCESS
}
