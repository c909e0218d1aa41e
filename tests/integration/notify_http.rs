//! `notify` and `http_check` against real HTTP servers on loopback.

use shipctl::journal::RunStatus;

use crate::support::{HttpServer, Workspace};

const SECRET_PATH: &str = "/hooks/T0KEN-9f3a-SECRET";

/// A workspace whose `releases` channel posts to `server` with the URL as a file secret.
fn workspace(server: &HttpServer, kind: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &format!("{}{SECRET_PATH}\n", server.url));
    workspace.config(&format!(
        "[secrets.hook]\nfile = \"secrets/hook\"\n\n[notify.releases]\nkind = \"{kind}\"\nurl_secret = \"hook\"\nretries = 3\nbackoff = \"10ms\"\ntimeout = \"2s\"\n"
    ));
    workspace
}

#[test]
fn notify_retries_server_errors_then_delivers() {
    let server = HttpServer::start(&[(503, "busy"), (503, "busy"), (200, "ok")]);
    let workspace = workspace(&server, "webhook");
    workspace.write(
        "release.rhai",
        "notify(#{ channel: \"releases\", text: \"1.0.0 is live\", fields: #{ version: \"1.0.0\" } });\n",
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let result = report.effects[0].result.clone().unwrap();
    assert_eq!(result["attempts"], 3);
    assert_eq!(result["status"], 200);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|request| request.method == "POST" && request.path == SECRET_PATH));
    let body: serde_json::Value = serde_json::from_str(&requests[2].body).unwrap();
    assert_eq!(body["text"], "1.0.0 is live");
    assert_eq!(body["fields"]["version"], "1.0.0");
    assert_eq!(body["run_id"], report.run_id);
}

#[test]
fn notify_fails_at_once_on_a_client_error_with_the_body() {
    let server = HttpServer::start(&[(400, "invalid_payload")]);
    let workspace = workspace(&server, "slack");
    workspace.write("release.rhai", "notify(#{ channel: \"releases\", text: \"hello\" });\n");
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 1, "a 4xx is not retried");
    let error = report.error.unwrap().message;
    assert!(error.contains("400") && error.contains("invalid_payload"), "{error}");
}

#[test]
fn slack_payloads_carry_text_and_fields() {
    let server = HttpServer::start(&[(200, "ok")]);
    let workspace = workspace(&server, "slack");
    workspace.write(
        "release.rhai",
        "notify(#{ channel: \"releases\", text: \"deployed\", fields: #{ env: \"prod\", replicas: 3 } });\n",
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let body: serde_json::Value = serde_json::from_str(&server.requests()[0].body).unwrap();
    assert_eq!(body["text"], "deployed");
    let fields = body["attachments"][0]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[1]["title"], "replicas");
    assert_eq!(fields[1]["value"], "3");
}

#[test]
fn the_webhook_secret_never_reaches_the_journal_or_the_output() {
    // The receiver echoes the URL, and the path alone, in its error body.
    let echo = format!("no hook at {{url}}{SECRET_PATH} (path {SECRET_PATH})");
    let server = HttpServer::start(&[(404, echo.as_str())]);
    let workspace = workspace(&server, "webhook");
    workspace.write("release.rhai", "notify(#{ channel: \"releases\", text: \"hi\" });\n");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(server.requests().len(), 1);
    let journal = std::fs::read_to_string(&workspace.journals()[0]).unwrap();
    for text in [&journal, &output.stdout, &output.stderr] {
        assert!(!text.contains("T0KEN-9f3a-SECRET"), "secret leaked: {text}");
    }
    assert!(journal.contains("[redacted:hook]"), "the echoed URL is redacted, not dropped: {journal}");
}

#[test]
fn notify_to_stdout_prints_the_message() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", "notify(#{ channel: \"log\", text: \"hello from the script\" });\n");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("[log] hello from the script"), "{}", output.stdout);
}

#[test]
fn an_unknown_channel_suggests_the_closest() {
    let workspace = Workspace::new();
    workspace.config("[notify.releases]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", "notify(#{ channel: \"relases\", text: \"x\" });\n");
    let report = workspace.plan("release.rhai", &[]);
    let error = report.error.unwrap();
    assert!(error.message.contains("no notification channel \"relases\""), "{error}");
    assert_eq!(error.help.as_deref(), Some("did you mean \"releases\"?"));
}

#[test]
fn http_check_retries_until_the_expected_answer() {
    let server = HttpServer::start(&[(503, "starting"), (200, "warming up"), (200, "status: ok")]);
    let workspace = Workspace::new();
    workspace.write(
        "release.rhai",
        &format!(
            "let r = http_check(#{{ url: \"{}/health\", contains: \"ok\", retries: 5, interval: \"10ms\" }});\n",
            server.url
        ),
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let result = report.effects[0].result.clone().unwrap();
    assert_eq!(result["attempts"], 3);
    assert_eq!(result["status"], 200);
    assert!(result["latency_ms"].is_u64());
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn http_check_gives_up_naming_the_last_answer() {
    let server = HttpServer::start(&[(500, "down")]);
    let workspace = Workspace::new();
    workspace.write(
        "release.rhai",
        &format!("http_check(#{{ url: \"{}/health\", retries: 2, interval: \"10ms\" }});\n", server.url),
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().message;
    assert!(error.contains("expected status 200, got status 500"), "{error}");
    assert!(error.contains("after 3 attempts"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn http_check_reports_a_refused_connection() {
    let server = HttpServer::start(&[(200, "")]);
    let url = server.url.clone();
    drop(server);
    let workspace = Workspace::new();
    workspace.write("release.rhai", &format!("http_check(#{{ url: \"{url}/\", retries: 1, interval: \"10ms\" }});\n"));
    let report = workspace.run("release.rhai", &[]);
    let error = report.error.expect("nobody listens").message;
    assert!(error.contains("connection refused"), "{error}");
    assert!(!error.contains("error sending request"), "{error}");
    assert!(error.contains("after 2 attempts"), "{error}");
}

#[test]
fn http_check_names_one_attempt_and_a_dns_failure() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "http_check(#{ url: \"http://shipctl-missing.invalid/\", retries: 0 });\n");
    let report = workspace.run("release.rhai", &[]);
    let error = report.error.expect("the name does not resolve").message;
    assert!(error.contains("DNS name not found"), "{error}");
    assert!(error.ends_with("after 1 attempt"), "{error}");
}

#[test]
fn notify_says_why_a_webhook_was_not_reached_without_its_secret_url() {
    let server = HttpServer::start(&[(200, "ok")]);
    let workspace = workspace(&server, "webhook");
    drop(server);
    workspace.write("release.rhai", "notify(#{ channel: \"releases\", text: \"hello\" });\n");
    let report = workspace.run("release.rhai", &[]);
    let error = report.error.expect("nobody listens").message;
    assert!(error.contains("connection refused"), "{error}");
    assert!(error.contains("after 4 attempts"), "{error}");
    assert!(!error.contains("T0KEN"), "{error}");
}
