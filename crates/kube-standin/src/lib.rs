//! A stand-in for the Kubernetes API server, for tests that cannot have a real one.
//!
//! It speaks the real HTTP API on a loopback port, well enough for the real `helm`
//! (v4) and `kubectl` binaries and for kube-rs's watch machinery: discovery, OpenAPI
//! v3, objects with resourceVersion/generation/uid, label and field selectors, `PUT`
//! with conflicts, merge, strategic-merge and server-side-apply patches, deletes that
//! cascade, watches with bookmarks and streaming lists, protobuf bodies of every built-in
//! kind (kubectl's `create` generators, helm's release records), JSON answers to clients
//! that also accept protobuf, and a controller that rolls Deployments, StatefulSets and
//! DaemonSets out with [`Behaviour`] knobs. Every request is logged.
//!
//! OpenAPI: the documents carry permissive schemas tagged with their group, version and
//! kind, and each kind's PATCH operation lists the `fieldValidation` parameter. Finding
//! it, helm 4 and kubectl leave validation to the server (which accepts any field), so
//! helm runs without `--disable-openapi-validation`.
//!
//! ```no_run
//! let standin = kube_standin::Standin::start();
//! println!("KUBECONFIG={}", standin.kubeconfig().display());
//! ```

mod controller;
mod patch;
mod protobuf;
mod protowire;
mod resources;
mod selector;
mod server;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use controller::{BEHAVIOUR_ANNOTATION, Behaviour, Knobs, OBSERVE_DELAY_ANNOTATION, parse_duration};
use store::{Key, Store};

/// One request the stand-in answered.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub status: u16,
    pub user_agent: String,
    /// Until the response head (for a watch: until the stream started).
    pub elapsed: Duration,
}

impl LoggedRequest {
    /// Does this request ask to change something (`POST`, `PUT`, `PATCH`, `DELETE`)?
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    fn client(&self) -> &str {
        self.user_agent.split(['/', ' ']).next().unwrap_or("")
    }
}

impl std::fmt::Display for LoggedRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query = if self.query.is_empty() { String::new() } else { format!("?{}", self.query) };
        write!(formatter, "{} {} {}{query}", self.status, self.method, self.path)?;
        if !self.content_type.is_empty() && self.is_write() {
            write!(formatter, " [{}]", self.content_type)?;
        }
        write!(formatter, " ({}, {} ms)", self.client(), self.elapsed.as_millis())
    }
}

/// What the server and the controller share.
pub(crate) struct Shared {
    store: Mutex<Store>,
    knobs: Mutex<Knobs>,
    marks: controller::Marks,
    log: Mutex<Vec<LoggedRequest>>,
    verbose: bool,
    address: String,
    shutdown: tokio::sync::broadcast::Sender<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, request: LoggedRequest) {
        if self.verbose {
            eprintln!("kube-standin: {request}");
        }
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(request);
    }
}

/// How to start a stand-in.
#[derive(Debug, Clone)]
pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    /// Print every request to stderr (test harnesses show it for failing tests only).
    pub verbose: bool,
    /// Where to write the kubeconfig; a temporary directory when `None`.
    pub kubeconfig: Option<PathBuf>,
    /// Nodes to create (DaemonSets schedule a pod on each).
    pub nodes: usize,
    /// Changes kept for watches to resume from; older resourceVersions get `410 Gone`.
    pub history: usize,
    /// Namespaces to create besides `default`, `kube-system` and `kube-public`.
    pub namespaces: Vec<String>,
    pub knobs: Knobs,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            verbose: true,
            kubeconfig: None,
            nodes: 2,
            history: store::HISTORY,
            namespaces: Vec::new(),
            knobs: Knobs::default(),
        }
    }
}

/// A running stand-in API server: started on a loopback port, with a kubeconfig
/// pointing at it; stops when dropped.
pub struct Standin {
    shared: Arc<Shared>,
    url: String,
    kubeconfig: PathBuf,
    _dir: Option<tempfile::TempDir>,
    thread: Option<JoinHandle<()>>,
}

/// The name of the context (and cluster and user) in the kubeconfig the stand-in writes.
pub const CONTEXT: &str = "standin";

impl Standin {
    /// Start with the default options on a free port.
    pub fn start() -> Standin {
        Standin::start_with(Options::default()).unwrap_or_else(|error| panic!("cannot start the stand-in: {error}"))
    }

