//! `helm_upgrade` and `helm_rollback` through script runs, with the real helm binary
//! against the stand-in: install, upgrade, rollback as a compensation, values, helm's
//! errors, and plans that never write to the cluster.

use kube_standin::Standin;
use shipctl::effect::Mode;
use shipctl::journal::{Record, RunStatus};

use crate::kube_support::{NAMESPACE, environment, execute, helm_create, standin, workspace};
use crate::support::Workspace;

/// Upgrade to `tag`, undo it if a later step fails, wait, and fail on `--set break=yes`.
pub const RELEASE: &str = r#"let tag = param("tag");
let up = helm_upgrade(#{ release: "web", chart: "charts/web", set: #{ "image.tag": tag }, timeout: "30s" });
if up.previous_revision > 0 {
    on_failure(|| helm_rollback(#{ release: "web", revision: up.previous_revision, wait: true }));
}
wait_healthy(#{ deployment: "web", timeout: "30s" });
if param("break", "no") == "yes" {
    fail("the smoke test failed");
}
"#;

fn release_workspace(standin: &Standin) -> Workspace {
    let workspace = workspace(standin);
    helm_create(&workspace.path().join("charts"), "web");
    workspace.write("release.rhai", RELEASE);
    workspace
}

fn image(standin: &Standin) -> String {
    let deployment = standin.get("deployments", NAMESPACE, "web").expect("the chart's deployment");
    deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string()
}

#[test]
fn install_upgrade_and_a_rollback_as_compensation() {
    let standin = standin();
    let workspace = release_workspace(&standin);

    let (first, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[("tag", "1.26")]);
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error.as_ref().map(ToString::to_string));
    let installed = first.effects[0].result.clone().unwrap();
    assert_eq!((installed["revision"].as_i64(), installed["previous_revision"].as_i64()), (Some(1), Some(0)));
    assert_eq!(installed["chart"], "web");
    assert_eq!(installed["chart_version"], "0.1.0");
    assert_eq!(installed["app_version"], "1.16.0");
    assert_eq!(installed["status"], "deployed");
    assert!(installed["diff"].as_str().unwrap().contains("+ Deployment web (new)"), "{installed}");
    assert_eq!(image(&standin), "nginx:1.26");

    // The second release upgrades, then a later step fails: the compensation rolls back
    // to revision 1.
    let (second, lines) = execute(&workspace, "release.rhai", Mode::Run, false, &[("tag", "1.27"), ("break", "yes")]);
    assert_eq!(second.status, RunStatus::Failed);
    assert!(second.error.as_ref().unwrap().to_string().contains("the smoke test failed"));
    let upgraded = second.effects[0].result.clone().unwrap();
    assert_eq!((upgraded["revision"].as_i64(), upgraded["previous_revision"].as_i64()), (Some(2), Some(1)));
    let diff = upgraded["diff"].as_str().unwrap();
    assert!(diff.starts_with("~ Deployment web\n"), "{diff}");
    assert!(diff.contains("-          image: \"nginx:1.26\"\n+          image: \"nginx:1.27\"\n"), "{diff}");
    let rollback = second.effects.last().unwrap();
    assert_eq!(rollback.kind, "helm_rollback");
    assert!(rollback.compensation);
    let rolled = rollback.result.clone().expect("the rollback succeeded");
    assert_eq!((rolled["revision"].as_i64(), rolled["rolled_back_to"].as_i64()), (Some(3), Some(1)));
    assert_eq!(image(&standin), "nginx:1.26", "back to revision 1's image");
    assert!(lines.iter().any(|line| line.contains("helm rollback web to revision 1 in demo")), "{lines:?}");

    // The journal shows all of it: upgrade, wait, the failure, the compensation.
    let journal = workspace.journal(&second);
    let outcomes: Vec<(String, bool)> = journal
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Outcome(outcome) => Some((outcome.kind.clone(), outcome.ok)),
            _ => None,
        })
        .collect();
    let expected = [("helm_upgrade", true), ("wait_healthy", true), ("helm_rollback", true)];
    assert_eq!(outcomes, expected.map(|(kind, ok)| (kind.to_string(), ok)));
    let compensation = journal.records.iter().any(
        |record| matches!(record, Record::Intent(intent) if intent.kind == "helm_rollback" && intent.compensation),
    );
    assert!(compensation, "the rollback is journaled as a compensation");
    let footer = journal.footer().expect("a footer");
    assert_eq!(footer.status, RunStatus::Failed);
    assert!(footer.error.as_deref().unwrap().contains("the smoke test failed"));
}

#[test]
fn plans_never_write_to_the_cluster_and_refresh_shows_the_diff() {
    let standin = standin();
    let workspace = release_workspace(&standin);
    let (installed, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[("tag", "1.26")]);
    assert_eq!(installed.status, RunStatus::Succeeded);

    standin.clear_requests();
    let (plan, _) = execute(&workspace, "release.rhai", Mode::Plan, false, &[("tag", "1.27")]);
    assert_eq!(plan.status, RunStatus::Succeeded);
    assert!(standin.requests().is_empty(), "a plan asks the cluster nothing:\n{}", standin.request_log());

    let planned = workspace.shipctl(&["plan", "release.rhai", "--env", "cluster", "--set", "tag=1.27", "--refresh"]);
    assert_eq!(planned.code, 0, "{planned:?}");
    assert!(!standin.requests().is_empty(), "--refresh reads the cluster");
    assert!(standin.writes().is_empty(), "but writes nothing:\n{}", standin.request_log());
    let stdout = &planned.stdout;
    assert!(stdout.contains("helm_upgrade"), "{stdout}");
    assert!(stdout.contains("~ Deployment web"), "the plan prints the diff: {stdout}");
    assert!(stdout.contains("-          image: \"nginx:1.26\""), "{stdout}");
    assert!(stdout.contains("+          image: \"nginx:1.27\""), "{stdout}");
    assert!(!stdout.contains("Service web"), "unchanged resources are not shown: {stdout}");
    assert!(stdout.contains("helm_rollback"), "the compensation is planned: {stdout}");

    let (refreshed, _) = execute(&workspace, "release.rhai", Mode::Plan, true, &[("tag", "1.27")]);
    let upgrade = refreshed.effects[0].result.clone().unwrap();
    assert_eq!((upgrade["revision"].as_i64(), upgrade["previous_revision"].as_i64()), (Some(2), Some(1)));
    let rollback = refreshed.effects.iter().find(|effect| effect.kind == "helm_rollback").unwrap();
    let rollback = rollback.result.clone().unwrap();
    assert_eq!((rollback["revision"].as_i64(), rollback["rolled_back_to"].as_i64()), (Some(2), Some(1)));
    assert!(standin.writes().is_empty(), "{}", standin.request_log());
    assert_eq!(image(&standin), "nginx:1.26", "nothing changed");
}

#[test]
fn values_set_and_values_files_reach_the_chart() {
    let standin = standin();
    let workspace = workspace(&standin);
    helm_create(&workspace.path().join("charts"), "web");
    workspace.write("values/production.yaml", "service:\n  port: 8080\n");
    workspace.write(
        "release.rhai",
        r#"helm_upgrade(#{ release: "web", chart: "charts/web", values_files: ["values/production.yaml"],
    values: #{ replicaCount: 2, image: #{ tag: "1.25" } },
    set: #{ "podAnnotations.note": "a,b", "image.tag": "1.27" } });
"#,
    );
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error.as_ref().map(ToString::to_string));
    let deployment = standin.get("deployments", NAMESPACE, "web").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2, "values");
    assert_eq!(image(&standin), "nginx:1.27", "set wins over values");
    assert_eq!(deployment["spec"]["template"]["metadata"]["annotations"]["note"], "a,b", "set keeps commas");
    let service = standin.get("services", NAMESPACE, "web").unwrap();
    assert_eq!(service["spec"]["ports"][0]["port"], 8080, "values files");
}

