//! Hostile paths: every way a script, a test file, a journal, a backup record, an
//! environment's name or the file system itself (symlinks, FIFOs, git-ignored files)
//! tries to reach a file outside the scripts root. Each test makes the real attempt
//! (a fake helm recording its argv, real git repositories, a real backup store) and
//! checks that nothing outside was read, written, tagged or deleted.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use shipctl::effect::Mode;
use shipctl::effect::Silent;
use shipctl::error::Error;
use shipctl::journal::RunStatus;
use shipctl::run::{RunReport, RunRequest, resume_request};

use crate::fake_tool::FakeTool;
use crate::support::{Workspace, commit_all, git_repository, mkfifo, refs};

/// The error of a run that must not have done its work: refused before it ran, or
/// failed with an error.
fn failure(result: Result<RunReport, Error>) -> String {
    match result {
        Err(error) => format!("{error} {}", error.help().unwrap_or_default()),
        Ok(report) => {
            assert_ne!(report.status, RunStatus::Succeeded, "the run succeeded: {:?}", report.effects);
            let error = report.error.expect("a failed run has an error");
            format!("{error} {}", error.help.clone().unwrap_or_default())
        }
    }
}

/// A scripts root whose helm is a fake recording its argv, with a chart inside the root
/// and another chart, a values file and a secret outside it.
struct HelmSetup {
    workspace: Workspace,
    outside: tempfile::TempDir,
    helm: FakeTool,
}

fn helm_setup() -> HelmSetup {
    let workspace = Workspace::new();
    let outside = tempfile::tempdir().unwrap();
    let helm = FakeTool::helm(&outside.path().join("bin"));
    workspace
        .config(&format!("[helm]\nbin = \"{}\"\n\n[environments.local]\nnamespace = \"web\"\n", helm.path.display()));
    workspace.write("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
    workspace.write("values/web.yaml", "replicas: 1\n");
    std::fs::create_dir_all(outside.path().join("chart")).unwrap();
    std::fs::write(outside.path().join("chart/Chart.yaml"), "apiVersion: v2\nname: evil\nversion: 6.6.6\n").unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "password: hunter2\n").unwrap();
    HelmSetup { workspace, outside, helm }
}

impl HelmSetup {
    fn upgrade(&self, arguments: &str) -> Result<RunReport, Error> {
        self.workspace.write("release.rhai", &format!("helm_upgrade(#{{ release: \"web\", {arguments} }});\n"));
        self.workspace.execute("release.rhai", Mode::Run, "local", &[], None)
    }

    /// helm was never handed anything outside the root (nor ran an upgrade at all).
    fn assert_outside_never_reached_helm(&self) {
        let outside = self.outside.path().canonicalize().unwrap();
        for call in self.helm.calls() {
            assert_ne!(call.first().map(String::as_str), Some("upgrade"), "helm upgrade ran: {call:?}");
            for argument in call {
                assert!(!argument.contains(&outside.display().to_string()), "helm saw {argument}");
                assert!(!argument.contains(".."), "helm saw {argument}");
            }
        }
    }
}

#[test]
fn helm_gets_a_chart_and_values_inside_the_root_as_resolved_paths() {
    let setup = helm_setup();
    let report = setup.upgrade("chart: \"charts/web\", values_files: [\"values/web.yaml\"]").unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let root = setup.workspace.path().canonicalize().unwrap();
    let upgrade = setup.helm.calls().into_iter().find(|call| call[0] == "upgrade").expect("helm upgrade ran");
    assert!(upgrade.contains(&root.join("charts/web").display().to_string()), "{upgrade:?}");
    assert!(upgrade.contains(&format!("--values={}", root.join("values/web.yaml").display())), "{upgrade:?}");
}

#[test]
fn a_chart_reached_with_dot_dot_is_refused() {
    let setup = helm_setup();
    let relative = format!("../{}/chart", setup.outside.path().file_name().unwrap().to_string_lossy());
    let error = failure(setup.upgrade(&format!("chart: \"{relative}\"")));
    assert!(error.contains(&format!("chart \"{relative}\" leads outside the scripts root")), "{error}");
    assert!(error.contains("through \"..\""), "{error}");
    setup.assert_outside_never_reached_helm();
}

