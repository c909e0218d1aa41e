//! How soon `wait_healthy` notices a finished rollout: the latency from the moment the
//! Kubernetes API stand-in marks a Deployment available (its status write) to
//! `wait_healthy` returning. The design's goal is under 50 ms; a watch, not a poll, is
//! what makes it a few milliseconds.
//!
//! `cargo bench --bench kube`; the number goes in the closing notes.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kube_standin::{Behaviour, Options, Standin};
use serde_json::json;
use shipctl::config::Project;
use shipctl::effect::Silent;
use shipctl::effect::{EffectContext, Mode, Primitive};
use shipctl::primitives::wait_healthy::{WaitHealthy, WaitHealthyParams};

fn deployment(image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "bench" },
        "spec": {
            "replicas": 3,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "web", "image": image }] },
            },
        },
    })
}

fn wait_healthy_latency(criterion: &mut Criterion) {
    let mut options = Options { verbose: false, namespaces: vec!["bench".to_string()], ..Options::default() };
    options.knobs.behaviour = Behaviour::HealthyAfter(Duration::from_millis(30));
    options.knobs.observe_delay = Duration::from_millis(5);
    let standin = Standin::start_with(options).expect("the stand-in starts");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shipctl.toml"),
        format!("[environments.bench]\nkubeconfig = \"{}\"\nnamespace = \"bench\"\n", standin.kubeconfig().display()),
    )
    .unwrap();
    let project = Project::discover(dir.path()).unwrap();
    let environment = project.environment("bench").unwrap();
    let context = EffectContext::new(
        Mode::Run,
        false,
        project,
        "bench".to_string(),
        environment,
        "bench".to_string(),
        "bench.rhai".to_string(),
        Box::new(Silent),
    );
    let params: WaitHealthyParams = serde_json::from_value(json!({ "deployment": "web", "timeout": "30s" })).unwrap();
    let mut version = 0u64;
    let rollout = |image: String| {
        standin.put(deployment(&image)).unwrap();
        let result = WaitHealthy.live(&params, &context).expect("healthy");
        let returned = Instant::now();
        let (generation, marked) = standin.available_at("deployments", "bench", "web").expect("marked");
        assert_eq!(generation, result.generation, "the wait returned for the rollout it waited on");
        returned.duration_since(marked)
    };
    rollout("web:0".to_string());

    let mut group = criterion.benchmark_group("wait_healthy");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("from the stand-in marking a Deployment available to wait_healthy returning", |bencher| {
        bencher.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    version += 1;
                    rollout(format!("web:{version}"))
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, wait_healthy_latency);
criterion_main!(benches);
