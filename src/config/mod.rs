//! `shipctl.toml`: environments, repositories, notification channels, secrets, limits
//! and the journal directory. Found by searching upward from the script; the directory
//! that holds it is the scripts root.

mod secrets;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use secrets::{Keep, Redactor, SecretStore, refuse_secret_file};

use crate::base::confined::ConfiguredPath;
use crate::base::suggest::did_you_mean;

/// The config file's name.
pub const FILE_NAME: &str = "shipctl.toml";

/// The environment every scripts root has, with or without a config file.
pub const LOCAL_ENVIRONMENT: &str = "local";

/// `shipctl.toml` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/dbname`, without a password.
    #[serde(default)]
    pub url: Option<String>,
    /// A `[secrets.*]` entry holding the whole URL (password included).
    #[serde(default)]
    pub url_secret: Option<String>,
    /// A `[secrets.*]` entry holding the password for `url`.
    #[serde(default)]
    pub password_secret: Option<String>,
}

/// `[backups]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// User for basic auth and for the token service.
    #[serde(default)]
    pub username: Option<String>,
    /// A `[secrets.*]` entry holding the password (or access token) for `username`.
    #[serde(default)]
    pub password_secret: Option<String>,
    /// `https` (default) or `http` (default for loopback hosts).
    #[serde(default)]
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
#[serde(deny_unknown_fields)]
pub struct HelmConfig {
    /// The helm binary: a path (relative to the scripts root, or absolute), or a name
    /// looked up on PATH. `helm` when unset.
    #[serde(default)]
    pub bin: Option<PathBuf>,
}

/// `[journal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Directory for run journals, relative to the scripts root.
    pub dir: PathBuf,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { dir: PathBuf::from(".shipctl/runs") }
    }
}

/// `[limits]`: the sandbox. Every limit is set explicitly on the engine so debug and
/// release builds behave the same.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Script operations before the run is stopped (runaway loops).
    pub max_operations: u64,
    /// Nesting of function calls (runaway recursion).
    pub max_call_levels: usize,
    /// Nesting of expressions at the top level.
    pub max_expr_depth: usize,
    /// Nesting of expressions inside functions.
    pub max_function_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Items in one array.
    pub max_array_size: usize,
    /// Entries in one object map.
    pub max_map_size: usize,
    /// Modules a run may load.
    pub max_modules: usize,
    /// Wall-clock time for the whole script.
    #[serde(with = "crate::base::time::serde_duration")]
    pub deadline: Duration,
    /// Wall-clock time the compensations get after a failure.
    #[serde(with = "crate::base::time::serde_duration")]
    pub compensation_deadline: Duration,
    /// Bytes of log output (`print`, `log`, `warn`, ...) one run may write; beyond it
    /// lines are dropped and one line at the end says how many bytes were.
    pub max_log_bytes: u64,
    /// Bytes of values the compensations of one run may capture together (values
    /// shared between compensations count once).
    pub max_captured_bytes: u64,
}

impl Limits {
    /// The largest `max_call_levels` the script thread's stack holds. Measured in a
    /// debug build: a script call level takes about 38 KiB of stack, and one level of
    /// expression inside a function about 5 KiB more per call level; 500 levels of
    /// plain calls take 19 MiB of the 256 MiB script stack. Combinations beyond what the
    /// stack holds (deep calls, each in a deep expression, across modules) are stopped
    /// at run time by the stack guard of the script thread.
    pub const MAX_CALL_LEVELS: usize = 500;
    /// The largest `max_expr_depth`: the parser takes about 7 KiB of stack per level of
    /// nesting and evaluation about 11 KiB (debug build); 1000 levels take 11 MiB.
    pub const MAX_EXPR_DEPTH: usize = 1000;
    /// The largest `max_function_expr_depth` (same costs as `max_expr_depth`, but
    /// repeated at every call level).
    pub const MAX_FUNCTION_EXPR_DEPTH: usize = 250;

