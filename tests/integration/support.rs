//! Fixtures: a workspace in a temp dir (files, shipctl.toml, the built binary or the
//! library), an HTTP server on loopback with scripted answers, git repositories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use shipctl::effect::{Event, Reporter};
use shipctl::effect::{Mode, Registry};
use shipctl::error::Error;
use shipctl::journal::{Journal, read_journal};
use shipctl::run::{RunReport, RunRequest, execute};

/// A scripts root in a temporary directory.
pub struct Workspace {
    dir: tempfile::TempDir,
}

/// What the binary did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `text` to `relative`, creating directories.
    pub fn write(&self, relative: &str, text: &str) -> &Self {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Write `shipctl.toml`.
    pub fn config(&self, text: &str) -> &Self {
        self.write("shipctl.toml", text)
    }

    /// Run the built binary in the workspace with `args`.
    pub fn shipctl(&self, args: &[&str]) -> Output {
        self.shipctl_with_env(args, &[])
    }

    pub fn shipctl_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_shipctl"))
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            // The tests choose these themselves; a CI runner's own must not leak in.
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITLAB_CI")
            .env_remove("SHIPCTL_ENV")
            .env_remove("SHIPCTL_OUTPUT")
            .env_remove("SHIPCTL_FORMAT")
            .env_remove("SHIPCTL_APPROVED_BY")
            .envs(env.iter().copied())
            .output()
            .expect("run shipctl");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Run `script` through the library.
    pub fn execute(
        &self,
        script: &str,
        mode: Mode,
        environment: &str,
        params: &[(&str, &str)],
        extend: Option<fn(&mut Registry)>,
    ) -> Result<RunReport, Error> {
        let mut request = RunRequest::new(self.path().join(script), environment, mode);
        request.params =
            params.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect::<BTreeMap<_, _>>();
        request.extend = extend;
        execute(request, Box::new(Recorder::default()))
    }

    /// `shipctl run` of `script` in `local` through the library.
    pub fn run(&self, script: &str, params: &[(&str, &str)]) -> RunReport {
        self.execute(script, Mode::Run, "local", params, None).unwrap_or_else(|error| panic!("run refused: {error}"))
    }

    /// `shipctl plan` of `script` in `local` through the library.
    pub fn plan(&self, script: &str, params: &[(&str, &str)]) -> RunReport {
        self.execute(script, Mode::Plan, "local", params, None).unwrap_or_else(|error| panic!("plan refused: {error}"))
    }

    /// The journal a report names.
    pub fn journal(&self, report: &RunReport) -> Journal {
        read_journal(report.journal.as_ref().expect("the run kept a journal")).expect("readable journal")
    }

    /// Every journal file in the default journal directory (not the release locks there).
    pub fn journals(&self) -> Vec<PathBuf> {
        let dir = self.path().join(".shipctl/runs");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "jsonl"))
            .collect();
        paths.sort();
        paths
    }
}

/// Records events as lines, for asserting on what a run reported.
#[derive(Default, Clone)]
pub struct Recorder {
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Reporter for Recorder {
    fn event(&mut self, event: &Event<'_>) {
        let line = match event {
            Event::EffectFinished { effect, result, replayed_from, .. } => {
                if let Some(run) = replayed_from {
                    return self.lines.lock().unwrap().push(format!("effect {} replayed from {run}", effect.kind));
                }
                format!("effect {} {}", effect.kind, if result.is_ok() { "ok" } else { "failed" })
            }
            Event::Output { text } => format!("output {text}"),
            Event::EffectProgress { message, .. } => format!("progress {message}"),
            other => format!("{other:?}").chars().take(80).collect(),
        };
        self.lines.lock().unwrap().push(line);
    }
}

/// A request an [`HttpServer`] received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// An HTTP server on a free loopback port that answers with scripted statuses and
/// bodies in order (the last one repeats) and records every request.
pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub url: String,
}

impl HttpServer {
    /// `{url}` in a body is replaced with the server's own URL.
    pub fn start(answers: &[(u16, &str)]) -> HttpServer {
        let answers: Vec<(u16, &str, Duration)> =
            answers.iter().map(|(status, body)| (*status, *body, Duration::ZERO)).collect();
        HttpServer::start_with_delays(&answers)
    }

