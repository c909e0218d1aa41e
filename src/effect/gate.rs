//! The choke point. Every primitive call from every script passes [`Gate::perform`].

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::base::location::Location;
use crate::base::time::rfc3339;
use crate::effect::{Event, Level};
use crate::journal::{Intent, JournalWriter, LogRecord, Outcome, Record, StepEvent, StepRecord};

use super::executor::{Executed, Halt};
use super::primitive::{ArgumentError, ArgumentProblem, ErasedPrimitive};
use super::report::EffectReport;
use super::{Effect, EffectContext, EffectError, Executor, Registry, Request, policy, value};

/// Why the gate did not return a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateErrorKind {
    /// The arguments do not fit the primitive (unknown key, missing key, wrong type,
    /// unknown channel or repo). Nothing ran.
    Arguments,
    /// Policy refused the effect. Nothing ran; the run ends.
    Policy,
    /// The effect ran and failed.
    Effect,
    /// The journal could not be written; the effect did not run and the run ends.
    Journal,
    /// The executor stopped the run before the effect (a replay diverged, an
    /// unfinished effect needs the operator). Nothing ran.
    Halted,
    /// The run received SIGINT or SIGTERM: no new effect starts; the run ends.
    Interrupted,
}

/// An error from the gate, with what the operator can do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct GateError {
    pub kind: GateErrorKind,
    pub message: String,
    pub help: Option<String>,
}

impl miette::Diagnostic for GateError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::gate"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

impl GateError {
    /// Errors that end the run: a script cannot catch them. Arguments that do not fit
    /// are a mistake in the script or its config, not a failure to handle: a `try`
    /// must not swallow a typo.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            GateErrorKind::Arguments
                | GateErrorKind::Policy
                | GateErrorKind::Journal
                | GateErrorKind::Halted
                | GateErrorKind::Interrupted
        )
    }
}

/// The choke point of one run: owns the executor, the journal and the record of every
/// effect.
pub struct Gate {
    context: EffectContext,
    registry: Registry,
    executor: RefCell<Box<dyn Executor>>,
    journal: RefCell<Option<JournalWriter>>,
    state: RefCell<GateState>,
}

/// What the gate learns as the run goes. One cell: no borrow of it is held across a
/// call out of the gate.
#[derive(Default)]
struct GateState {
    seq: u64,
    steps: Vec<(String, Instant)>,
    compensating: bool,
    /// Bytes of log output written so far, and bytes dropped past `max_log_bytes`.
    log_bytes: u64,
    log_dropped: u64,
    effects: Vec<EffectReport>,
    fatal: Option<GateError>,
    halt: Option<Halt>,
    failed_step: Option<String>,
}

impl Gate {
    pub fn new(
        context: EffectContext,
        registry: Registry,
        executor: Box<dyn Executor>,
        journal: Option<JournalWriter>,
    ) -> Self {
        Gate {
            context,
            registry,
            executor: RefCell::new(executor),
            journal: RefCell::new(journal),
            state: RefCell::new(GateState::default()),
        }
    }

