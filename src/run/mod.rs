//! One execution of a script, end to end: find the scripts root and config, preflight
//! the scripts, check policy, open the journal, run the script on its own thread
//! through the gate, run compensations after a failure, write the footer, report.

mod compensate;
pub mod interrupt;
mod lock;
pub mod needs;
mod prefetch;
pub(crate) mod provenance;
mod recorded;
mod refusals;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rhai::Dynamic;
use serde::Serialize;

pub use recorded::{replay_request, resume_request};
use refusals::{check_policy_names, refuse_computed_imports, refuse_outside_git, refuse_uncommitted};

use crate::base::digest::sha256_hex;
use crate::base::location::Location;
use crate::config::{Environment, Project};
use crate::effect::{
    EffectContext, EffectReport, Event, Executor, Gate, GateErrorKind, Halt, Live, Mock, Mode, Plan, Registry, Replay,
    Reporter, Resume, Scenario,
};
use crate::engine::{self, ScriptError, ScriptErrorKind, ScriptHost, SourceMap, Sources};
use crate::error::Error;
use crate::journal::{Footer, Header, JournalWriter, Record, Recording, RepoState, RunStatus, new_run_id};

/// What to run, and how.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub script: PathBuf,
    pub environment: String,
    pub params: BTreeMap<String, String>,
    pub mode: Mode,
    /// Plan mode may query live systems read-only.
    pub refresh: bool,
    /// Keep a journal (always in run mode; plan mode only when asked).
    pub journal: bool,
    /// Adds primitives beyond the built-in ones (tests, embedders).
    pub extend: Option<fn(&mut Registry)>,
    /// Where effects' results come from, beyond what the mode implies.
    pub source: Source,
    /// `--approved-by`: who approved this run ahead of time (for `approve`).
    pub approved_by: Option<String>,
    /// `--kubeconfig` and `--kube-context`, over the environment's keys.
    pub kube: crate::providers::kube::KubeOverrides,
    /// Answer SIGINT and SIGTERM during a live run (see [`interrupt`]). The `shipctl`
    /// binary sets it; a program that embeds the library keeps its own handling.
    pub watch_signals: bool,
}

/// Where the results of effects come from.
#[derive(Debug, Clone, Default)]
pub enum Source {
    /// What the mode says: performed in `run`, mocked in `plan`.
    #[default]
    Mode,
    /// Every result from a recorded run (`Mode::Replay`).
    Replay(Recording),
    /// A failed or killed run's finished effects from its journal, then live (`Mode::Run`).
    Resume { recording: Recording, retry_unfinished: bool },
    /// Mocks scripted by a test, plan mocks otherwise (`Mode::Test`).
    Scenario(Vec<Mock>),
}

impl RunRequest {
    /// A request with no params, journaled in run mode only.
    pub fn new(script: impl Into<PathBuf>, environment: &str, mode: Mode) -> Self {
        RunRequest {
            script: script.into(),
            environment: environment.to_string(),
            params: BTreeMap::new(),
            mode,
            refresh: false,
            journal: mode == Mode::Run,
            extend: None,
            source: Source::Mode,
            approved_by: None,
            kube: Default::default(),
            watch_signals: false,
        }
    }

    /// Add a `--set name=value`.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.to_string(), value.to_string());
        self
    }
}

/// A compensation that ran after a failure.
#[derive(Debug, Clone, Serialize)]
pub struct CompensationReport {
    /// Where `on_failure` registered it.
    pub origin: Location,
    pub error: Option<String>,
}

/// How a run went.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub mode: Mode,
    pub script: String,
    pub environment: String,
    pub params: BTreeMap<String, String>,
    pub status: RunStatus,
    pub error: Option<ScriptError>,
    pub failed_step: Option<String>,
    /// Every effect, in order; those run by compensations are flagged.
    pub effects: Vec<EffectReport>,
    pub compensations: Vec<CompensationReport>,
    /// Why the executor stopped the run, when it did (a replay's divergence).
    pub halt: Option<Halt>,
    pub journal: Option<PathBuf>,
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<&'static str>,
    #[serde(skip)]
    pub duration: Duration,
    /// The texts of the scripts, for rendering errors.
    #[serde(skip)]
    pub sources: Sources,
    /// What the live run would stop at before its first effect (a plan's only).
    #[serde(skip)]
    pub needs: Vec<needs::Problem>,
}

