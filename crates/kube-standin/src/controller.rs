//! The controllers, played small: after a Deployment's, StatefulSet's or DaemonSet's
//! spec changes, create its ReplicaSet and Pods (or its Pods) and move the status along
//! the way the real controllers do, including the lag: until the controller catches up
//! (`observe_delay`), the status still describes the previous rollout. Pods are
//! terminated as the real controllers do: a scale-down deletes the surplus (a
//! ReplicaSet's extra pods, a StatefulSet's highest ordinals), a rollout deletes the
//! old ReplicaSets' pods once the new ones are available, and the status counts follow.
//!
//! What happens next is a [`Behaviour`]: become healthy after a while, never become
//! available (pods in CrashLoopBackOff or ImagePullBackOff, with an Event), or exceed
//! the progress deadline. Images from a `.invalid` registry never pull, as in a real
//! cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use crate::Shared;
use crate::resources::by_plural;
use crate::store::{ChangeKind, Key, Part, Store, timestamp};

/// Annotation (on the workload or its pod template) choosing its [`Behaviour`]:
/// `healthy-after=300ms`, `crash-loop`, `image-pull-backoff`, `progress-deadline=2s`.
pub const BEHAVIOUR_ANNOTATION: &str = "standin.shipctl.dev/behaviour";
/// Annotation setting how long the controller takes to notice a spec change (`300ms`).
pub const OBSERVE_DELAY_ANNOTATION: &str = "standin.shipctl.dev/observe-delay";

/// What a rollout does once the controller has noticed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Pods become ready one after another; the last one `after` the rollout started.
    HealthyAfter(Duration),
    /// Containers crash and restart forever: `CrashLoopBackOff`, a `BackOff` event.
    CrashLoop,
    /// Images cannot be pulled: `ImagePullBackOff`, a `BackOff` event.
    ImagePullBackOff,
    /// Like [`Behaviour::CrashLoop`]; after `after`, a Deployment's `Progressing`
    /// condition turns False with reason `ProgressDeadlineExceeded`.
    ProgressDeadline(Duration),
}

impl Behaviour {
    /// Parse the annotation form.
    pub fn parse(text: &str) -> Result<Behaviour, String> {
        let (name, argument) = match text.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (text.trim(), None),
        };
        let duration =
            || argument.map(parse_duration).unwrap_or_else(|| Err(format!("{name} needs a duration: {name}=300ms")));
        match name {
            "healthy-after" => Ok(Behaviour::HealthyAfter(duration()?)),
            "crash-loop" => Ok(Behaviour::CrashLoop),
            "image-pull-backoff" => Ok(Behaviour::ImagePullBackOff),
            "progress-deadline" => Ok(Behaviour::ProgressDeadline(duration()?)),
            other => Err(format!(
                "unknown behaviour {other:?}: use healthy-after=<duration>, crash-loop, image-pull-backoff or progress-deadline=<duration>"
            )),
        }
    }
}

/// `300ms`, `2s`, or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parse = |number: &str| number.trim().parse::<u64>().map_err(|_| format!("not a duration: {text:?}"));
    if let Some(millis) = text.strip_suffix("ms") {
        return parse(millis).map(Duration::from_millis);
    }
    if let Some(seconds) = text.strip_suffix('s') {
        return parse(seconds).map(Duration::from_secs);
    }
    parse(text).map(Duration::from_millis)
}

/// The controller's settings, changeable while the stand-in runs.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// For workloads without an annotation or override.
    pub behaviour: Behaviour,
    /// How long a spec change goes unnoticed.
    pub observe_delay: Duration,
    /// Per workload: (resource plural, namespace, name).
    pub overrides: HashMap<(String, String, String), Behaviour>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            behaviour: Behaviour::HealthyAfter(Duration::from_millis(100)),
            observe_delay: Duration::from_millis(20),
            overrides: HashMap::new(),
        }
    }
}

