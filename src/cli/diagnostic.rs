//! The one renderer for every error shipctl prints: anything that implements
//! [`miette::Diagnostic`] prints as `error: <message>`, then, when it has a place (its
//! source code and first label), `--> file:line:col` with the source line and a caret,
//! then its related diagnostics as `= ...` notes, then `help: <help>`.
//!
//! Text from scripts and config (messages, source lines, file names) is printed with
//! its control characters escaped, so an error string cannot move the cursor or
//! recolor the terminal; tabs and line breaks are kept.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use miette::Diagnostic;

/// `diagnostic` for a terminal; `color` adds ANSI styles.
pub fn render_diagnostic(diagnostic: &dyn Diagnostic, color: bool) -> String {
    let paint = |style: Style, text: &str| {
        if color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_string() }
    };
    let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
    let blue = Style::new().bold().fg_color(Some(AnsiColor::Blue.into()));
    let cyan = Style::new().bold().fg_color(Some(AnsiColor::Cyan.into()));
    let mut out = String::new();
    let _ =
        writeln!(out, "{}{}", paint(red, "error: "), paint(Style::new().bold(), &printable(&diagnostic.to_string())));
    if let Some(place) = Place::read(diagnostic) {
        let gutter = " ".repeat(place.line.to_string().len());
        let _ =
            writeln!(out, "{gutter}{} {}:{}:{}", paint(blue, "-->"), printable(&place.file), place.line, place.column);
        if let Some(text) = &place.text {
            let (shown, marker_pad) = caret_line(text, place.column);
            let _ = writeln!(out, "{gutter} {}", paint(blue, "|"));
            let _ = writeln!(out, "{} {} {shown}", paint(blue, &place.line.to_string()), paint(blue, "|"));
            let _ = writeln!(out, "{gutter} {} {marker_pad}{}", paint(blue, "|"), paint(red, "^"));
        }
    }
    for note in diagnostic.related().into_iter().flatten() {
        let _ = writeln!(out, "  = {}", printable(&note.to_string()));
    }
    if let Some(help) = diagnostic.help() {
        let _ = writeln!(out, "{}{}", paint(cyan, "help: "), printable(&help.to_string()));
    }
    out
}

/// Where a diagnostic points, read back from its source code at its first label.
struct Place {
    file: String,
    /// 1-based.
    line: usize,
    /// 1-based, in characters.
    column: usize,
    /// The source line, when the source has it.
    text: Option<String>,
}

impl Place {
    fn read(diagnostic: &dyn Diagnostic) -> Option<Place> {
        let label = diagnostic.labels()?.next()?;
        let contents = diagnostic.source_code()?.read_span(label.inner(), 0, 0).ok()?;
        let data = std::str::from_utf8(contents.data()).ok()?;
        let before = data.get(..label.offset().checked_sub(contents.span().offset())?)?;
        let text = (contents.line_count() > 0).then(|| data.lines().next().unwrap_or_default().to_string());
        Some(Place {
            file: contents.name().unwrap_or("<unknown>").to_string(),
            line: contents.line() + 1,
            column: contents.column() + before.chars().count() + 1,
            text,
        })
    }
}

/// The source line as shown, and the run of blanks that puts a caret under
/// `column`: tabs where the line has tabs, so the caret lines up however wide the
/// terminal draws them.
fn caret_line(text: &str, column: usize) -> (String, String) {
    let before: String = text.chars().take(column.saturating_sub(1)).collect();
    let marker_pad = printable(&before).chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    (printable(text), marker_pad)
}

