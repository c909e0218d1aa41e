//! What a primitive may use while it runs: config, environment, secrets, the clock
//! budget, one async runtime and one HTTP client (both built on first use, so a plan
//! pays for neither), and the reporter for progress.

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Environment, Keep, Project, Redactor, SecretStore};
use crate::effect::{Event, Reporter};

use super::EffectError;

/// How effects are executed in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Mode {
    /// Perform effects for real (`shipctl run`).
    Run,
    /// Mock results, touch nothing (`shipctl plan`, `check`).
    Plan,
    /// Results from a journal, touch nothing (`shipctl replay`).
    Replay,
    /// Results a test scripted, touch nothing (`shipctl test`).
    Test,
}

impl Mode {
    /// The name the journal's header and the output use (`plan`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The signals (SIGINT, SIGTERM) a run received, shared between the thread that
/// watches for them and the run, which reads them between and inside effects.
#[derive(Debug, Default)]
pub struct Interrupt {
    count: AtomicU8,
    first: AtomicI32,
}

impl Interrupt {
    /// Note that `signal` arrived.
    pub fn record(&self, signal: i32) {
        // Only the first signal decides the exit code; later ones only count.
        let _ = self.first.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        let _ = self.count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| Some(count.saturating_add(1)));
    }

    /// How many signals arrived.
    pub fn count(&self) -> u8 {
        self.count.load(Ordering::SeqCst)
    }

    /// The first signal's number, once one arrived.
    pub fn signal(&self) -> Option<i32> {
        Some(self.first.load(Ordering::SeqCst)).filter(|signal| *signal != 0)
    }
}

/// The run as primitives see it.
pub struct EffectContext {
    pub mode: Mode,
    /// Plan mode may make read-only queries of live systems.
    pub refresh: bool,
    pub project: Project,
    pub environment_name: String,
    pub environment: Environment,
    pub secrets: SecretStore,
    pub run_id: String,
    /// The script, relative to the scripts root.
    pub script: String,
    /// `--approved-by`: who approved this run ahead of time.
    pub approved_by: Option<String>,
    deadline: Cell<Instant>,
    current: Cell<u64>,
    reporter: RefCell<Box<dyn Reporter + Send>>,
    runtime: OnceCell<Arc<tokio::runtime::Runtime>>,
    http: OnceCell<reqwest::Client>,
    interrupt: Arc<Interrupt>,
    /// A context for read-only probes on a thread of its own ([`ProbeSeed`]): a signal
    /// cancels its calls too, and its deadline counts as passed once one arrived.
    probing: bool,
    /// Signals already answered: after the first, compensations run; a wait is
    /// cancelled only by a signal beyond these.
    answered: Cell<u8>,
}

