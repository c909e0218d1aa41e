//! `tag` against real repositories: a work tree and a bare remote over file://.

use shipctl::journal::RunStatus;

use crate::support::{Workspace, commit_file, git_repository, refs};

/// A workspace with `repos/app` (one commit, remote `origin`) and `repos/origin.git`.
fn workspace() -> (Workspace, git2::Repository) {
    let workspace = Workspace::new();
    workspace.config("[repos.app]\npath = \"repos/app\"\nsemver = true\n");
    let repository = git_repository(&workspace.path().join("repos/app"));
    let origin = workspace.path().join("repos/origin.git");
    git2::Repository::init_bare(&origin).unwrap();
    repository.remote("origin", &format!("file://{}", origin.display())).unwrap();
    (workspace, repository)
}

fn tag_script(name: &str) -> String {
    format!(
        "let t = tag(#{{ repo: \"app\", name: \"{name}\", message: \"Release {name}\", push: \"origin\" }});\nprint(`${{t.created}} ${{t.pushed}} ${{t.commit}}`);\n"
    )
}

#[test]
fn creates_an_annotated_tag_and_pushes_it() {
    let (workspace, repository) = workspace();
    workspace.write("release.rhai", &tag_script("1.0.0"));
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let head = repository.head().unwrap().peel_to_commit().unwrap().id();
    let result = report.effects[0].result.clone().unwrap();
    assert_eq!(result["commit"], head.to_string());
    assert_eq!(result["created"], true);
    assert_eq!(result["pushed"], true);

    let reference = repository.find_reference("refs/tags/1.0.0").unwrap();
    let tag = reference.peel_to_tag().expect("an annotated tag");
    assert_eq!(tag.message().unwrap(), Some("Release 1.0.0"));
    assert_eq!(tag.target_id(), head);
    let origin = refs(&workspace.path().join("repos/origin.git"));
    assert_eq!(origin.get("refs/tags/1.0.0"), Some(&tag.id().to_string()), "the remote has the same tag object");
}

#[test]
fn a_rerun_on_the_same_commit_succeeds_and_says_so() {
    let (workspace, repository) = workspace();
    workspace.write("release.rhai", &tag_script("1.0.0"));
    workspace.run("release.rhai", &[]);
    let before = refs(repository.path());
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let result = report.effects[0].result.clone().unwrap();
    assert_eq!(result["created"], false);
    assert_eq!(result["pushed"], true);
    assert_eq!(refs(repository.path()), before, "the tag was not recreated");
}

#[test]
fn a_tag_on_another_commit_is_a_conflict() {
    let (workspace, repository) = workspace();
    workspace.write("release.rhai", &tag_script("1.0.0"));
    workspace.run("release.rhai", &[]);
    let tagged = repository.find_reference("refs/tags/1.0.0").unwrap().peel_to_commit().unwrap().id();
    let newer = commit_file(&repository, "CHANGES", "more\n", "second");
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().message;
    assert!(error.contains("tag 1.0.0 already exists"), "{error}");
    assert!(error.contains(&tagged.to_string()[..12]) && error.contains(&newer.to_string()[..12]), "{error}");
}

#[test]
fn the_remote_refusing_a_different_tag_fails_the_push() {
    let (workspace, repository) = workspace();
    // The remote already has 2.0.0 on another commit (pushed from elsewhere).
    let other = tempfile::tempdir().unwrap();
    let elsewhere = git_repository(other.path());
    commit_file(&elsewhere, "OTHER", "x\n", "other history");
    let head = elsewhere.head().unwrap().peel_to_commit().unwrap();
    let signature = git2::Signature::now("Other", "other@example.invalid").unwrap();
    elsewhere.tag("2.0.0", head.as_object(), &signature, "theirs", false).unwrap();
    let origin = workspace.path().join("repos/origin.git");
    elsewhere.remote("origin", &format!("file://{}", origin.display())).unwrap();
    elsewhere.find_remote("origin").unwrap().push(&["refs/tags/2.0.0:refs/tags/2.0.0"], None).unwrap();

    workspace.write("release.rhai", &tag_script("2.0.0"));
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().message;
    assert!(error.contains("origin rejected tag 2.0.0") || error.contains("cannot push tag 2.0.0"), "{error}");
    assert!(repository.find_reference("refs/tags/2.0.0").is_ok(), "the local tag exists; the remote keeps its own");
}

#[test]
fn semver_is_enforced_when_the_repo_asks() {
    let (workspace, _repository) = workspace();
    workspace.write("release.rhai", &tag_script("v1"));
    let report = workspace.plan("release.rhai", &[]);
    let error = report.error.expect("refused").to_string();
    assert!(error.contains("not a semantic version"), "{error}");
}

#[test]
fn plan_leaves_the_repositories_untouched() {
    let (workspace, repository) = workspace();
    let origin = workspace.path().join("repos/origin.git");
    workspace.write("release.rhai", &tag_script("1.0.0"));
    let before = (refs(repository.path()), refs(&origin));
    let report = workspace.plan("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.effects[0].result.as_ref().unwrap()["commit"], "HEAD");

    let mut request =
        shipctl::run::RunRequest::new(workspace.path().join("release.rhai"), "local", shipctl::effect::Mode::Plan);
    request.refresh = true;
    let refreshed = shipctl::run::execute(request, Box::new(shipctl::effect::Silent)).unwrap();
    let head = repository.head().unwrap().peel_to_commit().unwrap().id().to_string();
    assert_eq!(refreshed.effects[0].result.as_ref().unwrap()["commit"], head, "--refresh reads the real commit");
    assert_eq!((refs(repository.path()), refs(&origin)), before);
    assert!(workspace.journals().is_empty(), "a plan keeps no journal unless asked");
}
