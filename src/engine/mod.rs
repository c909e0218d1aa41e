//! Building the Rhai engine for a run: sandbox limits, the module resolver, builtins,
//! one script function per primitive, and located errors for the renderer. Nothing registered here
//! reaches the outside world except through the [`Gate`](crate::effect::Gate).

pub mod analysis;
pub mod budget;
mod builtins;
pub mod calls;
pub mod definitions;
mod diagnostic;
pub(crate) mod known;
mod located;
pub mod preflight;
pub mod resolver;
mod sources;
pub mod stdlib;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rhai::packages::Package;
// `NativeCallContextStore` is marked volatile (not deprecated): it is how a closure
// registered by `on_failure` can run after the script has returned.
#[allow(deprecated)]
use rhai::NativeCallContextStore;
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Module, NativeCallContext, Position, Shared};

pub use budget::{Budget, SCRIPT_STACK};
pub use builtins::BUILTINS;
pub use diagnostic::{Frame, ScriptError, ScriptErrorKind};
pub use located::{Located, Note, Snippet};
pub use resolver::STD_PREFIX;
pub use sources::{SourceMap, Sources};

use crate::base::location::Location;
use crate::config::Limits;
use crate::effect::{Gate, GateError};

rhai::def_package! {
    /// What scripts get of Rhai's library: the language core, arithmetic, logic,
    /// strings, arrays, maps, math. Not the time package: time enters only through
    /// `now()`, so a replay sees the recorded time.
    ScriptPackage(library):
        rhai::packages::CorePackage,
        rhai::packages::LogicPackage,
        rhai::packages::BasicMathPackage,
        rhai::packages::BasicArrayPackage,
        rhai::packages::BasicMapPackage,
        rhai::packages::MoreStringPackage,
        rhai::packages::BitFieldPackage
    {}
}

thread_local! {
    // Building the package costs a few hundred microseconds; build it once per thread.
    static PACKAGE: Shared<Module> = ScriptPackage::new().as_shared_module();
}

/// A sandboxed engine with no host functions: limits set explicitly (debug and release
/// builds agree), `eval` disabled, the clock and `sleep` out of reach.
pub fn sandbox(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    PACKAGE.with(|package| engine.register_global_module(package.clone()));
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(limits.max_modules)
        .set_optimization_level(rhai::OptimizationLevel::Simple)
        .set_fail_on_invalid_map_property(true);
    engine.disable_symbol("eval");
    builtins::refuse_clock(&mut engine);
    // Engines without a run's budget (test files) still stop before the stack runs out;
    // `build` replaces this with the budget, which checks the stack too.
    engine.on_progress(|operations| {
        if operations % 16 == 0 && budget::stack_exhausted() {
            return Some(Dynamic::from(budget::stack_message()));
        }
        None
    });
    engine
}

/// A compensation registered with `on_failure`: the closure, and the call context it
/// needs to run after the script has returned.
#[allow(deprecated)]
pub struct Compensation {
    pub function: FnPtr,
    pub context: NativeCallContextStore,
    pub origin: Location,
}

/// What the registered functions of one run share.
pub struct ScriptHost {
    pub gate: Gate,
    /// The main script's source name.
    pub main: String,
    pub params: BTreeMap<String, String>,
    /// Params the scripts read, as far as analysis could tell, for error messages.
    pub known_params: Vec<String>,
    pub environment: rhai::Map,
    pub limits: Limits,
    pub sources: SourceMap,
    /// Operations, stack, captured values: counted across modules, callbacks and
    /// compensations.
    pub budget: Rc<Budget>,
    compensations: RefCell<Vec<Compensation>>,
    /// The last snapshot of each value captured by `on_failure`, by call site and
    /// position among the captures: an unchanged value is shared, not copied again.
    captures: RefCell<std::collections::HashMap<(String, usize), Dynamic>>,
    /// The help of each catchable error raised so far; the error's value (the message
    /// a script's `catch` sees) carries its index + 1 as its Rhai tag.
    helps: RefCell<Vec<String>>,
    /// Where the first fatal gate error was raised: Rhai moves a termination's position
    /// out to each enclosing call (`step(`), the error belongs at the primitive's call.
    fatal_origin: RefCell<Option<Location>>,
}

impl ScriptHost {
    pub fn new(
        gate: Gate,
        main: String,
        params: BTreeMap<String, String>,
        known_params: Vec<String>,
        environment: rhai::Map,
        limits: Limits,
        sources: SourceMap,
    ) -> Self {
        ScriptHost {
            gate,
            main,
            params,
            known_params,
            environment,
            budget: Rc::new(Budget::new(limits.clone())),
            limits,
            sources,
            compensations: RefCell::default(),
            captures: RefCell::default(),
            helps: RefCell::default(),
            fatal_origin: RefCell::default(),
        }
    }

    /// Where a native call came from.
    pub fn origin(&self, context: &NativeCallContext) -> Location {
        locate(context.call_source().unwrap_or(&self.main), context.call_position())
    }