#[test]
fn an_absolute_chart_is_refused() {
    let setup = helm_setup();
    let chart = setup.outside.path().join("chart").display().to_string();
    let error = failure(setup.upgrade(&format!("chart: \"{chart}\"")));
    assert!(error.contains(&format!("chart \"{chart}\" is an absolute path")), "{error}");
    setup.assert_outside_never_reached_helm();
}

#[test]
fn a_chart_behind_a_symlink_out_of_the_root_is_refused() {
    let setup = helm_setup();
    symlink(setup.outside.path().join("chart"), setup.workspace.path().join("charts/evil")).unwrap();
    let error = failure(setup.upgrade("chart: \"charts/evil\""));
    assert!(error.contains("chart \"charts/evil\" leads outside the scripts root"), "{error}");
    assert!(error.contains("symlink"), "{error}");
    setup.assert_outside_never_reached_helm();
}

#[test]
fn values_files_outside_the_root_are_refused_every_way() {
    let setup = helm_setup();
    symlink(setup.outside.path().join("secret.yaml"), setup.workspace.path().join("values/link.yaml")).unwrap();
    let dot_dot = format!("../{}/secret.yaml", setup.outside.path().file_name().unwrap().to_string_lossy());
    let absolute = setup.outside.path().join("secret.yaml").display().to_string();
    for (file, reason) in [
        (dot_dot.as_str(), "through \"..\""),
        (absolute.as_str(), "is an absolute path"),
        ("values/link.yaml", "through a symlink"),
    ] {
        let error = failure(setup.upgrade(&format!("chart: \"charts/web\", values_files: [\"{file}\"]")));
        assert!(error.contains(&format!("values file \"{file}\"")), "{error}");
        assert!(error.contains(reason), "{file}: {error}");
    }
    setup.assert_outside_never_reached_helm();
    assert!(!setup.helm.saw("hunter2") && !setup.helm.saw("secret.yaml"));
}

#[test]
fn a_plan_with_refresh_does_not_hand_helm_an_outside_chart_either() {
    let setup = helm_setup();
    let chart = setup.outside.path().join("chart").display().to_string();
    setup.workspace.write("release.rhai", &format!("helm_upgrade(#{{ release: \"web\", chart: \"{chart}\" }});\n"));
    let mut request = RunRequest::new(setup.workspace.path().join("release.rhai"), "local", Mode::Plan);
    request.refresh = true;
    let error = failure(shipctl::run::execute(request, Box::new(Silent)));
    assert!(error.contains("is an absolute path"), "{error}");
    setup.assert_outside_never_reached_helm();
}

impl HelmSetup {
    /// helm was never handed the chart: no upgrade, template or show ran.
    fn assert_helm_never_got_the_chart(&self) {
        for call in self.helm.calls() {
            let command = call.first().map(String::as_str).unwrap_or_default();
            assert!(!["upgrade", "template", "show"].contains(&command), "helm was handed the chart: {call:?}");
        }
        self.assert_outside_never_reached_helm();
        assert!(!self.helm.saw("hunter2"));
    }

    /// A symlink at `at` (below the root) to `target`.
    fn link(&self, target: impl AsRef<Path>, at: &str) {
        let at = self.workspace.path().join(at);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(target, at).unwrap();
    }

    /// `plan --refresh` of an upgrade of `charts/web`.
    fn plan_with_refresh(&self) -> Result<RunReport, Error> {
        self.workspace.write("release.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\n");
        let mut request = RunRequest::new(self.workspace.path().join("release.rhai"), "local", Mode::Plan);
        request.refresh = true;
        shipctl::run::execute(request, Box::new(Silent))
    }
}

#[test]
fn a_chart_template_symlinked_to_an_outside_file_is_refused() {
    let setup = helm_setup();
    let secret = setup.outside.path().join("secret.yaml");
    setup.link(&secret, "charts/web/templates/leak.yaml");
    let error = failure(setup.upgrade("chart: \"charts/web\""));
    assert!(error.contains("chart \"charts/web\" holds a symlink that leads outside the scripts root"), "{error}");
    assert!(error.contains(&format!("charts/web/templates/leak.yaml -> {}", secret.display())), "{error}");
    assert!(error.contains("replace a symlink that leads out with a copy"), "{error}");
    setup.assert_helm_never_got_the_chart();
}

