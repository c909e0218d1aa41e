//! What test files can call: `test`, `mock`, `mock_error`, `run`, the effects of a run by
//! kind (`effect`, `effects`) and assertions (`assert_order` among them).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

// The stored call context is volatile API (not deprecated): it lets a test's closure run
// after the file has been evaluated.
#[allow(deprecated)]
use rhai::NativeCallContextStore;
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, INT, ImmutableString, Map, NativeCallContext, Position};
use serde_json::{Value, json};

use crate::base::confined::{ConfinedPath, PathError};
use crate::base::location::Location;
use crate::base::suggest::did_you_mean;
use crate::config::Project;
use crate::effect::Silent;
use crate::effect::{Answer, Mock, Mode, value};
use crate::run::{RunReport, RunRequest, Source, execute_here};

use super::{SUFFIX, fixture};

/// Name and documentation of each test builtin, for `shipctl docs`.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "test",
        "test(name, || { ... })\n\n\
         In a `*.test.rhai` file: declares a test. `shipctl test` runs each test with fresh\n\
         mocks and reports one line per test.",
    ),
    (
        "run",
        "run(#{ script?, env?, params? }) -> map\n\n\
         In a test: runs the script under test with the scenario executor. `script` is\n\
         relative to the test file (default: `release.test.rhai` tests `release.rhai`),\n\
         `env` defaults to `local`, `params` is a map. Nothing is performed: effects get\n\
         their mock results. Returns #{ status, error, error_location, failed_step,\n\
         effects, kinds, compensations, compensation_errors }: `effects` has every effect\n\
         (seq, kind, step, args, result, error, compensation), `kinds` the kinds of the\n\
         main path in order, `compensations` the effects run by compensations, and\n\
         `compensation_errors` the compensations that failed, with where they were registered.\n\
         Find effects by kind, not by position: `result.effect(kind)`, `result.effects(kind)`,\n\
         `assert_order(result, kinds)`.\n\n\
         run(#{ journal: \"fixtures/prod.jsonl\", script?, env?, params? }) answers each effect\n\
         from a recorded run (a journal inside the scripts root, relative to the test file;\n\
         `shipctl history --export` makes one), as `shipctl replay` does: `env` and `params`\n\
         default to the recorded ones, and an effect that differs from the recording (an\n\
         argument, an effect added or removed) fails the test, naming the effect and both calls.\n\
         No mocks with a journal.",
    ),
    (
        "effect",
        "result.effect(kind) -> map\n\n\
         In a test: the first effect of primitive `kind` in a result of `run` (main path\n\
         and compensations, in the order they ran). The test fails, naming the kinds that\n\
         ran, when no effect of that kind did: `result.effect(\"helm_upgrade\").args.set`.",
    ),
    (
        "effects",
        "result.effects(kind) -> array\n\n\
         In a test: every effect of primitive `kind` in a result of `run`, in the order they\n\
         ran (empty when none did): `result.effects(\"tag\").map(|tag| tag.args.repo)`.\n\
         `result.effects`, without the call, is still every effect of the run.",
    ),
    (
        "assert_order",
        "assert_order(result, kinds)\n\n\
         In a test: effects of these kinds ran in this order (others may run between them):\n\
         `assert_order(result, [\"backup\", \"helm_upgrade\", \"wait_healthy\"])`. Each kind\n\
         is matched by the first effect of it after the previous match. A failure lists the\n\
         order the effects ran in.",
    ),
    (
        "mock",
        "mock(kind, result)\nmock(kind, n, result)\n\n\
         In a test: calls of primitive `kind` (only the n-th call, from 1, with `n`) return\n\
         `result`, laid over the primitive's plan mock so the shape stays the same.",
    ),
    (
        "mock_error",
        "mock_error(kind, message)\nmock_error(kind, n, message)\n\n\
         In a test: calls of primitive `kind` (only the n-th with `n`) fail with `message`,\n\
         as if the live effect had failed (a health check timing out, a backup failing).",
    ),
    (
        "assert",
        "assert(condition), assert_eq(actual, expected), assert_ne(actual, unexpected)\n\
         (each also with a last `message` argument)\n\n\
         In a test: fail the test with the message and the place. Values compare by content.",
    ),
];

