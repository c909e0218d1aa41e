//! The compensations that run after a failure or an interrupt, last registered first.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rhai::Dynamic;

use super::{CompensationReport, script_error};
use crate::effect::Event;
use crate::engine::{self, ScriptHost};

/// The error of a compensation a second signal kept from running.
pub(super) const CUT_SHORT: &str = "not run: cut short by a second signal";

/// Where the compensations a second signal kept from running were registered.
pub(super) fn not_run(reports: &[CompensationReport]) -> Vec<String> {
    reports.iter().filter(|report| report.error.as_deref() == Some(CUT_SHORT)).map(|r| r.origin.to_string()).collect()
}

/// Run `compensations`, last registered first, each with its own error reported and
/// the others still run. `failed`: after a failure (otherwise a plan shows them).
pub(super) fn compensate(
    host: &ScriptHost,
    engine: &rhai::Engine,
    compensations: &[engine::Compensation],
    failed: bool,
    script: &str,
    limits: &crate::config::Limits,
) -> Vec<CompensationReport> {
    host.gate.set_compensating(true);
    // A signal that stopped the run is answered by these compensations: only another
    // one cancels them.
    host.gate.context().answer_first_signal();
    let deadline = Instant::now() + limits.compensation_deadline;
    host.gate.context().set_deadline(deadline);
    host.budget.start_compensations();
    if failed {
        host.gate.context().report(&Event::CompensationsStarted { count: compensations.len() });
    }
    let mut reports = Vec::with_capacity(compensations.len());
    for compensation in compensations.iter().rev() {
        // A compensation too quick to reach the budget's clock check still starts only
        // before the deadline; once a limit stopped one, the others are not started.
        if Instant::now() >= deadline {
            host.budget.trip(host.deadline_message());
        }
        let failure = match host.budget.tripped() {
            Some(reason) => Some(format!("not run: {reason}")),
            None if host.gate.context().interrupt().count() >= 2 => Some(CUT_SHORT.to_string()),
            None => run_compensation(host, engine, compensation, script, limits),
        };
        if failed {
            host.gate
                .context()
                .report(&Event::CompensationFinished { origin: &compensation.origin, error: failure.as_deref() });
        }
        reports.push(CompensationReport { origin: compensation.origin.clone(), error: failure });
    }
    reports
}

/// One compensation, its error (a limit it passed, even if a builtin swallowed it) if any.
fn run_compensation(
    host: &ScriptHost,
    engine: &rhai::Engine,
    compensation: &engine::Compensation,
    script: &str,
    limits: &crate::config::Limits,
) -> Option<String> {
    #[allow(deprecated)]
    let context = compensation.context.create_context(engine);
    let result = catch_unwind(AssertUnwindSafe(|| compensation.function.call_within_context::<Dynamic>(&context, ())));
    match result {
        Ok(Ok(_)) => host.limit_error().map(|error| script_error(host, &error, script, limits).to_string()),
        Ok(Err(failure)) => Some(script_error(host, &failure, script, limits).to_string()),
        Err(_) => Some("internal error: shipctl panicked while running the compensation".to_string()),
    }
}
