//! The Kubernetes side shared by the primitives and the release lock: a kube-rs client
//! for an environment's cluster (its `kubeconfig` and `kube_context` in
//! `shipctl.toml`, which `--kubeconfig` and `--kube-context` override; else
//! `KUBECONFIG`, several files merged as kubectl does, else `~/.kube/config`), the
//! namespace to work in, and errors worded for operators.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::base::names::Namespace;
use crate::config::Environment;
use crate::effect::{EffectContext, EffectError};

/// `--kubeconfig` and `--kube-context` of one run: they win over the environment's
/// `kubeconfig` and `kube_context`, and the journal's header records them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeOverrides {
    /// The kubeconfig file, absolute (a flag's path is resolved where shipctl runs).
    pub kubeconfig: Option<String>,
    /// The kubeconfig context.
    pub context: Option<String>,
}

/// The longest context name accepted from the command line.
const CONTEXT_MAX: usize = 253;

impl KubeOverrides {
    /// The flags as given, checked: a context is a name (no control characters, not
    /// empty, not over 253 characters); a path is made absolute against `cwd`.
    pub fn new(kubeconfig: Option<&Path>, context: Option<&str>, cwd: &Path) -> Result<KubeOverrides, String> {
        if let Some(context) = context {
            let valid = !context.is_empty() && context.len() <= CONTEXT_MAX && !context.chars().any(char::is_control);
            if !valid {
                return Err(format!(
                    "--kube-context {context:?} is not a context name (1 to {CONTEXT_MAX} characters, no control characters)"
                ));
            }
        }
        let kubeconfig = match kubeconfig {
            Some(path) if path.as_os_str().is_empty() => return Err("--kubeconfig is empty".to_string()),
            Some(path) => {
                let absolute = cwd.join(path);
                let text = absolute.to_str().ok_or_else(|| {
                    format!("--kubeconfig {}: shipctl reads only paths that are UTF-8", absolute.display())
                })?;
                Some(text.to_string())
            }
            None => None,
        };
        Ok(KubeOverrides { kubeconfig, context: context.map(str::to_string) })
    }

    /// As the journal's header keeps them (`kubeconfig`, `kube_context`).
    pub fn recorded(&self) -> BTreeMap<String, String> {
        let mut recorded = BTreeMap::new();
        if let Some(kubeconfig) = &self.kubeconfig {
            recorded.insert("kubeconfig".to_string(), kubeconfig.clone());
        }
        if let Some(context) = &self.context {
            recorded.insert("kube_context".to_string(), context.clone());
        }
        recorded
    }

    /// Back from a journal's header, for a resume given no flags of its own.
    pub fn from_recorded(recorded: &BTreeMap<String, String>) -> KubeOverrides {
        KubeOverrides {
            kubeconfig: recorded.get("kubeconfig").cloned(),
            context: recorded.get("kube_context").cloned(),
        }
    }

    /// `environment` with these overrides in place of its own keys: everything that
    /// reads the keys (the client, helm's flags, the release lock, the script's
    /// `environment()`) sees them.
    pub fn apply(&self, environment: &mut Environment) {
        if let Some(kubeconfig) = &self.kubeconfig {
            environment.vars.insert("kubeconfig".to_string(), toml::Value::String(kubeconfig.clone()));
        }
        if let Some(context) = &self.context {
            environment.vars.insert("kube_context".to_string(), toml::Value::String(context.clone()));
        }
    }
}

/// A kubeconfig that cannot be used: a configuration problem, found before any effect
/// when the run will talk to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KubeconfigProblem {
    pub message: String,
    pub help: String,
}

impl miette::Diagnostic for KubeconfigProblem {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::kubeconfig"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.help.as_str()))
    }
}

/// Where the kubeconfig comes from, for the words of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Environment,
    KubeconfigVariable,
    Default,
}

/// The kubeconfig files to read, in order, and where they were named; empty when
/// none is named and `~/.kube/config` is absent (the in-cluster configuration then).
fn kubeconfig_files(
    root: &Path,
    environment: &Environment,
    variable: Option<OsString>,
    home: Option<PathBuf>,
) -> (Vec<PathBuf>, Origin) {
    if let Some(path) = environment.kubeconfig() {
        let path = crate::base::confined::ConfiguredPath::from_config(root, Path::new(path)).into_path();
        return (vec![path], Origin::Environment);
    }
    if let Some(variable) = variable {
        let files: Vec<PathBuf> =
            std::env::split_paths(&variable).filter(|path| !path.as_os_str().is_empty()).collect();
        if !files.is_empty() {
            return (files, Origin::KubeconfigVariable);
        }
    }
    (home.map(|home| home.join(".kube").join("config")).into_iter().collect(), Origin::Default)
}

