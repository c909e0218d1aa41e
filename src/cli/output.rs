//! Everything the CLI prints: the live reporter, the plan, errors. Output for people
//! goes through here; JSON output is serialized by the subcommands. Colors follow the
//! terminal and `NO_COLOR`; a closed stdout (`shipctl plan | head`) stops the printing,
//! never the run.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use serde_json::Value;

use crate::base::time::format_duration;
use crate::effect::{Call, Effect, EffectError, EffectReport, Halt};
use crate::effect::{Event, Level, Reporter};
use crate::engine::{Located, ScriptError, Sources};
use crate::error::Error;
use crate::journal::RunStatus;
use crate::run::RunReport;

use super::diagnostic::render_diagnostic;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Colors on stdout: a terminal, and `NO_COLOR` unset.
pub fn stdout_color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// Colors on stderr.
pub fn stderr_color() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Print to stdout; once the reader has gone, print nothing more.
pub fn out(text: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Print a line to stdout.
pub fn outln(text: &str) {
    out(&format!("{text}\n"));
}

/// Print to stderr (errors go there whatever happens to stdout).
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `text` in `style` when `color`.
pub fn paint(color: bool, style: Style, text: &str) -> String {
    if color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_string() }
}

fn green() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into()))
}

fn red() -> Style {
    Style::new().bold().fg_color(Some(AnsiColor::Red.into()))
}

fn yellow() -> Style {
    Style::new().fg_color(Some(AnsiColor::Yellow.into()))
}

fn dim() -> Style {
    Style::new().dimmed()
}

fn bold() -> Style {
    Style::new().bold()
}

/// Print an error that stopped a command, with source snippets where it has a place.
pub fn print_error(error: &Error) {
    err(&render_error(error, stderr_color()));
}

/// An error that stopped a command, rendered with source snippets where it has a place.
pub fn render_error(error: &Error, color: bool) -> String {
    match error {
        Error::Script { errors, sources } => {
            let mut out: String =
                errors.iter().map(|script_error| render_script_error(script_error, sources, color)).collect();
            if errors.len() > 1 {
                out.push_str(&format!("{} errors\n", errors.len()));
            }
            out
        }
        Error::Config(config) => {
            // Read now, not kept from the parse: a file that is gone prints its place alone.
            let text = config
                .location
                .as_ref()
                .and_then(|location| crate::base::files::read_regular(std::path::Path::new(&location.file)).ok());
            let located = Located::new(config, &config.message, config.location.as_ref(), text.as_deref());
            render_diagnostic(&located, color)
        }
        other => render_diagnostic(other, color),
    }
}

/// A script error with its source line, from the texts of the run's scripts.
pub fn render_script_error(error: &ScriptError, sources: &Sources, color: bool) -> String {
    render_diagnostic(&Located::script(error, sources), color)
}

/// Arguments on one line: `repo="app" name="1.4.0"`, long values cut.
pub fn summarize_args(args: &Value) -> String {
    let Value::Object(map) = args else {
        return args.to_string();
    };
    let parts: Vec<String> = map.iter().map(|(key, value)| format!("{key}={}", short_value(value, 60))).collect();
    parts.join(" ")
}

fn short_value(value: &Value, limit: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= limit {
        return text;
    }
    let cut: String = text.chars().take(limit - 1).collect();
    format!("{cut}…")
}

/// The live reporter: a line per effect as it finishes, steps as headings, a spinner
/// with progress while an effect runs on a terminal. Off a terminal (a CI log) a live
/// run gets a line as each effect starts and `still waiting` lines while it runs.
pub struct Human {
    color: bool,
    terminal: bool,
    depth: usize,
    spinner: Option<indicatif::ProgressBar>,
    /// Off a terminal, in a live run: the `still waiting` lines.
    waiting: Option<super::waiting::Waiting>,
    interval: Duration,
}

impl Human {
    pub fn new() -> Self {
        Human::every(super::waiting::DEFAULT_INTERVAL)
    }

    /// Off a terminal, a `still waiting` line each `interval` while an effect runs.
    pub fn every(interval: Duration) -> Self {
        let terminal = std::io::stdout().is_terminal();
        Human { color: stdout_color(), terminal, depth: 0, spinner: None, waiting: None, interval }
    }

