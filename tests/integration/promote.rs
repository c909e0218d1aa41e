//! `promote_image` against a real registry: within and across repositories, image
//! indexes, basic auth, re-runs, plans, and registries that say no.

use serde_json::Value;
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;
use shipctl::run::RunReport;

use crate::registry::{DOCKER_MANIFEST, OCI_MANIFEST, Registry};
use crate::support::Workspace;

fn promote_script(from: &str, to: &str) -> String {
    format!("let image = promote_image(#{{ from: \"{from}\", to: \"{to}\" }});\nprint(image.summary);\n")
}

fn result(report: &RunReport) -> Value {
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    report.effects[0].result.clone().unwrap()
}

#[test]
fn promotes_within_a_repository_and_a_rerun_says_it_already_points_there() {
    let registry = Registry::start();
    let first = registry.push_image("cdc/web", "1.4.0", OCI_MANIFEST, "one four zero");
    let workspace = Workspace::new();
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("cdc/web", "1.4.0"), &registry.image("cdc/web", "production")),
    );
    let promoted = result(&workspace.run("promote.rhai", &[]));
    assert_eq!(promoted["digest"], first.as_str());
    assert_eq!(promoted["previous"], "");
    assert_eq!(promoted["changed"], true);
    assert_eq!(promoted["media_type"], OCI_MANIFEST);
    assert_eq!(registry.digest("cdc/web", "production").as_deref(), Some(first.as_str()));

    let again = result(&workspace.run("promote.rhai", &[]));
    assert_eq!(again["changed"], false);
    assert_eq!(again["previous"], first.as_str());
    assert!(again["summary"].as_str().unwrap().ends_with("(already)"), "{again}");

    let second = registry.push_image("cdc/web", "1.5.0", OCI_MANIFEST, "one five zero");
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("cdc/web", "1.5.0"), &registry.image("cdc/web", "production")),
    );
    let moved = result(&workspace.run("promote.rhai", &[]));
    assert_eq!(moved["previous"], first.as_str());
    assert_eq!(moved["digest"], second.as_str());
    assert_eq!(registry.digest("cdc/web", "production").as_deref(), Some(second.as_str()));
    assert_eq!(registry.digest("cdc/web", "1.4.0").as_deref(), Some(first.as_str()), "the source tag is untouched");
}

#[test]
fn promotes_across_repositories_behind_basic_auth() {
    let registry = Registry::with_basic_auth("ci", "registry pass");
    let digest = registry.push_image("staging/web", "1.4.0", DOCKER_MANIFEST, "docker flavoured");
    let workspace = Workspace::new();
    workspace.write("secrets/registry", "registry pass\n");
    workspace.config(&format!(
        "[secrets.registry]\nfile = \"secrets/registry\"\n\n[registries.\"{}\"]\nusername = \"ci\"\npassword_secret = \"registry\"\n",
        registry.host
    ));
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("staging/web", "1.4.0"), &registry.image("production/web", "1.4.0")),
    );
    let report = workspace.run("promote.rhai", &[]);
    let promoted = result(&report);
    assert_eq!(promoted["digest"], digest.as_str());
    assert_eq!(promoted["media_type"], DOCKER_MANIFEST);
    assert_eq!(registry.digest("production/web", "1.4.0").as_deref(), Some(digest.as_str()));
    for blob in registry.blobs_of("staging/web", "1.4.0") {
        assert!(registry.has_blob("production/web", &blob), "blob {blob} is in the target repository");
    }
    let journal = std::fs::read_to_string(report.journal.as_ref().unwrap()).unwrap();
    assert!(!journal.contains("registry pass"), "the password is not journaled");

    // `-v` names each registry request and its answer, never the password.
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("staging/web", "1.4.0"), &registry.image("production/web", "verbose")),
    );
    let verbose = workspace.shipctl(&["-v", "run", "promote.rhai"]);
    assert_eq!(verbose.code, 0, "{verbose:?}");
    let manifest_put = format!("method=PUT url=http://{}/v2/production/web/manifests/verbose", registry.host);
    assert!(verbose.stderr.contains(&manifest_put), "{manifest_put} in\n{}", verbose.stderr);
    assert!(
        verbose.stderr.contains("registry answered") && verbose.stderr.contains("status=201"),
        "{}",
        verbose.stderr
    );
    assert!(!verbose.stderr.contains("registry pass"), "{}", verbose.stderr);
}

