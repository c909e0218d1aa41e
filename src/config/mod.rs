//! `shipctl.toml`: environments, repositories, notification channels, secrets, limits
//! and the journal directory. Found by searching upward from the script; the directory
//! that holds it is the scripts root.

mod environment;
mod limits;
mod load;
mod project;
mod secrets;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use environment::{CLUSTER_KEYS, Environment};
pub use limits::Limits;
pub use load::{check_database_url, location_of, parse};
pub use project::{Project, absolute};
pub use secrets::{
    Keep, MIN_DISTINCT_CHARS, MIN_SECRET_CHARS, Redactor, SecretError, SecretStore, declared_at, refuse_secret_file,
};

/// The config file's name.
pub const FILE_NAME: &str = "shipctl.toml";

/// The environment every scripts root has, with or without a config file.
pub const LOCAL_ENVIRONMENT: &str = "local";

/// `shipctl.toml` as written. No table takes keys it does not know (but an
/// environment's data): `load::parse` refuses them, naming the nearest known key.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    /// Where run journals go.
    #[serde(default)]
    pub journal: JournalConfig,
    /// Sandbox limits for scripts.
    #[serde(default)]
    pub limits: Limits,
    /// `[environments.<name>]`: what `environment()` returns, plus policy keys.
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    /// `[repos.<name>]`: git repositories scripts tag by name.
    #[serde(default)]
    pub repos: BTreeMap<String, RepoConfig>,
    /// `[notify.<name>]`: channels for `notify`.
    #[serde(default)]
    pub notify: BTreeMap<String, ChannelConfig>,
    /// `[secrets.<name>]`: where each secret's value comes from.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    /// `[databases.<name>]`: PostgreSQL databases `backup` and `restore` name.
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseConfig>,
    /// `[backups]`: the backup store and retention.
    #[serde(default)]
    pub backups: BackupsConfig,
    /// `[registries."<host>"]`: how to reach an OCI registry (`promote_image`).
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryConfig>,
    /// `[helm]`: the helm binary `helm_upgrade` and `helm_rollback` run.
    #[serde(default)]
    pub helm: HelmConfig,
}

/// `[databases.<name>]`: exactly one of `url` (no password in it) or `url_secret`.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/dbname`, without a password.
    pub url: Option<String>,
    /// A `[secrets.*]` entry holding the whole URL (password included).
    pub url_secret: Option<String>,
    /// A `[secrets.*]` entry holding the password for `url`.
    pub password_secret: Option<String>,
}

/// `[backups]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BackupsConfig {
    /// The local backup store, relative to the scripts root or absolute. An
    /// environment's `backup_dir` overrides it.
    pub dir: PathBuf,
    /// Backups kept per (database or directory, environment); older ones are pruned
    /// after a successful backup. Unset keeps all.
    pub keep: Option<u32>,
    /// Directory holding `pg_dump`, `pg_restore` and `psql` (default: the `PATH`).
    pub pg_bin: Option<PathBuf>,
    /// Named directories `backup(#{ files: "<name>" })` may archive.
    pub paths: BTreeMap<String, PathBuf>,
}

impl Default for BackupsConfig {
    fn default() -> Self {
        BackupsConfig { dir: PathBuf::from(".shipctl/backups"), keep: None, pg_bin: None, paths: BTreeMap::new() }
    }
}

/// `[registries."<host>"]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryConfig {
    /// User for basic auth and for the token service.
    pub username: Option<String>,
    /// A `[secrets.*]` entry holding the password (or access token) for `username`.
    pub password_secret: Option<String>,
    /// `https` (default) or `http` (default for loopback hosts).
    pub scheme: Option<RegistryScheme>,
}

/// How to talk to a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryScheme {
    Https,
    Http,
}

/// `[helm]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HelmConfig {
    /// The helm binary: a path (relative to the scripts root, or absolute), or a name
    /// looked up on PATH. `helm` when unset.
    pub bin: Option<PathBuf>,
}

/// `[journal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct JournalConfig {
    /// Directory for run journals, relative to the scripts root.
    pub dir: PathBuf,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { dir: PathBuf::from(".shipctl/runs") }
    }
}

/// `[repos.<name>]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoConfig {
    /// Path of the work tree, relative to the scripts root or absolute.
    pub path: PathBuf,
    /// Tag names must be semantic versions (`X.Y.Z`, optionally `-pre`).
    #[serde(default)]
    pub semver: bool,
}

