//! The builtins every script has besides the primitives: `param`, `environment`,
//! `log`/`info`/`warn`, `fail`, `step`, `on_failure`. (`now` is a primitive: time is
//! an effect, recorded and replayed.)

use std::rc::Rc;

use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, FnPtr, INT, ImmutableString, NativeCallContext};

use crate::base::suggest::did_you_mean;
use crate::effect::Level;

use super::{Compensation, ScriptHost};

/// Name and documentation of each builtin, for `shipctl docs`.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "param",
        "param(name) -> string\nparam(name, default) -> value\n\n\
         A value given on the command line with `--set name=value`. Without a default, a\n\
         missing param stops the run before any effect, naming the params the script reads.\n\
         With a default, the given text is converted to the default's type (integer, float,\n\
         bool), so `param(\"replicas\", 2)` returns an integer.",
    ),
    (
        "environment",
        "environment() -> map\n\n\
         The `[environments.<name>]` table of shipctl.toml for the environment given with\n\
         `--env`, plus `name`. `--env local` works without any config.\n\n\
         let env = environment();\n\
         http_check(#{ url: `${env.url}/health` });",
    ),
    (
        "step",
        "step(name, || { ... }) -> value of the closure\n\n\
         Names a stage of the procedure (\"Backup\", \"Deploy to staging\"). The plan, the live\n\
         output and the journal group effects by step, and a failure says which step failed.\n\
         Steps nest.",
    ),
    (
        "on_failure",
        "on_failure(|| { ... })\n\n\
         Registers a compensation. If the script fails later, compensations run in reverse\n\
         order of registration, each effect journaled; a failing compensation is reported and\n\
         the others still run. `shipctl plan` lists what they would do. The closure sees\n\
         captured variables as they were when on_failure was called (an unchanged value is\n\
         shared between compensations, not copied; what they capture together is limited by\n\
         [limits] max_captured_bytes). They get compensation_deadline and max_operations of\n\
         their own; one not started by then is reported as not run.\n\n\
         let up = helm_upgrade(#{ ... });\n\
         on_failure(|| helm_rollback(#{ release: \"cdc\", revision: up.previous_revision }));",
    ),
    (
        "is_semver",
        "is_semver(text) -> bool\n\n\
         Whether `text` is a semantic version as semver.org 2.0 defines it: `1.4.0`,\n\
         `1.4.0-rc.1`, `1.4.0+build.5` (not `v1.4.0`, `01.4.0` or `1.4.0-01`). The same rule\n\
         `tag` applies to repositories declared with `semver = true`.",
    ),
    ("fail", "fail(message)\n\nStops the script with an error: compensations run, the run is marked failed."),
    (
        "log",
        "log(message), info(message), warn(message)\n\nA line in the run's output and journal. `print` and `debug` work too.",
    ),
];