    /// The numeric limits with the range each must lie in, by key: the engine reads 0
    /// as "unlimited", so 0 is refused everywhere.
    fn ranges(&self) -> [(&'static str, u64, u64); 10] {
        [
            ("max_operations", self.max_operations, u64::MAX),
            ("max_call_levels", self.max_call_levels as u64, Self::MAX_CALL_LEVELS as u64),
            ("max_expr_depth", self.max_expr_depth as u64, Self::MAX_EXPR_DEPTH as u64),
            ("max_function_expr_depth", self.max_function_expr_depth as u64, Self::MAX_FUNCTION_EXPR_DEPTH as u64),
            ("max_string_size", self.max_string_size as u64, u64::MAX),
            ("max_array_size", self.max_array_size as u64, u64::MAX),
            ("max_map_size", self.max_map_size as u64, u64::MAX),
            ("max_modules", self.max_modules as u64, u64::MAX),
            ("max_log_bytes", self.max_log_bytes, u64::MAX),
            ("max_captured_bytes", self.max_captured_bytes, u64::MAX),
        ]
    }

    /// The first limit out of its range: its key, and the message saying the range.
    pub fn out_of_range(&self) -> Option<(&'static str, String)> {
        self.ranges().into_iter().find(|(_, value, max)| *value == 0 || value > max).map(|(key, value, max)| {
            let message = if value == 0 {
                format!("[limits] {key} = 0 would turn the limit off; it must be at least 1")
            } else {
                format!("[limits] {key} = {value} is more than the script thread's stack holds; the maximum is {max}")
            };
            (key, message)
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 10_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_modules: 64,
            deadline: Duration::from_secs(2 * 60 * 60),
            compensation_deadline: Duration::from_secs(30 * 60),
            max_log_bytes: 10 << 20,
            max_captured_bytes: 64 << 20,
        }
    }
}

/// `[environments.<name>]`. Besides the policy keys, any key is data for the script
/// (`namespace`, `url`, `database`, ...), returned by `environment()`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Environment {
    /// Protected environments refuse scripts with uncommitted changes.
    #[serde(default)]
    pub protected: bool,
    /// If set, only these primitives may run here.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Primitives that may not run here.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Who may give `approve` its approval here (anyone, when empty).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// `restore` may write into this environment even though it is protected.
    #[serde(default)]
    pub allow_restore: bool,
    /// The backup store for this environment, instead of `[backups] dir`.
    #[serde(default)]
    pub backup_dir: Option<PathBuf>,
    /// Everything else: the script's data.
    #[serde(flatten)]
    pub vars: BTreeMap<String, toml::Value>,
}

const ENVIRONMENT_KEYS: [&str; 6] = ["protected", "allow", "deny", "approvers", "allow_restore", "backup_dir"];

/// Environment keys shipctl reads itself, which scripts see as data too: the cluster
/// (`kubeconfig`, relative to the scripts root; `kube_context`) and its namespace.
pub const CLUSTER_KEYS: [&str; 3] = ["kubeconfig", "kube_context", "namespace"];

impl Environment {
    fn text(&self, key: &str) -> Option<&str> {
        self.vars.get(key).and_then(toml::Value::as_str)
    }

    /// The kubeconfig file of this environment's cluster, as written.
    pub fn kubeconfig(&self) -> Option<&str> {
        self.text("kubeconfig")
    }

    /// The kubeconfig context of this environment's cluster.
    pub fn kube_context(&self) -> Option<&str> {
        self.text("kube_context")
    }

    /// The namespace releases in this environment go to.
    pub fn namespace(&self) -> Option<&str> {
        self.text("namespace")
    }

    /// Does this environment name a Kubernetes cluster (a kubeconfig or a context)?
    pub fn has_cluster(&self) -> bool {
        self.kubeconfig().is_some() || self.kube_context().is_some()
    }
}

/// `[repos.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Path of the work tree, relative to the scripts root or absolute.
    pub path: PathBuf,
    /// Tag names must be semantic versions (`X.Y.Z`, optionally `-pre`).
    #[serde(default)]
    pub semver: bool,
}

/// `[notify.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// `slack`, `webhook` or `stdout`.
    pub kind: ChannelKind,
    /// For `slack` and `webhook`: the `[secrets.<name>]` holding the URL.
    #[serde(default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Slack-compatible incoming webhook JSON.
    Slack,
    /// Generic JSON webhook.
    Webhook,
    /// Printed to standard output (local use).
    Stdout,
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Stdout => "stdout",
        })
    }
}

/// `[secrets.<name>]`: exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable of the shipctl process.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the value (trailing newline trimmed), relative to the scripts root.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// A broken config file: where, what, and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub location: Option<crate::base::location::Location>,
    pub message: String,
    pub help: Option<String>,
}

/// The scripts root and its config: everything a run needs to know about where it is.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `shipctl.toml` (or the script's directory without one).
    pub root: PathBuf,
    /// The config file, if there is one.
    pub config_path: Option<PathBuf>,
    /// The parsed config (defaults without a file).
    pub config: Config,
}

