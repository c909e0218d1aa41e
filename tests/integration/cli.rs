//! The built binary end to end: commands, output, exit codes.

use crate::support::{Workspace, git_repository};

const RELEASE: &str = "let version = param(\"version\");\nstep(\"Announce\", || {\n    notify(#{ channel: \"log\", text: `v${version}` });\n});\n";

fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n\n[environments.production]\nprotected = true\n\n[environments.frozen]\ndeny = [\"notify\"]\n");
    workspace.write("scripts/web/release.rhai", RELEASE);
    workspace
}

#[test]
fn run_prints_effects_and_the_journal_and_exits_zero() {
    let workspace = workspace();
    let output = workspace.shipctl(&["run", "scripts/web/release.rhai", "--set", "version=1.2.0"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("Announce"), "{}", output.stdout);
    assert!(output.stdout.contains("✓ notify"), "{}", output.stdout);
    assert!(output.stdout.contains("[log] v1.2.0"), "{}", output.stdout);
    assert!(output.stdout.contains("succeeded in"), "{}", output.stdout);
    let journal = workspace.journals().pop().expect("a journal");
    assert!(output.stdout.contains(&format!("journal: {}", journal.display())), "{}", output.stdout);
}

#[test]
fn plan_prints_numbered_effects_by_step() {
    let workspace = workspace();
    let output = workspace.shipctl(&["plan", "scripts/web/release.rhai", "--set", "version=1.2.0"]);
    assert_eq!(output.code, 0, "{output:?}");
    insta::assert_snapshot!(output.stdout);
    assert!(workspace.journals().is_empty());
}

#[test]
fn plan_as_json() {
    let workspace = workspace();
    let output = workspace.shipctl(&["plan", "scripts/web/release.rhai", "--set", "version=1.2.0", "--output", "json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let plan = crate::support::run_finished(&output.stdout);
    assert_eq!(plan["status"], "succeeded");
    let effects = plan["effects"].as_array().unwrap();
    assert_eq!(effects.len(), 1);
    assert_eq!(effects[0]["kind"], "notify");
    assert_eq!(effects[0]["step"], "Announce");
    assert_eq!(effects[0]["args"]["text"], "v1.2.0");
    assert_eq!(effects[0]["origin"]["line"], 3);
}

#[test]
fn plan_with_journal_keeps_one() {
    let workspace = workspace();
    let output = workspace.shipctl(&["plan", "scripts/web/release.rhai", "--set", "version=1.2.0", "--journal"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(workspace.journals().len(), 1);
}

#[test]
fn check_reports_every_broken_script() {
    let workspace = workspace();
    workspace.write("scripts/api/release.rhai", "let x = ;\n");
    workspace.write("scripts/db/release.rhai", "tag(#{ repo: \"db\", nmae: \"1\", message: \"m\" });\n");
    let output = workspace.shipctl(&["check"]);
    assert_eq!(output.code, 3, "{output:?}");
    assert!(output.stdout.contains("ok     "), "{}", output.stdout);
    assert!(output.stderr.contains("scripts/api/release.rhai:1:9"), "{}", output.stderr);
    assert!(output.stderr.contains("scripts/db/release.rhai:1:20"), "{}", output.stderr);
    assert!(output.stderr.contains("2 of 3 scripts have errors"), "{}", output.stderr);
    let good = workspace.shipctl(&["check", "scripts/web"]);
    assert_eq!(good.code, 0, "{good:?}");
}

#[test]
fn history_lists_runs_newest_first() {
    let workspace = workspace();
    assert_eq!(workspace.shipctl(&["run", "scripts/web/release.rhai", "--set", "version=1"]).code, 0);
    workspace.write("scripts/web/fail.rhai", "fail(\"nope\");\n");
    assert_eq!(workspace.shipctl(&["run", "scripts/web/fail.rhai"]).code, 1);
    let output = workspace.shipctl(&["history"]);
    assert_eq!(output.code, 0, "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", output.stdout);
    assert!(lines[0].starts_with("RUN"));
    assert!(lines[1].contains("scripts/web/fail.rhai") && lines[1].contains("failed"), "{}", output.stdout);
    assert!(lines[2].contains("scripts/web/release.rhai") && lines[2].contains("succeeded"), "{}", output.stdout);
    let json = workspace.shipctl(&["history", "--output", "json", "-n", "1"]);
    let runs: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["status"], "failed");
}

#[test]
fn exit_codes() {
    let workspace = workspace();
    let missing = workspace.shipctl(&["run", "scripts/web/release.rhai"]);
    assert_eq!(missing.code, 2, "missing param: {missing:?}");
    assert!(missing.stderr.contains("scripts/web/release.rhai:1:15"), "{}", missing.stderr);
    assert_eq!(workspace.shipctl(&["run", "scripts/web/release.rhai", "--env", "nowhere"]).code, 2);
    assert_eq!(workspace.shipctl(&["run", "scripts/web/release.rhai", "--set", "novalue"]).code, 2);
    assert_eq!(workspace.shipctl(&["frobnicate"]).code, 2);
    workspace.write("scripts/web/broken.rhai", "let = 1;\n");
    assert_eq!(workspace.shipctl(&["run", "scripts/web/broken.rhai"]).code, 3);
    let denied = workspace.shipctl(&["run", "scripts/web/release.rhai", "--env", "frozen", "--set", "version=1"]);
    assert_eq!(denied.code, 4, "{denied:?}");
    assert!(denied.stderr.contains("notify is denied in environment \"frozen\""), "{}", denied.stderr);
    assert!(denied.stdout.contains("refused by policy"), "{}", denied.stdout);
    assert_eq!(workspace.shipctl(&["--help"]).code, 0);
}

#[test]
fn a_protected_environment_refuses_uncommitted_scripts() {
    let workspace = workspace();
    git_repository(workspace.path());
    let dirty = workspace.shipctl(&["run", "scripts/web/release.rhai", "--env", "production", "--set", "version=1"]);
    assert_eq!(dirty.code, 4, "{dirty:?}");
    assert!(dirty.stderr.contains("the run uses files that are not committed"), "{}", dirty.stderr);
    assert!(dirty.stderr.contains("scripts/web/release.rhai"), "{}", dirty.stderr);
    assert!(workspace.journals().is_empty(), "refused before the journal");

    let commit = crate::support::commit_all(workspace.path(), "scripts");
    // A file the run does not use (a plan saved by hand) does not hold a protected run.
    workspace.write("plan.json", "{}\n");

    let clean = workspace.shipctl(&["run", "scripts/web/release.rhai", "--env", "production", "--set", "version=1"]);
    assert_eq!(clean.code, 0, "{clean:?}");
    let journal = shipctl::journal::read_journal(&workspace.journals()[0]).unwrap();
    let repo = journal.header.repo.expect("the scripts repository is recorded");
    assert_eq!(repo.commit, Some(commit.to_string()));
    assert!(repo.dirty, "the untracked plan.json is recorded as a dirty tree");
}

#[test]
fn docs_print_primitives_and_suggest_names() {
    let workspace = Workspace::new();
    let list = workspace.shipctl(&["docs"]);
    assert_eq!(list.code, 0);
    for name in ["tag", "notify", "http_check", "now", "param", "on_failure"] {
        assert!(list.stdout.contains(name), "{name} missing from {}", list.stdout);
    }
    let tag = workspace.shipctl(&["docs", "tag"]);
    assert!(tag.stdout.contains("Result: `#{ name, commit, created, pushed, summary }`"), "{}", tag.stdout);
    let config = workspace.shipctl(&["docs", "config"]);
    assert!(config.stdout.contains("[limits]"), "{}", config.stdout);
    let security = workspace.shipctl(&["docs", "security"]);
    assert_eq!(security.code, 0);
    assert!(security.stdout.starts_with("# Security model"), "{}", security.stdout);
    assert!(security.stdout.contains("What it does not promise"), "{}", security.stdout);
    let typo = workspace.shipctl(&["docs", "notfy"]);
    assert_eq!(typo.code, 2);
    assert!(typo.stderr.contains("did you mean `shipctl docs notify`?"), "{}", typo.stderr);
}

#[test]
fn a_closed_stdout_does_not_break_the_run() {
    let workspace = workspace();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["run", "scripts/web/release.rhai", "--set", "version=9"])
        .current_dir(workspace.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let journal = shipctl::journal::read_journal(&workspace.journals()[0]).unwrap();
    assert!(journal.footer().is_some(), "the run finished and wrote its footer");
}

#[test]
fn the_demo_runs_a_release_and_plans_production() {
    let workspace = Workspace::new();
    let output = workspace.shipctl(&["demo", "--dir", "demo"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("succeeded in"), "{}", output.stdout);
    assert!(output.stdout.contains("plan · scripts/catalogue/release.rhai · env production"), "{}", output.stdout);
    let demo = workspace.path().join("demo");
    let product = git2::Repository::open(demo.join("repos/catalogue")).unwrap();
    let tag = product.find_reference("refs/tags/1.0.0").unwrap().target().unwrap();
    let origin = crate::support::refs(&demo.join("repos/catalogue-origin.git"));
    assert_eq!(origin.get("refs/tags/1.0.0"), Some(&tag.to_string()));
    let runs = shipctl::journal::list_runs(&demo.join(".shipctl/runs")).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "succeeded");
}

#[test]
fn the_bundled_release_plans_for_production() {
    // The repository's own scripts root: its shipctl.toml and the Catalogue release.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["plan", "scripts/catalogue/release.rhai", "--env", "production", "--set", "version=1.4.0"])
        .current_dir(root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["check", "scripts", "stdlib"])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
}
