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
    let plan: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(plan["effects"][0]["kind"], "approve");
    assert_eq!(plan["effects"][0]["result"]["required"], true);
}
