//! `shipctl watch`: time from saving the script to the new plan being ready, on a copy
//! of the bundled Catalogue release. Goal: under 50 ms.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use shipctl::effect::Mode;
use shipctl::run::RunRequest;
use shipctl::watch::{WatchOptions, watch};

fn save_to_plan(criterion: &mut Criterion) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(manifest.join("shipctl.toml"), dir.path().join("shipctl.toml")).unwrap();
    std::fs::create_dir_all(dir.path().join("scripts/catalogue")).unwrap();
    let script = dir.path().join("scripts/catalogue/release.rhai");
    let original = std::fs::read_to_string(manifest.join("scripts/catalogue/release.rhai")).unwrap();
    std::fs::write(&script, &original).unwrap();

    let request = RunRequest::new(&script, "production", Mode::Plan).param("version", "1.4.0");
    let options = WatchOptions::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, frames) = channel::<String>();
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut send = |frame: &shipctl::watch::Frame| {
                let last = frame
                    .result
                    .as_ref()
                    .ok()
                    .and_then(|report| report.effects.iter().rfind(|effect| !effect.compensation));
                let _ = sender.send(last.map(|effect| effect.args["text"].to_string()).unwrap_or_default());
            };
            watch(&options, &stop, &mut send).unwrap();
        })
    };
    frames.recv_timeout(Duration::from_secs(10)).expect("the first plan");

    let mut generation = 0u64;
    criterion.bench_function("watch: save the Catalogue release to new plan ready", |bencher| {
        bencher.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                generation += 1;
                let marker = format!("is live (build {generation})");
                let changed = original.replace("\"is live\"", &format!("\"{marker}\""));
                let saved = Instant::now();
                std::fs::write(&script, &changed).unwrap();
                loop {
                    let text = frames.recv_timeout(Duration::from_secs(10)).expect("a new plan");
                    if text.contains(&marker) {
                        break;
                    }
                }
                total += saved.elapsed();
            }
            total
        })
    });
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = save_to_plan
}
criterion_main!(benches);
