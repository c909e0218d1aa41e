//! `[environments.<name>]`: policy keys plus free data for the script.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[environments.<name>]`. Besides the policy keys, any key is data for the script
/// (`namespace`, `url`, `database`, ...), returned by `environment()`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Environment {
    /// Protected environments refuse scripts with uncommitted changes.
    #[serde(default)]
    pub protected: bool,
    /// If set, only these primitives may run here.
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
    pub backup_dir: Option<PathBuf>,
    /// A run here must pass an `approve` before its first write.
    #[serde(default)]
    pub require_approval: bool,
    /// Params whose values name the release lock besides the script (`["product"]`).
    #[serde(default)]
    pub lock_params: Vec<String>,
    /// Everything else: the script's data.
    #[serde(flatten)]
    pub vars: BTreeMap<String, toml::Value>,
}

pub(super) const ENVIRONMENT_KEYS: [&str; 8] =
    ["protected", "allow", "deny", "approvers", "allow_restore", "backup_dir", "require_approval", "lock_params"];

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
