//! Recorded runs as test fixtures: `run(#{ journal })` in a test file replays a real
//! run's journal against the script under test.

use shipctl::journal::RunStatus;

use crate::support::{Output, Workspace, mkfifo};

const RELEASE: &str = r#"let version = param("version");
let started = now();
step("Announce", || notify(#{ channel: "log", text: `deploying ${version} at ${started.iso}` }));
step("Finish", || notify(#{ channel: "log", text: `${version} is live` }));
"#;

const TESTS: &str = r#"test("last week's production run", || {
    let r = run(#{ journal: "fixtures/prod.jsonl" });
    assert_eq(r.status, "succeeded");
    assert_eq(r.kinds, ["now", "notify", "notify"]);
    assert_eq(r.effect("notify").args.text.sub_string(0, 15), "deploying 1.4.0");
});
"#;

/// A project whose release ran once for real; its journal copied to
/// `scripts/app/fixtures/prod.jsonl`. Returns the run id.
fn recorded() -> (Workspace, String) {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("scripts/app/release.rhai", RELEASE);
    let report = workspace.run("scripts/app/release.rhai", &[("version", "1.4.0")]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let journal = std::fs::read_to_string(report.journal.unwrap()).unwrap();
    workspace.write("scripts/app/fixtures/prod.jsonl", &journal);
    workspace.write("scripts/app/release.test.rhai", TESTS);
    (workspace, report.run_id)
}

fn failure(output: &Output, text: &str) {
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains(text), "expected {text:?} in\n{}", output.stdout);
}

#[test]
fn an_unchanged_script_passes_against_its_recorded_run() {
    let (workspace, _) = recorded();
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("✓ last week's production run"), "{}", output.stdout);
    assert!(!output.stdout.contains("[log]"), "nothing is sent: {}", output.stdout);
}

#[test]
fn a_changed_script_fails_naming_the_divergence() {
    let (workspace, id) = recorded();
    let source = "(scripts/app/fixtures/prod.jsonl)";

    workspace.write("scripts/app/release.rhai", &RELEASE.replace("is live", "is out"));
    let output = workspace.shipctl(&["test"]);
    failure(&output, "✗ last week's production run");
    failure(
        &output,
        &format!(
            "the run diverged from the recorded run {id} {source}: effect 3 (notify) differs from the recording in text"
        ),
    );
    failure(&output, "at effect 3 in step \"Finish\"");
    failure(&output, "text: \"1.4.0 is live\" -> \"1.4.0 is out\"");
    failure(&output, "(at scripts/app/release.rhai:4:");

    let added = format!("{RELEASE}notify(#{{ channel: \"log\", text: \"extra\" }});\n");
    workspace.write("scripts/app/release.rhai", &added);
    failure(&workspace.shipctl(&["test"]), "effect 4 (notify) is a new effect the recorded run never reached");

    let removed =
        RELEASE.replace("step(\"Finish\", || notify(#{ channel: \"log\", text: `${version} is live` }));\n", "");
    assert_ne!(removed, RELEASE);
    workspace.write("scripts/app/release.rhai", &removed);
    let output = workspace.shipctl(&["test"]);
    failure(&output, "the script ended; the recorded run went on to effect 3 (notify)");
    failure(&output, "now:      nothing: the script ended here");

    // Params given by the test take the place of the recorded ones, and are compared too.
    workspace.write("scripts/app/release.rhai", RELEASE);
    workspace.write(
        "scripts/app/release.test.rhai",
        "test(\"another version\", || run(#{ journal: \"fixtures/prod.jsonl\", params: #{ version: \"1.5.0\" } }));\n",
    );
    failure(&workspace.shipctl(&["test"]), "effect 2 (notify) differs from the recording in text");
}

#[test]
fn a_hostile_or_broken_journal_is_refused() {
    let (workspace, _) = recorded();
    let outside = tempfile::tempdir().unwrap();
    let journal = std::fs::read_to_string(workspace.path().join("scripts/app/fixtures/prod.jsonl")).unwrap();
    std::fs::write(outside.path().join("stolen.jsonl"), &journal).unwrap();
    std::os::unix::fs::symlink(outside.path().join("stolen.jsonl"), workspace.path().join("scripts/app/link.jsonl"))
        .unwrap();
    mkfifo(&workspace.path().join("scripts/app/fifo.jsonl"));
    workspace.write("scripts/app/notes.jsonl", "{\"hello\": 1}\n");
    let edited = journal.replacen("\"type\":\"intent\",\"seq\":2", "\"type\":\"intent\",\"seq\":7", 1);
    assert_ne!(edited, journal);
    workspace.write("scripts/app/edited.jsonl", &edited);
    let outside_path = outside.path().join("stolen.jsonl");
    let cases = [
        ("../../../stolen.jsonl", "through \"..\""),
        (outside_path.to_str().unwrap(), "is an absolute path"),
        ("link.jsonl", "leads outside the scripts root"),
        ("fifo.jsonl", "is not a regular file"),
        ("missing.jsonl", "does not exist"),
        ("notes.jsonl", "is this a shipctl journal?"),
        ("edited.jsonl", "the sequence is broken"),
    ];
    for (path, reason) in &cases {
        workspace
            .write("scripts/app/release.test.rhai", &format!("test(\"hostile\", || run(#{{ journal: {path:?} }}));\n"));
        let output = workspace.shipctl(&["test"]);
        failure(&output, reason);
        assert!(!output.stdout.contains("[log]"), "{path}: {}", output.stdout);
    }

    workspace.write(
        "scripts/app/release.test.rhai",
        "test(\"mocks too\", || {\n    mock(\"notify\", #{});\n    run(#{ journal: \"fixtures/prod.jsonl\" });\n});\n",
    );
    failure(&workspace.shipctl(&["test"]), "this test's mocks would be ignored");
}

#[test]
fn an_exported_run_is_a_fixture_the_tests_replay() {
    let (workspace, id) = recorded();
    std::fs::remove_file(workspace.path().join("scripts/app/fixtures/prod.jsonl")).unwrap();
    let output = workspace.shipctl(&["history", "--export", &id[..12], "scripts/app/fixtures/new"]);
    assert_eq!(output.code, 0, "{output:?}");
    let exported = workspace.path().join(format!("scripts/app/fixtures/new/{id}.jsonl"));
    assert!(output.stdout.contains(&format!("exported run {id} to ")), "{}", output.stdout);
    assert!(exported.is_file());
    workspace.write(
        "scripts/app/release.test.rhai",
        &TESTS.replace("fixtures/prod.jsonl", &format!("fixtures/new/{id}.jsonl")),
    );
    let tested = workspace.shipctl(&["test"]);
    assert_eq!(tested.code, 0, "{tested:?}");

    // Never over an existing file, unless --force.
    let again = workspace.shipctl(&["history", "--export", &id, "scripts/app/fixtures/new"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    assert!(again.stderr.contains("--force overwrites it"), "{}", again.stderr);
    std::fs::write(&exported, "edited").unwrap();
    let forced = workspace.shipctl(&["history", "--export", &id, "scripts/app/fixtures/new", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(std::fs::read_to_string(&exported).unwrap().starts_with("{\"type\":\"header\""));
}

#[test]
fn an_export_redacts_secrets_declared_since_the_run() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", "notify(#{ channel: \"log\", text: \"token tk-4f9a2c81e7 in use\" });\n");
    let report = workspace.run("release.rhai", &[]);
    let journal = report.journal.unwrap();
    assert!(std::fs::read_to_string(&journal).unwrap().contains("tk-4f9a2c81e7"));
    workspace.write("secrets/token", "tk-4f9a2c81e7\n");
    workspace.config(
        "[notify.log]\nkind = \"stdout\"\n\n[secrets.token]\nfile = \"secrets/token\"\n\n[secrets.unset]\nenv = \"SHIPCTL_TEST_UNSET_SECRET\"\n",
    );
    let output = workspace.shipctl(&["history", "--export", &report.run_id, "fixtures"]);
    assert_eq!(output.code, 0, "{output:?}");
    let copy = std::fs::read_to_string(workspace.path().join(format!("fixtures/{}.jsonl", report.run_id))).unwrap();
    assert!(!copy.contains("tk-4f9a2c81e7"), "{copy}");
    assert!(copy.contains("token [redacted:token] in use"), "{copy}");
    assert!(std::fs::read_to_string(&journal).unwrap().contains("tk-4f9a2c81e7"), "the journal itself is untouched");
    // A secret that cannot be read now cannot be redacted: said.
    assert!(output.stderr.contains("SHIPCTL_TEST_UNSET_SECRET"), "{}", output.stderr);
    assert!(output.stderr.contains("cannot be redacted"), "{}", output.stderr);

    // A secret declared with redact = false stays in the copy, and the export says so.
    workspace.config("[notify.log]\nkind = \"stdout\"\n\n[secrets.token]\nfile = \"secrets/token\"\nredact = false\n");
    let output = workspace.shipctl(&["history", "--export", &report.run_id, "shown", "--force"]);
    assert_eq!(output.code, 0, "{output:?}");
    let copy = std::fs::read_to_string(workspace.path().join(format!("shown/{}.jsonl", report.run_id))).unwrap();
    assert!(copy.contains("tk-4f9a2c81e7"), "{copy}");
    assert!(output.stderr.contains("secret \"token\" is declared with redact = false"), "{}", output.stderr);
}

#[test]
fn an_export_lands_inside_the_project_or_nowhere() {
    let (workspace, id) = recorded();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), workspace.path().join("out")).unwrap();
    let elsewhere = outside.path().join("copy");
    let cases = [
        ("../escaped", "lies outside the project root"),
        (elsewhere.to_str().unwrap(), "lies outside the project root"),
        ("out", "lies outside the project root"),
        ("out/deeper", "lies outside the project root"),
        ("missing/../../x", "does not exist"),
        ("release.rhai", "is not a directory"),
    ];
    workspace.write("release.rhai", "");
    for (dir, reason) in cases {
        let output = workspace.shipctl(&["history", "--export", &id, dir]);
        assert_eq!(output.code, 2, "{dir}: {output:?}");
        assert!(output.stderr.contains(reason), "{dir}: {}", output.stderr);
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside");
    assert!(!workspace.path().parent().unwrap().join("escaped").exists());

    // A symlink where the copy goes is not written through, even with --force.
    std::fs::create_dir_all(workspace.path().join("fixtures")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("target"), workspace.path().join(format!("fixtures/{id}.jsonl")))
        .unwrap();
    let output = workspace.shipctl(&["history", "--export", &id, "fixtures", "--force"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("symlink"), "{}", output.stderr);
    assert!(!outside.path().join("target").exists());

    let output = workspace.shipctl(&["history", "--export", "..", "fixtures"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("is not a run id"), "{}", output.stderr);
}
