//! SIGINT and SIGTERM during a live run: a thread counts them into the run's shared
//! [`Interrupt`]; the effect context cancels waits and the gate refuses new effects
//! once one arrived, and the run ends `interrupted` after its compensations.
//!
//! tokio's own signal support is used (no new crate): the effects already run on tokio,
//! and it installs a handler through `signal-hook-registry` that only writes to a pipe,
//! which is what a signal handler may safely do.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::effect::{EffectContext, Interrupt, Mode, signal_name as name};
use crate::engine::{ScriptError, ScriptErrorKind};
use crate::error::Error;

/// Watches for SIGINT and SIGTERM while a run is open; stops watching when dropped.
pub(super) struct Watch {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Start watching for signals on behalf of `interrupt`, in a live run that asked for
/// it only: a plan, replay or test touches nothing, so the default (end at once) is
/// right for them. The handlers are installed before this returns; they stay installed
/// for the life of the process (tokio never removes them), so only the binary asks.
pub(super) fn watch(mode: Mode, asked: bool, interrupt: &Arc<Interrupt>) -> Result<Option<Watch>, Error> {
    if mode != Mode::Run || !asked {
        return Ok(None);
    }
    let failed = |error: std::io::Error| Error::Internal(format!("cannot watch for signals: {error}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
    let (mut int, mut term) = {
        let _entered = runtime.enter();
        (signal(SignalKind::interrupt()).map_err(failed)?, signal(SignalKind::terminate()).map_err(failed)?)
    };
    let (stop, mut stopped) = oneshot::channel();
    let interrupt = Arc::clone(interrupt);
    let thread = std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    let number = tokio::select! {
                        _ = int.recv() => libc::SIGINT,
                        _ = term.recv() => libc::SIGTERM,
                        _ = &mut stopped => return,
                    };
                    interrupt.record(number);
                    announce(number, interrupt.count());
                }
            });
        })
        .map_err(failed)?;
    Ok(Some(Watch { stop: Some(stop), thread: Some(thread) }))
}

/// Tell the operator what a signal does, on stderr (written straight away: the
/// script thread may be inside a long wait).
fn announce(number: i32, count: u8) {
    let name = name(number);
    let text = match count {
        1 => format!("\n{name} received: stopping; compensations run next (send it again to cut them short)\n"),
        _ => format!("\n{name} received again: cutting the compensations short\n"),
    };
    eprint!("{text}");
}

/// The script's error, or, when a signal arrived but the script ended without one
/// (it caught the cancelled wait), an error saying so: an interrupted run compensates.
pub(super) fn error_if_interrupted(context: &EffectContext, error: Option<ScriptError>) -> Option<ScriptError> {
    let Some(number) = context.interrupt().signal() else { return error };
    error.or_else(|| {
        Some(ScriptError {
            kind: ScriptErrorKind::Runtime,
            message: format!("interrupted by {}", name(number)),
            location: None,
            help: None,
            trace: Vec::new(),
            step: None,
        })
    })
}
