//! One renderer for every error that carries a message and a hint: anything that
//! implements [`miette::Diagnostic`] prints as `error: <message>` and `help: <help>`.

use crate::engine::{Sources, render_parts};

/// `diagnostic` for a terminal, in the layout located script and config errors use
/// too; `color` adds ANSI styles. Located errors go through
/// [`crate::engine::render_parts`] with their source line.
pub fn render_diagnostic(diagnostic: &dyn miette::Diagnostic, color: bool) -> String {
    let help = diagnostic.help().map(|help| help.to_string());
    render_parts(&diagnostic.to_string(), None, None, &[], help.as_deref(), &Sources::default(), color)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

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
}
