//! Kubernetes conventions through the binary: `--kubeconfig` and `--kube-context` over
//! the environment's keys, `KUBECONFIG` naming several files merged as kubectl merges
//! them, and a missing kubeconfig as a configuration error.

use std::time::Duration;

use kube_standin::Behaviour;

use crate::kube_support::{NAMESPACE, UNREACHABLE_KUBECONFIG, standin, workload};
use crate::support::Workspace;

#[test]
fn kubeconfig_files_are_merged_and_the_flag_chooses_the_context() {
    let standin = standin();
    standin.behave("deployments", NAMESPACE, "web", Behaviour::HealthyAfter(Duration::from_millis(100)));
    standin.put(workload("Deployment", "web", 1, "web:1")).unwrap();
    let workspace = Workspace::new();
    workspace.config(&format!("[environments.stage]\nnamespace = \"{NAMESPACE}\"\n"));
    workspace.write("kube/broken.yaml", UNREACHABLE_KUBECONFIG);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"web\", timeout: \"3s\" });\n");
    // The first file sets current-context (broken); the flag picks the stand-in's
    // context, which only the second file has.
    let files = std::env::join_paths([workspace.path().join("kube/broken.yaml"), standin.kubeconfig().to_path_buf()])
        .unwrap()
        .into_string()
        .unwrap();
    let env = [("KUBECONFIG", files.as_str())];

    let chosen = workspace.shipctl_with_env(&["run", "release.rhai", "-e", "stage", "--kube-context", "standin"], &env);
    assert_eq!(chosen.code, 0, "{chosen:?}");
    let journal = workspace.journals().pop().expect("a journal");
    let header: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(journal).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(header["kube"]["kube_context"], "standin", "{header}");

    let current = workspace.shipctl_with_env(&["run", "release.rhai", "-e", "stage"], &env);
    assert_eq!(current.code, 1, "the current context of the first file points nowhere: {current:?}");

    let unknown = workspace.shipctl_with_env(&["run", "release.rhai", "-e", "stage", "--kube-context", "prod"], &env);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("context \"prod\" is not in the kubeconfig"), "{unknown:?}");
    assert!(unknown.stderr.contains("broken, standin"), "{unknown:?}");

    let hostile =
        workspace.shipctl_with_env(&["plan", "release.rhai", "-e", "stage", "--kube-context", "a\u{1b}[2Jb"], &env);
    assert_eq!(hostile.code, 2, "{hostile:?}");
}

#[test]
fn a_missing_kubeconfig_is_a_configuration_error_naming_the_key() {
    let home = tempfile::tempdir().unwrap();
    let workspace = Workspace::new();
    workspace.config("[environments.stage]\nkube_context = \"prod\"\nnamespace = \"demo\"\n");
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"web\", timeout: \"5s\" });\n");
    let env = [("HOME", home.path().to_str().unwrap()), ("KUBECONFIG", "")];
    let output = workspace.shipctl_with_env(&["run", "release.rhai", "-e", "stage"], &env);
    assert_eq!(output.code, 2, "{output:?}");
    let path = home.path().join(".kube/config").display().to_string();
    assert_eq!(output.stderr.matches(&path).count(), 1, "the path once: {output:?}");
    assert!(output.stderr.contains(&format!("kubeconfig {path} does not exist")), "{output:?}");
    assert!(!output.stderr.contains("'\""), "no quoted path in quotes: {output:?}");
    assert!(output.stderr.contains("kubeconfig = \"<path>\"") && output.stderr.contains("[environments.stage]"));

    let flagged =
        workspace.shipctl_with_env(&["run", "release.rhai", "-e", "stage", "--kubeconfig", "nowhere.yaml"], &env);
    assert_eq!(flagged.code, 2, "{flagged:?}");
    assert!(flagged.stderr.contains("nowhere.yaml does not exist"), "{flagged:?}");
}
