//! Hostile tests for secrets: every attempt makes a secret reach something that leaves
//! the host (an error, a progress line, a cut excerpt, a journal, another server, a
//! script reading its own error) and asserts the value appears nowhere.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use shipctl::effect::Mode;
use shipctl::journal::RunStatus;
use shipctl::run::{RunRequest, execute};

use crate::fake_tool::FakeTool;
use crate::support::{HttpServer, Output, Recorder, Workspace};

/// The secret part of every webhook URL here: a token in the query string.
const TOKEN: &str = "Zq81xPw0ddKLm29Qv7";
const ENV_VARIABLE: &str = "SHIPCTL_HOSTILE_HOOK";

fn hook_url(server: &HttpServer) -> String {
    format!("{}/hooks/in?token={TOKEN}", server.url)
}

/// `[notify.<channel>]` posting to the URL in secret `secret`, no retries unless asked.
fn channel(channel: &str, secret: &str, retries: u32) -> String {
    format!(
        "[notify.{channel}]\nkind = \"webhook\"\nurl_secret = \"{secret}\"\nretries = {retries}\nbackoff = \"10ms\"\ntimeout = \"2s\"\n\n"
    )
}

/// A workspace whose `releases` channel posts to `server`, the URL in a file secret.
fn file_workspace(server: &HttpServer, retries: u32) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &format!("{}\n", hook_url(server)));
    workspace.config(&format!("[secrets.hook]\nfile = \"secrets/hook\"\n\n{}", channel("releases", "hook", retries)));
    workspace
}

/// Every journal the workspace holds, as one text.
fn journals(workspace: &Workspace) -> String {
    workspace.journals().iter().map(|path| std::fs::read_to_string(path).unwrap()).collect::<Vec<_>>().join("\n")
}

/// `needle` is in none of the texts that left the host.
fn assert_nowhere(needle: &str, output: &Output, workspace: &Workspace) {
    assert!(!output.stdout.contains(needle), "{needle:?} in stdout:\n{}", output.stdout);
    assert!(!output.stderr.contains(needle), "{needle:?} in stderr:\n{}", output.stderr);
    let journal = journals(workspace);
    assert!(!journal.contains(needle), "{needle:?} in the journal:\n{journal}");
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[((group >> (18 - 6 * index)) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Run `release.rhai` with the binary, the hook URL also in the environment.
fn run_binary(workspace: &Workspace, server: &HttpServer) -> Output {
    workspace.shipctl_with_env(&["run", "release.rhai"], &[(ENV_VARIABLE, &hook_url(server))])
}

const NOTIFY: &str = "notify(#{ channel: \"releases\", text: \"1.0.0 is live\" });\n";

#[test]
fn a_token_from_an_environment_secret_echoed_alone_is_redacted() {
    let server = HttpServer::start(&[(404, &format!("unknown token {TOKEN}"))]);
    let workspace = Workspace::new();
    workspace.config(&format!("[secrets.hook]\nenv = \"{ENV_VARIABLE}\"\n\n{}", channel("releases", "hook", 0)));
    workspace.write("release.rhai", NOTIFY);
    let output = run_binary(&workspace, &server);
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(server.requests().len(), 1, "the delivery was attempted");
    assert!(output.stderr.contains("unknown token [redacted:hook]"), "the excerpt is kept, redacted: {output:?}");
    assert_nowhere(TOKEN, &output, &workspace);
}

#[test]
fn a_url_encoded_echo_is_redacted() {
    let server = HttpServer::start(&[(404, "placeholder")]);
    let url = hook_url(&server);
    let encoded = utf8_percent_encode(&url, NON_ALPHANUMERIC).to_string();
    let every_byte: String = TOKEN.bytes().map(|byte| format!("%{byte:02x}")).collect();
    let query = format!("token%3d{every_byte}");
    let body = format!("no hook {encoded}; query {query}");
    let server = HttpServer::start(&[(404, &body)]);
    let workspace = file_workspace(&server, 0);
    workspace.write("release.rhai", NOTIFY);
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("no hook"), "{output:?}");
    for needle in [TOKEN, &encoded, &query, "ddKLm29"] {
        assert_nowhere(needle, &output, &workspace);
    }
}

#[test]
fn a_base64_echo_is_redacted_at_any_offset() {
    let server = HttpServer::start(&[(404, "placeholder")]);
    let url = hook_url(&server);
    let whole = base64(url.as_bytes());
    let shifted = base64(format!("x-hook: {TOKEN}").as_bytes());
    let url_safe = base64(format!("t={TOKEN}").as_bytes()).replace('+', "-").replace('/', "_");
    let body = format!("echo {whole} {shifted} {url_safe}");
    let server = HttpServer::start(&[(400, &body)]);
    let workspace = file_workspace(&server, 0);
    workspace.write("release.rhai", NOTIFY);
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("[redacted:hook]"), "{output:?}");
    let plain_core = &base64(TOKEN.as_bytes())[..20];
    for needle in [TOKEN, whole.as_str(), shifted.as_str(), url_safe.as_str(), plain_core] {
        assert_nowhere(needle, &output, &workspace);
    }
}

#[test]
fn a_cut_excerpt_never_holds_the_beginning_of_a_secret() {
    // The notify error quotes the first 500 characters of the body: the token starts
    // five characters before the cut.
    let body = format!("{}token {TOKEN} and then some more text", "e".repeat(500 - 6 - 5));
    let server = HttpServer::start(&[(400, &body)]);
    let workspace = file_workspace(&server, 0);
    workspace.write("release.rhai", NOTIFY);
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("eeeee"), "the excerpt is there: {output:?}");
    assert_nowhere(&TOKEN[..5], &output, &workspace);
}

