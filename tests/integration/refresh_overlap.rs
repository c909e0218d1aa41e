//! `plan --refresh` asks the probes of different systems at the same time: slow
//! registries on loopback (each answering after a fixed delay) are asked once each, all
//! at once; an effect whose arguments a refreshed answer changed is asked inline and
//! gets its own answer; a probe the plan no longer needs is cut short, not waited for.

use std::time::{Duration, Instant};

use serde_json::Value;
use shipctl::effect::Mode;
use shipctl::run::{RunReport, RunRequest, execute};

use crate::support::{HttpServer, Recorder, Workspace};

/// An image manifest: what a registry answers to a manifest GET.
const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;

/// The delay of each answer: a promotion's probe makes two requests (the source's
/// manifest, then the target tag's digest), so it takes twice this.
const DELAY: Duration = Duration::from_millis(300);

/// A registry with the source image and no target tag yet, each answer after `DELAY`.
fn slow_registry() -> HttpServer {
    HttpServer::start_with_delays(&[(200, MANIFEST, DELAY), (404, "", DELAY)])
}

/// `host:port` of a server on loopback.
fn host(server: &HttpServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

fn promote(from: &str, to: &str) -> String {
    format!("promote_image(#{{ from: \"{from}\", to: \"{to}\" }});\n")
}

fn refreshed_plan(workspace: &Workspace, script: &str) -> RunReport {
    let mut request = RunRequest::new(workspace.path().join(script), "local", Mode::Plan);
    request.refresh = true;
    execute(request, Box::new(Recorder::default())).expect("the plan runs")
}

/// A refreshed plan of a script that promotes `web:1` to `web:production` in each
/// registry, and how long it took; it must end without an error.
fn promote_in_each(registries: &[HttpServer]) -> (RunReport, Duration) {
    let workspace = Workspace::new();
    let script: String = registries
        .iter()
        .map(|registry| promote(&format!("{}/web:1", host(registry)), &format!("{}/web:production", host(registry))))
        .collect();
    workspace.write("release.rhai", &script);
    let started = Instant::now();
    let report = refreshed_plan(&workspace, "release.rhai");
    let took = started.elapsed();
    assert!(report.error.is_none(), "{:?}", report.error);
    (report, took)
}

fn results(report: &RunReport) -> Vec<Value> {
    report.effects.iter().map(|effect| effect.result.clone().unwrap_or(Value::Null)).collect()
}

#[test]
fn probes_of_different_registries_overlap() {
    let registries = [slow_registry(), slow_registry(), slow_registry()];
    let (report, took) = promote_in_each(&registries);
    for result in results(&report) {
        let summary = result["summary"].as_str().unwrap_or_default();
        assert!(summary.starts_with("web:production  (new) -> sha256:"), "each registry answered: {summary}");
    }
    for registry in &registries {
        let paths: Vec<String> = registry.requests().iter().map(|request| request.path.clone()).collect();
        assert_eq!(paths, ["/v2/web/manifests/1", "/v2/web/manifests/production"], "asked once each");
    }
    // One after the other they take 3 x 600 ms; at once, about 600 ms.
    assert!(took >= 2 * DELAY, "the probes were asked: {took:?}");
    assert!(took < Duration::from_millis(1400), "three 600 ms probes took {took:?}");
}

#[test]
fn an_effect_a_refreshed_answer_changed_is_asked_inline() {
    // Registry `first` already has the target tag on the source's manifest: unchanged
    // with --refresh, changed without. The second call's tag follows that answer.
    let first = HttpServer::start_with_delays(&[(200, MANIFEST, Duration::ZERO)]);
    let second = HttpServer::start_with_delays(&[(200, MANIFEST, Duration::ZERO)]);
    let workspace = Workspace::new();
    let (a, b) = (host(&first), host(&second));
    workspace.write(
        "release.rhai",
        &format!(
            "let first = promote_image(#{{ from: \"{a}/web:1\", to: \"{a}/web:production\" }});\n\
             let tag = if first.changed {{ \"changed\" }} else {{ \"unchanged\" }};\n\
             promote_image(#{{ from: `{b}/web:${{tag}}`, to: \"{b}/web:production\" }});\n"
        ),
    );

    let report = refreshed_plan(&workspace, "release.rhai");

    assert!(report.error.is_none(), "{:?}", report.error);
    let results = results(&report);
    assert_eq!(results[0]["changed"], false, "{results:?}");
    assert_eq!(results[1]["from"], format!("{b}/web:unchanged"), "{results:?}");
    assert!(results[1]["summary"].as_str().unwrap_or_default().ends_with("(already)"), "{results:?}");
    let asked: Vec<String> = second.requests().iter().map(|request| request.path.clone()).collect();
    assert!(asked.contains(&"/v2/web/manifests/unchanged".to_string()), "the effect asked itself: {asked:?}");
}

#[test]
fn a_probe_the_plan_no_longer_needs_is_cut_short() {
    // Without --refresh the script would promote from `stuck`, which answers after a
    // minute; with it, the answer of `first` sends it to `quick`. The plan ends without
    // waiting for the minute (or the run's deadline).
    // `first` is slow enough that the prefetch has asked `stuck` before the plan ends.
    let first = HttpServer::start_with_delays(&[(200, MANIFEST, DELAY)]);
    let stuck = HttpServer::start_with_delays(&[(200, MANIFEST, Duration::from_secs(60))]);
    let quick = HttpServer::start_with_delays(&[(200, MANIFEST, Duration::ZERO)]);
    let workspace = Workspace::new();
    let (a, s, q) = (host(&first), host(&stuck), host(&quick));
    workspace.write(
        "release.rhai",
        &format!(
            "let first = promote_image(#{{ from: \"{a}/web:1\", to: \"{a}/web:production\" }});\n\
             let registry = if first.changed {{ \"{s}\" }} else {{ \"{q}\" }};\n\
             promote_image(#{{ from: `${{registry}}/web:1`, to: `${{registry}}/web:production` }});\n"
        ),
    );

    let started = Instant::now();
    let report = refreshed_plan(&workspace, "release.rhai");
    let took = started.elapsed();

    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(results(&report)[1]["from"], format!("{q}/web:1"));
    assert_eq!(stuck.requests().len(), 1, "the prefetch asked the registry the plan did not need");
    assert!(took < Duration::from_secs(10), "the plan waited for a probe it did not need: {took:?}");
}

#[test]
fn a_script_that_probes_many_systems_asks_at_most_eight_at_once() {
    // Twenty registries, each probe 300 ms (three requests of 100 ms: the target tag is
    // there, so its manifest is read to hash it). All at once they would end in about
    // 300 ms; eight threads and the script's own inline probe need at least three rounds.
    let registries: Vec<HttpServer> =
        (0..20).map(|_| HttpServer::start_with_delays(&[(200, MANIFEST, Duration::from_millis(100))])).collect();
    let (report, took) = promote_in_each(&registries);
    for result in results(&report) {
        let summary = result["summary"].as_str().unwrap_or_default();
        assert!(summary.ends_with("(already)"), "each registry answered: {summary}");
    }
    for registry in &registries {
        assert_eq!(registry.requests().len(), 3, "each probe asked once");
    }
    assert!(took >= Duration::from_millis(800), "more than nine probes were asked at once: {took:?}");
    assert!(took < Duration::from_secs(4), "twenty 300 ms probes took {took:?}");
}

#[test]
fn many_probes_of_one_real_registry_at_once_are_all_answered() {
    // Eight threads and the script share one HTTP client: a registry served many
    // connections at once answers each probe as it would one at a time.
    let registry = crate::registry::Registry::start();
    let mut script = String::new();
    let mut digests = Vec::new();
    for index in 0..12 {
        let repository = format!("app/web{index}");
        digests.push(registry.push_image(&repository, "1", crate::registry::OCI_MANIFEST, &format!("layer {index}")));
        script.push_str(&promote(&registry.image(&repository, "1"), &registry.image(&repository, "production")));
    }
    let workspace = Workspace::new();
    workspace.write("release.rhai", &script);

    let report = refreshed_plan(&workspace, "release.rhai");

    assert!(report.error.is_none(), "{:?}", report.error);
    for (result, digest) in results(&report).iter().zip(&digests) {
        assert_eq!(&result["digest"], digest, "{result}");
        assert_eq!(result["previous"], "", "{result}");
    }
    assert_eq!(registry.digest("app/web0", "production"), None, "a plan writes nothing");
}

#[test]
fn the_same_probe_twice_is_asked_twice() {
    // As without the prefetch, each effect gets a probe of its own: two promotions with
    // the same arguments ask the registry twice (three requests each: the target tag is
    // there, so its manifest is read to hash it).
    let registry = HttpServer::start_with_delays(&[(200, MANIFEST, Duration::ZERO)]);
    let workspace = Workspace::new();
    let line = promote(&format!("{}/web:1", host(&registry)), &format!("{}/web:production", host(&registry)));
    workspace.write("release.rhai", &format!("{line}{line}"));

    let report = refreshed_plan(&workspace, "release.rhai");

    assert!(report.error.is_none(), "{:?}", report.error);
    let results = results(&report);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|result| result["changed"] == false), "{results:?}");
    assert_eq!(registry.requests().len(), 6, "{:?}", registry.requests());
}