/// `[notify.<name>]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelConfig {
    /// `slack`, `webhook` or `stdout`.
    pub kind: ChannelKind,
    /// For `slack` and `webhook`: the `[secrets.<name>]` holding the URL.
    pub url_secret: Option<String>,
    /// Per-request timeout.
    #[serde(default = "default_notify_timeout", with = "crate::base::time::serde_duration")]
    pub timeout: Duration,
    /// Attempts after the first one on timeouts, connection errors and 5xx.
    #[serde(default = "default_notify_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubles after each.
    #[serde(default = "default_notify_backoff", with = "crate::base::time::serde_duration")]
    pub backoff: Duration,
}

fn default_notify_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_notify_retries() -> u32 {
    3
}

fn default_notify_backoff() -> Duration {
    Duration::from_millis(500)
}

/// How a notification channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ChannelKind {
    /// Slack-compatible incoming webhook JSON.
    Slack,
    /// Generic JSON webhook.
    Webhook,
    /// Printed to standard output (local use).
    Stdout,
}

/// `[secrets.<name>]`: exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretSource {
    /// Name of an environment variable of the shipctl process.
    pub env: Option<String>,
    /// A file holding the value (trailing newline trimmed), relative to the scripts root.
    pub file: Option<PathBuf>,
    /// Scrub the value from everything printed, sent or journaled (the default). `false`
    /// is for test setups only: the value then appears in output and journals, and the
    /// minimum length ([`MIN_SECRET_CHARS`]) no longer applies.
    #[serde(default = "redact_by_default")]
    pub redact: bool,
}

fn redact_by_default() -> bool {
    true
}

/// A broken config file: where, what, and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub location: Option<crate::base::location::Location>,
    pub message: String,
    pub help: Option<String>,
}

