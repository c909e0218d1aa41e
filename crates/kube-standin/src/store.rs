//! Object storage with the API server's bookkeeping: one resourceVersion counter for
//! every write, uid, generation (+1 on each change to `spec`), creation timestamps,
//! the status subresource rule, conflicts, cascading deletes through owner
//! references, and a bounded history of changes that watches replay and follow.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::patch;
use crate::resources::{RESOURCES, Resource};
use crate::selector::{FieldSelector, LabelSelector};

/// Where an object lives: its resource (index in [`RESOURCES`]), namespace (empty for
/// cluster-scoped objects) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub resource: usize,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: usize, namespace: &str, name: &str) -> Key {
        Key { resource, namespace: namespace.to_string(), name: name.to_string() }
    }

    pub fn resource(&self) -> &'static Resource {
        &RESOURCES[self.resource]
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One write, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub revision: u64,
    pub kind: ChangeKind,
    pub key: Key,
    /// The object after the write (for a delete: the object as it was, with the
    /// deletion's resourceVersion).
    pub object: Value,
    /// The object before the write.
    pub previous: Option<Value>,
}

/// An API error, answered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Kind (resource plural) and name the error is about.
    pub details: Option<(String, String, String)>,
}

impl ApiError {
    fn about(code: u16, reason: &'static str, message: String, resource: &Resource, name: &str) -> ApiError {
        ApiError {
            code,
            reason,
            message,
            details: Some((resource.group.to_string(), resource.plural.to_string(), name.to_string())),
        }
    }

    pub fn not_found(resource: &Resource, name: &str) -> ApiError {
        let message = format!("{} \"{name}\" not found", resource.qualified());
        ApiError::about(404, "NotFound", message, resource, name)
    }

    pub fn already_exists(resource: &Resource, name: &str) -> ApiError {
        let message = format!("{} \"{name}\" already exists", resource.qualified());
        ApiError::about(409, "AlreadyExists", message, resource, name)
    }

    pub fn conflict(resource: &Resource, name: &str, why: &str) -> ApiError {
        let message = format!("Operation cannot be fulfilled on {} \"{name}\": {why}", resource.qualified());
        ApiError::about(409, "Conflict", message, resource, name)
    }

    pub fn invalid(resource: &Resource, name: &str, why: &str) -> ApiError {
        let message = format!("{} \"{name}\" is invalid: {why}", resource.kind);
        ApiError::about(422, "Invalid", message, resource, name)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { code: 400, reason: "BadRequest", message: message.into(), details: None }
    }

    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError { code: 410, reason: "Expired", message: message.into(), details: None }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError { code: 405, reason: "MethodNotAllowed", message: message.into(), details: None }
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError { code: 415, reason: "UnsupportedMediaType", message: message.into(), details: None }
    }

    /// The `Status` object clients read `reason` and `code` from.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some((group, kind, name)) = &self.details {
            status["details"] = json!({ "name": name, "group": group, "kind": kind });
        }
        status
    }
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but the status (for resources with a status subresource).
    Main,
    /// Only the status (`/status`).
    Status,
}

/// How many changes watches can resume from, unless told otherwise.
pub const HISTORY: usize = 10_000;

/// The objects and their history.
pub struct Store {
    revision: u64,
    counter: u64,
    seed: u64,
    objects: BTreeMap<Key, Value>,
    /// What each field manager applied last, for server-side apply.
    applied: HashMap<(Key, String), Value>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// Changes at or below this revision are no longer in `history`.
    compacted: u64,
    changes: broadcast::Sender<Arc<Change>>,
}

/// RFC 3339 in seconds, as `metav1.Time` is written.
pub fn timestamp() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn string_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = object.as_object_mut().ok_or_else(|| ApiError::bad_request("the request body is not a JSON object"))?;
    let metadata = map.entry("metadata").or_insert_with(|| json!({}));
    if !metadata.is_object() {
        *metadata = json!({});
    }
    metadata.as_object_mut().ok_or_else(|| ApiError::bad_request("metadata is not an object"))
}

