//! Preflight of everything a live run needs: an unset secret, an unreadable secret
//! file, a repository path that is not a git repository and a kubeconfig without the
//! environment's context are all found before the first effect. `run` refuses with
//! every one of them (exit 2, nothing tagged, nothing journaled), `plan` warns under
//! the plan, `check` reports them.

use std::path::Path;

use crate::support::{Workspace, git_repository, refs};

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n\
                          contexts:\n- name: staging\n  context:\n    cluster: c\n    user: u\n\
                          users:\n- name: u\n  user: {}\ncurrent-context: staging\n";

/// The variable holding the one secret that is set; its value must never be shown.
const SET: (&str, &str) = ("SHIPCTL_NEEDS_TEST_SET", "set-secret-value-5f3a");

/// A scripts root whose `prod` environment lacks four things, and a release that first
/// tags a real repository (`app`), then needs each of them.
fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config(
        "[secrets.hook]\nenv = \"SHIPCTL_NEEDS_TEST_UNSET\"\n[secrets.pw]\nfile = \"secrets/pw\"\n\
         [secrets.token]\nenv = \"SHIPCTL_NEEDS_TEST_SET\"\n\
         [notify.chat]\nkind = \"slack\"\nurl_secret = \"hook\"\n[notify.ops]\nkind = \"webhook\"\nurl_secret = \"token\"\n\
         [databases.main]\nurl = \"postgres://app@127.0.0.1:9/main\"\npassword_secret = \"pw\"\n\
         [repos.app]\npath = \"app\"\n[repos.plain]\npath = \"plain\"\n\
         [environments.prod]\nkubeconfig = \"kube/config\"\nkube_context = \"prod\"\n",
    );
    git_repository(&workspace.path().join("app"));
    std::fs::create_dir_all(workspace.path().join("plain")).unwrap();
    std::fs::create_dir_all(workspace.path().join("secrets")).unwrap();
    workspace.write("kube/config", KUBECONFIG);
    workspace.write(
        "release.rhai",
        "step(\"Release\", || {\n    tag(#{ repo: \"app\", name: \"1.0.0\", message: \"m\" });\n    \
         notify(#{ channel: \"ops\", text: \"go\" });\n    tag(#{ repo: \"plain\", name: \"1.0.0\", message: \"m\" });\n    \
         backup(#{ postgres: \"main\" });\n    notify(#{ channel: \"chat\", text: \"done\" });\n});\n",
    );
    workspace
}

const EXPECTED: [&str; 4] = [
    "release.rhai:4:12: repo \"plain\": [repos.plain] path \"plain\" is not a git repository",
    "release.rhai:5:15: database \"main\": secret \"pw\" comes from",
    "release.rhai:6:15: channel \"chat\": secret \"hook\" comes from the environment variable SHIPCTL_NEEDS_TEST_UNSET, which is not set",
    "environment \"prod\": context \"prod\" is not in the kubeconfig",
];

fn journals(root: &Path) -> usize {
    std::fs::read_dir(root.join(".shipctl/runs")).map(|entries| entries.count()).unwrap_or(0)
}

#[test]
fn a_live_run_refuses_before_its_first_effect_with_every_problem() {
    let workspace = workspace();
    let output = workspace.shipctl_with_env(&["run", "release.rhai", "--env", "prod"], &[SET]);
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(output.stderr.contains("4 things it needs are missing before its first effect"), "{}", output.stderr);
    for expected in EXPECTED {
        assert!(output.stderr.contains(expected), "{expected}\n---\n{}", output.stderr);
    }
    assert!(!output.stderr.contains(SET.1) && !output.stdout.contains(SET.1), "a secret's value was shown");
    let tags: Vec<String> =
        refs(&workspace.path().join("app")).into_keys().filter(|name| name.starts_with("refs/tags/")).collect();
    assert!(tags.is_empty(), "the first effect ran: {tags:?}");
    assert_eq!(journals(workspace.path()), 0, "a journal was started");
}

#[test]
fn plan_warns_and_check_reports_what_the_live_run_would_stop_at() {
    let workspace = workspace();
    let output = workspace.shipctl_with_env(&["plan", "release.rhai", "--env", "prod"], &[SET]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains("5 effects: 3 write, 2 notify"), "{}", output.stdout);
    assert!(output.stderr.contains("warning: the live run would stop before its first effect:"), "{}", output.stderr);
    for expected in EXPECTED {
        assert!(output.stderr.contains(expected), "{expected}\n---\n{}", output.stderr);
    }
    let output = workspace.shipctl_with_env(&["check", "release.rhai"], &[SET]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    // check knows no --env: the cluster of `prod` is not its business.
    for expected in &EXPECTED[..3] {
        assert!(output.stderr.contains(expected), "{expected}\n---\n{}", output.stderr);
    }
    assert!(!format!("{}{}", output.stdout, output.stderr).contains(SET.1), "a secret's value was shown");
}

#[test]
fn once_everything_is_there_the_run_goes_ahead() {
    let workspace = workspace();
    workspace.write(
        "release.rhai",
        "tag(#{ repo: \"app\", name: \"1.0.0\", message: \"m\" });\nnotify(#{ channel: \"ops\", text: \"go\" });\n",
    );
    workspace.write("kube/config", &KUBECONFIG.replace("name: staging", "name: prod"));
    let output = workspace.shipctl_with_env(&["plan", "release.rhai", "--env", "prod"], &[SET]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(!output.stderr.contains("warning"), "{}", output.stderr);
}

/// A secret file that is a FIFO, a kubeconfig that is one: read by nobody (a read would
/// hang until a writer comes), reported as not readable.
#[cfg(unix)]
#[test]
fn a_fifo_for_a_secret_or_a_kubeconfig_does_not_hang_the_preflight() {
    let workspace = workspace();
    for fifo in ["secrets/pw", "kube/fifo"] {
        let path = workspace.path().join(fifo);
        let status = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(status.success());
    }
    let config = std::fs::read_to_string(workspace.path().join("shipctl.toml")).unwrap();
    workspace.config(&config.replace("kubeconfig = \"kube/config\"", "kubeconfig = \"kube/fifo\""));
    let started = std::time::Instant::now();
    let output = workspace.shipctl_with_env(&["run", "release.rhai", "--env", "prod"], &[SET]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(output.stderr.contains("secrets/pw, which is not a readable file"), "{}", output.stderr);
    assert!(output.stderr.contains("kube/fifo is not a regular file"), "{}", output.stderr);
}
