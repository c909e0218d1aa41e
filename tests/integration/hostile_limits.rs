//! Hostile scripts against the sandbox's limits: nesting that would overflow the
//! parser's or the evaluator's stack, limits turned off or set past what the stack
//! holds, limit errors hidden in callbacks, operations spent in imported modules, many
//! compensations, captured values and log output that would exhaust memory. Each must
//! end with a clean error (never a crash of the process), through the library and, for
//! the parser, through the binary.

use shipctl::effect::Mode;
use shipctl::engine::ScriptErrorKind;
use shipctl::error::Error;
use shipctl::journal::{Record, RunStatus};

use crate::fake_tool::FakeTool;
use crate::support::{Output, Workspace};

const DEEP: usize = 100_000;

/// `open` DEEP times, then `middle`, then `close` DEEP times.
fn nested(open: &str, middle: &str, close: &str) -> String {
    format!("let x = {}{middle}{};\n", open.repeat(DEEP), close.repeat(DEEP))
}

/// The binary ended by itself (no signal) with `code`, saying `needle` somewhere.
fn assert_clean_exit(output: &Output, code: i32, needle: &str) {
    assert_eq!(output.code, code, "{output:?}");
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(text.contains(needle), "expected {needle:?} in {output:?}");
    assert!(!text.contains("overflowed its stack"), "{output:?}");
}

fn failed_plan(workspace: &Workspace, script: &str) -> shipctl::engine::ScriptError {
    let report = workspace.plan(script, &[]);
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    report.error.expect("an error")
}

#[test]
fn check_refuses_parentheses_nested_100000_deep() {
    let workspace = Workspace::new();
    workspace.write("deep.rhai", &nested("(", "1", ")"));
    assert_clean_exit(&workspace.shipctl(&["check", "deep.rhai"]), 3, "deep.rhai:1");
}

#[test]
fn check_refuses_arrays_nested_100000_deep() {
    let workspace = Workspace::new();
    workspace.write("deep.rhai", &nested("[", "1", "]"));
    assert_clean_exit(&workspace.shipctl(&["check", "deep.rhai"]), 3, "deep.rhai:1");
}

#[test]
fn check_refuses_object_maps_nested_100000_deep() {
    let workspace = Workspace::new();
    workspace.write("deep.rhai", &nested("#{a:", "1", "}"));
    assert_clean_exit(&workspace.shipctl(&["check", "deep.rhai"]), 3, "deep.rhai:1");
}

#[test]
fn plan_refuses_deep_nesting_in_a_function_body_and_in_an_imported_module() {
    let workspace = Workspace::new();
    let body = format!("fn f() {{ {}1{} }}\n", "(".repeat(DEEP), ")".repeat(DEEP));
    workspace.write("lib/deep.rhai", &body);
    workspace.write("main.rhai", "import \"lib/deep\" as deep;\nlog(\"never\");\n");
    let output = workspace.shipctl(&["plan", "main.rhai"]);
    assert_clean_exit(&output, 3, "lib/deep.rhai:1");
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(!text.contains("never"), "{output:?}");
}

#[test]
fn test_files_nested_100000_deep_are_refused_cleanly() {
    let workspace = Workspace::new();
    workspace.write("deep.test.rhai", &nested("[", "1", "]"));
    let output = workspace.shipctl(&["test", "deep.test.rhai"]);
    assert!(output.code > 0 && output.code < 64, "a signal or an internal error: {output:?}");
    assert!(format!("{}{}", output.stdout, output.stderr).contains("deep.test.rhai:1"), "{output:?}");
}

#[test]
fn zero_never_turns_a_limit_off() {
    for key in ["max_call_levels", "max_expr_depth", "max_operations", "max_modules", "max_log_bytes"] {
        let workspace = Workspace::new();
        workspace.config(&format!("[limits]\nmax_string_size = 1000\n{key} = 0\n"));
        workspace.write("loop.rhai", "loop { }\n");
        // `plan` refuses the config (usage, 2); `check` reports it as the script's error (3).
        let output = workspace.shipctl(&["plan", "loop.rhai"]);
        assert_clean_exit(&output, 2, "shipctl.toml:3");
        assert!(output.stderr.contains(&format!("{key} = 0")), "{output:?}");
        let output = workspace.shipctl(&["check", "loop.rhai"]);
        assert_clean_exit(&output, 3, "shipctl.toml:3");
        assert!(output.stderr.contains(&format!("{key} = 0")), "{output:?}");
    }
}

