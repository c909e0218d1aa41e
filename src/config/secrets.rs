//! Secrets: resolved by the host from the environment or a file named in config,
//! never shown to scripts, and redacted from everything written or printed.
//!
//! The [`Redactor`] is the one place secrets are scrubbed. It knows every declared
//! secret it can read (not only the ones a primitive asked for), and matches each
//! value also as a server may echo it: percent-encoded (any hex case, `+` for a space),
//! JSON-escaped, and base64-encoded (standard and URL-safe, at any offset inside a
//! longer encoded string, so `base64(user:password)` is covered). Text is shortened
//! only through [`Redactor::excerpt`], which redacts before it cuts.
//!
//! What is matched inside a text, and why nothing shorter is: the redactor replaces a
//! secret wherever its characters appear, so a short value turns up inside unrelated
//! words (a secret `x` made `exit status 2` read `e[redacted:db]it status 2`). Inside a
//! text only these are replaced, each at least [`MIN_SECRET_CHARS`] characters long
//! (whitespace not counted): a whole value, a part of a URL value that carries the
//! secret on its own (its password, path and query, a query value, a long path
//! segment), and the base64 of either. A value shorter than that is refused when it is
//! first read ([`SecretError::TooShort`]), and so is a URL whose password is, and so is
//! a value of fewer than [`MIN_DISTINCT_CHARS`] different characters (`********`,
//! [`SecretError::TooPlain`]); a shorter part of a longer value is simply not matched
//! on its own. The one place a shorter
//! piece counts is the very edge of an excerpt, where a cut may have split a secret:
//! there, at least [`MIN_EDGE`] characters of a secret's start (at the end) or of its
//! end (at the start) are replaced, never anything inside the text. A secret marked
//! `redact = false` (test setups only) is neither checked nor scrubbed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::SecretSource;

mod encoding;

use encoding::{base64_cores, replace_all};

/// The fewest characters a redacted secret has, whitespace not counted: fewer would be
/// replaced inside unrelated words, and would hardly be a secret. Counted in
/// characters, not bytes, so three multibyte characters are as short as three letters;
/// whitespace does not count, so eight spaces, or a letter padded with them, is short.
pub const MIN_SECRET_CHARS: usize = 8;

/// Parts of a value (a URL's password, path, query values) shorter than this are not
/// matched on their own: the same rule as for whole values.
const MIN_PART: usize = MIN_SECRET_CHARS;

/// A cut that leaves at least this many characters of a secret at an excerpt's edge is
/// scrubbed too (only at the edge: see the module's documentation).
const MIN_EDGE: usize = 4;

/// How many characters of `text` count towards [`MIN_SECRET_CHARS`].
fn significant_chars(text: &str) -> usize {
    text.chars().filter(|character| !character.is_whitespace()).count()
}

/// Why a secret's value cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not declared, not set, not a readable file, or empty.
    #[error("{0}")]
    Unavailable(String),
    /// Shorter than [`MIN_SECRET_CHARS`] and not marked `redact = false`.
    #[error(
        "secret \"{name}\" ([secrets.{name}] in shipctl.toml) is too short to redact safely: {what} has {characters} \
         character{plural} (whitespace not counted), and a redacted secret needs at least {min}; a shorter one would \
         be replaced inside unrelated words. Use a longer secret, or set `redact = false` under [secrets.{name}] in a \
         test setup (its value then appears in output and journals)",
        plural = if *characters == 1 { "" } else { "s" },
        min = MIN_SECRET_CHARS
    )]
    TooShort {
        /// The secret's name.
        name: String,
        /// `its value`, or `the password in its URL`.
        what: &'static str,
        /// Characters counted (whitespace not counted).
        characters: usize,
    },
    /// Long enough, but made of fewer than [`MIN_DISTINCT_CHARS`] different characters
    /// (`********`, a placeholder left where the secret was masked).
    #[error(
        "secret \"{name}\" ([secrets.{name}] in shipctl.toml) cannot be redacted safely: its value is made of only \
         {distinct} different character{plural} (like `********`, a placeholder), and would be replaced inside \
         unrelated text. Use the real secret, or set `redact = false` under [secrets.{name}] in a test setup (its value \
         then appears in output and journals)",
        plural = if *distinct == 1 { "" } else { "s" }
    )]
    TooPlain {
        /// The secret's name.
        name: String,
        /// Different characters counted (whitespace not counted).
        distinct: usize,
    },
}

