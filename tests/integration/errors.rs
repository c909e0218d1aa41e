//! Bad input gets a clear error naming the file, line and column.

use shipctl::cli::output::render_script_error as render;
use shipctl::effect::Mode;
use shipctl::engine::ScriptErrorKind;
use shipctl::error::Error;
use shipctl::journal::RunStatus;

use crate::support::Workspace;

fn refusal(
    workspace: &Workspace,
    script: &str,
    params: &[(&str, &str)],
) -> (Vec<shipctl::engine::ScriptError>, shipctl::engine::Sources) {
    match workspace.execute(script, Mode::Plan, "local", params, None) {
        Err(Error::Script { errors, sources }) => (errors, sources),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "let x = 1;\nlet y = (;\n");
    let (errors, sources) = refusal(&workspace, "release.rhai", &[]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ScriptErrorKind::Syntax);
    assert!(errors[0].to_string().starts_with("release.rhai:2:10: syntax error"), "{}", errors[0]);
    insta::assert_snapshot!(render(&errors[0], &sources, false));
}

#[test]
fn a_typo_in_an_argument_is_found_before_anything_runs() {
    let workspace = Workspace::new();
    workspace.config("[notify.releases]\nkind = \"stdout\"\n");
    workspace.write(
        "release.rhai",
        "notify(#{ channel: \"releases\", text: \"first\" });\nlet v = \"1.0.0\";\ntag(#{ repo: \"app\", nmae: v, message: \"m\" });\n",
    );
    let (errors, sources) = refusal(&workspace, "release.rhai", &[]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].to_string(), "release.rhai:3:21: unknown argument \"nmae\" to tag; did you mean \"name\"?");
    insta::assert_snapshot!(render(&errors[0], &sources, false));
}

#[test]
fn a_typo_in_a_computed_argument_map_is_caught_at_the_call() {
    let workspace = Workspace::new();
    workspace
        .write("release.rhai", "let args = #{ url: \"http://127.0.0.1:9/\" };\nargs.retires = 3;\nhttp_check(args);\n");
    let report = workspace.plan("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap();
    assert_eq!(
        error.to_string(),
        "release.rhai:3:1: unknown argument \"retires\" to http_check; did you mean \"retries\"?"
    );
    assert!(report.effects.is_empty(), "no effect may run with bad arguments");
}

#[test]
fn a_missing_param_names_where_it_is_read_and_what_the_script_reads() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "let channel = param(\"channel\", \"releases\");\nlet v = param(\"version\");\n");
    let (errors, _) = refusal(&workspace, "release.rhai", &[("verison", "1.0.0")]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ScriptErrorKind::Usage);
    let message = errors[0].to_string();
    assert!(message.starts_with("release.rhai:2:9: missing param \"version\""), "{message}");
    assert!(message.contains("this script reads: channel, version"), "{message}");
    assert!(message.contains("--set verison was given, did you mean version?"), "{message}");
}

#[test]
fn a_wrong_type_names_the_argument_and_the_call() {
    let workspace = Workspace::new();
    workspace
        .write("release.rhai", "// health\n\n  http_check(#{ url: \"http://127.0.0.1:9/\", retries: \"many\" });\n");
    let report = workspace.plan("release.rhai", &[]);
    let error = report.error.expect("a type error");
    assert_eq!(
        error.to_string(),
        "release.rhai:3:3: argument \"retries\" to http_check: invalid type: a string \"many\", expected a whole number, 0 or more"
    );
}

#[test]
fn errors_in_modules_show_the_chain_of_calls() {
    let workspace = Workspace::new();
    workspace.write("lib/deploy.rhai", "fn deploy(version) {\n    fail(`cannot deploy ${version}`);\n}\n");
    workspace
        .write("release.rhai", "import \"lib/deploy\" as d;\nstep(\"Deploy\", || {\n    d::deploy(\"1.0.0\");\n});\n");
    let report = workspace.plan("release.rhai", &[]);
    let error = report.error.expect("fails");
    assert_eq!(error.to_string(), "lib/deploy.rhai:2:5: cannot deploy 1.0.0 (in step \"Deploy\")");
    assert_eq!(report.failed_step.as_deref(), Some("Deploy"));
    insta::assert_snapshot!(render(&error, &report.sources, false));
}

