//! The main errors as the user sees them on stderr (a syntax error, an unknown argument
//! with its did-you-mean, a missing param, an unknown environment, a policy refusal):
//! pinned, with the workspace's temporary path replaced by `[workspace]`, run ids by
//! `[run id]` and durations by `[duration]`.

use crate::support::{Output, Workspace};

const RELEASE: &str = "let version = param(\"version\");\nstep(\"Announce\", || {\n    notify(#{ channel: \"log\", text: `v${version}` });\n});\n";

fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n\n[environments.frozen]\ndeny = [\"notify\"]\n");
    workspace.write("scripts/web/release.rhai", RELEASE);
    workspace
}

/// stdout and stderr, with the exit code, and no path of the temporary directory.
fn shown(workspace: &Workspace, output: &Output) -> String {
    let root = workspace.path().to_string_lossy().into_owned();
    let canonical = workspace.path().canonicalize().unwrap().to_string_lossy().into_owned();
    let text = format!("exit code {}\n--- stdout\n{}--- stderr\n{}", output.code, output.stdout, output.stderr);
    let text = text.replace(&canonical, "[workspace]").replace(&root, "[workspace]");
    text.lines().map(|line| line.split(' ').map(stable).collect::<Vec<_>>().join(" ") + "\n").collect()
}

/// A word of the output, with a run id or a duration replaced by a marker.
fn stable(word: &str) -> &str {
    let (id, suffix) = word.split_at(word.find(".jsonl").unwrap_or(word.len()));
    let id = id.rsplit('/').next().unwrap_or(id);
    let parts: Vec<&str> = id.split('-').collect();
    if let [date, time, hash] = parts.as_slice()
        && date.len() == 8
        && time.len() == 6
        && date.chars().chain(time.chars()).all(|c| c.is_ascii_digit())
        && hash.chars().all(|c| c.is_ascii_hexdigit())
    {
        return if suffix.is_empty() { "[run id]" } else { "[workspace]/.shipctl/runs/[run id].jsonl" };
    }
    let number = word.strip_suffix("ms").or_else(|| word.strip_suffix('s')).unwrap_or("");
    if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return "[duration]";
    }
    word
}

#[test]
fn a_syntax_error() {
    let workspace = workspace();
    workspace.write("scripts/web/broken.rhai", "let x = 1;\nlet y = (;\n");
    let output = workspace.shipctl(&["plan", "scripts/web/broken.rhai"]);
    insta::assert_snapshot!(shown(&workspace, &output));
}

#[test]
fn an_unknown_argument_with_did_you_mean() {
    let workspace = workspace();
    workspace.write("scripts/web/typo.rhai", "tag(#{ repo: \"app\", nmae: \"1.0.0\", message: \"m\" });\n");
    let output = workspace.shipctl(&["plan", "scripts/web/typo.rhai"]);
    insta::assert_snapshot!(shown(&workspace, &output));
}

#[test]
fn a_missing_param() {
    let workspace = workspace();
    let output = workspace.shipctl(&["plan", "scripts/web/release.rhai", "--set", "verison=1.0.0"]);
    insta::assert_snapshot!(shown(&workspace, &output));
}

#[test]
fn an_unknown_environment() {
    let workspace = workspace();
    let output = workspace.shipctl(&["plan", "scripts/web/release.rhai", "--env", "prodution", "--set", "version=1"]);
    insta::assert_snapshot!(shown(&workspace, &output));
}

#[test]
fn a_policy_refusal() {
    let workspace = workspace();
    let output = workspace.shipctl(&["run", "scripts/web/release.rhai", "--env", "frozen", "--set", "version=1"]);
    insta::assert_snapshot!(shown(&workspace, &output));
}