/// A declared test.
pub struct DeclaredTest {
    pub name: String,
    pub function: FnPtr,
    #[allow(deprecated)]
    pub context: NativeCallContextStore,
    pub origin: Location,
}

/// What the test builtins of one file share.
pub struct TestHost {
    file: String,
    directory: PathBuf,
    tests: RefCell<Vec<DeclaredTest>>,
    mocks: RefCell<Vec<Mock>>,
    last_run: RefCell<Option<RunReport>>,
    running: RefCell<bool>,
}

impl TestHost {
    pub fn new(file: String, directory: PathBuf) -> Self {
        TestHost {
            file,
            directory,
            tests: RefCell::default(),
            mocks: RefCell::default(),
            last_run: RefCell::default(),
            running: RefCell::new(false),
        }
    }

    pub fn take_tests(&self) -> Vec<DeclaredTest> {
        *self.running.borrow_mut() = true;
        std::mem::take(&mut *self.tests.borrow_mut())
    }

    /// Before each test: no mocks, no last run.
    pub fn reset(&self) {
        self.mocks.borrow_mut().clear();
        *self.last_run.borrow_mut() = None;
    }

    pub fn last_run(&self) -> Option<RunReport> {
        self.last_run.borrow().clone()
    }

    fn origin(&self, context: &NativeCallContext) -> Location {
        let position = context.call_position();
        Location {
            file: context.call_source().unwrap_or(&self.file).to_string(),
            line: position.line().unwrap_or(0),
            column: position.position().unwrap_or(0),
        }
    }
}

fn error(message: impl Into<String>, position: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into().into(), position))
}

/// `kind` must be a primitive: a typo would mock nothing, or look for nothing, and pass
/// silently. `action` is what was asked: `mock`, `look for`.
fn known_kind(kind: &str, action: &str, position: Position) -> Result<(), Box<EvalAltResult>> {
    let registry = crate::primitives::registry();
    if registry.get(kind).is_some() {
        return Ok(());
    }
    let names = registry.names();
    let hint = match did_you_mean(kind, names.iter().copied()) {
        Some(close) => format!("; did you mean \"{close}\"?"),
        None => format!("; primitives: {}", names.join(", ")),
    };
    Err(error(format!("cannot {action} \"{kind}\": no primitive has that name{hint}"), position))
}

fn call_number(n: INT, position: Position) -> Result<u64, Box<EvalAltResult>> {
    u64::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| error(format!("call numbers start at 1, not {n}"), position))
}

fn add_mock(
    host: &TestHost,
    context: &NativeCallContext,
    kind: &str,
    call: Option<u64>,
    answer: Answer,
) -> Result<(), Box<EvalAltResult>> {
    known_kind(kind, "mock", context.call_position())?;
    if !*host.running.borrow() {
        return Err(error("mock belongs inside a test(...)", context.call_position()));
    }
    host.mocks.borrow_mut().push(Mock { kind: kind.to_string(), call, answer });
    Ok(())
}

fn map_answer(result: &Map, position: Position) -> Result<Answer, Box<EvalAltResult>> {
    value::map_to_json(result)
        .map(|object| Answer::Result(Value::Object(object)))
        .map_err(|message| error(message, position))
}

pub(super) fn register(engine: &mut Engine, host: &Rc<TestHost>) {
    register_test(engine, host);
    register_mocks(engine, host);
    register_run(engine, host);
    register_assertions(engine);
}