#[test]
fn a_syntax_error_in_a_module_names_the_module() {
    let workspace = Workspace::new();
    workspace.write("lib/broken.rhai", "fn ok() { 1 }\nfn broken( { }\n");
    workspace.write("release.rhai", "import \"lib/broken\" as b;\n");
    let (errors, _) = refusal(&workspace, "release.rhai", &[]);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].to_string().starts_with("lib/broken.rhai:2:"), "{}", errors[0]);
}

#[test]
fn a_typo_in_a_nested_config_table_is_refused_with_the_nearest_key() {
    let workspace = Workspace::new();
    workspace.config("[notify.releases]\nkind = \"stdout\"\n\n[databases.main]\nurl = \"postgres://db/main\"\n  pasword_secret = \"db\"\n");
    workspace.write("release.rhai", "1;\n");
    let output = workspace.shipctl(&["plan", "release.rhai", "-e", "local"]);
    assert_eq!(output.code, 2, "{output:?}");
    let shown = output.stderr.replace(&workspace.path().to_string_lossy().into_owned(), "[workspace]");
    let shown = shown.replace(&workspace.path().canonicalize().unwrap().to_string_lossy().into_owned(), "[workspace]");
    assert_eq!(
        shown,
        "error: unknown key `pasword_secret` in [databases.main]\n --> [workspace]/shipctl.toml:6:3\n  |\n6 |   pasword_secret = \"db\"\n  |   ^\nhelp: did you mean `password_secret`? `shipctl docs config` lists every key\n"
    );
}

