//! The release lock of a protected environment: one run at a time for a product in an
//! environment. When the environment names a cluster it is a `coordination.k8s.io/v1`
//! Lease in the environment's namespace (holder: the run id; renewed while the run
//! lasts; deleted at the end; a lease left unrenewed past its duration is taken over);
//! otherwise an exclusive lock on a file in the journal directory, which the operating
//! system releases when the process ends. Either names its holder: run id, user, host,
//! start time. The lock is released when [`ReleaseLock`] is dropped, so a failed run
//! releases it too.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::base::confined::encode_file_name;
use crate::config::{Environment, Project};
use crate::effect::Mode;
use crate::error::Error;

/// How long a lease holds without renewal.
const LEASE_SECONDS: i32 = 30;
/// How often a held lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// The longest taking or releasing a lease may take.
const API_BUDGET: Duration = Duration::from_secs(20);

const ANNOTATION_PREFIX: &str = "shipctl.dev/";

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Holder {
    pub run_id: String,
    pub user: String,
    pub host: String,
    pub started_at: String,
    pub script: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "run {} (user {} on host {}, started {}, script {})",
            self.run_id, self.user, self.host, self.started_at, self.script
        )
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        [
            ("run-id", &self.run_id),
            ("user", &self.user),
            ("host", &self.host),
            ("started-at", &self.started_at),
            ("script", &self.script),
        ]
        .into_iter()
        .map(|(key, value)| (format!("{ANNOTATION_PREFIX}{key}"), value.clone()))
        .collect()
    }

    fn from_lease(lease: &Lease) -> Holder {
        let annotations = lease.metadata.annotations.clone().unwrap_or_default();
        let get = |key: &str| {
            annotations.get(&format!("{ANNOTATION_PREFIX}{key}")).cloned().unwrap_or_else(|| "unknown".to_string())
        };
        let identity = lease.spec.as_ref().and_then(|spec| spec.holder_identity.clone()).unwrap_or_default();
        Holder {
            run_id: if identity.is_empty() { get("run-id") } else { identity },
            user: get("user"),
            host: get("host"),
            started_at: get("started-at"),
            script: get("script"),
        }
    }
}

/// A held release lock; dropping it releases it.
pub struct ReleaseLock {
    held: Held,
}

enum Held {
    File { file: std::fs::File },
    Lease { stop: Option<tokio::sync::oneshot::Sender<()>>, thread: Option<JoinHandle<()>> },
}