    pub fn context(&self) -> &EffectContext {
        &self.context
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The primitive `name` with `args`, called from `origin`: validate, check policy,
    /// journal the intent, execute, journal the outcome, return the result. Every
    /// error leaves redacted: a script can read it inside `try` and send it out.
    pub fn perform(&self, name: &str, args: &rhai::Map, origin: Location) -> Result<Value, GateError> {
        self.perform_unredacted(name, args, origin).map_err(|error| self.redact_error(error))
    }

    /// `error` with secrets scrubbed from its message and help.
    fn redact_error(&self, mut error: GateError) -> GateError {
        let redactor = self.context.redactor();
        error.message = redactor.redact_str(&error.message);
        error.help = error.help.map(|help| redactor.redact_str(&help));
        error
    }

    fn perform_unredacted(&self, name: &str, args: &rhai::Map, origin: Location) -> Result<Value, GateError> {
        if self.context.cancelled() {
            return Err(self.fatal(GateError {
                kind: GateErrorKind::Interrupted,
                message: format!("interrupted: {name} not started, the run received a signal to stop"),
                help: None,
            }));
        }
        let primitive = self.registry.get(name).ok_or_else(|| GateError {
            kind: GateErrorKind::Arguments,
            message: format!("no primitive called {name}"),
            help: None,
        })?;
        let primitive = primitive.as_ref();
        let (args, params) = self.validate_arguments(primitive, args, &origin)?;
        self.check_policy(primitive, &args, &origin)?;
        self.check_approval(primitive, &args, &origin)?;
        let effect = self.journal_intent(primitive.name(), args.clone(), origin)?;
        let started = Instant::now();
        let outcome = self.execute(&effect, primitive, &args, params.as_ref());
        self.journal_outcome(effect, outcome, started)
    }

    /// Stage 1: the arguments as JSON and as the primitive's parsed parameters, or an
    /// arguments error (a refusal from the primitive's own validation is journaled).
    fn validate_arguments(
        &self,
        primitive: &dyn ErasedPrimitive,
        args: &rhai::Map,
        origin: &Location,
    ) -> Result<(Value, Box<dyn std::any::Any>), GateError> {
        let kind = primitive.name();
        let arguments_error =
            |message: String, help: Option<String>| GateError { kind: GateErrorKind::Arguments, message, help };
        let args = value::map_to_json(args)
            .map_err(|message| arguments_error(format!("argument to {kind}: {message}"), None))?;
        if let Some(fields) = primitive.fields()
            && let Some(unknown) = args.keys().find(|key| !fields.contains(&key.as_str()))
        {
            let (message, help) = super::unknown_argument(kind, unknown, fields);
            return Err(arguments_error(message, Some(help)));
        }
        let args = Value::Object(args);
        let params = primitive.parse(&args).map_err(|error| {
            arguments_error(argument_message(kind, &error), Some(format!("see `shipctl docs {kind}`")))
        })?;
        primitive.validate(params.as_ref(), &self.context).map_err(|error| match error.refused {
            true => self.refuse(
                kind,
                &args,
                origin,
                GateError { kind: GateErrorKind::Policy, message: error.message, help: error.help },
            ),
            false => arguments_error(error.message, error.help),
        })?;
        Ok((args, params))
    }

    /// Stage 2: the environment's allow/deny lists; a refusal is journaled and fatal.
    fn check_policy(&self, primitive: &dyn ErasedPrimitive, args: &Value, origin: &Location) -> Result<(), GateError> {
        let kind = primitive.name();
        policy::check(kind, primitive.class(), &self.context.environment_name, &self.context.environment).map_err(
            |message| {
                let help = Some("change the environment's allow/deny lists in shipctl.toml, or run elsewhere".into());
                self.refuse(kind, args, origin, GateError { kind: GateErrorKind::Policy, message, help })
            },
        )
    }

    /// `require_approval`: a live write before any `approve` of this run succeeded is
    /// refused (journaled, fatal). An approve that failed (inside `try`) does not count.
    /// Whether an effect writes is decided in `writes` alone: reads and notifications
    /// may come first.
    fn check_approval(
        &self,
        primitive: &dyn ErasedPrimitive,
        args: &Value,
        origin: &Location,
    ) -> Result<(), GateError> {
        let writes = primitive.class() == super::EffectClass::Write;
        if !self.context.environment.require_approval || self.context.mode != super::Mode::Run || !writes {
            return Ok(());
        }
        let approved = self.state.borrow().effects.iter().any(|report| {
            report.effect.kind == "approve" && report.result.as_ref().is_some_and(|result| result["approved"] == true)
        });
        if approved {
            return Ok(());
        }
        let (kind, environment) = (primitive.name(), &self.context.environment_name);
        let message =
            format!("{kind} would write before an approval: environment \"{environment}\" has require_approval = true");
        let help = Some(format!(
            "call approve(…) before the first write: require_approval in [environments.{environment}] asks for it"
        ));
        Err(self.refuse(kind, args, origin, GateError { kind: GateErrorKind::Policy, message, help }))
    }

    /// Stage 3: number the effect, let the executor admit it, and journal the intent
    /// with its arguments redacted.
    fn journal_intent(&self, kind: &'static str, args: Value, origin: Location) -> Result<Started, GateError> {
        let mut redacted_args = args;
        self.context.redactor().redact_value(&mut redacted_args);
        let seq = self.state.borrow().seq + 1;
        self.state.borrow_mut().seq = seq;
        let effect = Effect {
            seq,
            kind: kind.into(),
            args: redacted_args,
            step: self.current_step(),
            origin,
            compensation: self.is_compensating(),
            class: self.registry.get(kind).map(|primitive| primitive.class()),
        };
        if let Err(halt) = self.executor.borrow_mut().admit(&effect) {
            return Err(self.halted(halt));
        }
        let started_at = SystemTime::now();
        self.append(|| Record::Intent(Intent { effect: effect.clone(), at: rfc3339(started_at) }))?;
        self.context.report(&Event::EffectStarted { effect: &effect });
        self.context.set_current_seq(seq);
        Ok(Started { effect, at: started_at })
    }

    /// Stage 4: run the effect within the deadline; a panic becomes an error. The
    /// result or error comes back redacted.
    fn execute(
        &self,
        started: &Started,
        primitive: &dyn ErasedPrimitive,
        args: &Value,
        params: &dyn std::any::Any,
    ) -> Executed {
        let effect = &started.effect;
        let kind = &effect.kind;
        let request = Request { effect, args, primitive, params, context: &self.context };
        let Executed { outcome, replayed_from } =
            match catch_unwind(AssertUnwindSafe(|| self.execute_in_time(&request))) {
                Ok(executed) => executed,
                Err(panic) => Executed::now(Err(EffectError::new(format!(
                    "internal error: {kind} panicked: {}",
                    panic_message(&panic)
                ))
                .with_help("this is a bug in shipctl; the journal has the arguments that caused it"))),
            };
        self.context.set_current_seq(0);
        let redactor = self.context.redactor();
        let outcome = match outcome {
            Ok(mut result) => {
                redactor.redact_value(&mut result);
                Ok(result)
            }
            Err(mut error) => {
                error.message = redactor.redact_str(&error.message);
                error.help = error.help.map(|help| redactor.redact_str(&help));
                Err(error)
            }
        };
        Executed { outcome, replayed_from }
    }

    /// Stages 5 and 6: journal the (redacted) outcome, report it, keep it for the
    /// summary, and return the result or the error the script sees.
    fn journal_outcome(&self, started: Started, executed: Executed, clock: Instant) -> Result<Value, GateError> {
        let duration = clock.elapsed();
        let Started { effect, at: started_at } = started;
        let Executed { outcome, replayed_from } = executed;
        let (seq, kind) = (effect.seq, effect.kind.clone());
        let journaled = self.append(|| {
            Record::Outcome(Outcome {
                seq,
                kind: kind.to_string(),
                ok: outcome.is_ok(),
                result: outcome.as_ref().ok().cloned(),
                error: outcome.as_ref().err().map(|error| error.message.clone()),
                started_at: rfc3339(started_at),
                ended_at: rfc3339(SystemTime::now()),
                duration_ms: duration.as_millis() as u64,
                replayed_from: replayed_from.clone(),
            })
        });
        self.context.report(&Event::EffectFinished {
            effect: &effect,
            result: outcome.as_ref(),
            duration,
            replayed_from: replayed_from.as_deref(),
        });
        let (result, error) = match &outcome {
            Ok(result) => (Some(result.clone()), None),
            Err(error) => (None, Some(error.message.clone())),
        };
        self.state.borrow_mut().effects.push(EffectReport { effect, result, error, replayed_from, duration });
        journaled?;
        outcome.map_err(|error| match error.refused {
            true => self.fatal(GateError { kind: GateErrorKind::Policy, message: error.message, help: error.help }),
            false => GateError {
                kind: GateErrorKind::Effect,
                message: format!("{kind} failed: {}", error.message),
                help: error.help,
            },
        })
    }

    /// Append a record to the journal, if this run keeps one. The record is built only
    /// when it will be written, and redacted here whatever it holds (the footer's
    /// error, a header's inputs, a step's name): the journal's one way in.
    pub fn append(&self, record: impl FnOnce() -> Record) -> Result<(), GateError> {
        let mut journal = self.journal.borrow_mut();
        let Some(writer) = journal.as_mut() else {
            return Ok(());
        };
        let record = self.redact_record(record())?;
        writer.append(&record).map_err(|error| {
            self.fatal(GateError {
                kind: GateErrorKind::Journal,
                message: error.to_string(),
                help: Some("free space or fix permissions on the journal directory, then resume or rerun".into()),
            })
        })
    }

    /// `record` as the JSON written to the journal, every string in it redacted.
    fn redact_record(&self, record: Record) -> Result<Value, GateError> {
        let mut value = serde_json::to_value(&record).map_err(|error| {
            self.fatal(GateError {
                kind: GateErrorKind::Journal,
                message: format!("cannot redact a journal record: {error}"),
                help: Some("this is a bug in shipctl; the record was not written".into()),
            })
        })?;
        self.context.redactor().redact_value(&mut value);
        Ok(value)
    }

    /// The journal's path, if this run keeps one.
    pub fn journal_path(&self) -> Option<std::path::PathBuf> {
        self.journal.borrow().as_ref().map(|writer| writer.path().to_path_buf())
    }

    /// A step begins.
    pub fn enter_step(&self, name: &str) -> Result<(), GateError> {
        let depth = self.state.borrow().steps.len();
        self.state.borrow_mut().steps.push((name.to_string(), Instant::now()));
        self.context.report(&Event::StepStarted { name, depth });
        self.append(|| {
            Record::Step(StepRecord {
                event: StepEvent::Start,
                name: name.to_string(),
                at: crate::base::time::now_rfc3339(),
                ok: None,
                duration_ms: None,
            })
        })
    }

    /// The innermost step ends; a failing step is remembered as the run's failed step
    /// (the innermost one wins).
    pub fn leave_step(&self, ok: bool) -> Result<(), GateError> {
        let Some((name, started)) = self.state.borrow_mut().steps.pop() else {
            return Ok(());
        };
        let depth = self.state.borrow().steps.len();
        let duration = started.elapsed();
        if !ok && self.state.borrow().failed_step.is_none() {
            self.state.borrow_mut().failed_step = Some(name.clone());
        }
        self.context.report(&Event::StepFinished { name: &name, depth, ok, duration });
        self.append(|| {
            Record::Step(StepRecord {
                event: StepEvent::End,
                name: name.clone(),
                at: crate::base::time::now_rfc3339(),
                ok: Some(ok),
                duration_ms: Some(duration.as_millis() as u64),
            })
        })
    }

    /// The innermost step now running.
    pub fn current_step(&self) -> Option<String> {
        self.state.borrow().steps.last().map(|(name, _)| name.clone())
    }

    /// The step a failure happened in, if it happened inside one.
    pub fn failed_step(&self) -> Option<String> {
        self.state.borrow().failed_step.clone()
    }

    /// Effects from now on are run by compensations.
    pub fn set_compensating(&self, compensating: bool) {
        let mut state = self.state.borrow_mut();
        state.compensating = compensating;
        state.steps.clear();
    }

    /// Are compensations running?
    pub fn is_compensating(&self) -> bool {
        self.state.borrow().compensating
    }

    /// A log line from the script (`print`, `log`, `warn`, ...). Past the run's
    /// `max_log_bytes` lines are dropped (counted for [`Gate::finish_log`]).
    pub fn log(&self, level: Level, message: &str, origin: Option<Location>) -> Result<(), GateError> {
        let message = self.context.redactor().redact_str(message);
        let size = message.len() as u64;
        let written = self.state.borrow().log_bytes.saturating_add(size);
        if written > self.context.project.config.limits.max_log_bytes {
            let mut state = self.state.borrow_mut();
            state.log_dropped = state.log_dropped.saturating_add(size);
            return Ok(());
        }
        self.state.borrow_mut().log_bytes = written;
        self.write_log(level, message, origin)
    }

    /// After the script: if log lines were dropped, one line (in the output and the
    /// journal) says how many bytes.
    pub fn finish_log(&self) -> Result<(), GateError> {
        let dropped = std::mem::take(&mut self.state.borrow_mut().log_dropped);
        if dropped == 0 {
            return Ok(());
        }
        let limit = self.context.project.config.limits.max_log_bytes;
        let message = format!(
            "{dropped} bytes of log output were dropped: the run's log reached [limits] max_log_bytes = {limit}"
        );
        self.write_log(Level::Warn, message, None)
    }

    fn write_log(&self, level: Level, message: String, origin: Option<Location>) -> Result<(), GateError> {
        self.context.report(&Event::Log { level, message: &message, origin: origin.as_ref() });
        self.append(|| {
            Record::Log(LogRecord {
                level: level.as_str().to_string(),
                message: message.clone(),
                origin,
                at: crate::base::time::now_rfc3339(),
            })
        })
    }

    /// Policy refused an effect before it ran: remember the error (it ends the run)
    /// and list the effect as refused, so a plan shows it, compensations included.
    fn refuse(&self, kind: &'static str, args: &Value, origin: &Location, error: GateError) -> GateError {
        let mut args = args.clone();
        self.context.redactor().redact_value(&mut args);
        let (step, compensation) = (self.current_step(), self.is_compensating());
        let class = self.registry.get(kind).map(|primitive| primitive.class());
        self.state.borrow_mut().effects.push(EffectReport {
            // Not numbered: it never became an effect of the run or the journal.
            effect: Effect { seq: 0, kind: kind.into(), step, args, origin: origin.clone(), compensation, class },
            result: None,
            error: Some(self.context.redactor().redact_str(&format!("refused by policy: {}", error.message))),
            replayed_from: None,
            duration: Duration::ZERO,
        });
        self.fatal(error)
    }

    /// Remember an error that ends the run (redacted), and return it.
    pub fn fatal(&self, error: GateError) -> GateError {
        let error = self.redact_error(error);
        let mut state = self.state.borrow_mut();
        if state.fatal.is_none() {
            state.fatal = Some(error.clone());
        }
        error
    }

    /// Hand the effect to the executor, unless the deadline (or, while compensating, the
    /// compensation deadline) has passed: no native call starts after it. Primitives
    /// that run long bound their own calls by the same deadline.
    fn execute_in_time(&self, request: &Request<'_>) -> Executed {
        if let Err(error) = self.context.check_deadline() {
            return Executed::now(Err(error));
        }
        self.executor.borrow_mut().execute(request)
    }

    /// Remember why the executor halted the run, and return the error that ends it.
    fn halted(&self, halt: Halt) -> GateError {
        let error = GateError { kind: GateErrorKind::Halted, message: halt.message.clone(), help: halt.help.clone() };
        let mut state = self.state.borrow_mut();
        if state.halt.is_none() {
            state.halt = Some(halt);
        }
        drop(state);
        self.fatal(error)
    }

    /// Ask the executor, once the script is done, whether it expected more.
    pub fn finish_executor(&self) -> Option<Halt> {
        let halt = self.executor.borrow_mut().finish()?;
        self.halted(halt.clone());
        Some(halt)
    }

    /// Why the executor halted the run, if it did.
    pub fn halt(&self) -> Option<Halt> {
        self.state.borrow().halt.clone()
    }

    /// The first error that ended the run (policy, journal), if any.
    pub fn fatal_error(&self) -> Option<GateError> {
        self.state.borrow().fatal.clone()
    }

    /// How many effects passed the gate.
    pub fn effect_count(&self) -> u64 {
        self.state.borrow().seq
    }

    /// Take the record of every effect and the context back at the end of the run.
    pub fn finish(self) -> (Vec<EffectReport>, EffectContext, Option<JournalWriter>) {
        (self.state.into_inner().effects, self.context, self.journal.into_inner())
    }
}

/// An effect whose intent is journaled, and when it started.
struct Started {
    effect: Effect,
    at: SystemTime,
}

/// How an argument the primitive's params refuse is worded, for the gate and for
/// `check`'s look at literal calls alike.
pub fn argument_message(kind: &str, error: &ArgumentError) -> String {
    let plain = |message: &str| crate::base::serde_words::plain(message);
    match (&error.problem, &error.path) {
        (ArgumentProblem::Missing(field), Some(path)) => format!("missing argument \"{path}.{field}\" to {kind}"),
        (ArgumentProblem::Missing(field), None) => format!("missing argument \"{field}\" to {kind}"),
        (ArgumentProblem::Invalid(message), Some(path)) => format!("argument \"{path}\" to {kind}: {}", plain(message)),
        (ArgumentProblem::Invalid(message), None) => format!("arguments to {kind}: {}", plain(message)),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        return (*text).to_string();
    }
    if let Some(text) = panic.downcast_ref::<String>() {
        return text.clone();
    }
    "(no message)".to_string()
}
