//! Reading a journal back.

use std::path::{Path, PathBuf};

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

/// Read and check a journal. A last line cut mid-record is dropped and reported through
/// [`Journal::truncated`]; any other broken line is an error naming it.
pub fn read_journal(path: &Path) -> Result<Journal, JournalError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| JournalError::Read { path: path.to_path_buf(), source })?;
    let invalid = |line: usize, message: String| JournalError::Invalid { path: path.to_path_buf(), line, message };
    let lines: Vec<&str> = text.lines().collect();
    let ends_with_newline = text.ends_with('\n');
    let first = lines.first().ok_or_else(|| invalid(1, "the journal is empty".to_string()))?;
    let header = parse_header(first).map_err(|message| invalid(1, message))?;
    let mut records = Vec::with_capacity(lines.len());
    let mut numbers = Vec::with_capacity(lines.len());
    let mut truncated = false;
    for (index, line) in lines.iter().enumerate().skip(1) {
        match serde_json::from_str::<Record>(line) {
            Ok(Record::Header(_)) => return Err(invalid(index + 1, "a second header".to_string())),
            Ok(record) => {
                records.push(record);
                numbers.push(index + 1);
            }
            Err(_) if index == lines.len() - 1 && !ends_with_newline => truncated = true,
            Err(error) => return Err(invalid(index + 1, format!("not a journal record: {error}"))),
        }
    }
    Ok(Journal { path: path.to_path_buf(), header, records, lines: numbers, truncated })
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
    match serde_json::from_value::<Record>(value) {
        Ok(Record::Header(header)) => Ok(header),
        Ok(_) => Err("the first line is not a journal header".to_string()),
        Err(error) => Err(format!("broken header: {error}")),
    }
}
