//! `wait_healthy`: wait until a Deployment, StatefulSet or DaemonSet has rolled out,
//! as `kubectl rollout status` judges it, driven by a watch (kube-rs's `watcher`), not
//! a sleep loop. On failure it names the pods that are not ready and why.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::base::names::{Namespace, WorkloadName};
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::kube::{api_error, client, namespace};

mod verdict;

use verdict::{Progress, Verdict, daemonset_verdict, deployment_verdict, statefulset_verdict};

/// The wait_healthy primitive.
#[doc = include_str!("docs/wait_healthy.md")]
pub struct WaitHealthy;

/// Arguments of `wait_healthy`: exactly one of `deployment`, `statefulset`, `daemonset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitHealthyParams {
    pub deployment: Option<WorkloadName>,
    pub statefulset: Option<WorkloadName>,
    pub daemonset: Option<WorkloadName>,
    pub namespace: Option<Namespace>,
    #[serde(default, with = "crate::base::time::serde_duration::option")]
    pub timeout: Option<Duration>,
}

/// Result of `wait_healthy`: the rollout as it stood when it was healthy.
#[derive(Debug, Serialize)]
pub struct WaitHealthyOutput {
    /// `deployment`, `statefulset` or `daemonset`.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// The `metadata.generation` that rolled out.
    pub generation: i64,
    /// Desired pods (for a DaemonSet: nodes to run on).
    pub replicas: i64,
    pub updated: i64,
    pub available: i64,
    pub waited_ms: u64,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Time kept back from the run's deadline to find out why pods are not ready.
const DIAGNOSIS: Duration = Duration::from_secs(5);

/// Pods named in a failure, at most.
const PODS_NAMED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
        }
    }
}

fn target(params: &WaitHealthyParams) -> Result<(Kind, &str), EffectError> {
    let given: Vec<(Kind, &str)> = [
        (Kind::Deployment, params.deployment.as_deref()),
        (Kind::StatefulSet, params.statefulset.as_deref()),
        (Kind::DaemonSet, params.daemonset.as_deref()),
    ]
    .into_iter()
    .filter_map(|(kind, name)| name.map(|name| (kind, name)))
    .collect();
    match given.as_slice() {
        [(kind, name)] if !name.is_empty() => Ok((*kind, name)),
        [(kind, _)] => Err(EffectError::new(format!("{} is empty", kind.as_str()))),
        [] => Err(EffectError::new("wait_healthy needs what to wait for")
            .with_help("pass one of deployment: \"name\", statefulset: \"name\" or daemonset: \"name\"")),
        _ => Err(EffectError::new("wait_healthy waits for one workload at a time")
            .with_help("pass only one of deployment, statefulset and daemonset; call wait_healthy once for each")),
    }
}

/// What the three workload kinds have in common here.
trait Workload:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    fn verdict(&self) -> Verdict;
    fn selector(&self) -> Option<LabelSelector>;
    /// Pods the spec asks for (for a DaemonSet: nodes, as its status counts them).
    fn desired(&self) -> i64;
}

impl Workload for Deployment {
    fn verdict(&self) -> Verdict {
        deployment_verdict(self)
    }
    fn selector(&self) -> Option<LabelSelector> {
        self.spec.as_ref().map(|spec| spec.selector.clone())
    }
    fn desired(&self) -> i64 {
        self.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1).into()
    }
}

impl Workload for StatefulSet {
    fn verdict(&self) -> Verdict {
        statefulset_verdict(self)
    }
    fn selector(&self) -> Option<LabelSelector> {
        self.spec.as_ref().map(|spec| spec.selector.clone())
    }
    fn desired(&self) -> i64 {
        self.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1).into()
    }
}

impl Workload for DaemonSet {
    fn verdict(&self) -> Verdict {
        daemonset_verdict(self)
    }
    fn selector(&self) -> Option<LabelSelector> {
        self.spec.as_ref().map(|spec| spec.selector.clone())
    }
    fn desired(&self) -> i64 {
        self.status.as_ref().map(|status| status.desired_number_scheduled).unwrap_or(0).into()
    }
}

/// How a wait ended without a healthy rollout.
struct Unhealthy {
    /// Why: the last waiting message, the failure, or the missing object.
    reason: String,
    /// The workload's pod selector, to find the pods to blame.
    selector: Option<LabelSelector>,
    timed_out: bool,
}

