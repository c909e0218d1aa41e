//! The HTTP side: routing of discovery, OpenAPI and resource URLs, request bodies
//! (JSON, YAML, protobuf), list and watch responses, and the request log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::resources::{self, RESOURCES};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{ApiError, Change, ChangeKind, Key, Part};
use crate::{LoggedRequest, Shared};

const MAX_BODY: usize = 64 << 20;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

fn json_response(code: u16, body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn error_response(error: &ApiError) -> Response {
    json_response(error.code, &error.status())
}

/// Every request goes through here: answer it, then log it.
pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(error) => return error_response(&ApiError::bad_request(format!("cannot read the body: {error}"))),
    };
    let path = uri.path().to_string();
    let query: HashMap<String, String> =
        uri.query().map(|query| form_urlencoded::parse(query.as_bytes()).into_owned().collect()).unwrap_or_default();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let response = match not_acceptable(&path, &headers) {
        Some(refusal) => refusal,
        None => route(&shared, &method, &path, &query, &headers, &body).await,
    };
    let entry = LoggedRequest {
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or("").to_string(),
        content_type,
        status: response.status().as_u16(),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
        elapsed: started.elapsed(),
    };
    shared.record(entry);
    response
}

/// The stand-in answers API requests in JSON only. Clients that ask for protobuf
/// (kubectl and helm send `application/vnd.kubernetes.protobuf, application/json`) get
/// JSON, as the real server negotiates; an `Accept` that admits no JSON at all gets the
/// real server's `406 NotAcceptable` rather than a body the client did not ask for.
fn not_acceptable(path: &str, headers: &HeaderMap) -> Option<Response> {
    if !path.starts_with("/api") {
        return None;
    }
    let accept: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    if accept.is_empty() {
        return None;
    }
    let json = accept.iter().flat_map(|value| value.split(',')).any(|range| {
        let media = range.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        media.is_empty() || matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    });
    if json {
        return None;
    }
    let message =
        format!("only the following media types are accepted: application/json (asked for {})", accept.join(", "));
    Some(error_response(&ApiError { code: 406, reason: "NotAcceptable", message, details: None }))
}

/// What a resource URL names.
struct Target {
    resource: usize,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(path: &str) -> Option<Result<Target, ApiError>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let (namespace, rest) = match rest {
        ["namespaces", namespace, plural, rest @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(namespace.to_string()), [&[*plural][..], rest].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let Some(resource) = resources::find(group, version, rest[0]) else {
        return Some(Err(ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
            details: None,
        }));
    };
    Some(Ok(Target {
        resource,
        namespace,
        name: rest.get(1).map(|name| name.to_string()),
        subresource: rest.get(2).map(|sub| sub.to_string()),
    }))
}

async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let discovery = match path.trim_end_matches('/') {
        "/version" => Some(resources::version()),
        "/api" => Some(resources::core_versions(&shared.address)),
        "/apis" => Some(resources::group_list()),
        "/openapi/v3" => Some(resources::openapi_index()),
        "/healthz" | "/livez" | "/readyz" => {
            return Response::builder()
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("ok"))
                .unwrap_or_default();
        }
        other => {
            let segments: Vec<&str> = other.trim_matches('/').split('/').collect();
            match segments.as_slice() {
                ["api", version] => resources::resource_list("", version),
                ["apis", group] => resources::group(group),
                ["apis", group, version] => resources::resource_list(group, version),
                ["openapi", "v3", rest @ ..] => resources::openapi_document(&rest.join("/")),
                _ => None,
            }
        }
    };
    if let Some(document) = discovery {
        return json_response(200, &document);
    }
    let target = match parse_target(path) {
        Some(Ok(target)) => target,
        Some(Err(error)) => return error_response(&error),
        None => {
            return error_response(&ApiError {
                code: 404,
                reason: "NotFound",
                message: format!("the server could not find the requested resource ({path})"),
                details: None,
            });
        }
    };
    let resource = &RESOURCES[target.resource];
    if resource.namespaced != target.namespace.is_some() && target.name.is_some() {
        let why = if resource.namespaced { "is namespaced" } else { "is not namespaced" };
        return error_response(&ApiError::bad_request(format!("{} {why}", resource.plural)));
    }
    let part = match target.subresource.as_deref() {
        None => Part::Main,
        Some("status") if resource.status => Part::Status,
        Some(other) => {
            return error_response(&ApiError {
                code: 404,
                reason: "NotFound",
                message: format!("the stand-in has no {other} subresource for {}", resource.plural),
                details: None,
            });
        }
    };
    let flag = |name: &str| query.get(name).is_some_and(|value| value == "1" || value == "true");
    let dry_run = query.get("dryRun").is_some_and(|value| value == "All");
    let result = match (method, &target.name) {
        (&Method::GET, None) if flag("watch") => return watch(shared, &target, query),
        (&Method::GET, None) => list(shared, &target, query),
        (&Method::GET, Some(name)) => {
            let key = Key::new(target.resource, target.namespace.as_deref().unwrap_or(""), name);
            shared.lock().get(&key).cloned().map(|object| (200, object))
        }
        (&Method::POST, None) => parse_body(headers, body).and_then(|object| {
            shared.lock().create(target.resource, target.namespace.as_deref(), object, dry_run).map(|o| (201, o))
        }),
        (&Method::PUT, Some(name)) => parse_body(headers, body).and_then(|object| {
            let key = Key::new(target.resource, target.namespace.as_deref().unwrap_or(""), name);
            shared.lock().update(&key, object, part, dry_run).map(|object| (200, object))
        }),
        (&Method::PATCH, Some(name)) => {
            let key = Key::new(target.resource, target.namespace.as_deref().unwrap_or(""), name);
            patch(shared, &key, part, headers, query, body, dry_run)
        }
        (&Method::DELETE, Some(name)) => {
            let key = Key::new(target.resource, target.namespace.as_deref().unwrap_or(""), name);
            delete(shared, &key, query, body, dry_run)
        }
        (&Method::DELETE, None) => delete_collection(shared, &target, query, dry_run),
        _ => Err(ApiError::method_not_allowed(format!("{method} is not supported on {path}"))),
    };
    match result {
        Ok((code, object)) => json_response(code, &object),
        Err(error) => error_response(&error),
    }
}