impl SecretError {
    /// The value was read but cannot be redacted safely (as opposed to not being there).
    pub fn is_unsafe_value(&self) -> bool {
        matches!(self, SecretError::TooShort { .. } | SecretError::TooPlain { .. })
    }
}

/// The fewest different characters a redacted secret is made of: a run of one
/// character (`********`, `--------`, `00000000`) turns up in output that has nothing
/// to do with it (separator lines, masked fields).
pub const MIN_DISTINCT_CHARS: usize = 4;

/// The value of secret `name` from `source`, as written: not yet checked.
fn read_source(name: &str, source: &SecretSource, root: &Path) -> Result<String, SecretError> {
    let unavailable = SecretError::Unavailable;
    let value = match (&source.env, &source.file) {
        (Some(variable), _) => std::env::var(variable).map_err(|_| {
            unavailable(format!("secret \"{name}\" comes from the environment variable {variable}, which is not set"))
        })?,
        (None, Some(file)) => {
            let path = root.join(file);
            // Only a regular file: a FIFO named by mistake must not hang the run.
            let text = crate::base::files::read_regular(&path).map_err(|error| {
                unavailable(format!(
                    "secret \"{name}\" comes from {}, which is not a readable file: {error}",
                    path.display()
                ))
            })?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, None) => return Err(unavailable(format!("secret \"{name}\" has no source"))),
    };
    if value.is_empty() {
        return Err(unavailable(format!("secret \"{name}\" is empty")));
    }
    Ok(value)
}