/// `test(name, fn)`: declares a test, outside any test.
fn register_test(engine: &mut Engine, host: &Rc<TestHost>) {
    let tests = Rc::clone(host);
    engine.register_fn(
        "test",
        move |context: NativeCallContext, name: ImmutableString, function: FnPtr| -> Result<(), Box<EvalAltResult>> {
            if *tests.running.borrow() {
                return Err(error("tests cannot be declared inside a test", context.call_position()));
            }
            if tests.tests.borrow().iter().any(|test| test.name == name.as_str()) {
                return Err(error(format!("a test called \"{name}\" is declared twice"), context.call_position()));
            }
            let origin = tests.origin(&context);
            #[allow(deprecated)]
            let stored = context.store_data();
            tests.tests.borrow_mut().push(DeclaredTest { name: name.to_string(), function, context: stored, origin });
            Ok(())
        },
    );
}

/// `mock` and `mock_error`, for every call of a primitive or its `n`th.
fn register_mocks(engine: &mut Engine, host: &Rc<TestHost>) {
    let mocks = Rc::clone(host);
    engine.register_fn("mock", move |context: NativeCallContext, kind: ImmutableString, result: Map| {
        let answer = map_answer(&result, context.call_position())?;
        add_mock(&mocks, &context, &kind, None, answer)
    });
    let mocks = Rc::clone(host);
    engine.register_fn("mock", move |context: NativeCallContext, kind: ImmutableString, n: INT, result: Map| {
        let call = call_number(n, context.call_position())?;
        let answer = map_answer(&result, context.call_position())?;
        add_mock(&mocks, &context, &kind, Some(call), answer)
    });
    let mocks = Rc::clone(host);
    engine.register_fn(
        "mock_error",
        move |context: NativeCallContext, kind: ImmutableString, message: ImmutableString| {
            add_mock(&mocks, &context, &kind, None, Answer::Error(message.to_string()))
        },
    );
    let mocks = Rc::clone(host);
    engine.register_fn(
        "mock_error",
        move |context: NativeCallContext, kind: ImmutableString, n: INT, message: ImmutableString| {
            let call = call_number(n, context.call_position())?;
            add_mock(&mocks, &context, &kind, Some(call), Answer::Error(message.to_string()))
        },
    );
}

/// `run` the script under test, and the queries on its result: `effect`, `effects`,
/// `assert_order`.
fn register_run(engine: &mut Engine, host: &Rc<TestHost>) {
    let runner = Rc::clone(host);
    engine.register_fn("run", move |context: NativeCallContext, options: Map| run(&runner, &context, &options));
    let runner = Rc::clone(host);
    engine.register_fn("run", move |context: NativeCallContext| run(&runner, &context, &Map::new()));

    engine.register_fn("effect", |context: NativeCallContext, result: Map, kind: ImmutableString| {
        first_effect(&result, &kind, context.call_position())
    });
    engine.register_fn("effects", |context: NativeCallContext, result: Map, kind: ImmutableString| {
        every_effect(&result, &kind, context.call_position())
    });
    engine.register_fn("assert_order", |context: NativeCallContext, result: Map, kinds: rhai::Array| {
        assert_order(&result, &kinds, context.call_position())
    });
}

/// `assert`, `assert_eq` and `assert_ne`, each with an optional message.
fn register_assertions(engine: &mut Engine) {
    engine.register_fn("assert", |context: NativeCallContext, condition: bool| -> Result<(), Box<EvalAltResult>> {
        if condition { Ok(()) } else { Err(error("assertion failed", context.call_position())) }
    });
    engine.register_fn(
        "assert",
        |context: NativeCallContext, condition: bool, message: Dynamic| -> Result<(), Box<EvalAltResult>> {
            if condition { Ok(()) } else { Err(error(format!("assertion failed: {message}"), context.call_position())) }
        },
    );
    engine.register_fn("assert_eq", |context: NativeCallContext, actual: Dynamic, expected: Dynamic| {
        assert_eq(&context, actual, expected)
    });
    engine.register_fn(
        "assert_eq",
        |context: NativeCallContext, actual: Dynamic, expected: Dynamic, message: Dynamic| {
            assert_eq(&context, actual, expected).map_err(|failure| with_message(failure, &message))
        },
    );
    engine.register_fn("assert_ne", |context: NativeCallContext, actual: Dynamic, unexpected: Dynamic| {
        assert_ne(&context, actual, unexpected)
    });
    engine.register_fn(
        "assert_ne",
        |context: NativeCallContext, actual: Dynamic, unexpected: Dynamic, message: Dynamic| {
            assert_ne(&context, actual, unexpected).map_err(|failure| with_message(failure, &message))
        },
    );
}

