//! The release lock of protected environments: a Lease on the stand-in when the
//! environment names a cluster, a file lock otherwise. One run proceeds, a concurrent
//! one fails at once naming the holder; a stale lease is taken over; the lock is
//! released when the run ends, failed or not.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use kube_standin::{Behaviour, Standin};
use serde_json::json;
use shipctl::effect::Mode;
use shipctl::effect::Silent;
use shipctl::error::Error;
use shipctl::journal::RunStatus;
use shipctl::run::{RunReport, RunRequest};

use crate::kube_support::{NAMESPACE, environment, standin, workload};
use crate::support::{HttpServer, Workspace, commit_all};

const LEASE: &str = "shipctl-release.web.production";

/// A committed scripts root (protected environments run only committed scripts) with
/// `scripts/web/release.rhai` and `scripts/web/broken.rhai`.
fn protected_workspace(config: &str, release: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.config(config);
    workspace.write(".gitignore", "/.shipctl\n");
    workspace.write("scripts/web/release.rhai", release);
    workspace.write("scripts/web/broken.rhai", "fail(\"the smoke test failed\");\n");
    commit_all(workspace.path(), "scripts");
    workspace
}

fn run(root: &Path, script: &str) -> Result<RunReport, Error> {
    shipctl::run::execute(RunRequest::new(root.join(script), "production", Mode::Run), Box::new(Silent))
}

fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn lease(standin: &Standin) -> Option<serde_json::Value> {
    standin.get("leases", NAMESPACE, LEASE)
}

fn assert_names_the_holder(error: &Error, run_id: &str) {
    let message = error.to_string();
    assert!(matches!(error, Error::Policy { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 4);
    assert!(message.contains("environment \"production\" is locked for web by run "), "{message}");
    assert!(message.contains(run_id), "names the holder's run id: {message}");
    for part in ["user ", "on host ", "started 20", "script scripts/web/release.rhai"] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

#[test]
fn a_second_run_fails_at_once_while_the_lease_is_held() {
    let standin = standin();
    standin.behave("deployments", NAMESPACE, "web", Behaviour::HealthyAfter(Duration::from_millis(1500)));
    let workspace = protected_workspace(
        &environment("production", &standin, true),
        "wait_healthy(#{ deployment: \"web\", timeout: \"30s\" });\n",
    );
    standin.put(workload("Deployment", "web", 2, "web:1")).unwrap();
    let root = workspace.path().to_path_buf();
    let first = thread::spawn(move || run(&root, "scripts/web/release.rhai"));
    wait_for("the first run's lease", || lease(&standin).is_some());

    let started = Instant::now();
    let refused = run(workspace.path(), "scripts/web/release.rhai").expect_err("the second run is refused");
    assert!(started.elapsed() < Duration::from_secs(2), "refused at once");
    let first = first.join().unwrap().expect("the first run ran");
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error.as_ref().map(ToString::to_string));
    assert_names_the_holder(&refused, &first.run_id);
    assert!(refused.help().unwrap_or("").contains(LEASE), "{:?}", refused.help());

    assert!(lease(&standin).is_none(), "released at the end of the run");
    let log = standin.request_log();
    assert!(
        log.contains(&format!("DELETE /apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{LEASE}")),
        "{log}"
    );
    // The journals: only the run that held the lock has one.
    assert_eq!(workspace.journals().len(), 1);
}

#[test]
fn the_lease_is_released_when_the_run_fails() {
    let standin = standin();
    let workspace = protected_workspace(&environment("production", &standin, true), "info(\"hello\");\n");
    let report = run(workspace.path(), "scripts/web/broken.rhai").expect("the run started");
    assert_eq!(report.status, RunStatus::Failed);
    assert!(lease(&standin).is_none(), "released though the run failed");
    assert!(standin.writes().iter().any(|request| request.method == "POST" && request.path.ends_with("/leases")));
    // Free again: the next run takes it.
    let report = run(workspace.path(), "scripts/web/release.rhai").expect("the lock is free");
    assert_eq!(report.status, RunStatus::Succeeded);
}

#[test]
fn a_stale_lease_is_taken_over_and_a_live_one_is_not() {
    let standin = standin();
    let workspace = protected_workspace(&environment("production", &standin, true), "info(\"hello\");\n");
    let foreign = |renewed: &str| {
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": { "name": LEASE, "namespace": NAMESPACE, "annotations": {
                "shipctl.dev/user": "alice", "shipctl.dev/host": "ci-7",
                "shipctl.dev/started-at": "2026-01-02T03:04:05Z", "shipctl.dev/script": "scripts/web/release.rhai" } },
            "spec": { "holderIdentity": "20260102-030405-abcdef", "leaseDurationSeconds": 30,
                      "acquireTime": renewed, "renewTime": renewed, "leaseTransitions": 3 },
        })
    };
    let now = std::time::SystemTime::now();
    standin.put(foreign(&humantime::format_rfc3339_micros(now).to_string())).unwrap();
    let refused = run(workspace.path(), "scripts/web/release.rhai").expect_err("a live lease holds");
    let message = refused.to_string();
    assert!(
        message.contains("run 20260102-030405-abcdef (user alice on host ci-7, started 2026-01-02T03:04:05Z"),
        "{message}"
    );
    assert!(lease(&standin).is_some(), "the holder's lease is left alone");

    let stale = now - Duration::from_secs(600);
    standin.put(foreign(&humantime::format_rfc3339_micros(stale).to_string())).unwrap();
    standin.clear_requests();
    let report = run(workspace.path(), "scripts/web/release.rhai").expect("a stale lease is taken over");
    assert_eq!(report.status, RunStatus::Succeeded);
    let writes: Vec<String> = standin.writes().iter().map(|request| request.method.clone()).collect();
    assert_eq!(writes, ["PUT", "DELETE"], "taken over with a PUT, released with a DELETE");
}

