//! Checks serde cannot express: cross references, one-of keys, likely typos. Each
//! check returns the first problem of its section; `validate` runs them in order.

use super::environment::ENVIRONMENT_KEYS;
use super::load::locate;
use super::{
    CLUSTER_KEYS, ChannelConfig, ChannelKind, Config, ConfigError, DatabaseConfig, Environment, RegistryConfig,
    SecretSource, check_database_url,
};
use crate::base::suggest::did_you_mean;

/// Builds errors located in the config text: at `[section]`, or at `key` inside it.
struct Errors<'a> {
    text: &'a str,
    file: &'a str,
}

impl Errors<'_> {
    fn at(&self, path: &[&str], key: Option<&str>, message: String, help: Option<String>) -> ConfigError {
        ConfigError { location: Some(locate(self.text, self.file, path, key)), message, help }
    }

    /// `[section] names secret "x", which is not declared`, if `secret` is not.
    fn undeclared(
        &self,
        config: &Config,
        section: &str,
        path: &[&str],
        key: &str,
        secret: &str,
    ) -> Result<(), ConfigError> {
        if config.secrets.contains_key(secret) {
            return Ok(());
        }
        let known: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
        let help = match did_you_mean(secret, known.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None => format!("declare it as [secrets.{secret}] with env or file"),
        };
        let message = format!("[{section}] names secret \"{secret}\", which is not declared");
        Err(self.at(path, Some(key), message, Some(help)))
    }
}

/// Run every check on parsed config; `text` and `file` locate the errors.
pub(super) fn validate(config: &Config, text: &str, file: &str) -> Result<(), ConfigError> {
    let errors = Errors { text, file };
    for (name, environment) in &config.environments {
        check_environment(&errors, name, environment)?;
    }
    for (name, secret) in &config.secrets {
        check_secret(&errors, name, secret)?;
    }
    for (name, database) in &config.databases {
        check_database(&errors, config, name, database)?;
    }
    check_limits_and_backups(&errors, config)?;
    for (host, registry) in &config.registries {
        check_registry(&errors, config, host, registry)?;
    }
    for (name, channel) in &config.notify {
        check_channel(&errors, config, name, channel)?;
    }
    Ok(())
}

