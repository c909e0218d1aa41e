//! The command line as people expect it: version, completions, man pages, `-v`, and
//! what the journal header records about the build and the CI job.

use crate::support::Workspace;

const RELEASE: &str = "step(\"Announce\", || {\n    notify(#{ channel: \"log\", text: \"hello\" });\n});\n";

fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("scripts/web/release.rhai", RELEASE);
    workspace
}

/// The header line of the only journal in `workspace`.
fn header(workspace: &Workspace) -> serde_json::Value {
    let journal = workspace.journals().pop().expect("a journal");
    let text = std::fs::read_to_string(journal).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let output = Workspace::new().shipctl(&["--version"]);
    assert_eq!(output.code, 0, "{output:?}");
    let line = output.stdout.trim();
    let rest = line.strip_prefix(&format!("shipctl {} (", env!("CARGO_PKG_VERSION"))).expect(line);
    let (commit, date) = rest.strip_suffix(')').expect(line).split_once(' ').expect(line);
    assert!(commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{line}");
    assert_eq!(date.len(), 10, "{line}");
    assert!(date.starts_with("20") && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-', "{line}");
}

#[test]
fn completions_for_every_shell() {
    let workspace = Workspace::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = workspace.shipctl(&["completions", shell]);
        assert_eq!(output.code, 0, "{shell}: {output:?}");
        assert!(output.stdout.contains("shipctl") && output.stdout.contains("plan"), "{shell}: {}", output.stdout);
    }
    assert_eq!(workspace.shipctl(&["completions", "cmd.exe"]).code, 2);
}

#[test]
fn man_page_on_stdout_and_pages_in_a_directory() {
    let workspace = Workspace::new();
    let output = workspace.shipctl(&["man"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(".TH shipctl 1"), "{}", output.stdout);
    assert!(output.stdout.contains("completions"), "{}", output.stdout);
    let output = workspace.shipctl(&["man", "--dir", "out/man"]);
    assert_eq!(output.code, 0, "{output:?}");
    let pages = workspace.path().join("out/man");
    for page in ["shipctl.1", "shipctl-plan.1", "shipctl-run.1"] {
        assert!(pages.join(page).is_file(), "{page} missing: {}", output.stderr);
    }
}

#[test]
fn verbose_shows_shipctl_effects_without_dependency_noise() {
    let workspace = workspace();
    let output = workspace.shipctl(&["-v", "plan", "scripts/web/release.rhai"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("effect started"), "{}", output.stderr);
    assert!(output.stderr.contains("kind=\"notify\""), "{}", output.stderr);
    let foreign = output.stderr.lines().filter(|line| line.contains("DEBUG") && !line.contains("shipctl"));
    assert_eq!(foreign.count(), 0, "{}", output.stderr);
    let quiet = workspace.shipctl(&["plan", "scripts/web/release.rhai"]);
    assert!(!quiet.stderr.contains("effect started"), "{}", quiet.stderr);
}

#[test]
fn journal_records_the_build_and_the_github_job() {
    let workspace = workspace();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_RUN_ID", "1234"),
        ("GITHUB_STEP_SUMMARY", ""),
        ("SHIPCTL_FORMAT", "text"),
    ];
    let output = workspace.shipctl_with_env(&["run", "scripts/web/release.rhai"], &env);
    assert_eq!(output.code, 0, "{output:?}");
    let header = header(&workspace);
    let version = header["shipctl_version"].as_str().unwrap();
    assert!(version.starts_with(&format!("{} (", env!("CARGO_PKG_VERSION"))), "{version}");
    assert_eq!(header["ci"]["system"], "github");
    assert_eq!(header["ci"]["actor"], "octocat");
    assert_eq!(header["ci"]["url"], "https://github.com/acme/shop/actions/runs/1234");
}

#[test]
fn journal_user_comes_from_the_system_when_user_is_unset() {
    let workspace = workspace();
    let output = workspace.shipctl_with_env(&["run", "scripts/web/release.rhai"], &[("USER", ""), ("LOGNAME", "")]);
    assert_eq!(output.code, 0, "{output:?}");
    let header = header(&workspace);
    let user = header["user"].as_str().unwrap();
    assert!(!user.is_empty() && user != "unknown", "{header}");
    assert!(header.get("ci").is_none() || std::env::var("GITHUB_ACTIONS").is_ok(), "{header}");
}

#[test]
fn definitions_for_editors_name_every_primitive() {
    let workspace = Workspace::new();
    let output = workspace.shipctl(&["definitions", "defs"]);
    assert_eq!(output.code, 0, "{output:?}");
    let global = std::fs::read_to_string(workspace.path().join("defs/shipctl.d.rhai")).unwrap();
    for name in shipctl::primitives::registry().names() {
        assert!(global.contains(&format!("fn {name}(args: Map) -> Map;")), "{name} missing");
    }
    assert!(global.contains("fn param(name) -> String;"), "{global}");
    let release = std::fs::read_to_string(workspace.path().join("defs/std-release.d.rhai")).unwrap();
    assert!(release.contains("module release;") && release.contains("fn deploy(options);"), "{release}");
    // A symlink where a file goes is refused, not written through.
    let target = workspace.path().join("elsewhere.txt");
    std::fs::write(&target, "keep").unwrap();
    std::fs::remove_file(workspace.path().join("defs/shipctl.d.rhai")).unwrap();
    std::os::unix::fs::symlink(&target, workspace.path().join("defs/shipctl.d.rhai")).unwrap();
    assert_eq!(workspace.shipctl(&["definitions", "defs"]).code, 70);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
}