#[test]
fn a_retrys_progress_lines_hold_no_secret() {
    // The receiver echoes the whole URL in its 503 page: every retry reports it.
    let server = HttpServer::start(&[(503, "busy: {url}/hooks/in?token=PLACEHOLDER")]);
    let workspace = file_workspace(&server, 2);
    let echo = format!("busy: {}", hook_url(&server));
    drop(server);
    let server = HttpServer::start(&[(503, &echo)]);
    workspace.write("secrets/hook", &format!("{}\n", hook_url(&server)));
    workspace.write("release.rhai", NOTIFY);
    let recorder = Recorder::default();
    let request = RunRequest::new(workspace.path().join("release.rhai"), "local", Mode::Run);
    let report = execute(request, Box::new(recorder.clone())).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 3);
    let lines = recorder.lines.lock().unwrap().clone();
    let progress: Vec<&String> = lines.iter().filter(|line| line.starts_with("progress ")).collect();
    assert_eq!(progress.len(), 2, "{lines:#?}");
    assert!(progress[0].contains("[redacted:hook]"), "{progress:?}");
    for line in &lines {
        assert!(!line.contains(TOKEN), "{line}");
    }
    let error = report.error.unwrap().to_string();
    assert!(!error.contains(TOKEN), "{error}");
    assert!(!journals(&workspace).contains(TOKEN));
}

#[test]
fn a_script_that_catches_a_failed_notify_cannot_send_the_secret_on() {
    let hook = HttpServer::start(&[(404, "placeholder")]);
    let echo = format!("no such hook {}", hook_url(&hook));
    drop(hook);
    let hook = HttpServer::start(&[(404, &echo)]);
    let audit = HttpServer::start(&[(200, "ok")]);
    let workspace = Workspace::new();
    workspace.write("secrets/hook", &hook_url(&hook));
    workspace.write("secrets/audit", &format!("{}/audit/Kd93jfH2kq0zPq", audit.url));
    workspace.config(&format!(
        "[secrets.hook]\nfile = \"secrets/hook\"\n\n[secrets.audit]\nfile = \"secrets/audit\"\n\n{}{}",
        channel("releases", "hook", 0),
        channel("audit", "audit", 0)
    ));
    workspace.write(
        "release.rhai",
        r#"try {
    notify(#{ channel: "releases", text: "hi" });
} catch (error) {
    print(`caught: ${error}`);
    log(`caught: ${error}`);
    notify(#{ channel: "audit", text: `${error}`, fields: #{ error: `${error}` } });
    throw `still failing: ${error}`;
}
"#,
    );
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("caught:") || output.stderr.contains("caught:"), "{output:?}");
    let received = audit.requests();
    assert_eq!(received.len(), 1, "the script forwarded the error");
    assert!(received[0].body.contains("[redacted:hook]"), "{}", received[0].body);
    assert!(!received[0].body.contains(TOKEN), "the audit server got the token: {}", received[0].body);
    assert_nowhere(TOKEN, &output, &workspace);
}

/// A workspace whose secret `token` lives in `file`, with `content`.
fn secret_file_workspace(file: &str, content: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write(file, content);
    workspace.config(&format!("[secrets.token]\nfile = \"{file}\"\n"));
    workspace
}

const VALUE: &str = "hunter2-Zq81xPw0dd";

