//! `approve`: asked in protected environments, given ahead with --approved-by.

use crate::support::{Workspace, commit_all};

const RELEASE: &str = r#"on_failure(|| notify(#{ channel: "log", text: "release stopped" }));
let approval = approve(#{ reason: "web 2.0 to the environment" });
notify(#{ channel: "log", text: `approved by ${approval.approved_by}` });
"#;

fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config(
        "[notify.log]\nkind = \"stdout\"\n\n[environments.production]\nprotected = true\napprovers = [\"alice\", \"bob\"]\n\n[environments.staging]\n",
    );
    workspace.write("release.rhai", RELEASE);
    commit_all(workspace.path(), "scripts");
    workspace
}

#[test]
fn outside_protected_environments_nothing_is_asked() {
    let workspace = workspace();
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "staging"]);
    assert_eq!(output.code, 0, "{output:?}");
    let journal = shipctl::journal::read_journal(&workspace.journals()[0]).unwrap();
    let result = journal.records.iter().find_map(|record| match record {
        shipctl::journal::Record::Outcome(outcome) if outcome.kind == "approve" => outcome.result.clone(),
        _ => None,
    });
    let result = result.unwrap();
    assert_eq!(result["required"], false);
    assert_eq!(result["approved"], true);
}

#[test]
fn an_approver_named_ahead_is_journaled() {
    let workspace = workspace();
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "production", "--approved-by", "alice"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("[log] approved by alice"), "{}", output.stdout);
    let journal = std::fs::read_to_string(&workspace.journals()[0]).unwrap();
    assert!(journal.contains("\"approved_by\":\"alice\""), "{journal}");
}

#[test]
fn someone_not_on_the_list_cannot_approve() {
    let workspace = workspace();
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "production", "--approved-by", "mallory"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("mallory may not approve in environment \"production\"; approvers: alice, bob"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.contains("[log] release stopped"), "the compensation ran: {}", output.stdout);
}

#[test]
fn without_a_terminal_or_a_named_approver_the_run_stops() {
    let workspace = workspace();
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "production"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("there is no terminal to ask at"), "{}", output.stderr);
    assert!(output.stderr.contains("--approved-by <name>"), "{}", output.stderr);
    assert!(!output.stdout.contains("approved by"), "{}", output.stdout);
}

#[test]
fn a_plan_shows_the_approval_without_asking() {
    let workspace = workspace();
    let output = workspace.shipctl(&["plan", "release.rhai", "--env", "production", "--output", "json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let plan = crate::support::run_finished(&output.stdout);
    assert_eq!(plan["effects"][0]["kind"], "approve");
    assert_eq!(plan["effects"][0]["result"]["required"], true);
}

/// `gated` demands an approval before a write; `repos/app` is a real repository.
fn gated_workspace(script: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.config(
        "[notify.log]\nkind = \"stdout\"\n\n[repos.app]\npath = \"repos/app\"\n\n[environments.gated]\nprotected = true\nrequire_approval = true\napprovers = [\"alice\"]\n",
    );
    crate::support::git_repository(&workspace.path().join("repos/app"));
    workspace.write("release.rhai", script);
    workspace.write(".gitignore", "/.shipctl\n/repos\n");
    commit_all(workspace.path(), "scripts");
    workspace
}

fn has_tag(workspace: &Workspace) -> bool {
    crate::support::refs(&workspace.path().join("repos/app")).contains_key("refs/tags/1.0.0")
}

const TAG: &str = "tag(#{ repo: \"app\", name: \"1.0.0\", message: \"m\" });\n";
/// The same tag with computed arguments: preflight cannot see it, only the gate can.
const COMPUTED_TAG: &str = "let args = #{ repo: \"app\", name: \"1.0.0\", message: \"m\" };\ntag(args);\n";

#[test]
fn a_write_before_the_approval_is_refused_at_the_gate() {
    let script =
        format!("notify(#{{ channel: \"log\", text: \"starting\" }});\n{COMPUTED_TAG}approve(#{{ reason: \"r\" }});\n");
    let workspace = gated_workspace(&script);
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "gated", "--approved-by", "alice"]);
    assert_eq!(output.code, 4, "{output:?}");
    assert!(output.stderr.contains("tag would write before an approval"), "{}", output.stderr);
    assert!(output.stderr.contains("environment \"gated\" has require_approval = true"), "{}", output.stderr);
    assert!(output.stdout.contains("[log] starting"), "a notification may come first: {}", output.stdout);
    assert!(!has_tag(&workspace), "the tag was not created");
}

#[test]
fn a_write_after_the_approval_runs() {
    let workspace = gated_workspace(&format!("approve(#{{ reason: \"r\" }});\n{TAG}"));
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "gated", "--approved-by", "alice"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(has_tag(&workspace));
}

#[test]
fn an_approval_that_failed_inside_try_does_not_count() {
    let script = format!("try {{ approve(#{{ reason: \"r\" }}); }} catch (e) {{ print(\"no approval\"); }}\n{TAG}");
    let workspace = gated_workspace(&script);
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "gated"]);
    assert!(output.stdout.contains("no approval"), "the approval failed: {output:?}");
    assert_eq!(output.code, 4, "{output:?}");
    assert!(output.stderr.contains("tag would write before an approval"), "{}", output.stderr);
    assert!(!has_tag(&workspace));
}

#[test]
fn a_literal_write_before_the_approval_is_warned_by_plan_and_refused_by_the_gate() {
    let script = format!(
        "notify(#{{ channel: \"log\", text: \"starting\" }});\nstep(\"tag\", || {{\n    {TAG}}});\napprove(#{{ reason: \"r\" }});\n"
    );
    let workspace = gated_workspace(&script);
    let plan = workspace.shipctl(&["plan", "release.rhai", "--env", "gated"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let shown = format!("{}{}", plan.stdout, plan.stderr);
    assert!(shown.contains("the live run would stop"), "{shown}");
    assert!(shown.contains("release.rhai:3:5: tag would write before an approval"), "{shown}");
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "gated", "--approved-by", "alice"]);
    assert_eq!(output.code, 4, "{output:?}");
    assert!(output.stderr.contains("tag would write before an approval"), "{}", output.stderr);
    assert!(output.stderr.contains("release.rhai:3:5"), "the error points at the call: {}", output.stderr);
    assert!(!has_tag(&workspace));
}

#[test]
fn a_write_in_a_function_defined_above_the_approval_runs_after_it() {
    let script = format!("fn release() {{\n    {TAG}}}\napprove(#{{ reason: \"r\" }});\nrelease();\n");
    let workspace = gated_workspace(&script);
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "gated", "--approved-by", "alice"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(has_tag(&workspace));
}

#[test]
fn preflight_lets_reads_and_notifications_come_before_the_approval() {
    let script = format!("notify(#{{ channel: \"log\", text: \"starting\" }});\napprove(#{{ reason: \"r\" }});\n{TAG}");
    let workspace = gated_workspace(&script);
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "gated", "--approved-by", "alice"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(has_tag(&workspace));
}
