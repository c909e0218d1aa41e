//! Kubernetes fixtures: the real `helm` and `kubectl` binaries, charts made by
//! `helm create`, and the stand-in API server with a namespace for the test.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use kube_standin::{Options, Standin};

use shipctl::effect::Mode;
use shipctl::run::{RunReport, RunRequest};

use crate::support::{Output, Recorder, Workspace};

/// The namespace every Kubernetes test works in.
pub const NAMESPACE: &str = "demo";

/// A kubeconfig whose only context, `broken`, points where nothing listens.
pub const UNREACHABLE_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: broken
  cluster:
    server: https://127.0.0.1:1
users:
- name: broken
  user:
    token: nothing
contexts:
- name: broken
  context:
    cluster: broken
    user: broken
current-context: broken
";

/// A program the Kubernetes tests need, found on PATH; `kubectl` is taken from beside
/// `helm` first, so both come from the same download. Fails the test with what to do
/// when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let find =
        |name: &str| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file());
    if name == "kubectl"
        && let Some(beside) = find("helm").and_then(|helm| helm.parent().map(|dir| dir.join("kubectl")))
        && beside.is_file()
    {
        return beside;
    }
    find(name).unwrap_or_else(|| {
        panic!(
            "{name} is not on PATH. The Kubernetes tests run the real {name} (helm v4, kubectl 1.35): \
             run the tests with `./.ci/test` (it downloads both into ~/.cache/shipctl-ci), \
             or run the tests through ./.ci/run, which does that"
        )
    })
}

/// Run a program and capture what it did.
pub fn run(program: &Path, args: &[&str], dir: &Path, env: &[(&str, &OsStr)]) -> Output {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A stand-in with the test namespace.
pub fn standin() -> Standin {
    let options = Options { namespaces: vec![NAMESPACE.to_string()], ..Options::default() };
    Standin::start_with(options).unwrap_or_else(|error| panic!("cannot start the stand-in: {error}"))
}

/// `helm create <dir>/<name>`: the chart every helm user starts from. Returns its path.
pub fn helm_create(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let created = run(&tool("helm"), &["create", name], dir, &[]);
    assert_eq!(created.code, 0, "helm create: {created:?}");
    dir.join(name)
}

/// `kubectl` against a stand-in, with its own directory (and discovery cache in it).
pub struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(standin: &Standin) -> Kubectl {
        Kubectl {
            program: tool("kubectl"),
            kubeconfig: standin.kubeconfig().to_path_buf(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A file in kubectl's directory, for manifests.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let cache = self.dir.path().join("cache").to_string_lossy().into_owned();
        let mut all = vec!["--cache-dir", cache.as_str(), "--namespace", NAMESPACE];
        all.extend_from_slice(args);
        run(&self.program, &all, self.dir.path(), &[("KUBECONFIG", self.kubeconfig.as_os_str())])
    }

    /// Run and insist on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.code, 0, "kubectl {args:?}: {output:?}");
        output.stdout
    }
}

/// The `[environments.<name>]` table for a stand-in: its kubeconfig, context and the
/// test namespace.
pub fn environment(name: &str, standin: &Standin, protected: bool) -> String {
    format!(
        "[environments.{name}]\nprotected = {protected}\nkubeconfig = \"{}\"\nkube_context = \"{}\"\nnamespace = \"{NAMESPACE}\"\n",
        standin.kubeconfig().display(),
        kube_standin::CONTEXT
    )
}

/// A workspace whose environment `cluster` points at `standin`.
pub fn workspace(standin: &Standin) -> Workspace {
    let workspace = Workspace::new();
    workspace.config(&environment("cluster", standin, false));
    workspace
}

/// Run `script` in environment `cluster` through the library, keeping what it reported.
pub fn execute(
    workspace: &Workspace,
    script: &str,
    mode: Mode,
    refresh: bool,
    params: &[(&str, &str)],
) -> (RunReport, Vec<String>) {
    let recorder = Recorder::default();
    let mut request = RunRequest::new(workspace.path().join(script), "cluster", mode);
    request.refresh = refresh;
    for (name, value) in params {
        request = request.param(name, value);
    }
    let report = shipctl::run::execute(request, Box::new(recorder.clone()))
        .unwrap_or_else(|error| panic!("the run was refused: {error}"));
    let lines = recorder.lines.lock().unwrap().clone();
    (report, lines)
}

/// A Deployment (or StatefulSet or DaemonSet) object for the stand-in.
pub fn workload(kind: &str, name: &str, replicas: i64, image: &str) -> serde_json::Value {
    let mut object = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": { "name": name, "namespace": NAMESPACE, "labels": { "app": name } },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": name, "image": image }] },
            },
        },
    });
    if kind != "DaemonSet" {
        object["spec"]["replicas"] = serde_json::json!(replicas);
    }
    object
}

/// A kube-rs client for a stand-in, made inside the running runtime.
pub async fn client(standin: &Standin) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(standin.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}