#[test]
fn a_chart_whose_values_or_files_are_symlinked_out_is_refused() {
    for (at, target) in [("charts/web/values.yaml", "secret.yaml"), ("charts/web/files", ".")] {
        let setup = helm_setup();
        setup.link(setup.outside.path().join(target), at);
        setup.workspace.write("charts/web/templates/cm.yaml", "data: {{ .Files.Get \"files/secret.yaml\" }}\n");
        let error = failure(setup.upgrade("chart: \"charts/web\""));
        assert!(error.contains("leads outside the scripts root"), "{at}: {error}");
        assert!(error.contains(&format!(": {at} -> ")), "{at}: {error}");
        setup.assert_helm_never_got_the_chart();
    }
}

#[test]
fn a_subchart_directory_symlinked_out_of_the_root_is_refused() {
    let setup = helm_setup();
    setup.link(setup.outside.path().join("chart"), "charts/web/charts/sub");
    let error = failure(setup.upgrade("chart: \"charts/web\""));
    assert!(error.contains("chart \"charts/web\" holds a symlink that leads outside the scripts root"), "{error}");
    assert!(error.contains("charts/web/charts/sub -> "), "{error}");
    setup.assert_helm_never_got_the_chart();
}

#[test]
fn a_chart_reaching_out_through_a_directory_symlinked_inside_the_root_is_refused() {
    // charts/web/templates/shared -> shared (inside), and shared/leak.yaml -> outside:
    // helm follows both, so the walk goes on into the directory the first leads to.
    let setup = helm_setup();
    setup.link(setup.outside.path().join("secret.yaml"), "shared/leak.yaml");
    setup.link("../../../shared", "charts/web/templates/shared");
    let error = failure(setup.upgrade("chart: \"charts/web\""));
    assert!(error.contains("leads outside the scripts root"), "{error}");
    assert!(error.contains(": shared/leak.yaml -> "), "{error}");
    setup.assert_helm_never_got_the_chart();
}

#[test]
fn symlink_loops_in_a_chart_are_refused_without_hanging() {
    let (sender, receiver) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut errors = Vec::new();
        for loops in [
            &[("..", "charts/web/templates/self")][..],
            &[("b.yaml", "charts/web/a.yaml"), ("a.yaml", "charts/web/b.yaml")],
        ] {
            let setup = helm_setup();
            for (target, at) in loops {
                setup.link(target, at);
            }
            errors.push(failure(setup.upgrade("chart: \"charts/web\"")));
            setup.assert_helm_never_got_the_chart();
        }
        let _ = sender.send(errors);
    });
    let errors = match receiver.recv_timeout(Duration::from_secs(60)) {
        Ok(errors) => errors,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the chart's check hung on a symlink loop"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(worker.join().unwrap_err()),
    };
    assert!(errors[0].contains("holds a symlink to a directory that contains it, a loop"), "{}", errors[0]);
    assert!(errors[0].contains("charts/web/templates/self -> .."), "{}", errors[0]);
    assert!(errors[1].contains("holds a symlink that cannot be resolved"), "{}", errors[1]);
    // Whichever of the two the directory lists first is named.
    assert!(
        errors[1].contains("charts/web/a.yaml -> b.yaml") || errors[1].contains("charts/web/b.yaml -> a.yaml"),
        "{}",
        errors[1]
    );
}

#[test]
fn a_chart_with_symlinks_that_stay_inside_the_root_reaches_helm() {
    let setup = helm_setup();
    setup.workspace.write("shared/templates/common.yaml", "kind: ConfigMap\n");
    setup.link("../../../shared/templates/common.yaml", "charts/web/templates/common.yaml");
    setup.link("../../values/web.yaml", "charts/web/values.yaml");
    setup.link("../../shared", "charts/web/files");
    let report = setup.upgrade("chart: \"charts/web\"").unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let root = setup.workspace.path().canonicalize().unwrap();
    let upgrade = setup.helm.calls().into_iter().find(|call| call[0] == "upgrade").expect("helm upgrade ran");
    assert!(upgrade.contains(&root.join("charts/web").display().to_string()), "{upgrade:?}");
}