/// The length rule: the value, and a password inside a URL value (a database client is
/// handed it alone, and it is matched alone), have at least [`MIN_SECRET_CHARS`]; the
/// value is made of at least [`MIN_DISTINCT_CHARS`] different characters.
fn check_length(name: &str, value: &str) -> Result<(), SecretError> {
    let too_short = |what, characters| SecretError::TooShort { name: name.to_string(), what, characters };
    let characters = significant_chars(value);
    if characters < MIN_SECRET_CHARS {
        return Err(too_short("its value", characters));
    }
    let distinct: std::collections::BTreeSet<char> = value.chars().filter(|c| !c.is_whitespace()).collect();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(SecretError::TooPlain { name: name.to_string(), distinct: distinct.len() });
    }
    let Ok(url) = reqwest::Url::parse(value) else {
        return Ok(());
    };
    let in_query = url.query_pairs().filter(|(key, _)| key == "password").map(|(_, value)| value.into_owned());
    let in_user_info =
        url.password().map(|raw| percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned());
    for password in in_user_info.into_iter().chain(in_query) {
        let characters = significant_chars(&password);
        if characters < MIN_SECRET_CHARS {
            return Err(too_short("the password in its URL", characters));
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Shared {
    sources: BTreeMap<String, SecretSource>,
    root: PathBuf,
    resolved: RefCell<BTreeMap<String, String>>,
    /// What to scrub, by secret name: each form of the value and of its secret parts,
    /// longest first so a whole URL is replaced before the path inside it.
    scrub: RefCell<Vec<(String, Vec<u8>)>>,
    /// Every declared secret was tried once (for the redactor).
    all_tried: Cell<bool>,
}

impl Shared {
    /// The value of `name`, read once. A redacted secret must pass the length rule
    /// before it is handed out or scrubbed; one marked `redact = false` is neither.
    fn resolve(&self, name: &str) -> Result<String, SecretError> {
        if let Some(value) = self.resolved.borrow().get(name) {
            return Ok(value.clone());
        }
        let source = self
            .sources
            .get(name)
            .ok_or_else(|| SecretError::Unavailable(format!("secret \"{name}\" is not declared in [secrets]")))?;
        let value = read_source(name, source, &self.root)?;
        if source.redact {
            check_length(name, &value)?;
            self.learn(name, &value);
        }
        self.resolved.borrow_mut().insert(name.to_string(), value.clone());
        Ok(value)
    }

    /// Add the forms of `value` to what is scrubbed, longest first.
    fn learn(&self, name: &str, value: &str) {
        let mut scrub = self.scrub.borrow_mut();
        for form in scrub_forms(value) {
            if !scrub.iter().any(|(_, known)| *known == form) {
                scrub.push((name.to_string(), form));
            }
        }
        scrub.sort_by_key(|(_, form)| std::cmp::Reverse(form.len()));
    }

    /// Read every declared secret that can be read, so text is scrubbed of a secret
    /// even before (or without) a primitive asking for it. Failures are the business
    /// of whoever asks for the value.
    fn resolve_all(&self) {
        if self.all_tried.replace(true) {
            return;
        }
        for name in self.sources.keys() {
            let _ = self.resolve(name);
        }
    }
}

/// Resolves `[secrets.*]` on first use and remembers every value it handed out, so
/// the [`Redactor`] can scrub them.
#[derive(Debug, Clone, Default)]
pub struct SecretStore {
    shared: Rc<Shared>,
}

impl SecretStore {
    pub fn new(sources: BTreeMap<String, SecretSource>, root: PathBuf) -> Self {
        SecretStore { shared: Rc::new(Shared { sources, root, ..Shared::default() }) }
    }

    /// The value of secret `name`, or why it cannot be had, in words.
    pub fn get(&self, name: &str) -> Result<String, String> {
        self.shared.resolve(name).map_err(|error| error.to_string())
    }

    /// The value of secret `name`, or why it cannot be had, typed: a preflight tells a
    /// secret that is too short from one that is not set.
    pub fn resolve(&self, name: &str) -> Result<String, SecretError> {
        self.shared.resolve(name)
    }

    /// Whether secret `name` is declared with `redact = false`.
    pub fn shown(&self, name: &str) -> bool {
        self.shared.sources.get(name).is_some_and(|source| !source.redact)
    }

    /// A redactor that knows every declared secret (read on its first use) and every
    /// value resolved later.
    pub fn redactor(&self) -> Redactor {
        Redactor { shared: Rc::clone(&self.shared) }
    }
}

/// The value, and where it is a URL, the parts that carry the secret on their own: a
/// webhook's path and query (`/services/T0/B0/XYZ`), each query value
/// (`?token=...`: a server may echo it alone), long path segments, and a password, as
/// written and percent-decoded (a database client is handed the decoded one). The path
/// of a database URL is the database's name, not a secret.
fn secret_parts(value: &str) -> Vec<String> {
    let mut parts = vec![value.to_string()];
    let Ok(url) = reqwest::Url::parse(value) else {
        return parts;
    };
    if matches!(url.scheme(), "http" | "https") {
        let mut path = url.path().to_string();
        if let Some(query) = url.query() {
            path = format!("{path}?{query}");
        }
        if significant_chars(path.trim_matches('/')) >= MIN_PART {
            parts.push(path);
        }
        if let Some(query) = url.query() {
            parts.push(query.to_string());
        }
        parts.extend(url.path_segments().into_iter().flatten().filter(|segment| segment.len() >= 16).map(String::from));
    }
    for (_, query_value) in url.query_pairs() {
        parts.push(query_value.into_owned());
    }
    if let Some(query) = url.query() {
        parts.extend(query.split('&').filter_map(|pair| pair.split_once('=')).map(|(_, raw)| raw.to_string()));
    }
    let mut kept: Vec<String> = Vec::new();
    for (index, part) in parts.into_iter().enumerate() {
        // The whole value always counts (the length rule has passed it); its parts only
        // when as long as a whole value must be: a shorter part would match inside
        // unrelated text (`team=ops`).
        if (index == 0 || significant_chars(&part) >= MIN_PART) && !kept.contains(&part) {
            kept.push(part);
        }
    }
    // The password, as written and decoded; the length rule has refused a URL whose
    // password is shorter than a part may be (`check_length`).
    if let Some(password) = url.password() {
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
        for part in [password.to_string(), decoded] {
            if significant_chars(&part) >= MIN_PART && !kept.contains(&part) {
                kept.push(part);
            }
        }
    }
    kept
}

/// Every form a secret is matched in: each part as written (the matcher accepts its
/// percent- and JSON-escaped spellings), and the base64 of each part.
fn scrub_forms(value: &str) -> Vec<Vec<u8>> {
    let mut forms: Vec<Vec<u8>> = Vec::new();
    for part in secret_parts(value) {
        let long_enough = significant_chars(&part) >= MIN_PART;
        let bytes = part.into_bytes();
        if long_enough {
            forms.extend(base64_cores(&bytes));
        }
        forms.push(bytes);
    }
    forms.dedup();
    forms
}

/// A piece of a form cut at an excerpt's edge counts when it is whole characters, at
/// least [`MIN_EDGE`] of them (four bytes may be one multibyte character).
fn edge_long_enough(piece: &[u8]) -> bool {
    std::str::from_utf8(piece).is_ok_and(|piece| significant_chars(piece) >= MIN_EDGE)
}

/// Which end of a text an excerpt keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The first `n` characters (a response body).
    Head(usize),
    /// The last `n` characters (a program's stderr).
    Tail(usize),
}

/// Replaces secret values with `[redacted:<name>]` in strings and JSON values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    shared: Rc<Shared>,
}

