//! `helm_rollback`: `helm rollback` with the real helm binary, typically as the
//! compensation of a `helm_upgrade`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::names::{Namespace, ReleaseName};
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::helm::{Helm, HelmCommand, Revision, go_duration};
use crate::providers::kube::namespace;

/// The helm_rollback primitive.
#[doc = include_str!("docs/helm_rollback.md")]
pub struct HelmRollback;

/// Arguments of `helm_rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmRollbackParams {
    pub release: ReleaseName,
    pub namespace: Option<Namespace>,
    /// The revision to return to; absent or 0: the one before the current revision.
    pub revision: Option<i64>,
    #[serde(default)]
    pub wait: bool,
    #[serde(default, with = "crate::base::time::serde_duration::option")]
    pub timeout: Option<Duration>,
}

/// Result of `helm_rollback`.
#[derive(Debug, Serialize)]
pub struct HelmRollbackOutput {
    pub release: String,
    pub namespace: String,
    /// The revision the rollback made (rollbacks are revisions too).
    pub revision: i64,
    /// The revision whose manifest and values it restored.
    pub rolled_back_to: i64,
    pub status: String,
}

/// The revision to roll back to: the one asked for, or the one before the current.
fn target(release: &str, asked: Option<i64>, history: &[Revision]) -> Result<i64, EffectError> {
    let Some(current) = history.last() else {
        return Err(EffectError::new(format!("release {release} is not installed: nothing to roll back")));
    };
    let listed = || history.iter().map(|revision| revision.revision.to_string()).collect::<Vec<_>>().join(", ");
    match asked.filter(|revision| *revision > 0) {
        Some(revision) if history.iter().any(|entry| entry.revision == revision) => Ok(revision),
        Some(revision) => Err(EffectError::new(format!(
            "release {release} has no revision {revision} (revisions: {})",
            listed()
        ))),
        None => history
            .iter()
            .rev()
            .map(|entry| entry.revision)
            .find(|revision| *revision < current.revision)
            .ok_or_else(|| {
                EffectError::new(format!(
                    "release {release} has no revision before {} to roll back to",
                    current.revision
                ))
                .with_help("a first install has nothing to roll back to; uninstall it instead, or guard the compensation with `if up.previous_revision > 0`")
            }),
    }
}

impl Primitive for HelmRollback {
    type Params = HelmRollbackParams;
    type Output = HelmRollbackOutput;

    fn name(&self) -> &'static str {
        "helm_rollback"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/helm_rollback.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Write
    }

    fn validate(&self, params: &HelmRollbackParams, context: &EffectContext) -> Result<(), EffectError> {
        // release and namespace are valid by their types; the environment's namespace is
        // checked below.
        if params.revision.is_some_and(|revision| revision < 0) {
            return Err(EffectError::new("revision must be positive (or 0 for the previous one)"));
        }
        namespace(params.namespace.as_ref(), context).map(|_| ())
    }

    fn live(&self, params: &HelmRollbackParams, context: &EffectContext) -> Result<HelmRollbackOutput, EffectError> {
        let helm = Helm::new(context);
        let namespace = namespace(params.namespace.as_ref(), context)?;
        let history = helm.history(context, &params.release, &namespace)?;
        let to = target(&params.release, params.revision, &history)?;
        let mut args = HelmCommand::new(["rollback"]);
        args.positional(&params.release).positional(&to.to_string()).option("--namespace", &namespace);
        if params.wait {
            args.flag("--wait");
        }
        if let Some(timeout) = params.timeout {
            args.option("--timeout", &go_duration(timeout));
        }
        context.progress(&format!("helm rollback {} to revision {to} in {namespace}", params.release));
        helm.run(context, &args)?;
        let after = helm.history(context, &params.release, &namespace)?;
        let made = after.last().ok_or_else(|| EffectError::new("helm history is empty after the rollback"))?;
        Ok(HelmRollbackOutput {
            release: params.release.to_string(),
            namespace: namespace.to_string(),
            revision: made.revision,
            rolled_back_to: to,
            status: made.status.clone(),
        })
    }

    fn plan(&self, params: &HelmRollbackParams, context: &EffectContext) -> Result<HelmRollbackOutput, EffectError> {
        let namespace = namespace(params.namespace.as_ref(), context)?;
        let (revision, to) = if context.refresh {
            let history = Helm::new(context).history(context, &params.release, &namespace)?;
            let to = target(&params.release, params.revision, &history)?;
            (history.last().map(|current| current.revision).unwrap_or(0) + 1, to)
        } else {
            (0, params.revision.unwrap_or(0))
        };
        Ok(HelmRollbackOutput {
            release: params.release.to_string(),
            namespace: namespace.to_string(),
            revision,
            rolled_back_to: to,
            status: "deployed".to_string(),
        })
    }

    fn refresh_probes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(revisions: &[i64]) -> Vec<Revision> {
        revisions
            .iter()
            .map(|revision| Revision {
                revision: *revision,
                status: String::new(),
                chart: String::new(),
                app_version: String::new(),
            })
            .collect()
    }

    #[test]
    fn the_target_revision() {
        assert_eq!(target("web", None, &history(&[1, 2, 3])).unwrap(), 2);
        assert_eq!(target("web", Some(0), &history(&[4, 5])).unwrap(), 4);
        assert_eq!(target("web", Some(1), &history(&[1, 2])).unwrap(), 1);
        assert!(target("web", Some(7), &history(&[1, 2])).unwrap_err().message.contains("revisions: 1, 2"));
        assert!(target("web", None, &history(&[1])).unwrap_err().message.contains("no revision before 1"));
        assert!(target("web", None, &[]).unwrap_err().message.contains("not installed"));
    }
}