fn annotation<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(name))
        .or_else(|| object.pointer("/spec/template/metadata/annotations").and_then(|a| a.get(name)))
        .and_then(Value::as_str)
}

/// Images from a `.invalid` registry cannot be pulled, in a real cluster or here.
fn unpullable(object: &Value) -> bool {
    object.pointer("/spec/template/spec/containers").and_then(Value::as_array).is_some_and(|containers| {
        containers.iter().any(|container| {
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            image.split('/').next().is_some_and(|host| image.contains('/') && host.ends_with(".invalid"))
        })
    })
}

fn settings(knobs: &Knobs, key: &Key, object: &Value) -> (Behaviour, Duration) {
    let id = (key.resource().plural.to_string(), key.namespace.clone(), key.name.clone());
    let behaviour = knobs
        .overrides
        .get(&id)
        .copied()
        .or_else(|| annotation(object, BEHAVIOUR_ANNOTATION).and_then(|text| Behaviour::parse(text).ok()))
        .or_else(|| unpullable(object).then_some(Behaviour::ImagePullBackOff))
        .unwrap_or(knobs.behaviour);
    let delay = annotation(object, OBSERVE_DELAY_ANNOTATION)
        .and_then(|text| parse_duration(text).ok())
        .unwrap_or(knobs.observe_delay);
    (behaviour, delay)
}

fn is_workload(key: &Key) -> bool {
    matches!(key.resource().plural, "deployments" | "statefulsets" | "daemonsets")
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn generation(object: &Value) -> i64 {
    object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0)
}

/// Follow every write; start a rollout for each new generation of a workload.
pub async fn run(shared: Arc<Shared>, mut changes: tokio::sync::broadcast::Receiver<Arc<crate::store::Change>>) {
    let mut seen: HashMap<Key, (String, i64)> = HashMap::new();
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        if !is_workload(&change.key) {
            continue;
        }
        if change.kind == ChangeKind::Deleted {
            seen.remove(&change.key);
            continue;
        }
        let identity = (str_at(&change.object, "/metadata/uid").to_string(), generation(&change.object));
        if seen.get(&change.key) == Some(&identity) {
            continue;
        }
        seen.insert(change.key.clone(), identity.clone());
        let (behaviour, delay) = {
            let knobs = shared.knobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            settings(&knobs, &change.key, &change.object)
        };
        let rollout =
            Rollout { shared: Arc::clone(&shared), key: change.key.clone(), uid: identity.0, generation: identity.1 };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            rollout.run(behaviour).await;
        });
    }
}

/// One rollout of one generation of one workload.
struct Rollout {
    shared: Arc<Shared>,
    key: Key,
    uid: String,
    generation: i64,
}

/// Kubernetes-style hash of a pod template, 10 characters.
fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = Sha256::digest(template.to_string().as_bytes());
    digest.iter().take(10).map(|byte| ALPHABET[*byte as usize % ALPHABET.len()] as char).collect()
}

fn owner_reference(object: &Value) -> Value {
    json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "name": object["metadata"]["name"],
        "uid": object["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn owned_by(object: &Value, uid: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| owners.iter().any(|owner| owner.get("uid").and_then(Value::as_str) == Some(uid)))
}

/// A ReplicaSet's `deployment.kubernetes.io/revision`, 0 when it has none.
fn revision_of(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<i64>().ok())
        .unwrap_or(0)
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn condition(kind: &str, status: bool, reason: &str, message: &str) -> Value {
    let now = timestamp();
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    })
}

fn container_names(template: &Value) -> Vec<(String, String)> {
    template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|containers| {
            containers.iter().map(|c| (str_at(c, "/name").to_string(), str_at(c, "/image").to_string())).collect()
        })
        .unwrap_or_default()
}

/// The state a new pod is put in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PodState {
    Starting,
    Ready,
    Failing(Behaviour),
}

