//! Secrets: resolved by the host from the environment or a file named in config,
//! never shown to scripts, and redacted from everything written or printed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use serde_json::Value;

use super::SecretSource;

/// Resolves `[secrets.*]` on first use and remembers every value it handed out, so
/// the [`Redactor`] can scrub them.
#[derive(Debug, Clone, Default)]
pub struct SecretStore {
    sources: BTreeMap<String, SecretSource>,
    root: PathBuf,
    resolved: Rc<RefCell<BTreeMap<String, String>>>,
    /// What to scrub, by secret name: the value, and for a URL its secret parts too.
    scrub: Rc<RefCell<Vec<(String, String)>>>,
}

impl SecretStore {
    pub fn new(sources: BTreeMap<String, SecretSource>, root: PathBuf) -> Self {
        SecretStore { sources, root, resolved: Rc::default(), scrub: Rc::default() }
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Result<String, String> {
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
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| format!("secret \"{name}\" comes from {}: {error}", path.display()))?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
            (None, None) => return Err(format!("secret \"{name}\" has no source")),
        };
        if value.is_empty() {
            return Err(format!("secret \"{name}\" is empty"));
        }
        self.resolved.borrow_mut().insert(name.to_string(), value.clone());
        let mut scrub = self.scrub.borrow_mut();
        scrub.extend(secret_parts(&value).into_iter().map(|part| (name.to_string(), part)));
        // Longest first, so a whole URL is replaced before the path inside it.
        scrub.sort_by_key(|(_, part)| std::cmp::Reverse(part.len()));
        Ok(value)
    }

    /// A redactor that knows every value resolved so far and any resolved later.
    pub fn redactor(&self) -> Redactor {
        Redactor { scrub: Rc::clone(&self.scrub) }
    }
}

/// The value, and where it is a URL, the parts that carry the secret on their own: a
/// webhook's path and query (`/services/T0/B0/XYZ`) and a password, as written and
/// percent-decoded (a database client is handed the decoded one). A receiver that
/// echoes only the path must not leak it either. The path of a database URL is the
/// database's name, not a secret.
fn secret_parts(value: &str) -> Vec<String> {
    let mut parts = vec![value.to_string()];
    if let Ok(url) = reqwest::Url::parse(value) {
        let mut path = url.path().to_string();
        if let Some(query) = url.query() {
            path = format!("{path}?{query}");
        }
        if matches!(url.scheme(), "http" | "https") && path.trim_matches('/').len() >= 8 {
            parts.push(path);
        }
        if let Some(password) = url.password().filter(|password| password.len() >= 4) {
            parts.push(password.to_string());
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
            if decoded != password {
                parts.push(decoded);
            }
        }
    }
    parts
}

/// Replaces secret values with `[redacted:<name>]` in strings and JSON values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    scrub: Rc<RefCell<Vec<(String, String)>>>,
}

impl Redactor {
    /// `text` with every known secret value replaced.
    pub fn redact_str(&self, text: &str) -> String {
        let scrub = self.scrub.borrow();
        let mut text = text.to_string();
        for (name, value) in scrub.iter() {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), &format!("[redacted:{name}]"));
            }
        }
        text
    }

    /// Redact every string inside `value`, keys included.
    pub fn redact_value(&self, value: &mut Value) {
        if self.scrub.borrow().is_empty() {
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
        assert_eq!(redactor.redact_str("https://hooks.example/T0/B0/XYZ"), "https://hooks.example/T0/B0/XYZ");
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
}
