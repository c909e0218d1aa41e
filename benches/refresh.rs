//! `plan --refresh` against systems that take a known time to answer: a repository and
//! three registries on loopback whose probes take 200, 300 and 400 ms, planned together,
//! against a plan that probes only the slowest. The probes of different systems are
//! asked at the same time, so the first should take little more than the second (the
//! issue asks for at most 1.2 times).
//!
//! `cargo bench --bench refresh`; divide the two times for the ratio.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use shipctl::effect::{Mode, Silent};
use shipctl::run::{RunRequest, execute};

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;

/// A registry on loopback answering every request after `delay`: the image `web:1`,
/// and no tag `production` yet. A promotion's probe makes two requests, so it takes
/// twice the delay.
struct SlowRegistry {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    host: String,
}

impl SlowRegistry {
    fn start(delay: Duration) -> SlowRegistry {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let host = format!("127.0.0.1:{}", server.server_addr().to_ip().expect("an IP address").port());
        let thread = std::thread::spawn({
            let server = Arc::clone(&server);
            move || {
                for request in server.incoming_requests() {
                    std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        let (status, body) =
                            if request.url().ends_with("/production") { (404, "") } else { (200, MANIFEST) };
                        let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
                    });
                }
            }
        });
        SlowRegistry { server, thread: Some(thread), host }
    }

    fn promotion(&self) -> String {
        format!("promote_image(#{{ from: \"{0}/web:1\", to: \"{0}/web:production\" }});\n", self.host)
    }
}

impl Drop for SlowRegistry {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A scripts root with the repository `app` (one commit) and `script`.
fn workspace(dir: &Path, script: &str) -> PathBuf {
    let repository = git2::Repository::init(dir.join("repos/app")).expect("git init");
    let signature = git2::Signature::now("bench", "bench@example.org").expect("a signature");
    let tree = repository.treebuilder(None).and_then(|builder| builder.write()).expect("an empty tree");
    let tree = repository.find_tree(tree).expect("the tree");
    repository.commit(Some("HEAD"), &signature, &signature, "first", &tree, &[]).expect("a commit");
    std::fs::write(dir.join("shipctl.toml"), "[repos.app]\npath = \"repos/app\"\n").expect("config");
    let path = dir.join("release.rhai");
    std::fs::write(&path, script).expect("script");
    path
}

fn refreshed_plan(script: &Path, effects: usize) {
    let mut request = RunRequest::new(script, "local", Mode::Plan);
    request.refresh = true;
    let report = execute(request, Box::new(Silent)).expect("plans");
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.effects.len(), effects);
    for effect in &report.effects {
        let summary = effect.result.as_ref().and_then(|result| result["summary"].as_str()).unwrap_or_default();
        assert!(!summary.starts_with("unknown"), "every probe answered: {summary}");
    }
}

fn probes_overlap(criterion: &mut Criterion) {
    let registries: Vec<SlowRegistry> = [100, 150, 200].map(|ms| SlowRegistry::start(Duration::from_millis(ms))).into();
    let tag = "tag(#{ repo: \"app\", name: \"1.0.0\", message: \"1.0.0\" });\n";
    let all: String = std::iter::once(tag.to_string()).chain(registries.iter().map(SlowRegistry::promotion)).collect();
    let (all_dir, slowest_dir) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let all = workspace(all_dir.path(), &all);
    let slowest = workspace(slowest_dir.path(), &registries[2].promotion());

    let mut group = criterion.benchmark_group("plan --refresh");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("a tag and three registries (probes of 200, 300, 400 ms)", |bencher| {
        bencher.iter(|| refreshed_plan(&all, 4))
    });
    group.bench_function("the slowest registry alone (400 ms)", |bencher| bencher.iter(|| refreshed_plan(&slowest, 1)));
    group.finish();
}

criterion_group!(benches, probes_overlap);
criterion_main!(benches);
