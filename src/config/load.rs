//! Parsing config text into a [`Config`], with errors located at file:line:col.

use super::validate::validate;
use super::{Config, ConfigError};

/// Parse and check config text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|error| {
        let location = error.span().map(|span| location_of(text, file, span.start));
        ConfigError {
            location,
            message: error.message().trim().to_string(),
            help: help_for_toml_error(error.message()),
        }
    })?;
    validate(&config, text, file)?;
    Ok(config)
}

fn help_for_toml_error(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        return Some("remove the key or fix its spelling; `shipctl docs config` lists every key".to_string());
    }
    None
}

/// A database URL as config may hold it: `postgres://` or `postgresql://`, and no
/// password (that belongs in a secret).
pub fn check_database_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| format!("\"{url}\" is not a URL ({error}); write postgres://user@host:5432/dbname"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!("\"{url}\" is not a postgres:// URL"));
    }
    let in_query = parsed.query_pairs().any(|(key, _)| key == "password" || key == "sslpassword");
    if parsed.password().is_some() || in_query {
        return Err("the URL holds a password, which would be shown and journaled; put the password in a secret \
                    (password_secret) or the whole URL in one (url_secret)"
            .to_string());
    }
    Ok(())
}

/// 1-based line and column of a byte offset.
pub fn location_of(text: &str, file: &str, offset: usize) -> crate::base::location::Location {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|last| last.chars().count()).unwrap_or(0) + 1;
    crate::base::location::Location { file: file.to_string(), line, column }
}

/// Where the table at `path` (`["databases", "main"]`), or `key` inside it, is
/// written, from the spans the toml parser records; falls back to the start of the
/// file. The column is that of the first character on the line, so a header points at
/// its `[` and a key at its first letter.
pub(super) fn locate(text: &str, file: &str, path: &[&str], key: Option<&str>) -> crate::base::location::Location {
    let offset = key_span_start(text, path, key).unwrap_or(0);
    let line_start = text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
    let indent = text[line_start..].len() - text[line_start..].trim_start_matches([' ', '\t']).len();
    location_of(text, file, line_start + indent)
}

/// Byte offset of the last key of `path` (then `key`) in `text`, if written there.
fn key_span_start(text: &str, path: &[&str], key: Option<&str>) -> Option<usize> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut start = None;
    for name in path.iter().copied().chain(key) {
        let (written, value) = table.get_key_value(name)?;
        start = Some(written.span().start);
        if let Some(inner) = value.get_ref().as_table() {
            table = inner;
        }
    }
    start
}
