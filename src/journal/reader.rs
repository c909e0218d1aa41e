//! Reading a journal back. A journal on disk is untrusted: only regular files are
//! opened (a FIFO would block forever), no line is read into memory past
//! [`MAX_LINE_BYTES`], and every record is checked by [`check_record`] before anyone
//! uses it. Anything wrong is an error naming the file and the line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::validate::{KNOWN_TYPES, MAX_LINE_BYTES, check_record};
use super::{FORMAT_VERSION, Footer, Header, JournalError, Record};

/// A journal read from disk.
#[derive(Debug, Clone)]
pub struct Journal {
    pub path: PathBuf,
    pub header: Header,
    /// Every record after the header, the footer included when there is one.
    pub records: Vec<Record>,
    /// The line each record is on (1-based; the header is line 1).
    pub lines: Vec<usize>,
    /// The last line was cut off mid-record (the process died while writing it).
    pub truncated: bool,
}

impl Journal {
    /// The footer, if the run got to write one.
    pub fn footer(&self) -> Option<&Footer> {
        match self.records.last() {
            Some(Record::Footer(footer)) => Some(footer),
            _ => None,
        }
    }
}

/// Open `path` for reading if it is a regular file (or a link to one). Anything else
/// (a FIFO, a device, a directory) is refused. The file is opened non-blocking and
/// checked through the open handle, so a FIFO put in place between a check and the
/// `open` cannot make the open wait for a writer forever.
pub(super) fn open_regular(path: &Path) -> Result<File, JournalError> {
    crate::base::files::open_regular(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::InvalidInput => JournalError::Invalid {
            path: path.to_path_buf(),
            line: 1,
            message: "not a regular file (a FIFO, device or directory is never read as a journal)".to_string(),
        },
        _ => JournalError::Read { path: path.to_path_buf(), source },
    })
}

/// One line of a journal, without its line break.
pub(super) struct Line {
    /// 1-based.
    pub number: usize,
    pub text: String,
    /// False for a last line the writer never finished.
    pub complete: bool,
}

/// The lines of a journal, each read with a cap of [`MAX_LINE_BYTES`].
pub(super) struct Lines<R> {
    reader: R,
    path: PathBuf,
    number: usize,
    done: bool,
}

impl Lines<BufReader<File>> {
    /// The lines of the regular file at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, JournalError> {
        Ok(Lines::new(BufReader::new(open_regular(path)?), path))
    }
}

impl Lines<BufReader<File>> {
    /// Skip ahead to the last `window` bytes of the file, past the first line break
    /// there, when that is further than where reading is now: listings want the last
    /// line, and a huge journal must not be read through to find it. `window` must be
    /// more than the longest line with its break, so the last line is never skipped.
    pub(super) fn skip_to_tail(&mut self, window: u64) -> Result<(), JournalError> {
        let io = |source| JournalError::Read { path: self.path.clone(), source };
        let position = self.reader.stream_position().map_err(io)?;
        let length = self.reader.get_ref().metadata().map_err(io)?.len();
        let tail = length.saturating_sub(window);
        if tail <= position {
            return Ok(());
        }
        self.reader.seek(SeekFrom::Start(tail)).map_err(io)?;
        self.reader.skip_until(b'\n').map_err(io)?;
        Ok(())
    }
}

impl<R: BufRead> Lines<R> {
    /// The lines of `reader`; `path` names it in errors.
    pub(super) fn new(reader: R, path: &Path) -> Self {
        Lines { reader, path: path.to_path_buf(), number: 0, done: false }
    }

    /// The next line, `None` at the end. A line longer than [`MAX_LINE_BYTES`] or not
    /// UTF-8 is an error, and ends the reading.
    pub(super) fn next_line(&mut self) -> Result<Option<Line>, JournalError> {
        if self.done {
            return Ok(None);
        }
        self.number += 1;
        let mut bytes = Vec::new();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut self.reader).take(limit).read_until(b'\n', &mut bytes);
        read.map_err(|source| JournalError::Read { path: self.path.clone(), source })?;
        if bytes.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let complete = bytes.last() == Some(&b'\n');
        if complete {
            bytes.pop();
        }
        if bytes.len() > MAX_LINE_BYTES {
            self.done = true;
            return Err(self.invalid(format!("the line is longer than {MAX_LINE_BYTES} bytes")));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            self.done = true;
            self.invalid("the line is not UTF-8".to_string())
        })?;
        if !complete {
            self.done = true;
        }
        Ok(Some(Line { number: self.number, text, complete }))
    }

    fn invalid(&self, message: String) -> JournalError {
        JournalError::Invalid { path: self.path.clone(), line: self.number, message }
    }
}

/// Read and check a journal. A last line cut mid-record is dropped and reported through
/// [`Journal::truncated`]; any other broken line is an error naming it.
pub fn read_journal(path: &Path) -> Result<Journal, JournalError> {
    read_lines(Lines::open(path)?, path)
}

