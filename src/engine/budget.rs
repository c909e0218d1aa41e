//! The run's budget: what every operation of a run draws on, wherever it runs (the
//! main script, an imported module, a callback a builtin calls, a compensation). Rhai
//! counts operations per evaluation (an imported module starts again at 0) and some of
//! its builtins swallow a callback's error (`sort` and `dedup` with a comparator); the
//! budget counts across all of them and, once a limit is passed, stays spent: every
//! later operation stops again, and a script that returns after a swallowed limit
//! error still fails.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use crate::config::Limits;

/// The script thread's stack. Only the pages a script touches are committed; the size
/// bounds how deep calls, expressions and imports may nest together (see
/// [`Limits::MAX_CALL_LEVELS`] for the measured costs).
pub const SCRIPT_STACK: usize = 256 * 1024 * 1024;

/// Stack kept free below the guard: enough for one operation's worth of recursion
/// between two checks (parsing a module at the deepest allowed nesting takes 11 MiB in
/// a debug build, a primitive's own work a few more).
const STACK_RESERVE: usize = 64 * 1024 * 1024;

/// Operations between two readings of the clock and the stack.
const CHECK_EVERY: u64 = 16;

thread_local! {
    // The address near the top of the script thread's stack, and the stack's size.
    static STACK: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Record that the current thread is a script thread with a stack of `size` bytes,
/// from here down. Called first thing on the thread.
pub fn mark_script_thread(size: usize) {
    let marker = 0u8;
    STACK.with(|stack| stack.set(Some((std::ptr::addr_of!(marker) as usize, size))));
}

/// Has the script thread used so much stack that one more level of nesting could
/// overflow it? `false` on threads not marked by [`mark_script_thread`].
pub fn stack_exhausted() -> bool {
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    STACK.with(|stack| match stack.get() {
        Some((top, size)) => top.saturating_sub(here) > size.saturating_sub(STACK_RESERVE),
        None => false,
    })
}

/// The message of the stack guard.
pub fn stack_message() -> String {
    "the script nests too deeply for the script thread's stack (calls, expressions and imports together); \
     lower the nesting, or [limits] max_call_levels / max_expr_depth"
        .to_string()
}

/// The limits one run draws on, counted across modules, callbacks and compensations.
pub struct Budget {
    limits: Limits,
    operations: Cell<u64>,
    tripped: RefCell<Option<String>>,
    captured: Cell<u64>,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Budget { limits, operations: Cell::new(0), tripped: RefCell::new(None), captured: Cell::new(0) }
    }

    /// The limits this budget counts against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// One script operation, with `deadline` the current wall-clock limit: `Some(why)`
    /// when the run must stop (and from then on at every operation).
    pub fn operation(&self, deadline: Instant, deadline_message: impl FnOnce() -> String) -> Option<String> {
        if let Some(reason) = self.tripped() {
            return Some(reason);
        }
        let operations = self.operations.get() + 1;
        self.operations.set(operations);
        if operations > self.limits.max_operations {
            return self.trip(format!(
                "the run used more than {} operations, imported modules and callbacks included; \
                 raise [limits] max_operations if the script really needs them",
                self.limits.max_operations
            ));
        }
        if !operations.is_multiple_of(CHECK_EVERY) {
            return None;
        }
        if Instant::now() >= deadline {
            return self.trip(deadline_message());
        }
        if stack_exhausted() {
            return self.trip(stack_message());
        }
        None
    }

    /// Count `bytes` more of values captured by compensations.
    pub fn capture(&self, bytes: u64) -> Result<(), String> {
        let total = self.captured.get().saturating_add(bytes);
        self.captured.set(total);
        if total > self.limits.max_captured_bytes {
            let reason = format!(
                "the compensations registered with on_failure capture more than {} bytes of values together \
                 ([limits] max_captured_bytes); capture less (a name or an id instead of a whole list)",
                self.limits.max_captured_bytes
            );
            self.trip(reason.clone());
            return Err(reason);
        }
        Ok(())
    }

    /// Stop the run for `reason` (the first reason wins); returns the reason in force.
    pub fn trip(&self, reason: String) -> Option<String> {
        let mut tripped = self.tripped.borrow_mut();
        Some(tripped.get_or_insert(reason).clone())
    }

    /// Why the run must stop, once a limit was passed.
    pub fn tripped(&self) -> Option<String> {
        self.tripped.borrow().clone()
    }

    /// Compensations start with the operations of a fresh run (their own deadline is
    /// set on the context): a run stopped for a limit can still undo what it did.
    pub fn start_compensations(&self) {
        self.operations.set(0);
        self.tripped.replace(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_limit_stays_passed() {
        let budget = Budget::new(Limits { max_operations: 3, ..Limits::default() });
        let far = Instant::now() + std::time::Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(budget.operation(far, String::new), None);
        }
        let reason = budget.operation(far, String::new).unwrap();
        assert!(reason.contains("more than 3 operations"), "{reason}");
        assert_eq!(budget.operation(far, String::new), Some(reason));
        budget.start_compensations();
        assert_eq!(budget.operation(far, String::new), None);
    }

    #[test]
    fn the_stack_guard_sees_a_marked_thread() {
        let thread = std::thread::Builder::new()
            .stack_size(SCRIPT_STACK)
            .spawn(|| {
                mark_script_thread(SCRIPT_STACK);
                stack_exhausted()
            })
            .unwrap();
        assert!(!thread.join().unwrap());
        assert!(!stack_exhausted(), "an unmarked thread is never exhausted");
    }
}
