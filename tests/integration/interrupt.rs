//! SIGINT and SIGTERM sent to real runs of the built binary, in a process group of
//! their own as a terminal's Ctrl-C or a CI runner does: waits are cancelled, the
//! compensations run (a second signal cuts them short), the footer says `interrupted`,
//! the release lock is free again and the resume command is the last line.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube_standin::Behaviour;
use shipctl::journal::{RunStatus, read_journal};

use crate::kube_support::{NAMESPACE, helm_create, standin, workload};
use crate::support::{HttpServer, Output, Workspace, commit_all};

/// A committed, protected workspace (so the run takes the file lock) whose `releases`
/// channel posts to `hook`; `release.rhai` is `script`.
fn workspace(hook: &HttpServer, script: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &format!("{}/hooks/release\n", hook.url));
    workspace.config(
        "[secrets.hook]\nfile = \"secrets/hook\"\n\n[notify.releases]\nkind = \"webhook\"\nurl_secret = \"hook\"\n\
         retries = 0\ntimeout = \"2s\"\n\n[environments.production]\nprotected = true\n",
    );
    workspace.write(".gitignore", "/.shipctl\n");
    workspace.write("scripts/web/release.rhai", script);
    commit_all(workspace.path(), "scripts");
    workspace
}

/// `shipctl run scripts/web/release.rhai --env production`, leading a process group.
fn spawn(workspace: &Workspace) -> Child {
    spawn_in(workspace, "production")
}

fn spawn_in(workspace: &Workspace, environment: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["run", "scripts/web/release.rhai", "--env", environment])
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shipctl")
}

/// Send `signal` to `child` alone, as a CI runner that signals only its job's process.
fn signal_process(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("a pid fits an i32");
    // SAFETY: kill(2) on the test's own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
}