    /// Effects sit under their step's heading; top-level effects get one level too.
    fn indent(&self) -> String {
        "  ".repeat(self.depth.max(1))
    }

    fn line(&self, text: &str) {
        match &self.spinner {
            Some(spinner) => spinner.suspend(|| outln(text)),
            None => outln(text),
        }
    }
}

impl Default for Human {
    fn default() -> Self {
        Human::new()
    }
}

impl Reporter for Human {
    fn suspend(&mut self, work: &mut dyn FnMut()) {
        match &self.spinner {
            Some(spinner) => spinner.suspend(work),
            None => work(),
        }
    }

    fn event(&mut self, event: &Event<'_>) {
        let color = self.color;
        match event {
            Event::RunStarted { run_id, script, environment, mode, journal } => {
                if !self.terminal && *mode == crate::effect::Mode::Run {
                    self.waiting = Some(super::waiting::Waiting::start(self.interval));
                }
                self.run_started(&format!("{} {run_id} · {script} · env {environment}", mode.as_str()), *journal);
            }
            Event::StepStarted { name, depth } => {
                self.depth = *depth;
                self.line(&format!("{}{}", "  ".repeat(*depth), paint(color, bold(), name)));
                self.depth = depth + 1;
            }
            Event::StepFinished { name, depth, ok, duration } => {
                if !ok {
                    let text =
                        format!("{}✗ step \"{name}\" failed after {}", self.indent(), format_duration(*duration));
                    self.line(&paint(color, red(), &text));
                }
                self.depth = *depth;
            }
            Event::EffectStarted { effect } => self.effect_started(effect),
            Event::EffectProgress { message, .. } => match &self.spinner {
                Some(spinner) => spinner.set_message(format!("{}{message}", self.indent())),
                None => {
                    self.waiting.iter().for_each(|waiting| waiting.progress(message));
                    outln(&paint(color, dim(), &format!("{}… {message}", self.indent())));
                }
            },
            Event::EffectFinished { effect, result, duration, replayed_from } => {
                self.effect_finished(effect, *result, *duration, *replayed_from);
            }
            Event::Log { level, message, .. } => self.log_line(*level, message),
            Event::Output { text } => {
                for line in text.lines() {
                    self.line(&format!("{}{line}", self.indent()));
                }
            }
            Event::CompensationsStarted { count } => {
                // An effect cut short by a signal never finished: stop waiting for it.
                self.waiting.iter().for_each(|waiting| waiting.effect_finished());
                self.depth = 0;
                self.line(&paint(
                    color,
                    yellow(),
                    &format!("running {count} compensation{} in reverse order", if *count == 1 { "" } else { "s" }),
                ));
            }
            Event::CompensationFinished { origin, error } => {
                if let Some(error) = error {
                    self.line(&paint(
                        color,
                        red(),
                        &format!("  ✗ compensation registered at {origin} failed: {error}"),
                    ));
                }
            }
        }
    }
}

/// The event stages of [`Human`]'s report that take more than a line or two.
impl Human {
    /// A run started: its headline, and where its journal is.
    fn run_started(&mut self, headline: &str, journal: Option<&std::path::Path>) {
        let color = self.color;
        self.line(&paint(color, bold(), headline));
        if let Some(journal) = journal {
            self.line(&paint(color, dim(), &format!("journal {}", journal.display())));
        }
    }

    /// An effect started: on a terminal, a spinner says which until it finishes; off one,
    /// in a live run, a line says so and `still waiting` lines follow while it runs.
    fn effect_started(&mut self, effect: &Effect) {
        if let Some(waiting) = &self.waiting {
            let label = format!("{} {}", effect.kind, summarize_args(&effect.args));
            outln(&format!("{}→ {}", self.indent(), label.trim_end()));
            waiting.effect_started(label.trim_end().to_string(), self.indent());
        }
        if self.terminal {
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.set_message(format!("{}{} {}", self.indent(), effect.kind, summarize_args(&effect.args)));
            spinner.enable_steady_tick(Duration::from_millis(100));
            self.spinner = Some(spinner);
        }
    }

