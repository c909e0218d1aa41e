//! `shipctl watch`: the plan, redrawn on every save.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::base::time::format_duration;
use crate::effect::Mode;
use crate::run::RunRequest;
use crate::watch::{Frame, WatchOptions, watch};

use super::WatchArgs;
use super::output::{self, paint};

/// `shipctl watch <script> --env <env> [--set ...]`. Runs until interrupted.
pub fn watch_command(args: WatchArgs) -> i32 {
    let mut request = RunRequest::new(&args.script.script, &args.script.env, Mode::Plan);
    request.params = args.script.params.iter().cloned().collect();
    let options = WatchOptions::new(request);
    let color = output::stdout_color();
    let terminal = std::io::stdout().is_terminal();
    let stop = Arc::new(AtomicBool::new(false));
    let mut draw = |frame: &Frame| {
        let mut screen = String::new();
        if terminal {
            // Clear the screen and go home: the plan is redrawn in place.
            screen.push_str("\x1b[2J\x1b[H");
        } else {
            screen.push('\n');
        }
        match &frame.result {
            Ok(report) => {
                screen.push_str(&output::render_plan(report, color));
                if let Some(error) = &report.error {
                    screen.push_str(&output::render_script_error(error, &report.sources, color));
                }
            }
            Err(error) => screen.push_str(&output::render_error(error, color)),
        }
        let changed: Vec<String> = frame.changed.iter().map(|path| path.display().to_string()).collect();
        let mut status = format!("watching {} files", frame.watched.len());
        if !changed.is_empty() {
            status.push_str(&format!(" · changed: {}", changed.join(", ")));
        }
        if let Some(latency) = frame.latency {
            status.push_str(&format!(" · new plan {} after the change", format_duration(latency)));
        }
        screen.push_str(&paint(color, anstyle::Style::new().dimmed(), &status));
        screen.push('\n');
        output::out(&screen);
    };
    match watch(&options, &stop, &mut draw) {
        Ok(()) => crate::exit_codes::SUCCESS,
        Err(error) => {
            output::print_error(&error);
            error.exit_code()
        }
    }
}