#[test]
fn a_secret_file_cannot_be_imported_as_a_module() {
    // Valid Rhai: imported, it would export the value to the script.
    let workspace = secret_file_workspace("secrets/token.rhai", &format!("let value = \"{VALUE}\";\n"));
    workspace.write("release.rhai", "import \"secrets/token\" as t;\nprint(t::value);\n");
    for command in ["run", "plan", "check"] {
        let output = workspace.shipctl(&[command, "release.rhai"]);
        assert_ne!(output.code, 0, "{command}: {output:?}");
        assert!(output.stderr.contains("holds the secret \"token\""), "{command}: {output:?}");
        assert_nowhere(VALUE, &output, &workspace);
        assert_nowhere("hunter2", &output, &workspace);
    }
}

#[test]
fn a_syntax_error_in_an_imported_secret_file_quotes_nothing_of_it() {
    // Not Rhai: compiling it would fail with a message quoting its line.
    let workspace = secret_file_workspace("secrets/key.txt", &format!("{VALUE} is {VALUE}!\n"));
    workspace.write(
        "release.rhai",
        "try {\n    import \"scripts/../secrets/key.txt\" as k;\n} catch (error) {\n    print(`caught ${error}`);\n}\n",
    );
    workspace.write("scripts/.keep", "");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_ne!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("holds the secret \"token\""), "{output:?}");
    assert_nowhere("hunter2", &output, &workspace);
}

#[test]
fn a_secret_file_cannot_be_run_checked_or_tested_as_a_script() {
    let workspace = secret_file_workspace("secrets/token.rhai", &format!("{VALUE} not rhai\n"));
    for args in [
        vec!["run", "secrets/token.rhai"],
        vec!["plan", "secrets/token.rhai"],
        vec!["check", "secrets/token.rhai"],
        vec!["test", "secrets/token.rhai"],
    ] {
        let output = workspace.shipctl(&args);
        assert_ne!(output.code, 0, "{args:?}: {output:?}");
        assert!(
            output.stderr.contains("holds the secret") || output.stdout.contains("holds the secret"),
            "{args:?}: {output:?}"
        );
        assert_nowhere("hunter2", &output, &workspace);
    }
}

#[test]
fn a_secret_file_reached_through_a_symlink_is_refused_too() {
    let workspace = secret_file_workspace("secrets/token.txt", &format!("{VALUE}\n"));
    std::os::unix::fs::symlink(workspace.path().join("secrets/token.txt"), workspace.path().join("innocent.rhai"))
        .unwrap();
    workspace.write("release.rhai", "import \"innocent\" as i;\n");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_ne!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("holds the secret \"token\""), "{output:?}");
    assert_nowhere("hunter2", &output, &workspace);
    let output = workspace.shipctl(&["run", "innocent.rhai"]);
    assert_ne!(output.code, 0, "{output:?}");
    assert_nowhere("hunter2", &output, &workspace);
}

/// A loopback server that answers every request with status 200 and a body that
/// never ends (a gigabyte announced), written as fast as the client reads it.
fn endless_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
                let chunk = vec![b'x'; 64 * 1024];
                while stream.write_all(&chunk).is_ok() {}
            });
        }
    });
    url
}

#[test]
fn a_registry_cannot_make_shipctl_hold_an_endless_manifest() {
    let url = endless_server();
    let host = url.trim_start_matches("http://").to_string();
    let workspace = Workspace::new();
    workspace.write(
        "promote.rhai",
        &format!("promote_image(#{{ from: \"{host}/staging/web:1.0.0\", to: \"{host}/production/web:1.0.0\" }});\n"),
    );
    let report = workspace.run("promote.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.effects[0].error.clone().unwrap_or_default();
    assert!(error.contains("is larger than 4 MiB"), "{error}");
}

/// A loopback server whose body arrives in two writes, `first` then `second`.
fn split_server(first: &'static str, second: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Some(Ok(mut stream)) = listener.incoming().next() {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", first.len() + second.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(first.as_bytes());
            let _ = stream.flush();
            std::thread::sleep(Duration::from_millis(200));
            let _ = stream.write_all(second.as_bytes());
        }
    });
    url
}