    /// An effect finished: its line, its result's summary, and its error if it failed.
    fn effect_finished(
        &mut self,
        effect: &Effect,
        result: Result<&Value, &EffectError>,
        duration: Duration,
        replayed_from: Option<&str>,
    ) {
        let color = self.color;
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
        self.waiting.iter().for_each(|waiting| waiting.effect_finished());
        let mut line = effect_line(effect, result.is_ok(), duration, color, &self.indent());
        if let Some(run) = replayed_from {
            line.push_str(&paint(color, dim(), &format!(" replayed from {run}")));
        }
        outln(&line);
        if let Some(summary) = result_summary(result.ok()) {
            outln(&paint(color, dim(), &format!("{}    {summary}", self.indent())));
        }
        if let Err(error) = result {
            outln(&paint(color, red(), &format!("{}    {}", self.indent(), error.message)));
        }
    }

    /// A script's log line, marked and colored by its level.
    fn log_line(&mut self, level: Level, message: &str) {
        let color = self.color;
        let text = match level {
            Level::Warn => paint(color, yellow(), &format!("{}warn: {message}", self.indent())),
            Level::Debug => paint(color, dim(), &format!("{}debug: {message}", self.indent())),
            Level::Info => format!("{}{message}", self.indent()),
        };
        self.line(&text);
    }
}

fn effect_line(effect: &Effect, ok: bool, duration: Duration, color: bool, indent: &str) -> String {
    let mark = if ok { paint(color, green(), "✓") } else { paint(color, red(), "✗") };
    let summary = summarize_args(&effect.args);
    format!(
        "{indent}{mark} {} {summary} {}",
        paint(color, bold(), &effect.kind),
        paint(color, dim(), &format!("({})", format_duration(duration)))
    )
}

/// The end of a run for people: status, duration, effect count, journal, error.
pub fn print_run_summary(report: &RunReport) {
    let color = stdout_color();
    let effects = report.effects.len();
    let failed_compensations = report.compensations.iter().filter(|c| c.error.is_some()).count();
    let status = match report.status {
        RunStatus::Succeeded => paint(color, green(), "succeeded"),
        RunStatus::Failed => paint(color, red(), "failed"),
        RunStatus::Refused => paint(color, red(), "refused by policy"),
        RunStatus::Halted => paint(color, red(), "halted"),
        RunStatus::Interrupted => paint(color, red(), "interrupted"),
    };
    let mut line = format!(
        "\n{status} in {} · {effects} effect{}",
        format_duration(report.duration),
        if effects == 1 { "" } else { "s" }
    );
    if let Some(step) = &report.failed_step {
        line.push_str(&format!(" · failed in step \"{step}\""));
    }
    if !report.compensations.is_empty() {
        line.push_str(&format!(
            " · {} compensation{} ran",
            report.compensations.len(),
            if report.compensations.len() == 1 { "" } else { "s" }
        ));
        if failed_compensations > 0 {
            line.push_str(&format!(", {failed_compensations} failed"));
        }
    }
    outln(&line);
    if let Some(journal) = &report.journal {
        outln(&format!("journal: {}", journal.display()));
    }
    if let Some(error) = &report.error {
        err(&render_script_error(error, &report.sources, stderr_color()));
    }
    print_resume_hint(report);
}

/// After an interrupted run, its last line on stderr: which compensations a second
/// signal kept from running, then the command that goes on from where it stopped.
pub fn print_resume_hint(report: &RunReport) {
    if report.status != RunStatus::Interrupted {
        return;
    }
    let not_run: Vec<_> = report
        .compensations
        .iter()
        .filter(|c| c.error.as_deref().is_some_and(|e| e.starts_with("not run: cut short")))
        .collect();
    if !not_run.is_empty() {
        let mut text = String::from("compensations cut short, not run:\n");
        for compensation in not_run {
            text.push_str(&format!("  on_failure at {}\n", compensation.origin));
        }
        err(&text);
    }
    err(&format!("to go on from where it stopped:\nshipctl resume {}\n", report.run_id));
}

