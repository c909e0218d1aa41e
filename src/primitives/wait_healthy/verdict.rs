//! Where a rollout stands, read from a workload's status the way `kubectl rollout
//! status` reads it.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

use super::Workload;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Progress {
    pub(super) generation: i64,
    pub(super) replicas: i64,
    pub(super) updated: i64,
    pub(super) available: i64,
}

/// A rollout's state, as `kubectl rollout status` reads it.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    Healthy(Progress),
    Waiting(String),
    Failed(String),
}

/// The status still describes an older spec until the controller has seen this one.
fn observed(generation: Option<i64>, observed: Option<i64>) -> Option<Verdict> {
    let generation = generation.unwrap_or(0);
    let observed = observed.unwrap_or(0);
    (observed < generation).then(|| {
        Verdict::Waiting(format!(
            "waiting for the controller to observe generation {generation} (it has seen {observed})"
        ))
    })
}

pub(super) fn deployment_verdict(deployment: &Deployment) -> Verdict {
    let status = deployment.status.clone().unwrap_or_default();
    if let Some(waiting) = observed(deployment.metadata.generation, status.observed_generation) {
        return waiting;
    }
    let deadline = status.conditions.iter().flatten().find(|condition| {
        condition.type_ == "Progressing" && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(condition) = deadline {
        return Verdict::Failed(format!(
            "ProgressDeadlineExceeded: {}",
            condition.message.as_deref().unwrap_or("the rollout did not progress in time")
        ));
    }
    let desired = deployment.desired();
    let progress = Progress {
        generation: deployment.metadata.generation.unwrap_or(0),
        replicas: desired,
        updated: status.updated_replicas.unwrap_or(0).into(),
        available: status.available_replicas.unwrap_or(0).into(),
    };
    let counts = format!("{}/{desired} updated, {} available", progress.updated, progress.available);
    let total: i64 = status.replicas.unwrap_or(0).into();
    if progress.updated < desired {
        return Verdict::Waiting(counts);
    }
    if total > progress.updated {
        return Verdict::Waiting(format!("{counts}, {} old pending termination", total - progress.updated));
    }
    if progress.available < progress.updated {
        return Verdict::Waiting(counts);
    }
    Verdict::Healthy(progress)
}

pub(super) fn statefulset_verdict(statefulset: &StatefulSet) -> Verdict {
    let status = statefulset.status.clone().unwrap_or_default();
    if let Some(waiting) = observed(statefulset.metadata.generation, status.observed_generation) {
        return waiting;
    }
    let spec = statefulset.spec.clone().unwrap_or_default();
    let desired: i64 = spec.replicas.unwrap_or(1).into();
    let progress = Progress {
        generation: statefulset.metadata.generation.unwrap_or(0),
        replicas: desired,
        updated: status.updated_replicas.unwrap_or(0).into(),
        available: status.available_replicas.unwrap_or(0).into(),
    };
    let ready: i64 = status.ready_replicas.unwrap_or(0).into();
    let counts = format!("{}/{desired} updated, {ready} ready", progress.updated);
    if ready < desired {
        return Verdict::Waiting(counts);
    }
    let strategy = spec.update_strategy.unwrap_or_default();
    if strategy.type_.as_deref() == Some("OnDelete") {
        return Verdict::Healthy(progress);
    }
    let partition: i64 = strategy.rolling_update.and_then(|rolling| rolling.partition).unwrap_or(0).into();
    if partition > 0 {
        return if progress.updated < desired - partition {
            Verdict::Waiting(format!("partitioned rollout: {}/{} updated", progress.updated, desired - partition))
        } else {
            Verdict::Healthy(progress)
        };
    }
    if status.update_revision != status.current_revision {
        return Verdict::Waiting(format!(
            "{counts}, revision {} rolling out",
            status.update_revision.as_deref().unwrap_or("?")
        ));
    }
    Verdict::Healthy(progress)
}

pub(super) fn daemonset_verdict(daemonset: &DaemonSet) -> Verdict {
    let status = daemonset.status.clone().unwrap_or_default();
    if let Some(waiting) = observed(daemonset.metadata.generation, status.observed_generation) {
        return waiting;
    }
    let desired: i64 = status.desired_number_scheduled.into();
    let progress = Progress {
        generation: daemonset.metadata.generation.unwrap_or(0),
        replicas: desired,
        updated: status.updated_number_scheduled.unwrap_or(0).into(),
        available: status.number_available.unwrap_or(0).into(),
    };
    if progress.updated < desired || progress.available < desired {
        return Verdict::Waiting(format!("{}/{desired} updated, {} available", progress.updated, progress.available));
    }
    Verdict::Healthy(progress)
}
