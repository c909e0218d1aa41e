//! Hostile names: release names, namespaces, charts, versions, workload names, tags,
//! remotes, labels, durations, image references and database URLs chosen to turn into
//! a flag, a second path segment or a password on a command line. Each is a real
//! attempt against a fake program that records its argument vector (or a loopback
//! server that records its requests, or a real git repository) and asserts that nothing
//! hostile got through, in `plan` as in `run`.

use std::path::Path;

use shipctl::effect::Mode;
use shipctl::journal::RunStatus;
use shipctl::run::RunReport;

use crate::fake_tool::FakeTool;
use crate::support::{HttpServer, Workspace, commit_file, git_repository, refs};

const ENVIRONMENT: &str = "staging";

/// A workspace whose helm is a fake recording its argv, in environment `staging`
/// (namespace `demo`, or `namespace` when given).
fn helm_workspace(namespace: &str) -> (Workspace, FakeTool) {
    let workspace = Workspace::new();
    let helm = FakeTool::helm(&workspace.path().join("tools"));
    workspace.config(&format!(
        "[helm]\nbin = \"{}\"\n\n[environments.{ENVIRONMENT}]\nnamespace = \"{namespace}\"\n",
        helm.path.display()
    ));
    std::fs::create_dir_all(workspace.path().join("charts/web")).unwrap();
    (workspace, helm)
}

fn execute(workspace: &Workspace, script: &str, mode: Mode) -> RunReport {
    workspace
        .execute(script, mode, ENVIRONMENT, &[], None)
        .unwrap_or_else(|error| panic!("{mode:?} refused before it started: {error}"))
}

/// `script` fails in plan and in run with an error containing each of `expected`.
fn refused_everywhere(workspace: &Workspace, script: &str, expected: &[&str]) -> String {
    workspace.write("release.rhai", script);
    let mut last = String::new();
    for mode in [Mode::Plan, Mode::Run] {
        let report = execute(workspace, "release.rhai", mode);
        assert_eq!(report.status, RunStatus::Failed, "{mode:?} of {script}");
        let error = report.error.as_ref().map(ToString::to_string).unwrap_or_default();
        for needle in expected {
            assert!(error.contains(needle), "{mode:?}: {needle:?} not in {error}");
        }
        assert!(report.effects.iter().all(|effect| effect.result.is_none()), "{mode:?}: nothing was done");
        last = error;
    }
    last
}

/// Every argument helm saw that a script could have chosen comes after `--`, and
/// `hostile` is none of them before it.
fn assert_positionals_after_double_dash(helm: &FakeTool, hostile: &str) {
    for call in helm.calls() {
        let end = call.iter().position(|arg| arg == "--").unwrap_or(call.len());
        assert!(!call[..end].iter().any(|arg| arg.contains(hostile)), "{hostile} reached helm's flags: {call:?}");
    }
}