#[test]
fn a_depth_over_what_the_stack_holds_is_a_config_error_naming_the_maximum() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_expr_depth = 100000\n");
    workspace.write("deep.rhai", &nested("(", "1", ")"));
    let output = workspace.shipctl(&["plan", "deep.rhai"]);
    assert_clean_exit(&output, 2, "max_expr_depth = 100000");
    assert!(output.stderr.contains("shipctl.toml:2"), "{output:?}");
    assert!(output.stderr.contains("the maximum is 1000"), "{output:?}");
    match workspace.execute("deep.rhai", Mode::Plan, "local", &[], None) {
        Err(Error::Config(error)) => assert!(error.message.contains("max_expr_depth"), "{error}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn the_largest_allowed_depths_still_end_in_a_clean_error() {
    let workspace = Workspace::new();
    workspace.config(
        "[limits]\nmax_call_levels = 500\nmax_expr_depth = 1000\nmax_function_expr_depth = 250\n\
         max_operations = 50_000_000\ndeadline = \"60s\"\n",
    );
    // The parser at its deepest: a clean syntax error.
    workspace.write("deep.rhai", &nested("(", "1", ")"));
    assert_clean_exit(&workspace.shipctl(&["check", "deep.rhai"]), 3, "deep.rhai:1");
    // Plain calls at their deepest fit the stack: the call-depth limit ends them.
    workspace.write("plain.rhai", "fn down(n) {\n    down(n + 1)\n}\ndown(0);\n");
    let error = failed_plan(&workspace, "plain.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("deeper than 500 levels"), "{error}");
    // Calls at their deepest, each inside an expression nested 100 deep: together more
    // than the stack holds; the stack guard stops it.
    let script = format!("fn down(n) {{\n    {}down(n + 1){}\n}}\ndown(0);\n", "(n + ".repeat(100), ")".repeat(100));
    workspace.write("recurse.rhai", &script);
    let error = failed_plan(&workspace, "recurse.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("nests too deeply") || error.message.contains("deeper than 500 levels"), "{error}");
}

#[test]
fn a_chain_of_imports_counts_against_max_modules() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_modules = 3\n");
    for (name, next) in [("a", Some("b")), ("b", Some("c")), ("c", Some("d")), ("d", None)] {
        let text = match next {
            Some(next) => format!("import \"{next}\" as {next};\nexport const NAME = \"{name}\";\n"),
            None => "export const NAME = \"d\";\n".to_string(),
        };
        workspace.write(&format!("{name}.rhai"), &text);
    }
    // Literal imports: the preflight follows the chain and refuses it before the run.
    workspace.write("main.rhai", "import \"a\" as a;\nlog(a::NAME);\n");
    match workspace.execute("main.rhai", Mode::Plan, "local", &[], None) {
        Err(Error::Script { errors, .. }) => {
            assert!(errors.iter().any(|error| error.message.contains("more than 3 modules")), "{errors:?}")
        }
        other => panic!("expected the chain to be refused, got {other:?}"),
    }
    // A computed import is resolved at run time, where each module starts a fresh count
    // in the engine: the resolver counts the chain.
    workspace.write(
        "computed.rhai",
        "try {\n    let first = \"a\";\n    import first as a;\n} catch (e) {\n    log(\"caught\");\n}\nlog(\"went on\");\n",
    );
    let error = failed_plan(&workspace, "computed.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("more than 3 modules"), "{error}");
}

#[test]
fn test_files_cannot_overflow_the_stack_with_deep_calls_in_deep_expressions() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_call_levels = 500\nmax_function_expr_depth = 250\nmax_operations = 50_000_000\n");
    let script = format!(
        "fn down(n) {{\n    {}down(n + 1){}\n}}\ntest(\"deep\", || down(0));\n",
        "(n + ".repeat(100),
        ")".repeat(100)
    );
    workspace.write("deep.test.rhai", &script);
    let output = workspace.shipctl(&["test", "deep.test.rhai"]);
    assert!(output.code > 0 && output.code < 64, "a signal or an internal error: {output:?}");
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(text.contains("nests too deeply") || text.contains("deeper than 500 levels"), "{output:?}");
}

#[test]
fn operations_spent_while_importing_count_against_the_run() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 40_000\n");
    let burn = "let n = 0;\nwhile n < 5000 {\n    n += 1;\n}\n";
    workspace.write("burn.rhai", &format!("{burn}export const DONE = true;\n"));
    workspace.write("main.rhai", &format!("import \"burn\" as burn;\n{burn}log(\"finished\");\n"));
    // Each part alone stays under the limit: 5000 rounds take about 20,000 operations.
    let alone = Workspace::new();
    alone.config("[limits]\nmax_operations = 40_000\n");
    alone.write("main.rhai", &format!("{burn}log(\"finished\");\n"));
    assert_eq!(alone.plan("main.rhai", &[]).status, RunStatus::Succeeded);
    let error = failed_plan(&workspace, "main.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("more than 40000 operations"), "{error}");
}

#[test]
fn a_limit_passed_inside_a_sort_comparator_ends_the_run() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 30_000\n");
    // Rhai's sort swallows the comparator's errors; the sort is the last statement, so
    // nothing after it would notice.
    workspace.write(
        "sort.rhai",
        "let a = [];\nfor i in 0..200 {\n    a.push(200 - i);\n}\n\
         a.sort(|x, y| {\n    let n = 0;\n    while n < 100 {\n        n += 1;\n    }\n    x - y\n});\n",
    );
    let error = failed_plan(&workspace, "sort.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("more than 30000 operations"), "{error}");
}

#[test]
fn the_deadline_stops_a_map_closure_even_inside_try() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 1_000_000_000\ndeadline = \"1s\"\n");
    workspace.write(
        "spin.rhai",
        "try {\n    [1, 2, 3].map(|x| {\n        loop { }\n    });\n} catch (e) {\n    log(`caught ${e}`);\n}\n\
         [1].filter(|x| { loop { } });\n",
    );
    let report = workspace.plan("spin.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    let error = report.error.expect("an error");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("deadline passed"), "{error}");
}

#[test]
fn many_quick_compensations_end_at_the_compensation_deadline() {
    let workspace = Workspace::new();
    workspace
        .config("[limits]\nmax_operations = 1_000_000_000\ndeadline = \"60s\"\ncompensation_deadline = \"300ms\"\n");
    workspace.write(
        "undo.rhai",
        "for i in 0..100000 {\n    on_failure(|| {\n        let n = 0;\n        while n < 20 {\n            n += 1;\n        }\n    });\n}\n\
         fail(\"deploy broke\");\n",
    );
    let report = workspace.plan("undo.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    assert_eq!(report.compensations.len(), 100_000);
    let stopped = report
        .compensations
        .iter()
        .filter(|compensation| compensation.error.as_deref().is_some_and(|error| error.contains("deadline passed")))
        .count();
    assert!(stopped > 0, "no compensation was stopped by the deadline");
}

#[test]
fn twenty_thousand_compensations_share_one_unchanged_capture() {
    let workspace = Workspace::new();
    // 20,000 copies of a 2,000-item list would be 640 MB of snapshots; one is 32 KB.
    workspace.config("[limits]\nmax_captured_bytes = 1_000_000\n");
    workspace.write(
        "share.rhai",
        "let big = [];\nfor i in 0..2000 {\n    big.push(i);\n}\n\
         for i in 0..20000 {\n    on_failure(|| big.len() + i);\n}\n\
         let last = [];\nfor i in 0..3 {\n    last.push(i);\n    on_failure(|| log(`undo ${i} of ${last.len()}`));\n}\n\
         fail(\"deploy broke\");\n",
    );
    let report = workspace.run("share.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    assert_eq!(report.error.as_ref().map(|error| error.message.as_str()), Some("deploy broke"));
    assert_eq!(report.compensations.len(), 20_003);
    assert!(
        report.compensations.iter().all(|compensation| compensation.error.is_none()),
        "{:?}",
        report.compensations[0]
    );
    // Each compensation still sees its values as they were when it was registered.
    let logs: Vec<String> = workspace
        .journal(&report)
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Log(log) => Some(log.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logs, ["undo 2 of 3", "undo 1 of 2", "undo 0 of 1"]);
}

#[test]
fn captures_that_change_every_time_hit_max_captured_bytes() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_captured_bytes = 1_000_000\n");
    workspace.write(
        "grow.rhai",
        "let big = [];\nfor i in 0..2000 {\n    big.push(i);\n}\n\
         try {\n    for i in 0..20000 {\n        big[0] = i;\n        on_failure(|| big.len());\n    }\n} catch (e) {\n    log(\"caught\");\n}\n\
         log(\"went on\");\n",
    );
    let error = failed_plan(&workspace, "grow.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("max_captured_bytes"), "{error}");
}

#[test]
fn log_output_past_max_log_bytes_is_dropped_and_counted_once() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_log_bytes = 1000\n");
    // 2,000 lines of 100 bytes: 10 are kept, 199,000 bytes dropped.
    workspace.write("chatty.rhai", "let line = \"x\";\nline.pad(100, \"x\");\nfor i in 0..2000 {\n    log(line);\n}\n");
    let report = workspace.run("chatty.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let logs: Vec<String> = workspace
        .journal(&report)
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Log(log) => Some(log.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), 11, "{logs:?}");
    let dropped: Vec<&String> = logs.iter().filter(|line| line.contains("dropped")).collect();
    assert_eq!(dropped.len(), 1, "{logs:?}");
    assert!(dropped[0].contains("199000 bytes"), "{logs:?}");
    assert!(dropped[0].contains("max_log_bytes = 1000"), "{logs:?}");
}

#[test]
fn a_deadline_swallowed_by_a_sort_comparator_still_stops_the_next_primitive() {
    let workspace = Workspace::new();
    let helm = FakeTool::helm(&workspace.path().join("bin"));
    workspace.config(&format!(
        "[limits]\nmax_operations = 1_000_000_000\ndeadline = \"1s\"\n\n[helm]\nbin = \"{}\"\n",
        helm.path.display()
    ));
    workspace.write("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
    // Each comparator call is stopped by the deadline and sort swallows the error: the
    // script would go on to the upgrade.
    workspace.write(
        "spin.rhai",
        "let a = [3, 1, 2];\na.sort(|x, y| {\n    loop { }\n});\n\
         helm_upgrade(#{ release: \"web\", chart: \"charts/web\" });\n",
    );
    let report = workspace.run("spin.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    let error = report.error.expect("an error");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("deadline passed"), "{error}");
    assert!(helm.calls().is_empty() && !helm.saw("upgrade"), "helm ran: {:?}", helm.calls());
    assert!(report.effects.is_empty(), "{:?}", report.effects);
}

#[test]
fn the_deadline_binds_a_loop_of_long_string_builtins() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 1_000_000_000\ndeadline = \"1s\"\n");
    // Each replace walks a megabyte but counts as one operation.
    workspace.write(
        "strings.rhai",
        "let s = \"x\";\ns.pad(1000000, \"y\");\nloop {\n    let t = s;\n    t.replace(\"y\", \"z\");\n    let parts = t.split(\"q\");\n}\n",
    );
    let error = failed_plan(&workspace, "strings.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("deadline passed"), "{error}");
}

#[test]
fn a_value_nested_past_64_levels_is_refused_at_the_call_naming_its_path() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    let script =
        "let m = 1;\nfor i in 0..1000 { m = #{ a: m }; }\nnotify(#{ channel: \"log\", text: \"x\", fields: m });\n";
    workspace.write("deep.rhai", script);
    let output = workspace.shipctl(&["plan", "deep.rhai"]);
    assert_clean_exit(&output, 1, "deep.rhai:3");
    let path = format!("argument to notify: in fields{}…: ", ".a".repeat(15));
    assert!(output.stderr.contains(&path), "{path} in {output:?}");
    assert!(output.stderr.contains("nests more than 64 levels"), "{output:?}");
    assert!(output.stdout.len() + output.stderr.len() < 4096, "no pyramid of indentation: {output:?}");

    let shallow =
        "let m = 1;\nfor i in 0..60 { m = #{ a: m }; }\nnotify(#{ channel: \"log\", text: \"x\", fields: m });\n";
    workspace.write("shallow.rhai", shallow);
    let output = workspace.shipctl(&["plan", "shallow.rhai"]);
    assert_eq!(output.code, 0, "{output:?}");
}