#[test]
fn a_plan_with_refresh_does_not_render_a_chart_with_a_symlink_out() {
    let setup = helm_setup();
    let secret = setup.outside.path().join("secret.yaml");
    setup.link(&secret, "charts/web/templates/leak.yaml");
    let error = failure(setup.plan_with_refresh());
    assert!(error.contains("chart \"charts/web\" holds a symlink that leads outside the scripts root"), "{error}");
    assert!(error.contains(&format!("charts/web/templates/leak.yaml -> {}", secret.display())), "{error}");
    setup.assert_helm_never_got_the_chart();
}

/// A committed root deploying to a protected environment with the fake helm; `ignored/`
/// and `*.tgz` under charts are git-ignored.
fn protected_helm_setup() -> HelmSetup {
    let setup = helm_setup();
    setup.workspace.config(&format!(
        "[helm]\nbin = \"{}\"\n\n[environments.production]\nprotected = true\nnamespace = \"web\"\n",
        setup.helm.path.display()
    ));
    setup.workspace.write(".gitignore", "/.shipctl\n/ignored/\ncharts/*/charts/\n");
    commit_all(setup.workspace.path(), "charts");
    setup
}

fn deploy(setup: &HelmSetup, chart: &str) -> Result<RunReport, Error> {
    setup.workspace.write("deploy.rhai", &format!("helm_upgrade(#{{ release: \"web\", chart: \"{chart}\" }});\n"));
    commit_all(setup.workspace.path(), "deploy");
    run_in(&setup.workspace, "deploy.rhai", "production")
}

#[test]
fn a_protected_environment_does_not_deploy_a_chart_git_ignores() {
    let setup = protected_helm_setup();
    setup.workspace.write("ignored/chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 9.9.9\n");
    let error = failure(deploy(&setup, "ignored/chart"));
    assert!(error.contains("would deploy files that are not committed"), "{error}");
    assert!(error.contains("ignored/chart/Chart.yaml (ignored by git)"), "{error}");
    assert!(!setup.helm.calls().iter().any(|call| call[0] == "upgrade"), "helm upgrade ran");

    // A committed chart with one git-ignored file inside (a dependency) is refused too.
    setup.workspace.write("charts/web/charts/dep.tgz", "not reviewed");
    let error = failure(deploy(&setup, "charts/web"));
    assert!(error.contains("charts/web/charts/dep.tgz (ignored by git)"), "{error}");
    assert!(!setup.helm.calls().iter().any(|call| call[0] == "upgrade"), "helm upgrade ran");

    // Committed as it is, it deploys.
    std::fs::remove_dir_all(setup.workspace.path().join("charts/web/charts")).unwrap();
    let report = deploy(&setup, "charts/web").unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert!(setup.helm.calls().iter().any(|call| call[0] == "upgrade"), "helm upgrade did not run");
}

#[test]
fn a_protected_environment_does_not_deploy_a_git_ignored_file_a_chart_links_to() {
    let setup = protected_helm_setup();
    setup.workspace.write("ignored/common.yaml", "kind: ConfigMap\n");
    setup.link("../../../ignored/common.yaml", "charts/web/templates/common.yaml");
    let error = failure(deploy(&setup, "charts/web"));
    assert!(error.contains("would deploy files that are not committed"), "{error}");
    assert!(error.contains("ignored/common.yaml (ignored by git"), "{error}");
    assert!(!setup.helm.calls().iter().any(|call| call[0] == "upgrade"), "helm upgrade ran");

    // The linked file committed, the chart deploys.
    setup.workspace.write(".gitignore", "/.shipctl\n");
    let report = deploy(&setup, "charts/web").unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert!(setup.helm.calls().iter().any(|call| call[0] == "upgrade"), "helm upgrade did not run");
}