/// Fill in `apiVersion` and `kind`, or refuse a body of another kind.
fn check_kind(resource: &Resource, object: &mut Value) -> Result<(), ApiError> {
    let map = object.as_object_mut().ok_or_else(|| ApiError::bad_request("the request body is not a JSON object"))?;
    let api_version = resource.api_version();
    match map.get("kind").and_then(Value::as_str) {
        Some(kind) if kind != resource.kind => {
            return Err(ApiError::bad_request(format!(
                "the body is a {kind}, but the URL is for {} ({})",
                resource.plural, resource.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".to_string(), Value::String(api_version));
    map.insert("kind".to_string(), Value::String(resource.kind.to_string()));
    Ok(())
}

impl Store {
    pub fn new() -> Store {
        Store::with_history(HISTORY)
    }

    /// A store that keeps the last `limit` changes for watches to resume from.
    pub fn with_history(limit: usize) -> Store {
        let limit = limit.max(1);
        let (changes, _) = broadcast::channel(HISTORY);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0);
        Store {
            revision: 0,
            counter: 0,
            seed,
            objects: BTreeMap::new(),
            applied: HashMap::new(),
            history: VecDeque::new(),
            history_limit: limit,
            compacted: 0,
            changes,
        }
    }

    /// The current resourceVersion (of the last write).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Every future change.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Changes after `revision`, or `410 Gone` when they are no longer kept.
    pub fn history_after(&self, revision: u64) -> Result<Vec<Arc<Change>>, ApiError> {
        if revision < self.compacted {
            return Err(ApiError::gone(format!("too old resource version: {revision} ({})", self.compacted + 1)));
        }
        Ok(self.history.iter().filter(|change| change.revision > revision).cloned().collect())
    }

    fn next_uid(&mut self) -> String {
        self.counter += 1;
        let mixed = self.seed ^ self.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (mixed >> 32) as u32,
            (mixed >> 16) as u16,
            (mixed & 0xfff) as u16,
            (self.counter & 0xfff) as u16,
            self.counter
        )
    }

    /// Five characters as the API server appends to a `generateName`.
    pub fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.counter += 1;
        let mut bits = self.seed ^ self.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (0..5)
            .map(|_| {
                let character = ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char;
                bits /= ALPHABET.len() as u64;
                character
            })
            .collect()
    }

    pub fn get(&self, key: &Key) -> Result<&Value, ApiError> {
        self.objects.get(key).ok_or_else(|| ApiError::not_found(key.resource(), &key.name))
    }

    /// Objects of `resource` in `namespace` (all namespaces when `None`) that match.
    pub fn list(
        &self,
        resource: usize,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(key, _)| key.resource == resource && namespace.is_none_or(|ns| key.namespace == ns))
            .filter(|(_, object)| labels.matches(object) && fields.matches(object))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Create an object; `namespace` from the URL.
    pub fn create(
        &mut self,
        resource: usize,
        namespace: Option<&str>,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let definition = &RESOURCES[resource];
        check_kind(definition, &mut object)?;
        let metadata = metadata_mut(&mut object)?;
        if definition.namespaced {
            let namespace = namespace.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{} are namespaced: create them under /namespaces/<name>/",
                    definition.plural
                ))
            })?;
            match metadata.get("namespace").and_then(Value::as_str) {
                Some(given) if !given.is_empty() && given != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    metadata.insert("namespace".to_string(), json!(namespace));
                }
            }
        } else {
            metadata.remove("namespace");
        }
        let given = metadata.get("name").and_then(Value::as_str).filter(|name| !name.is_empty()).map(str::to_string);
        let prefix = metadata.get("generateName").and_then(Value::as_str).map(str::to_string);
        let name = match (given, prefix) {
            (Some(name), _) => name,
            (None, Some(prefix)) => format!("{prefix}{}", self.suffix()),
            (None, None) => {
                return Err(ApiError::invalid(
                    definition,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        };
        let key = Key::new(resource, namespace.filter(|_| definition.namespaced).unwrap_or(""), &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(definition, &name));
        }
        let uid = self.next_uid();
        let has_spec = object.get("spec").is_some();
        let metadata = metadata_mut(&mut object)?;
        metadata.insert("name".to_string(), json!(name));
        metadata.insert("uid".to_string(), json!(uid));
        metadata.insert("creationTimestamp".to_string(), json!(timestamp()));
        metadata.remove("resourceVersion");
        metadata.remove("managedFields");
        if definition.tracks_generation() && has_spec {
            metadata.insert("generation".to_string(), json!(1));
        } else {
            metadata.remove("generation");
        }
        if definition.status
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        self.defaults(definition, &mut object, None);
        if dry_run {
            return Ok(object);
        }
        Ok(self.commit(key, Some(object), None))
    }

    /// Replace an object (`PUT`), or its status.
    pub fn update(&mut self, key: &Key, mut object: Value, part: Part, dry_run: bool) -> Result<Value, ApiError> {
        let definition = key.resource();
        check_kind(definition, &mut object)?;
        let old = self.get(key)?.clone();
        let old_version = string_at(&old, "/metadata/resourceVersion").unwrap_or("").to_string();
        {
            let metadata = metadata_mut(&mut object)?;
            if let Some(name) = metadata.get("name").and_then(Value::as_str)
                && name != key.name
            {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    key.name
                )));
            }
            if let Some(version) = metadata.get("resourceVersion").and_then(Value::as_str)
                && !version.is_empty()
                && version != old_version
            {
                return Err(ApiError::conflict(
                    definition,
                    &key.name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        let mut new = match part {
            Part::Main => {
                if definition.status {
                    set_or_remove(&mut object, "status", old.get("status").cloned());
                }
                object
            }
            Part::Status => {
                let mut merged = old.clone();
                set_or_remove(&mut merged, "status", object.get("status").cloned());
                merged
            }
        };
        {
            let spec_changed = old.get("spec") != new.get("spec");
            let metadata = metadata_mut(&mut new)?;
            for field in ["uid", "creationTimestamp", "generation"] {
                match old.pointer(&format!("/metadata/{field}")) {
                    Some(value) => metadata.insert(field.to_string(), value.clone()),
                    None => metadata.remove(field),
                };
            }
            metadata.insert("name".to_string(), json!(key.name));
            if definition.namespaced {
                metadata.insert("namespace".to_string(), json!(key.namespace));
            }
            metadata.insert("resourceVersion".to_string(), json!(old_version));
            metadata.remove("managedFields");
            if spec_changed && let Some(generation) = old.pointer("/metadata/generation").and_then(Value::as_i64) {
                metadata.insert("generation".to_string(), json!(generation + 1));
            }
        }
        self.defaults(definition, &mut new, Some(&old));
        if new == old || dry_run {
            return Ok(new);
        }
        Ok(self.commit(key.clone(), Some(new), Some(old)))
    }

    /// Server-side apply by `manager`; creates the object when it does not exist.
    /// Returns the object and whether it was created.
    pub fn apply(
        &mut self,
        key: &Key,
        mut applied: Value,
        manager: &str,
        part: Part,
        dry_run: bool,
    ) -> Result<(Value, bool), ApiError> {
        let definition = key.resource();
        check_kind(definition, &mut applied)?;
        if let Some(name) = string_at(&applied, "/metadata/name")
            && name != key.name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.name
            )));
        }
        let slot = (key.clone(), manager.to_string());
        let (object, created) = match self.objects.get(key) {
            None if part == Part::Status => return Err(ApiError::not_found(definition, &key.name)),
            None => {
                let mut object = applied.clone();
                metadata_mut(&mut object)?.insert("name".to_string(), json!(key.name));
                let namespace = definition.namespaced.then_some(key.namespace.as_str());
                (self.create(key.resource, namespace, object, dry_run)?, true)
            }
            Some(existing) => {
                let merged = patch::apply(Some(existing), self.applied.get(&slot), &applied);
                (self.update(key, merged, part, dry_run)?, false)
            }
        };
        if !dry_run {
            self.applied.insert(slot, applied);
        }
        Ok((object, created))
    }

    /// Delete an object and, unless `orphan`, everything it owns.
    pub fn delete(
        &mut self,
        key: &Key,
        precondition_version: Option<&str>,
        precondition_uid: Option<&str>,
        orphan: bool,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let definition = key.resource();
        let old = self.get(key)?.clone();
        let version = string_at(&old, "/metadata/resourceVersion").unwrap_or("");
        let uid = string_at(&old, "/metadata/uid").unwrap_or("").to_string();
        if let Some(expected) = precondition_version.filter(|expected| *expected != version) {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {expected}, ResourceVersion in object meta: {version}"
            );
            return Err(ApiError::conflict(definition, &key.name, &why));
        }
        if let Some(expected) = precondition_uid.filter(|expected| *expected != uid) {
            let why = format!("Precondition failed: UID in precondition: {expected}, UID in object meta: {uid}");
            return Err(ApiError::conflict(definition, &key.name, &why));
        }
        if dry_run {
            return Ok(old);
        }
        let deleted = self.commit(key.clone(), None, Some(old));
        if !orphan {
            self.delete_dependents(&uid);
        }
        if definition.plural == "namespaces" {
            let inside: Vec<Key> = self.objects.keys().filter(|other| other.namespace == key.name).cloned().collect();
            for other in inside {
                if let Some(old) = self.objects.get(&other).cloned() {
                    self.commit(other, None, Some(old));
                }
            }
        }
        Ok(deleted)
    }

    fn delete_dependents(&mut self, owner: &str) {
        if owner.is_empty() {
            return;
        }
        let dependents: Vec<Key> =
            self.objects
                .iter()
                .filter(|(_, object)| {
                    object.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|owners| {
                        owners.iter().any(|reference| string_at(reference, "/uid") == Some(owner))
                    })
                })
                .map(|(key, _)| key.clone())
                .collect();
        for key in dependents {
            let Some(old) = self.objects.get(&key).cloned() else {
                continue;
            };
            let uid = string_at(&old, "/metadata/uid").unwrap_or("").to_string();
            self.commit(key, None, Some(old));
            self.delete_dependents(&uid);
        }
    }

    /// The defaults and allocations a real API server adds.
    fn defaults(&mut self, resource: &Resource, object: &mut Value, old: Option<&Value>) {
        match resource.plural {
            "deployments" | "statefulsets" | "replicasets" => {
                if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.entry("replicas").or_insert(json!(1));
                }
            }
            "services" => {
                let kept = old.and_then(|old| old.pointer("/spec/clusterIP")).cloned();
                if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.entry("type").or_insert(json!("ClusterIP"));
                    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
                    if !external && spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) {
                        let address = kept.unwrap_or_else(|| {
                            self.counter += 1;
                            json!(format!("10.96.{}.{}", (self.counter / 250) % 250, self.counter % 250 + 2))
                        });
                        spec.insert("clusterIPs".to_string(), json!([address.clone()]));
                        spec.insert("clusterIP".to_string(), address);
                    }
                }
            }
            "namespaces" if object.get("status").is_none() => object["status"] = json!({ "phase": "Active" }),
            "pods" if object.get("status").is_none() => object["status"] = json!({ "phase": "Pending" }),
            _ => {}
        }
    }

    /// Record a write: bump the revision, stamp it, keep it in the history, tell watchers.
    fn commit(&mut self, key: Key, object: Option<Value>, previous: Option<Value>) -> Value {
        self.revision += 1;
        let version = json!(self.revision.to_string());
        let (kind, mut stored) = match (object, &previous) {
            (Some(object), None) => (ChangeKind::Added, object),
            (Some(object), Some(_)) => (ChangeKind::Modified, object),
            (None, previous) => (ChangeKind::Deleted, previous.clone().unwrap_or(Value::Null)),
        };
        if let Ok(metadata) = metadata_mut(&mut stored) {
            metadata.insert("resourceVersion".to_string(), version);
        }
        if kind == ChangeKind::Deleted {
            self.objects.remove(&key);
            self.applied.retain(|(applied, _), _| applied != &key);
        } else {
            self.objects.insert(key.clone(), stored.clone());
        }
        let change = Arc::new(Change { revision: self.revision, kind, key, object: stored.clone(), previous });
        self.history.push_back(Arc::clone(&change));
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.revision;
            }
        }
        // No receiver is fine: nobody watches yet.
        let _ = self.changes.send(change);
        stored
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

