//! Plan returns a mock of exactly the shape a live call returns, for every primitive:
//! the calls are `shapes/<primitive>.rhai`, one file per primitive, found through the
//! registry.

use std::path::Path;

use serde_json::Value;
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;

use crate::kube_support::{environment, helm_create, standin, workload};
use crate::postgres::{PASSWORD, Postgres};
use crate::registry::{OCI_MANIFEST, Registry};
use crate::support::{HttpServer, Workspace, git_repository};

/// The calls of the shape test: `shapes/<name>.rhai` for every registered primitive,
/// joined in registry order (a file may use what an earlier one bound: `restore` the
/// `backup`'s `dump`). A primitive without its file, or a file naming no primitive,
/// fails the test.
fn shape_script() -> String {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/shapes");
    let names = shipctl::primitives::registry().names();
    for entry in std::fs::read_dir(&directory).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let name = file.strip_suffix(".rhai").unwrap_or(&file);
        assert!(names.contains(&name), "shapes/{file} is not a registered primitive's shape check");
    }
    let read = |name: &str| {
        std::fs::read_to_string(directory.join(format!("{name}.rhai")))
            .unwrap_or_else(|error| panic!("primitive {name} has no shape check, shapes/{name}.rhai: {error}"))
    };
    names.into_iter().map(read).collect()
}

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
    let script = shape_script();
    workspace.write("shapes.rhai", &script);
    let params = [
        ("server", server.url.clone()),
        ("image", registry.image("web", "1.0.0")),
        ("promoted", registry.image("web", "production")),
    ];
    let params: Vec<(&str, &str)> = params.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let plan = workspace.plan("shapes.rhai", &params);
    let live = workspace.execute("shapes.rhai", Mode::Run, "local", &params, None).unwrap();
    assert_eq!(live.status, RunStatus::Succeeded, "{:?}", live.error);
    assert_eq!(plan.effects.len(), live.effects.len());
    for name in shipctl::primitives::registry().names() {
        assert!(plan.effects.iter().any(|effect| effect.kind == name), "shapes/{name}.rhai does not call {name}");
    }
    for (planned, performed) in plan.effects.iter().zip(&live.effects) {
        let planned_shape = shape(planned.result.as_ref().unwrap());
        let live_shape = shape(performed.result.as_ref().unwrap());
        assert_eq!(planned_shape, live_shape, "{} differs between plan and live", planned.kind);
        assert!(!planned_shape.to_string().contains("null"), "{}: results have no null fields", planned.kind);
    }
}
