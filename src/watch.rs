//! `shipctl watch`: the plan of a script, redrawn whenever the script, a module it
//! imports or `shipctl.toml` changes. Directories are watched rather than files, so an
//! editor's atomic save (write a temporary file, rename it over the original) or a
//! delete-and-create is seen like an ordinary write. Changes are debounced: a burst of
//! events from one save gives one new plan.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::config::{FILE_NAME, Project};
use crate::effect::Silent;
use crate::engine::STD_PREFIX;
use crate::error::Error;
use crate::run::{RunReport, RunRequest, execute};

/// What to plan, and how quickly to react.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub request: RunRequest,
    /// Quiet time after the last event of a burst before planning again.
    pub debounce: Duration,
}

impl WatchOptions {
    pub fn new(request: RunRequest) -> Self {
        WatchOptions { request, debounce: Duration::from_millis(10) }
    }
}

/// One redraw: the plan, or why there is none; the files that changed to cause it.
pub struct Frame {
    pub result: Result<RunReport, Error>,
    /// Empty for the first frame.
    pub changed: Vec<PathBuf>,
    /// Files whose changes lead to a new frame.
    pub watched: Vec<PathBuf>,
    /// From the first event of the burst to the plan being ready.
    pub latency: Option<Duration>,
}

/// Plan, call `on_frame`, and again after every change, until `stop` is set.
pub fn watch(options: &WatchOptions, stop: &Arc<AtomicBool>, on_frame: &mut dyn FnMut(&Frame)) -> Result<(), Error> {
    let (sender, events) = channel();
    let mut watcher: RecommendedWatcher =
        notify::recommended_watcher(sender).map_err(|error| Error::Internal(format!("cannot watch files: {error}")))?;
    let mut directories: BTreeSet<PathBuf> = BTreeSet::new();
    let mut changed = Vec::new();
    let mut first_event: Option<Instant> = None;
    loop {
        let result = execute(options.request.clone(), Box::new(Silent));
        let watched = watched_files(&options.request.script, &result);
        for directory in watched.iter().filter_map(|file| file.parent()) {
            if directories.insert(directory.to_path_buf()) {
                watcher
                    .watch(directory, RecursiveMode::NonRecursive)
                    .map_err(|error| Error::Internal(format!("cannot watch {}: {error}", directory.display())))?;
            }
        }
        let latency = first_event.map(|instant| instant.elapsed());
        on_frame(&Frame { result, changed: std::mem::take(&mut changed), watched: watched.clone(), latency });
        match next_change(&events, &watched, options.debounce, stop) {
            Some((paths, first)) => {
                changed = paths;
                first_event = Some(first);
            }
            None => return Ok(()),
        }
    }
}

/// Wait for a change to a watched file, then for the burst to end. `None` once `stop`.
fn next_change(
    events: &Receiver<notify::Result<notify::Event>>,
    watched: &[PathBuf],
    debounce: Duration,
    stop: &Arc<AtomicBool>,
) -> Option<(Vec<PathBuf>, Instant)> {
    let relevant = |event: &notify::Event| -> Vec<PathBuf> {
        if event.kind.is_access() {
            return Vec::new();
        }
        event.paths.iter().filter(|path| watched.iter().any(|file| same_file(file, path))).cloned().collect()
    };
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut first = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let wait = if first.is_some() { debounce } else { Duration::from_millis(100) };
        match events.recv_timeout(wait) {
            Ok(Ok(event)) => {
                for path in relevant(&event) {
                    first.get_or_insert_with(Instant::now);
                    if !changed.contains(&path) {
                        changed.push(path);
                    }
                }
            }
            Ok(Err(error)) => tracing::warn!("file watch error: {error}"),
            Err(RecvTimeoutError::Timeout) => {
                if let Some(first) = first {
                    return Some((changed, first));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn same_file(watched: &Path, event: &Path) -> bool {
    watched == event
        || (watched.file_name() == event.file_name()
            && watched.parent().map(canonical) == event.parent().map(canonical))
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The script, every file module the last plan loaded (or the last refusal named), and
/// `shipctl.toml` (where it is, or where it would be found).
fn watched_files(script: &Path, result: &Result<RunReport, Error>) -> Vec<PathBuf> {
    let script = canonical(&crate::config::absolute(script));
    let project = Project::discover(&script).ok();
    let root =
        project.as_ref().map(|project| canonical(&project.root)).or_else(|| script.parent().map(Path::to_path_buf));
    let mut files = vec![script.clone()];
    match project.as_ref().and_then(|project| project.config_path.clone()) {
        Some(config) => files.push(canonical(&config)),
        None => files.extend(script.parent().map(|directory| directory.join(FILE_NAME))),
    }
    let sources = match result {
        Ok(report) => Some(&report.sources),
        Err(Error::Script { sources, .. }) => Some(sources),
        Err(_) => None,
    };
    if let (Some(sources), Some(root)) = (sources, root) {
        for name in sources.0.keys().filter(|name| !name.starts_with(STD_PREFIX)) {
            let path = root.join(name);
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    files
}