/// `text` with control characters other than tab and line break escaped (`\u{1b}`).
fn printable(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return text.to_string();
    }
    text.chars()
        .map(|c| if c.is_control() && c != '\t' && c != '\n' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::location::Location;
    use crate::engine::{Frame, Located, ScriptError, ScriptErrorKind, Sources};
    use crate::error::Error;

    fn script_error(message: &str, line: usize, column: usize) -> ScriptError {
        ScriptError {
            kind: ScriptErrorKind::Runtime,
            message: message.to_string(),
            location: Some(Location { file: "release.rhai".to_string(), line, column }),
            help: None,
            trace: Vec::new(),
            step: None,
        }
    }

    fn sources(text: &str) -> Sources {
        Sources([("release.rhai".to_string(), text.to_string())].into())
    }

    #[test]
    fn prints_message_then_help_and_keeps_the_code() {
        let error = Error::usage("no such environment \"prod\"", Some("known: staging".to_string()));
        let text = render_diagnostic(&error, false);
        assert_eq!(text, "error: no such environment \"prod\"\nhelp: known: staging\n");
        assert_eq!(miette::Diagnostic::code(&error).map(|code| code.to_string()).as_deref(), Some("shipctl::usage"));
    }

    #[test]
    fn prints_no_help_line_without_help() {
        let text = render_diagnostic(&Error::Internal("broken".to_string()), false);
        assert_eq!(text, "error: broken\n");
    }

    #[test]
    fn a_located_error_shows_its_line_and_a_caret_counted_in_characters() {
        let mut error = script_error("boom", 2, 12);
        error.step = Some("Deploy".to_string());
        error.trace = vec![
            Frame {
                function: "closure".to_string(),
                location: Location { file: "release.rhai".into(), line: 1, column: 1 },
            },
            Frame {
                function: "function f".to_string(),
                location: Location { file: "lib.rhai".into(), line: 3, column: 8 },
            },
        ];
        error.help = Some("try again".to_string());
        let sources = sources("let a = 1;\n\tlet é = ü(1);\n");
        let text = render_diagnostic(&Located::script(&error, &sources), false);
        let expected = "error: boom\n --> release.rhai:2:12\n  |\n2 | \tlet é = ü(1);\n  | \t          ^\n  = in step \"Deploy\"\n  = in function f, called at lib.rhai:3:8\n  = in closure, called at release.rhai:1:1\nhelp: try again\n";
        assert_eq!(text, expected);
        assert_eq!(
            miette::Diagnostic::code(&Located::script(&error, &sources)).unwrap().to_string(),
            "shipctl::script"
        );
    }

    #[test]
    fn a_place_past_the_text_or_without_text_shows_the_place_alone() {
        let error = script_error("boom", 7, 3);
        let text = render_diagnostic(&Located::script(&error, &sources("one line\n")), false);
        assert_eq!(text, "error: boom\n --> release.rhai:7:3\n");
        let text = render_diagnostic(&Located::script(&error, &Sources::default()), false);
        assert_eq!(text, "error: boom\n --> release.rhai:7:3\n");
    }

    #[test]
    fn escape_sequences_in_a_message_or_a_source_line_are_shown_not_obeyed() {
        let error = script_error("\u{1b}[2J\u{1b}]0;owned\u{7}gone", 1, 12);
        let sources = sources("fail(\"\u{1b}[31m\", x);\n");
        let text = render_diagnostic(&Located::script(&error, &sources), false);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.starts_with("error: \\u{1b}[2J\\u{1b}]0;owned\\u{7}gone\n"), "{text}");
        // The caret stays under the character the column names, after the escaped text.
        assert!(text.contains("1 | fail(\"\\u{1b}[31m\", x);\n  |                 ^\n"), "{text}");
    }

    #[test]
    fn a_config_error_shows_its_file_line_and_only_the_place_once_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shipctl.toml");
        std::fs::write(&file, "[limits]\n\tmax_operations = 0\n").unwrap();
        let location = Location { file: file.display().to_string(), line: 2, column: 2 };
        let error = Error::Config(crate::config::ConfigError {
            location: Some(location.clone()),
            message: "max_operations = 0".to_string(),
            help: Some("the minimum is 1".to_string()),
        });
        let shown = crate::cli::output::render_error(&error, false);
        let source = "2 | \tmax_operations = 0\n  | \t^\nhelp: the minimum is 1\n";
        assert_eq!(shown, format!("error: max_operations = 0\n --> {location}\n  |\n{source}"));
        std::fs::remove_file(&file).unwrap();
        let shown = crate::cli::output::render_error(&error, false);
        assert_eq!(shown, format!("error: max_operations = 0\n --> {location}\nhelp: the minimum is 1\n"));
    }

    #[test]
    fn colors_wrap_the_parts_not_the_text() {
        let error = script_error("boom", 1, 1);
        let text = render_diagnostic(&Located::script(&error, &sources("x\n")), true);
        assert!(text.contains("\u{1b}[1m\u{1b}[31merror: "), "{text:?}");
        assert!(text.contains("boom"), "{text:?}");
    }
}