/// A request body as JSON: JSON, YAML, or Kubernetes protobuf.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with(crate::protobuf::CONTENT_TYPE) {
        return crate::protobuf::decode(body).map_err(|error| match error {
            crate::protobuf::DecodeError::UnknownKind(message) => ApiError::unsupported_media_type(message),
            crate::protobuf::DecodeError::Malformed(message) => ApiError::bad_request(message),
        });
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Ok(value);
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is neither JSON nor YAML text"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|error| ApiError::bad_request(format!("the body is neither JSON nor YAML: {error}")))
}

fn selectors(query: &HashMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn list(shared: &Shared, target: &Target, query: &HashMap<String, String>) -> Result<(u16, Value), ApiError> {
    let (labels, fields) = selectors(query)?;
    let store = shared.lock();
    let items = store.list(target.resource, target.namespace.as_deref(), &labels, &fields);
    Ok((200, list_of(target.resource, store.revision(), items)))
}

/// A `<Kind>List` at `revision`.
fn list_of(resource: usize, revision: u64, items: Vec<Value>) -> Value {
    let resource = &RESOURCES[resource];
    json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": { "resourceVersion": revision.to_string() },
        "items": items,
    })
}

fn patch(
    shared: &Shared,
    key: &Key,
    part: Part,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
    dry_run: bool,
) -> Result<(u16, Value), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = content_type.split(';').next().unwrap_or("").trim();
    let mut store = shared.lock();
    if content_type == "application/apply-patch+yaml" || content_type == "application/apply-patch+cbor" {
        let applied = parse_body(headers, body)?;
        let manager = query.get("fieldManager").map(String::as_str).unwrap_or("");
        if manager.is_empty() {
            return Err(ApiError::bad_request("PATCH with application/apply-patch+yaml needs fieldManager"));
        }
        let (object, created) = store.apply(key, applied, manager, part, dry_run)?;
        return Ok((if created { 201 } else { 200 }, object));
    }
    let patch = parse_body(headers, body)?;
    let mut object = store.get(key)?.clone();
    match content_type {
        "application/merge-patch+json" => json_patch::merge(&mut object, &patch),
        "application/strategic-merge-patch+json" => crate::patch::strategic_merge(&mut object, &patch),
        "application/json-patch+json" => {
            let operations: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|error| ApiError::bad_request(format!("not a JSON patch: {error}")))?;
            json_patch::patch(&mut object, &operations)
                .map_err(|error| ApiError::invalid(key.resource(), &key.name, &error.to_string()))?;
        }
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
            )));
        }
    }
    store.update(key, object, part, dry_run).map(|object| (200, object))
}

fn delete(
    shared: &Shared,
    key: &Key,
    query: &HashMap<String, String>,
    body: &Bytes,
    dry_run: bool,
) -> Result<(u16, Value), ApiError> {
    let options: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(body).unwrap_or(json!({})) };
    let orphan = options.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan")
        || query.get("propagationPolicy").is_some_and(|policy| policy == "Orphan")
        || options.get("orphanDependents").and_then(Value::as_bool) == Some(true);
    let version = options.pointer("/preconditions/resourceVersion").and_then(Value::as_str);
    let uid = options.pointer("/preconditions/uid").and_then(Value::as_str);
    shared.lock().delete(key, version, uid, orphan, dry_run).map(|object| (200, object))
}

fn delete_collection(
    shared: &Shared,
    target: &Target,
    query: &HashMap<String, String>,
    dry_run: bool,
) -> Result<(u16, Value), ApiError> {
    let (labels, fields) = selectors(query)?;
    let mut store = shared.lock();
    let items = store.list(target.resource, target.namespace.as_deref(), &labels, &fields);
    let mut deleted = Vec::new();
    for item in items {
        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let namespace = item.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        if let Ok(object) = store.delete(&Key::new(target.resource, namespace, name), None, None, false, dry_run) {
            deleted.push(object);
        }
    }
    Ok((200, list_of(target.resource, store.revision(), deleted)))
}