#[test]
fn a_release_named_like_a_flag_never_reaches_helm() {
    let (workspace, helm) = helm_workspace("demo");
    let error = refused_everywhere(
        &workspace,
        "helm_upgrade(#{ release: \"--kubeconfig=/etc/shadow\", chart: \"charts/web\" });\n",
        &["argument \"release\" to helm_upgrade", "is not a valid helm release name", "at most 53 characters"],
    );
    assert!(error.starts_with("release.rhai:1:1: "), "{error}");
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

#[test]
fn helm_rollback_checks_its_release_name_too() {
    let (workspace, helm) = helm_workspace("demo");
    refused_everywhere(
        &workspace,
        "helm_rollback(#{ release: \"--kubeconfig=/etc/shadow\" });\n",
        &["argument \"release\" to helm_rollback", "is not a valid helm release name"],
    );
    refused_everywhere(
        &workspace,
        "helm_rollback(#{ release: \"web\", namespace: \"kube-system --all\" });\n",
        &["argument \"namespace\" to helm_rollback", "is not a valid namespace"],
    );
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

#[test]
fn a_namespace_with_a_flag_in_it_never_reaches_helm() {
    let (workspace, helm) = helm_workspace("demo");
    refused_everywhere(
        &workspace,
        "helm_upgrade(#{ release: \"web\", chart: \"charts/web\", namespace: \"web --kubeconfig=x\" });\n",
        &["argument \"namespace\" to helm_upgrade", "is not a valid namespace", "at most 63 characters"],
    );
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

#[test]
fn an_environment_namespace_from_shipctl_toml_is_checked_as_well() {
    let (workspace, helm) = helm_workspace("web --kubeconfig=x");
    workspace.write("release.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\n");
    for mode in [Mode::Plan, Mode::Run] {
        let error = match workspace.execute("release.rhai", mode, ENVIRONMENT, &[], None) {
            Err(error) => error.to_string(),
            Ok(report) => panic!("{mode:?} ran: {:?}", report.status),
        };
        assert!(
            error.contains("[environments.staging] namespace: \"web --kubeconfig=x\" is not a valid namespace"),
            "{error}"
        );
    }
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

#[test]
fn a_chart_that_is_a_flag_is_refused() {
    let (workspace, helm) = helm_workspace("demo");
    refused_everywhere(
        &workspace,
        "helm_upgrade(#{ release: \"web\", chart: \"--repo=http://evil\" });\n",
        &["argument \"chart\" to helm_upgrade", "begins with '-'"],
    );
    refused_everywhere(
        &workspace,
        "helm_upgrade(#{ release: \"web\", chart: \"http://evil/web.tgz\" });\n",
        &["argument \"chart\" to helm_upgrade", "is not a valid chart reference"],
    );
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

#[test]
fn a_version_that_is_a_flag_is_refused() {
    let (workspace, helm) = helm_workspace("demo");
    refused_everywhere(
        &workspace,
        "helm_upgrade(#{ release: \"web\", chart: \"charts/web\", version: \"--devel\" });\n",
        &["argument \"version\" to helm_upgrade", "is not a valid chart version"],
    );
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

#[test]
fn release_and_chart_reach_helm_after_the_double_dash() {
    let (workspace, helm) = helm_workspace("demo");
    // A `set` key is the script's too: it travels glued to its flag, never on its own.
    workspace.write(
        "release.rhai",
        "helm_upgrade(#{ release: \"web\", chart: \"charts/web\", version: \"1.2.0\", set: #{ \"--post-renderer\": \"/bin/evil\" } });\nhelm_rollback(#{ release: \"web\", revision: 1 });\n",
    );
    let report = execute(&workspace, "release.rhai", Mode::Run);
    assert!(report.effects[0].result.is_some(), "{:?}", report.effects[0].error);
    let calls = helm.calls();
    let upgrade = calls.iter().find(|call| call[0] == "upgrade").expect("helm upgrade ran");
    let dash = upgrade.iter().position(|arg| arg == "--").expect("a -- in helm upgrade");
    // A local chart reaches helm as its path resolved inside the root.
    let chart = workspace.path().canonicalize().unwrap().join("charts/web").display().to_string();
    assert_eq!(&upgrade[dash + 1..], ["web", chart.as_str()], "{upgrade:?}");
    assert!(upgrade.contains(&"--namespace=demo".to_string()), "{upgrade:?}");
    assert!(upgrade.contains(&"--version=1.2.0".to_string()), "{upgrade:?}");
    assert!(upgrade.contains(&"--set-json=--post-renderer=\"/bin/evil\"".to_string()), "{upgrade:?}");
    assert!(!upgrade.iter().any(|arg| arg == "--post-renderer"), "{upgrade:?}");
    for call in calls.iter().filter(|call| matches!(call[0].as_str(), "status" | "history")) {
        assert_eq!(call.last().map(String::as_str), Some("web"), "{call:?}");
        assert_eq!(call[call.len() - 2], "--", "{call:?}");
    }
    assert_positionals_after_double_dash(&helm, "web");
}

#[test]
fn a_plan_renders_with_the_same_argument_discipline() {
    let (workspace, helm) = helm_workspace("demo");
    workspace.write("release.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\n");
    let mut request = shipctl::run::RunRequest::new(workspace.path().join("release.rhai"), ENVIRONMENT, Mode::Plan);
    request.refresh = true;
    // The fake's `show chart` prints nothing, so the plan may end either way after
    // rendering; what matters is how helm was called.
    shipctl::run::execute(request, Box::new(crate::support::Recorder::default())).expect("the plan started");
    let calls = helm.calls();
    let template = calls.iter().find(|call| call[0] == "template").expect("helm template ran");
    let chart = workspace.path().canonicalize().unwrap().join("charts/web").display().to_string();
    assert_eq!(&template[template.len() - 3..], ["--", "web", chart.as_str()], "{template:?}");
    if let Some(show) = calls.iter().find(|call| call[0] == "show") {
        assert_eq!(&show[show.len() - 2..], ["--", chart.as_str()], "{show:?}");
    }
    assert!(calls.iter().all(|call| call[0] != "upgrade"), "a plan never upgrades: {calls:?}");
}

#[test]
fn negative_and_malformed_timeouts_are_refused_in_words() {
    let (workspace, helm) = helm_workspace("demo");
    for timeout in ["\"-5s\"", "-5"] {
        let error = refused_everywhere(
            &workspace,
            &format!("helm_upgrade(#{{ release: \"web\", chart: \"charts/web\", timeout: {timeout} }});\n"),
            &["argument \"timeout\" to helm_upgrade", "a duration such as 30s", "negative"],
        );
        assert!(!error.contains("did not match any variant"), "{error}");
    }
    refused_everywhere(
        &workspace,
        "helm_rollback(#{ release: \"web\", timeout: 9223372036854775807 });\n",
        &["argument \"timeout\" to helm_rollback", "at most a year"],
    );
    refused_everywhere(
        &workspace,
        "wait_healthy(#{ deployment: \"web\", timeout: \"soon\" });\n",
        &["argument \"timeout\" to wait_healthy", "a duration such as 30s", "\"soon\""],
    );
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());
}

/// A workspace whose `staging` kubeconfig points at `server`.
fn kube_workspace(server: &HttpServer) -> Workspace {
    let workspace = Workspace::new();
    workspace.write(
        "kube/config",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\ncurrent-context: c\n",
            server.url
        ),
    );
    workspace.config(&format!(
        "[environments.{ENVIRONMENT}]\nkubeconfig = \"kube/config\"\nkube_context = \"c\"\nnamespace = \"demo\"\n"
    ));
    workspace
}

#[test]
fn a_workload_name_cannot_change_the_api_path() {
    let server = HttpServer::start(&[(404, "{}")]);
    let workspace = kube_workspace(&server);
    for (kind, name) in [
        ("deployment", "a/../../secrets"),
        ("statefulset", "web?watch=1"),
        ("daemonset", "web%2F..%2Fsecrets"),
        ("deployment", "web,metadata.name=db"),
    ] {
        refused_everywhere(
            &workspace,
            &format!("wait_healthy(#{{ {kind}: \"{name}\", timeout: \"1s\" }});\n"),
            &[&format!("argument \"{kind}\" to wait_healthy"), "is not a valid Kubernetes object name"],
        );
    }
    refused_everywhere(
        &workspace,
        "wait_healthy(#{ deployment: \"web\", namespace: \"../secrets\" });\n",
        &["argument \"namespace\" to wait_healthy", "is not a valid namespace"],
    );
    assert!(server.requests().is_empty(), "the cluster was asked: {:?}", server.requests());
}

/// A repository with one commit under `repos/app`, declared as `[repos.app]`.
fn tag_workspace() -> Workspace {
    let workspace = Workspace::new();
    let repository = git_repository(&workspace.path().join("repos/app"));
    commit_file(&repository, "README", "app\n", "first");
    workspace.config(&format!("[repos.app]\npath = \"repos/app\"\n\n[environments.{ENVIRONMENT}]\n"));
    workspace
}

fn tags(path: &Path) -> Vec<String> {
    refs(path).into_keys().filter(|name| name.starts_with("refs/tags/")).collect()
}

#[test]
fn a_tag_named_like_a_flag_is_refused() {
    let workspace = tag_workspace();
    refused_everywhere(
        &workspace,
        "tag(#{ repo: \"app\", name: \"-f\", message: \"m\" });\n",
        &["argument \"name\" to tag", "is not a valid tag name", "begins with '-'"],
    );
    assert!(tags(&workspace.path().join("repos/app")).is_empty());
}

#[test]
fn tag_names_git_refuses_are_refused_before_git_sees_them() {
    let workspace = tag_workspace();
    for name in ["a..b", "v1@{0}", "v1.lock", "v1 2", "v1:x", "refs/../x"] {
        refused_everywhere(
            &workspace,
            &format!("tag(#{{ repo: \"app\", name: \"{name}\", message: \"m\" }});\n"),
            &["argument \"name\" to tag", "check-ref-format"],
        );
    }
    assert!(tags(&workspace.path().join("repos/app")).is_empty());
}

#[test]
fn a_push_remote_named_like_a_flag_is_refused() {
    let workspace = tag_workspace();
    refused_everywhere(
        &workspace,
        "tag(#{ repo: \"app\", name: \"v1.0.0\", message: \"m\", push: \"--upload-pack=/bin/evil\" });\n",
        &["argument \"push\" to tag", "is not a valid git remote name"],
    );
    assert!(tags(&workspace.path().join("repos/app")).is_empty(), "nothing was tagged");
}

#[test]
fn semver_repositories_take_build_metadata_and_refuse_leading_zeros() {
    let workspace = tag_workspace();
    workspace.config(&format!("[repos.app]\npath = \"repos/app\"\nsemver = true\n\n[environments.{ENVIRONMENT}]\n"));
    refused_everywhere(
        &workspace,
        "tag(#{ repo: \"app\", name: \"1.0.0-01\", message: \"m\" });\n",
        &["is not a semantic version"],
    );
    workspace.write("good.rhai", "tag(#{ repo: \"app\", name: \"1.0.0+build.5\", message: \"m\" });\n");
    let report = execute(&workspace, "good.rhai", Mode::Run);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(tags(&workspace.path().join("repos/app")), ["refs/tags/1.0.0+build.5"]);
}

/// Fake pg_dump, pg_restore and psql in `tools/`: each records its argv, and pg_dump
/// and psql record the `PGPASSWORD` they were given in `<name>.password`.
fn pg_tools(dir: &Path) -> (FakeTool, FakeTool) {
    let record = |name: &str| format!("printf '%s' \"$PGPASSWORD\" > '{}/{name}.password'", dir.display());
    let dump = FakeTool::new(
        dir,
        "pg_dump",
        &format!(
            "*) {}; for arg in \"$@\"; do case \"$arg\" in --file=*) echo dump > \"${{arg#--file=}}\";; esac; done; exit 0;;",
            record("pg_dump")
        ),
    );
    let restore = FakeTool::new(dir, "pg_restore", "--list) echo '1; 2615 2200 TABLE public items app'; exit 0;;");
    FakeTool::new(dir, "psql", &format!("*) {}; echo 4096; exit 0;;", record("psql")));
    (dump, restore)
}

const PASSWORD: &str = "pa55-in-the-query";

#[test]
fn a_password_in_the_query_string_travels_only_in_pgpassword() {
    let workspace = Workspace::new();
    let tools = workspace.path().join("tools");
    let (dump, _restore) = pg_tools(&tools);
    workspace
        .write("secrets/url", &format!("postgres://app@127.0.0.1:9/catalogue?sslmode=disable&password={PASSWORD}"));
    workspace.config(&format!(
        "[secrets.db_url]\nfile = \"secrets/url\"\n\n[databases.main]\nurl_secret = \"db_url\"\n\n[backups]\npg_bin = \"{}\"\n\n[environments.{ENVIRONMENT}]\n",
        tools.display()
    ));
    workspace.write("release.rhai", "backup(#{ postgres: \"main\", label: \"before 1.4.0\" });\n");
    let report = execute(&workspace, "release.rhai", Mode::Run);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let calls = dump.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(!dump.saw(PASSWORD), "the password reached pg_dump's argv: {calls:?}");
    assert!(calls[0].contains(&"--dbname=postgres://app@127.0.0.1:9/catalogue?sslmode=disable".to_string()));
    let given = std::fs::read_to_string(tools.join("pg_dump.password")).unwrap();
    assert_eq!(given, PASSWORD, "the password reached pg_dump in PGPASSWORD");
}

#[test]
fn a_conninfo_string_with_a_password_is_refused_without_quoting_it() {
    let workspace = Workspace::new();
    let tools = workspace.path().join("tools");
    let (dump, _restore) = pg_tools(&tools);
    workspace.write("secrets/url", &format!("host=127.0.0.1 dbname=catalogue password={PASSWORD}"));
    workspace.config(&format!(
        "[secrets.db_url]\nfile = \"secrets/url\"\n\n[databases.main]\nurl_secret = \"db_url\"\n\n[backups]\npg_bin = \"{}\"\n\n[environments.{ENVIRONMENT}]\n",
        tools.display()
    ));
    workspace.write("release.rhai", "backup(#{ postgres: \"main\" });\n");
    let report = execute(&workspace, "release.rhai", Mode::Run);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.as_ref().unwrap().to_string();
    assert!(error.contains("conninfo string"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert!(dump.calls().is_empty(), "pg_dump ran: {:?}", dump.calls());
}

#[test]
fn a_script_url_with_a_password_is_refused_in_plan_and_run() {
    let workspace = Workspace::new();
    let tools = workspace.path().join("tools");
    let (dump, _restore) = pg_tools(&tools);
    workspace.config(&format!("[backups]\npg_bin = \"{}\"\n\n[environments.{ENVIRONMENT}]\n", tools.display()));
    for url in [
        format!("postgres://app@127.0.0.1:9/catalogue?password={PASSWORD}"),
        format!("postgres://app:{PASSWORD}@127.0.0.1:9/catalogue"),
    ] {
        let error = refused_everywhere(
            &workspace,
            &format!("backup(#{{ postgres: \"{url}\" }});\n"),
            &["argument \"postgres\" to backup", "holds a password"],
        );
        assert!(!error.contains(PASSWORD), "{error}");
    }
    refused_everywhere(
        &workspace,
        // Computed: a literal name shipctl.toml does not declare is refused before the run.
        "let option = \"--dbname\";\nrestore(#{ backup: \"x\", postgres: `${option}=evil` });\n",
        &["argument \"postgres\" to restore", "begins with '-'"],
    );
    assert!(dump.calls().is_empty(), "pg_dump ran: {:?}", dump.calls());
}

#[test]
fn a_config_url_with_a_password_in_its_query_is_refused_at_load() {
    let workspace = Workspace::new();
    let tools = workspace.path().join("tools");
    let (dump, _restore) = pg_tools(&tools);
    workspace.config(&format!(
        "[databases.main]\nurl = \"postgres://app@127.0.0.1:9/catalogue?password={PASSWORD}\"\n\n[backups]\npg_bin = \"{}\"\n\n[environments.{ENVIRONMENT}]\n",
        tools.display()
    ));
    workspace.write("release.rhai", "backup(#{ postgres: \"main\" });\n");
    for mode in [Mode::Plan, Mode::Run] {
        let refused = match workspace.execute("release.rhai", mode, ENVIRONMENT, &[], None) {
            Err(error) => error.to_string(),
            Ok(report) => report.error.map(|error| error.to_string()).expect("refused"),
        };
        assert!(refused.contains("holds a password"), "{refused}");
    }
    assert!(dump.calls().is_empty(), "pg_dump ran: {:?}", dump.calls());
}

#[test]
fn a_label_that_is_a_path_is_refused() {
    let workspace = Workspace::new();
    let tools = workspace.path().join("tools");
    let (dump, _restore) = pg_tools(&tools);
    workspace.config(&format!(
        "[databases.main]\nurl = \"postgres://app@127.0.0.1:9/catalogue\"\n\n[backups]\npg_bin = \"{}\"\n\n[environments.{ENVIRONMENT}]\n",
        tools.display()
    ));
    for label in ["../../etc/cron.d/x", "a/b", "-rf", "a*b"] {
        refused_everywhere(
            &workspace,
            &format!("backup(#{{ postgres: \"main\", label: \"{label}\" }});\n"),
            &["argument \"label\" to backup", "is not a valid label"],
        );
    }
    assert!(dump.calls().is_empty(), "pg_dump ran: {:?}", dump.calls());
}

#[test]
fn an_image_reference_cannot_change_the_registry_path_or_host() {
    let server = HttpServer::start(&[(404, "{}")]);
    let registry = server.url.trim_start_matches("http://").to_string();
    let workspace = Workspace::new();
    workspace.config(&format!("[environments.{ENVIRONMENT}]\n"));
    for (from, to) in [
        (format!("{registry}/a/../../v2/_catalog:1"), format!("{registry}/web:production")),
        (format!("{registry}/web:1"), format!("{registry}/web?n=1:production")),
        (format!("{registry}/web:1"), format!("{registry}/web:-f")),
        (format!("{registry}/web:1"), format!("evil.example#{registry}/web:production")),
    ] {
        let error = refused_everywhere(
            &workspace,
            &format!("promote_image(#{{ from: \"{from}\", to: \"{to}\" }});\n"),
            &["to promote_image", "is not an image reference"],
        );
        assert!(error.contains("argument \"from\"") || error.contains("argument \"to\""), "{error}");
    }
    assert!(server.requests().is_empty(), "the registry was asked: {:?}", server.requests());
}

#[test]
fn check_refuses_hostile_literal_arguments_without_running_anything() {
    let (workspace, helm) = helm_workspace("demo");
    workspace.write(
        "release.rhai",
        "let v = param(\"version\");\nhelm_upgrade(#{ release: \"--kubeconfig=/etc/shadow\", chart: \"charts/web\", version: v });\ntag(#{ repo: \"app\", name: \"-f\", message: v });\nwait_healthy(#{ deployment: \"web\", timeout: -5 });\n",
    );
    let output = workspace.shipctl(&["check", "release.rhai"]);
    assert_ne!(output.code, 0, "{output:?}");
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(text.contains("argument \"release\" to helm_upgrade: \"--kubeconfig=/etc/shadow\" is not"), "{text}");
    assert!(text.contains("--> release.rhai:2:17"), "{text}");
    assert!(text.contains("argument \"name\" to tag: \"-f\" is not a valid tag name"), "{text}");
    assert!(text.contains("--> release.rhai:3:21"), "{text}");
    assert!(text.contains("argument \"timeout\" to wait_healthy: a duration such as 30s"), "{text}");
    assert!(helm.calls().is_empty(), "helm ran: {:?}", helm.calls());

    workspace.write("good.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\", timeout: \"5m\" });\n");
    let output = workspace.shipctl(&["check", "good.rhai"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn a_scenario_test_sees_the_same_refusal_even_when_the_primitive_is_mocked() {
    let workspace = Workspace::new();
    workspace.config("[repos.app]\npath = \"/nonexistent/app\"\n");
    workspace.write(
        "scripts/release.rhai",
        "let version = param(\"version\");\ntag(#{ repo: \"app\", name: version, message: \"m\" });\nhelm_rollback(#{ release: param(\"release\") });\n",
    );
    workspace.write(
        "scripts/release.test.rhai",
        r#"
test("a tag named like a flag is refused although tag is mocked", || {
    mock("tag", #{ name: "-f", commit: "0", created: true, pushed: false });
    let r = run(#{ params: #{ version: "-f", release: "web" } });
    assert_eq(r.status, "failed");
    assert_eq(r.kinds, []);
    assert(r.error.contains("argument \"name\" to tag: \"-f\" is not a valid tag name"), r.error);
});
test("a hostile release is refused although helm_rollback is mocked", || {
    mock("tag", #{ name: "v1", commit: "0", created: true, pushed: false });
    mock("helm_rollback", #{ release: "x", namespace: "x", revision: 2, rolled_back_to: 1, status: "deployed" });
    let r = run(#{ params: #{ version: "v1", release: "--kubeconfig=/etc/shadow" } });
    assert_eq(r.status, "failed");
    assert_eq(r.kinds, ["tag"]);
    assert(r.error.contains("is not a valid helm release name"), r.error);
});
"#,
    );
    let output = workspace.shipctl(&["test", "scripts"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("2 passed, 0 failed"), "{}", output.stdout);
}

#[test]
fn the_stdlib_version_check_is_semver_itself() {
    let workspace = Workspace::new();
    workspace.write(
        "release.rhai",
        "import \"std/checks\" as checks;\nlet v = checks::require_semver(param(\"version\"));\nlog(`ok ${v}`);\n",
    );
    for good in ["1.4.0", "1.0.0+build", "1.4.0-rc.1+build.5"] {
        let report = workspace.run("release.rhai", &[("version", good)]);
        assert_eq!(report.status, RunStatus::Succeeded, "{good}: {:?}", report.error);
    }
    for bad in ["1.0.0-01", "01.4.0", "v1.4.0", "1.4", "-1.4.0"] {
        let report = workspace.run("release.rhai", &[("version", bad)]);
        assert_eq!(report.status, RunStatus::Failed, "{bad}");
        let error = report.error.map(|error| error.to_string()).unwrap_or_default();
        assert!(error.contains("is not a semantic version"), "{bad}: {error}");
    }
}

#[test]
fn a_tampered_journal_cannot_smuggle_a_hostile_name_into_replay_or_resume() {
    let (workspace, helm) = helm_workspace("demo");
    workspace.write(
        "release.rhai",
        "let r = param(\"release\");\nhelm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\nif param(\"break\", \"no\") == \"yes\" {\n    fail(\"broke\");\n}\nhelm_upgrade(#{ release: r, chart: \"charts/web\" });\n",
    );
    let report = workspace
        .execute("release.rhai", Mode::Run, ENVIRONMENT, &[("release", "web"), ("break", "yes")], None)
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let journal = report.journal.clone().unwrap();
    let text = std::fs::read_to_string(&journal).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    assert!(header.contains("\"release\":\"web\""), "{header}");
    let header = header
        .replace("\"release\":\"web\"", "\"release\":\"--kubeconfig=/etc/shadow\"")
        .replace("\"break\":\"yes\"", "\"break\":\"no\"");
    std::fs::write(&journal, format!("{header}\n{rest}")).unwrap();
    let before = helm.calls().len();

    for request in [
        shipctl::run::replay_request(&journal, None).map(|(request, _)| request),
        shipctl::run::resume_request(&journal, false, false).map(|(request, _)| request),
    ] {
        // Refusing the tampered journal outright is as good as refusing the name.
        let Ok(request) = request else { continue };
        let outcome = shipctl::run::execute(request, Box::new(shipctl::effect::Silent));
        if let Ok(report) = outcome {
            assert_eq!(report.status, RunStatus::Failed, "{:?}", report.effects);
            let error = report.error.map(|error| error.to_string()).unwrap_or_default();
            assert!(error.contains("is not a valid helm release name"), "{error}");
        }
    }
    assert!(!helm.saw("--kubeconfig=/etc/shadow"), "{:?}", helm.calls());
    assert!(helm.calls()[before..].iter().all(|call| call[0] != "upgrade"), "{:?}", helm.calls());
}