#[test]
fn without_a_cluster_a_file_lock_does_the_same() {
    let server =
        HttpServer::start(&[(503, "starting"), (503, "starting"), (503, "starting"), (503, "starting"), (200, "ok")]);
    let release = format!("http_check(#{{ url: \"{}/health\", retries: 10, interval: \"200ms\" }});\n", server.url);
    let workspace = protected_workspace("[environments.production]\nprotected = true\n", &release);
    let lock_file = workspace.path().join(".shipctl/runs/locks/web.production.lock");
    let root = workspace.path().to_path_buf();
    let first = thread::spawn(move || run(&root, "scripts/web/release.rhai"));
    wait_for("the first run's lock", || std::fs::read_to_string(&lock_file).is_ok_and(|text| text.contains("run_id")));

    let refused = run(workspace.path(), "scripts/web/release.rhai").expect_err("the second run is refused");
    let first = first.join().unwrap().expect("the first run ran");
    assert_eq!(first.status, RunStatus::Succeeded);
    assert_names_the_holder(&refused, &first.run_id);
    assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), "", "no holder is left behind");

    let failed = run(workspace.path(), "scripts/web/broken.rhai").expect("free again");
    assert_eq!(failed.status, RunStatus::Failed);
    let after = run(workspace.path(), "scripts/web/release.rhai").expect("released after a failed run too");
    assert_eq!(after.status, RunStatus::Succeeded);
}

/// A run of `scripts/web/release.rhai` for `product`, checking `url`.
fn run_for(root: &Path, product: &str, url: &str) -> Result<RunReport, Error> {
    let request = RunRequest::new(root.join("scripts/web/release.rhai"), "production", Mode::Run)
        .param("product", product)
        .param("url", url);
    shipctl::run::execute(request, Box::new(Silent))
}

const PER_PRODUCT: &str = "let product = param(\"product\");\nhttp_check(#{ url: param(\"url\"), retries: 30, interval: \"200ms\" });\ninfo(product);\n";

