//! Hostile native inputs: a remote that never answers, a directory too large for the
//! deadline, a FIFO among the journals, symlink loops under the scripts root, and
//! journals with every kind of bad field. Each would hang, crash or read outside the
//! root if the limit it attacks did not hold; commands run under a timeout, so a
//! regression fails instead of hanging the suite.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shipctl::journal::{JournalError, MAX_LINE_BYTES, Recording, RunStatus, read_journal};

use crate::support::{Workspace, git_repository, mkfifo};

/// What a bounded run of the binary did.
#[derive(Debug)]
struct Bounded {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run the binary in `workspace` with `args`, killed after `limit`: a hang shows as a
/// `None` code and a `took` at the limit, never as a stuck test.
fn shipctl_within(workspace: &Workspace, args: &[&str], limit: Duration) -> Bounded {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(args)
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shipctl");
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    Bounded {
        code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// A workspace with `repos/app` (one commit) whose remote `slow` is a loopback listener
/// that accepts connections and never says a word.
fn unresponsive_remote(scheme: &str) -> (Workspace, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let workspace = Workspace::new();
    workspace.config("[repos.app]\npath = \"repos/app\"\n\n[limits]\ndeadline = \"2s\"\n");
    let repository = git_repository(&workspace.path().join("repos/app"));
    repository.remote("slow", &format!("{scheme}://127.0.0.1:{port}/app.git")).unwrap();
    workspace.write(
        "release.rhai",
        "tag(#{ repo: \"app\", name: \"1.0.0\", message: \"Release 1.0.0\", push: \"slow\" });\n",
    );
    (workspace, listener)
}

fn assert_push_stopped_by_the_deadline(scheme: &str) {
    let (workspace, _listener) = unresponsive_remote(scheme);
    let started = Instant::now();
    let report = workspace.run("release.rhai", &[]);
    let took = started.elapsed();
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.error);
    assert!(took < Duration::from_secs(20), "the push outlived the 2s deadline: {took:?}");
    let error = report.effects[0].error.clone().unwrap_or_default();
    assert!(error.contains("deadline passed") && error.contains("pushing tag 1.0.0 to slow"), "{error}");
}

#[test]
fn a_push_to_an_http_remote_that_never_answers_ends_at_the_deadline() {
    assert_push_stopped_by_the_deadline("http");
}

#[test]
fn a_push_to_a_git_remote_that_never_answers_ends_at_the_deadline() {
    assert_push_stopped_by_the_deadline("git");
}

#[test]
fn a_files_backup_too_large_for_the_deadline_stops_and_leaves_nothing() {
    let workspace = Workspace::new();
    workspace.config("[limits]\ndeadline = \"1s\"\n");
    workspace.write("uploads/small.txt", "alpha");
    // 64 GiB of holes: instant to make, minutes to read and compress.
    let huge = std::fs::File::create(workspace.path().join("uploads/huge.bin")).unwrap();
    huge.set_len(64 << 30).unwrap();
    workspace.write("backup.rhai", "backup(#{ files: \"uploads\" });\n");
    let started = Instant::now();
    let report = workspace.run("backup.rhai", &[]);
    let took = started.elapsed();
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.error);
    assert!(took < Duration::from_secs(20), "the archive outlived the 1s deadline: {took:?}");
    let error = report.effects[0].error.clone().unwrap_or_default();
    assert!(error.contains("deadline passed") && error.contains("archiving"), "{error}");
    let store: Vec<_> = std::fs::read_dir(workspace.path().join(".shipctl/backups"))
        .map(|entries| entries.map(|entry| entry.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(store.is_empty(), "no half-written archive or record is left: {store:?}");
}

#[test]
fn a_fifo_among_the_journals_does_not_hang_history_or_replay() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "print(\"hello\");\n");
    assert_eq!(workspace.run("release.rhai", &[]).status, RunStatus::Succeeded);
    let fifo = workspace.path().join(".shipctl/runs/zz-fifo.jsonl");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(&fifo, workspace.path().join(".shipctl/runs/zz-link.jsonl")).unwrap();
    std::fs::create_dir(workspace.path().join(".shipctl/runs/zz-dir.jsonl")).unwrap();

    let history = shipctl_within(&workspace, &["history"], Duration::from_secs(20));
    assert_eq!(history.code, Some(0), "history hung or failed: {history:?}");
    assert!(history.took < Duration::from_secs(20));
    assert_eq!(history.stdout.lines().count(), 2, "the header and the one real run: {}", history.stdout);

    let replay = shipctl_within(&workspace, &["replay", fifo.to_str().unwrap()], Duration::from_secs(20));
    assert!(replay.code.is_some_and(|code| code != 0 && code != 101), "replay hung or crashed: {replay:?}");
    assert!(replay.stderr.contains("not a regular file"), "{}", replay.stderr);
}

/// A FIFO where shipctl reads a file it was named (the script, a module, shipctl.toml,
/// a secret file): every command refuses it at once instead of waiting for a writer.
#[test]
fn a_fifo_named_as_a_script_module_config_or_secret_is_refused_without_hanging() {
    let limit = Duration::from_secs(20);
    let refused = |workspace: &Workspace, args: &[&str]| {
        let output = shipctl_within(workspace, args, limit);
        assert!(output.code.is_some_and(|code| (1..=3).contains(&code)), "{args:?} hung or crashed: {output:?}");
        assert!(output.stderr.contains("not a regular file"), "{args:?}: {}", output.stderr);
    };
    let workspace = Workspace::new();
    mkfifo(&workspace.path().join("pipe.rhai"));
    mkfifo(&workspace.path().join("pipe.test.rhai"));
    for args in
        [&["check", "pipe.rhai"][..], &["plan", "pipe.rhai"], &["run", "pipe.rhai"], &["test", "pipe.test.rhai"]]
    {
        refused(&workspace, args);
    }

    let workspace = Workspace::new();
    mkfifo(&workspace.path().join("lib.rhai"));
    workspace.write("main.rhai", "import \"lib\" as lib;\nprint(\"never\");\n");
    for args in [&["check", "main.rhai"][..], &["plan", "main.rhai"]] {
        refused(&workspace, args);
    }

    let workspace = Workspace::new();
    workspace.write("main.rhai", "print(\"hello\");\n");
    mkfifo(&workspace.path().join("shipctl.toml"));
    refused(&workspace, &["plan", "main.rhai"]);

    let workspace = Workspace::new();
    workspace
        .config("[secrets.hook]\nfile = \"hook.secret\"\n\n[notify.chat]\nkind = \"webhook\"\nurl_secret = \"hook\"\n");
    mkfifo(&workspace.path().join("hook.secret"));
    workspace.write("main.rhai", "notify(#{ channel: \"chat\", text: \"hello\" });\n");
    refused(&workspace, &["run", "main.rhai"]);
}

/// `scripts/` holds a link to itself, a link to its parent, and a link out of the root
/// to a directory whose script is broken: following any of them loops or reads outside.
fn linked_workspace() -> (Workspace, tempfile::TempDir) {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.rhai"), "let x = ;\n").unwrap();
    std::fs::write(outside.path().join("evil.test.rhai"), "test(\"outside\", || assert_eq(1, 2));\n").unwrap();
    let workspace = Workspace::new();
    workspace.write("scripts/app/release.rhai", "print(\"ok\");\n");
    workspace.write("scripts/app/release.test.rhai", "test(\"inside\", || assert_eq(run().status, \"succeeded\"));\n");
    let scripts = workspace.path().join("scripts");
    std::os::unix::fs::symlink(&scripts, scripts.join("app/again")).unwrap();
    std::os::unix::fs::symlink("..", scripts.join("up")).unwrap();
    std::os::unix::fs::symlink(outside.path(), scripts.join("out")).unwrap();
    (workspace, outside)
}

#[test]
fn check_does_not_follow_symlink_loops_or_links_out_of_the_root() {
    let (workspace, _outside) = linked_workspace();
    let check = shipctl_within(&workspace, &["check", "scripts"], Duration::from_secs(30));
    assert_eq!(check.code, Some(0), "check looped or read outside the root: {check:?}");
    assert!(!check.stdout.contains("evil") && !check.stderr.contains("evil"), "{check:?}");
    assert_eq!(check.stdout.matches("release.rhai").count(), 1, "each script once: {}", check.stdout);
}

/// Links named like scripts: one to a script in the tree is checked under its own
/// name; one out of the tree, a dangling one and one to a FIFO are skipped with a
/// warning naming the link, and never read.
#[test]
fn check_lists_linked_scripts_inside_the_tree_and_warns_about_the_others() {
    let (workspace, outside) = linked_workspace();
    let scripts = workspace.path().join("scripts");
    std::fs::write(outside.path().join("evil.rhai"), "this is not rhai (\n").unwrap();
    std::os::unix::fs::symlink(scripts.join("app/release.rhai"), scripts.join("alias.rhai")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("evil.rhai"), scripts.join("stolen.rhai")).unwrap();
    std::os::unix::fs::symlink(scripts.join("gone.rhai"), scripts.join("dangling.rhai")).unwrap();
    mkfifo(&outside.path().join("pipe"));
    std::os::unix::fs::symlink(outside.path().join("pipe"), scripts.join("app/pipe.rhai")).unwrap();
    std::os::unix::fs::symlink(scripts.join("app/fifo"), scripts.join("app/fifo.rhai")).unwrap();
    mkfifo(&scripts.join("app/fifo"));

    let check = shipctl_within(&workspace, &["check", "scripts"], Duration::from_secs(30));
    assert_eq!(check.code, Some(0), "{check:?}");
    assert!(check.stdout.contains("scripts/alias.rhai"), "the link in the tree is checked: {}", check.stdout);
    for (link, why) in [
        ("stolen.rhai", "a link out of the directory"),
        ("dangling.rhai", "a link that leads nowhere"),
        ("app/pipe.rhai", "a link out of the directory"),
        ("app/fifo.rhai", "not a regular file"),
    ] {
        let line = check.stderr.lines().find(|line| line.contains(&format!("scripts/{link}")));
        assert!(
            line.is_some_and(|line| line.starts_with("warning: skipped") && line.contains(why)),
            "{link}: {}",
            check.stderr
        );
    }
    assert!(!check.stdout.contains("evil") && !check.stderr.contains("not rhai"), "{check:?}");
}

#[test]
fn test_does_not_follow_symlink_loops_or_links_out_of_the_root() {
    let (workspace, _outside) = linked_workspace();
    let test = shipctl_within(&workspace, &["test", "scripts"], Duration::from_secs(30));
    assert_eq!(test.code, Some(0), "test looped or ran a file outside the root: {test:?}");
    assert!(!test.stdout.contains("outside") && !test.stderr.contains("evil"), "{test:?}");
}

/// A real journal of a run with one effect (`now`), as lines.
fn recorded(workspace: &Workspace) -> (PathBuf, Vec<String>) {
    workspace.write("release.rhai", "let t = now();\nprint(t);\n");
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let path = report.journal.clone().unwrap();
    let lines = std::fs::read_to_string(&path).unwrap().lines().map(str::to_string).collect();
    (path, lines)
}

/// The line of `lines` whose record has type `kind`.
fn line_of(lines: &[String], kind: &str) -> usize {
    lines.iter().position(|line| line.contains(&format!("\"type\":\"{kind}\""))).unwrap()
}

/// Set `field` of the `kind` record to `value` (JSON), write the journal back, and read
/// it as replay does: the error, which must name the file and the line.
fn tampered(kind: &str, field: &str, value: serde_json::Value) -> (String, usize) {
    let workspace = Workspace::new();
    let (path, mut lines) = recorded(&workspace);
    let index = line_of(&lines, kind);
    let mut record: serde_json::Value = serde_json::from_str(&lines[index]).unwrap();
    record[field] = value;
    lines[index] = record.to_string();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let error = read_journal(&path).and_then(|journal| Recording::from_journal(&journal).map(|_| ()));
    match error {
        Err(JournalError::Invalid { path: named, line, message }) => {
            assert_eq!(named, path);
            (message, line)
        }
        other => panic!("a tampered {kind}.{field} was accepted: {other:?}"),
    }
}

#[test]
fn a_journal_with_a_non_hex_sha_is_refused_and_replay_does_not_crash() {
    let (message, line) = tampered("header", "script_sha256", serde_json::json!("aéééééééééé"));
    assert_eq!(line, 1);
    assert!(message.contains("script_sha256") && message.contains("64 hex"), "{message}");

    // Through the binary: it used to slice the bogus sha mid-character and panic.
    let workspace = Workspace::new();
    let (path, mut lines) = recorded(&workspace);
    lines[0] = lines[0].replace(
        &serde_json::from_str::<serde_json::Value>(&lines[0]).unwrap()["script_sha256"].as_str().unwrap().to_string(),
        "aéééééééééé",
    );
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let replay = shipctl_within(&workspace, &["replay", path.to_str().unwrap()], Duration::from_secs(30));
    assert!(replay.code.is_some_and(|code| code != 0 && code != 101), "{replay:?}");
    assert!(replay.stderr.contains(&format!("{}:1:", path.display())), "{}", replay.stderr);
    assert!(replay.stderr.contains("script_sha256"), "{}", replay.stderr);
}

#[test]
fn journals_with_out_of_range_or_mistyped_fields_are_refused_naming_the_line() {
    let cases: &[(&str, &str, serde_json::Value, &str)] = &[
        ("intent", "seq", serde_json::json!(u64::MAX), "out of range"),
        ("intent", "seq", serde_json::json!(0), "out of range"),
        ("intent", "seq", serde_json::json!(-1), "seq"),
        ("intent", "seq", serde_json::json!("1"), "seq"),
        ("intent", "kind", serde_json::json!("../../etc"), "not a primitive name"),
        ("intent", "origin", serde_json::json!({ "file": "release.rhai", "line": 0, "column": 1 }), "out of range"),
        ("intent", "at", serde_json::json!("yesterday"), "RFC 3339"),
        ("outcome", "duration_ms", serde_json::json!(u64::MAX), "out of range"),
        ("outcome", "ok", serde_json::json!("yes"), "ok"),
        ("outcome", "replayed_from", serde_json::json!("../other run"), "not a run id"),
        ("header", "run_id", serde_json::json!("a/b"), "not a run id"),
        ("header", "format", serde_json::json!(0), "format"),
        ("header", "repo", serde_json::json!({ "commit": "not-a-commit", "dirty": false }), "commit"),
        ("footer", "effects", serde_json::json!(1u64 << 60), "out of range"),
        ("intent", "args", serde_json::json!([1, 2]), "not an object"),
        ("outcome", "error", serde_json::json!("but it worked"), "has an error"),
        ("header", "script", serde_json::json!("../../etc/passwd"), "inside the scripts root"),
        ("header", "script", serde_json::json!("/etc/passwd"), "inside the scripts root"),
        ("header", "root", serde_json::json!("relative/root"), "absolute"),
    ];
    for (kind, field, value, expected) in cases {
        let (message, line) = tampered(kind, field, value.clone());
        assert!(line >= 1, "{kind}.{field}");
        assert!(message.contains(expected), "{kind}.{field} = {value}: {message}");
    }
}

#[test]
fn a_journal_with_effects_out_of_order_is_refused() {
    let (message, line) = tampered("intent", "seq", serde_json::json!(2));
    assert!(line > 1);
    assert!(message.contains("effect 2 where effect 1 was due"), "{message}");
}

#[test]
fn a_record_kind_from_a_newer_format_is_refused_in_words() {
    let workspace = Workspace::new();
    let (path, mut lines) = recorded(&workspace);
    lines.insert(2, r#"{"type":"checkpoint","seq":1,"at":"2026-01-01T00:00:00Z"}"#.to_string());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    match read_journal(&path) {
        Err(JournalError::Invalid { line: 3, message, .. }) => {
            assert!(message.contains("\"checkpoint\"") && message.contains("newer shipctl"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_huge_line_is_refused_without_reading_it_whole() {
    let workspace = Workspace::new();
    let (path, lines) = recorded(&workspace);
    let mut text = lines.join("\n") + "\n";
    let padding = "x".repeat(MAX_LINE_BYTES + 10);
    text.push_str(&format!("{{\"type\":\"log\",\"message\":\"{padding}\"}}\n"));
    std::fs::write(&path, text).unwrap();
    match read_journal(&path) {
        Err(JournalError::Invalid { line, message, .. }) => {
            assert_eq!(line, lines.len() + 1);
            assert!(message.contains("longer than"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_line_that_is_not_utf8_is_refused() {
    let workspace = Workspace::new();
    let (path, lines) = recorded(&workspace);
    let mut bytes = (lines.join("\n") + "\n").into_bytes();
    bytes.extend_from_slice(b"{\"type\":\"log\",\"message\":\"\xff\xfe\"}\n");
    std::fs::write(&path, bytes).unwrap();
    match read_journal(&path) {
        Err(JournalError::Invalid { line, message, .. }) => {
            assert_eq!(line, lines.len() + 1);
            assert!(message.contains("UTF-8"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_approval_nobody_answers_ends_at_the_deadline() {
    let workspace = Workspace::new();
    workspace.config(
        "[environments.production]\nprotected = true\napprovers = [\"alice\"]\n\n[limits]\ndeadline = \"2s\"\n",
    );
    workspace.write("release.rhai", "approve(#{ reason: \"ship it\" });\n");
    crate::support::commit_all(workspace.path(), "scripts");
    // A terminal whose other end never types: stdin is the pty's slave side.
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the given ints; the rest may be null.
    let opened =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    let (_master, slave) = unsafe {
        use std::os::fd::FromRawFd;
        (std::os::fd::OwnedFd::from_raw_fd(master), std::os::fd::OwnedFd::from_raw_fd(slave))
    };
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["run", "release.rhai", "--env", "production"])
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .env("USER", "alice")
        .env_remove("RUST_LOG")
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(code.is_some_and(|code| code != 0 && code != 101), "the approval outlived the deadline: {code:?} {stderr}");
    assert!(stderr.contains("deadline passed while waiting for approval"), "{stderr}");
}

#[test]
fn many_quick_compensations_stop_at_the_compensation_deadline() {
    let workspace = Workspace::new();
    workspace.config("[limits]\ncompensation_deadline = \"1s\"\n");
    // Each compensation is a real effect (journaled, fsync'd): 20,000 of them take far
    // longer than the second they are given.
    workspace.write("release.rhai", "for i in 0..20000 { on_failure(|| now()); }\nfail(\"stop\");\n");
    let started = Instant::now();
    let report = workspace.run("release.rhai", &[]);
    let took = started.elapsed();
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.error);
    assert_eq!(report.compensations.len(), 20000);
    assert!(took < Duration::from_secs(20), "the compensations outlived their 1s deadline: {took:?}");
    let skipped = report
        .compensations
        .iter()
        .filter(|compensation| compensation.error.as_deref().is_some_and(|error| error.contains("not run")))
        .count();
    assert!(skipped > 0, "some compensations were left for the deadline");
    let last = report.compensations.last().unwrap().error.clone().unwrap_or_default();
    assert!(last.contains("deadline passed") && last.contains("compensation_deadline"), "{last}");
}

#[test]
fn no_effect_starts_after_the_deadline_even_when_the_script_catches_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let workspace = Workspace::new();
    workspace.config("[limits]\ndeadline = \"1s\"\n");
    // Too few operations for the engine's own clock check to come round.
    workspace.write(
        "release.rhai",
        &format!("try {{ http_check(#{{ url: \"http://127.0.0.1:{port}/\" }}); }} catch (e) {{}}\nlet t = now();\n"),
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.error);
    assert_eq!(report.effects.len(), 2, "{:?}", report.effects);
    let late = report.effects[1].error.clone().unwrap_or_default();
    assert!(late.contains("deadline passed"), "the second effect ran after the deadline: {:?}", report.effects[1]);
}

#[test]
fn a_files_backup_stores_links_as_links_and_never_walks_a_loop() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside the directory").unwrap();
    let workspace = Workspace::new();
    workspace.write("uploads/a.txt", "alpha");
    std::os::unix::fs::symlink(".", workspace.path().join("uploads/loop")).unwrap();
    std::os::unix::fs::symlink(outside.path(), workspace.path().join("uploads/out")).unwrap();
    mkfifo(&workspace.path().join("uploads/pipe"));
    workspace.write("backup.rhai", "backup(#{ files: \"uploads\" });\n");
    let report = workspace.run("backup.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let path = report.effects[0].result.as_ref().unwrap()["path"].as_str().unwrap().to_string();
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name.ends_with("loop") || name.ends_with("out") {
            assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink, "{name}");
        }
        names.push(name);
    }
    assert!(names.iter().all(|name| !name.contains("secret")), "{names:?}");
    assert_eq!(names.len(), 5, ". a.txt loop out pipe: {names:?}");
}
