//! CI integration: `--format github` annotations and step summary, the `SHIPCTL_*`
//! environment overrides, JUnit's `file` attribute and `test --filter`.

use crate::support::Workspace;

const RELEASE: &str = "step(\"Announce\", || {\n    notify(#{ channel: \"log\", text: \"hello\" });\n    tag(#{ repo: \"app\", name: \"1.0\", message: \"m\" });\n});\n";

fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config(
        "[repos.app]\npath = \"/nonexistent/app\"\n\n[notify.log]\nkind = \"stdout\"\n\n[environments.staging]\n",
    );
    workspace.write("scripts/web/release.rhai", RELEASE);
    workspace
}

fn annotations(text: &str) -> Vec<&str> {
    text.lines().filter(|line| line.starts_with("::")).collect()
}

#[test]
fn plan_error_is_one_annotation_however_hostile_the_message() {
    let workspace = workspace();
    let hostile = "fail(\"bad,one: 100%\\n::error file=forged.rhai::injected\\r\\n::add-mask::x\");\n";
    workspace.write("scripts/web/evil.rhai", hostile);
    let output = workspace.shipctl(&["plan", "scripts/web/evil.rhai", "--format", "github"]);
    assert_eq!(output.code, 1, "{output:?}");
    let found = annotations(&output.stdout);
    assert_eq!(found.len(), 1, "{}", output.stdout);
    assert!(
        found[0].starts_with("::error file=scripts/web/evil.rhai,line=1,col=1::bad,one: 100%25%0A::error"),
        "{}",
        found[0]
    );
    assert!(found[0].contains("%0D%0A::add-mask::x"), "{}", found[0]);
}

#[test]
fn github_actions_turns_it_on_and_the_summary_is_appended() {
    let workspace = workspace();
    let summary = workspace.path().join("summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let env = [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let output = workspace.shipctl_with_env(&["plan", "scripts/web/release.rhai"], &env);
    assert_eq!(output.code, 0, "{output:?}");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("# earlier step\n### shipctl plan · scripts/web/release.rhai · env local"), "{text}");
    assert!(text.contains("**succeeded**"), "{text}");
    assert!(text.contains("2 effects: 1 write, 1 notify"), "{text}");
    assert!(text.contains("| 1 | Announce | notify | channel=\"log\" text=\"hello\" |"), "{text}");
    // SHIPCTL_FORMAT=text wins over the detection.
    let env =
        [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()), ("SHIPCTL_FORMAT", "text")];
    assert_eq!(workspace.shipctl_with_env(&["plan", "scripts/web/release.rhai"], &env).code, 0);
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), text);
}

#[test]
fn a_summary_path_that_is_not_a_regular_file_is_refused() {
    let workspace = workspace();
    let target = workspace.path().join("target.md");
    std::fs::write(&target, "").unwrap();
    let link = workspace.path().join("link.md");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for path in [link.to_str().unwrap(), workspace.path().to_str().unwrap(), "/dev/null"] {
        let env = [("GITHUB_STEP_SUMMARY", path)];
        let output = workspace.shipctl_with_env(&["plan", "scripts/web/release.rhai", "--format", "github"], &env);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(output.stderr.contains("not writing the step summary"), "{path}: {}", output.stderr);
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}

#[test]
fn environment_variables_set_the_flags() {
    let workspace = workspace();
    let env = [("SHIPCTL_ENV", "staging"), ("SHIPCTL_OUTPUT", "json")];
    let output = workspace.shipctl_with_env(&["plan", "scripts/web/release.rhai"], &env);
    assert_eq!(output.code, 0, "{output:?}");
    let plan = crate::support::run_finished(&output.stdout);
    assert_eq!(plan["environment"], "staging");
    let output = workspace.shipctl_with_env(&["plan", "scripts/web/release.rhai", "--env", "local"], &env);
    assert_eq!(crate::support::run_finished(&output.stdout)["environment"], "local", "{}", output.stdout);
    let bad = workspace.shipctl_with_env(&["plan", "scripts/web/release.rhai"], &[("SHIPCTL_FORMAT", "gitlab")]);
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[test]
fn check_annotates_each_error() {
    let workspace = workspace();
    workspace.write("scripts/api/release.rhai", "let x = ;\n");
    let output = workspace.shipctl(&["check", "--format", "github"]);
    assert_eq!(output.code, 3, "{output:?}");
    let found = annotations(&output.stdout);
    assert_eq!(found.len(), 1, "{}", output.stdout);
    assert!(found[0].starts_with("::error file=scripts/api/release.rhai,line=1,col=9::"), "{}", found[0]);
}

#[test]
fn failed_tests_are_annotated_junit_names_the_file_and_filter_selects() {
    let workspace = workspace();
    workspace.write(
        "scripts/web/release.test.rhai",
        "test(\"passes\", || assert(true));\ntest(\"fails\", || assert(false, \"nope\"));\n",
    );
    let junit = workspace.path().join("junit.xml");
    let output = workspace.shipctl(&["test", "--format", "github", "--junit", junit.to_str().unwrap()]);
    assert_eq!(output.code, 1, "{output:?}");
    let found = annotations(&output.stdout);
    assert_eq!(found.len(), 1, "{}", output.stdout);
    assert!(found[0].starts_with("::error file=scripts/web/release.test.rhai,line=2,"), "{}", found[0]);
    assert!(found[0].contains("test \"fails\" failed"), "{}", found[0]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("file=\"scripts/web/release.test.rhai\"").count(), 2, "{xml}");

    let output = workspace.shipctl(&["test", "--filter", "pass"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("1 passed, 0 failed"), "{}", output.stdout);
    let output = workspace.shipctl(&["test", "--filter", ".*"]);
    assert!(output.stdout.contains("0 passed, 0 failed"), "{}", output.stdout);
}
