//! Names the build for `shipctl --version` and the journal header: the commit checked
//! out (`SHIPCTL_COMMIT`, "unknown" outside a git checkout) and the build date
//! (`SHIPCTL_BUILD_DATE`, from `SOURCE_DATE_EPOCH` when set, for reproducible builds).

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = git(&["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    watch_git_head();
    println!("cargo:rustc-env=SHIPCTL_COMMIT={commit}");
    println!("cargo:rustc-env=SHIPCTL_BUILD_DATE={}", date(build_epoch()));
}

/// `git <args>`'s trimmed output, or `None` when git is missing or fails (a source
/// tarball, a machine without git).
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    // Only a plain hex id or path is trusted into the environment of the compiler.
    (!text.is_empty() && !text.contains('\n')).then_some(text)
}

/// Rebuild the version when HEAD moves: HEAD itself (a checkout) and the branch it
/// points at (a commit), wherever this worktree keeps them.
fn watch_git_head() {
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={path}");
    }
    if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
        println!("cargo:rerun-if-changed={packed}");
    }
}

/// Seconds since the epoch: `SOURCE_DATE_EPOCH` when set (and a number), else now.
fn build_epoch() -> u64 {
    if let Ok(text) = std::env::var("SOURCE_DATE_EPOCH") {
        match text.trim().parse() {
            Ok(seconds) => return seconds,
            Err(_) => println!("cargo:warning=SOURCE_DATE_EPOCH={text:?} is not a number of seconds; using now"),
        }
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}

/// `YYYY-MM-DD` in UTC for `seconds` since the epoch (Howard Hinnant's civil_from_days).
fn date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