#[test]
fn a_repository_behind_a_symlink_out_of_the_root_gets_no_tag() {
    let workspace = Workspace::new();
    workspace.config("");
    let outside = tempfile::tempdir().unwrap();
    git_repository(&outside.path().join("victim"));
    let before = refs(&outside.path().join("victim"));
    symlink(outside.path().join("victim"), workspace.path().join("app")).unwrap();
    workspace.write("release.rhai", "tag(#{ repo: \"app\", name: \"v1.0.0\", message: \"m\" });\n");
    let error = failure(workspace.execute("release.rhai", Mode::Run, "local", &[], None));
    assert!(error.contains("repo \"app\" leads outside the scripts root"), "{error}");
    assert!(error.contains("[repos.<name>]"), "{error}");
    assert_eq!(refs(&outside.path().join("victim")), before, "the outside repository was tagged");
}

#[test]
fn a_repository_named_with_dot_dot_or_absolute_gets_no_tag() {
    let workspace = Workspace::new();
    workspace.config("");
    let outside = tempfile::tempdir().unwrap();
    git_repository(&outside.path().join("victim"));
    let before = refs(&outside.path().join("victim"));
    let dot_dot = format!("../{}/victim", outside.path().file_name().unwrap().to_string_lossy());
    let absolute = outside.path().join("victim").display().to_string();
    for repo in [dot_dot, absolute] {
        workspace.write("release.rhai", &format!("tag(#{{ repo: \"{repo}\", name: \"v1.0.0\", message: \"m\" }});\n"));
        let error = failure(workspace.execute("release.rhai", Mode::Run, "local", &[], None));
        assert!(error.contains(&format!("repo \"{repo}\"")), "{error}");
    }
    assert_eq!(refs(&outside.path().join("victim")), before, "the outside repository was tagged");
}

#[test]
fn a_repository_whose_git_directory_is_a_symlink_out_gets_no_tag() {
    let workspace = Workspace::new();
    workspace.config("");
    let outside = tempfile::tempdir().unwrap();
    git_repository(&outside.path().join("victim"));
    let before = refs(&outside.path().join("victim"));
    std::fs::create_dir_all(workspace.path().join("app")).unwrap();
    symlink(outside.path().join("victim/.git"), workspace.path().join("app/.git")).unwrap();
    workspace.write("release.rhai", "tag(#{ repo: \"app\", name: \"v1.0.0\", message: \"m\" });\n");
    let error = failure(workspace.execute("release.rhai", Mode::Run, "local", &[], None));
    assert!(error.contains("git directory \"app/.git\" leads outside the scripts root"), "{error}");
    assert_eq!(refs(&outside.path().join("victim")), before, "the outside repository was tagged");
}

#[test]
fn a_file_url_chart_is_not_a_way_out() {
    let setup = helm_setup();
    let chart = format!("file://{}", setup.outside.path().join("chart").display());
    let error = failure(setup.upgrade(&format!("chart: \"{chart}\"")));
    // Refused as a chart reference before any path is looked at.
    assert!(error.contains(&format!("\"{chart}\" is not a valid chart reference")), "{error}");
    setup.assert_outside_never_reached_helm();
}

/// A test file that runs `script` (`OUTSIDE` stands for the outside directory's path,
/// `OUTNAME` for its name); the file outside holds a marker that would show in the
/// output if it were read as a script (its syntax error quotes it).
fn test_file_attempt(script: &str, prepare: impl FnOnce(&Workspace, &Path)) -> String {
    let workspace = Workspace::new();
    workspace.config("");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("private.rhai"), "TOP SECRET marker ((( \n").unwrap();
    workspace.write("release.rhai", "info(\"hello\");\n");
    prepare(&workspace, outside.path());
    let name = outside.path().file_name().unwrap().to_string_lossy().to_string();
    let script = script.replace("OUTSIDE", &outside.path().display().to_string()).replace("OUTNAME", &name);
    workspace.write("release.test.rhai", &format!("test(\"escape\", || run(#{{ script: \"{script}\" }}));\n"));
    let output = workspace.shipctl(&["test"]);
    assert_ne!(output.code, 0, "{output:?}");
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains("TOP SECRET"), "the outside file was read: {all}");
    all
}