impl Drop for ReleaseLock {
    fn drop(&mut self) {
        match &mut self.held {
            Held::File { file } => {
                // Leave no holder behind; the lock itself goes with the file handle.
                let _ = file.set_len(0);
                let _ = file.unlock();
            }
            Held::Lease { stop, thread } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// The lock a run of `script` (its `product`, and the run's `params` for the
/// environment's `lock_params`) in `environment` takes: `None` unless the environment
/// is protected and the run is for real.
pub fn for_run(
    mode: Mode,
    project: &Project,
    environment_name: &str,
    environment: &Environment,
    (product, params): (&str, &BTreeMap<String, String>),
    script: &str,
    run_id: &str,
) -> Result<Option<ReleaseLock>, Error> {
    if !environment.protected || mode != Mode::Run {
        return Ok(None);
    }
    let key = LockKey::new(product, environment_name, environment, params)?;
    let holder = Holder {
        run_id: run_id.to_string(),
        user: crate::base::operator::user(),
        host: super::provenance::host(),
        started_at: crate::base::time::now_rfc3339(),
        script: script.to_string(),
    };
    let lock = if environment.has_cluster() {
        lease_lock(project, environment_name, environment, &key, holder)?
    } else {
        file_lock(&project.journal_dir(), environment_name, &key, &holder)?
    };
    Ok(Some(lock))
}

/// What one release lock is for: a product, and the values of the environment's
/// `lock_params` (`product=cdc`), so that one script releasing several products per
/// `--set` does not make them block each other.
pub struct LockKey {
    product: String,
    /// `product=cdc, region=eu`, as shown; empty without `lock_params`.
    identity: String,
    /// What names the lock: the product, plus a hash of the params' values. The hash
    /// keeps any value (`../x`, 300 characters) out of file and Lease names.
    name: String,
}

impl LockKey {
    /// The key of `product` with the values `params` gives the environment's
    /// `lock_params`; a lock param the run was not given is an error naming it.
    pub fn new(
        product: &str,
        environment_name: &str,
        environment: &Environment,
        params: &BTreeMap<String, String>,
    ) -> Result<LockKey, Error> {
        let mut values = Vec::new();
        for name in &environment.lock_params {
            let value = params.get(name).ok_or_else(|| {
                Error::usage(
                    format!("the release lock of environment \"{environment_name}\" is per param \"{name}\", which this run was not given"),
                    Some(format!("give it with --set {name}=<value> (lock_params in [environments.{environment_name}])")),
                )
            })?;
            values.push((name.as_str(), value.as_str()));
        }
        if values.is_empty() {
            return Ok(LockKey { product: product.to_string(), identity: String::new(), name: product.to_string() });
        }
        let shown: Vec<String> =
            values.iter().map(|(name, value)| format!("{name}={}", value.escape_debug())).collect();
        // JSON of the pairs: one text per set of values, whatever they contain.
        let exact = serde_json::to_string(&values).unwrap_or_default();
        let digest = sha2::Sha256::digest(exact.as_bytes());
        let hash: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
        Ok(LockKey { product: product.to_string(), identity: shown.join(", "), name: format!("{product}-{hash}") })
    }

    /// ` for product=cdc`, or nothing.
    fn for_identity(&self) -> String {
        if self.identity.is_empty() { String::new() } else { format!(" for {}", self.identity) }
    }
}

fn locked(environment: &str, key: &LockKey, holder: &Holder, help: String) -> Error {
    Error::Policy {
        message: format!(
            "environment \"{environment}\" is locked for {} by {}{}",
            key.product,
            holder.describe(),
            key.for_identity()
        ),
        help: Some(help),
    }
}

fn file_lock(dir: &Path, environment: &str, key: &LockKey, holder: &Holder) -> Result<ReleaseLock, Error> {
    let dir = dir.join("locks");
    let path: PathBuf = dir.join(lock_file_name(&key.name, environment));
    let io = |action: &'static str| {
        let path = path.clone();
        move |source| Error::Io { action, path, source }
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { action: "cannot create", path: dir.clone(), source })?;
    // Opened below the lock directory's handle: a symlink planted under the lock's
    // name cannot make shipctl write its holder into a file outside that directory.
    let locks = cap_std::fs::Dir::open_ambient_dir(&dir, cap_std::ambient_authority()).map_err(|source| Error::Io {
        action: "cannot open",
        path: dir.clone(),
        source,
    })?;
    let mut options = cap_std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    let mut file = locks
        .open_with(lock_file_name(&key.name, environment), &options)
        .map_err(io("cannot open the release lock"))?
        .into_std();
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let other: Holder = serde_json::from_str(&text).unwrap_or_else(|_| Holder {
                run_id: "(a run that is just starting)".to_string(),
                ..Holder::default()
            });
            let help =
                format!("wait for that run to end: the lock ({}) is released when its process ends", path.display());
            return Err(locked(environment, key, &other, help));
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io("cannot lock")(source)),
    }
    let text = serde_json::to_string(holder).map_err(|error| Error::Internal(error.to_string()))?;
    file.set_len(0).map_err(io("cannot write the release lock"))?;
    file.rewind().map_err(io("cannot write the release lock"))?;
    file.write_all(text.as_bytes()).map_err(io("cannot write the release lock"))?;
    file.sync_all().map_err(io("cannot write the release lock"))?;
    Ok(ReleaseLock { held: Held::File { file } })
}

/// The lock file of `product` in `environment`: both names come from outside (a
/// script's path, `--env`), so each is percent-encoded into one plain file name
/// (`cdc.production.lock`; `../x` cannot leave the lock directory).
fn lock_file_name(product: &str, environment: &str) -> String {
    format!("{}.{}.lock", encode_file_name(product), encode_file_name(environment))
}

/// A Lease name from the product and environment: a DNS subdomain.
fn lease_name(product: &str, environment: &str) -> String {
    let clean = |text: &str| -> String {
        text.to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_string()
    };
    let name = format!("shipctl-release.{}.{}", clean(product), clean(environment));
    name.chars().take(253).collect()
}

fn micro_now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn lease_object(name: &str, holder: &Holder, transitions: i32, resource_version: Option<String>) -> Lease {
    let mut lease = Lease::default();
    lease.metadata.name = Some(name.to_string());
    lease.metadata.resource_version = resource_version;
    lease.metadata.annotations = Some(holder.annotations());
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(holder.run_id.clone()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: Some(micro_now()),
        renew_time: Some(micro_now()),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    });
    lease
}

/// Is `lease` free: released, or not renewed within its duration?
fn is_free(lease: &Lease) -> bool {
    let Some(spec) = &lease.spec else {
        return true;
    };
    if spec.holder_identity.as_deref().is_none_or(str::is_empty) {
        return true;
    }
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()).map(|time| time.0);
    let seconds = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS);
    match renewed {
        Some(renewed) => renewed + SignedDuration::from_secs(i64::from(seconds)) < Timestamp::now(),
        None => true,
    }
}

/// Why taking a lease failed.
enum Refusal {
    Held(Holder),
    Failed(String),
}

