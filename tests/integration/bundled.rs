//! The repository's own scripts root (`scripts/`, `stdlib/`, `charts/` and its
//! `shipctl.toml`): every bundled release passes its tests and `check`, plans cleanly
//! for each environment it is released to, and deploys only charts that render with
//! the real helm and hold the workloads the release waits for.

use std::ffi::OsStr;
use std::path::Path;

use serde_json::Value;

use crate::kube_support::{self, tool};
use crate::support::Output;

/// The bundled releases, the environments each is released to (and `local`), and the
/// params a plan needs. Each of these plans is pinned by a snapshot
/// (`snapshots_plans::every_bundled_release_plans_as_pinned`).
pub const RELEASES: &[(&str, &[&str], &[&str])] = &[
    ("catalogue", &["local", "staging", "production"], &["version=1.4.0"]),
    ("records", &["local", "staging", "production"], &["version=5.2.0"]),
    ("shop", &["local", "production"], &["version=2.3.0", "commit=4f2a9c1"]),
    ("pipelines", &["local", "development", "staging", "production"], &["version=1.4.0"]),
    ("orders", &["local", "development", "production"], &["version=3.8.0"]),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `program` in the repository's root.
fn run(program: &Path, args: &[&str]) -> Output {
    kube_support::run(program, args, root(), &[("NO_COLOR", OsStr::new("1"))])
}

fn shipctl(args: &[&str]) -> Output {
    run(Path::new(env!("CARGO_BIN_EXE_shipctl")), args)
}

/// The plan of `product`'s release in `environment`, as JSON; it must succeed.
fn plan(product: &str, environment: &str, params: &[&str]) -> Value {
    let script = format!("scripts/{product}/release.rhai");
    let mut args = vec!["plan", script.as_str(), "--env", environment, "--output", "json"];
    for param in params {
        args.extend(["--set", param]);
    }
    let output = shipctl(&args);
    assert_eq!(output.code, 0, "plan of {product} for {environment}: {output:?}");
    let plan = crate::support::run_finished(&output.stdout);
    assert_eq!(plan["status"], "succeeded", "plan of {product} for {environment}: {plan:#}");
    plan
}

fn effects<'a>(plan: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> {
    plan["effects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(move |effect| effect["kind"] == kind)
        .map(|effect| &effect["args"])
}

#[test]
fn every_bundled_release_passes_its_tests_and_check() {
    let tests = shipctl(&["test", "scripts"]);
    assert_eq!(tests.code, 0, "{}{}", tests.stdout, tests.stderr);
    for (product, _, _) in RELEASES {
        assert!(tests.stdout.contains(&format!("scripts/{product}/release.test.rhai")), "{}", tests.stdout);
    }
    assert!(tests.stdout.lines().any(|line| line.ends_with(" passed, 0 failed")), "{}", tests.stdout);
    let check = shipctl(&["check", "scripts", "stdlib"]);
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn every_bundled_release_plans_for_its_environments() {
    for (product, environments, params) in RELEASES {
        for environment in *environments {
            let plan = plan(product, environment, params);
            let kinds: Vec<&str> =
                plan["effects"].as_array().unwrap().iter().filter_map(|effect| effect["kind"].as_str()).collect();
            if *environment == "local" {
                for needs_a_service in ["backup", "promote_image", "helm_upgrade", "wait_healthy", "http_check"] {
                    assert!(!kinds.contains(&needs_a_service), "{product} in local plans {needs_a_service}: {kinds:?}");
                }
            }
        }
    }
}

#[test]
fn a_release_to_an_environment_without_the_products_settings_is_refused() {
    let output = shipctl(&[
        "plan",
        "scripts/shop/release.rhai",
        "--env",
        "staging",
        "--set",
        "version=2.3.0",
        "--set",
        "commit=4f2a9c1",
    ]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("environment \"staging\" has no settings for shop: add [environments.staging.shop]"),
        "{}",
        output.stderr
    );
}

/// `helm template` of the chart a planned `helm_upgrade` deploys, with the same values
/// files, values and `--set` entries.
fn render(helm: &Path, upgrade: &Value) -> String {
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(values.path(), upgrade.get("values").unwrap_or(&Value::Object(Default::default())).to_string())
        .unwrap();
    let values_path = values.path().to_string_lossy().into_owned();
    let release = upgrade["release"].as_str().unwrap();
    let chart = upgrade["chart"].as_str().unwrap();
    let mut args = vec!["template".to_string(), release.to_string(), chart.to_string()];
    for file in upgrade.get("values_files").and_then(Value::as_array).into_iter().flatten() {
        args.extend(["--values".to_string(), file.as_str().unwrap().to_string()]);
    }
    args.extend(["--values".to_string(), values_path]);
    for (key, value) in upgrade.get("set").and_then(Value::as_object).into_iter().flatten() {
        args.extend(["--set-json".to_string(), format!("{key}={value}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rendered = run(helm, &args);
    assert_eq!(rendered.code, 0, "helm {args:?}: {rendered:?}");
    rendered.stdout
}

#[test]
fn every_bundled_chart_renders_and_holds_what_its_release_waits_for() {
    let helm = tool("helm");
    for (product, environments, params) in RELEASES {
        for environment in *environments {
            let plan = plan(product, environment, params);
            let upgrades: Vec<&Value> = effects(&plan, "helm_upgrade").collect();
            let waits: Vec<&str> =
                effects(&plan, "wait_healthy").filter_map(|wait| wait["deployment"].as_str()).collect();
            if upgrades.is_empty() {
                assert!(waits.is_empty(), "{product} in {environment} waits for {waits:?} without deploying");
                continue;
            }
            let rendered: String = upgrades.iter().map(|upgrade| render(&helm, upgrade)).collect();
            for deployment in waits {
                assert!(
                    rendered.contains(&format!("kind: Deployment\nmetadata:\n  name: {deployment}\n")),
                    "{product} in {environment} waits for deployment {deployment}, which its chart does not make:\n{rendered}"
                );
            }
        }
    }
    for chart in std::fs::read_dir(root().join("charts")).unwrap() {
        let chart = chart.unwrap().path();
        let lint = run(&helm, &["lint", "--strict", &chart.to_string_lossy()]);
        assert_eq!(lint.code, 0, "helm lint {}: {lint:?}", chart.display());
    }
}

#[test]
fn the_pipelines_chart_renders_only_with_an_environments_values() {
    let rendered = run(&tool("helm"), &["template", "pipelines", "charts/pipelines"]);
    assert_ne!(rendered.code, 0, "{rendered:?}");
    assert!(rendered.stderr.contains("settings.warehouse: pass the environment's values file"), "{}", rendered.stderr);
}
