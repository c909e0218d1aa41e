//! The sandbox holds: limits end runaway scripts with clear errors, eval and the clock
//! are out of reach, imports stay inside the scripts root.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shipctl::effect::{EffectClass, EffectContext, EffectError, Mode, Primitive, Registry};
use shipctl::engine::ScriptErrorKind;
use shipctl::error::Error;
use shipctl::journal::RunStatus;

use crate::support::Workspace;

fn failed_with(workspace: &Workspace, script: &str) -> shipctl::engine::ScriptError {
    let report = workspace.plan(script, &[]);
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    report.error.expect("an error")
}

fn refused(workspace: &Workspace, script: &str) -> Vec<shipctl::engine::ScriptError> {
    match workspace.execute(script, Mode::Plan, "local", &[], None) {
        Err(Error::Script { errors, .. }) => errors,
        other => panic!("expected the script to be refused, got {other:?}"),
    }
}

#[test]
fn an_endless_loop_hits_the_operations_limit() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 50_000\n");
    workspace.write("loop.rhai", "let x = 0;\nloop {\n    x += 1;\n}\n");
    let error = failed_with(&workspace, "loop.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit);
    assert!(error.message.contains("more than 50000 operations"), "{error}");
    assert!(error.help.as_deref().unwrap_or("").contains("max_operations"), "{error:?}");
}

#[test]
fn deep_recursion_hits_the_call_depth_limit_without_overflowing_the_stack() {
    let workspace = Workspace::new();
    workspace.write("recurse.rhai", "fn down(n) {\n    down(n + 1)\n}\ndown(0);\n");
    let error = failed_with(&workspace, "recurse.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("deeper than 64 levels"), "{error}");
}

#[test]
fn a_string_doubled_in_a_loop_hits_the_size_limit() {
    let workspace = Workspace::new();
    workspace.write("grow.rhai", "let s = \"x\";\nloop {\n    s += s;\n}\n");
    let error = failed_with(&workspace, "grow.rhai");
    assert_eq!(error.kind, ScriptErrorKind::Limit, "{error}");
    assert!(error.message.contains("larger than the sandbox allows"), "{error}");
}

#[test]
fn limit_errors_cannot_be_caught_by_the_script() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 20_000\n");
    workspace.write("catch.rhai", "try {\n    loop { }\n} catch (e) {\n    print(\"escaped\");\n}\n");
    let report = workspace.plan("catch.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.error.unwrap().kind, ScriptErrorKind::Limit);
}

#[test]
fn eval_is_refused() {
    let workspace = Workspace::new();
    workspace.write("eval.rhai", "let x = 1;\neval(\"x + 1\");\n");
    let errors = refused(&workspace, "eval.rhai");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("eval"), "{}", errors[0]);
    assert_eq!(errors[0].location.as_ref().map(|l| l.line), Some(2));
}

#[test]
fn the_clock_and_sleep_are_out_of_reach() {
    let workspace = Workspace::new();
    workspace.write("sleep.rhai", "sleep(1);\n");
    let error = failed_with(&workspace, "sleep.rhai");
    assert!(error.message.contains("sleep is not available"), "{error}");
    // Not even registered: preflight finds the call before the script starts.
    workspace.write("clock.rhai", "let t = timestamp();\n");
    let errors = refused(&workspace, "clock.rhai");
    assert_eq!(errors[0].message, "unknown function timestamp", "{errors:?}");
}

#[test]
fn the_deadline_stops_a_busy_script() {
    let workspace = Workspace::new();
    workspace.config("[limits]\nmax_operations = 1_000_000_000\ndeadline = \"300ms\"\n");
    workspace.write("busy.rhai", "let x = 0;\nloop {\n    x += 1;\n}\n");
    let started = Instant::now();
    let error = failed_with(&workspace, "busy.rhai");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(error.message.contains("deadline passed"), "{error}");
}