#[test]
fn a_failed_upgrade_keeps_helms_stderr_and_atomic_rolls_back() {
    let standin = standin();
    let workspace = workspace(&standin);
    helm_create(&workspace.path().join("charts"), "web");
    workspace.write("missing.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/nope\" });\n");
    let (report, _) = execute(&workspace, "missing.rhai", Mode::Run, false, &[]);
    let error = report.effects[0].error.clone().expect("an error");
    assert!(error.starts_with("helm upgrade web failed (exit code 1): Error:"), "{error}");

    workspace.write("release.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\n");
    assert_eq!(execute(&workspace, "release.rhai", Mode::Run, false, &[]).0.status, RunStatus::Succeeded);
    // The broken version's pods crash (the stand-in reads the knob from the pod
    // template); the version helm rolls back to is fine.
    workspace.write(
        "atomic.rhai",
        r#"helm_upgrade(#{ release: "web", chart: "charts/web", atomic: true, timeout: "2s",
    set: #{ "image.tag": "broken", "podAnnotations.standin\\.shipctl\\.dev/behaviour": "crash-loop" } });
"#,
    );
    let (report, _) = execute(&workspace, "atomic.rhai", Mode::Run, false, &[]);
    let error = report.effects[0].error.clone().expect("an error");
    assert!(error.contains("UPGRADE FAILED"), "{error}");
    assert!(error.contains("rolled back"), "{error}");
    assert_eq!(image(&standin), "nginx:1.16.0", "helm rolled back by itself");
}

#[test]
fn a_missing_helm_says_how_to_get_one() {
    let standin = standin();
    let workspace = Workspace::new();
    workspace.config(&format!("[helm]\nbin = \"tools/helm\"\n\n{}", environment("cluster", &standin, false)));
    workspace.write("release.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\n");
    let (report, _) = execute(&workspace, "release.rhai", Mode::Run, false, &[]);
    let error = report.error.expect("an error");
    assert!(error.message.contains("helm not found (looked for "), "{}", error.message);
    assert!(error.message.contains("tools/helm"), "{}", error.message);
    assert!(error.help.as_deref().unwrap_or("").contains("[helm] bin"), "{error:?}");
}