    /// Turn a gate error into a script error at `position`. A fatal one cannot be
    /// caught: it ends the script carrying the typed [`GateError`] (kind, message,
    /// help) for [`ScriptError::from_eval`]. A catchable one is the message as a string,
    /// since that is what `catch (e)` gives the script; its help is kept here and the
    /// string tagged to find it ([`ScriptHost::help_for`]).
    pub fn raise(&self, error: GateError, position: Position) -> Box<EvalAltResult> {
        if error.is_fatal() {
            let error = self.gate.fatal(error);
            return Box::new(EvalAltResult::ErrorTerminated(Dynamic::from(error), position));
        }
        let mut value = Dynamic::from(error.message);
        if let Some(help) = error.help {
            let mut helps = self.helps.borrow_mut();
            helps.push(help);
            // Past `i32::MAX` raised errors the later ones go without help (Rhai tags are i32).
            if let Ok(tag) = i32::try_from(helps.len()) {
                value.set_tag(tag);
            }
        }
        Box::new(EvalAltResult::ErrorRuntime(value, position))
    }

    /// Where the first fatal gate error was raised, if one was.
    pub fn fatal_origin(&self) -> Option<Location> {
        self.fatal_origin.borrow().clone()
    }

    /// The help recorded for the innermost error of `error`, when [`ScriptHost::raise`]
    /// raised it. The tag is only an index: a script that sets another on a value it
    /// throws gets at most the help of another error of the same run.
    pub fn help_for(&self, error: &EvalAltResult) -> Option<String> {
        let mut current = error;
        loop {
            match current {
                EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
                    current = inner;
                }
                EvalAltResult::ErrorRuntime(value, _) => {
                    let index = usize::try_from(value.tag()).ok()?.checked_sub(1)?;
                    return self.helps.borrow().get(index).cloned();
                }
                _ => return None,
            }
        }
    }

    /// Why the run's deadline (or, while compensating, the compensations' deadline) stopped it.
    pub fn deadline_message(&self) -> String {
        if self.gate.is_compensating() {
            return format!(
                "the compensations' deadline passed ({} after they started); raise [limits] compensation_deadline \
                 if they really need longer",
                humantime::format_duration(self.limits.compensation_deadline)
            );
        }
        format!("the run's deadline passed ({} after the start)", humantime::format_duration(self.limits.deadline))
    }

    /// The error that ends the run for a limit the budget saw passed, if one was.
    pub fn limit_error(&self) -> Option<Box<EvalAltResult>> {
        self.budget.tripped().map(|reason| Box::new(EvalAltResult::ErrorTerminated(reason.into(), Position::NONE)))
    }

    /// Take the registered compensations, oldest first.
    pub fn take_compensations(&self) -> Vec<Compensation> {
        std::mem::take(&mut *self.compensations.borrow_mut())
    }
}

fn locate(file: &str, position: Position) -> Location {
    Location { file: file.to_string(), line: position.line().unwrap_or(0), column: position.position().unwrap_or(0) }
}

/// The engine of a run: the sandbox, the resolver, builtins and primitives bound to
/// `host`, `print`/`debug` to the run's log, and the deadline.
pub fn build(host: &Rc<ScriptHost>, resolver: resolver::ScriptResolver) -> Engine {
    let mut engine = sandbox(&host.limits);
    engine.set_module_resolver(resolver);

    let printer = Rc::clone(host);
    engine.on_print(move |text| {
        let _ = printer.gate.log(crate::effect::Level::Info, text, None);
    });
    let debugger = Rc::clone(host);
    engine.on_debug(move |text, source, position| {
        let origin = locate(source.unwrap_or(&debugger.main), position);
        let _ = debugger.gate.log(crate::effect::Level::Debug, text, Some(origin));
    });
    let clock = Rc::clone(host);
    // Rhai's own operation count starts again in every module and compensation; the
    // budget's does not, and it also watches the clock and the stack.
    engine.on_progress(move |_| {
        let deadline = clock.gate.context().deadline();
        clock.budget.operation(deadline, || clock.deadline_message()).map(Dynamic::from)
    });

    builtins::register(&mut engine, host);
    for primitive in host.gate.registry().iter() {
        let name = primitive.name();
        let with_args = Rc::clone(host);
        engine.register_fn(name, move |context: NativeCallContext, args: rhai::Map| {
            call(&with_args, name, &context, &args)
        });
        let without_args = Rc::clone(host);
        engine.register_fn(name, move |context: NativeCallContext| {
            call(&without_args, name, &context, &rhai::Map::new())
        });
    }
    engine
}

fn call(
    host: &ScriptHost,
    name: &str,
    context: &NativeCallContext,
    args: &rhai::Map,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let origin = host.origin(context);
    match host.gate.perform(name, args, origin.clone()) {
        Ok(result) => Ok(crate::effect::value::to_dynamic(&result)),
        Err(error) => {
            if error.is_fatal() {
                host.fatal_origin.borrow_mut().get_or_insert(origin);
            }
            Err(host.raise(error, context.call_position()))
        }
    }
}