#[test]
fn lock_params_let_products_release_at_once_and_the_same_product_wait() {
    let slow = HttpServer::start(&[(503, "starting"); 10].into_iter().chain([(200, "ok")]).collect::<Vec<_>>());
    let fast = HttpServer::start(&[(200, "ok"); 4]);
    let workspace =
        protected_workspace("[environments.production]\nprotected = true\nlock_params = [\"product\"]\n", PER_PRODUCT);
    let locks = workspace.path().join(".shipctl/runs/locks");
    let held = move || {
        std::fs::read_dir(&locks)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|entry| std::fs::read_to_string(entry.path()).is_ok_and(|text| text.contains("run_id")))
            })
            .unwrap_or(false)
    };
    let (root, slow_url) = (workspace.path().to_path_buf(), format!("{}/health", slow.url));
    let first = thread::spawn(move || run_for(&root, "cdc", &slow_url));
    wait_for("the cdc run's lock", &held);

    let fast_url = format!("{}/health", fast.url);
    let other = run_for(workspace.path(), "cvs", &fast_url).expect("cvs takes its own lock");
    assert_eq!(other.status, RunStatus::Succeeded, "{:?}", other.error.as_ref().map(ToString::to_string));
    assert!(!first.is_finished(), "cvs ran while cdc held its lock");

    let refused = run_for(workspace.path(), "cdc", &fast_url).expect_err("the same product waits");
    let message = refused.to_string();
    assert_eq!(refused.exit_code(), 4);
    assert!(message.contains("is locked for web by run "), "{message}");
    assert!(message.ends_with(" for product=cdc"), "names the lock's identity: {message}");
    let first = first.join().unwrap().expect("the cdc run ran");
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error.as_ref().map(ToString::to_string));
    assert!(message.contains(&first.run_id), "{message}");
}

#[test]
fn a_lock_param_the_run_was_not_given_is_named() {
    let workspace = protected_workspace(
        "[environments.production]\nprotected = true\nlock_params = [\"product\"]\n",
        "let product = param(\"product\", \"web\");\ninfo(product);\n",
    );
    let refused = run(workspace.path(), "scripts/web/release.rhai").expect_err("no product given");
    assert!(refused.to_string().contains("per param \"product\", which this run was not given"), "{refused}");
    assert!(refused.help().unwrap_or("").contains("--set product=<value>"), "{:?}", refused.help());
}

#[test]
fn hostile_lock_param_values_stay_inside_the_lock_directory() {
    let workspace = protected_workspace(
        "[environments.production]\nprotected = true\nlock_params = [\"product\"]\n",
        "let product = param(\"product\");\ninfo(product);\n",
    );
    for value in ["../../escape", &"x".repeat(300), "a/b\\c\n"] {
        let request = RunRequest::new(workspace.path().join("scripts/web/release.rhai"), "production", Mode::Run)
            .param("product", value);
        let report = shipctl::run::execute(request, Box::new(Silent)).expect("the run took its lock");
        assert_eq!(report.status, RunStatus::Succeeded);
    }
    let locks: Vec<String> = std::fs::read_dir(workspace.path().join(".shipctl/runs/locks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(locks.len(), 3, "one lock per value: {locks:?}");
    assert!(locks.iter().all(|name| name.starts_with("web-") && name.len() < 64), "{locks:?}");
    assert!(!workspace.path().join(".shipctl/escape").exists() && !workspace.path().join("escape").exists());
}

#[test]
fn lock_params_must_be_param_names() {
    let workspace = protected_workspace(
        "[environments.production]\nprotected = true\nlock_params = [\"../x\"]\n",
        "info(\"hello\");\n",
    );
    let refused = run(workspace.path(), "scripts/web/release.rhai").expect_err("refused at config load");
    let message = refused.to_string();
    assert!(message.contains("lock_params in [environments.production]: \"../x\" is not a param name"), "{message}");
    assert!(message.contains("shipctl.toml:3"), "located: {message}");
}
