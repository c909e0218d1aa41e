//! The Kubernetes side shared by the primitives and the release lock: a kube-rs client
//! for an environment's cluster (its `kubeconfig` and `kube_context` in
//! `shipctl.toml`), the namespace to work in, and errors worded for operators.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::base::names::Namespace;
use crate::config::Environment;
use crate::effect::{EffectContext, EffectError};

/// A client for `environment`'s cluster. Must be called inside the async runtime (the
/// client starts a background task). `root` resolves a relative `kubeconfig`.
pub async fn client(
    root: &Path,
    environment_name: &str,
    environment: &Environment,
) -> Result<kube::Client, EffectError> {
    let options = KubeConfigOptions { context: environment.kube_context().map(str::to_string), ..Default::default() };
    let help = || {
        format!(
            "set kubeconfig = \"<path>\" and kube_context = \"<context>\" in [environments.{environment_name}] of shipctl.toml"
        )
    };
    let config = match environment.kubeconfig() {
        Some(path) => {
            let path = crate::base::confined::ConfiguredPath::from_config(root, Path::new(path)).into_path();
            let kubeconfig = Kubeconfig::read_from(&path).map_err(|error| {
                EffectError::new(format!("cannot read kubeconfig {}: {error}", path.display())).with_help(help())
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|error| error.to_string())
        }
        None if options.context.is_some() => {
            kube::Config::from_kubeconfig(&options).await.map_err(|error| error.to_string())
        }
        None => kube::Config::infer().await.map_err(|error| error.to_string()),
    };
    let config = config.map_err(|error| {
        let context = environment.kube_context().map(|context| format!(" (context {context})")).unwrap_or_default();
        EffectError::new(format!("cannot load the Kubernetes configuration{context}: {error}")).with_help(help())
    })?;
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
