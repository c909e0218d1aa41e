//! Everything a live run needs that can be known before its first effect, in one place:
//! the secrets of the channels, databases and registries the script's literal calls
//! name (variable set, file readable, long enough to redact; values are read, never
//! shown), every other declared secret that can be read (held to the same length rule),
//! the repositories they tag (there, and git repositories), the names shipctl.toml must
//! declare, and the environment's kubeconfig and context. `run` refuses while any is
//! missing, `plan` warns, `check` reports.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::base::confined::ConfiguredPath;
use crate::base::location::Location;
use crate::config::{ConfigError, Environment, Project, SecretStore, declared_at};
use crate::engine::analysis::LiteralCall;
use crate::error::Error;

/// One thing the run needs and cannot have, and where the script asks for it (none for
/// what the environment itself needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(formatter, "{location}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

/// What the literal `calls` (file, call) and `environment` need that is not there.
pub fn problems(
    project: &Project,
    environment_name: &str,
    environment: &Environment,
    calls: &[(String, LiteralCall)],
) -> Vec<Problem> {
    let mut found: Vec<Problem> = crate::engine::calls::unknown_names(calls, &project.config, &project.root)
        .into_iter()
        .map(|error| Problem { location: error.location, message: error.message })
        .collect();
    let secrets = SecretStore::new(project.config.secrets.clone(), project.root.clone());
    let mut checked = BTreeSet::new();
    for (file, call) in calls {
        for (key, value, position) in &call.literals {
            let Some(value) = value.as_str() else { continue };
            let location = || {
                let line = position.line().unwrap_or(1);
                Some(Location { file: file.clone(), line, column: position.position().unwrap_or(1) })
            };
            for (secret, user) in secrets_named(project, &call.function, key, value) {
                if !checked.insert(secret.clone()) {
                    continue;
                }
                if let Err(message) = secrets.get(&secret) {
                    found.push(Problem { location: location(), message: format!("{user}: {message}") });
                } else if environment.protected && secrets.shown(&secret) {
                    found.push(Problem {
                        location: location(),
                        message: shown_in_protected(&user, &secret, environment_name),
                    });
                }
            }
            if (call.function.as_str(), key.as_str()) == ("tag", "repo")
                && let Some(message) = repo_problem(project, value)
            {
                found.push(Problem { location: location(), message });
            }
        }
    }
    found.extend(declared_secret_problems(project, environment_name, environment, &secrets, &checked));
    found.extend(cluster_problem(&project.root, environment_name, environment));
    found
}

/// A secret with `redact = false` that a run in a protected environment would use.
fn shown_in_protected(user: &str, secret: &str, environment_name: &str) -> String {
    format!(
        "{user}: secret \"{secret}\" has redact = false, and environment \"{environment_name}\" is protected: its value \
         would appear in output and the journal; remove redact = false from [secrets.{secret}] (it is for test setups)"
    )
}

/// The secrets no literal call names (`checked` holds those that one does): a value
/// that can be read is held to the length rule all the same, since the redactor reads
/// every declared secret and a script may reach one by a computed name. Located at
/// `[secrets.<name>]`. One that is not set is not a problem until something needs it.
/// In a protected environment, a readable one marked `redact = false` is warned about:
/// whether the run reaches it cannot be known before it does.
fn declared_secret_problems(
    project: &Project,
    environment_name: &str,
    environment: &Environment,
    secrets: &SecretStore,
    checked: &BTreeSet<String>,
) -> Vec<Problem> {
    let mut found = Vec::new();
    for name in project.config.secrets.keys().filter(|name| !checked.contains(*name)) {
        match secrets.resolve(name) {
            Err(error) if error.is_unsafe_value() => {
                found.push(Problem { location: declared_at(project, name), message: error.to_string() });
            }
            Ok(_) if environment.protected && secrets.shown(name) => tracing::warn!(
                "secret \"{name}\" has redact = false and environment \"{environment_name}\" is protected: \
                 if the run uses it, its value appears in output and the journal"
            ),
            _ => {}
        }
    }
    found
}

