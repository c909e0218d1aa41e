//! Replay a recorded run against a script; resume a failed or killed run.

use std::time::{Duration, Instant};

use shipctl::effect::HaltReason;
use shipctl::effect::Silent;
use shipctl::journal::{Record, RunStatus, read_journal};
use shipctl::run::{execute, replay_request, resume_request};

use crate::support::{HttpServer, Workspace, tag_and_webhook_workspace};

const RELEASE: &str = r#"let version = param("version");
let started = now();
step("Announce", || {
    notify(#{ channel: "log", text: `starting ${version} at ${started.iso}` });
    notify(#{ channel: "log", text: "second" });
});
step("Finish", || notify(#{ channel: "log", text: "done" }));
"#;

fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", RELEASE);
    workspace
}

fn record(workspace: &Workspace) -> std::path::PathBuf {
    let report = workspace.run("release.rhai", &[("version", "1.0.0")]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    report.journal.unwrap()
}

#[test]
fn an_unchanged_script_replays_identically_with_the_recorded_time() {
    let workspace = workspace();
    let journal = record(&workspace);
    // The first notify's text holds now(): only the recorded time makes it match.
    std::thread::sleep(Duration::from_millis(5));
    let (request, warnings) = replay_request(&journal, None).unwrap();
    assert!(warnings.is_empty());
    let report = execute(request, Box::new(Silent)).unwrap();
    assert!(report.halt.is_none(), "{:?}", report.halt);
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.effects.len(), 4);
    assert!(report.effects.iter().all(|effect| effect.replayed_from.is_some()));
    assert_eq!(workspace.journals().len(), 1, "a replay keeps no journal");

    let output = workspace.shipctl(&["replay", journal.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("replayed identically: 4 effects; the recorded run succeeded"), "{}", output.stdout);
    assert!(!output.stdout.contains("[log]"), "nothing is sent again: {}", output.stdout);
}

#[test]
fn swapping_two_effects_is_reported_with_both_sides() {
    let workspace = workspace();
    let journal = record(&workspace);
    let swapped = RELEASE.replace(
        "    notify(#{ channel: \"log\", text: `starting ${version} at ${started.iso}` });\n    notify(#{ channel: \"log\", text: \"second\" });",
        "    notify(#{ channel: \"log\", text: \"second\" });\n    notify(#{ channel: \"log\", text: `starting ${version} at ${started.iso}` });",
    );
    assert_ne!(swapped, RELEASE);
    workspace.write("release.rhai", &swapped);

    let refused = workspace.shipctl(&["replay", journal.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "a changed script is not replayed silently: {refused:?}");
    assert!(refused.stderr.contains("release.rhai changed since run"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--script"), "{}", refused.stderr);

    let (request, _) = replay_request(&journal, Some(&workspace.path().join("release.rhai"))).unwrap();
    let report = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(report.status, RunStatus::Halted);
    let halt = report.halt.unwrap();
    assert_eq!(halt.reason, HaltReason::Diverged);
    let divergence = halt.divergence.unwrap();
    assert_eq!(divergence.seq, 2);
    let (recorded, requested) = (divergence.recorded.unwrap(), divergence.requested.unwrap());
    assert_eq!(recorded.step.as_deref(), Some("Announce"));
    assert!(recorded.args["text"].as_str().unwrap().starts_with("starting 1.0.0"));
    assert_eq!(requested.args["text"], "second");
    assert_eq!(requested.origin.line, 4);
    assert_eq!(divergence.differences.len(), 1);
    assert_eq!(divergence.differences[0].path, "text");
    assert_eq!(report.effects.len(), 1, "nothing past the divergence ran");

    let output = workspace.shipctl(&["replay", journal.to_str().unwrap(), "--script", "release.rhai"]);
    assert_eq!(output.code, 5, "{output:?}");
    assert!(output.stderr.contains("at effect 2 in step \"Announce\""), "{}", output.stderr);
    assert!(output.stderr.contains("recorded: notify channel=\"log\" text=\"starting 1.0.0"), "{}", output.stderr);
    assert!(output.stderr.contains("now:      notify channel=\"log\" text=\"second\""), "{}", output.stderr);
    assert!(output.stderr.contains("(at release.rhai:4:5)"), "{}", output.stderr);
    assert!(output.stderr.contains("text: \"starting 1.0.0"), "{}", output.stderr);
}

#[test]
fn effects_past_the_recording_and_a_shorter_script_are_divergences() {
    let workspace = workspace();
    let journal = record(&workspace);
    workspace.write("longer.rhai", &format!("{RELEASE}notify(#{{ channel: \"log\", text: \"extra\" }});\n"));
    let (request, _) = replay_request(&journal, Some(&workspace.path().join("longer.rhai"))).unwrap();
    let halt = execute(request, Box::new(Silent)).unwrap().halt.unwrap();
    assert!(
        halt.message.contains("effect 5 (notify) is a new effect the recorded run never reached"),
        "{}",
        halt.message
    );

    let shorter = RELEASE.replace("step(\"Finish\", || notify(#{ channel: \"log\", text: \"done\" }));\n", "");
    workspace.write("shorter.rhai", &shorter);
    let (request, _) = replay_request(&journal, Some(&workspace.path().join("shorter.rhai"))).unwrap();
    let halt = execute(request, Box::new(Silent)).unwrap().halt.unwrap();
    assert!(
        halt.message.contains("the script ended; the recorded run went on to effect 4 (notify)"),
        "{}",
        halt.message
    );
    assert!(halt.divergence.unwrap().requested.is_none());
}

#[test]
fn a_recorded_failure_replays_as_the_same_failure_without_calling_anything() {
    let server = HttpServer::start(&[(500, "down")]);
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write(
        "release.rhai",
        &format!(
            "on_failure(|| notify(#{{ channel: \"log\", text: \"rolled back\" }}));\nstep(\"Verify\", || http_check(#{{ url: \"{}/health\", retries: 0 }}));\n",
            server.url
        ),
    );
    let recorded = workspace.run("release.rhai", &[]);
    assert_eq!(recorded.status, RunStatus::Failed);
    drop(server);
    let (request, _) = replay_request(recorded.journal.as_ref().unwrap(), None).unwrap();
    let report = execute(request, Box::new(Silent)).unwrap();
    assert!(report.halt.is_none(), "{:?}", report.halt);
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.error.unwrap().message, recorded.error.unwrap().message);
    assert_eq!(report.failed_step.as_deref(), Some("Verify"));
    assert!(report.effects[1].compensation, "the compensation replays too");
}

#[test]
fn bad_journals_get_clear_errors() {
    let workspace = workspace();
    let journal = record(&workspace);
    let text = std::fs::read_to_string(&journal).unwrap();

    // Cut mid-record: a warning, and the replay goes as far as the journal does.
    let truncated = workspace.path().join("truncated.jsonl");
    std::fs::write(&truncated, &text[..text.len() - 10]).unwrap();
    let (request, warnings) = replay_request(&truncated, None).unwrap();
    assert!(warnings[0].contains("the last line is cut off"), "{warnings:?}");
    assert!(execute(request, Box::new(Silent)).unwrap().halt.is_none());

    // A newer format.
    let newer = workspace.path().join("newer.jsonl");
    std::fs::write(&newer, text.replacen("\"format\":1", "\"format\":2", 1)).unwrap();
    let error = replay_request(&newer, None).unwrap_err().to_string();
    assert!(error.contains("journal format 2 is newer than this shipctl reads"), "{error}");

    // A hand-edited sequence: the second intent removed.
    let lines: Vec<&str> = text.lines().collect();
    let second_intent = lines.iter().position(|line| line.contains("\"type\":\"intent\",\"seq\":2")).unwrap();
    let edited: Vec<&str> =
        lines.iter().enumerate().filter(|(index, _)| *index != second_intent).map(|(_, line)| *line).collect();
    let broken = workspace.path().join("edited.jsonl");
    std::fs::write(&broken, edited.join("\n") + "\n").unwrap();
    let error = replay_request(&broken, None).unwrap_err().to_string();
    assert!(error.contains(&format!("edited.jsonl:{}:", second_intent + 1)), "{error}");
    assert!(error.contains("an outcome for effect 2 that was not started"), "{error}");

    // A journal of another script: said, and the divergence shows at once.
    workspace.write("other.rhai", "tag(#{ repo: \"x\", name: \"1.0.0\", message: \"m\" });\n");
    std::fs::create_dir_all(workspace.path().join("x")).unwrap();
    let (request, warnings) = replay_request(&journal, Some(&workspace.path().join("other.rhai"))).unwrap();
    assert!(warnings[0].contains("other.rhai against run"), "{warnings:?}");
    let halt = execute(request, Box::new(Silent)).unwrap().halt.unwrap();
    assert_eq!(halt.divergence.unwrap().seq, 1);

    // Not a journal at all.
    workspace.write("notes.jsonl", "{\"hello\": 1}\n");
    let error = replay_request(&workspace.path().join("notes.jsonl"), None).unwrap_err().to_string();
    assert!(error.contains("is this a shipctl journal?"), "{error}");
}

/// A workspace whose script tags, notifies a webhook, checks a slow endpoint, notifies.
struct Killable {
    workspace: Workspace,
    webhook: HttpServer,
    slow: HttpServer,
}

fn killable() -> Killable {
    let webhook = HttpServer::start(&[(200, "ok")]);
    // The first health request hangs long enough to kill the run in the middle of it.
    let slow = HttpServer::start_with_delays(&[(200, "ok", Duration::from_secs(20)), (200, "ok", Duration::ZERO)]);
    let workspace = tag_and_webhook_workspace(&webhook);
    workspace.write(
        "release.rhai",
        &format!(
            r#"let version = param("version");
step("Tag", || tag(#{{ repo: "app", name: version, message: `Release ${{version}}` }}));
step("Announce", || notify(#{{ channel: "hook", text: `deploying ${{version}}` }}));
step("Verify", || http_check(#{{ url: "{}/health", retries: 0, timeout: "60s" }}));
step("Done", || notify(#{{ channel: "hook", text: `${{version}} is live` }}));
"#,
            slow.url
        ),
    );
    Killable { workspace, webhook, slow }
}

fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_killed_run_resumes_without_repeating_finished_effects() {
    let Killable { workspace, webhook, slow } = killable();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["run", "release.rhai", "--set", "version=1.0.0"])
        .current_dir(workspace.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the health check to start", || slow.requests().len() == 1);
    child.kill().unwrap(); // SIGKILL: no footer, no outcome for the health check
    child.wait().unwrap();
    assert_eq!(webhook.requests().len(), 1);
    let journal = workspace.journals().pop().unwrap();
    let tag = git2::Repository::open(workspace.path().join("repos/app"))
        .unwrap()
        .find_reference("refs/tags/1.0.0")
        .unwrap()
        .target();
    let history = workspace.shipctl(&["history"]);
    assert!(history.stdout.contains("unfinished"), "{}", history.stdout);

    // The health check was started but never finished: a read, so it is performed
    // again without --retry-unfinished.
    let resumed = workspace.shipctl(&["resume", journal.to_str().unwrap()]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert_eq!(webhook.requests().len(), 2, "the announcement was not sent twice");
    assert!(webhook.requests()[1].body.contains("1.0.0 is live"));
    assert_eq!(slow.requests().len(), 2);
    let repository = git2::Repository::open(workspace.path().join("repos/app")).unwrap();
    assert_eq!(repository.find_reference("refs/tags/1.0.0").unwrap().target(), tag, "the tag was not recreated");

    let old = read_journal(&journal).unwrap();
    let newest = workspace.journals().into_iter().map(|path| read_journal(&path).unwrap()).find(|candidate| {
        candidate.header.resumed_from.as_deref() == Some(old.header.run_id.as_str())
            && candidate.footer().map(|footer| footer.status) == Some(RunStatus::Succeeded)
    });
    let resumed = newest.expect("a new journal linked to the killed run");
    let replayed: Vec<Option<&str>> = resumed
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Outcome(outcome) => Some(outcome.replayed_from.as_deref()),
            _ => None,
        })
        .collect();
    let old_id = old.header.run_id.as_str();
    assert_eq!(replayed, vec![Some(old_id), Some(old_id), None, None]);
}

#[test]
fn resume_refuses_what_it_cannot_continue_safely() {
    let workspace = workspace();
    let succeeded = record(&workspace);
    let error = resume_request(&succeeded, false, false).unwrap_err().to_string();
    assert!(error.contains("succeeded: there is nothing to resume"), "{error}");

    workspace.write(
        "compensated.rhai",
        "on_failure(|| notify(#{ channel: \"log\", text: \"undo\" }));\nnotify(#{ channel: \"log\", text: \"did\" });\nfail(\"broke\");\n",
    );
    let compensated = workspace.run("compensated.rhai", &[]);
    // A compensation that only notified undid nothing: the finished notify is skipped.
    let (request, _) = resume_request(compensated.journal.as_ref().unwrap(), false, false).unwrap();
    let report = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(report.status, RunStatus::Failed, "the script still fails where it did");
    assert!(report.effects[0].replayed_from.is_some(), "{:?}", report.effects);

    workspace.write("flaky.rhai", "notify(#{ channel: \"log\", text: \"one\" });\nfail(\"broke\");\nnotify(#{ channel: \"log\", text: \"two\" });\n");
    let failed = workspace.run("flaky.rhai", &[]);
    let journal = failed.journal.unwrap();
    workspace.write(
        "flaky.rhai",
        "notify(#{ channel: \"log\", text: \"ONE\" });\nnotify(#{ channel: \"log\", text: \"two\" });\n",
    );
    let error = resume_request(&journal, false, false).unwrap_err().to_string();
    assert!(error.contains("flaky.rhai changed since run"), "{error}");
    // Allowed to differ, the finished part must still match.
    let (request, _) = resume_request(&journal, false, true).unwrap();
    let report = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(report.status, RunStatus::Halted);
    assert!(report.halt.unwrap().message.contains("differs from the recording in text"));

    workspace.write(
        "flaky.rhai",
        "notify(#{ channel: \"log\", text: \"one\" });\nnotify(#{ channel: \"log\", text: \"two\" });\n",
    );
    let (request, _) = resume_request(&journal, false, true).unwrap();
    let report = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.effects[0].replayed_from.as_deref(), Some(failed.run_id.as_str()));
    assert_eq!(report.effects[1].replayed_from, None);
}

#[test]
fn replay_and_resume_take_a_run_id_or_a_unique_prefix_as_history_prints_it() {
    let workspace = workspace();
    let first = record(&workspace);
    let id = first.file_stem().unwrap().to_str().unwrap().to_string();
    let history = workspace.shipctl(&["history"]);
    assert!(history.stdout.contains(&id), "{}", history.stdout);

    let output = workspace.shipctl(&["replay", &id]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("replayed identically: 4 effects"), "{}", output.stdout);
    // A unique prefix, from a subdirectory with --root.
    std::fs::create_dir_all(workspace.path().join("sub")).unwrap();
    let output = workspace.shipctl(&["replay", &id[..id.len() - 2], "--root", "sub"]);
    assert_eq!(output.code, 0, "{output:?}");

    // Two runs share a prefix: both are named, and the exact id still works.
    std::fs::copy(&first, first.with_file_name(format!("{id}0.jsonl"))).unwrap();
    let output = workspace.shipctl(&["replay", &id[..8]]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains(&format!("run id prefix {} names 2 runs: {id}0, {id}", &id[..8])),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("give more characters"), "{}", output.stderr);
    assert_eq!(workspace.shipctl(&["replay", &id]).code, 0);

    let output = workspace.shipctl(&["resume", "19990101"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("no run 19990101 in "), "{}", output.stderr);
    assert!(output.stderr.contains("`shipctl history` lists the recorded runs"), "{}", output.stderr);

    // resume finds the run by its id too, and says it succeeded.
    let output = workspace.shipctl(&["resume", &id]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("succeeded: there is nothing to resume"), "{}", output.stderr);

    workspace.write("flaky.rhai", "notify(#{ channel: \"log\", text: \"one\" });\nfail(\"broke\");\n");
    let failed = workspace.run("flaky.rhai", &[]);
    workspace.write("flaky.rhai", "notify(#{ channel: \"log\", text: \"one\" });\n");
    let output = workspace.shipctl(&["resume", &failed.run_id, "--allow-changed-script"]);
    assert_eq!(output.code, 0, "{output:?}");
    let resumed = workspace
        .journals()
        .into_iter()
        .map(|path| read_journal(&path).unwrap())
        .find(|journal| journal.header.resumed_from.as_deref() == Some(failed.run_id.as_str()));
    assert!(resumed.is_some(), "a new journal resumes the failed run");
}

#[test]
fn a_hostile_run_id_never_reaches_a_file_outside_the_journal_directory() {
    let workspace = workspace();
    let journal = record(&workspace);
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(&journal, outside.path().join("stolen.jsonl")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("stolen.jsonl"),
        workspace.path().join(".shipctl/runs/stolen.jsonl"),
    )
    .unwrap();
    let output = workspace.shipctl(&["replay", "stolen"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("leads outside"), "{}", output.stderr);

    for id in ["..", ".", "*", "a\\b", "%2e%2e", "-", &"9".repeat(65)] {
        for command in ["replay", "resume"] {
            let output = workspace.shipctl(&[command, id]);
            assert_eq!(output.code, 2, "{command} {id}: {output:?}");
            assert!(output.stderr.contains("is not a run id"), "{command} {id}: {}", output.stderr);
            assert!(!output.stderr.contains("replayed"), "{}", output.stderr);
        }
    }
}