#[test]
fn promotes_with_a_bearer_token_from_the_realm_the_registry_names() {
    let registry = Registry::with_token_auth("ci", "token pass");
    let digest = registry.push_image("staging/web", "1.4.0", OCI_MANIFEST, "behind a token service");
    let workspace = Workspace::new();
    workspace.write("secrets/registry", "token pass");
    workspace.config(&format!(
        "[secrets.registry]\nfile = \"secrets/registry\"\n\n[registries.\"{}\"]\nusername = \"ci\"\npassword_secret = \"registry\"\n",
        registry.host
    ));
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("staging/web", "1.4.0"), &registry.image("production/web", "live")),
    );
    let promoted = result(&workspace.run("promote.rhai", &[]));
    assert_eq!(promoted["digest"], digest.as_str());
    assert_eq!(registry.digest("production/web", "live").as_deref(), Some(digest.as_str()));
    assert_eq!(registry.token_requests(), 1, "one token for the whole promotion");

    workspace.write("secrets/registry", "wrong token");
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("staging/web", "1.4.0"), &registry.image("production/web", "other")),
    );
    let report = workspace.run("promote.rhai", &[]);
    let error = report.error.unwrap();
    assert!(error.to_string().contains("the token service of registry"), "{error}");
    assert!(error.to_string().contains("answered 401"), "{error}");
    assert!(error.help.unwrap_or_default().contains("password_secret"));
    assert_eq!(registry.digest("production/web", "other"), None);
}