impl Redactor {
    /// `text` with every known secret value, in every spelling, replaced.
    pub fn redact_str(&self, text: &str) -> String {
        self.shared.resolve_all();
        let scrub = self.shared.scrub.borrow();
        let mut bytes: Option<Vec<u8>> = None;
        for (name, form) in scrub.iter() {
            let current = bytes.as_deref().unwrap_or(text.as_bytes());
            if let Some(replaced) = replace_all(current, form, format!("[redacted:{name}]").as_bytes()) {
                bytes = Some(replaced);
            }
        }
        match bytes {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => text.to_string(),
        }
    }

    /// The only way to shorten text that may leave the host: redact the whole text,
    /// then cut it to `keep` characters. The text may itself have been cut already (a
    /// body read up to a cap, a ring buffer of stderr), so a secret's beginning at its
    /// end, or a secret's end at its start, is scrubbed as well.
    pub fn excerpt(&self, text: &str, keep: Keep) -> String {
        let redacted = self.scrub_edges(&self.redact_str(text));
        let count = redacted.chars().count();
        match keep {
            Keep::Head(limit) if count > limit => {
                let cut: String = redacted.chars().take(limit).collect();
                format!("{cut}… ({} more characters)", count - limit)
            }
            Keep::Tail(limit) if count > limit => {
                let cut: String = redacted.chars().skip(count - limit).collect();
                format!("(… {} characters before) {cut}", count - limit)
            }
            _ => redacted,
        }
    }

    /// Scrub a secret's first characters at the end of `text` and its last characters
    /// at the start (at least [`MIN_EDGE`] of them), and nothing inside it.
    fn scrub_edges(&self, text: &str) -> String {
        let scrub = self.shared.scrub.borrow();
        let mut text = text.to_string();
        for (name, form) in scrub.iter() {
            let marker = format!("[redacted:{name}]");
            for length in (MIN_EDGE..form.len()).rev() {
                if edge_long_enough(&form[..length])
                    && text.as_bytes().ends_with(&form[..length])
                    && text.is_char_boundary(text.len() - length)
                {
                    text.truncate(text.len() - length);
                    text.push_str(&marker);
                    break;
                }
            }
            for length in (MIN_EDGE..form.len()).rev() {
                if edge_long_enough(&form[form.len() - length..])
                    && text.as_bytes().starts_with(&form[form.len() - length..])
                    && text.is_char_boundary(length)
                {
                    text = format!("{marker}{}", &text[length..]);
                    break;
                }
            }
        }
        text
    }

    /// Redact every string inside `value`, keys included.
    pub fn redact_value(&self, value: &mut Value) {
        self.shared.resolve_all();
        if self.shared.scrub.borrow().is_empty() {
            return;
        }
        self.redact_in_place(value);
    }

    fn redact_in_place(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.redact_str(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_in_place(item)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    self.redact_in_place(&mut item);
                    map.insert(self.redact_str(&key), item);
                }
            }
            _ => {}
        }
    }
}

/// Where `[secrets.<name>]` is written in the project's shipctl.toml, for a problem
/// found with that secret outside any script call.
pub fn declared_at(project: &super::Project, name: &str) -> Option<crate::base::location::Location> {
    let path = project.config_path.as_ref()?;
    let text = crate::base::files::read_regular(path).ok()?;
    Some(super::load::locate(&text, &project.source_name(path), &["secrets", name], None))
}

/// Refuse to load `path` as a script or module when a `[secrets.*]` entry of the
/// project at `root` names it as its `file`. The message names the file and the
/// secret, never the file's content (a syntax error would quote a line of it).
pub fn refuse_secret_file(root: &Path, path: &Path) -> Result<(), String> {
    let config = root.join(super::FILE_NAME);
    if !config.is_file() {
        return Ok(());
    }
    let Ok(project) = super::Project::load(&config) else {
        // A broken config stops every command before a script is loaded.
        return Ok(());
    };
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    for (name, source) in &project.config.secrets {
        let Some(file) = &source.file else { continue };
        let secret_path = project.root.join(file);
        let secret_path = secret_path.canonicalize().unwrap_or(secret_path);
        if secret_path == canonical {
            let shown = canonical
                .strip_prefix(root.canonicalize().unwrap_or_else(|_| root.to_path_buf()))
                .unwrap_or(&canonical);
            return Err(format!(
                "{} holds the secret \"{name}\" ([secrets.{name}] file in shipctl.toml); \
                 a file that holds a secret is never loaded as a script or a module",
                shown.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