/// Run `request`, telling `reporter` as it goes. Errors before the script starts (config,
/// syntax, missing params, policy) come back as [`Error`]; a script that fails once
/// started comes back as a report with status `failed`.
pub fn execute(request: RunRequest, reporter: Box<dyn Reporter + Send>) -> Result<RunReport, Error> {
    on_script_thread(move || execute_here(request, reporter))?
}

/// Run `work` on a thread of its own whose stack is deep enough for the configured call
/// depth in any build profile (engines and their values stay on that one thread), with
/// the stack guard of [`engine::budget`] armed. Everything that compiles or runs a
/// script (run, plan, check, test, watch) goes through here.
pub fn on_script_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    let thread = std::thread::Builder::new()
        .name("script".to_string())
        .stack_size(engine::SCRIPT_STACK)
        .spawn(move || {
            engine::budget::mark_script_thread(engine::SCRIPT_STACK);
            work()
        })
        .map_err(|error| Error::Internal(format!("cannot start the script thread: {error}")))?;
    thread.join().map_err(|_| Error::Internal("the script thread panicked; see the message above".to_string()))
}

/// Like [`execute`], on the calling thread (which needs a deep enough stack). A run's
/// stages, each below: prepare, check provenance, open, execute, compensate, close.
pub fn execute_here(request: RunRequest, reporter: Box<dyn Reporter + Send>) -> Result<RunReport, Error> {
    let executor = prefetch::executor(&request).unwrap_or_else(|| executor_for(&request));
    execute_with(request, reporter, executor)
}

/// [`execute_here`] with the executor given.
fn execute_with(
    request: RunRequest,
    reporter: Box<dyn Reporter + Send>,
    executor: Box<dyn Executor>,
) -> Result<RunReport, Error> {
    let prepared = prepare(&request)?;
    let repo = check_provenance(&request, &prepared)?;
    let opened = open(&request, prepared, repo, reporter, executor)?;
    let error = interrupt::error_if_interrupted(opened.host.gate.context(), execute_script(&opened));
    let compensated = compensate_after(&request, &opened, error);
    close(request, opened, compensated)
}

/// What preparing a run found: the script, its project and environment, the registry,
/// and the preflighted script with its modules. Nothing is opened or locked yet.
struct Prepared {
    started: Instant,
    started_at: SystemTime,
    script_path: PathBuf,
    text: String,
    project: Project,
    script: String,
    environment: Environment,
    registry: Registry,
    sources: SourceMap,
    limits: crate::config::Limits,
    known_params: Vec<String>,
    main: rhai::AST,
    modules: BTreeMap<String, rhai::AST>,
    /// What the live run would stop at, for a plan to show.
    needs: Vec<needs::Problem>,
}

/// Prepare: read the script, find its project and environment, build the registry,
/// check policy names, and preflight the scripts and the params given.
fn prepare(request: &RunRequest) -> Result<Prepared, Error> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let script_path = crate::config::absolute(&request.script);
    let text = crate::base::files::read_regular(&script_path)
        .map_err(|error| Error::usage(format!("cannot read script {}: {error}", request.script.display()), None))?;
    let project = Project::discover(&script_path)?;
    let script = project.source_name(&script_path);
    let mut environment = project.environment(&request.environment)?;
    request.kube.apply(&mut environment);
    // A refreshed plan in an environment with a cluster reads its kubeconfig before any
    // effect: a missing file is a configuration error, not a failed probe. A live run
    // reports it with everything else it needs (`needs::refuse_unmet`).
    if environment.has_cluster() && request.mode != Mode::Run && request.refresh {
        crate::providers::kube::kubeconfig(&project.root, &request.environment, &environment)
            .map_err(|problem| Error::usage(problem.message, problem.help))?;
    }

    let registry = registry_for(request.extend);
    check_policy_names(&project, &registry)?;

    let sources = SourceMap::default();
    let limits = project.config.limits.clone();
    let preflight = engine::preflight::preflight(&limits, &project.root, &script, &text, &sources, Some(&registry));
    if !preflight.errors.is_empty() {
        return Err(Error::Script { errors: preflight.errors, sources: sources.snapshot() });
    }
    let missing = preflight.missing_params(&request.params);
    if !missing.is_empty() {
        return Err(Error::Script { errors: missing, sources: sources.snapshot() });
    }
    // Params given now are checked for typos; params taken from a journal are what they were.
    let recorded_params = matches!(request.source, Source::Replay(_) | Source::Resume { .. });
    if let Some(unread) = preflight.unread_params(&request.params).into_iter().next().filter(|_| !recorded_params) {
        return Err(Error::usage(unread, Some("remove it, or fix its name".to_string())));
    }
    let needs = needs::for_mode(request.mode, &project, &request.environment, &environment, &preflight.calls)?;
    let known_params = preflight.param_names();
    let Some(mut main) = preflight.main else {
        return Err(Error::Internal("preflight returned no script".to_string()));
    };
    main.set_source(script.as_str());
    let modules = preflight.modules;
    Ok(Prepared {
        started,
        started_at,
        script_path,
        text,
        project,
        script,
        environment,
        registry,
        sources,
        limits,
        known_params,
        main,
        modules,
        needs,
    })
}