#[test]
fn a_huge_body_is_read_only_up_to_the_cap() {
    let url = endless_server();
    let workspace = Workspace::new();
    workspace.write(
        "check.rhai",
        &format!(
            "http_check(#{{ url: \"{url}/health\", contains: \"never-there\", retries: 0, timeout: \"60s\" }});\n"
        ),
    );
    let report = workspace.run("check.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().to_string();
    assert!(error.contains("in the first 1 MiB of the body"), "{error}");
}

#[test]
fn contains_finds_a_needle_split_across_chunks() {
    let url = split_server("status: all-sy", "stems-go and more");
    let workspace = Workspace::new();
    workspace.write(
        "check.rhai",
        &format!("http_check(#{{ url: \"{url}/health\", contains: \"all-systems-go\", retries: 0 }});\n"),
    );
    let report = workspace.run("check.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
}

#[test]
fn a_registry_echoing_basic_auth_leaks_neither_password_nor_its_base64() {
    const PASSWORD: &str = "reg1stry-Pa55word";
    let basic = base64(format!("ci:{PASSWORD}").as_bytes());
    let body = format!(
        "{{\"errors\":[{{\"code\":\"UNKNOWN\",\"message\":\"header Basic {basic} for ci:{PASSWORD} is broken\"}}]}}"
    );
    let server = HttpServer::start(&[(500, &body)]);
    let host = server.url.trim_start_matches("http://").to_string();
    let workspace = Workspace::new();
    workspace.write("secrets/registry", &format!("{PASSWORD}\n"));
    workspace.config(&format!(
        "[secrets.registry]\nfile = \"secrets/registry\"\n\n[registries.\"{host}\"]\nusername = \"ci\"\npassword_secret = \"registry\"\n"
    ));
    workspace.write(
        "promote.rhai",
        &format!("promote_image(#{{ from: \"{host}/staging/web:1.0.0\", to: \"{host}/production/web:1.0.0\" }});\n"),
    );
    let output = workspace.shipctl(&["run", "promote.rhai"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("UNKNOWN"), "the registry's message is quoted: {output:?}");
    for needle in [PASSWORD, basic.as_str(), &basic[4..16]] {
        assert_nowhere(needle, &output, &workspace);
    }
}

#[test]
fn helms_stderr_is_redacted_before_its_tail_is_cut() {
    // helm fails with a long stderr that ends with a declared secret: the tail kept
    // would start in the middle of it.
    let workspace = Workspace::new();
    let filler = "w".repeat(4000 - 10);
    let tool = FakeTool::new(
        &workspace.path().join("tools"),
        "helm",
        &format!("status) printf '%s' 'Error: {TOKEN}{filler}' >&2; exit 1;;"),
    );
    workspace.write("secrets/token", &format!("{TOKEN}\n"));
    workspace
        .config(&format!("[secrets.token]\nfile = \"secrets/token\"\n\n[helm]\nbin = \"{}\"\n", tool.path.display()));
    workspace
        .write("release.rhai", "helm_upgrade(#{ release: \"web\", chart: \"charts/web\", namespace: \"web\" });\n");
    workspace.write("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_ne!(output.code, 0, "{output:?}");
    assert_eq!(tool.calls().len(), 1, "helm ran: {output:?}");
    assert!(tool.saw("status"), "{:?}", tool.calls());
    assert!(output.stderr.contains("wwww"), "the tail is quoted: {output:?}");
    assert_nowhere(&TOKEN[TOKEN.len() - 6..], &output, &workspace);
}

#[test]
fn a_print_of_a_declared_secret_before_any_primitive_used_it_is_redacted() {
    // No primitive asks for the secret, yet a script that somehow holds its value
    // (here: a parameter) cannot print, log or send it: every declared secret is known
    // to the redactor from the start.
    let workspace = Workspace::new();
    let tool = FakeTool::helm(&workspace.path().join("tools"));
    workspace.write("secrets/token", &format!("{TOKEN}\n"));
    workspace
        .config(&format!("[secrets.token]\nfile = \"secrets/token\"\n\n[helm]\nbin = \"{}\"\n", tool.path.display()));
    workspace.write("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
    workspace.write(
        "release.rhai",
        "let leaked = param(\"value\");\nprint(`value ${leaked}`);\nstep(leaked, || {\n    helm_upgrade(#{ release: \"web\", chart: \"charts/web\", namespace: \"web\", set: #{ note: leaked } });\n});\nthrow leaked;\n",
    );
    let output = workspace.shipctl(&["run", "release.rhai", "--set", &format!("value={TOKEN}")]);
    assert_ne!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("value [redacted:token]"), "{output:?}");
    assert!(tool.saw("upgrade"), "helm ran: {:?}", tool.calls());
    assert_nowhere(TOKEN, &output, &workspace);
}

/// A scripts root whose database `main` takes its password from secret `db` (written
/// as `password`, with `extra` lines under `[secrets.db]`), and whose pg_dump fails
/// with exit status 2.
fn failing_dump_workspace(password: &str, extra: &str) -> (Workspace, FakeTool) {
    let workspace = Workspace::new();
    let tools = workspace.path().join("tools");
    let dump = FakeTool::new(&tools, "pg_dump", "*) echo 'pg_dump: error: connection refused' >&2; exit 2;;");
    FakeTool::new(&tools, "psql", "*) echo 4096; exit 0;;");
    workspace.write("secrets/db", &format!("{password}\n"));
    workspace.config(&format!(
        "[secrets.db]\nfile = \"secrets/db\"\n{extra}\n[databases.main]\nurl = \"postgres://app@127.0.0.1:9/main\"\n\
         password_secret = \"db\"\n\n[backups]\npg_bin = \"{}\"\n\n[environments.production]\nprotected = true\n",
        tools.display()
    ));
    workspace.write("release.rhai", "backup(#{ postgres: \"main\" });\n");
    (workspace, dump)
}

#[test]
fn a_one_character_secret_is_refused_before_the_first_effect_instead_of_garbling_output() {
    // Before: the run went on, pg_dump failed, and every `x` of the output was
    // replaced: "pg_dump failed for database main (e[redacted:db]it status 2)".
    let (workspace, dump) = failing_dump_workspace("x", "");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(!output.stderr.contains("[redacted:db]"), "{output:?}");
    assert!(output.stderr.contains("database \"main\": secret \"db\" ([secrets.db] in shipctl.toml) is too short"));
    assert!(output.stderr.contains("has 1 character"), "{output:?}");
    assert!(output.stderr.contains("set `redact = false` under [secrets.db]"), "{output:?}");
    assert!(dump.calls().is_empty(), "no effect ran: {:?}", dump.calls());
    assert!(workspace.journals().is_empty(), "no run started");
    // plan and check report it with the other needs, as warnings.
    for command in ["plan", "check"] {
        let output = workspace.shipctl(&[command, "release.rhai"]);
        assert_eq!(output.code, 0, "{command}: {output:?}");
        assert!(output.stderr.contains("the live run would stop"), "{command}: {output:?}");
        assert!(output.stderr.contains("secret \"db\" ([secrets.db] in shipctl.toml) is too short"), "{output:?}");
    }
}

#[test]
fn a_short_secret_marked_not_redacted_runs_and_its_output_stays_whole() {
    let (workspace, dump) = failing_dump_workspace("x", "redact = false\n");
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 1, "the effect failed, nothing was refused: {output:?}");
    assert_eq!(dump.calls().len(), 1, "{output:?}");
    assert!(output.stderr.contains("(exit status 2)"), "{output:?}");
    assert!(!output.stderr.contains("[redacted"), "{output:?}");
    assert!(!journals(&workspace).contains("[redacted"), "the journal is whole too");
}

#[test]
fn a_short_secret_no_call_names_is_refused_at_its_table() {
    let (workspace, dump) = failing_dump_workspace("long-enough-password", "");
    workspace.write("secrets/spare", "        \n");
    let config = std::fs::read_to_string(workspace.path().join("shipctl.toml")).unwrap();
    workspace.config(&format!("{config}\n[secrets.spare]\nfile = \"secrets/spare\"\n"));
    let output = workspace.shipctl(&["run", "release.rhai"]);
    assert_eq!(output.code, 2, "{output:?}");
    let line = config.lines().count() + 2;
    let expected = format!("shipctl.toml:{line}:1: secret \"spare\" ([secrets.spare] in shipctl.toml) is too short");
    assert!(output.stderr.contains(&expected), "{expected}\n{output:?}");
    assert!(output.stderr.contains("has 0 characters"), "{output:?}");
    assert!(dump.calls().is_empty());
}

#[test]
fn a_protected_environment_refuses_a_secret_shown_in_output() {
    let (workspace, dump) = failing_dump_workspace("x", "redact = false\n");
    let output = workspace.shipctl(&["run", "release.rhai", "--env", "production"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains(
            "database \"main\": secret \"db\" has redact = false, and environment \"production\" is protected"
        ),
        "{output:?}"
    );
    assert!(dump.calls().is_empty());
    // A secret the script's calls do not name cannot be judged before the run: a warning.
    let (workspace, _dump) = failing_dump_workspace("long-enough-password", "");
    workspace.write("secrets/test", "t\n");
    let config = std::fs::read_to_string(workspace.path().join("shipctl.toml")).unwrap();
    workspace.config(&format!("{config}\n[secrets.test]\nfile = \"secrets/test\"\nredact = false\n"));
    let output = workspace.shipctl(&["plan", "release.rhai", "--env", "production"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("secret \"test\" has redact = false and environment \"production\" is protected"));
}
