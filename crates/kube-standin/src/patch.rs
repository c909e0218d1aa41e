//! Patches: JSON merge patch and JSON patch (through the `json-patch` crate),
//! strategic merge patch as far as the built-in kinds need it (lists of containers,
//! ports, env, volumes... merge by their key), and server-side apply approximated as
//! "what this field manager applied last time, replaced by what it applies now".

use serde_json::{Map, Value};

/// The key that items of the list under `field` merge by, for the built-in kinds.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "volumeDevices"
        | "resourceClaims" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "ports" => {
            let container = items.iter().any(|item| item.get("containerPort").is_some());
            Some(if container { "containerPort" } else { "port" })
        }
        _ => None,
    }
}

/// Lists of plain values that merge as sets.
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

fn same_key(left: &Value, right: &Value, key: &str) -> bool {
    match (left.get(key), right.get(key)) {
        (Some(left), Some(right)) => left == right,
        _ => false,
    }
}

/// Apply a strategic merge patch to `target`.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    merge_value(target, patch, "");
}

fn merge_value(target: &mut Value, patch: &Value, field: &str) {
    match patch {
        Value::Object(patch) => merge_object(target, patch),
        Value::Array(items) => merge_list(target, items, field),
        other => *target = other.clone(),
    }
}

fn without_directives(map: &Map<String, Value>) -> Value {
    Value::Object(map.iter().filter(|(key, _)| !key.starts_with('$')).map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn merge_object(target: &mut Value, patch: &Map<String, Value>) {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = without_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(object) = target.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(retain)) = patch.get("$retainKeys") {
        let retain: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        object.retain(|key, _| retain.contains(&key.as_str()));
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(existing)), Value::Array(remove)) = (object.get_mut(list), value) {
                existing.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                object.remove(key);
            }
            Value::Object(inner) if inner.get("$patch").and_then(Value::as_str) == Some("delete") => {
                object.remove(key);
            }
            _ => {
                let slot = object.entry(key.clone()).or_insert(Value::Null);
                merge_value(slot, value, key);
            }
        }
    }
}

fn merge_list(target: &mut Value, items: &[Value], field: &str) {
    let replace = items.iter().any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"));
    let key = merge_key(field, items);
    let Value::Array(existing) = target else {
        *target = Value::Array(items.iter().filter(|item| item.get("$patch").is_none()).cloned().collect());
        return;
    };
    if replace {
        *existing = items.iter().filter(|item| item.get("$patch").is_none()).cloned().collect();
        return;
    }
    if merges_as_set(field) {
        for item in items {
            if !existing.contains(item) {
                existing.push(item.clone());
            }
        }
        return;
    }
    let Some(key) = key else {
        *existing = items.to_vec();
        return;
    };
    for item in items {
        let position = existing.iter().position(|current| same_key(current, item, key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(index), true) => {
                existing.remove(index);
            }
            (None, true) => {}
            (Some(index), false) => merge_value(&mut existing[index], item, ""),
            (None, false) => existing.push(item.clone()),
        }
    }
}

/// Remove from `target` what `previous` set and `current` no longer sets: the fields a
/// field manager gave up between two applies.
fn remove_dropped(target: &mut Value, previous: &Value, current: &Value, field: &str) {
    match (target, previous, current) {
        (Value::Object(target), Value::Object(previous), current) => {
            let empty = Map::new();
            let current = current.as_object().unwrap_or(&empty);
            for (key, old) in previous {
                match current.get(key) {
                    None => {
                        target.remove(key);
                    }
                    Some(new) => {
                        if let Some(slot) = target.get_mut(key) {
                            remove_dropped(slot, old, new, key);
                        }
                    }
                }
            }
        }
        (Value::Array(target), Value::Array(previous), Value::Array(current)) => {
            let Some(key) = merge_key(field, previous) else {
                return;
            };
            for old in previous {
                match current.iter().find(|new| same_key(new, old, key)) {
                    None => target.retain(|item| !same_key(item, old, key)),
                    Some(new) => {
                        if let Some(slot) = target.iter_mut().find(|item| same_key(item, old, key)) {
                            remove_dropped(slot, old, new, "");
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Server-side apply: `existing` (if any) with the fields `previous` (what the same
/// manager applied last) set and `applied` no longer sets removed, then `applied`
/// merged in.
pub fn apply(existing: Option<&Value>, previous: Option<&Value>, applied: &Value) -> Value {
    let mut result = existing.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(previous) = previous {
        remove_dropped(&mut result, previous, applied, "");
    }
    strategic_merge(&mut result, applied);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name() {
        let mut target = json!({ "spec": { "containers": [
            { "name": "app", "image": "app:1", "ports": [{ "containerPort": 80 }] },
            { "name": "sidecar", "image": "side:1" },
        ]}});
        strategic_merge(
            &mut target,
            &json!({ "spec": { "containers": [
                { "name": "app", "image": "app:2" },
                { "name": "sidecar", "$patch": "delete" },
                { "name": "extra", "image": "extra:1" },
            ], "$setElementOrder/containers": [{ "name": "app" }] }}),
        );
        assert_eq!(
            target,
            json!({ "spec": { "containers": [
                { "name": "app", "image": "app:2", "ports": [{ "containerPort": 80 }] },
                { "name": "extra", "image": "extra:1" },
            ]}})
        );
    }

    #[test]
    fn null_deletes_and_plain_lists_replace() {
        let mut target = json!({ "metadata": { "labels": { "a": "1", "b": "2" } }, "args": ["x", "y"] });
        strategic_merge(&mut target, &json!({ "metadata": { "labels": { "a": null } }, "args": ["z"] }));
        assert_eq!(target, json!({ "metadata": { "labels": { "b": "2" } }, "args": ["z"] }));
    }

    #[test]
    fn apply_drops_fields_the_manager_gave_up() {
        let existing = json!({
            "metadata": { "name": "web", "labels": { "app": "web", "old": "yes" }, "uid": "u1" },
            "spec": { "replicas": 2, "template": { "spec": { "containers": [
                { "name": "app", "image": "app:1" }, { "name": "gone", "image": "g:1" } ] } } },
            "status": { "replicas": 2 },
        });
        let previous = json!({
            "metadata": { "name": "web", "labels": { "app": "web", "old": "yes" } },
            "spec": { "replicas": 2, "template": { "spec": { "containers": [
                { "name": "app", "image": "app:1" }, { "name": "gone", "image": "g:1" } ] } } },
        });
        let applied = json!({
            "metadata": { "name": "web", "labels": { "app": "web" } },
            "spec": { "template": { "spec": { "containers": [ { "name": "app", "image": "app:2" } ] } } },
        });
        let result = apply(Some(&existing), Some(&previous), &applied);
        assert_eq!(
            result,
            json!({
                "metadata": { "name": "web", "labels": { "app": "web" }, "uid": "u1" },
                "spec": { "template": { "spec": { "containers": [ { "name": "app", "image": "app:2" } ] } } },
                "status": { "replicas": 2 },
            })
        );
    }
}
