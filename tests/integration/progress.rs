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

/// The JSON documents on stdout.
fn documents(output: &Output) -> Vec<Value> {
    serde_json::Deserializer::from_str(&output.stdout).into_iter::<Value>().map(|value| value.unwrap()).collect()
}

#[test]
fn json_durations_are_whole_milliseconds_named_duration_ms() {
    let server = HttpServer::start(&[(503, ""), (200, "ok")]);
    let workspace = checking(&server.url);
    let output = workspace.shipctl(&["run", "release.rhai", "--output", "json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let documents = documents(&output);
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