    /// Start with `options`.
    pub fn start_with(options: Options) -> Result<Standin, String> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))
            .map_err(|error| format!("cannot bind 127.0.0.1:{}: {error}", options.port))?;
        listener.set_nonblocking(true).map_err(|error| error.to_string())?;
        let address = listener.local_addr().map_err(|error| error.to_string())?.to_string();
        let url = format!("http://{address}");
        let (shutdown, _) = tokio::sync::broadcast::channel(1);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::with_history(options.history)),
            knobs: Mutex::new(options.knobs.clone()),
            marks: Mutex::new(Default::default()),
            log: Mutex::new(Vec::new()),
            verbose: options.verbose,
            address,
            shutdown,
        });
        seed(&shared, &options)?;

        let (dir, kubeconfig) = match &options.kubeconfig {
            Some(path) => (None, path.clone()),
            None => {
                let dir = tempfile::tempdir().map_err(|error| format!("cannot make a temporary directory: {error}"))?;
                let path = dir.path().join("kubeconfig");
                (Some(dir), path)
            }
        };
        std::fs::write(&kubeconfig, kubeconfig_text(&url, "default"))
            .map_err(|error| format!("cannot write {}: {error}", kubeconfig.display()))?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kube-standin")
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start a runtime: {error}"))?;
        let (ready_sender, ready) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kube-standin".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            let _ = ready_sender.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let changes = thread_shared.lock().subscribe();
                    tokio::spawn(controller::run(Arc::clone(&thread_shared), changes));
                    let app = axum::Router::new().fallback(server::handle).with_state(Arc::clone(&thread_shared));
                    let mut shutdown = thread_shared.shutdown.subscribe();
                    let _ = ready_sender.send(Ok(()));
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = shutdown.recv() => {}
                    }
                });
                // Drop open watches and rollouts without waiting for them.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(|error| format!("cannot start the stand-in's thread: {error}"))?;
        ready.recv().map_err(|_| "the stand-in's thread ended before it served".to_string())??;
        Ok(Standin { shared, url, kubeconfig, _dir: dir, thread: Some(thread) })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig with one context, [`CONTEXT`], pointing at the stand-in.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The requests that asked to change something.
    pub fn writes(&self) -> Vec<LoggedRequest> {
        self.requests().into_iter().filter(LoggedRequest::is_write).collect()
    }

    /// The request log as text, one request a line.
    pub fn request_log(&self) -> String {
        self.requests().iter().map(|request| format!("{request}\n")).collect()
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        self.shared.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }

    fn knobs(&self) -> MutexGuard<'_, Knobs> {
        self.shared.knobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What rollouts do unless an annotation or [`Standin::behave`] says otherwise.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.knobs().behaviour = behaviour;
    }

    /// How long the controller takes to notice a spec change.
    pub fn set_observe_delay(&self, delay: Duration) {
        self.knobs().observe_delay = delay;
    }

    /// What rollouts of one workload do: `resource` is `deployments`, `statefulsets`
    /// or `daemonsets`.
    pub fn behave(&self, resource: &str, namespace: &str, name: &str, behaviour: Behaviour) {
        self.knobs().overrides.insert((resource.to_string(), namespace.to_string(), name.to_string()), behaviour);
    }

    /// When the controller last marked a workload available, and at which generation.
    pub fn available_at(&self, resource: &str, namespace: &str, name: &str) -> Option<(i64, Instant)> {
        let key = Key::new(resources::by_plural(resource)?, namespace, name);
        self.shared.marks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key).copied()
    }

    /// An object as stored, e.g. `get("deployments", "demo", "web")`.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = Key::new(resources::by_plural(resource)?, namespace, name);
        self.shared.lock().get(&key).ok().cloned()
    }

    /// Objects of a resource in a namespace (all namespaces with `None`).
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(index) = resources::by_plural(resource) else {
            return Vec::new();
        };
        self.shared.lock().list(index, namespace, &Default::default(), &Default::default())
    }

    /// Create or replace an object directly (as another client would), e.g. to set up
    /// a situation a test needs. Returns the stored object.
    pub fn put(&self, object: Value) -> Result<Value, String> {
        let api_version = object["apiVersion"].as_str().unwrap_or("");
        let kind = object["kind"].as_str().unwrap_or("");
        let resource = resources::find_kind(api_version, kind)
            .ok_or_else(|| format!("the stand-in does not serve {api_version} {kind}"))?;
        let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let namespaced = resources::RESOURCES[resource].namespaced;
        let mut store = self.shared.lock();
        let key = Key::new(resource, if namespaced { &namespace } else { "" }, &name);
        let result = if store.get(&key).is_ok() {
            let mut object = object;
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.remove("resourceVersion");
            }
            store.update(&key, object, store::Part::Main, false)
        } else {
            store.create(resource, namespaced.then_some(namespace.as_str()), object, false)
        };
        result.map_err(|error| error.message)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Namespaces and nodes a fresh cluster has.
fn seed(shared: &Shared, options: &Options) -> Result<(), String> {
    let mut store = shared.lock();
    let namespaces = resources::by_plural("namespaces").ok_or("no namespaces resource")?;
    let nodes = resources::by_plural("nodes").ok_or("no nodes resource")?;
    let mut names: Vec<String> = ["default", "kube-system", "kube-public"].iter().map(|n| n.to_string()).collect();
    names.extend(options.namespaces.iter().cloned());
    for name in names {
        store
            .create(namespaces, None, json!({ "metadata": { "name": name } }), false)
            .map_err(|error| error.message)?;
    }
    for index in 1..=options.nodes {
        let node = json!({
            "metadata": { "name": format!("standin-node-{index}"), "labels": { "kubernetes.io/hostname": format!("standin-node-{index}") } },
            "spec": {},
        });
        store.create(nodes, None, node, false).map_err(|error| error.message)?;
    }
    Ok(())
}

/// A kubeconfig for `url` with a dummy token.
pub fn kubeconfig_text(url: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {url}
users:
- name: {CONTEXT}
  user:
    token: standin-token
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: {namespace}
current-context: {CONTEXT}
"
    )
}
