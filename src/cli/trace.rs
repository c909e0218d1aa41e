//! `-v`: the run's effects as debug events, beside the programs and requests the
//! primitives log themselves. Arguments are left out: they are not yet redacted here.

use crate::effect::{Event, Reporter};

/// Logs each effect at debug level, then hands the event on.
pub struct Traced(pub Box<dyn Reporter + Send>);

impl Reporter for Traced {
    fn event(&mut self, event: &Event<'_>) {
        trace(event);
        self.0.event(event);
    }

    fn suspend(&mut self, work: &mut dyn FnMut()) {
        self.0.suspend(work);
    }
}

fn trace(event: &Event<'_>) {
    match event {
        Event::RunStarted { run_id, script, environment, mode, .. } => {
            tracing::debug!(run_id, script, environment, mode = mode.as_str(), "run started");
        }
        Event::EffectStarted { effect } => tracing::debug!(
            seq = effect.seq,
            kind = &*effect.kind,
            origin = %effect.origin,
            compensation = effect.compensation,
            "effect started"
        ),
        Event::EffectFinished { effect, result, duration, replayed_from } => tracing::debug!(
            seq = effect.seq,
            kind = &*effect.kind,
            ok = result.is_ok(),
            duration_ms = duration.as_millis() as u64,
            replayed_from = replayed_from.unwrap_or_default(),
            "effect finished"
        ),
        _ => {}
    }
}