/// [`read_journal`] of bytes already in memory; `path` names them in errors.
pub fn parse_journal(bytes: &[u8], path: &Path) -> Result<Journal, JournalError> {
    read_lines(Lines::new(bytes, path), path)
}

fn read_lines<R: BufRead>(mut lines: Lines<R>, path: &Path) -> Result<Journal, JournalError> {
    let invalid = |line: usize, message: String| JournalError::Invalid { path: path.to_path_buf(), line, message };
    let first = lines.next_line()?.ok_or_else(|| invalid(1, "the journal is empty".to_string()))?;
    let header = parse_header(&first.text).map_err(|message| invalid(1, message))?;
    let mut records = Vec::new();
    let mut numbers = Vec::new();
    let mut truncated = false;
    while let Some(line) = lines.next_line()? {
        match parse_record(&line.text) {
            Ok(Record::Header(_)) => return Err(invalid(line.number, "a second header".to_string())),
            Ok(record) => {
                records.push(record);
                numbers.push(line.number);
            }
            Err(RecordError::Syntax(_)) if !line.complete => truncated = true,
            Err(error) => return Err(invalid(line.number, error.to_string())),
        }
    }
    Ok(Journal { path: path.to_path_buf(), header, records, lines: numbers, truncated })
}

/// Why a line is not a record.
#[derive(Debug)]
pub(super) enum RecordError {
    /// Not JSON at all (also what a line cut mid-write looks like).
    Syntax(String),
    /// JSON, but not a record this shipctl accepts.
    Invalid(String),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Syntax(message) | RecordError::Invalid(message) => formatter.write_str(message),
        }
    }
}

/// Parse and check one record line.
pub(super) fn parse_record(line: &str) -> Result<Record, RecordError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|error| RecordError::Syntax(format!("not a journal record: {error}")))?;
    let Some(kind) = value.get("type").and_then(|kind| kind.as_str()).map(str::to_string) else {
        return Err(RecordError::Invalid("not a journal record: no \"type\"".to_string()));
    };
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Err(RecordError::Invalid(format!(
            "a record of type {:?}, which this shipctl (journal format {FORMAT_VERSION}, version {}) does not know; \
             was the journal written by a newer shipctl?",
            kind.chars().take(40).collect::<String>(),
            env!("CARGO_PKG_VERSION")
        )));
    }
    let record = typed_record(&kind, value)
        .map_err(|message| RecordError::Invalid(format!("broken {kind} record: {message}")))?;
    check_record(&record).map_err(|message| RecordError::Invalid(format!("broken {kind} record: {message}")))?;
    Ok(record)
}

/// Deserialize the record of type `kind` through its own struct, so an error names the
/// field (serde cannot see fields through the internally tagged [`Record`]).
fn typed_record(kind: &str, value: serde_json::Value) -> Result<Record, String> {
    fn typed<'de, T: serde::Deserialize<'de>>(value: impl serde::Deserializer<'de>) -> Result<T, String> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let field = error.path().to_string();
            match field.as_str() {
                "." => error.into_inner().to_string(),
                _ => format!("field {field}: {}", error.into_inner()),
            }
        })
    }
    match kind {
        "header" => typed(value).map(Record::Header),
        "step" => typed(value).map(Record::Step),
        // The effect's fields are flattened into the intent, and serde loses a field's
        // name through `flatten`: read them as an effect first, so an error names it.
        "intent" => typed::<super::Effect>(&value).and_then(|_| typed(value)).map(Record::Intent),
        "outcome" => typed(value).map(Record::Outcome),
        "log" => typed(value).map(Record::Log),
        "footer" => typed(value).map(Record::Footer),
        other => Err(format!("unknown record type {other:?}")),
    }
}

/// The header alone, for listings.
pub(super) fn parse_header(line: &str) -> Result<Header, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|error| format!("the first line is not JSON: {error}"))?;
    if value.get("type").and_then(|kind| kind.as_str()) != Some("header") {
        return Err("the first line is not a journal header; is this a shipctl journal?".to_string());
    }
    let format = value.get("format").and_then(|format| format.as_u64()).unwrap_or(0);
    if format > u64::from(FORMAT_VERSION) {
        return Err(format!(
            "journal format {format} is newer than this shipctl reads (format {FORMAT_VERSION}, shipctl {}); \
             upgrade shipctl to read it",
            env!("CARGO_PKG_VERSION")
        ));
    }
    match parse_record(line) {
        Ok(Record::Header(header)) => Ok(header),
        Ok(_) => Err("the first line is not a journal header".to_string()),
        Err(error) => Err(error.to_string()),
    }
}

/// The footer, when `line` is one.
pub(super) fn parse_footer(line: &str) -> Option<Footer> {
    match parse_record(line) {
        Ok(Record::Footer(footer)) => Some(footer),
        _ => None,
    }
}
