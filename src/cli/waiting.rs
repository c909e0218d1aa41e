//! Off a terminal (a CI log, a pipe) there is no spinner: while an effect runs, a
//! `still waiting` line every interval says which, for how long, and how it is getting
//! on. A thread of its own prints them, since the script thread is inside the effect.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::base::time::{format_duration, parse_duration};

use super::output;

/// How often a `still waiting` line is printed unless `--progress-interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The shortest interval taken: shorter would flood a log.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The longest interval taken: longer and a CI system's no-output timeout strikes first.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// `--progress-interval` of run, resume and replay.
#[derive(Debug, Clone, clap::Args)]
pub struct ProgressArgs {
    /// Off a terminal, how often to print `still waiting: <effect> (<elapsed>, <progress>)` while an effect runs (1s to 1h).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_interval)]
    pub progress_interval: Duration,
}

/// A duration between [`MIN_INTERVAL`] and [`MAX_INTERVAL`].
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err(format!("an interval from 1s to 1h; got {:?}", text.trim()));
    }
    Ok(interval)
}

/// The effect in progress, as the `still waiting` line names it.
struct Current {
    label: String,
    indent: String,
    started: Instant,
    progress: Option<String>,
    /// When the next line is due.
    due: Instant,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    stop: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// The thread printing `still waiting` lines; it stops when dropped.
pub struct Waiting {
    shared: Shared,
    interval: Duration,
    thread: Option<JoinHandle<()>>,
}

impl Waiting {
    /// Start the thread; it prints nothing until an effect starts.
    pub fn start(interval: Duration) -> Waiting {
        let shared: Shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("still-waiting".into()).spawn(move || tick(&shared, interval)).ok()
        };
        Waiting { shared, interval, thread }
    }

    /// An effect started: a line is due in one interval.
    pub fn effect_started(&self, label: String, indent: String) {
        let now = Instant::now();
        lock(&self.shared).current =
            Some(Current { label, indent, started: now, progress: None, due: now + self.interval });
        self.shared.1.notify_all();
    }

    /// The effect's latest progress, for the next line (already redacted).
    pub fn progress(&self, message: &str) {
        if let Some(current) = lock(&self.shared).current.as_mut() {
            current.progress = Some(message.to_string());
        }
    }

    /// The effect finished: no more lines about it. Once this returns, none is printed.
    pub fn effect_finished(&self) {
        lock(&self.shared).current = None;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The state even if a thread panicked holding it: it is plain data, always whole.
fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Print a line whenever one is due, until stopped. The line is printed holding the
/// lock, so none comes after [`Waiting::effect_finished`] returned.
fn tick(shared: &Shared, interval: Duration) {
    let mut state = lock(shared);
    loop {
        if state.stop {
            return;
        }
        let now = Instant::now();
        let wait = match state.current.as_mut() {
            None => interval,
            Some(current) if current.due <= now => {
                output::outln(&still_waiting(current, now));
                current.due = now + interval;
                interval
            }
            Some(current) => current.due - now,
        };
        state = shared
            .1
            .wait_timeout(state, wait)
            .map(|(state, _)| state)
            .unwrap_or_else(|poisoned| poisoned.into_inner().0);
    }
}

/// `still waiting: http_check url="…" (30.0s, attempt 4 of 10: got status 503)`.
fn still_waiting(current: &Current, now: Instant) -> String {
    let elapsed = format_duration(Duration::from_secs(now.duration_since(current.started).as_secs()));
    match &current.progress {
        Some(progress) => format!("{}still waiting: {} ({elapsed}, {progress})", current.indent, current.label),
        None => format!("{}still waiting: {} ({elapsed})", current.indent, current.label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_outside_one_second_to_an_hour_are_refused() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("1"), Ok(MIN_INTERVAL));
        assert_eq!(parse_interval("1h"), Ok(MAX_INTERVAL));
        for hostile in ["0", "0s", "999ms", "61m", "-5s", "", "soon", "18446744073709551616", "1e3", "9999999999h"] {
            assert!(parse_interval(hostile).is_err(), "{hostile:?} was taken");
        }
    }

    #[test]
    fn the_line_names_the_effect_its_time_and_its_progress() {
        let started = Instant::now();
        let mut current = Current {
            label: "http_check url=\"x\"".into(),
            indent: "  ".into(),
            started,
            progress: None,
            due: started,
        };
        let later = started + Duration::from_millis(90_400);
        assert_eq!(still_waiting(&current, later), "  still waiting: http_check url=\"x\" (1m 30s)");
        current.progress = Some("attempt 4 of 10: got status 503".into());
        assert_eq!(
            still_waiting(&current, later),
            "  still waiting: http_check url=\"x\" (1m 30s, attempt 4 of 10: got status 503)"
        );
    }
}
