//! `plan --refresh` with the probes of live systems overlapping instead of one after
//! the other: a refreshed plan takes about as long as its slowest probe, not their sum.
//!
//! First a plan without refresh (milliseconds, nothing asked) finds the probes the
//! script will make: each effect of a primitive that [`refresh_probes`] with its
//! arguments. Then the refreshed plan runs; on its first effect, [`Pool`] starts asking
//! all of them, at most [`pool::MOST_AT_ONCE`] at a time, each on a thread of its own
//! with a context of its own (the run's context stays on the script thread). Each effect
//! takes the answer of its probe, waiting for it if it is still being asked, or asks
//! itself when no thread has started on it yet. An effect the first plan did not foresee
//! (a refreshed answer changed the script's course, or its arguments) asks inline, as
//! without the prefetch: what a plan shows never depends on what was prefetched.
//!
//! [`refresh_probes`]: crate::effect::Primitive::refresh_probes

mod pool;

use std::cell::RefCell;
use std::rc::Rc;

use crate::effect::{Executed, Executor, Mode, Request, Silent};

use super::{RunRequest, Source};
use pool::{Pool, Probe};

/// The executor of a refreshed plan whose probes are asked ahead, when `request` is one
/// and its script makes any; `None` otherwise (the executor its mode calls for then).
pub(super) fn executor(request: &RunRequest) -> Option<Box<dyn Executor>> {
    if request.mode != Mode::Plan || !request.refresh || !matches!(request.source, Source::Mode) {
        return None;
    }
    let probes = foresee(request);
    if probes.is_empty() {
        return None;
    }
    Some(Box::new(Prefetched { probes, extend: request.extend, pool: None }))
}

/// The probes the script makes, in order, as a plan without refresh finds them. A
/// probe asked twice with the same arguments is there twice: each effect is answered
/// by a probe of its own, as it would be without the prefetch.
fn foresee(request: &RunRequest) -> Vec<Probe> {
    let mut quiet = request.clone();
    quiet.refresh = false;
    quiet.journal = false;
    quiet.watch_signals = false;
    let found = Rc::new(RefCell::new(Vec::new()));
    let executor = Foresee { found: Rc::clone(&found) };
    // What stops this plan (a config error, a script that fails) is the refreshed plan's
    // to report: it meets it again. The probes found until then are still worth asking.
    let _ = super::execute_with(quiet, Box::new(Silent), Box::new(executor));
    found.take()
}

/// A plan's executor that notes the probes the refreshed plan would make.
struct Foresee {
    found: Rc<RefCell<Vec<Probe>>>,
}

impl Executor for Foresee {
    fn name(&self) -> &'static str {
        "plan"
    }

    fn execute(&mut self, request: &Request<'_>) -> Executed {
        if request.primitive.refresh_probes() {
            self.found.borrow_mut().push(Probe { kind: request.primitive.name(), args: request.args.clone() });
        }
        Executed::now(request.primitive.plan(request.params, request.context))
    }
}

/// The refreshed plan's executor: the plan executor, each probe's answer taken from the
/// pool when it was foreseen.
struct Prefetched {
    /// What to ask, until the first effect starts the pool.
    probes: Vec<Probe>,
    extend: Option<fn(&mut crate::effect::Registry)>,
    pool: Option<Pool>,
}

impl Executor for Prefetched {
    fn name(&self) -> &'static str {
        "plan"
    }

    fn execute(&mut self, request: &Request<'_>) -> Executed {
        // Started here, not before the run: the threads share the run's own deadline,
        // runtime and HTTP client, which come with its context.
        if self.pool.is_none() && !self.probes.is_empty() {
            self.pool = Pool::start(std::mem::take(&mut self.probes), request.context, self.extend);
        }
        let answer =
            self.pool.as_ref().and_then(|pool| pool.take(request.primitive.name(), request.args, request.context));
        let Some(answer) = answer else {
            return Executed::now(request.primitive.plan(request.params, request.context));
        };
        for message in &answer.progress {
            request.context.progress(message);
        }
        Executed::now(answer.outcome)
    }

    fn finish(&mut self) -> Option<crate::effect::Halt> {
        // Probes no effect asked for are cut short now, not left to run to the deadline.
        self.pool = None;
        None
    }
}