#[test]
fn imports_outside_the_root_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("outside.rhai"), "fn secret() { 42 }\n").unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("shipctl.toml"), "").unwrap();
    std::os::unix::fs::symlink(outer.path().join("outside.rhai"), root.join("link.rhai")).unwrap();
    std::fs::write(root.join("dots.rhai"), "import \"../outside\" as o;\n").unwrap();
    std::fs::write(root.join("absolute.rhai"), "import \"/etc/passwd\" as p;\n").unwrap();
    std::fs::write(root.join("symlink.rhai"), "import \"link\" as l;\n").unwrap();
    std::fs::write(root.join("dynamic.rhai"), "let path = \"../\" + \"outside\";\nimport path as o;\n").unwrap();

    let run = |script: &str| {
        let request = shipctl::run::RunRequest::new(root.join(script), "local", Mode::Plan);
        shipctl::run::execute(request, Box::new(shipctl::effect::Silent))
    };
    let message = |script: &str| match run(script) {
        Err(Error::Script { errors, .. }) => errors[0].to_string(),
        other => panic!("{script}: expected a refusal, got {other:?}"),
    };
    let dots = message("dots.rhai");
    assert!(dots.contains("dots.rhai:1:8") && dots.contains("leaves the scripts root"), "{dots}");
    let absolute = message("absolute.rhai");
    assert!(absolute.contains("absolute path"), "{absolute}");
    let symlink = message("symlink.rhai");
    assert!(symlink.contains("through a symlink"), "{symlink}");
    // An import path computed at run time gets past the preflight; the resolver refuses it.
    let report = run("dynamic.rhai").expect("preflight cannot see a computed path");
    let error = report.error.expect("refused at run time");
    assert_eq!(error.kind, ScriptErrorKind::Import, "{error}");
    assert!(error.message.contains("leaves the scripts root"), "{error}");
}

#[test]
fn an_import_cycle_is_an_error_not_a_crash() {
    let workspace = Workspace::new();
    workspace.config("");
    workspace.write("a.rhai", "import \"b\" as b;\nfn a() { 1 }\n");
    workspace.write("b.rhai", "import \"a\" as a;\nfn b() { 2 }\n");
    workspace.write("main.rhai", "import \"a\" as a;\n");
    let error = failed_with(&workspace, "main.rhai");
    assert!(error.message.contains("import cycle: a.rhai -> b.rhai -> a.rhai"), "{error}");
}

#[test]
fn modules_import_relative_to_themselves_and_the_stdlib() {
    let workspace = Workspace::new();
    workspace.config("[notify.releases]\nkind = \"stdout\"\n");
    workspace.write("scripts/common/greet.rhai", "fn greet(who) { `hello ${who}` }\n");
    workspace.write(
        "scripts/app/release.rhai",
        "import \"../common/greet\" as g;\nimport \"std/checks\" as checks;\nlet v = checks::require_semver(\"1.2.3\");\nnotify(#{ channel: \"releases\", text: g::greet(v) });\n",
    );
    let report = workspace.plan("scripts/app/release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.effects[0].args["text"], "hello 1.2.3");
}

static COMPILED_CALLS: AtomicUsize = AtomicUsize::new(0);

struct Counted;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Serialize)]
struct Count {
    calls: usize,
}

impl Primitive for Counted {
    type Params = NoParams;
    type Output = Count;
    fn name(&self) -> &'static str {
        "counted"
    }
    fn doc(&self) -> &'static str {
        "Counts its calls."
    }
    fn class(&self) -> EffectClass {
        EffectClass::Read
    }
    fn live(&self, _: &NoParams, _: &EffectContext) -> Result<Count, EffectError> {
        Ok(Count { calls: COMPILED_CALLS.fetch_add(1, Ordering::SeqCst) + 1 })
    }
    fn plan(&self, params: &NoParams, context: &EffectContext) -> Result<Count, EffectError> {
        self.live(params, context)
    }
}

fn with_counted(registry: &mut Registry) {
    registry.add(Counted);
}

#[test]
fn compiling_a_script_performs_no_effect() {
    let workspace = Workspace::new();
    // Constant arguments invite an optimizer to evaluate the call at compile time.
    workspace.write("count.rhai", "let a = counted(#{});\nlet b = counted();\nif false { counted(#{}); }\n");
    // A missing param stops the run after compiling, before running.
    workspace.write("refused.rhai", "counted(#{});\nlet v = param(\"version\");\n");
    let refused = workspace.execute("refused.rhai", Mode::Plan, "local", &[], Some(with_counted));
    assert!(matches!(refused, Err(Error::Script { .. })), "{refused:?}");
    assert_eq!(COMPILED_CALLS.load(Ordering::SeqCst), 0, "compiling ran an effect");
    let report = workspace.execute("count.rhai", Mode::Plan, "local", &[], Some(with_counted)).unwrap();
    assert_eq!(report.effects.len(), 2);
    assert_eq!(COMPILED_CALLS.load(Ordering::SeqCst), 2);
}
