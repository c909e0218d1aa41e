//! The API resources the stand-in serves, and the discovery and OpenAPI documents
//! built from them.

use serde_json::{Value, json};

/// One kind of object the stand-in stores.
#[derive(Debug)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// The name in URLs (`deployments`).
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Has a `status` subresource: writes to the object keep its status, writes to
    /// `/status` change only the status.
    pub status: bool,
}

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `deployments.apps`, or `pods` for the core group: how error messages name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// Tracks `metadata.generation` (objects with a spec the controllers act on).
    pub fn tracks_generation(&self) -> bool {
        !matches!(self.plural, "configmaps" | "secrets" | "events" | "namespaces" | "serviceaccounts" | "endpoints")
    }
}

const fn resource(
    (group, version): (&'static str, &'static str),
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status: bool,
) -> Resource {
    Resource { group, version, plural, singular, kind, namespaced, short_names, status }
}

const CORE: (&str, &str) = ("", "v1");
const APPS: (&str, &str) = ("apps", "v1");
const BATCH: (&str, &str) = ("batch", "v1");
const COORDINATION: (&str, &str) = ("coordination.k8s.io", "v1");
const AUTOSCALING: (&str, &str) = ("autoscaling", "v2");
const NETWORKING: (&str, &str) = ("networking.k8s.io", "v1");
const POLICY: (&str, &str) = ("policy", "v1");
const RBAC: (&str, &str) = ("rbac.authorization.k8s.io", "v1");

/// Everything the stand-in serves. Enough for the charts `helm create` makes, for
/// kubectl, and for shipctl's primitives and release lock.
pub static RESOURCES: &[Resource] = &[
    resource(CORE, "namespaces", "namespace", "Namespace", false, &["ns"], true),
    resource(CORE, "nodes", "node", "Node", false, &["no"], true),
    resource(CORE, "pods", "pod", "Pod", true, &["po"], true),
    resource(CORE, "services", "service", "Service", true, &["svc"], true),
    resource(CORE, "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], false),
    resource(CORE, "configmaps", "configmap", "ConfigMap", true, &["cm"], false),
    resource(CORE, "secrets", "secret", "Secret", true, &[], false),
    resource(CORE, "events", "event", "Event", true, &["ev"], false),
    resource(CORE, "endpoints", "endpoints", "Endpoints", true, &["ep"], false),
    resource(CORE, "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, &["pvc"], true),
    resource(APPS, "deployments", "deployment", "Deployment", true, &["deploy"], true),
    resource(APPS, "statefulsets", "statefulset", "StatefulSet", true, &["sts"], true),
    resource(APPS, "daemonsets", "daemonset", "DaemonSet", true, &["ds"], true),
    resource(APPS, "replicasets", "replicaset", "ReplicaSet", true, &["rs"], true),
    resource(APPS, "controllerrevisions", "controllerrevision", "ControllerRevision", true, &[], false),
    resource(BATCH, "jobs", "job", "Job", true, &[], true),
    resource(BATCH, "cronjobs", "cronjob", "CronJob", true, &["cj"], true),
    resource(COORDINATION, "leases", "lease", "Lease", true, &[], false),
    resource(
        AUTOSCALING,
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        true,
    ),
    resource(NETWORKING, "ingresses", "ingress", "Ingress", true, &["ing"], true),
    resource(NETWORKING, "networkpolicies", "networkpolicy", "NetworkPolicy", true, &["netpol"], false),
    resource(NETWORKING, "ingressclasses", "ingressclass", "IngressClass", false, &[], false),
    resource(POLICY, "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, &["pdb"], true),
    resource(RBAC, "roles", "role", "Role", true, &[], false),
    resource(RBAC, "rolebindings", "rolebinding", "RoleBinding", true, &[], false),
    resource(RBAC, "clusterroles", "clusterrole", "ClusterRole", false, &[], false),
    resource(RBAC, "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false, &[], false),
];

/// The index in [`RESOURCES`] of `plural` in `group`/`version`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<usize> {
    RESOURCES.iter().position(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The index of the resource a `kind` in `apiVersion` is stored as.
pub fn find_kind(api_version: &str, kind: &str) -> Option<usize> {
    RESOURCES.iter().position(|r| r.api_version() == api_version && r.kind == kind)
}

/// The index of a resource by plural name alone (plurals are unique here).
pub fn by_plural(plural: &str) -> Option<usize> {
    RESOURCES.iter().position(|r| r.plural == plural)
}

const VERBS: [&str; 8] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// Group names in the order discovery lists them (core excluded).
fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for resource in RESOURCES {
        if !resource.group.is_empty() && !groups.contains(&resource.group) {
            groups.push(resource.group);
        }
    }
    groups
}

fn version_of(group: &str) -> &'static str {
    RESOURCES.iter().find(|r| r.group == group).map(|r| r.version).unwrap_or("v1")
}

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "gitVersion": "v1.35.0-standin",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": address }],
    })
}