/// Send `signal` to `child`'s whole process group.
fn signal(child: &Child, signal: i32) {
    let group = i32::try_from(child.id()).expect("a pid fits an i32");
    // SAFETY: kill(2) with a negative pid signals the group the test created.
    assert_eq!(unsafe { libc::kill(-group, signal) }, 0, "kill failed");
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for `child` to exit (killing its group after 60 s) and collect its output.
fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            signal(&child, libc::SIGKILL);
            panic!("shipctl did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Output { code: status.code().unwrap_or(-1), stdout, stderr }
}

/// The script: a notify compensation, then a health check that never passes.
fn waiting_release(health: &HttpServer) -> String {
    format!(
        "on_failure(|| notify(#{{ channel: \"releases\", text: \"release stopped\" }}));\n\
         http_check(#{{ url: \"{}/health\", retries: 1000, interval: \"100ms\", timeout: \"2s\" }});\n\
         log(\"not reached\");\n",
        health.url
    )
}

/// Interrupt a run inside its health check with `number`; check what it left.
fn interrupted_run(number: i32, code: i32, name: &str) {
    let health = HttpServer::start(&[(503, "starting")]);
    let hook = HttpServer::start(&[(200, "ok")]);
    let workspace = workspace(&hook, &waiting_release(&health));
    let child = spawn(&workspace);
    wait_until("the health check's retries", || health.requests().len() >= 2);
    let signalled = Instant::now();
    signal(&child, number);
    let output = finish(child);
    assert!(signalled.elapsed() < Duration::from_secs(10), "the wait was not cancelled");
    assert_eq!(output.code, code, "{output:?}");

    let requests = hook.requests();
    assert_eq!(requests.len(), 1, "the compensation's notify was sent: {output:?}");
    assert!(requests[0].body.contains("release stopped"), "{}", requests[0].body);

    let journals = workspace.journals();
    assert_eq!(journals.len(), 1);
    let journal = read_journal(&journals[0]).unwrap();
    let footer = journal.footer().expect("a footer was written");
    assert_eq!(footer.status, RunStatus::Interrupted);
    assert!(footer.compensations_not_run.is_empty());
    let run_id = journal.header.run_id.clone();
    assert!(output.stderr.contains(&format!("{name} received")), "{}", output.stderr);
    assert_eq!(output.stderr.lines().last(), Some(format!("shipctl resume {run_id}").as_str()), "{}", output.stderr);
    assert!(!output.stdout.contains("not reached"));

    let history = workspace.shipctl(&["history"]);
    assert!(history.stdout.lines().any(|line| line.contains(&run_id) && line.contains("interrupted")), "{history:?}");
    let json = workspace.shipctl(&["history", "--output", "json", "-n", "1"]);
    let runs: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(runs[0]["status"], "interrupted");

    let lock = workspace.path().join(".shipctl/runs/locks/web.production.lock");
    assert_eq!(std::fs::read_to_string(lock).unwrap(), "", "no holder is left behind");
    workspace.write("scripts/web/release.rhai", "log(\"again\");\n");
    commit_all(workspace.path(), "a quick release");
    let again = workspace.shipctl(&["run", "scripts/web/release.rhai", "--env", "production"]);
    assert_eq!(again.code, 0, "a new run takes the lock: {again:?}");
}

#[test]
fn sigint_cancels_the_wait_compensates_and_exits_130() {
    interrupted_run(libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_does_the_same_and_exits_143() {
    interrupted_run(libc::SIGTERM, 143, "SIGTERM");
}

#[test]
fn a_second_sigint_cuts_the_compensations_short() {
    let health = HttpServer::start(&[(503, "starting")]);
    let slow = HttpServer::start(&[(503, "still broken")]);
    let hook = HttpServer::start(&[(200, "ok")]);
    let script = format!(
        "on_failure(|| notify(#{{ channel: \"releases\", text: \"release stopped\" }}));\n\
         on_failure(|| http_check(#{{ url: \"{}/rollback\", retries: 1000, interval: \"100ms\" }}));\n\
         http_check(#{{ url: \"{}/health\", retries: 1000, interval: \"100ms\" }});\n",
        slow.url, health.url
    );
    let workspace = workspace(&hook, &script);
    let child = spawn(&workspace);
    wait_until("the health check's retries", || health.requests().len() >= 2);
    signal(&child, libc::SIGINT);
    wait_until("the slow compensation", || slow.requests().len() >= 2);
    signal(&child, libc::SIGINT);
    let output = finish(child);
    assert_eq!(output.code, 130, "{output:?}");
    assert!(hook.requests().is_empty(), "the notify compensation did not run");

    let journal = read_journal(&workspace.journals()[0]).unwrap();
    let footer = journal.footer().expect("a footer was written");
    assert_eq!(footer.status, RunStatus::Interrupted);
    assert_eq!(footer.compensations_not_run, ["scripts/web/release.rhai:1:1"]);
    assert!(output.stderr.contains("compensations cut short, not run:"), "{}", output.stderr);
    assert!(output.stderr.contains("on_failure at scripts/web/release.rhai:1:1"), "{}", output.stderr);
    let last = output.stderr.lines().last().unwrap_or_default().to_string();
    assert_eq!(last, format!("shipctl resume {}", journal.header.run_id));
}

#[test]
fn a_script_cannot_catch_the_interrupt_and_go_on() {
    let health = HttpServer::start(&[(503, "starting")]);
    let hook = HttpServer::start(&[(200, "ok")]);
    let script = format!(
        "on_failure(|| notify(#{{ channel: \"releases\", text: \"release stopped\" }}));\n\
         try {{ http_check(#{{ url: \"{}/health\", retries: 1000, interval: \"100ms\" }}); }} catch {{ log(\"caught the wait\"); }}\n\
         try {{ notify(#{{ channel: \"releases\", text: \"deployed anyway\" }}); }} catch {{ log(\"caught the refusal\"); }}\n\
         log(\"still going\");\n",
        health.url
    );
    let workspace = workspace(&hook, &script);
    let child = spawn(&workspace);
    wait_until("the health check's retries", || health.requests().len() >= 2);
    signal(&child, libc::SIGINT);
    let output = finish(child);
    assert_eq!(output.code, 130, "{output:?}");
    assert!(output.stdout.contains("caught the wait"), "the cancelled wait is an effect error: {output:?}");
    assert!(!output.stdout.contains("caught the refusal") && !output.stdout.contains("still going"), "{output:?}");
    let texts: Vec<String> = hook.requests().into_iter().map(|request| request.body).collect();
    assert_eq!(texts.len(), 1, "only the compensation's notify: {texts:?}");
    assert!(texts[0].contains("release stopped"));
    let journal = read_journal(&workspace.journals()[0]).unwrap();
    let footer = journal.footer().unwrap();
    assert_eq!(footer.status, RunStatus::Interrupted);
    let error = footer.error.clone().unwrap_or_default();
    assert!(error.contains("interrupted: notify not started"), "{error}");
}

/// A workspace whose environment `cluster` is the stand-in, notifying `hook` on failure.
fn cluster_workspace(standin: &kube_standin::Standin, hook: &HttpServer, script: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &format!("{}/hooks/release\n", hook.url));
    workspace.config(&format!(
        "[secrets.hook]\nfile = \"secrets/hook\"\n\n[notify.releases]\nkind = \"webhook\"\nurl_secret = \"hook\"\n\
         retries = 0\ntimeout = \"2s\"\n\n{}",
        crate::kube_support::environment("cluster", standin, false)
    ));
    workspace.write("scripts/web/release.rhai", script);
    workspace
}

#[test]
fn sigterm_to_shipctl_alone_cancels_wait_healthy() {
    let standin = standin();
    standin.behave("deployments", NAMESPACE, "web", Behaviour::CrashLoop);
    standin.put(workload("Deployment", "web", 2, "web:broken")).unwrap();
    let hook = HttpServer::start(&[(200, "ok")]);
    let script = "on_failure(|| notify(#{ channel: \"releases\", text: \"release stopped\" }));\n\
                  wait_healthy(#{ deployment: \"web\", timeout: \"5m\" });\n";
    let workspace = cluster_workspace(&standin, &hook, script);
    let child = spawn_in(&workspace, "cluster");
    let watching = || standin.requests().iter().any(|request| request.query.contains("watch"));
    wait_until("the watch of the deployment", watching);
    let signalled = Instant::now();
    signal_process(&child, libc::SIGTERM);
    let output = finish(child);
    assert!(signalled.elapsed() < Duration::from_secs(10), "the watch was not cancelled");
    assert_eq!(output.code, 143, "{output:?}");
    assert_eq!(hook.requests().len(), 1, "the compensation ran: {output:?}");
    assert!(output.stderr.contains("interrupted by SIGTERM"), "{}", output.stderr);
    let footer = read_journal(&workspace.journals()[0]).unwrap().footer().cloned().unwrap();
    assert_eq!(footer.status, RunStatus::Interrupted);
}

#[test]
fn sigint_to_shipctl_alone_is_passed_on_to_helms_wait() {
    let standin = standin();
    standin.set_behaviour(Behaviour::CrashLoop);
    let hook = HttpServer::start(&[(200, "ok")]);
    let script = "on_failure(|| notify(#{ channel: \"releases\", text: \"release stopped\" }));\n\
                  helm_upgrade(#{ release: \"web\", chart: \"charts/web\", wait: true, timeout: \"60s\" });\n";
    let workspace = cluster_workspace(&standin, &hook, script);
    helm_create(&workspace.path().join("charts"), "web");
    let child = spawn_in(&workspace, "cluster");
    let waiting = || standin.writes().iter().any(|request| request.path.contains("/deployments"));
    wait_until("helm's wait for the deployment", waiting);
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    signal_process(&child, libc::SIGINT);
    let output = finish(child);
    assert!(signalled.elapsed() < Duration::from_secs(30), "helm's wait was not cancelled");
    assert_eq!(output.code, 130, "{output:?}");
    assert_eq!(hook.requests().len(), 1, "the compensation ran: {output:?}");
    let footer = read_journal(&workspace.journals()[0]).unwrap().footer().cloned().unwrap();
    assert_eq!(footer.status, RunStatus::Interrupted);
    // helm itself answered the signal (only shipctl was sent it): it cancelled its wait.
    assert!(output.stdout.contains("context canceled"), "{output:?}");
}

#[test]
fn sigint_at_the_approval_prompt_stops_the_run() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let hook = HttpServer::start(&[(200, "ok")]);
    let script = "on_failure(|| notify(#{ channel: \"releases\", text: \"release stopped\" }));\n\
                  approve(#{ reason: \"web 2.0 to production\" });\n\
                  notify(#{ channel: \"releases\", text: \"approved\" });\n";
    let workspace = workspace(&hook, script);
    // A terminal for the prompt to ask at: the child's stdin is a pty's slave side.
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty(3) writes two new descriptors; the name, termios and size may be null.
    let opened = unsafe {
        libc::openpty(&mut controller, &mut terminal, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(opened, 0, "openpty failed");
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    let (_controller, terminal) = unsafe { (OwnedFd::from_raw_fd(controller), OwnedFd::from_raw_fd(terminal)) };
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["run", "scripts/web/release.rhai", "--env", "production"])
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .process_group(0)
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shipctl");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (mut pipe, stderr) = (child.stderr.take().unwrap(), std::sync::Arc::clone(&stderr));
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                stderr.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        })
    };
    wait_until("the approval prompt", || stderr.lock().unwrap().contains("approval needed"));
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the prompt did not give way to the signal");
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    let stderr = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let texts: Vec<String> = hook.requests().into_iter().map(|request| request.body).collect();
    assert_eq!(texts.len(), 1, "only the compensation's notify: {texts:?}");
    assert!(texts[0].contains("release stopped"));
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
}