/// Follow the workload's watch until its verdict is healthy, failed, or `budget` runs out.
async fn watch_rollout<K: Workload>(
    api: Api<K>,
    name: &str,
    label: &str,
    budget: Duration,
    context: &EffectContext,
) -> Result<Progress, Unhealthy> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut current: Option<K> = None;
    let mut last_message = String::from("no status yet");
    let mut last_error: Option<String> = None;
    let deadline = tokio::time::Instant::now() + budget;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.try_next()).await {
            Err(_) => {
                let reason = match &last_error {
                    Some(error) => format!("{last_message}; last watch error: {error}"),
                    None => last_message,
                };
                let selector = current.as_ref().and_then(Workload::selector);
                return Err(Unhealthy { reason, selector, timed_out: true });
            }
            Ok(Ok(Some(event))) => event,
            Ok(Ok(None)) => {
                return Err(Unhealthy { reason: "the watch ended".to_string(), selector: None, timed_out: false });
            }
            Ok(Err(error)) => {
                if let Some(refused) = refusal(&error) {
                    return Err(Unhealthy { reason: refused, selector: None, timed_out: false });
                }
                let message = error.to_string();
                if last_error.as_ref() != Some(&message) {
                    context.progress(&format!("{label}: {message}; retrying"));
                }
                last_error = Some(message);
                continue;
            }
        };
        let object = match event {
            watcher::Event::Init => {
                current = None;
                continue;
            }
            watcher::Event::InitDone if current.is_none() => {
                return Err(Unhealthy { reason: "it does not exist".to_string(), selector: None, timed_out: false });
            }
            watcher::Event::InitDone => continue,
            watcher::Event::Delete(_) => {
                return Err(Unhealthy {
                    reason: "it was deleted while waiting".to_string(),
                    selector: None,
                    timed_out: false,
                });
            }
            watcher::Event::Apply(object) | watcher::Event::InitApply(object) => object,
        };
        let verdict = object.verdict();
        let selector = object.selector();
        current = Some(object);
        match verdict {
            Verdict::Healthy(progress) => return Ok(progress),
            Verdict::Failed(reason) => return Err(Unhealthy { reason, selector, timed_out: false }),
            Verdict::Waiting(message) => {
                if message != last_message {
                    context.progress(&format!("{label}: {message}"));
                    last_message = message;
                }
            }
        }
    }
}

/// Errors a retry will not cure: no permission, no such resource type.
fn refusal(error: &watcher::Error) -> Option<String> {
    let client_error = match error {
        watcher::Error::InitialListFailed(error) | watcher::Error::WatchStartFailed(error) => error,
        _ => return None,
    };
    match client_error {
        kube::Error::Api(status) if matches!(status.code, 401 | 403 | 404) => {
            Some(format!("the cluster refused ({} {}): {}", status.code, status.reason, status.message))
        }
        _ => None,
    }
}

fn selector_text(selector: &LabelSelector) -> Option<String> {
    kube::core::Selector::try_from(selector.clone()).ok().map(|selector| selector.to_string())
}

/// Why a pod is not ready, from its status; `None` for a ready pod.
fn pod_problem(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let ready =
        status.conditions.iter().flatten().any(|condition| condition.type_ == "Ready" && condition.status == "True");
    if ready {
        return None;
    }
    let mut problems = Vec::new();
    let containers = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    for container in containers {
        let state = container.state.clone().unwrap_or_default();
        if let Some(waiting) = state.waiting {
            let reason = waiting.reason.unwrap_or_else(|| "waiting".to_string());
            let message = waiting.message.map(|message| format!(" ({message})")).unwrap_or_default();
            problems.push(format!("container {} {reason}{message}", container.name));
        } else if let Some(terminated) = state.terminated {
            let reason = terminated.reason.unwrap_or_else(|| "terminated".to_string());
            problems.push(format!("container {} {reason} (exit code {})", container.name, terminated.exit_code));
        } else if !container.ready {
            problems.push(format!("container {} running but not ready (failing readiness probe?)", container.name));
        }
    }
    if problems.is_empty() {
        let condition = status
            .conditions
            .iter()
            .flatten()
            .find(|condition| condition.status == "False" && condition.type_ != "Ready")
            .or_else(|| status.conditions.iter().flatten().find(|condition| condition.type_ == "Ready"));
        match condition {
            Some(condition) => problems.push(format!(
                "{} {}{}",
                condition.type_,
                condition.reason.as_deref().unwrap_or("False"),
                condition.message.as_ref().map(|message| format!(" ({message})")).unwrap_or_default()
            )),
            None => problems.push(format!("phase {}", status.phase.as_deref().unwrap_or("unknown"))),
        }
    }
    Some(problems.join("; "))
}