/// Read and merge the environment's kubeconfig files as kubectl does (the first file
/// to set a value wins), and check the context is in them. `None`: no kubeconfig
/// anywhere and shipctl runs in a pod, so the in-cluster configuration applies.
pub fn kubeconfig(
    root: &Path,
    environment_name: &str,
    environment: &Environment,
) -> Result<Option<Kubeconfig>, KubeconfigProblem> {
    let home = std::env::var_os("HOME").filter(|home| !home.is_empty()).map(PathBuf::from);
    let (files, origin) = kubeconfig_files(root, environment, std::env::var_os("KUBECONFIG"), home);
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    if origin == Origin::Default && in_cluster && files.iter().all(|file| !file.exists()) {
        return Ok(None);
    }
    read_merged(&files, origin, environment_name, environment.kube_context()).map(Some)
}

fn read_merged(
    files: &[PathBuf],
    origin: Origin,
    environment_name: &str,
    context: Option<&str>,
) -> Result<Kubeconfig, KubeconfigProblem> {
    let problem = |message: String| KubeconfigProblem { message, help: help(environment_name) };
    let named = match origin {
        Origin::Environment => format!(" (kubeconfig of [environments.{environment_name}], or --kubeconfig)"),
        Origin::KubeconfigVariable => " (named by KUBECONFIG)".to_string(),
        Origin::Default => " (the default; no kubeconfig is set for the environment)".to_string(),
    };
    if files.is_empty() {
        return Err(problem(format!("no kubeconfig: HOME is not set and the environment names none{named}")));
    }
    let mut merged: Option<Kubeconfig> = None;
    for file in files {
        match std::fs::metadata(file) {
            Err(_) => return Err(problem(format!("kubeconfig {} does not exist{named}", file.display()))),
            // A FIFO or device named by mistake would block the read: regular files only.
            Ok(metadata) if !metadata.is_file() => {
                return Err(problem(format!("kubeconfig {} is not a regular file{named}", file.display())));
            }
            Ok(_) => {}
        }
        let read = Kubeconfig::read_from(file).map_err(|error| {
            let why = match &error {
                kube::config::KubeconfigError::ReadConfig(io, _) => io.to_string(),
                other => other.to_string(),
            };
            problem(format!("cannot read kubeconfig {}{named}: {why}", file.display()))
        })?;
        merged = Some(match merged {
            None => read,
            Some(earlier) => earlier.merge(read).map_err(|error| {
                problem(format!("cannot merge kubeconfig {} with the ones before it: {error}", file.display()))
            })?,
        });
    }
    let merged = merged.unwrap_or_default();
    if let Some(context) = context
        && !merged.contexts.iter().any(|named| named.name == context)
    {
        let known: Vec<&str> = merged.contexts.iter().map(|named| named.name.as_str()).collect();
        let mut problem = problem(format!("context \"{context}\" is not in the kubeconfig{named}"));
        problem.help = format!("contexts there: {}; {}", known.join(", "), problem.help);
        return Err(problem);
    }
    Ok(merged)
}

/// What to set, and where.
fn help(environment_name: &str) -> String {
    format!(
        "set kubeconfig = \"<path>\" and kube_context = \"<context>\" in [environments.{environment_name}] of shipctl.toml, \
         or pass --kubeconfig and --kube-context"
    )
}

/// A client for `environment`'s cluster. Must be called inside the async runtime (the
/// client starts a background task). `root` resolves a relative `kubeconfig`.
pub async fn client(
    root: &Path,
    environment_name: &str,
    environment: &Environment,
) -> Result<kube::Client, EffectError> {
    let options = KubeConfigOptions { context: environment.kube_context().map(str::to_string), ..Default::default() };
    let config = match kubeconfig(root, environment_name, environment)
        .map_err(|problem| EffectError::new(problem.message).with_help(problem.help))?
    {
        Some(kubeconfig) => {
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|error| error.to_string())
        }
        None => kube::Config::incluster().map_err(|error| error.to_string()),
    };
    let config = config.map_err(|error| {
        let context = environment.kube_context().map(|context| format!(" (context {context})")).unwrap_or_default();
        EffectError::new(format!("cannot load the Kubernetes configuration{context}: {error}"))
            .with_help(help(environment_name))
    })?;
    tracing::debug!(
        server = %config.cluster_url,
        context = environment.kube_context().unwrap_or("(current)"),
        "Kubernetes client"
    );
    kube::Client::try_from(config)
        .map_err(|error| EffectError::new(format!("cannot build a Kubernetes client: {error}")))
}