/// `require_approval`: the main script's first literal write, when no literal `approve`
/// comes before it in source order (steps' bodies included). Preflight records the main
/// script's calls first. Reads and notifications may come first, as at the gate.
/// `plan` and `check` warn with it; a live run is not refused on it, because source
/// order is not run order (a write in a function defined above the `approve`, or in a
/// compensation registered before it, runs later): the gate refuses the write itself.
fn approval_problem(name: &str, environment: &Environment, calls: &[(String, LiteralCall)]) -> Option<Problem> {
    if !environment.require_approval {
        return None;
    }
    let main = &calls.first()?.0;
    let mut ordered: Vec<&LiteralCall> = calls.iter().filter(|(file, _)| file == main).map(|(_, call)| call).collect();
    ordered.sort_by_key(|call| (call.position.line(), call.position.position()));
    let registry = crate::primitives::registry();
    let writes = |function: &str| {
        registry.get(function).is_some_and(|primitive| primitive.class() == crate::effect::EffectClass::Write)
    };
    let first = ordered.into_iter().find(|call| call.function == "approve" || writes(&call.function))?;
    if first.function == "approve" {
        return None;
    }
    let (line, column) = (first.position.line().unwrap_or(1), first.position.position().unwrap_or(1));
    Some(Problem {
        location: Some(Location { file: main.clone(), line, column }),
        message: format!(
            "{} would write before an approval: environment \"{name}\" has require_approval = true; call approve(…) first",
            first.function
        ),
    })
}

/// The secrets argument `key` = `value` of `function` reaches, each with who needs it.
fn secrets_named(project: &Project, function: &str, key: &str, value: &str) -> Vec<(String, String)> {
    let config = &project.config;
    match (function, key) {
        ("notify", "channel") => config
            .notify
            .get(value)
            .and_then(|channel| channel.url_secret.clone())
            .map_or_else(Vec::new, |secret| vec![(secret, format!("channel \"{value}\""))]),
        ("backup" | "restore", "postgres") => config.databases.get(value).map_or_else(Vec::new, |database| {
            let user = format!("database \"{value}\"");
            [&database.url_secret, &database.password_secret]
                .into_iter()
                .flatten()
                .map(|secret| (secret.clone(), user.clone()))
                .collect()
        }),
        ("promote_image", "from" | "to") => {
            let Ok(reference) = crate::providers::oci::Reference::parse(value) else { return Vec::new() };
            let registry = config.registries.get(&reference.registry);
            let secret = registry.and_then(|registry| registry.password_secret.clone());
            secret.map_or_else(Vec::new, |secret| vec![(secret, format!("registry \"{}\"", reference.registry))])
        }
        _ => Vec::new(),
    }
}

/// Why the repository `repo` names cannot be tagged: missing, or not a git repository.
/// A name that is neither declared nor a directory is `unknown_names`' to report, and
/// a path leaving the scripts root the gate's to refuse.
fn repo_problem(project: &Project, repo: &str) -> Option<String> {
    // Shown as shipctl.toml writes it: the message names no directory of this machine.
    let (path, shown): (PathBuf, String) = match project.config.repos.get(repo) {
        Some(declared) => (
            ConfiguredPath::from_config(&project.root, &declared.path).into_path(),
            format!("[repos.{repo}] path \"{}\"", declared.path.display()),
        ),
        None => {
            let path = project.root.join(repo);
            if !path.is_dir() || Path::new(repo).is_absolute() || repo.split(['/', '\\']).any(|part| part == "..") {
                return None;
            }
            (path, format!("directory \"{repo}\""))
        }
    };
    if !path.is_dir() {
        return Some(format!("repo \"{repo}\": {shown} does not exist or is not a directory"));
    }
    // Only a work tree (or a bare repository) at this very path: no search upward,
    // which would find the scripts root's own repository.
    let flags = git2::RepositoryOpenFlags::NO_SEARCH;
    match git2::Repository::open_ext(&path, flags, std::iter::empty::<&std::ffi::OsStr>()) {
        Ok(_) => None,
        Err(_) => Some(format!("repo \"{repo}\": {shown} is not a git repository")),
    }
}