/// The built-in primitives and those `extend` adds.
fn registry_for(extend: Option<fn(&mut Registry)>) -> Registry {
    let mut registry = crate::primitives::registry();
    if let Some(extend) = extend {
        extend(&mut registry);
    }
    registry
}

/// Check provenance: the repository's state for the header, and for a protected run
/// the refusal of a dirty tree, uncommitted files and computed imports.
fn check_provenance(request: &RunRequest, prepared: &Prepared) -> Result<Option<RepoState>, Error> {
    let Prepared { project, environment, script, script_path, main, .. } = prepared;
    let journal_dir = project.journal_dir();
    let repo = provenance::repo_state(&project.root, &journal_dir);
    if environment.protected && request.mode == Mode::Run {
        refuse_outside_git(&request.environment, &project.root, repo.as_ref())?;
        let mut used = vec![script_path.clone()];
        // `std/...` modules are embedded in shipctl, not files.
        let files = prepared.modules.keys().filter(|module| !module.starts_with(engine::STD_PREFIX));
        used.extend(files.map(|module| project.root.join(module)));
        used.extend(project.config_path.clone());
        refuse_uncommitted(&request.environment, &project.root, &used)?;
        let modules = prepared.modules.iter().map(|(name, ast)| (name.as_str(), ast));
        refuse_computed_imports(&request.environment, std::iter::once((script.as_str(), main)).chain(modules))?;
    }
    Ok(repo)
}

/// An opened run: the release lock held until the run is closed, the script host
/// around the gate (journal header written, start reported) and the engine.
struct Opened {
    _lock: Option<lock::ReleaseLock>,
    _watch: Option<interrupt::Watch>,
    started: Instant,
    run_id: String,
    script: String,
    limits: crate::config::Limits,
    sources: SourceMap,
    main: rhai::AST,
    journal_path: Option<PathBuf>,
    host: Rc<ScriptHost>,
    engine: rhai::Engine,
    needs: Vec<needs::Problem>,
}

/// Open: take the release lock, create the journal and write its header, build the
/// context and gate around `executor`, report the start, and build the script host and engine.
fn open(
    request: &RunRequest,
    prepared: Prepared,
    repo: Option<RepoState>,
    reporter: Box<dyn Reporter + Send>,
    executor: Box<dyn Executor>,
) -> Result<Opened, Error> {
    let run_id = new_run_id();
    // Held until the run is closed, however it ends.
    let _lock = lock::for_run(
        request.mode,
        &prepared.project,
        &request.environment,
        &prepared.environment,
        (&product_of(&prepared.script), &request.params),
        &prepared.script,
        &run_id,
    )?;
    let journal_dir = prepared.project.journal_dir();
    let journal = if request.journal { Some(JournalWriter::create(&journal_dir, &run_id)?) } else { None };
    let header = header_for(request, &prepared, &run_id, repo);
    let Prepared {
        started,
        project,
        script,
        environment,
        registry,
        sources,
        limits,
        known_params,
        main,
        modules,
        needs,
        ..
    } = prepared;
    let environment_map = environment_map(&request.environment, &environment);
    let mut context = EffectContext::new(
        request.mode,
        request.refresh,
        project.clone(),
        request.environment.clone(),
        environment,
        run_id.clone(),
        script.clone(),
        reporter,
    );
    context.approved_by = request.approved_by.clone();
    let interrupt = Arc::new(crate::effect::Interrupt::default());
    let _watch = interrupt::watch(request.mode, request.watch_signals, &interrupt)?;
    context.set_interrupt(interrupt);
    let gate = Gate::new(context, registry, executor, journal);
    gate.append(|| Record::Header(header)).map_err(|error| Error::Internal(error.message))?;
    let journal_path = gate.journal_path();
    gate.context().report(&Event::RunStarted {
        run_id: &run_id,
        script: &script,
        environment: &request.environment,
        mode: request.mode,
        journal: journal_path.as_deref(),
    });

    let host = Rc::new(ScriptHost::new(
        gate,
        script.clone(),
        request.params.clone(),
        known_params,
        environment_map,
        limits.clone(),
        sources.clone(),
    ));
    let resolver = engine::resolver::ScriptResolver::new(&project.root, sources.clone(), modules)
        .with_budget(Rc::clone(&host.budget));
    let engine = engine::build(&host, resolver);
    Ok(Opened { _lock, _watch, started, run_id, script, limits, sources, main, journal_path, host, engine, needs })
}