/// The namespace a primitive works in: its `namespace` argument (valid by its type),
/// else the environment's `namespace`, which must be a valid [`Namespace`] too.
pub fn namespace(argument: Option<&Namespace>, context: &EffectContext) -> Result<Namespace, EffectError> {
    if let Some(namespace) = argument {
        return Ok(namespace.clone());
    }
    if let Some(namespace) = context.environment.namespace() {
        return Namespace::new(namespace).map_err(|error| {
            EffectError::new(format!("[environments.{}] namespace: {error}", context.environment_name))
        });
    }
    Err(EffectError::new(format!("no namespace: environment \"{}\" has none", context.environment_name)).with_help(
        format!(
            "pass namespace: \"...\", or set namespace = \"...\" in [environments.{}] of shipctl.toml",
            context.environment_name
        ),
    ))
}

/// An API error in the words an operator needs.
pub fn api_error(action: &str, error: &kube::Error) -> EffectError {
    match error {
        kube::Error::Api(status) if status.code == 401 || status.code == 403 => EffectError::new(format!(
            "{action}: the cluster refused ({} {}): {}",
            status.code, status.reason, status.message
        ))
        .with_help("check the credentials of the environment's kubeconfig context"),
        kube::Error::Api(status) => {
            EffectError::new(format!("{action}: {} ({} {})", status.message, status.code, status.reason))
        }
        other => EffectError::new(format!("{action}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig_text(context: &str, server: &str, current: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\n\
             users:\n- name: {context}\n  user:\n    token: t\ncontexts:\n- name: {context}\n  context:\n    \
             cluster: {context}\n    user: {context}\ncurrent-context: {current}\n"
        )
    }

    #[test]
    fn kubeconfig_files_from_the_variable_are_merged_and_the_first_current_context_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        std::fs::write(&a, kubeconfig_text("first", "https://127.0.0.1:1", "first")).unwrap();
        std::fs::write(&b, kubeconfig_text("second", "https://127.0.0.1:2", "second")).unwrap();
        let variable = std::env::join_paths([&a, &b]).unwrap();
        let (files, origin) = kubeconfig_files(dir.path(), &Environment::default(), Some(variable), None);
        assert_eq!((files.clone(), origin), (vec![a.clone(), b.clone()], Origin::KubeconfigVariable));
        let merged = read_merged(&files, origin, "stage", Some("second")).unwrap();
        let names: Vec<&str> = merged.contexts.iter().map(|named| named.name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(merged.current_context.as_deref(), Some("first"));
        let missing = read_merged(&files, origin, "stage", Some("third")).unwrap_err();
        assert!(missing.message.contains("context \"third\" is not in the kubeconfig"), "{missing:?}");
        assert!(missing.help.starts_with("contexts there: first, second;"), "{missing:?}");
    }

    #[test]
    fn a_missing_kubeconfig_is_named_once_with_the_key_to_set() {
        let dir = tempfile::tempdir().unwrap();
        let (files, origin) = kubeconfig_files(dir.path(), &Environment::default(), None, Some(dir.path().into()));
        let problem = read_merged(&files, origin, "stage", None).unwrap_err();
        let path = dir.path().join(".kube/config");
        assert_eq!(problem.message.matches(&path.display().to_string()).count(), 1, "{problem:?}");
        assert!(!problem.message.contains("\"/"), "no quoted path: {problem:?}");
        assert!(problem.help.contains("kubeconfig = \"<path>\"") && problem.help.contains("[environments.stage]"));
    }

    #[test]
    fn overrides_win_over_the_environment_and_hostile_contexts_are_refused() {
        let cwd = Path::new("/work/here");
        let overrides = KubeOverrides::new(Some(Path::new("kube/a.yaml")), Some("prod"), cwd).unwrap();
        let mut environment = Environment::default();
        environment.vars.insert("kube_context".to_string(), toml::Value::String("stage".to_string()));
        overrides.apply(&mut environment);
        assert_eq!(environment.kube_context(), Some("prod"));
        assert_eq!(environment.kubeconfig(), Some("/work/here/kube/a.yaml"));
        assert_eq!(KubeOverrides::from_recorded(&overrides.recorded()), overrides);
        for hostile in ["", "a\nb", "x\u{1b}[2J", &"c".repeat(300)] {
            assert!(KubeOverrides::new(None, Some(hostile), cwd).is_err(), "{hostile:?}");
        }
        assert!(KubeOverrides::new(Some(Path::new("")), None, cwd).is_err());
    }
}