pub(super) fn register(engine: &mut Engine, host: &Rc<ScriptHost>) {
    let params = Rc::clone(host);
    engine.register_fn("param", move |context: NativeCallContext, name: ImmutableString| {
        required_param(&params, &context, &name)
    });
    let params = Rc::clone(host);
    engine.register_fn("param", move |context: NativeCallContext, name: ImmutableString, default: Dynamic| {
        param_with_default(&params, &context, &name, default)
    });

    let environment = Rc::clone(host);
    engine.register_fn("environment", move || Dynamic::from_map(environment.environment.clone()));

    for (name, level) in [("log", Level::Info), ("info", Level::Info), ("warn", Level::Warn)] {
        let logger = Rc::clone(host);
        engine.register_fn(
            name,
            move |context: NativeCallContext, message: Dynamic| -> Result<(), Box<EvalAltResult>> {
                let origin = logger.origin(&context);
                logger
                    .gate
                    .log(level, &message.to_string(), Some(origin))
                    .map_err(|error| logger.raise(error, context.call_position()))
            },
        );
    }

    engine.register_fn("is_semver", |text: ImmutableString| {
        crate::base::names::SemanticVersion::new(text.as_str()).is_ok()
    });
    engine.register_fn("fail", |context: NativeCallContext, message: Dynamic| -> Result<(), Box<EvalAltResult>> {
        Err(Box::new(EvalAltResult::ErrorRuntime(message.to_string().into(), context.call_position())))
    });

    let steps = Rc::clone(host);
    engine.register_fn(
        "step",
        move |context: NativeCallContext, name: ImmutableString, body: FnPtr| -> Result<Dynamic, Box<EvalAltResult>> {
            steps.gate.enter_step(&name).map_err(|error| steps.raise(error, context.call_position()))?;
            let result = body.call_within_context::<Dynamic>(&context, ());
            steps.gate.leave_step(result.is_ok()).map_err(|error| steps.raise(error, context.call_position()))?;
            result
        },
    );

    let compensations = Rc::clone(host);
    engine.register_fn(
        "on_failure",
        move |context: NativeCallContext, mut function: FnPtr| -> Result<(), Box<EvalAltResult>> {
            let origin = compensations.origin(&context);
            snapshot_captures(&compensations, &origin.to_string(), &mut function)
                .map_err(|reason| Box::new(EvalAltResult::ErrorTerminated(reason.into(), context.call_position())))?;
            // The stored context carries the functions and imports the closure needs to run
            // after the script has returned (store_data is volatile API, not deprecated).
            #[allow(deprecated)]
            let stored = context.store_data();
            compensations.compensations.borrow_mut().push(Compensation { function, context: stored, origin });
            Ok(())
        },
    );
}

/// A compensation undoes what was done when it was registered: it sees captured
/// variables as they were then, not as a loop or a later assignment left them. The
/// snapshot of a value equal to the last one taken at the same call site is shared
/// rather than copied again (a loop registering 20,000 compensations that capture the
/// same large list holds one copy), and new snapshots count against the run's
/// `max_captured_bytes`.
fn snapshot_captures(host: &ScriptHost, site: &str, function: &mut FnPtr) -> Result<(), String> {
    let mut captures = host.captures.borrow_mut();
    for (index, captured) in function.iter_curry_mut().enumerate() {
        let key = (site.to_string(), index);
        if let Some(previous) = captures.get(&key)
            && same(captured, previous)
        {
            *captured = previous.clone();
            continue;
        }
        let snapshot = captured.flatten_clone();
        host.budget.capture(size_of(&snapshot))?;
        let shared = snapshot.into_shared();
        captures.insert(key, shared.clone());
        *captured = shared;
    }
    Ok(())
}

/// Equal script values, read through shared cells; values of other types never are.
fn same(a: &Dynamic, b: &Dynamic) -> bool {
    // A value nested deeper than the stack allows is copied, not compared.
    if super::budget::stack_exhausted() {
        return false;
    }
    if a.is_unit() || b.is_unit() {
        return a.is_unit() && b.is_unit();
    }
    if let (Ok(a), Ok(b)) = (a.as_int(), b.as_int()) {
        return a == b;
    }
    if let (Ok(a), Ok(b)) = (a.as_bool(), b.as_bool()) {
        return a == b;
    }
    if let (Ok(a), Ok(b)) = (a.as_float(), b.as_float()) {
        return a.to_bits() == b.to_bits();
    }
    if let (Ok(a), Ok(b)) = (a.as_char(), b.as_char()) {
        return a == b;
    }
    if let (Ok(a), Ok(b)) = (a.as_immutable_string_ref(), b.as_immutable_string_ref()) {
        return *a == *b;
    }
    if let (Ok(a), Ok(b)) = (a.as_blob_ref(), b.as_blob_ref()) {
        return *a == *b;
    }
    if let (Ok(a), Ok(b)) = (a.as_array_ref(), b.as_array_ref()) {
        return a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same(a, b));
    }
    if let (Ok(a), Ok(b)) = (a.as_map_ref(), b.as_map_ref()) {
        return a.len() == b.len() && a.iter().zip(b.iter()).all(|((ka, a), (kb, b))| ka == kb && same(a, b));
    }
    false
}

