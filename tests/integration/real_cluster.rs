//! The Kubernetes tests against a real cluster, `SHIPCTL_TEST_KUBECONFIG` naming its
//! kubeconfig (and `SHIPCTL_TEST_KUBE_CONTEXT`, optionally, a context in it). They are
//! ignored, so `cargo test` lists them as such; run them with
//! `./.ci/test --test integration real_cluster -- --ignored` when the variable is set.
//! Each test works in a namespace of its own, created for it and deleted afterwards.
//! Never point this at a cluster that matters.
//!
//! The same scenarios as the stand-in tests, without the stand-in's knobs: a helm
//! release upgraded and rolled back as a compensation, an image that cannot be pulled
//! named by `wait_healthy`, and the release lock as a Lease.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;

use crate::helm::RELEASE;
use crate::kube_support::{execute, helm_create, workload};
use crate::support::Workspace;

struct Cluster {
    kubeconfig: PathBuf,
    context: Option<String>,
    namespace: String,
    runtime: tokio::runtime::Runtime,
}

impl Cluster {
    /// The configured cluster with a fresh namespace. Run with `--ignored` but without
    /// `SHIPCTL_TEST_KUBECONFIG`, the test fails saying what to set.
    fn connect(test: &str) -> Cluster {
        let Some(kubeconfig) = std::env::var_os("SHIPCTL_TEST_KUBECONFIG") else {
            panic!(
                "real_cluster::{test}: SHIPCTL_TEST_KUBECONFIG is not set; set it to the kubeconfig of a throwaway cluster to run the real-cluster tests"
            );
        };
        let unique =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() % 1_000_000_000;
        let cluster = Cluster {
            kubeconfig: PathBuf::from(kubeconfig),
            context: std::env::var("SHIPCTL_TEST_KUBE_CONTEXT").ok(),
            namespace: format!("shipctl-test-{}-{unique}", std::process::id()),
            runtime: tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap(),
        };
        let namespace: Namespace =
            serde_json::from_value(json!({ "metadata": { "name": cluster.namespace } })).unwrap();
        cluster.block_on(|client| async move {
            Api::<Namespace>::all(client)
                .create(&PostParams::default(), &namespace)
                .await
                .expect("create the test namespace");
        });
        cluster
    }

    fn block_on<F, Fut, T>(&self, work: F) -> T
    where
        F: FnOnce(kube::Client) -> Fut,
        Fut: Future<Output = T>,
    {
        self.runtime.block_on(async {
            let kubeconfig =
                kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("SHIPCTL_TEST_KUBECONFIG reads");
            let options = kube::config::KubeConfigOptions { context: self.context.clone(), ..Default::default() };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("a usable kubeconfig");
            work(kube::Client::try_from(config).unwrap()).await
        })
    }

    /// A workspace whose environment (`cluster`, or `production` when protected) is this cluster.
    fn workspace(&self, name: &str, protected: bool) -> Workspace {
        let workspace = Workspace::new();
        let context =
            self.context.as_ref().map(|context| format!("kube_context = \"{context}\"\n")).unwrap_or_default();
        workspace.config(&format!(
            "[environments.{name}]\nprotected = {protected}\nkubeconfig = \"{}\"\n{context}namespace = \"{}\"\n",
            self.kubeconfig.display(),
            self.namespace
        ));
        workspace
    }

    fn image(&self, name: &str) -> String {
        let namespace = self.namespace.clone();
        let name = name.to_string();
        self.block_on(|client| async move {
            let deployment = Api::<Deployment>::namespaced(client, &namespace).get(&name).await.unwrap();
            deployment.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap()
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let namespace = self.namespace.clone();
        self.block_on(|client| async move {
            let _ = Api::<Namespace>::all(client).delete(&namespace, &DeleteParams::default()).await;
        });
    }
}

#[test]
#[ignore = "needs SHIPCTL_TEST_KUBECONFIG: a real cluster"]
fn a_helm_release_is_upgraded_and_rolled_back() {
    let cluster = Cluster::connect("a_helm_release_is_upgraded_and_rolled_back");
    let workspace = cluster.workspace("cluster", false);
    helm_create(&workspace.path().join("charts"), "web");
    workspace.write("release.rhai", RELEASE);
    let (first, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[("tag", "1.26")]);
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error.as_ref().map(ToString::to_string));
    let (second, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[("tag", "1.27"), ("break", "yes")]);
    assert_eq!(second.status, RunStatus::Failed);
    let upgraded = second.effects[0].result.clone().unwrap();
    assert_eq!((upgraded["revision"].as_i64(), upgraded["previous_revision"].as_i64()), (Some(2), Some(1)));
    let rollback = second.effects.last().unwrap();
    assert!(rollback.compensation && rollback.error.is_none(), "{rollback:?}");
    assert_eq!(cluster.image("web"), "nginx:1.26");
}

#[test]
#[ignore = "needs SHIPCTL_TEST_KUBECONFIG: a real cluster"]
fn an_image_that_cannot_be_pulled_is_named() {
    let cluster = Cluster::connect("an_image_that_cannot_be_pulled_is_named");
    let mut object = workload("Deployment", "nope", 1, "registry.invalid/shipctl/nope:1");
    object["metadata"]["namespace"] = json!(cluster.namespace);
    let deployment: Deployment = serde_json::from_value(object).unwrap();
    let namespace = cluster.namespace.clone();
    cluster.block_on(|client| async move {
        Api::<Deployment>::namespaced(client, &namespace).create(&PostParams::default(), &deployment).await.unwrap();
    });
    let workspace = cluster.workspace("cluster", false);
    workspace.write("release.rhai", "wait_healthy(#{ deployment: \"nope\", timeout: \"30s\" });\n");
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    let error = report.effects[0].error.clone().expect("an error");
    assert!(error.contains("is not healthy after 30.0s"), "{error}");
    assert!(error.contains("ImagePullBackOff") || error.contains("ErrImagePull"), "{error}");
}

#[test]
#[ignore = "needs SHIPCTL_TEST_KUBECONFIG: a real cluster"]
fn the_release_lock_is_a_lease() {
    let cluster = Cluster::connect("the_release_lock_is_a_lease");
    let workspace = cluster.workspace("production", true);
    workspace.write(".gitignore", "/.shipctl\n");
    workspace.write("scripts/web/release.rhai", "info(\"hello\");\n");
    crate::support::commit_all(workspace.path(), "scripts");
    let run = || {
        let request =
            shipctl::run::RunRequest::new(workspace.path().join("scripts/web/release.rhai"), "production", Mode::Run);
        shipctl::run::execute(request, Box::new(shipctl::effect::Silent))
    };
    assert_eq!(run().expect("the lock is free").status, RunStatus::Succeeded);

    let lease: Lease = serde_json::from_value(json!({
        "metadata": { "name": "shipctl-release.web.production", "annotations": { "shipctl.dev/user": "alice" } },
        "spec": { "holderIdentity": "someone-else", "leaseDurationSeconds": 300,
                  "renewTime": k8s_openapi::jiff::Timestamp::now().to_string() },
    }))
    .unwrap();
    let namespace = cluster.namespace.clone();
    cluster.block_on(|client| async move {
        Api::<Lease>::namespaced(client, &namespace).create(&PostParams::default(), &lease).await.unwrap();
    });
    let refused = run().expect_err("a live lease holds");
    assert!(refused.to_string().contains("by run someone-else (user alice"), "{refused}");
}