/// Under a plan: what the live run would stop at before its first effect (missing
/// secrets, repositories, kubeconfig contexts), one warning a line, on stderr: the plan
/// on stdout stays what it is (and `--output json` stays JSON).
pub fn print_needs(problems: &[crate::run::needs::Problem]) {
    if problems.is_empty() {
        return;
    }
    let style = Style::new().bold().fg_color(Some(anstyle::AnsiColor::Yellow.into()));
    let mut text =
        format!("\n{}the live run would stop before its first effect:\n", paint(stderr_color(), style, "warning: "));
    for problem in problems {
        text.push_str(&format!("  {problem}\n"));
    }
    err(&text);
}

/// The numbered plan, grouped by step, compensations last.
pub fn render_plan(report: &RunReport, color: bool) -> String {
    let mut out = String::new();
    let params: Vec<String> = report.params.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let mut title = format!("plan · {} · env {}", report.script, report.environment);
    if !params.is_empty() {
        title.push_str(&format!(" · {}", params.join(" ")));
    }
    out.push_str(&paint(color, bold(), &title));
    out.push_str("\n\n");
    let width = report.effects.iter().map(|effect| effect.kind.len()).max().unwrap_or(0);
    let (main, compensations): (Vec<&EffectReport>, Vec<&EffectReport>) =
        report.effects.iter().partition(|effect| !effect.compensation);
    let mut current: Option<&str> = None;
    for effect in &main {
        if effect.step.as_deref() != current {
            current = effect.step.as_deref();
            if let Some(step) = current {
                out.push_str(&paint(color, bold(), step));
                out.push('\n');
            }
        }
        out.push_str(&plan_line(effect, width, color));
    }
    if !compensations.is_empty() {
        out.push_str(&paint(color, yellow(), "\nif the run fails, these compensations run (last registered first):"));
        out.push('\n');
        for effect in &compensations {
            out.push_str(&plan_line(effect, width, color));
        }
    }
    if main.is_empty() {
        out.push_str("(no effects)\n");
    }
    let verdict = match &report.error {
        None => format!("\n{}; nothing was changed.\n", effect_counts(report)),
        Some(_) => format!(
            "\nthe plan stops at effect {} with an error{}; nothing was changed.\n",
            main.len(),
            report.failed_step.as_ref().map(|step| format!(" in step \"{step}\"")).unwrap_or_default()
        ),
    };
    out.push_str(&verdict);
    out
}

fn plan_line(effect: &EffectReport, width: usize, color: bool) -> String {
    let mark = if effect.error.is_some() { paint(color, red(), " ✗") } else { String::new() };
    let seq = if effect.seq == 0 { "-".to_string() } else { effect.seq.to_string() };
    let (inline, maps) = plan_args(&effect.args);
    let line = format!("{seq:>4}  {:<width$}  {inline}{mark}", effect.kind);
    let mut text = format!("{}\n", line.trim_end());
    for map_line in maps {
        text.push_str(&format!("{:>4}  {:<width$}  {map_line}\n", "", ""));
    }
    if let Some(summary) = result_summary(effect.result.as_ref()) {
        text.push_str(&format!("{:>4}  {:<width$}  {}\n", "", "", paint(color, dim(), summary)));
    }
    if let Some(error) = effect.error.as_deref().filter(|_| effect.compensation) {
        // A compensation's failure does not stop the plan, so say here what it is.
        text.push_str(&format!("{:>4}  {:<width$}  {}\n", "", "", paint(color, red(), error)));
    }
    text.push_str(&plan_diff(effect, color));
    text
}

/// A result's `diff` (what `helm_upgrade --refresh` would change), indented under its effect.
fn plan_diff(effect: &EffectReport, color: bool) -> String {
    let diff = effect.result.as_ref().and_then(|result| result.get("diff")).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    for line in diff.lines() {
        let style = match line.chars().next() {
            Some('+') => green(),
            Some('-') => red(),
            Some('@' | '~') => dim(),
            _ => Style::new(),
        };
        out.push_str(&format!("        {}\n", paint(color, style, line)));
    }
    out
}

/// A result's `summary` field: the one line a primitive offers people about what it
/// did or would do (`web:production  sha256:aaa -> sha256:bbb`).
fn result_summary(result: Option<&Value>) -> Option<&str> {
    result?.get("summary")?.as_str().filter(|summary| !summary.is_empty())
}