/// The effects of a result of `run`, main path and compensations, in the order they ran.
fn ran(result: &Map, position: Position) -> Result<rhai::Array, Box<EvalAltResult>> {
    result
        .get("effects")
        .and_then(|effects| effects.read_lock::<rhai::Array>().map(|effects| effects.clone()))
        .ok_or_else(|| error("expected the result of run(...), a map with its effects", position))
}

fn kind_of(effect: &Dynamic) -> String {
    effect.read_lock::<Map>().and_then(|effect| effect.get("kind").map(text)).unwrap_or_default()
}

/// The kinds that ran, for failure messages: `now, tag, helm_upgrade`.
fn kinds_that_ran(effects: &rhai::Array) -> String {
    if effects.is_empty() {
        return "no effect ran".to_string();
    }
    format!("the effects that ran: {}", effects.iter().map(kind_of).collect::<Vec<_>>().join(", "))
}

fn first_effect(result: &Map, kind: &str, position: Position) -> Result<Dynamic, Box<EvalAltResult>> {
    let effects = ran(result, position)?;
    if let Some(effect) = effects.iter().find(|effect| kind_of(effect) == kind) {
        return Ok(effect.clone());
    }
    known_kind(kind, "look for", position)?;
    Err(error(format!("no {kind} effect ran; {}", kinds_that_ran(&effects)), position))
}

fn every_effect(result: &Map, kind: &str, position: Position) -> Result<rhai::Array, Box<EvalAltResult>> {
    known_kind(kind, "look for", position)?;
    Ok(ran(result, position)?.into_iter().filter(|effect| kind_of(effect) == kind).collect())
}

fn assert_order(result: &Map, kinds: &rhai::Array, position: Position) -> Result<(), Box<EvalAltResult>> {
    let effects = ran(result, position)?;
    let wanted: Vec<String> = kinds.iter().map(text).collect();
    for kind in &wanted {
        known_kind(kind, "look for", position)?;
    }
    let mut remaining = effects.iter().map(kind_of);
    let mut matched = 0;
    for kind in &wanted {
        if !remaining.any(|ran| &ran == kind) {
            break;
        }
        matched += 1;
    }
    if matched == wanted.len() {
        return Ok(());
    }
    Err(error(
        format!(
            "assert_order failed: expected {} in this order, but no {} ran after {}; {}",
            wanted.join(", "),
            wanted[matched],
            if matched == 0 { "the start".to_string() } else { wanted[..matched].join(", ") },
            kinds_that_ran(&effects)
        ),
        position,
    ))
}

/// Values compare as JSON (so `1 == 1`, maps by content); what cannot be JSON compares
/// by its text.
fn same(left: &Dynamic, right: &Dynamic) -> bool {
    match (value::to_json(left), value::to_json(right)) {
        (Ok(left), Ok(right)) => left == right,
        _ => left.to_string() == right.to_string(),
    }
}

fn show(value: &Dynamic) -> String {
    value::to_json(value).map(|json| json.to_string()).unwrap_or_else(|_| value.to_string())
}

