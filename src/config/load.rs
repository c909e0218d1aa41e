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

/// Where `[section]` (and `key = ` inside it) is written, as well as a line scan can
/// tell; falls back to the start of the file.
pub(super) fn locate(text: &str, file: &str, section: &str, key: Option<&str>) -> crate::base::location::Location {
    let header = format!("[{section}]");
    let mut offset = 0;
    let mut in_section = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == header;
            if in_section && key.is_none() {
                return location_of(text, file, offset + (line.len() - line.trim_start().len()));
            }
        } else if in_section && let Some(key) = key {
            let name = trimmed.split('=').next().unwrap_or("").trim().trim_matches('"');
            if name == key {
                return location_of(text, file, offset + (line.len() - line.trim_start().len()));
            }
        }
        offset += line.len();
    }
    location_of(text, file, 0)
}
