//! Secrets: resolved by the host from the environment or a file named in config,
//! never shown to scripts, and redacted from everything written or printed.
//!
//! The [`Redactor`] is the one place secrets are scrubbed. It knows every declared
//! secret it can read (not only the ones a primitive asked for), and matches each
//! value also as a server may echo it: percent-encoded (any hex case, `+` for a space),
//! JSON-escaped, and base64-encoded (standard and URL-safe, at any offset inside a
//! longer encoded string, so `base64(user:password)` is covered). Text is shortened
//! only through [`Redactor::excerpt`], which redacts before it cuts.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::SecretSource;

/// Parts shorter than this are not matched on their own (only a whole value is).
const MIN_PART: usize = 6;

/// A cut that leaves at least this many bytes of a secret at an edge is scrubbed too.
const MIN_EDGE: usize = 4;

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
    fn resolve(&self, name: &str) -> Result<String, String> {
        if let Some(value) = self.resolved.borrow().get(name) {
            return Ok(value.clone());
        }
        let source = self.sources.get(name).ok_or_else(|| format!("secret \"{name}\" is not declared in [secrets]"))?;
        let value = match (&source.env, &source.file) {
            (Some(variable), _) => std::env::var(variable).map_err(|_| {
                format!("secret \"{name}\" comes from the environment variable {variable}, which is not set")
            })?,
            (None, Some(file)) => {
                let path = self.root.join(file);
                // Only a regular file: a FIFO named by mistake must not hang the run.
                let text = crate::base::files::read_regular(&path).map_err(|error| {
                    format!("secret \"{name}\" comes from {}, which is not a readable file: {error}", path.display())
                })?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
            (None, None) => return Err(format!("secret \"{name}\" has no source")),
        };
        if value.is_empty() {
            return Err(format!("secret \"{name}\" is empty"));
        }
        self.resolved.borrow_mut().insert(name.to_string(), value.clone());
        let mut scrub = self.scrub.borrow_mut();
        for form in scrub_forms(&value) {
            if !scrub.iter().any(|(_, known)| *known == form) {
                scrub.push((name.to_string(), form));
            }
        }
        scrub.sort_by_key(|(_, form)| std::cmp::Reverse(form.len()));
        Ok(value)
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

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Result<String, String> {
        self.shared.resolve(name)
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
        if path.trim_matches('/').len() >= 8 {
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
        // The whole value always counts; its parts only when long enough to be secret.
        if (index == 0 || part.len() >= MIN_PART) && !kept.contains(&part) {
            kept.push(part);
        }
    }
    // A password is secret however short it is (a few characters still narrow a guess).
    if let Some(password) = url.password() {
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
        for part in [password.to_string(), decoded] {
            if part.len() >= MIN_EDGE && !kept.contains(&part) {
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
        let bytes = part.into_bytes();
        if bytes.len() >= MIN_PART {
            forms.extend(base64_cores(&bytes));
        }
        forms.push(bytes);
    }
    forms.dedup();
    forms
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        let chars = chunk.len() + 1;
        for index in 0..chars {
            out.push(alphabet[((group >> (18 - 6 * index)) & 0x3f) as usize]);
        }
    }
    out
}

/// The characters of base64 that depend on `secret` alone, for each of the three
/// offsets it can have inside a longer encoded text (`user:password`, a JSON body):
/// whatever surrounds it, an encoding of text holding the secret holds one of these.
fn base64_cores(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut cores = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + secret.len())) / 6;
        for alphabet in [STANDARD, URL_SAFE] {
            let encoded = base64(&padded, alphabet);
            if end > first && end <= encoded.len() {
                cores.push(encoded[first..end].to_vec());
            }
        }
    }
    cores.sort();
    cores.dedup();
    cores
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// How many bytes of `text` from `at` spell `secret`, each of its bytes written as
/// itself, percent-encoded (either hex case), `+` for a space, or JSON-escaped
/// (`\/`, `\"`, `\\`); `None` if they do not.
fn match_at(text: &[u8], at: usize, secret: &[u8]) -> Option<usize> {
    let mut index = at;
    for &wanted in secret {
        let here = *text.get(index)?;
        if here == b'%'
            && let (Some(high), Some(low)) =
                (text.get(index + 1).copied().and_then(hex_value), text.get(index + 2).copied().and_then(hex_value))
            && high * 16 + low == wanted
        {
            index += 3;
        } else if here == wanted || (here == b'+' && wanted == b' ') {
            index += 1;
        } else if here == b'\\' && matches!(wanted, b'/' | b'"' | b'\\') && text.get(index + 1) == Some(&wanted) {
            index += 2;
        } else {
            return None;
        }
    }
    Some(index - at)
}

/// `text` with every spelling of `secret` replaced by `marker`.
fn replace_all(text: &[u8], secret: &[u8], marker: &[u8]) -> Option<Vec<u8>> {
    let first = *secret.first()?;
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        let may_start = byte == first || byte == b'%' || byte == b'+' || byte == b'\\';
        if may_start && let Some(length) = match_at(text, index, secret) {
            let buffer = out.get_or_insert_with(Vec::new);
            buffer.extend_from_slice(&text[copied..index]);
            buffer.extend_from_slice(marker);
            index += length;
            copied = index;
            continue;
        }
        index += 1;
    }
    let mut buffer = out?;
    buffer.extend_from_slice(&text[copied..]);
    Some(buffer)
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

    /// Scrub a secret's first bytes at the end of `text` and its last bytes at the
    /// start (at least [`MIN_EDGE`] of them).
    fn scrub_edges(&self, text: &str) -> String {
        let scrub = self.shared.scrub.borrow();
        let mut text = text.to_string();
        for (name, form) in scrub.iter() {
            let marker = format!("[redacted:{name}]");
            for length in (MIN_EDGE..form.len()).rev() {
                if text.as_bytes().ends_with(&form[..length]) && text.is_char_boundary(text.len() - length) {
                    text.truncate(text.len() - length);
                    text.push_str(&marker);
                    break;
                }
            }
            for length in (MIN_EDGE..form.len()).rev() {
                if text.as_bytes().starts_with(&form[form.len() - length..]) && text.is_char_boundary(length) {
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
mod tests {
    use super::*;

    #[test]
    fn resolves_from_file_and_redacts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.txt"), "https://hooks.example/T0/B0/XYZ\n").unwrap();
        let mut sources = BTreeMap::new();
        sources.insert("hook".to_string(), SecretSource { env: None, file: Some("hook.txt".into()) });
        let store = SecretStore::new(sources, dir.path().to_path_buf());
        let redactor = store.redactor();
        assert_eq!(
            redactor.redact_str("https://hooks.example/T0/B0/XYZ"),
            "[redacted:hook]",
            "a declared secret is scrubbed before any primitive asked for it"
        );
        assert_eq!(store.get("hook").unwrap(), "https://hooks.example/T0/B0/XYZ");
        let mut value = serde_json::json!({"error": "POST https://hooks.example/T0/B0/XYZ failed", "n": 1});
        redactor.redact_value(&mut value);
        assert_eq!(value["error"], "POST [redacted:hook] failed");
        assert_eq!(
            redactor.redact_str("echo: /T0/B0/XYZ"),
            "echo: [redacted:hook]",
            "the URL's path alone is secret too"
        );
        assert!(store.get("other").unwrap_err().contains("not declared"));
    }

    #[test]
    fn database_urls_redact_the_password_but_not_the_database_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), "postgres://app:s3cr%40t@db.internal/catalogue\n").unwrap();
        let mut sources = BTreeMap::new();
        sources.insert("db".to_string(), SecretSource { env: None, file: Some("db".into()) });
        let store = SecretStore::new(sources, dir.path().to_path_buf());
        store.get("db").unwrap();
        let redactor = store.redactor();
        assert_eq!(redactor.redact_str("password s3cr@t"), "password [redacted:db]");
        assert_eq!(redactor.redact_str("dumped /catalogue"), "dumped /catalogue");
    }

    fn store_with(value: &str) -> SecretStore {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{value}\n")).unwrap();
        let mut sources = BTreeMap::new();
        sources.insert("token".to_string(), SecretSource { env: None, file: Some("token".into()) });
        let store = SecretStore::new(sources, dir.path().to_path_buf());
        store.get("token").unwrap();
        store
    }

    fn standard_base64(text: &str) -> String {
        String::from_utf8(base64(text.as_bytes(), STANDARD)).unwrap()
    }

    #[test]
    fn base64_matches_the_known_encoding() {
        assert_eq!(standard_base64("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(standard_base64("ab"), "YWI");
        assert_eq!(String::from_utf8(base64(b"\xfb\xff", URL_SAFE)).unwrap(), "-_8");
    }

    #[test]
    fn encoded_forms_are_redacted() {
        let secret = "s3cr/t tok+en&more";
        let redactor = store_with(secret).redactor();
        for echoed in [
            "s3cr%2Ft%20tok%2Ben%26more",
            "s3cr%2ft+tok%2ben%26more",
            "s3cr\\/t tok+en&more",
            "%73%33%63%72%2F%74%20%74%6F%6B%2B%65%6E%26%6D%6F%72%65",
        ] {
            let out = redactor.redact_str(&format!("echo: {echoed}."));
            assert_eq!(out, "echo: [redacted:token].", "{echoed}");
        }
        for prefix in ["", "u:", "us:", "user:"] {
            let encoded = standard_base64(&format!("{prefix}{secret}"));
            let out = redactor.redact_str(&format!("Basic {encoded}"));
            assert!(out.contains("[redacted:token]"), "{prefix}: {out}");
            let left = out.replace("[redacted:token]", "").len() - "Basic ".len();
            assert!(left <= standard_base64(prefix).len() + 3, "only the prefix and edge characters stay: {out}");
            let url_safe = String::from_utf8(base64(format!("{prefix}{secret}").as_bytes(), URL_SAFE)).unwrap();
            assert!(redactor.redact_str(&url_safe).contains("[redacted:token]"), "{url_safe}");
        }
    }

    #[test]
    fn a_query_value_is_secret_on_its_own() {
        let redactor = store_with("https://hooks.example/notify?token=Zq81xPw0dd&team=ops").redactor();
        assert_eq!(redactor.redact_str("bad token Zq81xPw0dd"), "bad token [redacted:token]");
        assert_eq!(redactor.redact_str("team ops"), "team ops", "short values are not secret parts");
    }

    #[test]
    fn excerpts_are_cut_after_redaction() {
        let secret = "tok_0123456789abcdef";
        let redactor = store_with(secret).redactor();
        let text = format!("{}{secret}{}", "a".repeat(95), "b".repeat(100));
        let head = redactor.excerpt(&text, Keep::Head(100));
        assert!(!head.contains("tok_0"), "{head}");
        assert!(head.starts_with(&"a".repeat(95)), "{head}");
        let tail = redactor.excerpt(&text, Keep::Tail(110));
        assert!(!tail.contains("cdef"), "{tail}");
        // A text that was already cut in the middle of a secret (a read cap).
        let cut = format!("body {}", &secret[..9]);
        assert_eq!(redactor.excerpt(&cut, Keep::Head(100)), "body [redacted:token]");
        let front = format!("{} rest", &secret[9..]);
        assert_eq!(redactor.excerpt(&front, Keep::Tail(100)), "[redacted:token] rest");
    }

    #[test]
    fn secret_files_are_refused_as_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("shipctl.toml"), "[secrets.token]\nfile = \"secrets/token.rhai\"\n").unwrap();
        std::fs::create_dir(root.join("secrets")).unwrap();
        std::fs::write(root.join("secrets/token.rhai"), "hunter22 is the value").unwrap();
        std::fs::write(root.join("ok.rhai"), "").unwrap();
        let error = refuse_secret_file(&root, &root.join("secrets/../secrets/token.rhai")).unwrap_err();
        assert!(error.contains("secrets/token.rhai holds the secret \"token\""), "{error}");
        assert!(!error.contains("hunter22"), "{error}");
        assert!(refuse_secret_file(&root, &root.join("ok.rhai")).is_ok());
    }
}
