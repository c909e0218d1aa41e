//! Plan returns a mock of exactly the shape a live call returns, for every primitive.

use serde_json::Value;
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;

use crate::kube_support::{environment, helm_create, standin, workload};
use crate::postgres::{PASSWORD, Postgres};
use crate::registry::{OCI_MANIFEST, Registry};
use crate::support::{HttpServer, Workspace, git_repository};

/// The shape of a value: object keys with the shapes of their values, and JSON types.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(key, value)| (key.clone(), shape(value))).collect()),
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(number) if number.is_f64() => "float".into(),
        Value::Number(_) => "integer".into(),
        Value::String(_) => "string".into(),
    }
}

#[test]
fn live_and_plan_results_have_the_same_shape() {
    let server = HttpServer::start(&[(200, "ok")]);
    let postgres = Postgres::start();
    postgres.seed("app", 3);
    let registry = Registry::start();
    registry.push_image("web", "1.0.0", OCI_MANIFEST, "shape");
    let cluster = standin();
    cluster.put(workload("Deployment", "web", 2, "web:1")).unwrap();
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &format!("{}/hook", server.url));
    workspace.write("secrets/db", PASSWORD);
    workspace.write("files/a.txt", "a");
    workspace.config(&format!(
        "[repos.app]\npath = \"repos/app\"\n\n[secrets.hook]\nfile = \"secrets/hook\"\n\n[notify.chat]\nkind = \"slack\"\nurl_secret = \"hook\"\n\n[notify.log]\nkind = \"stdout\"\n\n[secrets.db]\nfile = \"secrets/db\"\n\n[databases.main]\nurl = \"{}\"\npassword_secret = \"db\"\n\n{}",
        postgres.url("app"),
        environment("local", &cluster, false)
    ));
    git_repository(&workspace.path().join("repos/app"));
    helm_create(&workspace.path().join("charts"), "site");
    // One call per primitive; a primitive without a call here fails the test below.
    let calls = [
        ("now", "now()".to_string()),
        ("tag", "tag(#{ repo: \"app\", name: \"1.0.0\", message: \"m\" })".to_string()),
        ("notify", "notify(#{ channel: \"chat\", text: \"t\" })".to_string()),
        ("notify", "notify(#{ channel: \"log\", text: \"t\" })".to_string()),
        ("http_check", format!("http_check(#{{ url: \"{}/health\" }})", server.url)),
        ("backup", "let dump = backup(#{ postgres: \"main\", label: \"l\" })".to_string()),
        ("backup", "backup(#{ files: \"files\" })".to_string()),
        ("restore", "restore(#{ backup: dump })".to_string()),
        (
            "promote_image",
            format!(
                "promote_image(#{{ from: \"{}\", to: \"{}\" }})",
                registry.image("web", "1.0.0"),
                registry.image("web", "production")
            ),
        ),
        ("approve", "approve(#{ reason: \"shapes\" })".to_string()),
        ("wait_healthy", "wait_healthy(#{ deployment: \"web\", timeout: \"30s\" })".to_string()),
        ("helm_upgrade", "helm_upgrade(#{ release: \"site\", chart: \"charts/site\" })".to_string()),
        (
            "helm_upgrade",
            "helm_upgrade(#{ release: \"site\", chart: \"charts/site\", set: #{ replicaCount: 2 } })".to_string(),
        ),
        ("helm_rollback", "helm_rollback(#{ release: \"site\" })".to_string()),
    ];
    let covered: std::collections::BTreeSet<&str> = calls.iter().map(|(kind, _)| *kind).collect();
    for name in shipctl::primitives::registry().names() {
        assert!(covered.contains(name), "primitive {name} has no shape check");
    }
    let script: String = calls.iter().map(|(_, call)| format!("{call};\n")).collect();
    workspace.write("shapes.rhai", &script);
    let plan = workspace.plan("shapes.rhai", &[]);
    let live = workspace.execute("shapes.rhai", Mode::Run, "local", &[], None).unwrap();
    assert_eq!(live.status, RunStatus::Succeeded, "{:?}", live.error);
    assert_eq!(plan.effects.len(), calls.len());
    for (planned, performed) in plan.effects.iter().zip(&live.effects) {
        let planned_shape = shape(planned.result.as_ref().unwrap());
        let live_shape = shape(performed.result.as_ref().unwrap());
        assert_eq!(planned_shape, live_shape, "{} differs between plan and live", planned.kind);
        assert!(!planned_shape.to_string().contains("null"), "{}: results have no null fields", planned.kind);
    }
}