async fn take_lease(api: &Api<Lease>, name: &str, holder: &Holder) -> Result<(), Refusal> {
    let failed = |action: &str, error: kube::Error| Refusal::Failed(format!("{action} lease {name}: {error}"));
    let current = api.get_opt(name).await.map_err(|error| failed("cannot read", error))?;
    let result = match current {
        None => api.create(&PostParams::default(), &lease_object(name, holder, 0, None)).await.map(|_| ()),
        Some(lease) if is_free(&lease) => {
            let transitions = lease.spec.as_ref().and_then(|spec| spec.lease_transitions).unwrap_or(0) + 1;
            let taken = lease_object(name, holder, transitions, lease.metadata.resource_version.clone());
            api.replace(name, &PostParams::default(), &taken).await.map(|_| ())
        }
        Some(lease) => return Err(Refusal::Held(Holder::from_lease(&lease))),
    };
    match result {
        Ok(()) => Ok(()),
        // Someone else won the race: name them.
        Err(kube::Error::Api(status)) if status.code == 409 => match api.get_opt(name).await {
            Ok(Some(lease)) => Err(Refusal::Held(Holder::from_lease(&lease))),
            _ => Err(Refusal::Failed(format!("lease {name} changed while taking it; try again"))),
        },
        Err(error) => Err(failed("cannot take", error)),
    }
}

async fn renew_lease(api: &Api<Lease>, name: &str, holder: &Holder) {
    let Ok(Some(mut lease)) = api.get_opt(name).await else {
        tracing::warn!("the release lock {name} is gone; the run goes on without it");
        return;
    };
    let Some(spec) = lease.spec.as_mut().filter(|spec| spec.holder_identity.as_deref() == Some(&holder.run_id)) else {
        tracing::warn!("the release lock {name} was taken over by another run");
        return;
    };
    spec.renew_time = Some(micro_now());
    if let Err(error) = api.replace(name, &PostParams::default(), &lease).await {
        tracing::warn!("cannot renew the release lock {name}: {error}");
    }
}

async fn release_lease(api: &Api<Lease>, name: &str, holder: &Holder) {
    let Ok(Some(lease)) = api.get_opt(name).await else {
        return;
    };
    if lease.spec.as_ref().and_then(|spec| spec.holder_identity.as_deref()) != Some(holder.run_id.as_str()) {
        return;
    }
    let preconditions = Preconditions { resource_version: lease.metadata.resource_version, uid: None };
    let params = DeleteParams { preconditions: Some(preconditions), ..DeleteParams::default() };
    if let Err(error) = api.delete(name, &params).await {
        tracing::warn!("cannot release the release lock {name}: {error}");
    }
}

/// What the release lock's thread needs to take, renew and release its Lease.
struct LeaseTask {
    root: PathBuf,
    environment_name: String,
    environment: Environment,
    lease: String,
    namespace_hint: Option<String>,
    holder: Holder,
}

/// The release lock as a Lease on the environment's cluster, held by a thread of its
/// own until the returned lock is dropped.
fn lease_lock(
    project: &Project,
    environment_name: &str,
    environment: &Environment,
    key: &LockKey,
    holder: Holder,
) -> Result<ReleaseLock, Error> {
    let name = lease_name(&key.name, environment_name);
    let (result_sender, result) = mpsc::channel::<Result<(), Refusal>>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = LeaseTask {
        root: project.root.clone(),
        environment_name: environment_name.to_string(),
        environment: environment.clone(),
        lease: name.clone(),
        namespace_hint: environment.namespace().map(str::to_string),
        holder,
    };
    // The lease lives on a thread of its own with its own runtime: the client, the
    // renewals and the release all happen there, whatever the script thread is doing.
    let thread = std::thread::Builder::new()
        .name("release-lock".to_string())
        .spawn(move || keep_lease(task, result_sender, stopped))
        .map_err(|error| Error::Internal(format!("cannot start the release lock's thread: {error}")))?;
    let outcome = result.recv().unwrap_or_else(|_| Err(Refusal::Failed("the release lock's thread died".to_string())));
    match outcome {
        Ok(()) => Ok(ReleaseLock { held: Held::Lease { stop: Some(stop), thread: Some(thread) } }),
        Err(refusal) => {
            let _ = thread.join();
            Err(lease_refusal(refusal, environment_name, key, &name))
        }
    }
}