/// Cluster keys are strings (the namespace a valid one); other keys are free data,
/// unless they look like a misspelt policy or cluster key.
fn check_environment(errors: &Errors, name: &str, environment: &Environment) -> Result<(), ConfigError> {
    let section = format!("environments.{name}");
    let path = ["environments", name];
    // Param names: identifiers, as `--set` and `param()` take them.
    let identifier = |text: &str| {
        text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && text.len() <= 64
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(bad) = environment.lock_params.iter().find(|param| !identifier(param)) {
        let message = format!("lock_params in [{section}]: {bad:?} is not a param name");
        let help =
            Some("name params as scripts read them: letters, digits and _ (`lock_params = [\"product\"]`)".into());
        return Err(errors.at(&path, Some("lock_params"), message, help));
    }
    for (key, value) in &environment.vars {
        if CLUSTER_KEYS.contains(&key.as_str()) {
            if !value.is_str() {
                let message = format!("\"{key}\" in [{section}] must be a string, not {}", value.type_str());
                return Err(errors.at(&path, Some(key), message, None));
            }
            // The namespace reaches helm's argv and Kubernetes API paths.
            if key == "namespace"
                && let Some(Err(invalid)) = value.as_str().map(crate::base::names::Namespace::new)
            {
                return Err(errors.at(&path, Some(key), format!("[{section}] namespace: {invalid}"), None));
            }
            continue;
        }
        if let Some(close) = did_you_mean(key, ENVIRONMENT_KEYS.into_iter().chain(CLUSTER_KEYS)) {
            return Err(errors.at(
                &path,
                Some(key),
                format!("key \"{key}\" in [{section}] looks like a misspelling of \"{close}\""),
                Some(format!("write \"{close}\", or pick a name for your data that is not this close to a policy key")),
            ));
        }
    }
    Ok(())
}

/// A secret comes from exactly one of `env` or `file`. Checked here rather than by
/// making [`SecretSource`] a serde enum: toml's error for an enum table given both
/// keys or none is "wanted exactly 1 element, more than 1 element" (or "found 0
/// elements"), naming neither the table nor the keys it wants; this message names both.
fn check_secret(errors: &Errors, name: &str, secret: &SecretSource) -> Result<(), ConfigError> {
    if secret.env.is_some() != secret.file.is_some() {
        return Ok(());
    }
    let section = format!("secrets.{name}");
    let path = ["secrets", name];
    let message = format!("[{section}] needs exactly one of `env = \"VAR\"` or `file = \"path\"`");
    Err(errors.at(&path, None, message, None))
}

/// Exactly one of `url` (without a password) or `url_secret`; `password_secret` only
/// beside `url`; every secret named is declared. Not a serde enum, for the reason
/// given at [`check_secret`]; and `password_secret` beside `url_secret` would be
/// a bare unknown key instead of a reason.
fn check_database(errors: &Errors, config: &Config, name: &str, database: &DatabaseConfig) -> Result<(), ConfigError> {
    let section = format!("databases.{name}");
    let path = ["databases", name];
    match (&database.url, &database.url_secret) {
        (Some(url), None) => {
            if let Err(message) = check_database_url(url) {
                return Err(errors.at(&path, Some("url"), format!("[{section}] url: {message}"), None));
            }
        }
        (None, Some(_)) if database.password_secret.is_some() => {
            return Err(errors.at(
                &path,
                Some("password_secret"),
                format!("[{section}] has url_secret, whose URL carries the password: remove password_secret"),
                None,
            ));
        }
        (None, Some(_)) => {}
        _ => {
            return Err(errors.at(
                &path,
                None,
                format!("[{section}] needs exactly one of `url = \"postgres://user@host/db\"` or `url_secret`"),
                Some("the password goes in a secret: password_secret = \"<name>\" beside url".to_string()),
            ));
        }
    }
    for (key, secret) in [("url_secret", &database.url_secret), ("password_secret", &database.password_secret)] {
        if let Some(secret) = secret {
            errors.undeclared(config, &section, &path, key, secret)?;
        }
    }
    Ok(())
}

/// Every limit in its range; `[backups] keep` at least 1.
fn check_limits_and_backups(errors: &Errors, config: &Config) -> Result<(), ConfigError> {
    if let Some((key, message)) = config.limits.out_of_range() {
        return Err(errors.at(
            &["limits"],
            Some(key),
            message,
            Some("the defaults are in `shipctl docs config`; remove the key to use its default".to_string()),
        ));
    }
    if config.backups.keep == Some(0) {
        return Err(errors.at(
            &["backups"],
            Some("keep"),
            "[backups] keep = 0 would delete the backup just made".to_string(),
            Some("keep at least 1, or remove the key to keep every backup".to_string()),
        ));
    }
    Ok(())
}

/// A registry is named by its host; it has both credentials keys or neither.
fn check_registry(errors: &Errors, config: &Config, host: &str, registry: &RegistryConfig) -> Result<(), ConfigError> {
    let section = format!("registries.\"{host}\"");
    let path = ["registries", host];
    if host.is_empty() || host.contains('/') {
        let message = format!("[{section}]: a registry is named by its host (and port), like \"registry.example.org\"");
        return Err(errors.at(&path, None, message, None));
    }
    match (&registry.username, &registry.password_secret) {
        (Some(_), Some(secret)) => errors.undeclared(config, &section, &path, "password_secret", secret),
        (None, None) => Ok(()),
        _ => {
            let message = format!("[{section}] needs both username and password_secret, or neither (anonymous)");
            Err(errors.at(&path, None, message, None))
        }
    }
}

/// `stdout` takes no `url_secret`; `slack` and `webhook` need a declared one.
fn check_channel(errors: &Errors, config: &Config, name: &str, channel: &ChannelConfig) -> Result<(), ConfigError> {
    let section = format!("notify.{name}");
    let path = ["notify", name];
    match (channel.kind, &channel.url_secret) {
        (ChannelKind::Stdout, Some(_)) => Err(errors.at(
            &path,
            Some("url_secret"),
            format!("[{section}] is kind \"stdout\" and takes no url_secret"),
            None,
        )),
        (ChannelKind::Slack | ChannelKind::Webhook, None) => Err(errors.at(
            &path,
            None,
            format!(
                "[{section}] is kind \"{}\" and needs `url_secret = \"<name of a [secrets.*] entry>\"`",
                channel.kind
            ),
            Some("the webhook URL is a secret: declare it under [secrets.<name>] with env or file".to_string()),
        )),
        (_, Some(secret)) => errors.undeclared(config, &section, &path, "url_secret", secret),
        (ChannelKind::Stdout, None) => Ok(()),
    }
}