#[test]
fn an_image_index_is_promoted_with_every_image_it_lists() {
    let registry = Registry::start();
    let (index, children) = registry.push_index("builds/web", "1.4.0");
    let workspace = Workspace::new();
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("builds/web", "1.4.0"), &registry.image("release/web", "production")),
    );
    let promoted = result(&workspace.run("promote.rhai", &[]));
    assert_eq!(promoted["digest"], index.as_str());
    assert_eq!(promoted["media_type"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(registry.digest("release/web", "production").as_deref(), Some(index.as_str()));
    for child in &children {
        assert_eq!(registry.digest("release/web", child).as_deref(), Some(child.as_str()));
        for blob in registry.blobs_of("builds/web", child) {
            assert!(registry.has_blob("release/web", &blob), "blob {blob} of {child}");
        }
    }
}

#[test]
fn wrong_credentials_fail_clearly_and_write_no_tag() {
    let registry = Registry::with_basic_auth("ci", "right password");
    registry.push_image("web", "1.4.0", OCI_MANIFEST, "x");
    let workspace = Workspace::new();
    workspace.write("secrets/registry", "wrong password");
    workspace.config(&format!(
        "[secrets.registry]\nfile = \"secrets/registry\"\n\n[registries.\"{}\"]\nusername = \"ci\"\npassword_secret = \"registry\"\n",
        registry.host
    ));
    workspace
        .write("promote.rhai", &promote_script(&registry.image("web", "1.4.0"), &registry.image("web", "production")));
    let report = workspace.run("promote.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap();
    let message = error.to_string();
    assert!(message.contains("refused the credentials of \"ci\" (401)"), "{message}");
    assert!(error.help.unwrap_or_default().contains("password_secret"));
    assert_eq!(registry.digest("web", "production"), None);

    // Without any credentials configured, the error says what to declare.
    workspace.config("");
    let report = workspace.run("promote.rhai", &[]);
    let error = report.error.unwrap();
    assert!(error.to_string().contains("requires a user name and password"), "{error}");
    assert!(error.help.unwrap_or_default().contains(&format!("[registries.\"{}\"]", registry.host)));
}

#[test]
fn a_missing_source_tag_writes_nothing() {
    let registry = Registry::start();
    registry.push_image("web", "1.4.0", OCI_MANIFEST, "x");
    let workspace = Workspace::new();
    workspace
        .write("promote.rhai", &promote_script(&registry.image("web", "1.4.1"), &registry.image("web", "production")));
    let report = workspace.run("promote.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let message = report.error.unwrap().to_string();
    assert!(message.contains(&format!("image {}/web:1.4.1 does not exist", registry.host)), "{message}");
    assert_eq!(registry.digest("web", "production"), None);

    // A repository that does not exist at all is the same to the script.
    workspace
        .write("promote.rhai", &promote_script(&registry.image("nope", "1"), &registry.image("web", "production")));
    let message = workspace.run("promote.rhai", &[]).error.unwrap().to_string();
    assert!(message.contains("does not exist"), "{message}");
}

#[test]
fn a_registry_that_fails_inside_is_reported_with_its_answer() {
    let registry = Registry::start();
    registry.push_image("web", "1.4.0", OCI_MANIFEST, "x");
    // Break the storage under the running registry: where it keeps the repositories
    // is now a file.
    let repositories = registry.storage().join("docker/registry/v2/repositories");
    std::fs::remove_dir_all(&repositories).unwrap();
    std::fs::write(&repositories, "not a directory").unwrap();
    let workspace = Workspace::new();
    workspace
        .write("promote.rhai", &promote_script(&registry.image("web", "1.4.0"), &registry.image("web", "production")));
    let report = workspace.run("promote.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let message = report.error.unwrap().to_string();
    assert!(message.contains(&format!("registry {} answered 500", registry.host)), "{message}");
}

#[test]
fn an_unreachable_registry_names_the_host() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let workspace = Workspace::new();
    workspace.write(
        "promote.rhai",
        &promote_script(&format!("127.0.0.1:{closed}/web:1"), &format!("127.0.0.1:{closed}/web:production")),
    );
    let report = workspace.run("promote.rhai", &[]);
    let error = report.error.unwrap();
    assert!(error.to_string().contains(&format!("cannot reach registry 127.0.0.1:{closed}")), "{error}");
}

#[test]
fn the_plan_shows_the_digests_with_refresh_and_writes_nothing() {
    let registry = Registry::start();
    let old = registry.push_image("cdc/web", "1.3.0", OCI_MANIFEST, "old");
    let new = registry.push_image("cdc/web", "1.4.0", OCI_MANIFEST, "new");
    registry.push_manifest("cdc/web", "production", OCI_MANIFEST, &{
        // production points at 1.3.0: the same manifest bytes under another tag.
        let response = registry.digest("cdc/web", "1.3.0");
        assert_eq!(response.as_deref(), Some(old.as_str()));
        manifest_bytes(&registry, "cdc/web", "1.3.0")
    });
    let workspace = Workspace::new();
    workspace.write(
        "promote.rhai",
        &promote_script(&registry.image("cdc/web", "1.4.0"), &registry.image("cdc/web", "production")),
    );
    let plain = workspace.shipctl(&["plan", "promote.rhai"]);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert!(
        plain.stdout.contains("web:production  -> digest of the source (resolved with --refresh)"),
        "{}",
        plain.stdout
    );

    let refreshed = workspace.shipctl(&["plan", "promote.rhai", "--refresh"]);
    assert_eq!(refreshed.code, 0, "{refreshed:?}");
    let expected = format!("web:production  {} -> {}", &old[..19], &new[..19]);
    assert!(refreshed.stdout.contains(&expected), "{expected} in\n{}", refreshed.stdout);
    assert_eq!(registry.digest("cdc/web", "production").as_deref(), Some(old.as_str()), "a plan writes nothing");

    let report = workspace.execute("promote.rhai", Mode::Plan, "local", &[], None).unwrap();
    assert_eq!(result(&report)["digest"], "");
}

fn manifest_bytes(registry: &Registry, repository: &str, tag: &str) -> Vec<u8> {
    let url = format!("http://{}/v2/{repository}/manifests/{tag}", registry.host);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new().get(url).header("accept", OCI_MANIFEST).send().await.unwrap();
        response.bytes().await.unwrap().to_vec()
    })
}