impl EffectContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: Mode,
        refresh: bool,
        project: Project,
        environment_name: String,
        environment: Environment,
        run_id: String,
        script: String,
        reporter: Box<dyn Reporter + Send>,
    ) -> Self {
        let secrets = SecretStore::new(project.config.secrets.clone(), project.root.clone());
        let deadline = Instant::now() + project.config.limits.deadline;
        EffectContext {
            mode,
            refresh,
            project,
            environment_name,
            environment,
            secrets,
            run_id,
            script,
            approved_by: None,
            deadline: Cell::new(deadline),
            current: Cell::new(0),
            reporter: RefCell::new(reporter),
            runtime: OnceCell::new(),
            http: OnceCell::new(),
            interrupt: Arc::default(),
            answered: Cell::new(0),
            probing: false,
        }
    }

    /// What a context for read-only probes on another thread is made of: this run's
    /// config and deadline, and its runtime and HTTP client, shared (see [`ProbeSeed`]).
    pub fn probe_seed(&self) -> Result<ProbeSeed, EffectError> {
        Ok(ProbeSeed {
            mode: self.mode,
            project: self.project.clone(),
            environment_name: self.environment_name.clone(),
            environment: self.environment.clone(),
            run_id: self.run_id.clone(),
            script: self.script.clone(),
            approved_by: self.approved_by.clone(),
            deadline: self.deadline(),
            runtime: Arc::clone(self.runtime()?),
            http: self.http()?.clone(),
        })
    }

    /// The scripts root.
    pub fn root(&self) -> &PathBuf {
        &self.project.root
    }

    /// Scrubs secret values from anything about to be written or printed.
    pub fn redactor(&self) -> Redactor {
        self.secrets.redactor()
    }

    /// When the run must end.
    pub fn deadline(&self) -> Instant {
        self.deadline.get()
    }

    /// Move the deadline (compensations get their own budget after a failure).
    pub fn set_deadline(&self, deadline: Instant) {
        self.deadline.set(deadline);
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline().saturating_duration_since(Instant::now())
    }

    /// Fail if the deadline has passed.
    pub fn check_deadline(&self) -> Result<(), EffectError> {
        if self.remaining().is_zero() {
            return Err(deadline_error());
        }
        if self.probing {
            return self.check_interrupted();
        }
        Ok(())
    }

    /// Run the future `make` returns to completion on the run's runtime, bounded by the
    /// deadline. The future is made inside the runtime: timers and clients need it.
    pub fn block_on<F, Fut>(&self, make: F) -> Result<Fut::Output, EffectError>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        if self.probing {
            // A probe only reads: nothing is left half done if it is cut short.
            return self.wait(make);
        }
        let remaining = self.remaining();
        if remaining.is_zero() {
            return Err(deadline_error());
        }
        let runtime = self.runtime()?;
        runtime.block_on(async { tokio::time::timeout(remaining, make()).await }).map_err(|_| deadline_error())
    }

    /// Like [`block_on`](Self::block_on) for work that only waits or reads (a retry's
    /// pause, a watch, a health probe): a signal cancels it at once. Writes use
    /// `block_on`, which lets them finish.
    pub fn wait<F, Fut>(&self, make: F) -> Result<Fut::Output, EffectError>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        if self.cancelled() {
            return Err(interrupted_error(self.interrupt.signal()));
        }
        let remaining = self.remaining();
        if remaining.is_zero() {
            return Err(deadline_error());
        }
        let (interrupt, answered) = (Arc::clone(&self.interrupt), self.answered.get());
        self.runtime()?.block_on(async move {
            tokio::select! {
                output = tokio::time::timeout(remaining, make()) => output.map_err(|_| deadline_error()),
                () = until_signalled(&interrupt, answered) => Err(interrupted_error(interrupt.signal())),
            }
        })
    }

    /// Wait, within the deadline; a signal cancels the wait.
    pub fn sleep(&self, duration: Duration) -> Result<(), EffectError> {
        self.wait(|| tokio::time::sleep(duration))
    }

    /// Resolves, with the signal's number, once a signal not yet answered arrives: for
    /// a child process that answers the signal itself (helm's `--wait`), to pass it on.
    pub fn signalled(&self) -> impl Future<Output = i32> + Send + 'static {
        let (interrupt, answered) = (Arc::clone(&self.interrupt), self.answered.get());
        async move {
            until_signalled(&interrupt, answered).await;
            interrupt.signal().unwrap_or(libc::SIGINT)
        }
    }

    /// The signals this run watches for.
    pub fn interrupt(&self) -> &Arc<Interrupt> {
        &self.interrupt
    }

    /// Share `interrupt` with the thread that watches for signals.
    pub fn set_interrupt(&mut self, interrupt: Arc<Interrupt>) {
        self.interrupt = interrupt;
    }

    /// Whether a signal not yet answered arrived: waits are cancelled, no effect starts.
    pub fn cancelled(&self) -> bool {
        self.interrupt.count() > self.answered.get()
    }

    /// Fail with `interrupted by …` once a signal not yet answered arrived: for a loop
    /// that waits without [`wait`](Self::wait) (a prompt at the terminal).
    pub fn check_interrupted(&self) -> Result<(), EffectError> {
        if self.cancelled() {
            return Err(interrupted_error(self.interrupt.signal()));
        }
        Ok(())
    }

    /// Answer the first signal by running compensations: only a second one cancels them.
    pub fn answer_first_signal(&self) {
        self.answered.set(1);
    }

    fn runtime(&self) -> Result<&Arc<tokio::runtime::Runtime>, EffectError> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|error| EffectError::new(format!("cannot start the async runtime: {error}")))?;
        Ok(self.runtime.get_or_init(|| Arc::new(runtime)))
    }

    /// The run's HTTP client.
    pub fn http(&self) -> Result<&reqwest::Client, EffectError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("shipctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| EffectError::new(format!("cannot build the HTTP client: {error}")))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// `text` redacted, then cut to `keep`: the only way a primitive shortens text
    /// (a response body, a program's stderr) for an error or a result.
    pub fn excerpt(&self, text: &str, keep: Keep) -> String {
        self.redactor().excerpt(text, keep)
    }

    /// Tell the operator how the effect in progress is getting on ("attempt 3 of 10").
    /// Redacted like everything else the reporter receives.
    pub fn progress(&self, message: &str) {
        self.report(&Event::EffectProgress { seq: self.current.get(), message });
    }

    /// The sequence number of the effect in progress (0 outside effects).
    pub fn current_seq(&self) -> u64 {
        self.current.get()
    }

    pub(crate) fn set_current_seq(&self, seq: u64) {
        self.current.set(seq);
    }

    /// Run `work`, which talks to the operator on the terminal, with the reporter's
    /// animation out of the way.
    pub fn interact(&self, work: &mut dyn FnMut()) {
        match self.reporter.try_borrow_mut() {
            Ok(mut reporter) => reporter.suspend(work),
            Err(_) => work(),
        }
    }

    /// Hand an event to the reporter, its free text (progress, log lines, output,
    /// step names, a compensation's error) redacted: everything on the terminal or
    /// in a report passes here. Effects and their outcomes come redacted by the gate.
    pub fn report(&self, event: &Event<'_>) {
        let Ok(mut reporter) = self.reporter.try_borrow_mut() else {
            return;
        };
        let redact = |text: &str| self.redactor().redact_str(text);
        match *event {
            Event::EffectProgress { seq, message } => {
                reporter.event(&Event::EffectProgress { seq, message: &redact(message) });
            }
            Event::Log { level, message, origin } => {
                reporter.event(&Event::Log { level, message: &redact(message), origin });
            }
            Event::Output { text } => reporter.event(&Event::Output { text: &redact(text) }),
            Event::StepStarted { name, depth } => reporter.event(&Event::StepStarted { name: &redact(name), depth }),
            Event::StepFinished { name, depth, ok, duration } => {
                reporter.event(&Event::StepFinished { name: &redact(name), depth, ok, duration });
            }
            Event::CompensationFinished { origin, error: Some(error) } => {
                reporter.event(&Event::CompensationFinished { origin, error: Some(&redact(error)) });
            }
            _ => reporter.event(event),
        }
    }

    /// Take the reporter back at the end of the run.
    pub fn into_reporter(self) -> Box<dyn Reporter + Send> {
        self.reporter.into_inner()
    }
}

