//! `shipctl demo`: the bundled Catalogue release, run for real in a throwaway
//! workspace (a git repository to tag with a bare remote to push to, a health endpoint
//! served on loopback, notifications to stdout), then the plan of its production release.

use std::path::{Path, PathBuf};

use crate::effect::Mode;
use crate::effect::Silent;
use crate::error::Error;
use crate::exit_codes;
use crate::journal::RunStatus;
use crate::run::{RunRequest, execute};

use super::DemoArgs;
use super::output::{self, Human};

const CONFIG_TEMPLATE: &str = include_str!("../../examples/demo/shipctl.toml");
const RELEASE_SCRIPT: &str = include_str!("../../scripts/catalogue/release.rhai");
const SCRIPT_PATH: &str = "scripts/catalogue/release.rhai";
/// The chart the production plan deploys, so `plan --refresh` can render it there too.
const CHART: &[(&str, &str)] = &[
    ("charts/catalogue/Chart.yaml", include_str!("../../charts/catalogue/Chart.yaml")),
    ("charts/catalogue/values.yaml", include_str!("../../charts/catalogue/values.yaml")),
    ("charts/catalogue/templates/deployment.yaml", include_str!("../../charts/catalogue/templates/deployment.yaml")),
    ("charts/catalogue/templates/service.yaml", include_str!("../../charts/catalogue/templates/service.yaml")),
];
const VERSION: &str = "1.0.0";

/// `shipctl demo`.
pub fn demo(args: DemoArgs) -> i32 {
    match demo_in(args.dir) {
        Ok(code) => code,
        Err(error) => {
            output::print_error(&error);
            error.exit_code()
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_path_buf(), source }
}

fn git(action: &str, error: git2::Error) -> Error {
    Error::Internal(format!("{action}: {}", error.message()))
}

fn demo_in(dir: Option<PathBuf>) -> Result<i32, Error> {
    let workspace = match dir.map(|dir| crate::config::absolute(&dir)) {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(&dir).map_err(io("cannot read", &dir))?.next().is_some() {
                return Err(Error::usage(
                    format!("{} is not empty", dir.display()),
                    Some("give a new or empty directory".to_string()),
                ));
            }
            std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
            dir
        }
        None => {
            let temporary = tempfile::Builder::new()
                .prefix("shipctl-demo-")
                .tempdir()
                .map_err(io("cannot create", Path::new("temporary directory")))?;
            temporary.keep()
        }
    };
    let health = HealthServer::start()?;
    write_workspace(&workspace, &health.url)?;
    output::outln(&format!("demo workspace: {}\n", workspace.display()));

    let script = workspace.join(SCRIPT_PATH);
    let run = execute(RunRequest::new(&script, "local", Mode::Run).param("version", VERSION), Box::new(Human::new()))?;
    output::print_run_summary(&run);
    if run.status != RunStatus::Succeeded {
        return Ok(exit_codes::RUN_FAILED);
    }

    output::outln("\nand this is what the production release would do (nothing is touched):\n");
    let plan = execute(RunRequest::new(&script, "production", Mode::Plan).param("version", "1.1.0"), Box::new(Silent))?;
    output::out(&output::render_plan(&plan, output::stdout_color()));
    output::outln(&format!(
        "\nnext: cd {} && shipctl history, or edit {SCRIPT_PATH} and run `shipctl plan {SCRIPT_PATH} --env production --set version=1.1.0`",
        workspace.display()
    ));
    Ok(exit_codes::SUCCESS)
}

/// The scripts root (itself a git repository, so the journal records its commit), the
/// product repository with a commit, and its bare remote.
fn write_workspace(workspace: &Path, health_url: &str) -> Result<(), Error> {
    let write = |relative: &str, text: &str| -> Result<(), Error> {
        let path = workspace.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        std::fs::write(&path, text).map_err(io("cannot write", &path))
    };
    write("shipctl.toml", &CONFIG_TEMPLATE.replace("@HEALTH_URL@", health_url))?;
    write(SCRIPT_PATH, RELEASE_SCRIPT)?;
    for (path, text) in CHART {
        write(path, text)?;
    }
    write(".gitignore", "/repos\n/.shipctl\n")?;
    commit_all(workspace, "Release scripts")?;

    let product = workspace.join("repos/catalogue");
    std::fs::create_dir_all(&product).map_err(io("cannot create", &product))?;
    std::fs::write(product.join("README.md"), "The Catalogue.\n").map_err(io("cannot write", &product))?;
    commit_all(&product, "Catalogue sources")?;
    let origin = workspace.join("repos/catalogue-origin.git");
    git2::Repository::init_bare(&origin).map_err(|error| git("cannot create the bare remote", error))?;
    let repository =
        git2::Repository::open(&product).map_err(|error| git("cannot open the product repository", error))?;
    let url = format!("file://{}", origin.display());
    repository.remote("origin", &url).map_err(|error| git("cannot add the remote", error))?;
    Ok(())
}

/// `git init`, `git add -A`, `git commit`, with a fixed demo identity.
fn commit_all(dir: &Path, message: &str) -> Result<(), Error> {
    let repository = git2::Repository::init(dir).map_err(|error| git("cannot create a git repository", error))?;
    let mut index = repository.index().map_err(|error| git("cannot open the index", error))?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).map_err(|error| git("cannot stage files", error))?;
    index.write().map_err(|error| git("cannot write the index", error))?;
    let tree_id = index.write_tree().map_err(|error| git("cannot write the tree", error))?;
    let tree = repository.find_tree(tree_id).map_err(|error| git("cannot read the tree", error))?;
    let signature = git2::Signature::now("shipctl demo", "demo@shipctl.invalid")
        .map_err(|error| git("cannot make a signature", error))?;
    repository
        .commit(Some("HEAD"), &signature, &signature, message, &tree, &[])
        .map_err(|error| git("cannot commit", error))?;
    Ok(())
}

/// A health endpoint on loopback for the demo's smoke test: `GET /health` answers 200.
struct HealthServer {
    url: String,
}

impl HealthServer {
    fn start() -> Result<HealthServer, Error> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|error| Error::Internal(format!("cannot start the demo's health endpoint: {error}")))?;
        let port = server.server_addr().to_ip().map(|address| address.port()).unwrap_or_default();
        // The thread serves until the process exits, which ends the demo.
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let (status, body) = if request.url() == "/health" { (200, "ok") } else { (404, "not found") };
                let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
            }
        });
        Ok(HealthServer { url: format!("http://127.0.0.1:{port}") })
    }
}