impl Project {
    /// Find the scripts root for `start` (a script or a directory) by searching upward
    /// for `shipctl.toml`, and load it.
    pub fn discover(start: &Path) -> Result<Project, ConfigError> {
        let start = absolute(start);
        let directory =
            if start.is_dir() { start.clone() } else { start.parent().map(Path::to_path_buf).unwrap_or_default() };
        for candidate in directory.ancestors() {
            let path = candidate.join(FILE_NAME);
            if path.is_file() {
                return Project::load(&path);
            }
        }
        Ok(Project { root: directory, config_path: None, config: Config::default() })
    }

    /// Load a given `shipctl.toml`.
    pub fn load(path: &Path) -> Result<Project, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            location: None,
            message: format!("cannot read {}: {error}", path.display()),
            help: None,
        })?;
        let display = path.display().to_string();
        let config = parse(&text, &display)?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Project { root, config_path: Some(path.to_path_buf()), config })
    }

    /// The environment called `name`: from config, or the built-in `local`.
    pub fn environment(&self, name: &str) -> Result<Environment, ConfigError> {
        if let Some(environment) = self.config.environments.get(name) {
            return Ok(environment.clone());
        }
        if name == LOCAL_ENVIRONMENT {
            return Ok(Environment::default());
        }
        let mut names: Vec<&str> = self.config.environments.keys().map(String::as_str).collect();
        if !names.contains(&LOCAL_ENVIRONMENT) {
            names.push(LOCAL_ENVIRONMENT);
        }
        let help = match did_you_mean(name, names.iter().copied()) {
            Some(close) => format!("did you mean --env {close}? Known environments: {}", names.join(", ")),
            None => format!("known environments: {}", names.join(", ")),
        };
        let place = match &self.config_path {
            Some(path) => format!("in {}", path.display()),
            None => format!("(no {FILE_NAME} found above the script)"),
        };
        Err(ConfigError {
            location: None,
            message: format!("unknown environment \"{name}\" {place}"),
            help: Some(help),
        })
    }

    /// The name errors and journals give the file at `path`: relative to the scripts
    /// root (`scripts/cdc/release.rhai`), with `/` separators.
    pub fn source_name(&self, path: &Path) -> String {
        let root = self.root.canonicalize().unwrap_or_else(|_| self.root.clone());
        let path = absolute(path);
        let path = path.canonicalize().unwrap_or(path);
        path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().replace('\\', "/")
    }

    /// The journal directory, absolute.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join(&self.config.journal.dir)
    }

    /// The backup store of `environment`: its `backup_dir`, else `[backups] dir`. Named
    /// by shipctl.toml, so it may lie outside the scripts root.
    pub fn backup_dir(&self, environment: &Environment) -> ConfiguredPath {
        let dir = environment.backup_dir.as_deref().unwrap_or(&self.config.backups.dir);
        ConfiguredPath::from_config(&self.root, dir)
    }
}

/// An absolute path without touching the file system more than needed.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

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

