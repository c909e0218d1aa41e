//! Output off a terminal: a line when each effect starts, `still waiting` lines while a
//! long one runs, `--output json` as one JSON event a line, and durations in whole
//! milliseconds everywhere in JSON output.

use serde_json::Value;

use crate::support::{HttpServer, Output, Workspace};

/// A workspace whose `release.rhai` checks `url` with 5 attempts 300 ms apart, then
/// once more.
fn checking(url: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write(
        "release.rhai",
        &format!(
            "step(\"Check\", || {{\n  http_check(#{{ url: \"{url}/health\", retries: 5, interval: \"300ms\" }});\n}});\nhttp_check(#{{ url: \"{url}/ready\" }});\n"
        ),
    );
    workspace
}

/// Every key named `duration` anywhere in `value`, with its path.
fn float_durations(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "duration" || (key.ends_with("duration_ms") && !inner.is_u64()) {
                    found.push(format!("{path}.{key} = {inner}"));
                }
                float_durations(inner, &format!("{path}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                float_durations(inner, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn json_durations_are_whole_milliseconds_named_duration_ms() {
    let server = HttpServer::start(&[(503, ""), (200, "ok")]);
    let workspace = checking(&server.url);
    let output = workspace.shipctl(&["run", "release.rhai", "--output", "json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let documents = events(&output);
    assert!(!documents.is_empty(), "{output:?}");
    let mut found = Vec::new();
    for document in &documents {
        float_durations(document, "", &mut found);
    }
    assert!(found.is_empty(), "durations not in whole milliseconds: {found:?}");
    let report = documents.last().unwrap();
    let effects = report["effects"].as_array().unwrap();
    assert_eq!(effects.len(), 2, "{report:#}");
    assert!(effects.iter().all(|effect| effect["duration_ms"].is_u64()), "{report:#}");
    assert!(effects[0]["duration_ms"].as_u64().unwrap() >= 300, "a retry waited 300 ms: {report:#}");
    let history = workspace.shipctl(&["history", "--output", "json"]);
    let runs: Value = serde_json::from_str(&history.stdout).unwrap();
    let mut found = Vec::new();
    float_durations(&runs, "", &mut found);
    assert!(found.is_empty() && runs[0]["duration_ms"].is_u64(), "{runs:#}");
}

#[test]
fn off_a_terminal_each_effect_has_a_start_line_and_a_long_one_still_waiting_lines() {
    let server = HttpServer::start(&[(503, ""), (503, ""), (503, ""), (503, ""), (200, "ok")]);
    let workspace = checking(&server.url);
    let output = workspace.shipctl(&["run", "release.rhai", "--progress-interval", "1s"]);
    assert_eq!(output.code, 0, "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().map(str::trim).collect();
    let health = format!("http_check interval=\"300ms\" retries=5 url=\"{}/health\"", server.url);
    let started = lines.iter().position(|line| *line == format!("→ {health}")).expect(&output.stdout);
    let finished = lines.iter().position(|line| line.starts_with(&format!("✓ {health}"))).expect(&output.stdout);
    let waiting: Vec<&&str> =
        lines[started..finished].iter().filter(|line| line.starts_with("still waiting:")).collect();
    assert!(!waiting.is_empty(), "no still waiting line in {}", output.stdout);
    let prefix = format!("still waiting: {health} (1.0s, attempt ");
    assert!(waiting[0].starts_with(&prefix), "{}", waiting[0]);
    assert!(waiting[0].contains(" of 6: got status 503"), "{}", waiting[0]);
    assert!(lines.contains(&format!("→ http_check url=\"{}/ready\"", server.url).as_str()), "{}", output.stdout);
    assert!(lines[finished..].iter().all(|line| !line.starts_with("still waiting:")), "{}", output.stdout);
}

#[test]
fn a_progress_interval_outside_one_second_to_an_hour_is_refused() {
    let workspace = checking("http://127.0.0.1:9");
    for hostile in ["0", "10ms", "2h", "-1s", "forever", "99999999999999999999"] {
        let output = workspace.shipctl(&["run", "release.rhai", &format!("--progress-interval={hostile}")]);
        assert_eq!(output.code, 2, "{hostile}: {output:?}");
        assert!(output.stderr.contains("--progress-interval"), "{hostile}: {}", output.stderr);
        assert!(workspace.journals().is_empty(), "{hostile}: nothing may run");
    }
}

#[test]
fn start_and_still_waiting_lines_hold_no_secret() {
    const TOKEN: &str = "Zq81kPw0vN3xR7tY5sLm";
    let server = HttpServer::start(&[(503, ""), (503, ""), (503, ""), (503, ""), (200, "ok")]);
    let workspace = checking(&format!("{}/{TOKEN}", server.url));
    workspace.config("[secrets.token]\nfile = \"secrets/token\"\n");
    workspace.write("secrets/token", TOKEN);
    let output = workspace.shipctl(&["run", "release.rhai", "--progress-interval", "1s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains(TOKEN) && !output.stderr.contains(TOKEN), "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().map(str::trim).collect();
    let redacted = format!("{}/[redacted:token]/health", server.url);
    assert!(lines.iter().any(|line| line.starts_with("→ ") && line.contains(&redacted)), "{}", output.stdout);
    assert!(
        lines.iter().any(|line| line.starts_with("still waiting: ") && line.contains(&redacted)),
        "{}",
        output.stdout
    );
}

/// Each line of stdout as JSON; every one must parse and carry `schema: 1`.
fn events(output: &Output) -> Vec<Value> {
    let mut events = Vec::new();
    for line in output.stdout.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:?}"));
        assert_eq!(event["schema"], 1, "{line}");
        assert!(event["event"].is_string(), "{line}");
        events.push(event);
    }
    events
}

fn names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|event| event["event"].as_str().unwrap()).collect()
}

#[test]
fn output_json_is_one_event_a_line_as_it_happens_ending_with_run_finished() {
    let server = HttpServer::start(&[(503, ""), (503, ""), (200, "ok")]);
    let workspace = checking(&server.url);
    let output = workspace.shipctl(&["run", "release.rhai", "--output", "json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let run = events(&output);
    assert_eq!(
        names(&run),
        [
            "run_started",
            "step_started",
            "effect_started",
            "effect_progress",
            "effect_progress",
            "effect_finished",
            "step_finished",
            "effect_started",
            "effect_finished",
            "run_finished"
        ],
        "{}",
        output.stdout
    );
    assert_eq!(run[2]["seq"], 1);
    assert_eq!(run[2]["kind"], "http_check");
    assert_eq!(run[2]["args"]["url"], format!("{}/health", server.url));
    assert!(run[3]["message"].as_str().unwrap().starts_with("attempt 1 of 6: got status 503"), "{}", run[3]);
    assert_eq!((run[4]["seq"].clone(), run[5]["ok"].clone()), (1.into(), true.into()));
    assert_eq!(run[5]["result"]["attempts"], 3);
    let finished = run.last().unwrap();
    let run_id = run[0]["run_id"].as_str().unwrap();
    assert_eq!((finished["run_id"].as_str(), finished["status"].as_str()), (Some(run_id), Some("succeeded")));
    assert_eq!(finished["effects"].as_array().unwrap().len(), 2);
    assert!(finished["duration_ms"].as_u64().unwrap() >= 600, "{finished}");

    let replay = workspace.shipctl(&["replay", run_id, "--output", "json"]);
    assert_eq!(replay.code, 0, "{replay:?}");
    let replayed = events(&replay);
    assert_eq!(replayed.last().unwrap()["event"], "run_finished", "{}", replay.stdout);
    assert_eq!(replayed.last().unwrap()["mode"], "replay");
    let finished_effects: Vec<&Value> = replayed.iter().filter(|event| event["event"] == "effect_finished").collect();
    assert_eq!(finished_effects.len(), 2);
    assert!(finished_effects.iter().all(|event| event["replayed_from"] == run_id), "{}", replay.stdout);
}

#[test]
fn a_failed_run_and_its_resume_speak_json_to_the_end() {
    let server = HttpServer::start(&[(503, "")]);
    let workspace = checking(&server.url);
    let output = workspace.shipctl(&["run", "release.rhai", "--output", "json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let failed = events(&output);
    assert_eq!(names(&failed).last(), Some(&"run_finished"));
    let finished = failed.last().unwrap();
    assert_eq!(finished["status"], "failed");
    assert!(output.stderr.contains("http_check failed"), "the error is on stderr: {}", output.stderr);
    let run_id = finished["run_id"].as_str().unwrap();
    let resumed = workspace.shipctl(&["resume", run_id, "--output", "json"]);
    let resumed_events = events(&resumed);
    assert_eq!(names(&resumed_events).last(), Some(&"run_finished"), "{resumed:?}");
    let mut found = Vec::new();
    for event in failed.iter().chain(&resumed_events) {
        float_durations(event, "", &mut found);
    }
    assert!(found.is_empty(), "{found:?}");
}
