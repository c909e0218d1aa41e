//! `--format github`: GitHub Actions workflow commands (`::error file=…::…`) for errors
//! and failed tests, and a Markdown summary of a plan or run appended to
//! `$GITHUB_STEP_SUMMARY`.
//!
//! Messages come from scripts, arguments and outside systems: everything written into a
//! workflow command is escaped as GitHub's toolkit does (`%`, `\r`, `\n` in the message;
//! also `:` and `,` in properties), so no text can end the command and start another.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::base::location::Location;
use crate::base::time::format_duration;
use crate::engine::ScriptError;
use crate::error::Error;
use crate::run::RunReport;

use super::output::{self, summarize_args};

/// The message of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A property value of a workflow command (`file=`, `title=`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=F,line=L,col=C::message`, or `::error::message` without a place.
pub fn error_command(location: Option<&Location>, message: &str) -> String {
    match location {
        Some(at) => format!(
            "::error file={},line={},col={}::{}",
            escape_property(&at.file),
            at.line,
            at.column,
            escape_data(message)
        ),
        None => format!("::error::{}", escape_data(message)),
    }
}

/// One command per located script error; the error's text otherwise.
pub fn error_commands(error: &Error) -> Vec<String> {
    match error {
        Error::Script { errors, .. } => errors.iter().map(script_error_command).collect(),
        other => vec![error_command(None, &other.to_string())],
    }
}

/// A script error as a command, its help appended to the message.
pub fn script_error_command(error: &ScriptError) -> String {
    let mut message = error.message.clone();
    if let Some(step) = &error.step {
        message.push_str(&format!(" (in step \"{step}\")"));
    }
    if let Some(help) = &error.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    error_command(error.location.as_ref(), &message)
}

/// Print `commands` on stdout, where the runner reads them.
pub fn print(commands: &[String]) {
    for command in commands {
        output::outln(command);
    }
}

/// A table cell: one line, no `|` to end the cell, no HTML.
fn cell(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    one_line.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace('`', "'")
}

/// The plan or run as Markdown: outcome, journal, one table row per effect.
pub fn summary_markdown(report: &RunReport) -> String {
    let mut out = format!(
        "### shipctl {} · {} · env {}\n\n",
        report.mode.as_str(),
        cell(&report.script),
        cell(&report.environment)
    );
    out.push_str(&format!(
        "**{}** in {} · {}\n",
        report.status,
        format_duration(report.duration),
        output::effect_counts(report)
    ));
    if let Some(journal) = &report.journal {
        let name = journal.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        out.push_str(&format!("\njournal: {}\n", cell(&name)));
    }
    if let Some(error) = &report.error {
        out.push_str(&format!("\nerror: {}\n", cell(&error.to_string())));
    }
    out.push_str("\n| # | step | effect | arguments | duration | result |\n| ---: | --- | --- | --- | ---: | --- |\n");
    for effect in &report.effects {
        let result = match (&effect.error, effect.compensation) {
            (Some(error), _) => format!("✗ {}", cell(error)),
            (None, true) => "compensation".to_string(),
            (None, false) => "✓".to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {result} |\n",
            effect.seq,
            cell(effect.step.as_deref().unwrap_or("")),
            effect.kind,
            cell(&summarize_args(&effect.args)),
            format_duration(effect.duration),
        ));
    }
    out
}

/// Append `markdown` to the file `$GITHUB_STEP_SUMMARY` names, when it is set. The path
/// must be an existing regular file (not a symlink, FIFO or device); it is opened
/// append-only and never created. A refusal is a warning: the run itself stands.
pub fn append_step_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|path| !path.is_empty()) else {
        return;
    };
    if let Err(why) = append_to(Path::new(&path), markdown) {
        output::err(&format!("warning: not writing the step summary to {}: {why}\n", Path::new(&path).display()));
    }
}

/// [`append_step_summary`] into `path`.
pub fn append_to(path: &Path, markdown: &str) -> Result<(), String> {
    let metadata = std::fs::symlink_metadata(path).map_err(|error| error.to_string())?;
    if !metadata.file_type().is_file() {
        return Err("not a regular file".to_string());
    }
    let mut file = open_append(path).map_err(|error| error.to_string())?;
    // Checked again on the open file: the path may have been swapped in between.
    if !file.metadata().map_err(|error| error.to_string())?.file_type().is_file() {
        return Err("not a regular file".to_string());
    }
    file.write_all(format!("{markdown}\n").as_bytes()).map_err(|error| error.to_string())
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().append(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str) -> Location {
        Location { file: file.to_string(), line: 3, column: 7 }
    }

    #[test]
    fn a_located_error() {
        let command = error_command(Some(&at("scripts/web/release.rhai")), "unknown argument \"nmae\"");
        assert_eq!(command, "::error file=scripts/web/release.rhai,line=3,col=7::unknown argument \"nmae\"");
    }

    #[test]
    fn a_hostile_message_cannot_start_a_second_command() {
        let command = error_command(Some(&at("a,line=1::x.rhai")), "boom\n::error file=evil::forged\r%0A");
        assert_eq!(command.lines().count(), 1, "{command}");
        // The runner splits the properties from the message at the first `::`.
        let (properties, _) = command["::error ".len()..].split_once("::").unwrap();
        assert_eq!(properties, "file=a%2Cline=1%3A%3Ax.rhai,line=3,col=7");
        assert_eq!(
            command,
            "::error file=a%2Cline=1%3A%3Ax.rhai,line=3,col=7::boom%0A::error file=evil::forged%0D%250A"
        );
    }

    #[test]
    fn summary_cells_stay_in_their_cell() {
        assert_eq!(cell("a|b\n<script>`x`"), "a\\|b &lt;script&gt;'x'");
    }

    #[test]
    fn the_summary_file_must_be_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("summary.md");
        std::fs::write(&file, "before\n").unwrap();
        append_to(&file, "after").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "before\nafter\n");
        assert!(append_to(dir.path(), "x").is_err());
        assert!(append_to(&dir.path().join("missing.md"), "x").is_err());
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(append_to(&link, "x"), Err("not a regular file".to_string()));
        assert!(append_to(Path::new("/dev/null"), "x").is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "before\nafter\n");
    }
}
