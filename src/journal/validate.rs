//! A journal read back from disk is untrusted input: it may have been edited, cut, or
//! written by a newer shipctl. [`check_record`] is the one place every field of a
//! parsed record is checked before replay, resume or a listing uses it, so nothing
//! downstream has to guess (slice a sha, subtract from a line number, trust a seq).

use std::path::{Component, Path};

use crate::base::location::Location;

use super::{FORMAT_VERSION, Header, Record};

/// The longest line a journal may have. A record holds one effect's arguments and
/// result, redacted; 16 MiB is far above any real one, and a line is never read into
/// memory past it.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The highest effect number a journal may name. A run stops at `max_operations` long
/// before this; anything above is a forged or corrupted number.
pub const MAX_SEQ: u64 = 100_000_000;

/// The longest duration a record may claim: ten years, in milliseconds.
const MAX_DURATION_MS: u64 = 10 * 366 * 24 * 60 * 60 * 1000;

/// The largest line or column a recorded script location may have.
const MAX_POSITION: usize = 10_000_000;

/// The longest identifier or name field (run id, effect kind, step, level).
const MAX_NAME: usize = 256;

/// The record types this build reads; any other is from a newer format.
pub const KNOWN_TYPES: &[&str] = &["header", "step", "intent", "outcome", "log", "footer"];

/// Check every field of `record`. The message names the field and the bad value.
pub fn check_record(record: &Record) -> Result<(), String> {
    match record {
        Record::Header(header) => check_header(header),
        Record::Step(step) => {
            check_name("step name", &step.name)?;
            check_timestamp("at", &step.at)?;
            check_duration(step.duration_ms)
        }
        Record::Intent(intent) => {
            check_seq(intent.seq)?;
            check_kind(&intent.kind)?;
            if let Some(step) = &intent.step {
                check_name("step", step)?;
            }
            check_location("origin", &intent.origin)?;
            if !intent.args.is_object() {
                return Err("args is not an object (a primitive's arguments are a map)".to_string());
            }
            check_timestamp("at", &intent.at)
        }
        Record::Outcome(outcome) => {
            check_seq(outcome.seq)?;
            check_kind(&outcome.kind)?;
            check_timestamp("started_at", &outcome.started_at)?;
            check_timestamp("ended_at", &outcome.ended_at)?;
            check_duration(Some(outcome.duration_ms))?;
            if outcome.ok && outcome.error.is_some() {
                return Err("ok is true but the outcome has an error".to_string());
            }
            if !outcome.ok && outcome.result.is_some() {
                return Err("ok is false but the outcome has a result".to_string());
            }
            if let Some(run) = &outcome.replayed_from {
                check_run_id("replayed_from", run)?;
            }
            Ok(())
        }
        Record::Log(log) => {
            check_name("level", &log.level)?;
            if let Some(origin) = &log.origin {
                check_location("origin", origin)?;
            }
            check_timestamp("at", &log.at)
        }
        Record::Footer(footer) => {
            if footer.effects > MAX_SEQ {
                return Err(format!("effects {} is out of range (at most {MAX_SEQ})", footer.effects));
            }
            if let Some(step) = &footer.failed_step {
                check_name("failed_step", step)?;
            }
            check_timestamp("ended_at", &footer.ended_at)?;
            check_duration(Some(footer.duration_ms))
        }
    }
}

fn check_header(header: &Header) -> Result<(), String> {
    if header.format == 0 || header.format > FORMAT_VERSION {
        return Err(format!("journal format {} is not one this shipctl reads (1 to {FORMAT_VERSION})", header.format));
    }
    check_run_id("run_id", &header.run_id)?;
    if header.mode != "run" && header.mode != "plan" {
        return Err(format!("mode {:?} is neither \"run\" nor \"plan\"", header.mode));
    }
    // Lexical only: where the script may be is decided where it is opened.
    let script = Path::new(&header.script);
    let climbs = script.components().any(|part| !matches!(part, Component::Normal(_) | Component::CurDir));
    if header.script.is_empty() || header.script.contains('\0') || climbs {
        return Err(format!("script {:?} is not a path inside the scripts root", header.script));
    }
    if !Path::new(&header.root).is_absolute() || header.root.contains('\0') {
        return Err(format!("root {:?} is not an absolute path", header.root));
    }
    if !is_hex(&header.script_sha256, &[64]) {
        return Err(format!("script_sha256 {:?} is not a sha256 (64 hex digits)", header.script_sha256));
    }
    if let Some(commit) = header.repo.as_ref().and_then(|repo| repo.commit.as_ref())
        && !is_hex(commit, &[40, 64])
    {
        return Err(format!("repo.commit {commit:?} is not a git commit id (40 or 64 hex digits)"));
    }
    check_name("environment", &header.environment)?;
    check_timestamp("started_at", &header.started_at)?;
    if let Some(run) = &header.resumed_from {
        check_run_id("resumed_from", run)?;
    }
    Ok(())
}

/// Lowercase or uppercase hex of one of the given lengths.
fn is_hex(text: &str, lengths: &[usize]) -> bool {
    lengths.contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn check_seq(seq: u64) -> Result<(), String> {
    if seq == 0 || seq > MAX_SEQ {
        return Err(format!("seq {seq} is out of range (1 to {MAX_SEQ})"));
    }
    Ok(())
}

fn check_duration(duration_ms: Option<u64>) -> Result<(), String> {
    match duration_ms {
        Some(duration) if duration > MAX_DURATION_MS => {
            Err(format!("duration_ms {duration} is out of range (at most {MAX_DURATION_MS})"))
        }
        _ => Ok(()),
    }
}

/// A run id as [`super::new_run_id`] makes them: it becomes part of file names and
/// messages, so only plain characters.
fn check_run_id(field: &str, run: &str) -> Result<(), String> {
    let plain = run.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if run.is_empty() || run.len() > MAX_NAME || !plain {
        return Err(format!("{field} {run:?} is not a run id (letters, digits, - and _)"));
    }
    Ok(())
}

/// A primitive's name: an identifier.
fn check_kind(kind: &str) -> Result<(), String> {
    let identifier = kind.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if kind.is_empty() || kind.len() > MAX_NAME || !identifier {
        return Err(format!("kind {kind:?} is not a primitive name"));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!("{field} {:?} is too long or holds control characters", cut(name)));
    }
    Ok(())
}

fn check_location(field: &str, location: &Location) -> Result<(), String> {
    check_name(&format!("{field}.file"), &location.file)?;
    let in_range = |position: usize| (1..=MAX_POSITION).contains(&position);
    if !in_range(location.line) || !in_range(location.column) {
        return Err(format!(
            "{field} {}:{} is out of range (lines and columns are 1 to {MAX_POSITION})",
            location.line, location.column
        ));
    }
    Ok(())
}

fn check_timestamp(field: &str, at: &str) -> Result<(), String> {
    if at.len() > 64 || humantime::parse_rfc3339_weak(at).is_err() {
        return Err(format!("{field} {:?} is not an RFC 3339 timestamp", cut(at)));
    }
    Ok(())
}

/// At most 80 characters of `text`, cut on a character boundary, for messages.
fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}