/// Checks serde cannot express: cross references, one-of keys, likely typos.
fn validate(config: &Config, text: &str, file: &str) -> Result<(), ConfigError> {
    let error = |section: &str, key: Option<&str>, message: String, help: Option<String>| ConfigError {
        location: Some(locate(text, file, section, key)),
        message,
        help,
    };
    for (name, environment) in &config.environments {
        let section = format!("environments.{name}");
        for (key, value) in &environment.vars {
            if CLUSTER_KEYS.contains(&key.as_str()) {
                if !value.is_str() {
                    return Err(error(
                        &section,
                        Some(key),
                        format!("\"{key}\" in [{section}] must be a string, not {}", value.type_str()),
                        None,
                    ));
                }
                // The namespace reaches helm's argv and Kubernetes API paths.
                if key == "namespace"
                    && let Some(Err(invalid)) = value.as_str().map(crate::base::names::Namespace::new)
                {
                    return Err(error(&section, Some(key), format!("[{section}] namespace: {invalid}"), None));
                }
                continue;
            }
            if let Some(close) = did_you_mean(key, ENVIRONMENT_KEYS.into_iter().chain(CLUSTER_KEYS)) {
                return Err(error(
                    &section,
                    Some(key),
                    format!("key \"{key}\" in [{section}] looks like a misspelling of \"{close}\""),
                    Some(format!(
                        "write \"{close}\", or pick a name for your data that is not this close to a policy key"
                    )),
                ));
            }
        }
    }
    for (name, secret) in &config.secrets {
        let section = format!("secrets.{name}");
        match (&secret.env, &secret.file) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(error(
                    &section,
                    None,
                    format!("[{section}] needs exactly one of `env = \"VAR\"` or `file = \"path\"`"),
                    None,
                ));
            }
        }
    }
    let declared = |secret: &str| -> Option<String> {
        if config.secrets.contains_key(secret) {
            return None;
        }
        let known: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
        Some(match did_you_mean(secret, known.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None => format!("declare it as [secrets.{secret}] with env or file"),
        })
    };
    for (name, database) in &config.databases {
        let section = format!("databases.{name}");
        match (&database.url, &database.url_secret) {
            (Some(url), None) => {
                if let Err(message) = check_database_url(url) {
                    return Err(error(&section, Some("url"), format!("[{section}] url: {message}"), None));
                }
            }
            (None, Some(_)) if database.password_secret.is_some() => {
                return Err(error(
                    &section,
                    Some("password_secret"),
                    format!("[{section}] has url_secret, whose URL carries the password: remove password_secret"),
                    None,
                ));
            }
            (None, Some(_)) => {}
            _ => {
                return Err(error(
                    &section,
                    None,
                    format!("[{section}] needs exactly one of `url = \"postgres://user@host/db\"` or `url_secret`"),
                    Some("the password goes in a secret: password_secret = \"<name>\" beside url".to_string()),
                ));
            }
        }
        for (key, secret) in [("url_secret", &database.url_secret), ("password_secret", &database.password_secret)] {
            if let Some(secret) = secret
                && let Some(help) = declared(secret)
            {
                return Err(error(
                    &section,
                    Some(key),
                    format!("[{section}] names secret \"{secret}\", which is not declared"),
                    Some(help),
                ));
            }
        }
    }
    if let Some((key, message)) = config.limits.out_of_range() {
        return Err(error(
            "limits",
            Some(key),
            message,
            Some("the defaults are in `shipctl docs config`; remove the key to use its default".to_string()),
        ));
    }
    if config.backups.keep == Some(0) {
        return Err(error(
            "backups",
            Some("keep"),
            "[backups] keep = 0 would delete the backup just made".to_string(),
            Some("keep at least 1, or remove the key to keep every backup".to_string()),
        ));
    }
    for (host, registry) in &config.registries {
        let section = format!("registries.\"{host}\"");
        if host.is_empty() || host.contains('/') {
            return Err(error(
                &section,
                None,
                format!("[{section}]: a registry is named by its host (and port), like \"registry.example.org\""),
                None,
            ));
        }
        match (&registry.username, &registry.password_secret) {
            (Some(_), Some(secret)) => {
                if let Some(help) = declared(secret) {
                    return Err(error(
                        &section,
                        Some("password_secret"),
                        format!("[{section}] names secret \"{secret}\", which is not declared"),
                        Some(help),
                    ));
                }
            }
            (None, None) => {}
            _ => {
                return Err(error(
                    &section,
                    None,
                    format!("[{section}] needs both username and password_secret, or neither (anonymous)"),
                    None,
                ));
            }
        }
    }
    for (name, channel) in &config.notify {
        let section = format!("notify.{name}");
        match (channel.kind, &channel.url_secret) {
            (ChannelKind::Stdout, Some(_)) => {
                return Err(error(
                    &section,
                    Some("url_secret"),
                    format!("[{section}] is kind \"stdout\" and takes no url_secret"),
                    None,
                ));
            }
            (ChannelKind::Slack | ChannelKind::Webhook, None) => {
                return Err(error(
                    &section,
                    None,
                    format!(
                        "[{section}] is kind \"{}\" and needs `url_secret = \"<name of a [secrets.*] entry>\"`",
                        channel.kind
                    ),
                    Some("the webhook URL is a secret: declare it under [secrets.<name>] with env or file".to_string()),
                ));
            }
            (_, Some(secret)) if !config.secrets.contains_key(secret) => {
                let known: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
                let help = did_you_mean(secret, known.iter().copied())
                    .map(|close| format!("did you mean \"{close}\"?"))
                    .or_else(|| Some(format!("declare it as [secrets.{secret}] with env or file")));
                return Err(error(
                    &section,
                    Some("url_secret"),
                    format!("[{section}] names secret \"{secret}\", which is not declared"),
                    help,
                ));
            }
            _ => {}
        }
    }
    Ok(())
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
fn locate(text: &str, file: &str, section: &str, key: Option<&str>) -> crate::base::location::Location {
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
}