fn set_or_remove(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(value) => map.insert(field.to_string(), value),
            None => map.remove(field),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;

    fn deployment(name: &str, image: &str) -> Value {
        json!({ "metadata": { "name": name, "labels": { "app": name } },
                "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": image }] } } } })
    }

    #[test]
    fn bookkeeping_on_create_update_and_status() {
        let mut store = Store::new();
        let deployments = by_plural("deployments").unwrap();
        let created = store.create(deployments, Some("demo"), deployment("web", "a:1"), false).unwrap();
        assert_eq!(created["metadata"]["generation"], 1);
        assert_eq!(created["metadata"]["resourceVersion"], "1");
        assert_eq!(created["spec"]["replicas"], 1);
        assert_eq!(created["kind"], "Deployment");
        let key = Key::new(deployments, "demo", "web");

        let mut stale = created.clone();
        stale["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:2");
        let updated = store.update(&key, stale.clone(), Part::Main, false).unwrap();
        assert_eq!(updated["metadata"]["generation"], 2);
        assert_eq!(updated["metadata"]["resourceVersion"], "2");
        let error = store.update(&key, stale, Part::Main, false).unwrap_err();
        assert_eq!((error.code, error.reason), (409, "Conflict"));

        let mut status = updated.clone();
        status["status"] = json!({ "observedGeneration": 2 });
        status["spec"]["replicas"] = json!(5);
        let written = store.update(&key, status, Part::Status, false).unwrap();
        assert_eq!(written["metadata"]["generation"], 2, "status writes do not bump generation");
        assert_eq!(written["spec"]["replicas"], 1, "status writes change only the status");
        let mut main = written.clone();
        main["status"] = json!({});
        let kept = store.update(&key, main, Part::Main, false).unwrap();
        assert_eq!(kept["status"]["observedGeneration"], 2, "object writes keep the status");

        let error = store.create(deployments, Some("demo"), deployment("web", "a:1"), false).unwrap_err();
        assert_eq!(error.reason, "AlreadyExists");
    }

    #[test]
    fn deletes_cascade_through_owner_references() {
        let mut store = Store::new();
        let deployments = by_plural("deployments").unwrap();
        let pods = by_plural("pods").unwrap();
        let owner = store.create(deployments, Some("demo"), deployment("web", "a:1"), false).unwrap();
        let uid = owner["metadata"]["uid"].as_str().unwrap();
        let pod = json!({ "metadata": { "name": "web-1", "ownerReferences": [{ "uid": uid, "kind": "Deployment", "name": "web" }] } });
        store.create(pods, Some("demo"), pod, false).unwrap();
        store.delete(&Key::new(deployments, "demo", "web"), None, None, false, false).unwrap();
        assert!(store.get(&Key::new(pods, "demo", "web-1")).is_err());
        let history = store.history_after(0).unwrap();
        let kinds: Vec<ChangeKind> = history.iter().map(|change| change.kind).collect();
        assert_eq!(kinds, [ChangeKind::Added, ChangeKind::Added, ChangeKind::Deleted, ChangeKind::Deleted]);
    }

    #[test]
    fn apply_creates_then_merges() {
        let mut store = Store::new();
        let configmaps = by_plural("configmaps").unwrap();
        let key = Key::new(configmaps, "demo", "settings");
        let first = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "settings" }, "data": { "a": "1", "b": "2" } });
        let (object, created) = store.apply(&key, first, "helm", Part::Main, false).unwrap();
        assert!(created);
        assert_eq!(object["data"]["b"], "2");
        let second = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "settings" }, "data": { "a": "3" } });
        let (object, created) = store.apply(&key, second, "helm", Part::Main, false).unwrap();
        assert!(!created);
        assert_eq!(object["data"], json!({ "a": "3" }));
    }
}
