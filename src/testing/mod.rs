//! `shipctl test`: release scripts tested like code. A test file (`release.test.rhai`
//! next to `release.rhai`) declares tests; each runs the script under test with the
//! scenario executor, mocking the results of primitives it chooses (per call or for all
//! calls of a kind, or making them fail) and asserting on what the script did.
//!
//! ```rhai
//! test("health check fails, so the release rolls back", || {
//!     mock_error("http_check", "GET https://example.org/health: expected status 200, got 503");
//!     let result = run(#{ env: "production", params: #{ version: "1.4.0" } });
//!     assert_eq(result.status, "failed");
//!     assert_eq(result.compensations[0].kind, "notify");
//! });
//! ```

mod builtins;
mod fixture;
mod junit;

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::Dynamic;

pub use builtins::BUILTINS;
pub use junit::junit_report;

use crate::base::location::Location;
use crate::config::Project;
use crate::engine::{self, ScriptError, SourceMap, Sources};
use crate::error::Error;
use crate::run::RunReport;

/// Test files end in this.
pub const SUFFIX: &str = ".test.rhai";

/// How one test went.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub name: String,
    /// Where `test(...)` declared it.
    pub origin: Location,
    pub failure: Option<TestFailure>,
    pub duration: Duration,
}

/// Why a test failed: the assertion or error, where, and what the script under test
/// did in its last run.
#[derive(Debug, Clone)]
pub struct TestFailure {
    pub error: ScriptError,
    pub last_run: Option<RunReport>,
}

/// A test file's results, or why it could not be run at all.
#[derive(Debug)]
pub struct TestFile {
    /// The file as people know it (relative to the scripts root).
    pub name: String,
    pub outcomes: Vec<TestOutcome>,
    pub error: Option<Error>,
    pub sources: Sources,
    pub duration: Duration,
}

impl TestFile {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|outcome| outcome.failure.is_some()).count() + usize::from(self.error.is_some())
    }
}

/// Run every test in `path`, calling `on_outcome` as each finishes. Runs on the calling
/// thread, which needs a deep enough stack (see [`crate::run::execute`]).
pub fn run_file(path: &Path, on_outcome: &mut dyn FnMut(&TestOutcome)) -> TestFile {
    run_file_filtered(path, None, on_outcome)
}

/// [`run_file`], running only the tests whose name contains `filter` (plain text, not a
/// pattern language: nothing in it is interpreted).
pub fn run_file_filtered(path: &Path, filter: Option<&str>, on_outcome: &mut dyn FnMut(&TestOutcome)) -> TestFile {
    let started = Instant::now();
    let sources = SourceMap::default();
    let mut file = TestFile {
        name: path.display().to_string(),
        outcomes: Vec::new(),
        error: None,
        sources: Sources::default(),
        duration: Duration::ZERO,
    };
    match run_file_inner(path, filter, &sources, &mut file, on_outcome) {
        Ok(()) => {}
        Err(error) => file.error = Some(error),
    }
    file.sources = sources.snapshot();
    file.duration = started.elapsed();
    file
}

fn run_file_inner(
    path: &Path,
    filter: Option<&str>,
    sources: &SourceMap,
    file: &mut TestFile,
    on_outcome: &mut dyn FnMut(&TestOutcome),
) -> Result<(), Error> {
    let absolute = crate::config::absolute(path);
    let text = crate::base::files::read_regular(&absolute).map_err(|source| Error::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    let project = Project::discover(&absolute)?;
    let name = project.source_name(&absolute);
    let canonical = absolute.canonicalize().unwrap_or_else(|_| absolute.clone());
    file.name = name.clone();
    let limits = project.config.limits.clone();
    let preflight = engine::preflight::preflight(&limits, &project.root, &name, &text, sources, None);
    if !preflight.errors.is_empty() {
        return Err(Error::Script { errors: preflight.errors, sources: sources.snapshot() });
    }
    let Some(mut ast) = preflight.main else { return Err(Error::Internal("preflight returned no script".to_string())) };
    ast.set_source(name.as_str());

    let host =
        Rc::new(builtins::TestHost::new(name.clone(), canonical.parent().map(Path::to_path_buf).unwrap_or_default()));
    let mut engine = engine::sandbox(&limits);
    engine.set_module_resolver(
        engine::resolver::ScriptResolver::new(&project.root, sources.clone(), preflight.modules)
            .with_max_modules(limits.max_modules),
    );
    builtins::register(&mut engine, &host);
    if let Err(error) = engine.run_ast(&ast) {
        let error = ScriptError::from_eval(&error, &name, &limits);
        return Err(Error::Script { errors: vec![error], sources: sources.snapshot() });
    }
    let tests = host.take_tests();
    if tests.is_empty() {
        return Err(Error::usage(
            format!("{name} declares no tests"),
            Some("declare one with test(\"name\", || { ... })".to_string()),
        ));
    }
    for test in tests.into_iter().filter(|test| filter.is_none_or(|filter| test.name.contains(filter))) {
        host.reset();
        let started = Instant::now();
        #[allow(deprecated)]
        let context = test.context.create_context(&engine);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            test.function.call_within_context::<Dynamic>(&context, ())
        }));
        let failure = match result {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(ScriptError::from_eval(&error, &name, &limits)),
            Err(_) => Some(ScriptError {
                kind: engine::ScriptErrorKind::Runtime,
                message: "internal error: shipctl panicked while running the test".to_string(),
                location: Some(test.origin.clone()),
                help: None,
                trace: Vec::new(),
                step: None,
            }),
        };
        let outcome = TestOutcome {
            name: test.name,
            origin: test.origin,
            failure: failure.map(|error| TestFailure { error, last_run: host.last_run() }),
            duration: started.elapsed(),
        };
        on_outcome(&outcome);
        file.outcomes.push(outcome);
    }
    Ok(())
}