/// The environment's kubeconfig must be readable and hold its context: the same reader
/// a run's Kubernetes client uses (`providers::kube::kubeconfig`), so the two cannot
/// disagree. An environment naming neither is left to the cluster's own discovery.
fn cluster_problem(root: &Path, name: &str, environment: &Environment) -> Option<Problem> {
    if !environment.has_cluster() {
        return None;
    }
    let problem = crate::providers::kube::kubeconfig(root, name, environment).err()?;
    Some(Problem { location: None, message: format!("environment \"{name}\": {} ({})", problem.message, problem.help) })
}

/// The refusal of a live run whose needs are not met: every problem, one a line.
pub fn refusal(problems: &[Problem]) -> Error {
    let lines: Vec<String> = problems.iter().map(|problem| format!("  {problem}")).collect();
    Error::Config(ConfigError {
        location: None,
        message: format!(
            "the run would stop: {} before its first effect:\n{}",
            count(problems.len()),
            lines.join("\n")
        ),
        help: Some(
            "set the secrets, fix the paths and the kubeconfig, then run again; `shipctl plan` shows the same".into(),
        ),
    })
}

fn count(problems: usize) -> String {
    if problems == 1 {
        "1 thing it needs is missing".to_string()
    } else {
        format!("{problems} things it needs are missing")
    }
}

/// What a run in `mode` is told of its needs: a live run is refused when anything it
/// needs is missing; a plan gets the problems to show under it (the approval order
/// included); replays and tests get none.
pub fn for_mode(
    mode: crate::effect::Mode,
    project: &Project,
    environment_name: &str,
    environment: &Environment,
    calls: &[(String, LiteralCall)],
) -> Result<Vec<Problem>, Error> {
    use crate::effect::Mode;
    match mode {
        Mode::Run => {
            let problems = problems(project, environment_name, environment, calls);
            if problems.is_empty() { Ok(Vec::new()) } else { Err(refusal(&problems)) }
        }
        Mode::Plan => Ok(for_plan(project, environment_name, environment, calls)),
        Mode::Replay | Mode::Test => Ok(Vec::new()),
    }
}

/// The problems a plan or `check` shows: what the live run would stop at, and a literal
/// write before the approval `require_approval` asks for.
fn for_plan(
    project: &Project,
    environment_name: &str,
    environment: &Environment,
    calls: &[(String, LiteralCall)],
) -> Vec<Problem> {
    let mut found = problems(project, environment_name, environment, calls);
    found.extend(approval_problem(environment_name, environment, calls));
    found
}

/// The problems of `script` in `environment_name`, for `check`: the project found, the
/// script compiled (a script that does not compile has none to report here). On the
/// calling thread, which must be the script thread (compiling recurses as deep as the
/// script nests).
pub fn problems_here(script: &Path, environment_name: &str) -> Result<Vec<Problem>, Error> {
    script_problems(script, environment_name)
}

fn script_problems(script: &Path, environment_name: &str) -> Result<Vec<Problem>, Error> {
    let path = crate::config::absolute(script);
    let text = crate::base::files::read_regular(&path)
        .map_err(|error| Error::usage(format!("cannot read script {}: {error}", script.display()), None))?;
    let project = Project::discover(&path)?;
    let environment = project.environment(environment_name)?;
    let name = project.source_name(&path);
    let registry = crate::primitives::registry();
    let sources = crate::engine::SourceMap::default();
    let limits = &project.config.limits;
    let preflight = crate::engine::preflight::preflight(limits, &project.root, &name, &text, &sources, Some(&registry));
    Ok(for_plan(&project, environment_name, &environment, &preflight.calls))
}