/// The release lock's thread: acquire the Lease within the API budget and say how that
/// went on `result_sender`, then hold it until `stopped`.
fn keep_lease(
    task: LeaseTask,
    result_sender: mpsc::Sender<Result<(), Refusal>>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = result_sender.send(Err(Refusal::Failed(format!("cannot start a runtime: {error}"))));
            return;
        }
    };
    runtime.block_on(async move {
        let taken = tokio::time::timeout(API_BUDGET, acquire_lease(&task))
            .await
            .unwrap_or_else(|_| Err(Refusal::Failed("the cluster did not answer in time".to_string())));
        let api = match taken {
            Ok(api) => {
                let _ = result_sender.send(Ok(()));
                api
            }
            Err(refusal) => {
                let _ = result_sender.send(Err(refusal));
                return;
            }
        };
        hold_lease(&api, &task, stopped).await;
    });
}

/// Acquire: connect to the environment's cluster and take the Lease in its namespace.
async fn acquire_lease(task: &LeaseTask) -> Result<Api<Lease>, Refusal> {
    let client = crate::providers::kube::client(&task.root, &task.environment_name, &task.environment)
        .await
        .map_err(|error| Refusal::Failed(error.message))?;
    let namespace = task.namespace_hint.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    take_lease(&api, &task.lease, &task.holder).await.map(|()| api)
}

/// Hold: renew the Lease every [`RENEW_EVERY`] until `stopped`, then release it.
async fn hold_lease(api: &Api<Lease>, task: &LeaseTask, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    let mut renewals = tokio::time::interval(RENEW_EVERY);
    renewals.tick().await;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = renewals.tick() => renew_lease(api, &task.lease, &task.holder).await,
        }
    }
    let _ = tokio::time::timeout(API_BUDGET, release_lease(api, &task.lease, &task.holder)).await;
}

/// The error a run gets when the Lease `name` could not be taken.
fn lease_refusal(refusal: Refusal, environment_name: &str, key: &LockKey, name: &str) -> Error {
    match refusal {
        Refusal::Held(other) => locked(
            environment_name,
            key,
            &other,
            format!(
                "wait for that run to end; the lock is Lease {name}, and a lease not renewed for {LEASE_SECONDS}s is taken over"
            ),
        ),
        Refusal::Failed(message) => Error::Policy {
            message: format!("cannot take the release lock of environment \"{environment_name}\": {message}"),
            help: Some("protected environments with a cluster keep their release lock there as a Lease".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_names_are_encoded() {
        assert_eq!(lock_file_name("cdc", "production"), "cdc.production.lock");
        assert_eq!(lock_file_name("cdc", "../../x"), "cdc.%2E%2E%2F%2E%2E%2Fx.lock");
        assert_ne!(lock_file_name("a.b", "c"), lock_file_name("a", "b.c"), "one-to-one");
    }

    #[test]
    fn lease_names_are_dns_subdomains() {
        assert_eq!(lease_name("cdc", "production"), "shipctl-release.cdc.production");
        assert_eq!(lease_name("My_App", "eu prod"), "shipctl-release.my-app.eu-prod");
    }

    #[test]
    fn lock_params_name_the_lock_without_leaking_values_into_names() {
        let environment = Environment { lock_params: vec!["product".into()], ..Environment::default() };
        let key = |value: &str| {
            let params = BTreeMap::from([("product".to_string(), value.to_string())]);
            LockKey::new("web", "production", &environment, &params).unwrap()
        };
        let (cdc, cvs) = (key("cdc"), key("cvs"));
        assert_ne!(cdc.name, cvs.name, "products do not share a lock");
        assert_eq!(cdc.name, key("cdc").name, "the same product does");
        assert_eq!(cdc.for_identity(), " for product=cdc");
        for hostile in ["../x", "../../etc/passwd", &"a".repeat(300), "x\ny", "UPPER case.dots"] {
            let key = key(hostile);
            let file = lock_file_name(&key.name, "production");
            assert!(crate::base::confined::is_plain_file_name(&file) && file.len() < 64, "{file}");
            let lease = lease_name(&key.name, "production");
            assert!(lease.len() <= 63, "{lease}");
            let dns = |label: &str| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            };
            assert!(lease.split('.').all(dns), "{lease}");
        }
        let missing = LockKey::new("web", "production", &environment, &BTreeMap::new()).err().unwrap();
        assert!(missing.to_string().contains("per param \"product\""), "{missing}");
    }

    #[test]
    fn stale_and_released_leases_are_free() {
        let holder = Holder { run_id: "r1".into(), ..Holder::default() };
        let fresh = lease_object("x", &holder, 0, None);
        assert!(!is_free(&fresh));
        let mut stale = fresh.clone();
        let old = Timestamp::now() - SignedDuration::from_secs(600);
        if let Some(spec) = stale.spec.as_mut() {
            spec.renew_time = Some(MicroTime(old));
        }
        assert!(is_free(&stale));
        let mut released = fresh;
        if let Some(spec) = released.spec.as_mut() {
            spec.holder_identity = None;
        }
        assert!(is_free(&released));
    }
}