#[test]
fn a_test_file_cannot_run_a_file_outside_the_root() {
    let all = test_file_attempt("OUTSIDE/private.rhai", |_, _| {});
    assert!(all.contains("is an absolute path"), "{all}");
    let all = test_file_attempt("../OUTNAME/private.rhai", |_, _| {});
    assert!(all.contains("leads outside the scripts root"), "{all}");
}

#[test]
fn a_test_file_cannot_run_a_symlink_out_of_the_root() {
    let all = test_file_attempt("link.rhai", |workspace, outside| {
        symlink(outside.join("private.rhai"), workspace.path().join("link.rhai")).unwrap();
    });
    assert!(all.contains("script \"link.rhai\" leads outside the scripts root"), "{all}");
}

/// A failed run's journal in a committed root, edited by `edit` (the header's line).
fn edited_journal(edit: impl FnOnce(&mut serde_json::Value)) -> (Workspace, std::path::PathBuf) {
    let workspace = Workspace::new();
    workspace.config("");
    workspace.write("release.rhai", "info(\"one\");\nfail(\"stop\");\n");
    let report = workspace.execute("release.rhai", Mode::Run, "local", &[], None).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let journal = report.journal.unwrap();
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    edit(&mut header);
    lines[0] = serde_json::to_string(&header).unwrap();
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    (workspace, journal)
}

#[test]
fn a_resumed_journal_cannot_name_a_script_outside_its_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.rhai"), "info(\"evil\");\n").unwrap();
    let name = outside.path().file_name().unwrap().to_string_lossy().to_string();
    let (_workspace, journal) = edited_journal(|header| header["script"] = format!("../{name}/evil.rhai").into());
    let error = resume_request(&journal, false, true).expect_err("refused").to_string();
    // The journal reader refuses such a header before the script is looked for.
    assert!(error.contains(&format!("script \"../{name}/evil.rhai\"")), "{error}");
    assert!(error.contains("is not a path inside the scripts root"), "{error}");
}

#[test]
fn a_journal_cannot_move_its_root_to_reach_another_file() {
    // The root "/" holds the journal, but /etc/hostname is not a script of that root.
    let (_workspace, journal) = edited_journal(|header| {
        header["root"] = "/".into();
        header["script"] = "etc/hostname".into();
    });
    let error = resume_request(&journal, false, true).expect_err("refused").to_string();
    assert!(error.contains("belongs to the scripts root /etc"), "{error}");

    // A root that does not hold the journal is refused outright.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("evil.rhai"), "info(\"evil\");\n").unwrap();
    let (_workspace, journal) = edited_journal(|header| {
        header["root"] = elsewhere.path().display().to_string().into();
        header["script"] = "evil.rhai".into();
    });
    let error = resume_request(&journal, false, true).expect_err("refused").to_string();
    assert!(error.contains("does not lie inside it"), "{error}");
}

#[test]
fn a_resumed_journal_cannot_name_a_symlink_out_of_its_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.rhai"), "info(\"evil\");\n").unwrap();
    let (workspace, journal) = edited_journal(|header| header["script"] = "link.rhai".into());
    symlink(outside.path().join("evil.rhai"), workspace.path().join("link.rhai")).unwrap();
    let error = resume_request(&journal, false, true).expect_err("refused").to_string();
    assert!(error.contains("leads outside the scripts root"), "{error}");
}

/// A root with a `data` directory backed up three times (`keep = 2` prunes on the third).
fn backup_workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config("[backups]\nkeep = 5\n");
    workspace.write("data/a.txt", "a\n");
    workspace.write("backup.rhai", "backup(#{ files: \"data\" });\n");
    workspace
}