fn assert_eq(context: &NativeCallContext, actual: Dynamic, expected: Dynamic) -> Result<(), Box<EvalAltResult>> {
    if same(&actual, &expected) {
        return Ok(());
    }
    Err(error(
        format!("assert_eq failed: got {}, expected {}", show(&actual), show(&expected)),
        context.call_position(),
    ))
}

fn assert_ne(context: &NativeCallContext, actual: Dynamic, unexpected: Dynamic) -> Result<(), Box<EvalAltResult>> {
    if !same(&actual, &unexpected) {
        return Ok(());
    }
    Err(error(format!("assert_ne failed: both are {}", show(&actual)), context.call_position()))
}

/// The test author's message first, then what was compared.
fn with_message(failure: Box<EvalAltResult>, message: &Dynamic) -> Box<EvalAltResult> {
    match failure.as_ref() {
        EvalAltResult::ErrorRuntime(detail, position) => error(format!("{message} ({detail})"), *position),
        _ => failure,
    }
}

fn text(value: &Dynamic) -> String {
    match value.clone().into_immutable_string() {
        Ok(text) => text.to_string(),
        Err(_) => value.to_string(),
    }
}

fn run(host: &TestHost, context: &NativeCallContext, options: &Map) -> Result<Dynamic, Box<EvalAltResult>> {
    let position = context.call_position();
    if !*host.running.borrow() {
        return Err(error("run belongs inside a test(...)", position));
    }
    for key in options.keys() {
        if !OPTIONS.contains(&key.as_str()) {
            let hint =
                did_you_mean(key, OPTIONS).map(|close| format!("; did you mean \"{close}\"?")).unwrap_or_default();
            return Err(error(format!("unknown option \"{key}\" to run{hint}"), position));
        }
    }
    let script = script_under_test(host, options.get("script").map(text))
        .map_err(|refused| error(format!("run: {refused}; {}", refused.help), position))?
        .path();
    let fixture = match options.get("journal") {
        Some(journal) => Some(recorded_run(host, &text(journal)).map_err(|message| error(message, position))?),
        None => None,
    };
    let recorded_env = fixture.as_ref().map(|fixture| fixture.header.environment.clone());
    let environment =
        options.get("env").map(text).or(recorded_env).unwrap_or_else(|| crate::config::LOCAL_ENVIRONMENT.to_string());
    let mut request = RunRequest::new(&script, &environment, Mode::Test);
    request.journal = false;
    request.source = Source::Scenario(host.mocks.borrow().clone());
    if let Some(fixture) = &fixture {
        request.mode = Mode::Replay;
        request.params = fixture.header.params.clone();
        request.source = Source::Replay(fixture.recording.clone());
    }
    if let Some(params) = options.get("params") {
        let Some(params) = params.read_lock::<Map>() else {
            return Err(error("params must be a map: params: #{ version: \"1.4.0\" }", position));
        };
        request.params = params.iter().map(|(name, value)| (name.to_string(), text(value))).collect();
    }
    let report = execute_here(request, Box::new(Silent))
        .map_err(|refused| error(format!("{} was refused before it ran: {refused}", script.display()), position))?;
    let diverged =
        fixture.as_ref().zip(report.halt.as_ref()).and_then(|(fixture, halt)| fixture::divergence(fixture, halt));
    let result = result_map(&report);
    *host.last_run.borrow_mut() = Some(report);
    match diverged {
        Some(message) => Err(error(message, position)),
        None => Ok(value::to_dynamic(&result)),
    }
}

/// The options `run` takes.
const OPTIONS: [&str; 4] = ["script", "env", "params", "journal"];

/// The recorded run `journal` names (relative to the test file, inside the scripts
/// root), for a test without mocks: the recording answers every effect.
fn recorded_run(host: &TestHost, journal: &str) -> Result<fixture::Fixture, String> {
    if !host.mocks.borrow().is_empty() {
        return Err(
            "run: a journal answers every effect from the recorded run, so this test's mocks would be ignored; \
             remove them, or run without journal"
                .to_string(),
        );
    }
    let path = confined(host, "journal", journal).map_err(|refused| format!("run: {refused}; {}", refused.help))?;
    fixture::load(&path).map_err(|message| format!("run: {message}"))
}