/// About how many bytes a snapshot holds: 16 per value, plus text and blob bytes.
fn size_of(value: &Dynamic) -> u64 {
    const VALUE: u64 = 16;
    if super::budget::stack_exhausted() {
        return u64::MAX;
    }
    if let Ok(text) = value.as_immutable_string_ref() {
        return VALUE + text.len() as u64;
    }
    if let Ok(blob) = value.as_blob_ref() {
        return VALUE + blob.len() as u64;
    }
    if let Ok(array) = value.as_array_ref() {
        return array.iter().fold(VALUE, |total, item| total.saturating_add(size_of(item)));
    }
    if let Ok(map) = value.as_map_ref() {
        return map
            .iter()
            .fold(VALUE, |total, (key, item)| total.saturating_add(key.len() as u64).saturating_add(size_of(item)));
    }
    VALUE
}

/// Time enters scripts only through `now()`, and waiting only through primitives.
pub(super) fn refuse_clock(engine: &mut Engine) {
    fn refused(context: &NativeCallContext) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(
            "sleep is not available in shipctl scripts: waits belong to primitives (http_check retries, wait_healthy)"
                .into(),
            context.call_position(),
        ))
    }
    engine.register_fn("sleep", |context: NativeCallContext, _seconds: INT| -> Result<(), Box<EvalAltResult>> {
        Err(refused(&context))
    });
    engine.register_fn("sleep", |context: NativeCallContext, _seconds: FLOAT| -> Result<(), Box<EvalAltResult>> {
        Err(refused(&context))
    });
}

fn required_param(host: &ScriptHost, context: &NativeCallContext, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    match host.params.get(name) {
        Some(value) => Ok(Dynamic::from(value.clone())),
        None => Err(Box::new(EvalAltResult::ErrorRuntime(
            missing_param_message(host, name).into(),
            context.call_position(),
        ))),
    }
}

/// "missing param "version": pass it with --set version=<value> (this script reads: ...)".
pub fn missing_param_message(host: &ScriptHost, name: &str) -> String {
    missing_param(name, &host.known_params, host.params.keys().map(String::as_str))
}

/// The message for a missing param, naming the params a script reads and a likely typo
/// among those given.
pub fn missing_param<'a>(name: &str, known: &[String], given: impl Iterator<Item = &'a str>) -> String {
    let mut message = format!("missing param \"{name}\": pass it with --set {name}=<value>");
    if !known.is_empty() {
        message.push_str(&format!("; this script reads: {}", known.join(", ")));
    }
    let given: Vec<&str> = given.collect();
    if let Some(close) = did_you_mean(name, given.iter().copied()) {
        message.push_str(&format!("; --set {close} was given, did you mean {name}?"));
    }
    message
}

fn param_with_default(
    host: &ScriptHost,
    context: &NativeCallContext,
    name: &str,
    default: Dynamic,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(text) = host.params.get(name) else {
        return Ok(default);
    };
    let wrong = |expected: &str| {
        Box::new(EvalAltResult::ErrorRuntime(
            format!("param \"{name}\" must be {expected} (its default is), but --set {name}={text} is not").into(),
            context.call_position(),
        ))
    };
    if default.is_int() {
        return text.trim().parse::<INT>().map(Dynamic::from_int).map_err(|_| wrong("an integer"));
    }
    if default.is_float() {
        return text.trim().parse::<FLOAT>().map(Dynamic::from_float).map_err(|_| wrong("a number"));
    }
    if default.is_bool() {
        return match text.trim() {
            "true" | "yes" | "1" => Ok(Dynamic::TRUE),
            "false" | "no" | "0" => Ok(Dynamic::FALSE),
            _ => Err(wrong("true or false")),
        };
    }
    Ok(Dynamic::from(text.clone()))
}
