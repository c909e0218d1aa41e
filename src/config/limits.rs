//! `[limits]`: the script sandbox and the range each limit must lie in.

use std::time::Duration;

use serde::Deserialize;

/// `[limits]`: the sandbox. Every limit is set explicitly on the engine so debug and
/// release builds behave the same.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct Limits {
    /// Script operations before the run is stopped (runaway loops).
    pub max_operations: u64,
    /// Nesting of function calls (runaway recursion).
    pub max_call_levels: usize,
    /// Nesting of expressions at the top level.
    pub max_expr_depth: usize,
    /// Nesting of expressions inside functions.
    pub max_function_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Items in one array.
    pub max_array_size: usize,
    /// Entries in one object map.
    pub max_map_size: usize,
    /// Modules a run may load.
    pub max_modules: usize,
    /// Wall-clock time for the whole script.
    #[serde(with = "crate::base::time::serde_duration")]
    pub deadline: Duration,
    /// Wall-clock time the compensations get after a failure.
    #[serde(with = "crate::base::time::serde_duration")]
    pub compensation_deadline: Duration,
    /// Bytes of log output (`print`, `log`, `warn`, ...) one run may write; beyond it
    /// lines are dropped and one line at the end says how many bytes were.
    pub max_log_bytes: u64,
    /// Bytes of values the compensations of one run may capture together (values
    /// shared between compensations count once).
    pub max_captured_bytes: u64,
}

impl Limits {
    /// The largest `max_call_levels` the script thread's stack holds. Measured in a
    /// debug build: a script call level takes about 38 KiB of stack, and one level of
    /// expression inside a function about 5 KiB more per call level; 500 levels of
    /// plain calls take 19 MiB of the 256 MiB script stack. Combinations beyond what the
    /// stack holds (deep calls, each in a deep expression, across modules) are stopped
    /// at run time by the stack guard of the script thread.
    pub const MAX_CALL_LEVELS: usize = 500;
    /// The largest `max_expr_depth`: the parser takes about 7 KiB of stack per level of
    /// nesting and evaluation about 11 KiB (debug build); 1000 levels take 11 MiB.
    pub const MAX_EXPR_DEPTH: usize = 1000;
    /// The largest `max_function_expr_depth` (same costs as `max_expr_depth`, but
    /// repeated at every call level).
    pub const MAX_FUNCTION_EXPR_DEPTH: usize = 250;

    /// The numeric limits with the range each must lie in, by key: the engine reads 0
    /// as "unlimited", so 0 is refused everywhere.
    fn ranges(&self) -> [(&'static str, u64, u64); 10] {
        [
            ("max_operations", self.max_operations, u64::MAX),
            ("max_call_levels", self.max_call_levels as u64, Self::MAX_CALL_LEVELS as u64),
            ("max_expr_depth", self.max_expr_depth as u64, Self::MAX_EXPR_DEPTH as u64),
            ("max_function_expr_depth", self.max_function_expr_depth as u64, Self::MAX_FUNCTION_EXPR_DEPTH as u64),
            ("max_string_size", self.max_string_size as u64, u64::MAX),
            ("max_array_size", self.max_array_size as u64, u64::MAX),
            ("max_map_size", self.max_map_size as u64, u64::MAX),
            ("max_modules", self.max_modules as u64, u64::MAX),
            ("max_log_bytes", self.max_log_bytes, u64::MAX),
            ("max_captured_bytes", self.max_captured_bytes, u64::MAX),
        ]
    }

    /// The first limit out of its range: its key, and the message saying the range.
    pub fn out_of_range(&self) -> Option<(&'static str, String)> {
        self.ranges().into_iter().find(|(_, value, max)| *value == 0 || value > max).map(|(key, value, max)| {
            let message = if value == 0 {
                format!("[limits] {key} = 0 would turn the limit off; it must be at least 1")
            } else {
                format!("[limits] {key} = {value} is more than the script thread's stack holds; the maximum is {max}")
            };
            (key, message)
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 10_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_modules: 64,
            deadline: Duration::from_secs(2 * 60 * 60),
            compensation_deadline: Duration::from_secs(30 * 60),
            max_log_bytes: 10 << 20,
            max_captured_bytes: 64 << 20,
        }
    }
}