/// The journal header of the run `prepared` opens as `run_id`.
fn header_for(request: &RunRequest, prepared: &Prepared, run_id: &str, repo: Option<RepoState>) -> Header {
    Header {
        format: crate::journal::FORMAT_VERSION,
        run_id: run_id.to_string(),
        mode: request.mode.as_str().to_string(),
        product: product_of(&prepared.script),
        script: prepared.script.clone(),
        script_sha256: sha256_hex(prepared.text.as_bytes()),
        root: prepared.project.root.display().to_string(),
        repo,
        shipctl_version: provenance::SHIPCTL_VERSION.to_string(),
        environment: request.environment.clone(),
        params: request.params.clone(),
        user: crate::base::operator::user(),
        host: provenance::host(),
        started_at: crate::base::time::rfc3339(prepared.started_at),
        resumed_from: match &request.source {
            Source::Resume { recording, .. } => Some(recording.run_id.clone()),
            _ => None,
        },
        kube: request.kube.recorded(),
        ci: crate::base::operator::ci_identity().map(Box::new),
    }
}

/// The executor a request's source and mode call for.
fn executor_for(request: &RunRequest) -> Box<dyn Executor> {
    match (request.source.clone(), request.mode) {
        (Source::Replay(recording), _) => Box::new(Replay::new(recording)),
        (Source::Resume { recording, retry_unfinished }, _) => {
            Box::new(Resume::new(recording, Box::new(Live), retry_unfinished))
        }
        (Source::Scenario(mocks), _) => Box::new(Scenario::new(mocks)),
        (Source::Mode, Mode::Run) => Box::new(Live),
        (Source::Mode, Mode::Plan | Mode::Replay | Mode::Test) => Box::new(Plan),
    }
}

/// Execute: run the script's AST; the script's error, if any (a panic becomes one).
fn execute_script(opened: &Opened) -> Option<ScriptError> {
    let Opened { host, engine, main, script, limits, .. } = opened;
    let outcome = catch_unwind(AssertUnwindSafe(|| engine.run_ast(main)));
    match outcome {
        // A builtin that swallowed a callback's limit error does not make the run succeed.
        Ok(Ok(())) => host.limit_error().map(|error| script_error(host, &error, script, limits)),
        Ok(Err(error)) => Some(script_error(host, &error, script, limits)),
        Err(_) => Some(ScriptError {
            kind: ScriptErrorKind::Runtime,
            message: "internal error: shipctl panicked while running the script".to_string(),
            location: None,
            help: Some("this is a bug in shipctl; the journal shows how far the run got".to_string()),
            trace: Vec::new(),
            step: None,
        }),
    }
}

/// The script's error and the compensations' reports after the compensate stage, and
/// whether the run had halted before it.
struct Compensated {
    error: Option<ScriptError>,
    reports: Vec<CompensationReport>,
    halted: bool,
}

/// Compensate: after a failure, compensations undo what they can. A plan shows what
/// they would do even when it succeeds.
fn compensate_after(request: &RunRequest, opened: &Opened, error: Option<ScriptError>) -> Compensated {
    let Opened { host, engine, script, limits, .. } = opened;
    let compensations = host.take_compensations();
    let halted = host.gate.halt().is_some();
    let run_compensations = !halted && (error.is_some() || request.mode == Mode::Plan);
    let mut compensation_reports = Vec::new();
    if run_compensations && !compensations.is_empty() {
        let failed = error.is_some();
        compensation_reports = compensate::compensate(host, engine, &compensations, failed, script, limits);
    }
    if error.is_none() {
        // A plan's compensations ran only to be shown; they did not fail the plan.
        compensation_reports.clear();
    }
    Compensated { error, reports: compensation_reports, halted }
}

