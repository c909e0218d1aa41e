//! `shipctl test`: scenario tests of release scripts, written in Rhai.

use crate::support::Workspace;

const RELEASE: &str = r#"let version = param("version");
step("Tag", || tag(#{ repo: "app", name: version, message: "m" }));
on_failure(|| notify(#{ channel: "log", text: `rolled back ${version}` }));
step("Check", || {
    http_check(#{ url: "https://app.example.org/health" });
    http_check(#{ url: "https://app.example.org/ready" });
});
step("Announce", || notify(#{ channel: "log", text: `${version} is live` }));
"#;

fn workspace(tests: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.config("[repos.app]\npath = \"/nonexistent/app\"\n\n[notify.log]\nkind = \"stdout\"\n");
    workspace.write("scripts/app/release.rhai", RELEASE);
    workspace.write("scripts/app/release.test.rhai", tests);
    workspace
}

#[test]
fn the_bundled_release_tests_pass_and_write_junit() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let junit = tempfile::NamedTempFile::new().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["test", "scripts/catalogue", "--junit"])
        .arg(junit.path())
        .current_dir(root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("✓ health check fails after the deploy, so helm rolls back"), "{stdout}");
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(xml.contains("<testsuite name=\"scripts/catalogue/release.test.rhai\" tests=\"9\""), "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

#[test]
fn mocks_per_call_and_for_all_calls_and_assertions_on_effects() {
    let workspace = workspace(
        r#"
test("all calls of a kind", || {
    mock("http_check", #{ status: 204 });
    let r = run(#{ params: #{ version: "2.0.0" } });
    assert_eq(r.status, "succeeded");
    assert_eq(r.kinds, ["tag", "http_check", "http_check", "notify"]);
    assert_eq(r.effects("http_check").map(|check| check.result.status), [204, 204]);
    assert_eq(r.effect("http_check").result.attempts, 1, "mocks keep the plan mock's other fields");
});
test("only the second call fails, and the compensation runs", || {
    mock_error("http_check", 2, "not ready");
    let r = run(#{ params: #{ version: "2.0.0" } });
    assert_eq(r.status, "failed");
    assert_eq(r.failed_step, "Check");
    assert_eq(r.error, "http_check failed: not ready");
    assert_eq(r.error_location, "scripts/app/release.rhai:6:5");
    assert_eq(r.effect("http_check").error, ());
    assert_eq(r.effects("http_check")[1].error, "not ready");
    assert_eq(r.compensations[0].args.text, "rolled back 2.0.0");
    assert_order(r, ["tag", "http_check", "notify"]);
});
test("mocks do not leak between tests", || {
    let r = run(#{ params: #{ version: "2.0.0" } });
    assert_eq(r.status, "succeeded");
});
"#,
    );
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("3 passed, 0 failed"), "{}", output.stdout);
}

#[test]
fn a_failing_test_shows_the_assertion_its_place_and_the_effects() {
    let workspace = workspace(
        r#"test("expects success", || {
    mock_error("http_check", "GET https://app.example.org/health: got status 503");
    let r = run(#{ params: #{ version: "2.0.0" } });
    assert_eq(r.status, "succeeded");
});
test("passes", || assert(true));
"#,
    );
    let junit = workspace.path().join("junit.xml");
    let output = workspace.shipctl(&["test", "--junit", junit.to_str().unwrap()]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("✗ expects success"), "{}", output.stdout);
    assert!(output.stdout.contains("assert_eq failed: got \"failed\", expected \"succeeded\""), "{}", output.stdout);
    assert!(output.stdout.contains("--> scripts/app/release.test.rhai:4:5"), "{}", output.stdout);
    assert!(
        output.stdout.contains("last run: scripts/app/release.rhai · env local · failed in step \"Check\""),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("1  tag message=\"m\" name=\"2.0.0\" repo=\"app\"\n"), "{}", output.stdout);
    assert!(output.stdout.contains("2  http_check url=\"https://app.example.org/health\" ✗"), "{}", output.stdout);
    assert!(
        output.stdout.contains("3  notify channel=\"log\" text=\"rolled back 2.0.0\" (compensation)"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("1 passed, 1 failed"), "{}", output.stdout);
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("tests=\"2\" skipped=\"0\" failures=\"1\""), "{xml}");
    assert!(xml.contains("<testcase name=\"passes\""), "{xml}");
}

#[test]
fn mistakes_in_test_files_are_reported_clearly() {
    let workspace = workspace(
        r#"test("typo in a kind", || mock("http_chek", #{}));
test("typo in an option", || run(#{ parmas: #{} }));
test("script refused", || run(#{ params: #{} }));
"#,
    );
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("cannot mock \"http_chek\": no primitive has that name; did you mean \"http_check\"?"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("unknown option \"parmas\" to run; did you mean \"params\"?"), "{}", output.stdout);
    assert!(output.stdout.contains("was refused before it ran"), "{}", output.stdout);
    assert!(output.stdout.contains("missing param \"version\""), "{}", output.stdout);

    workspace.write("scripts/app/release.test.rhai", "test(\"x\", || {\n");
    let broken = workspace.shipctl(&["test"]);
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stderr.contains("scripts/app/release.test.rhai:2:1"), "{}", broken.stderr);

    workspace.write("scripts/app/release.test.rhai", "let x = 1;\n");
    let empty = workspace.shipctl(&["test"]);
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.contains("declares no tests"), "{}", empty.stderr);
}

#[test]
fn effects_found_by_kind_and_their_order_fail_clearly() {
    let workspace = workspace(
        r#"test("no such effect", || run(#{ params: #{ version: "2.0.0" } }).effect("backup"));
test("a typo in the kind", || run(#{ params: #{ version: "2.0.0" } }).effects("notfy"));
test("out of order", || assert_order(run(#{ params: #{ version: "2.0.0" } }), ["http_check", "tag"]));
test("found", || {
    let r = run(#{ params: #{ version: "2.0.0" } });
    assert_eq(r.effect("notify").args.text, "2.0.0 is live");
    assert_eq(r.effects("backup"), []);
    assert_eq(r.effects.len(), 4, "without the call, effects is every effect");
    assert_order(r, ["tag", "http_check", "http_check", "notify"]);
});
"#,
    );
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("no backup effect ran; the effects that ran: tag, http_check, http_check, notify"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("cannot look for \"notfy\": no primitive has that name; did you mean \"notify\"?"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains(
            "assert_order failed: expected http_check, tag in this order, but no tag ran after http_check; \
             the effects that ran: tag, http_check, http_check, notify"
        ),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("1 passed, 3 failed"), "{}", output.stdout);
}

#[test]
fn release_deploy_rolls_back_only_what_it_replaced_and_waits_in_the_release_namespace() {
    let workspace = Workspace::new();
    workspace.config("");
    workspace.write(
        "release.rhai",
        r#"import "std/release" as release;
let rollback = param("rollback", "yes") == "yes";
step("Deploy", || release::deploy(#{
    release: "app", chart: "charts/app", namespace: "apps", timeout: "5m", rollback: rollback,
    workloads: ["web", #{ statefulset: "db", timeout: "15m" }, #{ deployment: "other", namespace: "jobs" }],
    wait_timeout: "10m",
}));
step("Verify", || release::smoke_test("https://app.example.org"));
"#,
    );
    workspace.write(
        "release.test.rhai",
        r#"test("the upgrade, then each workload in the release's namespace", || {
    let r = run();
    assert_eq(r.status, "succeeded");
    assert_eq(r.effect("helm_upgrade").args, #{ release: "app", chart: "charts/app", namespace: "apps", timeout: "5m" });
    assert_eq(r.effects("wait_healthy").map(|wait| wait.args), [
        #{ deployment: "web", namespace: "apps", timeout: "10m" },
        #{ statefulset: "db", namespace: "apps", timeout: "15m" },
        #{ deployment: "other", namespace: "jobs", timeout: "10m" },
    ]);
    assert_eq(r.effect("http_check").args.url, "https://app.example.org/health");
});
test("a later failure rolls back to the revision the upgrade replaced", || {
    mock("helm_upgrade", #{ revision: 4, previous_revision: 3 });
    mock_error("http_check", "down");
    let r = run();
    assert_eq(r.compensations.map(|effect| effect.args),
              [#{ release: "app", namespace: "apps", revision: 3, wait: true }]);
});
test("a first install has nothing to roll back to", || {
    mock_error("wait_healthy", 2, "db not ready");
    assert_eq(run().compensations, []);
});
test("rollback: false leaves the release as it is", || {
    mock("helm_upgrade", #{ revision: 4, previous_revision: 3 });
    mock_error("http_check", "down");
    assert_eq(run(#{ params: #{ rollback: "no" } }).compensations, []);
});
"#,
    );
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn nothing_is_performed_in_a_test() {
    let server = crate::support::HttpServer::start(&[(200, "ok")]);
    let workspace = Workspace::new();
    workspace.config("");
    workspace.write("release.rhai", &format!("http_check(#{{ url: \"{}/health\" }});\n", server.url));
    workspace.write("release.test.rhai", "test(\"runs\", || assert_eq(run().status, \"succeeded\"));\n");
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(server.requests().is_empty(), "a scenario test made a real request");
}

#[test]
fn a_compensation_that_fails_before_any_effect_is_visible_to_tests() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write(
        "release.rhai",
        "let target = \"nowhere\";\non_failure(|| notify(#{ channel: target, text: \"undo\" }));\nfail(\"broke\");\n",
    );
    workspace.write(
        "release.test.rhai",
        r#"test("the broken compensation is reported", || {
    let r = run();
    assert_eq(r.status, "failed");
    assert_eq(r.compensations, []);
    assert_eq(r.compensation_errors.len(), 1);
    assert(r.compensation_errors[0].starts_with("release.rhai:2:1: "), r.compensation_errors[0]);
    assert(r.compensation_errors[0].contains("no notification channel \"nowhere\""), r.compensation_errors[0]);
});
"#,
    );
    let output = workspace.shipctl(&["test"]);
    assert_eq!(output.code, 0, "{output:?}");
}
