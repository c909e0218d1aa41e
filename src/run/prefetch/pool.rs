//! The threads that ask a refreshed plan's probes ahead of the script, and the board
//! where their answers wait for the effects that take them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::effect::{EffectContext, EffectError, Event, Interrupt, ProbeSeed, Registry, Reporter};

/// At most this many probes are asked at once: enough for the systems a release
/// touches, few enough not to flood one of them (or the machine) with a script that
/// loops over many.
pub(super) const MOST_AT_ONCE: usize = 8;

/// A probe thread's stack. A probe runs the primitive's code (the parsers of what a
/// system answers among it) as it would on the script thread, whose stack is far larger
/// than a thread's default: a deep answer must not overflow here where it would not
/// there. Only the pages touched are committed.
const PROBE_STACK: usize = 64 * 1024 * 1024;

/// How often an effect waiting for its probe looks whether the run was interrupted.
const WAKE: Duration = Duration::from_millis(100);

/// One effect's probe: the primitive and its arguments as the script gave them.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    pub kind: &'static str,
    pub args: Value,
}

/// What a probe found: the plan's outcome, and the progress it reported on the way
/// (told again when its effect takes it, so the run reports what it would have).
#[derive(Debug)]
pub(super) struct Answer {
    pub outcome: Result<Value, EffectError>,
    pub progress: Vec<String>,
}

enum State {
    Queued,
    Running,
    Done(Answer),
    /// No answer to give (the primitive panicked, or its arguments did not parse here):
    /// its effect asks inline, and meets the same problem where the gate handles it.
    Lost,
    /// An effect took it (its answer, or the job of asking it inline).
    Taken,
}

struct Slot {
    probe: Probe,
    state: State,
}

#[derive(Default)]
struct Board {
    slots: Mutex<Vec<Slot>>,
    changed: Condvar,
}

impl Board {
    fn slots(&self) -> MutexGuard<'_, Vec<Slot>> {
        // A slot is only ever replaced whole: one a panicking thread left is consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next probe to ask, marked running; `None` once all are started or the
    /// pool is cut short.
    fn next(&self, cancel: &Interrupt) -> Option<(usize, Probe)> {
        let mut slots = self.slots();
        if cancel.count() > 0 {
            return None;
        }
        let (index, slot) = slots.iter_mut().enumerate().find(|(_, slot)| matches!(slot.state, State::Queued))?;
        slot.state = State::Running;
        Some((index, slot.probe.clone()))
    }

    fn finish(&self, index: usize, state: State) {
        if let Some(slot) = self.slots().get_mut(index)
            && matches!(slot.state, State::Running)
        {
            slot.state = state;
        }
        self.changed.notify_all();
    }
}

/// Threads asking probes, joined when the pool is dropped: none outlives the run.
pub(super) struct Pool {
    board: Arc<Board>,
    cancel: Arc<Interrupt>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Start asking `probes` with contexts made from the run's `context`; `None` when
    /// no thread could be made ready (each effect then asks inline).
    pub(super) fn start(
        probes: Vec<Probe>,
        context: &EffectContext,
        extend: Option<fn(&mut Registry)>,
    ) -> Option<Pool> {
        let seed = context.probe_seed().ok()?;
        let slots = probes.into_iter().map(|probe| Slot { probe, state: State::Queued }).collect();
        let board = Arc::new(Board { slots: Mutex::new(slots), changed: Condvar::new() });
        let cancel = Arc::new(Interrupt::default());
        let count = board.slots().len().min(MOST_AT_ONCE);
        let threads = (0..count)
            .filter_map(|index| {
                let (board, cancel, seed) = (Arc::clone(&board), Arc::clone(&cancel), seed.clone());
                let thread = std::thread::Builder::new().name(format!("probe-{index}")).stack_size(PROBE_STACK);
                // A thread that cannot be made leaves its probes to the others, or inline.
                thread.spawn(move || ask(&board, &seed, cancel, extend)).ok()
            })
            .collect::<Vec<_>>();
        if threads.is_empty() {
            return None;
        }
        Some(Pool { board, cancel, threads })
    }

    /// The answer for the effect `kind` with `args`: the first of its probes not yet
    /// taken, waited for while it is being asked. `None` when the effect must ask inline:
    /// it was not foreseen, no thread started on it yet, or its probe has no answer.
    pub(super) fn take(&self, kind: &str, args: &Value, context: &EffectContext) -> Option<Answer> {
        let mut slots = self.board.slots();
        loop {
            let open = |slot: &&mut Slot| !matches!(slot.state, State::Taken);
            let slot =
                slots.iter_mut().filter(open).find(|slot| slot.probe.kind == kind && slot.probe.args == *args)?;
            match std::mem::replace(&mut slot.state, State::Taken) {
                State::Done(answer) => return Some(answer),
                State::Running if !context.cancelled() => {
                    slot.state = State::Running;
                    slots = self.board.changed.wait_timeout(slots, WAKE).unwrap_or_else(PoisonError::into_inner).0;
                }
                // Queued: no thread started on it, the effect asks itself (and no thread
                // will). Lost: no answer here. Running once the run was interrupted: inline,
                // where the effect ends as any cancelled wait.
                State::Running | State::Queued | State::Lost | State::Taken => return None,
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Probes still being asked are cancelled (a probe only reads: nothing is left
        // half done); those not started are not.
        self.cancel.record(libc::SIGINT);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One thread's work: ask probes off the board until none is left.
fn ask(board: &Board, seed: &ProbeSeed, cancel: Arc<Interrupt>, extend: Option<fn(&mut Registry)>) {
    let registry = super::super::registry_for(extend);
    let progress = Arc::new(Mutex::new(Vec::new()));
    let context = seed.context(Box::new(Progress(Arc::clone(&progress))), Arc::clone(&cancel));
    while let Some((index, probe)) = board.next(&cancel) {
        let outcome = catch_unwind(AssertUnwindSafe(|| answer(&registry, &probe, &context)));
        let told = std::mem::take(&mut *progress.lock().unwrap_or_else(PoisonError::into_inner));
        let state = match outcome {
            Ok(Some(outcome)) => State::Done(Answer { outcome, progress: told }),
            Ok(None) | Err(_) => State::Lost,
        };
        board.finish(index, state);
    }
}

/// `probe` asked as its effect would ask it: the primitive's checks, then its plan.
fn answer(registry: &Registry, probe: &Probe, context: &EffectContext) -> Option<Result<Value, EffectError>> {
    let primitive = registry.get(probe.kind)?;
    let params = primitive.parse(&probe.args).ok()?;
    primitive.validate(params.as_ref(), context).ok()?;
    Some(primitive.plan(params.as_ref(), context))
}

/// Keeps the progress a probe reports, for its effect to tell.
struct Progress(Arc<Mutex<Vec<String>>>);

impl Reporter for Progress {
    fn event(&mut self, event: &Event<'_>) {
        if let Event::EffectProgress { message, .. } = event {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(message.to_string());
        }
    }
}