    /// Like [`HttpServer::start`], each answer given after its delay (requests are
    /// answered concurrently, so a slow one does not hold up the next).
    pub fn start_with_delays(answers: &[(u16, &str, Duration)]) -> HttpServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers: Vec<(u16, String, Duration)> =
            answers.iter().map(|(status, body, delay)| (*status, body.replace("{url}", &url), *delay)).collect();
        let thread = {
            let server = Arc::clone(&server);
            let received = Arc::clone(&received);
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let index = {
                        let mut received = received.lock().unwrap();
                        received.push(Received {
                            method: request.method().to_string(),
                            path: request.url().to_string(),
                            body,
                        });
                        received.len() - 1
                    };
                    let (status, text, delay) =
                        answers.get(index).or(answers.last()).cloned().unwrap_or((200, String::new(), Duration::ZERO));
                    std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        let _ = request.respond(tiny_http::Response::from_string(text).with_status_code(status));
                    });
                }
            })
        };
        HttpServer { server, thread: Some(thread), received, url }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A workspace with the repository `app` (at `repos/app`, one commit) and the channel
/// `hook`, a webhook to `webhook`'s `/hook` whose URL is the secret file `secrets/hook`.
pub fn tag_and_webhook_workspace(webhook: &HttpServer) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &format!("{}/hook", webhook.url));
    workspace.config(
        "[repos.app]\npath = \"repos/app\"\n\n[secrets.hook]\nfile = \"secrets/hook\"\n\n[notify.hook]\nkind = \"webhook\"\nurl_secret = \"hook\"\n",
    );
    git_repository(&workspace.path().join("repos/app"));
    workspace
}

/// `git init` with one commit of a README; returns the repository.
pub fn git_repository(path: &Path) -> git2::Repository {
    std::fs::create_dir_all(path).unwrap();
    let repository = git2::Repository::init(path).unwrap();
    {
        let mut config = repository.config().unwrap();
        config.set_str("user.name", "Test").unwrap();
        config.set_str("user.email", "test@example.invalid").unwrap();
    }
    commit_file(&repository, "README.md", "hello\n", "first");
    repository
}

/// Write `file` and commit it on HEAD; returns the commit id.
pub fn commit_file(repository: &git2::Repository, file: &str, text: &str, message: &str) -> git2::Oid {
    let workdir = repository.workdir().unwrap().to_path_buf();
    std::fs::write(workdir.join(file), text).unwrap();
    let mut index = repository.index().unwrap();
    index.add_path(Path::new(file)).unwrap();
    index.write().unwrap();
    let tree = repository.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("Test", "test@example.invalid").unwrap();
    let parent = repository.head().ok().and_then(|head| head.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repository.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).unwrap()
}

/// `git init` (if needed) and commit every file of `path` but the journals (a protected
/// environment runs only committed scripts); returns the commit id.
pub fn commit_all(path: &Path, message: &str) -> git2::Oid {
    let repository = git2::Repository::open(path).unwrap_or_else(|_| git_repository(path));
    if !path.join(".gitignore").exists() {
        std::fs::write(path.join(".gitignore"), "/.shipctl\n").unwrap();
    }
    let mut index = repository.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repository.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("Test", "test@example.invalid").unwrap();
    let parent = repository.head().unwrap().peel_to_commit().unwrap();
    repository.commit(Some("HEAD"), &signature, &signature, message, &tree, &[&parent]).unwrap()
}

/// Every reference of a repository and what it points at.
pub fn refs(path: &Path) -> BTreeMap<String, String> {
    let repository = git2::Repository::open(path).unwrap();
    let references = repository.references().unwrap();
    references
        .map(|reference| reference.unwrap())
        .map(|reference| {
            (reference.name().unwrap().to_string(), reference.target().map(|oid| oid.to_string()).unwrap_or_default())
        })
        .collect()
}

/// The report `--output json` ends its events with: the last line of `stdout`, a
/// `run_finished` event.
pub fn run_finished(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().expect("a line on stdout");
    let report: serde_json::Value = serde_json::from_str(last).expect("JSON on the last line");
    assert_eq!(report["event"], "run_finished", "{last}");
    report
}

/// Make a FIFO at `path`: a file system entry that blocks whoever opens it for reading
/// until a writer comes, the way hostile tests try to hang shipctl.
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
    let result = unsafe { libc::mkfifo(name.as_ptr(), 0o644) };
    assert_eq!(result, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}
