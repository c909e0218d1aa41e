//! What a release engineer feels: `shipctl plan` of the bundled release (engine build,
//! compile, plan), the host's overhead per effect in plan mode, and the cost of a
//! journaled live effect (one fsync per record).
//!
//! `cargo bench`; the numbers go in the closing notes.

use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shipctl::effect::Mode;
use shipctl::effect::Silent;
use shipctl::run::{RunRequest, execute};

const EFFECTS: u64 = 10_000;

fn plan_bundled_release(criterion: &mut Criterion) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/catalogue/release.rhai");
    criterion.bench_function("plan the Catalogue release (config, engine, compile, plan)", |bencher| {
        bencher.iter(|| {
            let request = RunRequest::new(&script, "production", Mode::Plan).param("version", "1.4.0");
            let report = execute(request, Box::new(Silent)).expect("plans");
            assert_eq!(report.effects.len(), 11);
        })
    });
}

fn workspace(script: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shipctl.toml"), "[notify.null]\nkind = \"stdout\"\n").unwrap();
    let path = dir.path().join("bench.rhai");
    std::fs::write(&path, script).unwrap();
    (dir, path)
}

fn per_effect_in_plan_mode(criterion: &mut Criterion) {
    // The same loop with and without the effect: the difference is the host's work.
    let (_effects_dir, effects) =
        workspace(&format!("for i in 0..{EFFECTS} {{\n    notify(#{{ channel: \"null\", text: `n ${{i}}` }});\n}}\n"));
    let (_baseline_dir, baseline) = workspace(&format!(
        "for i in 0..{EFFECTS} {{\n    let args = #{{ channel: \"null\", text: `n ${{i}}` }};\n}}\n"
    ));
    let mut group = criterion.benchmark_group("10k effects in plan mode");
    group.throughput(Throughput::Elements(EFFECTS));
    group.sample_size(20);
    group.bench_function("notify x 10k", |bencher| {
        bencher.iter(|| {
            let report = execute(RunRequest::new(&effects, "local", Mode::Plan), Box::new(Silent)).unwrap();
            assert_eq!(report.effects.len() as u64, EFFECTS);
        })
    });
    group.bench_function("the same loop without effects", |bencher| {
        bencher.iter(|| execute(RunRequest::new(&baseline, "local", Mode::Plan), Box::new(Silent)).unwrap())
    });
    group.finish();
}

fn journaled_live_effects(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("100 journaled live effects");
    group.throughput(Throughput::Elements(100));
    group.sample_size(10);
    group.bench_function("now() x 100, run mode", |bencher| {
        bencher.iter_batched(
            || workspace("for i in 0..100 {\n    now();\n}\n"),
            |(_dir, script)| {
                let report = execute(RunRequest::new(&script, "local", Mode::Run), Box::new(Silent)).unwrap();
                assert_eq!(report.effects.len(), 100);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, plan_bundled_release, per_effect_in_plan_mode, journaled_live_effects);
criterion_main!(benches);
