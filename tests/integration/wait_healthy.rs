//! `wait_healthy` through script runs, against the stand-in's controller: healthy
//! rollouts (returning right after the controller marks them so), the lag after a spec
//! change, crash loops and image pull failures named in the error, progress deadlines,
//! and the StatefulSet and DaemonSet variants.

use std::time::{Duration, Instant};

use kube_standin::Behaviour;
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;

use crate::kube_support::{NAMESPACE, execute, standin, workload, workspace};

fn waited_for(report: &shipctl::run::RunReport) -> serde_json::Value {
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error.as_ref().map(ToString::to_string));
    report.effects[0].result.clone().expect("a result")
}

#[test]
fn a_deployment_becomes_healthy_and_the_wait_returns_right_after() {
    let standin = standin();
    standin.behave("deployments", NAMESPACE, "web", Behaviour::HealthyAfter(Duration::from_millis(600)));
    standin.put(workload("Deployment", "web", 3, "web:1")).unwrap();
    let workspace = workspace(&standin);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"web\", timeout: \"30s\" });\n");

    let (report, lines) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    let returned = Instant::now();
    let result = waited_for(&report);
    let (generation, marked) = standin.available_at("deployments", NAMESPACE, "web").expect("marked available");
    assert_eq!(generation, 1);
    let latency = returned.duration_since(marked);
    // A watch returns within milliseconds (benches/kube.rs measures it); the bound leaves
    // room for a machine busy with the other tests, and still fails a polling wait.
    assert!(latency < Duration::from_millis(1000), "returned {latency:?} after the controller marked it available");
    assert_eq!(result["kind"], "deployment");
    assert_eq!((result["replicas"].as_i64(), result["available"].as_i64()), (Some(3), Some(3)));
    assert_eq!(result["namespace"], NAMESPACE);
    let progress: Vec<&String> = lines.iter().filter(|line| line.starts_with("progress")).collect();
    assert!(
        progress.iter().any(|line| line.contains("deployment demo/web: 3/3 updated, 1 available")),
        "progress shown while waiting: {progress:?}"
    );
}

#[test]
fn after_a_spec_change_the_wait_does_not_trust_the_previous_rollouts_status() {
    let standin = standin();
    standin.put(workload("Deployment", "web", 2, "web:1")).unwrap();
    let workspace = workspace(&standin);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"web\", timeout: \"30s\" });\n");
    waited_for(&execute(&workspace, "release.rhai", Mode::Run, false, &[]).0);

    // The controller takes 300 ms to notice the new spec; until then the status says the
    // previous rollout is complete (observedGeneration 1, NewReplicaSetAvailable).
    standin.set_observe_delay(Duration::from_millis(300));
    standin.behave("deployments", NAMESPACE, "web", Behaviour::HealthyAfter(Duration::from_millis(300)));
    standin.put(workload("Deployment", "web", 2, "web:2")).unwrap();
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    let result = waited_for(&report);
    let (generation, _) = standin.available_at("deployments", NAMESPACE, "web").unwrap();
    assert_eq!(generation, 2, "the wait returned only once generation 2 was available");
    assert_eq!(result["generation"], 2);
}

#[test]
fn a_crash_loop_times_out_naming_the_pods_and_why() {
    let standin = standin();
    standin.behave("deployments", NAMESPACE, "web", Behaviour::CrashLoop);
    standin.put(workload("Deployment", "web", 2, "web:broken")).unwrap();
    let workspace = workspace(&standin);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"web\", timeout: \"1s\" });\n");
    let started = Instant::now();
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.effects[0].error.clone().expect("an error");
    assert!(error.starts_with("deployment demo/web is not healthy after 1.0s: 2/2 updated, 0 available"), "{error}");
    assert!(error.contains("pod web-"), "{error}");
    assert!(error.contains("container web CrashLoopBackOff (back-off 40s restarting failed container=web"), "{error}");
    assert!(error.contains("event BackOff: Back-off restarting failed container web"), "{error}");
}

#[test]
fn an_exceeded_progress_deadline_fails_at_once() {
    let standin = standin();
    standin.behave("deployments", NAMESPACE, "web", Behaviour::ProgressDeadline(Duration::from_millis(300)));
    standin.put(workload("Deployment", "web", 1, "web:slow")).unwrap();
    let workspace = workspace(&standin);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"web\", timeout: \"60s\" });\n");
    let started = Instant::now();
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    assert!(started.elapsed() < Duration::from_secs(10), "it did not wait for the 60 s timeout");
    let error = report.effects[0].error.clone().expect("an error");
    assert!(error.starts_with("deployment demo/web failed: ProgressDeadlineExceeded: ReplicaSet \"web-"), "{error}");
    assert!(error.contains("has timed out progressing"), "{error}");
    assert!(error.contains("CrashLoopBackOff"), "the pods are named too: {error}");
}

#[test]
fn statefulsets_and_daemonsets_roll_out_too() {
    let standin = standin();
    standin.set_behaviour(Behaviour::HealthyAfter(Duration::from_millis(200)));
    standin.put(workload("StatefulSet", "db", 3, "db:1")).unwrap();
    standin.put(workload("DaemonSet", "agent", 0, "agent:1")).unwrap();
    let workspace = workspace(&standin);
    workspace.write(
        "release.rhai",
        "wait_healthy(#{ statefulset: \"db\", timeout: \"30s\" });\nwait_healthy(#{ daemonset: \"agent\", namespace: \"demo\" });\n",
    );
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error.as_ref().map(ToString::to_string));
    let statefulset = report.effects[0].result.clone().unwrap();
    assert_eq!((statefulset["kind"].as_str(), statefulset["available"].as_i64()), (Some("statefulset"), Some(3)));
    assert!(standin.available_at("statefulsets", NAMESPACE, "db").is_some());
    let daemonset = report.effects[1].result.clone().unwrap();
    assert_eq!((daemonset["kind"].as_str(), daemonset["replicas"].as_i64()), (Some("daemonset"), Some(2)), "two nodes");
    assert!(standin.available_at("daemonsets", NAMESPACE, "agent").is_some());
}

#[test]
fn a_daemonset_that_cannot_pull_its_image_names_it() {
    let standin = standin();
    standin.behave("daemonsets", NAMESPACE, "agent", Behaviour::ImagePullBackOff);
    standin.put(workload("DaemonSet", "agent", 0, "registry.invalid/agent:1")).unwrap();
    let workspace = workspace(&standin);
    workspace.write("release.rhai", "wait_healthy(#{ daemonset: \"agent\", timeout: \"1s\" });\n");
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    let error = report.effects[0].error.clone().expect("an error");
    assert!(error.contains("0/2 updated, 0 available") || error.contains("2/2 updated, 0 available"), "{error}");
    assert!(error.contains("ImagePullBackOff (Back-off pulling image \"registry.invalid/agent:1\")"), "{error}");
}

#[test]
fn a_missing_workload_fails_at_once() {
    let standin = standin();
    let workspace = workspace(&standin);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"nope\", timeout: \"60s\" });\n");
    let started = Instant::now();
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    let error = report.effects[0].error.clone().expect("an error");
    assert_eq!(error, "deployment demo/nope failed: it does not exist");
}
