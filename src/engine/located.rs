//! Errors with a place in a file, as [`miette::Diagnostic`]s the one renderer
//! (`cli::diagnostic::render_diagnostic`) prints: the file's text as source code, a
//! label at the place, and the notes under the error (the step, the call chain) as
//! related diagnostics.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::base::location::Location;

use super::diagnostic::ScriptError;
use super::sources::Sources;

/// A located error as the renderer takes it. Its message is the error's message
/// without the place (the renderer prints the place from the source code); code and
/// help are the error's own.
#[derive(Debug)]
pub struct Located<'a> {
    error: &'a dyn Diagnostic,
    message: &'a str,
    snippet: Option<Snippet<'a>>,
    notes: Vec<Note>,
}

impl<'a> Located<'a> {
    /// `error`, whose message is `message`, at `location` in a file whose text is
    /// `text` (`None` when the file could not be read).
    pub fn new(
        error: &'a dyn Diagnostic,
        message: &'a str,
        location: Option<&Location>,
        text: Option<&'a str>,
    ) -> Located<'a> {
        let snippet = location.map(|location| Snippet::new(location.clone(), text));
        Located { error, message, snippet, notes: Vec::new() }
    }

    /// A script error in the text of the script it points into; the step it happened
    /// in and the calls that led there (innermost first, read from the error outwards)
    /// become its notes.
    pub fn script(error: &'a ScriptError, sources: &'a Sources) -> Located<'a> {
        let text = error.location.as_ref().and_then(|location| sources.0.get(&location.file)).map(String::as_str);
        let mut located = Located::new(error, &error.message, error.location.as_ref(), text);
        located.notes.extend(error.step.iter().map(|step| Note(format!("in step \"{step}\""))));
        located.notes.extend(
            error.trace.iter().rev().map(|frame| Note(format!("in {}, called at {}", frame.function, frame.location))),
        );
        located
    }
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message)
    }
}

impl std::error::Error for Located<'_> {}

impl Diagnostic for Located<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.error.code()
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.error.help()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.snippet.as_ref().map(|snippet| snippet as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.snippet.as_ref()?.span();
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(None, span))))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        if self.notes.is_empty() {
            return None;
        }
        Some(Box::new(self.notes.iter().map(|note| note as &dyn Diagnostic)))
    }
}

/// A line under a located error: the step it happened in, or a call that led there.
#[derive(Debug)]
pub struct Note(String);

impl fmt::Display for Note {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Note {}

impl Diagnostic for Note {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
}

/// The file a located error points into, read back through [`SourceCode`]. A span
/// reads as the whole line it starts on: `line()` is that line (0-based), `column()` 0,
/// so the span's column is the number of characters between the line's start and the
/// span (characters, not bytes, as Rhai and the config locator count columns).
///
/// The text is kept only when it reaches the place: when the file could not be read,
/// or the place lies past the end of its line or of the file, every span reads as the
/// place alone, with no text, so the error still says where it is.
#[derive(Debug)]
pub struct Snippet<'a> {
    location: Location,
    text: Option<&'a str>,
}

impl<'a> Snippet<'a> {
    /// The place `location` in a file whose text is `text`.
    pub fn new(location: Location, text: Option<&'a str>) -> Snippet<'a> {
        let text = text.filter(|text| offset_of(text, &location).is_some());
        Snippet { location, text }
    }

    /// The place as a zero-length span at its byte offset (0 without text).
    pub fn span(&self) -> SourceSpan {
        let offset = self.text.and_then(|text| offset_of(text, &self.location)).unwrap_or(0);
        SourceSpan::new(offset.into(), 0)
    }

    fn place_alone(&self, span: &SourceSpan) -> MietteSpanContents<'a> {
        let (line, column) = (self.location.line.saturating_sub(1), self.location.column.saturating_sub(1));
        MietteSpanContents::new_named(self.location.file.clone(), &[], *span, line, column, 0)
    }
}

impl SourceCode for Snippet<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let Some(text) = self.text else { return Ok(Box::new(self.place_alone(span))) };
        let lines = line_spans(text);
        let index = lines.iter().position(|&(start, end)| (start..=end).contains(&span.offset()));
        let index = index.ok_or(MietteError::OutOfBounds)?;
        let first = index.saturating_sub(context_lines_before);
        let last = (index + context_lines_after).min(lines.len() - 1);
        let (start, end) = (lines[first].0, lines[last].1);
        let data = &text.as_bytes()[start..end];
        let contents = MietteSpanContents::new_named(
            self.location.file.clone(),
            data,
            SourceSpan::new(start.into(), end - start),
            first,
            0,
            last - first + 1,
        );
        Ok(Box::new(contents))
    }
}

/// Byte ranges of the lines of `text` as [`str::lines`] splits them (without their
/// `\n` or `\r\n`).
fn line_spans(text: &str) -> Vec<(usize, usize)> {
    let mut start = 0;
    let mut spans = Vec::new();
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').map_or(line, |line| line.strip_suffix('\r').unwrap_or(line));
        spans.push((start, start + content.len()));
        start += line.len();
    }
    spans
}

/// Byte offset of `location` (1-based line, column in characters) in `text`, if the
/// text has that line and the column is on it or just after its last character.
fn offset_of(text: &str, location: &Location) -> Option<usize> {
    let (start, end) = *line_spans(text).get(location.line.checked_sub(1)?)?;
    let line = &text[start..end];
    let column = location.column.checked_sub(1)?;
    let within = line.char_indices().map(|(index, _)| index).chain([line.len()]).nth(column)?;
    Some(start + within)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(line: usize, column: usize) -> Location {
        Location { file: "release.rhai".to_string(), line, column }
    }

    #[test]
    fn a_place_reads_back_as_its_line_with_the_column_in_characters() {
        let text = "let a = 1;\r\nlet é = ü + 1;\n";
        let snippet = Snippet::new(place(2, 9), Some(text));
        let span = snippet.span();
        assert_eq!(&text[span.offset()..span.offset() + 2], "ü");
        let contents = snippet.read_span(&span, 0, 0).unwrap();
        assert_eq!(std::str::from_utf8(contents.data()).unwrap(), "let é = ü + 1;");
        assert_eq!((contents.line(), contents.column(), contents.line_count()), (1, 0, 1));
        assert_eq!(contents.name(), Some("release.rhai"));
    }

    #[test]
    fn a_place_the_text_does_not_reach_reads_as_the_place_alone() {
        for (text, location) in [(Some("a\n"), place(2, 1)), (Some("abc\n"), place(1, 6)), (None, place(4, 2))] {
            let snippet = Snippet::new(location.clone(), text);
            let contents = snippet.read_span(&snippet.span(), 0, 0).unwrap();
            assert!(contents.data().is_empty());
            assert_eq!(contents.line_count(), 0);
            assert_eq!((contents.line() + 1, contents.column() + 1), (location.line, location.column));
        }
    }

    #[test]
    fn the_end_of_a_line_is_a_place_on_it() {
        let snippet = Snippet::new(place(1, 4), Some("abc"));
        assert_eq!(snippet.span().offset(), 3);
        assert_eq!(snippet.read_span(&snippet.span(), 0, 0).unwrap().data(), b"abc");
    }
}
