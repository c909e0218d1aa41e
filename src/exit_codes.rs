//! Exit codes of the `shipctl` binary. Scripts and CI systems depend on them: change
//! one only with a CHANGELOG entry.

/// The command did what it was asked: the run or plan finished, `check` found no error.
pub const SUCCESS: i32 = 0;
/// The run failed: the script raised an error or an effect failed (compensations ran).
pub const RUN_FAILED: i32 = 1;
/// Bad usage: unknown argument, missing param, unknown environment, broken `shipctl.toml`,
/// a kubeconfig that is missing or lacks the context asked for.
pub const USAGE: i32 = 2;
/// The script does not compile (syntax error, bad import); `check` found errors.
pub const SCRIPT_INVALID: i32 = 3;
/// Policy refused the run or an effect (protected environment with uncommitted
/// changes, a primitive the environment does not allow).
pub const POLICY_REFUSED: i32 = 4;
/// A recorded run and the script disagree: a replay diverged, or a resume met a change
/// in the finished part or an effect whose outcome was never recorded.
pub const HALTED: i32 = 5;
/// SIGINT (Ctrl-C) interrupted the run; its compensations ran (128 + 2, as shells report it).
pub const INTERRUPTED_SIGINT: i32 = 130;
/// SIGTERM (a cancelled CI job) interrupted the run; its compensations ran (128 + 15).
pub const INTERRUPTED_SIGTERM: i32 = 143;
/// shipctl itself failed (cannot write the journal, internal error).
pub const INTERNAL: i32 = 70;

/// One line per code, for `--help` and the README.
pub const TABLE: &str = "\
Exit codes:
  0   success
  1   the run failed (a script error or a failed effect; compensations ran)
  2   usage or configuration error (bad arguments, missing param, broken shipctl.toml, missing kubeconfig)
  3   the script does not compile; `check` found errors
  4   refused by policy (protected environment, primitive not allowed)
  5   a replay diverged, or a resume needs a decision (changed finished part, unfinished effect)
  70  internal error (journal not writable, bug in shipctl)
  130 interrupted by SIGINT (Ctrl-C): compensations ran; the last line is the resume command
  143 interrupted by SIGTERM (a cancelled CI job): as 130";