/// The script a test runs: `script` (relative to the test file's directory), else the
/// test file's own script (`release.test.rhai` → `release.rhai`); either way a file
/// inside the scripts root, so a test file cannot run (and so read) any other file.
fn script_under_test(host: &TestHost, script: Option<String>) -> Result<ConfinedPath, PathError> {
    let value = script.unwrap_or_else(|| {
        let file = PathBuf::from(&host.file);
        let base = file.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
        base.strip_suffix(SUFFIX).map(|stem| format!("{stem}.rhai")).unwrap_or(base)
    });
    let path = confined(host, "script", &value)?;
    if !path.is_file() {
        return Err(PathError {
            what: "script".to_string(),
            value,
            reason: "is not a regular file".to_string(),
            help: "name a .rhai script inside the scripts root, relative to the test file".to_string(),
            missing: false,
        });
    }
    Ok(path)
}

/// `value`, relative to the test file's directory: a file or directory inside the
/// scripts root. `what` names it in errors.
fn confined(host: &TestHost, what: &str, value: &str) -> Result<ConfinedPath, PathError> {
    let root =
        Project::discover(&host.directory).map(|project| project.root).unwrap_or_else(|_| host.directory.clone());
    let root = root.canonicalize().unwrap_or(root);
    let base = host.directory.strip_prefix(&root).unwrap_or(Path::new(""));
    ConfinedPath::within(&root, base, what, value)
}

/// What a test sees of a run.
fn result_map(report: &RunReport) -> Value {
    let effect = |effect: &crate::effect::EffectReport| {
        json!({
            "seq": effect.seq,
            "kind": effect.kind,
            "step": effect.step,
            "args": effect.args,
            "result": effect.result,
            "error": effect.error,
            "compensation": effect.compensation,
        })
    };
    let main: Vec<&crate::effect::EffectReport> = report.effects.iter().filter(|effect| !effect.compensation).collect();
    json!({
        "status": report.status.to_string(),
        "error": report.error.as_ref().map(|error| error.message.clone()),
        "error_location": report.error.as_ref().and_then(|error| error.location.as_ref()).map(ToString::to_string),
        "failed_step": report.failed_step,
        "effects": report.effects.iter().map(effect).collect::<Vec<_>>(),
        "kinds": main.iter().map(|effect| &effect.kind).collect::<Vec<_>>(),
        "compensations": report.effects.iter().filter(|effect| effect.compensation).map(effect).collect::<Vec<_>>(),
        // A compensation that failed before any effect (bad arguments, a script error)
        // has no effect to show; its error is here.
        "compensation_errors": report
            .compensations
            .iter()
            .filter_map(|compensation| compensation.error.as_ref().map(|error| format!("{}: {error}", compensation.origin)))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The check for unknown functions (`engine::known`, a lower layer that cannot read
    /// this module) keeps its own list of test builtins: every name registered here must
    /// be on it, or a valid test file would be refused; an extra name there hides a typo.
    #[test]
    fn the_unknown_function_check_knows_every_test_builtin() {
        let file = include_str!("builtins.rs");
        let source = &file[..file.rfind("#[cfg(test)]").expect("this module is in the file")];
        let registered: BTreeSet<&str> = source
            .split("register_fn(")
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
            .collect();
        let known: BTreeSet<&str> = crate::engine::known::TEST_BUILTINS.iter().copied().collect();
        assert!(registered.len() >= 10, "the scan found the registrations: {registered:?}");
        assert_eq!(registered, known);
        let documented: BTreeSet<&str> = super::BUILTINS.iter().map(|(name, _)| *name).collect();
        assert!(documented.is_subset(&known), "documented but not known: {:?}", documented.difference(&known));
    }
}
