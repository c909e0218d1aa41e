//! Parsing config text into a [`Config`], with errors located at file:line:col.

use serde_ignored::Path;

use crate::base::serde_fields::struct_fields;
use crate::base::suggest::did_you_mean;

use super::validate::validate;
use super::{
    BackupsConfig, ChannelConfig, Config, ConfigError, DatabaseConfig, HelmConfig, JournalConfig, Limits,
    RegistryConfig, RepoConfig, SecretSource,
};

/// Parse and check config text; `file` names it in errors.
///
/// Unknown keys are refused here rather than by `deny_unknown_fields`: serde_ignored
/// hands over each key no field took, with its path, so the error names the table and
/// the nearest known key instead of carrying toml's text. Of an unknown key and a
/// wrong value, the one toml visits first is reported (keys in a table in sorted
/// order), as with `deny_unknown_fields`.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let mut unknown: Option<Vec<String>> = None;
    let parsed = toml::Deserializer::parse(text).and_then(|deserializer| {
        serde_ignored::deserialize(deserializer, |path| {
            unknown.get_or_insert_with(|| keys(&path));
        })
    });
    if let Some(path) = unknown {
        return Err(unknown_key(&path, text, file));
    }
    let config: Config = parsed.map_err(|error| ConfigError {
        location: error.span().map(|span| location_of(text, file, span.start)),
        message: error.message().trim().to_string(),
        help: None,
    })?;
    validate(&config, text, file)?;
    Ok(config)
}

/// The keys (and array indexes) of an ignored value's path, outermost first.
fn keys(path: &Path<'_>) -> Vec<String> {
    let mut keys = Vec::new();
    let mut current = path;
    loop {
        current = match current {
            Path::Root => break,
            Path::Map { parent, key } => {
                keys.push(key.clone());
                parent
            }
            Path::Seq { parent, index } => {
                keys.push(index.to_string());
                parent
            }
            Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => parent,
        };
    }
    keys.reverse();
    keys
}

/// "unknown key `x` in [table]", at the key, with the nearest known key as help.
fn unknown_key(path: &[String], text: &str, file: &str) -> ConfigError {
    let Some((key, table)) = path.split_last() else {
        // serde_ignored reports the root only for a document that is not a table,
        // which toml cannot produce; refuse rather than accept it.
        return ConfigError { location: None, message: "the config is not a table".to_string(), help: None };
    };
    let table: Vec<&str> = table.iter().map(String::as_str).collect();
    let place = if table.is_empty() { "at the top level".to_string() } else { format!("in [{}]", table.join(".")) };
    let help = match did_you_mean(key, known_keys(&table).iter().copied()) {
        Some(close) => format!("did you mean `{close}`? `shipctl docs config` lists every key"),
        None => "remove the key or fix its spelling; `shipctl docs config` lists every key".to_string(),
    };
    ConfigError {
        location: Some(locate(text, file, &table, Some(key))),
        message: format!("unknown key `{key}` {place}"),
        help: Some(help),
    }
}

/// The keys the table at `table` takes, for did-you-mean. A table not listed here
/// (a new section) still refuses unknown keys; it only offers no suggestion.
fn known_keys(table: &[&str]) -> &'static [&'static str] {
    let fields = match table {
        [] => struct_fields::<Config>(),
        ["journal"] => struct_fields::<JournalConfig>(),
        ["limits"] => struct_fields::<Limits>(),
        ["backups"] => struct_fields::<BackupsConfig>(),
        ["helm"] => struct_fields::<HelmConfig>(),
        ["repos", _] => struct_fields::<RepoConfig>(),
        ["notify", _] => struct_fields::<ChannelConfig>(),
        ["secrets", _] => struct_fields::<SecretSource>(),
        ["databases", _] => struct_fields::<DatabaseConfig>(),
        ["registries", _] => struct_fields::<RegistryConfig>(),
        _ => None,
    };
    fields.unwrap_or(&[])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table that takes only its own keys, with a key it does not take.
    const TABLES: [(&str, &str, &str); 11] = [
        ("", "jurnal = 1", "at the top level"),
        ("[journal]", "dri = \"x\"", "in [journal]"),
        ("[limits]", "max_operatoins = 6", "in [limits]"),
        ("[backups]", "kep = 2", "in [backups]"),
        ("[helm]", "binary = \"helm\"", "in [helm]"),
        ("[repos.app]", "path = \"app\"\nsemvr = true", "in [repos.app]"),
        ("[notify.log]", "kind = \"stdout\"\nretry = 2", "in [notify.log]"),
        ("[secrets.token]", "env = \"TOKEN\"\nfiel = \"t\"", "in [secrets.token]"),
        ("[databases.main]", "url = \"postgres://db/main\"\nurl_secrets = \"u\"", "in [databases.main]"),
        ("[registries.\"localhost:5000\"]", "user = \"me\"", "in [registries.localhost:5000]"),
        ("[backups.paths]\nuploads = \"u\"\n[backups]", "pg_bim = \"/usr/bin\"", "in [backups]"),
    ];

    #[test]
    fn every_table_refuses_a_key_it_does_not_take_and_says_where() {
        for (header, body, place) in TABLES {
            let text = format!("{header}\n{body}\n");
            let error = parse(&text, "shipctl.toml").expect_err(&text);
            let key = body.lines().last().unwrap().split(' ').next().unwrap();
            assert_eq!(error.message, format!("unknown key `{key}` {place}"), "{text}");
            let line = text.lines().position(|line| line.starts_with(key)).unwrap() + 1;
            assert_eq!(error.location.as_ref().map(|l| (l.line, l.column)), Some((line, 1)), "{text}");
        }
    }

    #[test]
    fn a_typo_gets_the_nearest_key_and_a_stranger_gets_the_general_hint() {
        let error = parse("[notify.log]\nkind = \"stdout\"\nretires = 2\n", "f").unwrap_err();
        assert_eq!(error.help.as_deref(), Some("did you mean `retries`? `shipctl docs config` lists every key"));
        let error = parse("[repos.app]\npath = \"app\"\ncolour = \"red\"\n", "f").unwrap_err();
        assert_eq!(
            error.help.as_deref(),
            Some("remove the key or fix its spelling; `shipctl docs config` lists every key")
        );
    }

    #[test]
    fn of_an_unknown_key_and_a_wrong_value_the_one_visited_first_is_reported() {
        let error = parse("[limits]\nmax_call_levels = \"x\"\nmax_ast_depth = 6\n", "f").unwrap_err();
        assert!(error.message.starts_with("unknown key `max_ast_depth`"), "{error}");
        let error = parse("[limits]\nmax_call_levels = \"x\"\nmax_zzz = 6\n", "f").unwrap_err();
        assert!(!error.message.contains("unknown key"), "{error}");
    }

    #[test]
    fn a_hostile_key_is_named_as_written_and_data_keys_stay_free() {
        let error = parse("[helm]\n\"\\u001b[2J\" = 1\n", "f").unwrap_err();
        assert_eq!(error.message, "unknown key `\u{1b}[2J` in [helm]");
        assert!(parse("[environments.prod]\nreplicas = 3\n[environments.prod.extra]\nanything = 1\n", "f").is_ok());
    }
}