#[test]
fn a_broken_config_names_its_line() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = \"lots\"\n");
    workspace.write("release.rhai", "1;\n");
    match workspace.execute("release.rhai", Mode::Plan, "local", &[], None) {
        Err(Error::Config(error)) => {
            let location = error.location.clone().expect("located");
            assert!(location.file.ends_with("shipctl.toml"));
            assert_eq!((location.line, location.column), (2, 18), "{error}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn an_unknown_environment_suggests_the_closest() {
    let workspace = Workspace::new();
    workspace.config("[environments.production]\nurl = \"x\"\n");
    workspace.write("release.rhai", "1;\n");
    match workspace.execute("release.rhai", Mode::Plan, "prodution", &[], None) {
        Err(Error::Config(error)) => {
            assert!(error.message.contains("unknown environment \"prodution\""), "{error}");
            assert!(error.help.unwrap().contains("did you mean --env production?"));
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn a_param_the_script_never_reads_is_refused() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "let replicas = param(\"replicas\", 2);\nlet v = param(\"version\");\n");
    match workspace.execute("release.rhai", Mode::Plan, "local", &[("version", "1"), ("replica", "5")], None) {
        Err(Error::Usage { message, .. }) => {
            assert_eq!(message, "--set replica: the script reads no param \"replica\"; did you mean replicas?")
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
    let report = workspace.plan("release.rhai", &[("version", "1"), ("replicas", "5")]);
    assert_eq!(report.status, RunStatus::Succeeded);
    // A param read by a computed name could be any: then nothing is refused.
    workspace.write("dynamic.rhai", "let name = \"rep\" + \"licas\";\nlet r = param(name, 1);\n");
    let report = workspace.plan("dynamic.rhai", &[("replicas", "5"), ("other", "x")]);
    assert_eq!(report.status, RunStatus::Succeeded);
}

#[test]
fn a_try_cannot_swallow_bad_arguments_but_can_handle_a_failed_effect() {
    let server = crate::support::HttpServer::start(&[(500, "down")]);
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write(
        "release.rhai",
        &format!(
            "try {{ http_check(#{{ url: \"{}/health\", retries: 0 }}); }} catch (e) {{ warn(`handled: ${{e}}`); }}\n\
             let channel = \"lgo\";\ntry {{ notify(#{{ channel: channel, text: \"x\" }}); }} catch (e) {{ print(\"swallowed\"); }}\n",
            server.url
        ),
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap();
    assert_eq!(error.kind, ScriptErrorKind::Arguments);
    assert!(error.to_string().starts_with("release.rhai:3:7: no notification channel \"lgo\""), "{error}");
    assert_eq!(error.help.as_deref(), Some("did you mean \"log\"?"));
    assert_eq!(report.effects.len(), 1, "the failed health check was handled; the bad channel was not");
}

/// `check` finds what a plan would stop at, each at its call, without running anything:
/// a misspelt function, a missing argument, a wrong literal type, an undeclared channel.
#[test]
fn check_is_as_strict_as_plan() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    let script = "step(\"Announce\", || {\n    notfy(#{ channel: \"log\", text: \"x\" });\n    \
                  notify(#{ channel: \"lgo\", text: \"x\" });\n    tag(#{ repo: \".\", message: \"m\" });\n    \
                  http_check(#{ url: \"http://127.0.0.1:9/\", retries: -1 });\n});\n";
    workspace.write("release.rhai", script);
    let output = workspace.shipctl(&["check", "release.rhai"]);
    assert_eq!(output.code, 3, "{}", output.stderr);
    let expected = [
        "error: unknown function notfy; did you mean notify?\n --> release.rhai:2:5",
        "error: no notification channel \"lgo\" in [notify] of shipctl.toml\n --> release.rhai:3:15",
        "help: did you mean \"log\"?",
        "error: missing argument \"name\" to tag\n --> release.rhai:4:5",
        "error: argument \"retries\" to http_check: invalid value: a whole number `-1`, expected a whole number, 0 or more",
    ];
    for text in expected {
        assert!(output.stderr.contains(text), "{text}\n---\n{}", output.stderr);
    }
    assert!(!output.stderr.contains("Announce\", ||\n  |"), "{}", output.stderr);
    // The plan refuses the same script before its first effect.
    let output = workspace.shipctl(&["plan", "release.rhai"]);
    assert_eq!(output.code, 3, "{}", output.stderr);
    assert!(output.stderr.contains("did you mean notify?"), "{}", output.stderr);
}

/// A call the gate refuses inside a step is shown at the call, not at `step(`.
#[test]
fn a_refused_call_inside_a_step_points_at_the_call() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    let script = "let channel = \"lg\" + \"o\";\nstep(\"Announce\", || {\n    let text = \"x\";\n    \
                  notify(#{ channel: channel, text: text });\n});\n";
    workspace.write("release.rhai", script);
    let report = workspace.plan("release.rhai", &[]);
    let error = report.error.expect("an unknown channel");
    assert_eq!(error.to_string(), "release.rhai:4:5: no notification channel \"lgo\" (in step \"Announce\")");
}

#[test]
fn an_error_after_multibyte_text_and_with_escapes_in_its_message_prints_safely_under_its_place() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "let u = \"ü→é\"; fail(\"\\x1b[2J\\x1b]0;owned\\x07gone\");\n");
    let report = workspace.plan("release.rhai", &[]);
    let error = report.error.expect("fails");
    assert!(error.message.contains('\u{1b}'), "the script's text reaches the error as written: {error:?}");
    let shown = render(&error, &report.sources, false);
    assert!(!shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{shown:?}");
    assert!(shown.starts_with("error: \\u{1b}[2J\\u{1b}]0;owned\\u{7}gone\n --> release.rhai:1:16\n"), "{shown}");
    assert!(shown.contains("1 | let u = \"ü→é\"; fail(") && shown.contains("\n  |                ^\n"), "{shown}");
}
