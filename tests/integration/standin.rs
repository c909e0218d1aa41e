//! The Kubernetes API stand-in, checked with clients we did not write: the real
//! `kubectl` and `helm` binaries, and kube-rs's watches. What they all accept is close
//! to the real API.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube_standin::{Behaviour, Options, Standin};
use serde_json::json;

use crate::kube_support::{Kubectl, NAMESPACE, client, helm_create, run, standin, tool};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api, tier: backend}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: example/api:1
";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn kubectl_applies_lists_waits_for_a_rollout_and_deletes() {
    let standin = standin();
    // Long enough for kubectl to start and see the rollout in progress, even on a busy machine.
    standin.behave("deployments", NAMESPACE, "api", Behaviour::HealthyAfter(Duration::from_secs(3)));
    let kubectl = Kubectl::new(&standin);
    let manifest = kubectl.file("api.yaml", DEPLOYMENT);

    assert!(kubectl.ok(&["apply", "-f", &manifest]).contains("deployment.apps/api created"));
    assert!(kubectl.ok(&["get", "deployments", "-l", "tier=backend", "-o", "name"]).contains("deployment.apps/api"));
    assert_eq!(kubectl.ok(&["get", "deployments", "-l", "tier in (frontend)", "-o", "name"]).trim(), "");

    let status = kubectl.ok(&["rollout", "status", "deployment/api", "--timeout", "20s"]);
    assert!(status.contains("of 3 updated replicas are available"), "{status}");
    assert!(status.contains("deployment \"api\" successfully rolled out"), "{status}");
    let pods = kubectl.ok(&["get", "pods", "-l", "app=api", "-o", "name"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");

    // A strategic merge patch (kubectl's own) starts a second rollout.
    kubectl.ok(&["set", "image", "deployment/api", "api=example/api:2"]);
    let status = kubectl.ok(&["rollout", "status", "deployment/api", "--timeout", "20s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let image = kubectl.ok(&["get", "deployment", "api", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(image, "example/api:2");
    let generation =
        kubectl.ok(&["get", "deployment", "api", "-o", "jsonpath={.metadata.generation}/{.status.observedGeneration}"]);
    assert_eq!(generation, "2/2");

    assert!(kubectl.ok(&["apply", "--server-side", "-f", &manifest]).contains("serverside-applied"));
    kubectl.ok(&["delete", "deployment", "api"]);
    assert!(standin.list("pods", Some(NAMESPACE)).is_empty(), "pods go with their deployment");
    let missing = kubectl.run(&["get", "deployment", "api"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("NotFound") || missing.stderr.contains("not found"), "{missing:?}");
}

/// A manifest of several kinds for `kubectl apply -f` (kubectl sends these as JSON).
const MIXED: &str = "apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: example/migrate:1}]
";

#[test]
fn kubectl_creates_built_in_kinds_as_protobuf() {
    let standin = standin();
    let kubectl = Kubectl::new(&standin);
    // kubectl's generators send protobuf: one command per kind kubectl and helm write.
    assert!(kubectl.ok(&["create", "namespace", "team"]).contains("namespace/team created"));
    kubectl.ok(&["create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3"]);
    kubectl.ok(&["create", "secret", "generic", "token", "--from-literal=key=s3cret"]);
    kubectl.ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=8080"]);
    kubectl.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    kubectl.ok(&["create", "serviceaccount", "deployer"]);
    kubectl.ok(&["create", "role", "reader", "--verb=get,list", "--resource=pods"]);
    kubectl.ok(&["create", "rolebinding", "reader", "--role=reader", "--serviceaccount=demo:deployer"]);
    kubectl.ok(&["create", "job", "once", "--image=busybox", "--", "echo", "hi"]);
    kubectl.ok(&["create", "ingress", "web", "--rule=web.example/=web:80"]);
    let protobuf =
        standin.requests().iter().filter(|r| r.method == "POST" && r.content_type.contains("protobuf")).count();
    assert!(protobuf >= 10, "{}", standin.request_log());

    let namespace = standin.get("namespaces", "", "team").expect("the namespace");
    assert_eq!(namespace["kind"], "Namespace");
    assert!(namespace["metadata"]["uid"].as_str().is_some_and(|uid| !uid.is_empty()));
    let settings = standin.get("configmaps", NAMESPACE, "settings").unwrap();
    assert_eq!(settings["data"], json!({ "level": "3", "mode": "fast" }));
    assert_eq!(standin.get("secrets", NAMESPACE, "token").unwrap()["data"]["key"], "czNjcmV0");
    let web = standin.get("deployments", NAMESPACE, "web").unwrap();
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(web["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);
    let service = standin.get("services", NAMESPACE, "web").unwrap();
    assert_eq!(service["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(service["spec"]["type"], "ClusterIP");
    let role = standin.get("roles", NAMESPACE, "reader").unwrap();
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "list"]));
    let binding = standin.get("rolebindings", NAMESPACE, "reader").unwrap();
    assert_eq!(binding["roleRef"]["name"], "reader");
    assert_eq!(binding["subjects"][0]["name"], "deployer");
    let job = standin.get("jobs", NAMESPACE, "once").unwrap();
    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["command"], json!(["echo", "hi"]));
    let ingress = standin.get("ingresses", NAMESPACE, "web").unwrap();
    assert_eq!(ingress["spec"]["rules"][0]["host"], "web.example");
    // The generated deployment rolls out like any other.
    let status = kubectl.ok(&["rollout", "status", "deployment/web", "--timeout", "20s"]);
    assert!(status.contains("successfully rolled out"), "{status}");

    let manifest = kubectl.file("mixed.yaml", MIXED);
    let applied = kubectl.ok(&["apply", "-f", &manifest]);
    assert!(applied.contains("service/api created") && applied.contains("job.batch/migrate created"), "{applied}");
    assert_eq!(standin.get("services", NAMESPACE, "api").unwrap()["spec"]["ports"][0]["targetPort"], "http");
    assert!(standin.get("serviceaccounts", NAMESPACE, "runner").is_some());
    let names = kubectl.ok(&["get", "configmaps,services,jobs", "-o", "name"]);
    for name in ["configmap/settings", "service/web", "service/api", "job.batch/once", "job.batch/migrate"] {
        assert!(names.contains(name), "{name} in {names}");
    }
}

/// One raw HTTP/1.1 GET with an `Accept` header: (status line, content type, body).
fn get_accepting(standin: &Standin, path: &str, accept: &str) -> (String, String, String) {
    use std::io::{Read, Write};
    let address = standin.url().trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let content_type = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    (head.lines().next().unwrap().to_string(), content_type, body.to_string())
}

#[test]
fn asked_for_protobuf_the_standin_answers_json_or_not_acceptable() {
    let standin = standin();
    let path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
    let (status, content_type, body) =
        get_accepting(&standin, &path, "application/vnd.kubernetes.protobuf, application/json");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(content_type, "application/json");
    assert!(body.contains("ConfigMapList"), "{body}");
    let (status, content_type, body) = get_accepting(&standin, &path, "application/vnd.kubernetes.protobuf");
    assert!(status.contains(" 406 "), "{status}");
    assert_eq!(content_type, "application/json");
    assert!(body.contains("NotAcceptable"), "{body}");
    let (status, _, _) = get_accepting(&standin, &path, "*/*");
    assert!(status.contains(" 200 "), "{status}");
}

#[test]
fn helm_installs_upgrades_and_rolls_back() {
    let standin = standin();
    let dir = tempfile::tempdir().unwrap();
    let chart = helm_create(dir.path(), "web");
    let helm = tool("helm");
    let kubeconfig = standin.kubeconfig();
    let chart = chart.to_string_lossy().into_owned();
    let helm_run = |args: &[&str]| {
        let output = run(&helm, args, dir.path(), &[("KUBECONFIG", kubeconfig.as_os_str())]);
        assert_eq!(output.code, 0, "helm {args:?}: {output:?}\n{}", standin.request_log());
        output.stdout
    };
    helm_run(&["upgrade", "--install", "web", &chart, "-n", NAMESPACE, "--wait", "--timeout", "30s"]);
    helm_run(&["upgrade", "web", &chart, "-n", NAMESPACE, "--set", "image.tag=1.27", "--wait", "--timeout", "30s"]);
    let deployment = standin.get("deployments", NAMESPACE, "web").expect("the chart's deployment");
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    helm_run(&["rollback", "web", "1", "-n", NAMESPACE, "--wait"]);
    let history: serde_json::Value =
        serde_json::from_str(&helm_run(&["history", "web", "-n", NAMESPACE, "-o", "json"])).unwrap();
    let statuses: Vec<&str> =
        history.as_array().unwrap().iter().map(|entry| entry["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["superseded", "superseded", "deployed"]);
    let deployment = standin.get("deployments", NAMESPACE, "web").unwrap();
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.0");

    // Helm keeps its releases as Secrets, written as protobuf; the stand-in decoded them.
    let mut releases: Vec<String> = standin
        .list("secrets", Some(NAMESPACE))
        .iter()
        .filter(|secret| secret["type"] == "helm.sh/release.v1" && secret["metadata"]["labels"]["owner"] == "helm")
        .map(|secret| secret["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    releases.sort();
    assert_eq!(releases, ["sh.helm.release.v1.web.v1", "sh.helm.release.v1.web.v2", "sh.helm.release.v1.web.v3"]);
    let requests = standin.requests();
    assert!(requests.iter().any(|r| r.method == "POST" && r.content_type.contains("protobuf")));
    assert!(requests.iter().any(|r| r.method == "PATCH" && r.content_type == "application/apply-patch+yaml"));
}

/// The pods of `app` and the Deployment's status counts, as the server holds them.
fn pods_and_status(standin: &Standin, name: &str) -> (usize, serde_json::Value) {
    let pods = standin
        .list("pods", Some(NAMESPACE))
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"]["app.kubernetes.io/name"] == name)
        .count();
    let deployment = standin.get("deployments", NAMESPACE, name).expect("the deployment");
    let status = &deployment["status"];
    let counts = json!([
        deployment["spec"]["replicas"],
        status["replicas"],
        status["updatedReplicas"],
        status["readyReplicas"],
        status["availableReplicas"],
        status["observedGeneration"] == deployment["metadata"]["generation"],
    ]);
    (pods, counts)
}

#[test]
fn helm_rollback_waits_for_a_scale_down_and_kubectl_for_scaling() {
    let standin = standin();
    let dir = tempfile::tempdir().unwrap();
    let chart = helm_create(dir.path(), "web");
    let helm = tool("helm");
    let kubeconfig = standin.kubeconfig();
    let chart = chart.to_string_lossy().into_owned();
    let helm_run = |args: &[&str]| {
        let output = run(&helm, args, dir.path(), &[("KUBECONFIG", kubeconfig.as_os_str())]);
        assert_eq!(output.code, 0, "helm {args:?}: {output:?}\n{}", standin.request_log());
        output.stdout
    };
    let wait = ["-n", NAMESPACE, "--wait", "--timeout", "30s"];
    helm_run(&[&["upgrade", "--install", "web", &chart][..], &wait].concat());
    assert_eq!(pods_and_status(&standin, "web"), (1, json!([1, 1, 1, 1, 1, true])));

    // Up to 3, same template: the ReplicaSet scales up.
    helm_run(&[&["upgrade", "web", &chart, "--set", "replicaCount=3"][..], &wait].concat());
    assert_eq!(pods_and_status(&standin, "web"), (3, json!([3, 3, 3, 3, 3, true])));
    // Back to 1: helm's --wait completes only once the surplus pods are terminated.
    let started = Instant::now();
    helm_run(&["rollback", "web", "1", "-n", NAMESPACE, "--wait", "--timeout", "30s"]);
    assert!(started.elapsed() < Duration::from_secs(20), "rollback took {:?}", started.elapsed());
    assert_eq!(pods_and_status(&standin, "web"), (1, json!([1, 1, 1, 1, 1, true])));

    // Up to 3 with a new image: a new ReplicaSet, the old one's pod terminated; then back.
    let scale_up = ["upgrade", "web", &chart, "--set", "replicaCount=3", "--set", "image.tag=1.27"];
    helm_run(&[&scale_up[..], &wait].concat());
    assert_eq!(pods_and_status(&standin, "web"), (3, json!([3, 3, 3, 3, 3, true])));
    helm_run(&["rollback", "web", "1", "-n", NAMESPACE, "--wait", "--timeout", "30s"]);
    assert_eq!(pods_and_status(&standin, "web"), (1, json!([1, 1, 1, 1, 1, true])));
    let pod = standin.list("pods", Some(NAMESPACE)).into_iter().next().unwrap();
    assert_eq!(pod["spec"]["containers"][0]["image"], "nginx:1.16.0");
    let replica_sets: Vec<(String, i64)> = standin
        .list("replicasets", Some(NAMESPACE))
        .iter()
        .map(|rs| {
            let revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().unwrap();
            (revision.to_string(), rs["spec"]["replicas"].as_i64().unwrap())
        })
        .collect();
    assert!(replica_sets.contains(&("3".to_string(), 1)), "the first ReplicaSet taken up again: {replica_sets:?}");
    assert!(replica_sets.contains(&("2".to_string(), 0)), "{replica_sets:?}");

    // The same template scaled 1 → 3 → 1 by kubectl: the ReplicaSet is kept, pods come and go.
    let kubectl = Kubectl::new(&standin);
    for (replicas, expected) in [(3, json!([3, 3, 3, 3, 3, true])), (1, json!([1, 1, 1, 1, 1, true]))] {
        let patch = format!("{{\"spec\":{{\"replicas\":{replicas}}}}}");
        kubectl.ok(&["patch", "deployment", "web", "-p", &patch]);
        let status = kubectl.ok(&["rollout", "status", "deployment/web", "--timeout", "20s"]);
        assert!(status.contains("successfully rolled out"), "{status}");
        assert_eq!(pods_and_status(&standin, "web"), (replicas, expected));
    }
    assert_eq!(standin.list("replicasets", Some(NAMESPACE)).len(), 2);
}

const STATEFUL_SET: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  updateStrategy: {type: RollingUpdate}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: example/db:1}]
";

#[test]
fn a_stateful_set_scaled_down_terminates_its_highest_ordinals() {
    let standin = standin();
    let kubectl = Kubectl::new(&standin);
    kubectl.ok(&["apply", "-f", &kubectl.file("db.yaml", STATEFUL_SET)]);
    kubectl.ok(&["rollout", "status", "statefulset/db", "--timeout", "20s"]);
    kubectl.ok(&["patch", "statefulset", "db", "-p", "{\"spec\":{\"replicas\":1}}"]);
    let status = kubectl.ok(&["rollout", "status", "statefulset/db", "--timeout", "20s"]);
    assert!(status.contains("roll out complete") || status.contains("rolling update complete"), "{status}");
    let mut pods: Vec<String> = standin
        .list("pods", Some(NAMESPACE))
        .iter()
        .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    pods.sort();
    assert_eq!(pods, ["db-0"]);
    let db = standin.get("statefulsets", NAMESPACE, "db").unwrap();
    assert_eq!((db["status"]["replicas"].as_i64(), db["status"]["readyReplicas"].as_i64()), (Some(1), Some(1)));
}

#[test]
fn kube_watches_follow_changes_with_bookmarks_and_streaming_lists() {
    let standin = standin();
    runtime().block_on(async {
        let client = client(&standin).await;
        let config_maps: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
        let settings = |value: &str| -> ConfigMap {
            serde_json::from_value(
                json!({ "metadata": { "name": "settings", "labels": { "app": "web" } }, "data": { "mode": value } }),
            )
            .unwrap()
        };
        config_maps.create(&PostParams::default(), &settings("a")).await.unwrap();

        for streaming in [false, true] {
            let config = watcher::Config::default().labels("app=web");
            let config = if streaming { config.streaming_lists() } else { config };
            let mut stream = watcher(config_maps.clone(), config).boxed();
            let mut seen = Vec::new();
            let writer = config_maps.clone();
            let mode = if streaming { "c" } else { "b" };
            while let Some(event) =
                tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await.unwrap().unwrap()
            {
                match event {
                    watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                        let value = object.data.unwrap_or_default().get("mode").cloned().unwrap_or_default();
                        seen.push(value.clone());
                        if value == mode {
                            break;
                        }
                    }
                    watcher::Event::InitDone => {
                        let patch = Patch::Merge(json!({ "data": { "mode": mode } }));
                        writer.patch("settings", &PatchParams::default(), &patch).await.unwrap();
                    }
                    _ => {}
                }
            }
            assert_eq!(seen.last().map(String::as_str), Some(mode), "streaming={streaming}: {seen:?}");
        }
        let log = standin.request_log();
        assert!(log.contains("sendInitialEvents=true"), "{log}");
        assert!(log.contains("allowWatchBookmarks=true"), "{log}");

        // A stale resourceVersion on PUT is a conflict.
        let current = config_maps.get("settings").await.unwrap();
        let mut stale = current.clone();
        stale.metadata.resource_version = Some("1".to_string());
        let error = config_maps.replace("settings", &PostParams::default(), &stale).await.unwrap_err();
        assert!(
            matches!(&error, kube::Error::Api(status) if status.code == 409 && status.reason == "Conflict"),
            "{error}"
        );
        // Creating it again: AlreadyExists.
        let error = config_maps.create(&PostParams::default(), &settings("x")).await.unwrap_err();
        assert!(
            matches!(&error, kube::Error::Api(status) if status.code == 409 && status.reason == "AlreadyExists"),
            "{error}"
        );
        // Set-based selectors.
        let found = config_maps.list(&ListParams::default().labels("app in (web,api),!missing")).await.unwrap();
        assert_eq!(found.items.len(), 1);
        let found = config_maps.list(&ListParams::default().labels("app notin (web)")).await.unwrap();
        assert!(found.items.is_empty());
    });
}

#[test]
fn a_watch_from_a_forgotten_resource_version_gets_gone() {
    let options = Options { history: 3, namespaces: vec![NAMESPACE.to_string()], ..Options::default() };
    let standin = Standin::start_with(options).unwrap();
    runtime().block_on(async {
        let config_maps: Api<ConfigMap> = Api::namespaced(client(&standin).await, NAMESPACE);
        for index in 0..6 {
            let object: ConfigMap =
                serde_json::from_value(json!({ "metadata": { "name": format!("c{index}") } })).unwrap();
            config_maps.create(&PostParams::default(), &object).await.unwrap();
        }
        let mut events = config_maps.watch(&WatchParams::default(), "1").await.unwrap().boxed();
        let first = tokio::time::timeout(Duration::from_secs(5), events.try_next()).await.unwrap().unwrap();
        match first {
            Some(WatchEvent::Error(status)) => assert_eq!(status.code, 410, "{status:?}"),
            other => panic!("expected 410 Gone, got {other:?}"),
        }
    });
}

#[test]
fn the_controller_lags_like_the_real_one_and_reports_failing_pods() {
    let standin = standin();
    standin.set_behaviour(Behaviour::HealthyAfter(Duration::from_millis(50)));
    runtime().block_on(async {
        let client = client(&standin).await;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
        let deployment: Deployment = serde_yaml_from(DEPLOYMENT);
        deployments.create(&PostParams::default(), &deployment).await.unwrap();
        let completed = |d: &Deployment| {
            let status = d.status.clone().unwrap_or_default();
            status.observed_generation == d.metadata.generation && status.available_replicas == Some(3)
        };
        wait_until(&deployments, "api", completed).await;

        // Right after a spec change the status still describes the previous rollout.
        standin.set_observe_delay(Duration::from_millis(400));
        standin.behave("deployments", NAMESPACE, "api", Behaviour::CrashLoop);
        let patch = Patch::Strategic(json!({ "spec": { "template": { "spec": { "containers": [{ "name": "api", "image": "example/api:broken" }] } } } }));
        let patched = deployments.patch("api", &PatchParams::default(), &patch).await.unwrap();
        assert_eq!(patched.metadata.generation, Some(2));
        let status = patched.status.unwrap();
        assert_eq!(status.observed_generation, Some(1), "the controller has not caught up yet");
        let progressing = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Progressing").unwrap();
        assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetAvailable"), "the previous rollout's condition");

        let observed = |d: &Deployment| d.status.as_ref().and_then(|s| s.observed_generation) == Some(2);
        wait_until(&deployments, "api", observed).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
        let crashing = pods.list(&ListParams::default().labels("app=api")).await.unwrap();
        let waiting = |pod: &Pod| {
            pod.status.as_ref()?.container_statuses.as_ref()?.first()?.state.as_ref()?.waiting.as_ref()?.reason.clone()
        };
        let reasons: Vec<String> = crashing.items.iter().filter_map(waiting).collect();
        assert_eq!(reasons, ["CrashLoopBackOff"; 3], "the three new pods crash; the old ones are kept");
        let crashed = crashing.items.iter().find(|pod| waiting(pod).is_some()).unwrap();
        let name = crashed.metadata.name.clone().unwrap();
        let events: Api<Event> = Api::namespaced(client, NAMESPACE);
        let events = events.list(&ListParams::default().fields(&format!("involvedObject.name={name}"))).await.unwrap();
        assert_eq!(events.items[0].reason.as_deref(), Some("BackOff"));
    });
}

async fn wait_until(api: &Api<Deployment>, name: &str, condition: impl Fn(&Deployment) -> bool) {
    let started = Instant::now();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api.clone(), config).boxed();
    while started.elapsed() < Duration::from_secs(10) {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await.unwrap().unwrap();
        if let Some(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) = event
            && condition(&object)
        {
            return;
        }
    }
    panic!("{name} did not reach the condition");
}

fn serde_yaml_from<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_saphyr::from_str(text).unwrap()
}