fn call_line(call: &Call) -> String {
    format!("{} {}", call.kind, summarize_args(&call.args))
}

fn value_text(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_else(|| "(absent)".to_string())
}

/// Why an executor stopped a run, with the divergence side by side when there is one.
pub fn render_halt(halt: &Halt, color: bool) -> String {
    let mut out = format!("{}{}\n", paint(color, red(), "halted: "), paint(color, bold(), &halt.message));
    if let Some(divergence) = &halt.divergence {
        let step = divergence
            .requested
            .as_ref()
            .or(divergence.recorded.as_ref())
            .and_then(|call| call.step.as_ref())
            .map(|step| format!(" in step \"{step}\""))
            .unwrap_or_default();
        out.push_str(&format!("  at effect {}{step}\n", divergence.seq));
        match &divergence.recorded {
            Some(call) => out.push_str(&format!(
                "  recorded: {}\n            (at {} in the recorded run)\n",
                call_line(call),
                call.origin
            )),
            None => out.push_str("  recorded: nothing: the recorded run never reached this effect\n"),
        }
        match &divergence.requested {
            Some(call) => out.push_str(&format!("  now:      {}\n            (at {})\n", call_line(call), call.origin)),
            None => out.push_str("  now:      nothing: the script ended here\n"),
        }
        if !divergence.differences.is_empty() {
            out.push_str("  differences:\n");
            for difference in &divergence.differences {
                out.push_str(&format!(
                    "    {}: {} -> {}\n",
                    difference.path,
                    value_text(difference.recorded.as_ref()),
                    value_text(difference.requested.as_ref())
                ));
            }
        }
    }
    if let Some(help) = &halt.help {
        out.push_str(&format!(
            "{}{help}\n",
            paint(color, Style::new().bold().fg_color(Some(AnsiColor::Cyan.into())), "help: ")
        ));
    }
    out
}

/// How many effects of each class a plan or run has, as terraform counts them:
/// `10 effects: 6 write, 3 read, 1 notify`, by the primitive's class (the registry's;
/// an unknown kind counts as a write, as resume takes it). Compensations excluded.
pub fn effect_counts(report: &RunReport) -> String {
    use crate::effect::EffectClass;
    let registry = crate::primitives::registry();
    let (mut write, mut read, mut notify) = (0, 0, 0);
    let main = report.effects.iter().filter(|effect| !effect.compensation);
    for effect in main {
        let class = registry.get(&effect.kind).map(|primitive| primitive.class());
        match class.or(effect.class).unwrap_or(EffectClass::Write) {
            EffectClass::Read => read += 1,
            EffectClass::Notify => notify += 1,
            EffectClass::Write => write += 1,
        }
    }
    let total = write + read + notify;
    let mut line = format!("{total} effect{}", if total == 1 { "" } else { "s" });
    let parts: Vec<String> = [(write, "write"), (read, "read"), (notify, "notify")]
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, class)| format!("{count} {class}"))
        .collect();
    if !parts.is_empty() {
        line.push_str(&format!(": {}", parts.join(", ")));
    }
    line
}

/// A plan line's arguments: the scalars and lists inline (`repo="app" name="1.4.0"`),
/// and each map whole, one key per line below the effect, nested maps indented.
fn plan_args(args: &Value) -> (String, Vec<String>) {
    let Value::Object(map) = args else {
        return (args.to_string(), Vec::new());
    };
    let inline = map
        .iter()
        .filter(|(_, value)| !value.is_object())
        .map(|(key, value)| format!("{key}={}", short_value(value, 60)));
    let mut lines = Vec::new();
    for (key, value) in map.iter().filter(|(_, value)| value.is_object()) {
        map_lines(key, value, 0, &mut lines);
    }
    (inline.collect::<Vec<_>>().join(" "), lines)
}

/// `key:` and the map's entries below it, `depth` levels in.
fn map_lines(key: &str, value: &Value, depth: usize, lines: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) if !map.is_empty() => {
            lines.push(format!("{indent}{key}:"));
            for (inner, value) in map {
                map_lines(inner, value, depth + 1, lines);
            }
        }
        other => lines.push(format!("{indent}{key} = {other}")),
    }
}