/// The most recent warning event about `pod`.
async fn pod_warning(events: &Api<Event>, pod: &str) -> Option<String> {
    let params = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    let list = events.list(&params).await.ok()?;
    let latest =
        list.items.into_iter().filter(|event| event.type_.as_deref() == Some("Warning")).max_by_key(|event| {
            event.last_timestamp.clone().map(|time| time.0).or(event.event_time.clone().map(|time| time.0))
        })?;
    Some(format!(
        "event {}: {}",
        latest.reason.as_deref().unwrap_or("Warning"),
        latest.message.as_deref().unwrap_or("").trim()
    ))
}

/// One line per pod that is not ready (at most [`PODS_NAMED`]), with its latest warning.
async fn diagnose(client: kube::Client, namespace: &str, selector: &LabelSelector) -> Vec<String> {
    let Some(selector) = selector_text(selector) else {
        return Vec::new();
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await else {
        return Vec::new();
    };
    let events: Api<Event> = Api::namespaced(client, namespace);
    let mut unready: Vec<(String, String)> =
        list.items.iter().filter_map(|pod| Some((pod.metadata.name.clone()?, pod_problem(pod)?))).collect();
    unready.sort();
    let total = unready.len();
    let mut lines = Vec::new();
    for (name, problem) in unready.into_iter().take(PODS_NAMED) {
        let warning = pod_warning(&events, &name).await.map(|warning| format!("; {warning}")).unwrap_or_default();
        lines.push(format!("pod {name}: {problem}{warning}"));
    }
    if total > PODS_NAMED {
        lines.push(format!("... and {} more pods not ready", total - PODS_NAMED));
    }
    lines
}

async fn wait_for<K: Workload>(
    client: kube::Client,
    namespace: &str,
    name: &str,
    label: &str,
    budget: Duration,
    context: &EffectContext,
) -> Result<Progress, EffectError> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let unhealthy = match watch_rollout(api, name, label, budget, context).await {
        Ok(progress) => return Ok(progress),
        Err(unhealthy) => unhealthy,
    };
    let lines = match &unhealthy.selector {
        Some(selector) => {
            tokio::time::timeout(DIAGNOSIS, diagnose(client, namespace, selector)).await.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let headline = if unhealthy.timed_out {
        format!("{label} is not healthy after {}: {}", crate::base::time::format_duration(budget), unhealthy.reason)
    } else {
        format!("{label} failed: {}", unhealthy.reason)
    };
    let message = std::iter::once(headline).chain(lines.iter().map(|line| format!("  {line}"))).collect::<Vec<_>>();
    let mut error = EffectError::new(message.join("\n"));
    if !lines.is_empty() {
        error = error.with_help(format!(
            "look closer with `kubectl -n {namespace} describe pod <pod>`; register a helm_rollback with on_failure to undo the release"
        ));
    }
    Err(error)
}

/// A workload as it is, as the result of a finished rollout would describe it.
async fn current<K: Workload>(
    client: kube::Client,
    namespace: &str,
    name: &str,
    kind: Kind,
) -> Result<Progress, EffectError> {
    let object = Api::<K>::namespaced(client, namespace).get(name).await;
    let object =
        object.map_err(|error| api_error(&format!("cannot read {} {namespace}/{name}", kind.as_str()), &error))?;
    let desired = object.desired();
    Ok(Progress {
        generation: object.meta().generation.unwrap_or(0),
        replicas: desired,
        updated: desired,
        available: desired,
    })
}

fn output(kind: Kind, name: &str, namespace: Namespace, progress: Progress, waited: Duration) -> WaitHealthyOutput {
    WaitHealthyOutput {
        kind: kind.as_str().to_string(),
        name: name.to_string(),
        namespace: namespace.to_string(),
        generation: progress.generation,
        replicas: progress.replicas,
        updated: progress.updated,
        available: progress.available,
        waited_ms: waited.as_millis() as u64,
    }
}

impl Primitive for WaitHealthy {
    type Params = WaitHealthyParams;
    type Output = WaitHealthyOutput;

    fn name(&self) -> &'static str {
        "wait_healthy"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/wait_healthy.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Read
    }

    fn validate(&self, params: &WaitHealthyParams, context: &EffectContext) -> Result<(), EffectError> {
        target(params)?;
        namespace(params.namespace.as_ref(), context)?;
        Ok(())
    }

    fn live(&self, params: &WaitHealthyParams, context: &EffectContext) -> Result<WaitHealthyOutput, EffectError> {
        let (kind, name) = target(params)?;
        let namespace = namespace(params.namespace.as_ref(), context)?;
        let label = format!("{} {namespace}/{name}", kind.as_str());
        let started = Instant::now();
        let budget = params.timeout.unwrap_or(DEFAULT_TIMEOUT).min(context.remaining().saturating_sub(DIAGNOSIS));
        let progress = context.wait(|| async {
            let client = client(context.root(), &context.environment_name, &context.environment).await?;
            match kind {
                Kind::Deployment => wait_for::<Deployment>(client, &namespace, name, &label, budget, context).await,
                Kind::StatefulSet => wait_for::<StatefulSet>(client, &namespace, name, &label, budget, context).await,
                Kind::DaemonSet => wait_for::<DaemonSet>(client, &namespace, name, &label, budget, context).await,
            }
        })??;
        Ok(output(kind, name, namespace, progress, started.elapsed()))
    }

    fn plan(&self, params: &WaitHealthyParams, context: &EffectContext) -> Result<WaitHealthyOutput, EffectError> {
        let (kind, name) = target(params)?;
        let namespace = namespace(params.namespace.as_ref(), context)?;
        if !context.refresh {
            return Ok(output(kind, name, namespace, Progress::default(), Duration::ZERO));
        }
        // Read-only: what the workload asks for now, as a finished rollout would report it.
        let progress = context.wait(|| async {
            let client = client(context.root(), &context.environment_name, &context.environment).await?;
            match kind {
                Kind::Deployment => current::<Deployment>(client, &namespace, name, kind).await,
                Kind::StatefulSet => current::<StatefulSet>(client, &namespace, name, kind).await,
                Kind::DaemonSet => current::<DaemonSet>(client, &namespace, name, kind).await,
            }
        })??;
        Ok(output(kind, name, namespace, progress, Duration::ZERO))
    }

    fn refresh_probes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(value: serde_json::Value) -> Deployment {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_deployment_is_healthy_only_once_its_generation_is_observed() {
        // Right after an upgrade: the status still describes the previous rollout.
        let stale = deployment(json!({
            "metadata": { "name": "web", "generation": 2 },
            "spec": { "replicas": 2, "selector": {}, "template": {} },
            "status": { "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
                        "conditions": [{ "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" }] },
        }));
        assert!(
            matches!(deployment_verdict(&stale), Verdict::Waiting(message) if message.contains("observe generation 2"))
        );
        let rolling = deployment(json!({
            "metadata": { "name": "web", "generation": 2 },
            "spec": { "replicas": 2, "selector": {}, "template": {} },
            "status": { "observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 1 },
        }));
        assert!(
            matches!(deployment_verdict(&rolling), Verdict::Waiting(message) if message == "2/2 updated, 1 available, 1 old pending termination")
        );
        let done = deployment(json!({
            "metadata": { "name": "web", "generation": 2 },
            "spec": { "replicas": 2, "selector": {}, "template": {} },
            "status": { "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2 },
        }));
        assert!(matches!(deployment_verdict(&done), Verdict::Healthy(Progress { replicas: 2, available: 2, .. })));
        let stuck = deployment(json!({
            "metadata": { "name": "web", "generation": 2 },
            "spec": { "selector": {}, "template": {} },
            "status": { "observedGeneration": 2, "conditions": [{ "type": "Progressing", "status": "False",
                        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing." }] },
        }));
        assert!(
            matches!(deployment_verdict(&stuck), Verdict::Failed(message) if message.contains("has timed out progressing"))
        );
    }

    #[test]
    fn exactly_one_workload() {
        let params = |value| serde_json::from_value::<WaitHealthyParams>(value).unwrap();
        assert!(target(&params(json!({ "deployment": "web" }))).is_ok());
        assert!(target(&params(json!({}))).unwrap_err().help.unwrap().contains("deployment: \"name\""));
        assert!(
            target(&params(json!({ "deployment": "a", "daemonset": "b" })))
                .unwrap_err()
                .message
                .contains("one workload")
        );
    }
}