/// What a watch passes on.
struct WatchFilter {
    resource: usize,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl WatchFilter {
    fn matches(&self, key: &Key, object: &Value) -> bool {
        key.resource == self.resource
            && self.namespace.as_ref().is_none_or(|namespace| &key.namespace == namespace)
            && self.labels.matches(object)
            && self.fields.matches(object)
    }

    /// The event a change is for this watch: selectors turn a modification into an
    /// addition or a deletion when the object enters or leaves the selection.
    fn event(&self, change: &Change) -> Option<&'static str> {
        let now = self.matches(&change.key, &change.object);
        let before = change.previous.as_ref().is_some_and(|previous| self.matches(&change.key, previous));
        match change.kind {
            ChangeKind::Added => now.then_some("ADDED"),
            ChangeKind::Deleted => (now || before).then_some("DELETED"),
            ChangeKind::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        }
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({ "type": kind, "object": object }).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn bookmark(resource: usize, revision: u64, initial_events_end: bool) -> Bytes {
    let definition = &RESOURCES[resource];
    let mut metadata = json!({ "resourceVersion": revision.to_string() });
    if initial_events_end {
        metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event_line(
        "BOOKMARK",
        &json!({ "kind": definition.kind, "apiVersion": definition.api_version(), "metadata": metadata }),
    )
}

/// `?watch=1`: a chunked stream of JSON events.
fn watch(shared: &Arc<Shared>, target: &Target, query: &HashMap<String, String>) -> Response {
    let (labels, fields) = match selectors(query) {
        Ok(selectors) => selectors,
        Err(error) => return error_response(&error),
    };
    let filter = WatchFilter { resource: target.resource, namespace: target.namespace.clone(), labels, fields };
    let flag = |name: &str| query.get(name).is_some_and(|value| value == "1" || value == "true");
    let bookmarks = flag("allowWatchBookmarks");
    let initial_events = flag("sendInitialEvents");
    let timeout = query.get("timeoutSeconds").and_then(|text| text.parse::<u64>().ok()).map(Duration::from_secs);
    let since = query.get("resourceVersion").and_then(|text| text.parse::<u64>().ok()).filter(|rv| *rv > 0);

    // Under the lock: what happened so far, and a subscription to what comes next, so
    // nothing falls between them.
    let (mut first, receiver, start) = {
        let store = shared.lock();
        let receiver = store.subscribe();
        let revision = store.revision();
        let mut first = Vec::new();
        match (initial_events, since) {
            (false, Some(since)) => match store.history_after(since) {
                Ok(changes) => {
                    for change in changes.iter().filter(|change| change.revision <= revision) {
                        if let Some(kind) = filter.event(change) {
                            first.push(event_line(kind, &change.object));
                        }
                    }
                }
                Err(error) => {
                    let mut status = error.status();
                    status["code"] = json!(410);
                    first.push(event_line("ERROR", &status));
                    let body = futures::stream::iter(first.into_iter().map(Ok::<_, Infallible>));
                    return stream_response(Body::from_stream(body));
                }
            },
            _ => {
                let items = store.list(target.resource, target.namespace.as_deref(), &filter.labels, &filter.fields);
                for item in &items {
                    first.push(event_line("ADDED", item));
                }
                if initial_events && bookmarks {
                    first.push(bookmark(target.resource, revision, true));
                }
            }
        }
        (first, receiver, revision)
    };

    let (sender, body) = tokio::sync::mpsc::channel::<Bytes>(1024);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let mut receiver = receiver;
        let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        for line in first.drain(..) {
            if sender.send(line).await.is_err() {
                return;
            }
        }
        let mut delivered = start;
        let mut shutdown = shared.shutdown.subscribe();
        loop {
            let expired = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                change = receiver.recv() => match change {
                    Ok(change) if change.revision > delivered => {
                        delivered = change.revision;
                        if let Some(kind) = filter.event(&change)
                            && sender.send(event_line(kind, &change.object)).await.is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    // Everything up to the current revision is already in the channel:
                    // pass it on first, so the bookmark never runs ahead of an event.
                    let revision = shared.lock().revision();
                    while let Ok(change) = receiver.try_recv() {
                        if change.revision > delivered {
                            delivered = change.revision;
                            if let Some(kind) = filter.event(&change)
                                && sender.send(event_line(kind, &change.object)).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    delivered = delivered.max(revision);
                    if sender.send(bookmark(filter.resource, delivered, false)).await.is_err() {
                        return;
                    }
                }
                _ = expired => return,
                _ = shutdown.recv() => return,
            }
        }
    });
    let stream = futures::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|line| (Ok::<_, Infallible>(line), body))
    });
    stream_response(Body::from_stream(stream))
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_default()
}
