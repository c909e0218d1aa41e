//! `shipctl watch`: a new plan after every save of the script, a module or the config.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shipctl::effect::Mode;
use shipctl::run::RunRequest;
use shipctl::watch::{WatchOptions, watch};

use crate::support::Workspace;

/// What a frame showed: the notify texts planned, or the error.
#[derive(Debug, Clone)]
struct Shown {
    texts: Result<Vec<String>, String>,
    latency: Option<Duration>,
}

struct Watching {
    frames: Receiver<Shown>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watching {
    fn start(workspace: &Workspace) -> Watching {
        let request = RunRequest::new(workspace.path().join("release.rhai"), "local", Mode::Plan);
        let options = WatchOptions::new(request);
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, frames) = channel();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut send = |frame: &shipctl::watch::Frame| {
                    let texts = match &frame.result {
                        Ok(report) => Ok(report
                            .effects
                            .iter()
                            .map(|effect| effect.args["text"].as_str().unwrap_or("").to_string())
                            .collect()),
                        Err(error) => Err(error.to_string()),
                    };
                    let _ = sender.send(Shown { texts, latency: frame.latency });
                };
                watch(&options, &stop, &mut send).unwrap();
            })
        };
        Watching { frames, stop, thread: Some(thread) }
    }

    /// The next frame that satisfies `wanted` (a save can cause more than one frame).
    fn until(&self, what: &str, wanted: impl Fn(&Shown) -> bool) -> Shown {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let shown = self.frames.recv_timeout(left).unwrap_or_else(|_| panic!("no frame showing {what}"));
            if wanted(&shown) {
                return shown;
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn texts(shown: &Shown) -> Vec<String> {
    shown.texts.clone().unwrap_or_default()
}

#[test]
fn saves_of_the_script_its_modules_and_the_config_redraw_the_plan() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n\n[environments.local]\ngreeting = \"hello\"\n");
    workspace.write("lib/texts.rhai", "fn text() { \"from the module\" }\n");
    workspace.write(
        "release.rhai",
        "import \"lib/texts\" as t;\nnotify(#{ channel: \"log\", text: environment().greeting });\nnotify(#{ channel: \"log\", text: t::text() });\n",
    );
    let watching = Watching::start(&workspace);
    let first = watching.until("the first plan", |shown| shown.texts.is_ok());
    assert_eq!(texts(&first), vec!["hello", "from the module"]);
    assert!(first.latency.is_none());

    workspace.write("lib/texts.rhai", "fn text() { \"module changed\" }\n");
    let shown = watching.until("the module's change", |shown| texts(shown).contains(&"module changed".to_string()));
    assert!(shown.latency.is_some());

    workspace.config("[notify.log]\nkind = \"stdout\"\n\n[environments.local]\ngreeting = \"config changed\"\n");
    watching.until("the config's change", |shown| texts(shown).first().map(String::as_str) == Some("config changed"));

    // An editor's atomic save: write a temporary file, rename it over the script.
    let temporary = workspace.path().join(".release.rhai.tmp");
    std::fs::write(&temporary, "notify(#{ channel: \"log\", text: \"atomically saved\" });\n").unwrap();
    std::fs::rename(&temporary, workspace.path().join("release.rhai")).unwrap();
    watching.until("the renamed file", |shown| texts(shown) == vec!["atomically saved"]);

    // A broken save shows the error in place; the next save recovers.
    workspace.write("release.rhai", "notify(#{ channel: \"log\", text: \"unclosed\" ;\n");
    let broken = watching.until("the syntax error", |shown| shown.texts.is_err());
    assert!(broken.texts.unwrap_err().contains("release.rhai:1:"));
    workspace.write("release.rhai", "notify(#{ channel: \"log\", text: \"fixed\" });\n");
    watching.until("the fix", |shown| texts(shown) == vec!["fixed"]);

    // A module the script no longer imports (since the atomic save) is no longer watched.
    workspace.write("lib/texts.rhai", "fn text() { \"ignored now\" }\n");
    let quiet = watching.frames.recv_timeout(Duration::from_millis(400));
    assert!(quiet.is_err(), "a change to a file the script does not use redrew the plan: {quiet:?}");
}

#[test]
fn the_command_redraws_until_stopped() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", "notify(#{ channel: \"log\", text: \"first\" });\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipctl"))
        .args(["watch", "release.rhai"])
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let reader = {
        let output = Arc::clone(&output);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                output.lock().unwrap().push_str(&format!("{line}\n"));
            }
        })
    };
    let wait_for = |text: &str| {
        let started = Instant::now();
        while !output.lock().unwrap().contains(text) {
            assert!(started.elapsed() < Duration::from_secs(20), "never showed {text:?}: {}", output.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("text=\"first\"");
    wait_for("watching 2 files");
    workspace.write("release.rhai", "notify(#{ channel: \"log\", text: \"second\" });\n");
    wait_for("text=\"second\"");
    wait_for("after the change");
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
}