/// Close: finish the log and the executor, settle the status, write the footer,
/// release the engine and the lock, and build the report.
fn close(request: RunRequest, opened: Opened, compensated: Compensated) -> Result<RunReport, Error> {
    let Opened { _lock, _watch, started, run_id, script, sources, journal_path, host, engine, needs, .. } = opened;
    let Compensated { mut error, reports: compensation_reports, halted } = compensated;
    if let Err(log_error) = host.gate.finish_log()
        && error.is_none()
    {
        return Err(Error::Internal(log_error.message));
    }

    // An executor that expected more (a replay whose recording goes on) says so now.
    if !halted {
        host.gate.finish_executor();
    }
    let halt = host.gate.halt();
    let fatal = host.gate.fatal_error();
    let signal = host.gate.context().interrupt().signal().map(crate::effect::signal_name);
    let status = match (&error, &fatal) {
        _ if halt.is_some() => RunStatus::Halted,
        _ if signal.is_some() => RunStatus::Interrupted,
        (None, _) => RunStatus::Succeeded,
        (Some(_), Some(fatal)) if fatal.kind == GateErrorKind::Policy => RunStatus::Refused,
        (Some(_), _) => RunStatus::Failed,
    };
    let failed_step = host.gate.failed_step();
    if let Some(error) = error.as_mut() {
        error.step = failed_step.clone();
        // The run's error leaves the host (terminal, JSON report, footer): redacted too.
        let redactor = host.gate.context().redactor();
        error.message = redactor.redact_str(&error.message);
        error.help = error.help.as_deref().map(|help| redactor.redact_str(help));
    }
    let duration = started.elapsed();
    let effects_count = host.gate.effect_count();
    let footer = Footer {
        status,
        error: error.as_ref().map(ToString::to_string).or_else(|| halt.as_ref().map(|halt| halt.message.clone())),
        failed_step: failed_step.clone(),
        compensations_not_run: compensate::not_run(&compensation_reports),
        effects: effects_count,
        ended_at: crate::base::time::now_rfc3339(),
        duration_ms: duration.as_millis() as u64,
    };
    let footer_result = host.gate.append(|| Record::Footer(footer));

    drop(engine);
    let host = Rc::try_unwrap(host).map_err(|_| Error::Internal("the engine outlived the run".to_string()))?;
    let (effects, _context, _journal) = host.gate.finish();
    if let Err(footer_error) = footer_result
        && error.is_none()
    {
        return Err(Error::Internal(footer_error.message));
    }
    Ok(RunReport {
        run_id,
        mode: request.mode,
        script,
        environment: request.environment,
        params: request.params,
        status,
        error,
        failed_step,
        effects,
        compensations: compensation_reports,
        halt,
        journal: journal_path,
        signal,
        duration,
        sources: sources.snapshot(),
        needs,
    })
}

/// Whether the innermost error is a fatal gate error ending the script.
fn is_gate_termination(mut error: &rhai::EvalAltResult) -> bool {
    use rhai::EvalAltResult as E;
    loop {
        match error {
            E::ErrorInFunctionCall(_, _, inner, _) | E::ErrorInModule(_, inner, _) => error = inner,
            E::ErrorTerminated(value, _) => return value.is::<crate::effect::GateError>(),
            _ => return false,
        }
    }
}

fn script_error(
    host: &ScriptHost,
    error: &rhai::EvalAltResult,
    script: &str,
    limits: &crate::config::Limits,
) -> ScriptError {
    let mut located = ScriptError::from_eval(error, script, limits);
    if located.help.is_none() {
        located.help = host.help_for(error);
    }
    // Rhai moves a termination's position out to each enclosing call (`step(`): a fatal
    // gate error belongs at the primitive's call, where the host recorded it.
    if is_gate_termination(error) {
        located.location = host.fatal_origin().or(located.location);
    }
    located
}

/// `scripts/cdc/release.rhai` is product `cdc`; a script at the root is named by its stem.
fn product_of(script: &str) -> String {
    let path = Path::new(script);
    path.parent()
        .and_then(|parent| parent.file_name())
        .or_else(|| path.file_stem())
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The environment's table as a script value, plus `name`.
fn environment_map(name: &str, environment: &Environment) -> rhai::Map {
    let mut map = rhai::Map::new();
    for (key, value) in &environment.vars {
        let json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        map.insert(key.as_str().into(), crate::effect::value::to_dynamic(&json));
    }
    map.insert("name".into(), Dynamic::from(name.to_string()));
    map.insert("protected".into(), Dynamic::from_bool(environment.protected));
    map
}