/// A run's context in a form that can go to another thread (the context itself holds
/// cells and the secret store, which stay on theirs): `plan --refresh` makes one context
/// per probe thread from it, so probes of different systems overlap. The runtime and the
/// HTTP client are the run's own, shared; the secrets are read again by each context.
#[derive(Clone)]
pub struct ProbeSeed {
    mode: Mode,
    project: Project,
    environment_name: String,
    environment: Environment,
    run_id: String,
    script: String,
    approved_by: Option<String>,
    deadline: Instant,
    runtime: Arc<tokio::runtime::Runtime>,
    http: reqwest::Client,
}

impl ProbeSeed {
    /// A context with `refresh` on, the run's deadline, events to `reporter`, in which
    /// a signal recorded in `cancel` cuts every call short (a probe only reads, so
    /// nothing is left half done): the way a prefetch that is no longer needed ends.
    pub fn context(&self, reporter: Box<dyn Reporter + Send>, cancel: Arc<Interrupt>) -> EffectContext {
        let mut context = EffectContext::new(
            self.mode,
            true,
            self.project.clone(),
            self.environment_name.clone(),
            self.environment.clone(),
            self.run_id.clone(),
            self.script.clone(),
            reporter,
        );
        context.approved_by = self.approved_by.clone();
        context.set_deadline(self.deadline);
        context.set_interrupt(cancel);
        context.probing = true;
        // Set on an empty cell: neither can fail.
        let _ = context.runtime.set(Arc::clone(&self.runtime));
        let _ = context.http.set(self.http.clone());
        context
    }
}

/// Polls rather than waits on a notification: the signal thread only sets a counter,
/// and 50 ms is quick enough for an operator's Ctrl-C.
async fn until_signalled(interrupt: &Interrupt, answered: u8) {
    while interrupt.count() <= answered {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The error a wait cancelled by `signal` ends with.
fn interrupted_error(signal: Option<i32>) -> EffectError {
    EffectError::new(format!("interrupted by {}", signal_name(signal.unwrap_or(libc::SIGINT))))
}

/// `SIGINT`, `SIGTERM`: the two signals a run answers.
pub fn signal_name(number: i32) -> &'static str {
    match number {
        libc::SIGTERM => "SIGTERM",
        _ => "SIGINT",
    }
}

fn deadline_error() -> EffectError {
    EffectError::new("the run's deadline passed")
        .with_help("raise [limits] deadline in shipctl.toml if the release needs longer")
}