fn group_entry(group: &str) -> Value {
    let version = version_of(group);
    let group_version = json!({ "groupVersion": format!("{group}/{version}"), "version": version });
    json!({ "name": group, "versions": [group_version.clone()], "preferredVersion": group_version })
}

/// `GET /apis`.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups().into_iter().map(group_entry).collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `GET /apis/<group>`, if the group exists.
pub fn group(group: &str) -> Option<Value> {
    if !groups().contains(&group) {
        return None;
    }
    let mut entry = group_entry(group);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`, if that group version exists.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let members: Vec<&Resource> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).collect();
    if members.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for resource in &members {
        let mut entry = json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": VERBS,
        });
        if !resource.short_names.is_empty() {
            entry["shortNames"] = json!(resource.short_names);
        }
        resources.push(entry);
        if resource.status {
            resources.push(json!({
                "name": format!("{}/status", resource.plural),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = members[0].api_version();
    Some(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources }),
    )
}

/// The URL path of a group version's OpenAPI v3 document, without the leading `/openapi/v3/`.
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `GET /openapi/v3`: where each group version's document is.
pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    let mut seen: Vec<String> = Vec::new();
    for resource in RESOURCES {
        let path = openapi_path(resource.group, resource.version);
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        let url = format!("/openapi/v3/{path}?hash=standin");
        paths.insert(path, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/<path>`: permissive schemas for the kinds of one group version,
/// each tagged with its group, version and kind so clients can find it.
pub fn openapi_document(path: &str) -> Option<Value> {
    let path = path.trim_matches('/');
    let members: Vec<&Resource> = RESOURCES.iter().filter(|r| openapi_path(r.group, r.version) == path).collect();
    if members.is_empty() {
        return None;
    }
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    for resource in members {
        // kubectl and helm look for the `fieldValidation` parameter of each kind's
        // PATCH operation: finding it, they leave validation to the server.
        let item = if resource.namespaced {
            format!("/{path}/namespaces/{{namespace}}/{}/{{name}}", resource.plural)
        } else {
            format!("/{path}/{}/{{name}}", resource.plural)
        };
        let gvk_object = json!({ "group": resource.group, "version": resource.version, "kind": resource.kind });
        paths.insert(
            item,
            json!({
                "patch": {
                    "operationId": format!("patch{}", resource.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk_object,
                    "parameters": [
                        { "name": "fieldValidation", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
                        { "name": "fieldManager", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
                        { "name": "dryRun", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
                    ],
                    "responses": { "200": { "description": "OK" } },
                },
            }),
        );
        let package = if resource.group.is_empty() {
            "core".to_string()
        } else {
            resource.group.split('.').next().unwrap_or(resource.group).to_string()
        };
        let name = format!("io.k8s.api.{package}.{}.{}", resource.version, resource.kind);
        let gvk = json!([{ "group": resource.group, "version": resource.version, "kind": resource.kind }]);
        schemas.insert(
            name,
            json!({
                "type": "object",
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "apiVersion": { "type": "string" },
                    "kind": { "type": "string" },
                    "metadata": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                },
            }),
        );
        schemas.insert(
            format!("io.k8s.api.{package}.{}.{}List", resource.version, resource.kind),
            json!({
                "type": "object",
                "x-kubernetes-group-version-kind": [{ "group": resource.group, "version": resource.version, "kind": format!("{}List", resource.kind) }],
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.35.0-standin" },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}