impl miette::Diagnostic for ConfigError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::config"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_zero_and_values_the_stack_cannot_hold() {
        let error = parse("[limits]\nmax_operations = 5\nmax_call_levels = 0\n", "shipctl.toml").unwrap_err();
        assert!(error.message.contains("max_call_levels = 0"), "{error}");
        assert_eq!(error.location.as_ref().map(|l| l.line), Some(3), "{error}");
        let error = parse("[limits]\nmax_expr_depth = 100000\n", "shipctl.toml").unwrap_err();
        assert!(error.message.contains("the maximum is 1000"), "{error}");
        assert_eq!(error.location.as_ref().map(|l| l.line), Some(2), "{error}");
        assert!(parse("[limits]\nmax_function_expr_depth = 250\n", "shipctl.toml").is_ok());
        assert!(Limits::default().out_of_range().is_none());
    }

    #[test]
    fn empty_config_has_defaults() {
        let config = parse("", "shipctl.toml").unwrap();
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.journal.dir, PathBuf::from(".shipctl/runs"));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let error = parse("[limits]\nmax_operations = 5\nmax_operatoins = 6\n", "shipctl.toml").unwrap_err();
        assert_eq!(error.location.as_ref().map(|l| (l.line, l.column)), Some((3, 1)), "{error}");
        assert!(error.message.contains("max_operatoins"), "{error}");
    }

    #[test]
    fn wrong_type_names_line() {
        let error = parse("[environments.production]\nprotected = \"yes\"\n", "shipctl.toml").unwrap_err();
        assert_eq!(error.location.as_ref().map(|l| l.line), Some(2), "{error}");
    }

    #[test]
    fn environment_data_is_free_but_policy_typos_are_caught() {
        let config = parse("[environments.staging]\nnamespace = \"web\"\nreplicas = 2\n", "f").unwrap();
        assert_eq!(config.environments["staging"].vars["namespace"].as_str(), Some("web"));
        let error = parse("[environments.production]\nurl = \"x\"\nprotectd = true\n", "f").unwrap_err();
        assert!(error.message.contains("\"protected\""), "{error}");
        assert_eq!(error.location.map(|l| l.line), Some(3));
    }

    #[test]
    fn cluster_keys_are_typed_and_typos_of_them_caught() {
        let text =
            "[environments.production]\nkubeconfig = \"kube/config\"\nkube_context = \"prod\"\nnamespace = \"cdc\"\n";
        let config = parse(text, "f").unwrap();
        let production = &config.environments["production"];
        assert_eq!(
            (production.kubeconfig(), production.kube_context(), production.namespace()),
            (Some("kube/config"), Some("prod"), Some("cdc"))
        );
        assert!(production.has_cluster());
        let error = parse("[environments.production]\nnamespace = 3\n", "f").unwrap_err();
        assert!(error.message.contains("must be a string"), "{error}");
        assert_eq!(error.location.map(|l| l.line), Some(2));
        let error = parse("[environments.production]\nkube_contxt = \"prod\"\n", "f").unwrap_err();
        assert!(error.message.contains("\"kube_context\""), "{error}");
        let config = parse("[helm]\nbin = \"tools/helm\"\n", "f").unwrap();
        assert_eq!(config.helm.bin, Some(PathBuf::from("tools/helm")));
        assert!(parse("[helm]\nbinary = \"helm\"\n", "f").is_err());
    }

    #[test]
    fn channel_needs_declared_secret() {
        let text = "[secrets.hook]\nenv = \"HOOK\"\n[notify.releases]\nkind = \"slack\"\nurl_secret = \"hok\"\n";
        let error = parse(text, "f").unwrap_err();
        assert!(error.help.as_deref().unwrap_or("").contains("\"hook\""), "{error:?}");
        assert_eq!(error.location.map(|l| l.line), Some(5));
    }

    #[test]
    fn databases_keep_passwords_in_secrets() {
        let error = parse("[databases.main]\nurl = \"postgres://app:pw@db/main\"\n", "f").unwrap_err();
        assert!(error.message.contains("holds a password"), "{error}");
        assert_eq!(error.location.map(|l| l.line), Some(2));
        let error =
            parse("[databases.main]\nurl = \"postgres://app@db/main\"\npassword_secret = \"pw\"\n", "f").unwrap_err();
        assert!(error.message.contains("secret \"pw\", which is not declared"), "{error}");
        let error = parse("[databases.main]\n", "f").unwrap_err();
        assert!(error.message.contains("exactly one of"), "{error}");
        let text = "[secrets.pw]\nenv = \"PW\"\n[databases.main]\nurl = \"postgresql://app@db:5433/main\"\npassword_secret = \"pw\"\n";
        assert!(parse(text, "f").is_ok());
    }

    #[test]
    fn backups_and_registries_are_checked() {
        let error = parse("[backups]\nkeep = 0\n", "f").unwrap_err();
        assert!(error.message.contains("keep = 0"), "{error}");
        let error = parse("[registries.\"r.example.org\"]\nusername = \"ci\"\n", "f").unwrap_err();
        assert!(error.message.contains("both username and password_secret"), "{error}");
        let config = parse("[registries.\"127.0.0.1:5000\"]\nscheme = \"http\"\n", "f").unwrap();
        assert_eq!(config.registries["127.0.0.1:5000"].scheme, Some(RegistryScheme::Http));
        let error = parse("[environments.production]\nallow_restor = true\n", "f").unwrap_err();
        assert!(error.message.contains("\"allow_restore\""), "{error}");
    }

    #[test]
    fn secret_needs_exactly_one_source() {
        let error = parse("[secrets.token]\n", "f").unwrap_err();
        assert!(error.message.contains("exactly one"), "{error}");
    }

    #[test]
    fn errors_point_at_headers_and_keys_however_the_table_is_written() {
        let error = parse("[limits]\n  max_call_levels = 0\n", "f").unwrap_err();
        assert_eq!(error.location.map(|l| (l.line, l.column)), Some((2, 3)));
        let error = parse("# secrets\n\n  [secrets.token]\n", "f").unwrap_err();
        assert_eq!(error.location.map(|l| (l.line, l.column)), Some((3, 3)));
        // Dotted keys and inline tables have no `[header]` line to find by scanning.
        let error = parse("[databases]\nmain.url = \"postgres://app:pw@db/main\"\n", "f").unwrap_err();
        assert_eq!(error.location.map(|l| l.line), Some(2));
        let text = "[secrets]\npw = { env = \"PW\" }\n[databases]\nmain = { url = \"postgres://db/m\", password_secret = \"p\" }\n";
        let error = parse(text, "f").unwrap_err();
        assert_eq!(error.location.map(|l| l.line), Some(4), "{}", error.message);
    }
}