fn backup_records(workspace: &Workspace) -> Vec<std::path::PathBuf> {
    let mut records: Vec<_> = std::fs::read_dir(workspace.path().join(".shipctl/backups"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .collect();
    records.sort();
    records
}

fn edit_record(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut record);
    std::fs::write(path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
}

#[test]
fn retention_never_deletes_a_file_a_record_names_outside_the_store() {
    let workspace = backup_workspace();
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let victim = workspace.path().join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    let record = backup_records(&workspace).remove(0);
    edit_record(&record, |record| record["file"] = "../../victim.txt".into());
    workspace.config("[backups]\nkeep = 1\n");
    std::thread::sleep(Duration::from_millis(5));
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n", "retention deleted a file outside the store");
    let listing = workspace.shipctl(&["backups"]);
    assert!(listing.stderr.contains("is not a valid backup record"), "{listing:?}");
    assert!(listing.stderr.contains("its data file"), "{listing:?}");
}

#[test]
fn a_record_with_a_bad_sha_or_foreign_id_is_not_a_backup() {
    let workspace = backup_workspace();
    workspace.run("backup.rhai", &[]);
    std::thread::sleep(Duration::from_millis(5));
    workspace.run("backup.rhai", &[]);
    let records = backup_records(&workspace);
    edit_record(&records[0], |record| record["sha256"] = "../../not-hex".into());
    edit_record(&records[1], |record| record["id"] = "../../other".into());
    let listing = workspace.shipctl(&["backups"]);
    assert!(listing.stderr.contains("its sha256 \"../../not-hex\" is not 64 lowercase hex digits"), "{listing:?}");
    assert!(listing.stderr.contains("its id \"../../other\" is not its file name"), "{listing:?}");
    let id = records[1].file_stem().unwrap().to_string_lossy().to_string();
    workspace.write("restore.rhai", &format!("restore(#{{ backup: \"{id}\" }});\n"));
    let error = failure(workspace.execute("restore.rhai", Mode::Run, "local", &[], None));
    assert!(error.contains("is not a valid backup record"), "{error}");
}

#[test]
fn a_restore_never_extracts_where_a_tampered_record_points() {
    let workspace = backup_workspace();
    let report = workspace.run("backup.rhai", &[]);
    let id = report.effects[0].result.as_ref().unwrap()["id"].as_str().unwrap().to_string();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious.txt"), "mine\n").unwrap();
    let record = backup_records(&workspace).remove(0);
    edit_record(&record, |record| record["target"] = outside.path().display().to_string().into());
    workspace.write("restore.rhai", &format!("restore(#{{ backup: \"{id}\" }});\n"));
    let error = failure(workspace.execute("restore.rhai", Mode::Run, "local", &[], None));
    assert!(error.contains("records its target as"), "{error}");
    assert_eq!(std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(), "mine\n");
    assert!(!outside.path().join("a.txt").exists(), "the archive was extracted outside");
}

#[test]
fn a_files_backup_cannot_archive_a_directory_behind_a_symlink_out() {
    let workspace = backup_workspace();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("id_rsa"), "PRIVATE KEY\n").unwrap();
    symlink(outside.path(), workspace.path().join("home")).unwrap();
    workspace.write("steal.rhai", "backup(#{ files: \"home\" });\n");
    let error = failure(workspace.execute("steal.rhai", Mode::Run, "local", &[], None));
    assert!(error.contains("files \"home\" leads outside the scripts root"), "{error}");
    assert!(error.contains("[backups.paths]"), "{error}");
    assert!(!workspace.path().join(".shipctl/backups").exists(), "an archive was written");
}

/// `shipctl backups` with a deadline: a hang fails the test instead of blocking it.
fn backups_within(workspace: &Workspace, args: &[&str]) -> crate::support::Output {
    let (sender, receiver) = std::sync::mpsc::channel();
    let root = workspace.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    std::thread::spawn(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
            .args(&args)
            .current_dir(root)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let _ = sender.send(output);
    });
    let output = receiver.recv_timeout(Duration::from_secs(20)).expect("shipctl backups hung on a FIFO");
    crate::support::Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_fifo_in_the_backup_store_cannot_hang_the_listing() {
    let workspace = backup_workspace();
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    mkfifo(&workspace.path().join(".shipctl/backups/trap.json"));
    // The data file of the good backup replaced by a FIFO too: --verify must not read it.
    let data = report.effects[0].result.as_ref().unwrap()["path"].as_str().unwrap().to_string();
    std::fs::remove_file(&data).unwrap();
    mkfifo(Path::new(&data));
    let listing = backups_within(&workspace, &["backups", "--verify"]);
    assert!(listing.stderr.contains("trap.json is not a regular file"), "{listing:?}");
    assert!(listing.stdout.contains("missing"), "{listing:?}");
}

/// A committed root with a protected environment without a cluster (a file lock).
fn protected_workspace(environment: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.config(&format!("[environments.\"{environment}\"]\nprotected = true\n"));
    workspace.write(".gitignore", "/.shipctl\n/ignored/\n");
    workspace.write("scripts/web/release.rhai", "info(\"hello\");\n");
    commit_all(workspace.path(), "scripts");
    workspace
}

fn run_in(workspace: &Workspace, script: &str, environment: &str) -> Result<RunReport, Error> {
    let request = RunRequest::new(workspace.path().join(script), environment, Mode::Run);
    shipctl::run::execute(request, Box::new(Silent))
}

#[test]
fn an_environment_name_cannot_move_the_lock_file() {
    let environment = "/../../../escaped";
    let workspace = protected_workspace(environment);
    // A directory that would let a raw join resolve `web./../..` out of the lock directory.
    std::fs::create_dir_all(workspace.path().join(".shipctl/runs/locks/web.")).unwrap();
    let report = run_in(&workspace, "scripts/web/release.rhai", environment).unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert!(!workspace.path().join("escaped.lock").exists(), "the lock file left the lock directory");
    assert!(!workspace.path().join(".shipctl/escaped.lock").exists(), "the lock file left the lock directory");
    let locks: Vec<String> = std::fs::read_dir(workspace.path().join(".shipctl/runs/locks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(locks.contains(&"web.%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fescaped.lock".to_string()), "{locks:?}");
}

#[test]
fn a_symlink_planted_as_the_lock_file_is_not_written_through() {
    let workspace = protected_workspace("production");
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir_all(workspace.path().join(".shipctl/runs/locks")).unwrap();
    symlink(&victim, workspace.path().join(".shipctl/runs/locks/web.production.lock")).unwrap();
    let _ = run_in(&workspace, "scripts/web/release.rhai", "production");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "the lock's holder was written outside");
}

#[test]
fn a_script_in_a_git_ignored_directory_is_not_committed() {
    let workspace = protected_workspace("production");
    workspace.write("ignored/release.rhai", "info(\"not reviewed\");\n");
    let error = failure(run_in(&workspace, "ignored/release.rhai", "production"));
    assert!(error.contains("not committed"), "{error}");
    assert!(error.contains("ignored by git"), "{error}");
    assert!(error.contains("ignored/release.rhai"), "{error}");
}

#[test]
fn a_module_in_a_git_ignored_directory_is_not_committed() {
    let workspace = protected_workspace("production");
    workspace.write("scripts/web/release.rhai", "import \"../../ignored/helpers\" as helpers;\ninfo(\"hello\");\n");
    commit_all(workspace.path(), "import");
    workspace.write("ignored/helpers.rhai", "fn hi() { 1 }\n");
    let error = failure(run_in(&workspace, "scripts/web/release.rhai", "production"));
    assert!(error.contains("ignored/helpers.rhai (ignored by git"), "{error}");
    // The same files committed run.
    workspace.write(".gitignore", "/.shipctl\n");
    commit_all(workspace.path(), "helpers");
    let report = run_in(&workspace, "scripts/web/release.rhai", "production").unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
}

#[test]
fn a_protected_run_cannot_import_a_module_by_a_computed_path() {
    let workspace = protected_workspace("production");
    workspace.write(
        "scripts/web/release.rhai",
        "let where = \"../../ignored/\" + \"helpers\";\nimport where as helpers;\ninfo(\"hello\");\n",
    );
    commit_all(workspace.path(), "computed import");
    workspace.write("ignored/helpers.rhai", "info(\"not reviewed\");\n");
    let error = failure(run_in(&workspace, "scripts/web/release.rhai", "production"));
    assert!(error.contains("scripts/web/release.rhai:2:1"), "{error}");
    assert!(error.contains("import's path is computed while the script runs"), "{error}");
}