fn pod_status(template: &Value, pod_name: &str, namespace: &str, uid: &str, state: PodState) -> Value {
    let now = timestamp();
    let containers = container_names(template);
    let unready: Vec<&str> = containers.iter().map(|(name, _)| name.as_str()).collect();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|(name, image)| {
            let base = json!({ "name": name, "image": image, "imageID": "", "ready": state == PodState::Ready });
            let mut status = base;
            match state {
                PodState::Starting => {
                    status["restartCount"] = json!(0);
                    status["started"] = json!(false);
                    status["state"] = json!({ "waiting": { "reason": "ContainerCreating" } });
                }
                PodState::Ready => {
                    status["restartCount"] = json!(0);
                    status["started"] = json!(true);
                    status["state"] = json!({ "running": { "startedAt": now } });
                }
                PodState::Failing(Behaviour::ImagePullBackOff) => {
                    status["restartCount"] = json!(0);
                    status["started"] = json!(false);
                    status["state"] = json!({ "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": format!("Back-off pulling image \"{image}\""),
                    }});
                }
                PodState::Failing(_) => {
                    status["restartCount"] = json!(3);
                    status["started"] = json!(false);
                    status["state"] = json!({ "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": format!("back-off 40s restarting failed container={name} pod={pod_name}_{namespace}({uid})"),
                    }});
                    status["lastState"] = json!({ "terminated": {
                        "exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now,
                    }});
                }
            }
            status
        })
        .collect();
    let ready = state == PodState::Ready;
    let phase = match state {
        PodState::Ready | PodState::Failing(Behaviour::CrashLoop | Behaviour::ProgressDeadline(_)) => "Running",
        _ => "Pending",
    };
    let mut ready_condition =
        json!({ "type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": now });
    if !ready {
        ready_condition["reason"] = json!("ContainersNotReady");
        ready_condition["message"] = json!(format!("containers with unready status: [{}]", unready.join(" ")));
    }
    json!({
        "phase": phase,
        "conditions": [
            { "type": "PodScheduled", "status": "True", "lastTransitionTime": now },
            { "type": "Initialized", "status": "True", "lastTransitionTime": now },
            ready_condition.clone(),
            { "type": "ContainersReady", "status": ready_condition["status"], "lastTransitionTime": now },
        ],
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": now,
        "containerStatuses": statuses,
    })
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Store> {
    shared.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Rollout {
    /// The workload, if it is still at this rollout's generation.
    fn current(&self, store: &Store) -> Option<Value> {
        let object = store.get(&self.key).ok()?;
        (str_at(object, "/metadata/uid") == self.uid && generation(object) == self.generation).then(|| object.clone())
    }

    async fn run(self, behaviour: Behaviour) {
        match self.key.resource().plural {
            "deployments" => self.deployment(behaviour).await,
            "statefulsets" | "daemonsets" => self.pod_set(behaviour).await,
            _ => {}
        }
    }

    fn mark_available(&self) {
        let mut marks = self.shared.marks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        marks.insert(self.key.clone(), (self.generation, Instant::now()));
    }

    /// Create a pod owned by `owner`, in `state`; returns its key.
    #[allow(clippy::too_many_arguments)]
    fn create_pod(
        store: &mut Store,
        namespace: &str,
        name: &str,
        owner: &Value,
        template: &Value,
        labels: &Value,
        node: Option<&str>,
        state: PodState,
    ) -> Option<Key> {
        let pods = by_plural("pods")?;
        let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        } else {
            spec["nodeName"] = json!("standin-node-1");
        }
        let pod = json!({
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or_else(|| json!({})),
                "ownerReferences": [owner_reference(owner)],
            },
            "spec": spec,
        });
        let created = store.create(pods, Some(namespace), pod, false).ok()?;
        let key = Key::new(pods, namespace, name);
        Self::set_pod_state(store, &key, &created, template, state);
        Some(key)
    }

    fn set_pod_state(store: &mut Store, key: &Key, pod: &Value, template: &Value, state: PodState) {
        let uid = str_at(pod, "/metadata/uid").to_string();
        let mut updated = pod.clone();
        updated["status"] = pod_status(template, &key.name, &key.namespace, &uid, state);
        let _ = store.update(key, updated, Part::Status, false);
        if let PodState::Failing(behaviour) = state {
            Self::record_failure_event(store, key, &uid, template, behaviour);
        }
    }

    fn record_failure_event(store: &mut Store, pod: &Key, uid: &str, template: &Value, behaviour: Behaviour) {
        let Some(events) = by_plural("events") else {
            return;
        };
        let (container, image) = container_names(template).into_iter().next().unwrap_or_default();
        let message = match behaviour {
            Behaviour::ImagePullBackOff => format!("Back-off pulling image \"{image}\""),
            _ => {
                format!("Back-off restarting failed container {container} in pod {}_{}({uid})", pod.name, pod.namespace)
            }
        };
        let now = timestamp();
        let name = format!("{}.{}", pod.name, store.suffix());
        let event = json!({
            "metadata": { "name": name },
            "involvedObject": {
                "kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": uid, "apiVersion": "v1",
                "fieldPath": format!("spec.containers{{{container}}}"),
            },
            "reason": "BackOff",
            "message": message,
            "source": { "component": "kubelet", "host": "standin-node-1" },
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 5,
            "type": "Warning",
            "reportingComponent": "kubelet",
            "reportingInstance": "standin-node-1",
        });
        let _ = store.create(events, Some(&pod.namespace), event, false);
    }

    fn write_status(store: &mut Store, key: &Key, object: &Value, status: Value) {
        let mut updated = object.clone();
        updated["status"] = status;
        let _ = store.update(key, updated, Part::Status, false);
    }

    /// A Deployment: a new ReplicaSet with new pods, old ReplicaSets scaled down at the end.
    async fn deployment(self, behaviour: Behaviour) {
        let (Some(replicasets), Some(pods_resource)) = (by_plural("replicasets"), by_plural("pods")) else {
            return;
        };
        // The controller notices the new generation: a new ReplicaSet and its pods.
        let plan = {
            let mut store = lock(&self.shared);
            let Some(deployment) = self.current(&store) else {
                return;
            };
            let namespace = self.key.namespace.clone();
            let template = deployment.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
            let replicas = deployment.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0);
            let hash = template_hash(&template);
            let rs_name = format!("{}-{hash}", self.key.name);
            let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({}));
            labels["pod-template-hash"] = json!(hash);
            let mut selector = deployment.pointer("/spec/selector").cloned().unwrap_or_else(|| json!({}));
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let owned: Vec<Value> = store
                .list(replicasets, Some(&namespace), &Default::default(), &Default::default())
                .into_iter()
                .filter(|rs| owned_by(rs, &self.uid))
                .collect();
            let latest = owned.iter().map(revision_of).max().unwrap_or(0);
            let revision = latest + 1;
            let rs_key = Key::new(replicasets, &namespace, &rs_name);
            let rs = match store.get(&rs_key).cloned() {
                Ok(existing) => match Self::rescale(&mut store, &rs_key, existing, replicas, latest) {
                    Some(rs) => rs,
                    None => return,
                },
                Err(_) => {
                    let mut rs_template = template.clone();
                    rs_template["metadata"]["labels"] = labels.clone();
                    let rs = json!({
                        "metadata": {
                            "name": rs_name,
                            "labels": labels,
                            "annotations": { "deployment.kubernetes.io/revision": revision.to_string() },
                            "ownerReferences": [owner_reference(&deployment)],
                        },
                        "spec": { "replicas": replicas, "selector": selector, "template": rs_template },
                    });
                    match store.create(replicasets, Some(&namespace), rs, false) {
                        Ok(rs) => rs,
                        Err(_) => return,
                    }
                }
            };
            let rs_uid = str_at(&rs, "/metadata/uid").to_string();
            let old_rs: Vec<Key> = owned
                .iter()
                .filter(|other| str_at(other, "/metadata/uid") != rs_uid)
                .map(|other| Key::new(replicasets, &namespace, str_at(other, "/metadata/name")))
                .collect();
            let existing: Vec<Key> = store
                .list(pods_resource, Some(&namespace), &Default::default(), &Default::default())
                .into_iter()
                .filter(|pod| owned_by(pod, &rs_uid))
                .map(|pod| Key::new(pods_resource, &namespace, str_at(&pod, "/metadata/name")))
                .collect();
            let state = match behaviour {
                Behaviour::HealthyAfter(_) => PodState::Starting,
                failing => PodState::Failing(failing),
            };
            let mut new_pods = existing;
            // Scaled down (a rollback to fewer replicas, `kubectl scale`): the surplus
            // pods are terminated, as the ReplicaSet controller does.
            while new_pods.len() as i64 > replicas {
                if let Some(surplus) = new_pods.pop() {
                    let _ = store.delete(&surplus, None, None, false, false);
                }
            }
            while (new_pods.len() as i64) < replicas {
                let name = format!("{rs_name}-{}", store.suffix());
                match Self::create_pod(&mut store, &namespace, &name, &rs, &template, &labels, None, state) {
                    Some(key) => new_pods.push(key),
                    None => return,
                }
            }
            let progressing = condition(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{rs_name}\" is progressing."),
            );
            Self::deployment_status(&mut store, &self.key, &deployment, &rs_uid, &old_rs, progressing);
            DeploymentPlan { rs_uid, new_pods, old_rs, template, rs_name }
        };
        match behaviour {
            Behaviour::HealthyAfter(after) => {
                let count = plan.new_pods.len().max(1) as u32;
                for pod in &plan.new_pods {
                    tokio::time::sleep(after / count).await;
                    let mut store = lock(&self.shared);
                    let Some(deployment) = self.current(&store) else {
                        return;
                    };
                    if let Ok(object) = store.get(pod).cloned() {
                        Self::set_pod_state(&mut store, pod, &object, &plan.template, PodState::Ready);
                    }
                    let progressing = condition(
                        "Progressing",
                        true,
                        "ReplicaSetUpdated",
                        &format!("ReplicaSet \"{}\" is progressing.", plan.rs_name),
                    );
                    Self::deployment_status(
                        &mut store,
                        &self.key,
                        &deployment,
                        &plan.rs_uid,
                        &plan.old_rs,
                        progressing,
                    );
                }
                if plan.new_pods.is_empty() {
                    tokio::time::sleep(after).await;
                }
                let mut store = lock(&self.shared);
                let Some(deployment) = self.current(&store) else {
                    return;
                };
                for old in &plan.old_rs {
                    if let Ok(rs) = store.get(old).cloned() {
                        let mut scaled = rs.clone();
                        scaled["spec"]["replicas"] = json!(0);
                        let _ = store.update(old, scaled, Part::Main, false);
                        let rs_uid = str_at(&rs, "/metadata/uid").to_string();
                        let pods: Vec<Key> = store
                            .list(pods_resource, Some(&self.key.namespace), &Default::default(), &Default::default())
                            .into_iter()
                            .filter(|pod| owned_by(pod, &rs_uid))
                            .map(|pod| Key::new(pods_resource, &self.key.namespace, str_at(&pod, "/metadata/name")))
                            .collect();
                        for pod in pods {
                            let _ = store.delete(&pod, None, None, false, false);
                        }
                    }
                }
                let progressing = condition(
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{}\" has successfully progressed.", plan.rs_name),
                );
                self.mark_available();
                Self::deployment_status(&mut store, &self.key, &deployment, &plan.rs_uid, &plan.old_rs, progressing);
            }
            Behaviour::ProgressDeadline(after) => {
                tokio::time::sleep(after).await;
                let mut store = lock(&self.shared);
                let Some(deployment) = self.current(&store) else {
                    return;
                };
                let progressing = condition(
                    "Progressing",
                    false,
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet \"{}\" has timed out progressing.", plan.rs_name),
                );
                Self::deployment_status(&mut store, &self.key, &deployment, &plan.rs_uid, &plan.old_rs, progressing);
            }
            Behaviour::CrashLoop | Behaviour::ImagePullBackOff => {}
        }
    }

    /// An existing ReplicaSet taken up again: its `spec.replicas` follows the
    /// Deployment's, and a rollback to it makes it the latest revision, as the
    /// deployment controller does. `None` when the write fails.
    fn rescale(store: &mut Store, key: &Key, rs: Value, replicas: i64, latest: i64) -> Option<Value> {
        let mut updated = rs.clone();
        updated["spec"]["replicas"] = json!(replicas);
        if revision_of(&rs) < latest {
            updated["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!((latest + 1).to_string());
        }
        if updated == rs {
            return Some(rs);
        }
        store.update(key, updated, Part::Main, false).ok()
    }

    /// Write a Deployment's status from the pods that exist.
    fn deployment_status(
        store: &mut Store,
        key: &Key,
        deployment: &Value,
        rs_uid: &str,
        old_rs: &[Key],
        progressing: Value,
    ) {
        let Some(pods_resource) = by_plural("pods") else {
            return;
        };
        let old_uids: Vec<String> = old_rs
            .iter()
            .filter_map(|old| store.get(old).ok())
            .map(|rs| str_at(rs, "/metadata/uid").to_string())
            .collect();
        let pods = store.list(pods_resource, Some(&key.namespace), &Default::default(), &Default::default());
        let new: Vec<&Value> = pods.iter().filter(|pod| owned_by(pod, rs_uid)).collect();
        let old: Vec<&Value> = pods.iter().filter(|pod| old_uids.iter().any(|uid| owned_by(pod, uid))).collect();
        let updated = new.len() as i64;
        let ready = new.iter().chain(old.iter()).filter(|pod| is_ready(pod)).count() as i64;
        let total = updated + old.len() as i64;
        let desired = deployment.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let available = if ready >= desired.max(1) || (desired == 0) {
            condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.")
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        let mut status = json!({
            "observedGeneration": generation(deployment),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [available, progressing],
        });
        if total - ready > 0 {
            status["unavailableReplicas"] = json!(total - ready);
        }
        Self::write_status(store, key, deployment, status);
    }

    /// A StatefulSet (pods `<name>-<ordinal>`) or a DaemonSet (a pod per node): pods
    /// replaced one after another, the revision recorded at the end.
    async fn pod_set(self, behaviour: Behaviour) {
        let (Some(pods_resource), Some(nodes)) = (by_plural("pods"), by_plural("nodes")) else {
            return;
        };
        let daemon = self.key.resource().plural == "daemonsets";
        let (template, revision, names, node_names, previous_revision) = {
            let store = lock(&self.shared);
            let Some(object) = self.current(&store) else {
                return;
            };
            let template = object.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
            let revision = format!("{}-{}", self.key.name, template_hash(&template));
            let node_names: Vec<String> = store
                .list(nodes, None, &Default::default(), &Default::default())
                .iter()
                .map(|node| str_at(node, "/metadata/name").to_string())
                .collect();
            let names: Vec<String> = if daemon {
                node_names
                    .iter()
                    .map(|node| format!("{}-{}", self.key.name, node.trim_start_matches("standin-")))
                    .collect()
            } else {
                let replicas = object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0);
                (0..replicas).map(|ordinal| format!("{}-{ordinal}", self.key.name)).collect()
            };
            let previous = str_at(&object, "/status/currentRevision").to_string();
            (template, revision, names, node_names, previous)
        };
        let state_for_new = match behaviour {
            Behaviour::HealthyAfter(_) => PodState::Ready,
            failing => PodState::Failing(failing),
        };
        let current_revision = if previous_revision.is_empty() { revision.clone() } else { previous_revision };
        {
            let mut store = lock(&self.shared);
            let Some(object) = self.current(&store) else {
                return;
            };
            // Scaled down: ordinals (or nodes) beyond the desired set are terminated.
            let surplus: Vec<Key> = store
                .list(pods_resource, Some(&self.key.namespace), &Default::default(), &Default::default())
                .into_iter()
                .filter(|pod| {
                    owned_by(pod, &self.uid) && !names.iter().any(|name| name == str_at(pod, "/metadata/name"))
                })
                .map(|pod| Key::new(pods_resource, &self.key.namespace, str_at(&pod, "/metadata/name")))
                .collect();
            for pod in surplus {
                let _ = store.delete(&pod, None, None, false, false);
            }
            self.pod_set_status(&mut store, &object, &names, &revision, &current_revision);
        }
        let step = match behaviour {
            Behaviour::HealthyAfter(after) => after / names.len().max(1) as u32,
            _ => Duration::ZERO,
        };
        for (index, name) in names.iter().enumerate() {
            tokio::time::sleep(step).await;
            let mut store = lock(&self.shared);
            let Some(object) = self.current(&store) else {
                return;
            };
            let key = Key::new(pods_resource, &self.key.namespace, name);
            let _ = store.delete(&key, None, None, false, false);
            let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({}));
            labels["controller-revision-hash"] = json!(revision);
            if !daemon {
                labels["statefulset.kubernetes.io/pod-name"] = json!(name);
            }
            let node = if daemon { node_names.get(index).map(String::as_str) } else { None };
            Self::create_pod(&mut store, &self.key.namespace, name, &object, &template, &labels, node, state_for_new);
            self.pod_set_status(&mut store, &object, &names, &revision, &current_revision);
        }
        if matches!(behaviour, Behaviour::HealthyAfter(_)) {
            let mut store = lock(&self.shared);
            let Some(object) = self.current(&store) else {
                return;
            };
            self.mark_available();
            self.pod_set_status(&mut store, &object, &names, &revision, &revision);
        }
    }

    fn pod_set_status(&self, store: &mut Store, object: &Value, names: &[String], revision: &str, current: &str) {
        let Some(pods_resource) = by_plural("pods") else {
            return;
        };
        let pods: Vec<Value> = names
            .iter()
            .filter_map(|name| store.get(&Key::new(pods_resource, &self.key.namespace, name)).ok().cloned())
            .collect();
        let updated =
            pods.iter().filter(|pod| str_at(pod, "/metadata/labels/controller-revision-hash") == revision).count()
                as i64;
        let ready = pods.iter().filter(|pod| is_ready(pod)).count() as i64;
        let total = pods.len() as i64;
        let status = if self.key.resource().plural == "daemonsets" {
            let desired = names.len() as i64;
            json!({
                "observedGeneration": self.generation,
                "desiredNumberScheduled": desired,
                "currentNumberScheduled": total,
                "updatedNumberScheduled": updated,
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": desired - ready,
                "numberMisscheduled": 0,
            })
        } else {
            json!({
                "observedGeneration": self.generation,
                "replicas": total,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "currentReplicas": if current == revision { updated } else { total - updated },
                "updatedReplicas": updated,
                "currentRevision": current,
                "updateRevision": revision,
            })
        };
        Self::write_status(store, &self.key, object, status);
    }
}

struct DeploymentPlan {
    rs_uid: String,
    new_pods: Vec<Key>,
    old_rs: Vec<Key>,
    template: Value,
    rs_name: String,
}

/// Shared marks: when each workload was last marked available, and at which generation.
pub type Marks = Mutex<HashMap<Key, (i64, Instant)>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse() {
        assert_eq!(Behaviour::parse("healthy-after=250ms"), Ok(Behaviour::HealthyAfter(Duration::from_millis(250))));
        assert_eq!(Behaviour::parse("crash-loop"), Ok(Behaviour::CrashLoop));
        assert_eq!(Behaviour::parse("progress-deadline=2s"), Ok(Behaviour::ProgressDeadline(Duration::from_secs(2))));
        assert!(Behaviour::parse("healthy-after").is_err());
        assert!(Behaviour::parse("sometimes").is_err());
    }
}
