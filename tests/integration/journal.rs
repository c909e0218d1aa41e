//! The journal tells exactly what happened, whatever happened.

use std::io::Write;

use serde::{Deserialize, Serialize};
use shipctl::effect::{EffectClass, EffectContext, EffectError, Mode, Primitive, Registry};
use shipctl::journal::{Record, RunStatus, StepEvent, read_journal};

use crate::support::{HttpServer, Workspace};

fn kinds(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|record| match record {
            Record::Header(_) => "header".to_string(),
            Record::Step(step) => format!("step {:?} {}", step.event, step.name),
            Record::Intent(intent) => format!("intent {} {}", intent.seq, intent.kind),
            Record::Outcome(outcome) => {
                format!("outcome {} {} {}", outcome.seq, outcome.kind, if outcome.ok { "ok" } else { "failed" })
            }
            Record::Log(log) => format!("log {}", log.message),
            Record::Footer(footer) => format!("footer {}", footer.status),
        })
        .collect()
}

#[test]
fn a_failing_run_records_intent_outcome_step_and_footer() {
    let server = HttpServer::start(&[(500, "down")]);
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write(
        "scripts/web/release.rhai",
        &format!(
            "print(\"starting\");\nstep(\"Announce\", || notify(#{{ channel: \"log\", text: \"going\" }}));\nstep(\"Verify\", || {{\n    http_check(#{{ url: \"{}/health\", retries: 0 }});\n}});\nnotify(#{{ channel: \"log\", text: \"never\" }});\nlet version = param(\"version\");\n",
            server.url
        ),
    );
    let report =
        workspace.execute("scripts/web/release.rhai", Mode::Run, "local", &[("version", "1.0.0")], None).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let journal = workspace.journal(&report);
    assert_eq!(journal.header.run_id, report.run_id);
    assert_eq!(journal.header.product, "web");
    assert_eq!(journal.header.script, "scripts/web/release.rhai");
    assert_eq!(journal.header.params.get("version").map(String::as_str), Some("1.0.0"));
    assert_eq!(journal.header.script_sha256.len(), 64);
    assert!(!journal.truncated);
    assert_eq!(
        kinds(&journal.records),
        vec![
            "log starting",
            "step Start Announce",
            "intent 1 notify",
            "outcome 1 notify ok",
            "step End Announce",
            "step Start Verify",
            "intent 2 http_check",
            "outcome 2 http_check failed",
            "step End Verify",
            "footer failed",
        ]
    );
    let Some(Record::Intent(intent)) = journal.records.get(6) else { panic!() };
    assert_eq!(intent.step.as_deref(), Some("Verify"));
    assert_eq!(
        (intent.origin.file.as_str(), intent.origin.line, intent.origin.column),
        ("scripts/web/release.rhai", 4, 5)
    );
    let footer = journal.footer().unwrap();
    assert_eq!(footer.failed_step.as_deref(), Some("Verify"));
    assert_eq!(footer.effects, 2);
    assert!(footer.error.as_deref().unwrap().contains("http_check failed"), "{footer:?}");
    let Some(Record::Step(end)) = journal.records.get(8) else { panic!() };
    assert_eq!((end.event, end.ok), (StepEvent::End, Some(false)));
}

#[test]
fn compensations_run_in_reverse_order_and_are_journaled() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write(
        "release.rhai",
        "for n in 1..=3 {\n    on_failure(|| notify(#{ channel: \"log\", text: `undo ${n}` }));\n    if n == 2 {\n        let nowhere = \"no\" + \"where\";\n        on_failure(|| notify(#{ channel: nowhere, text: \"broken\" }));\n    }\n}\nstep(\"Deploy\", || fail(\"deploy broke\"));\n",
    );
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.failed_step.as_deref(), Some("Deploy"));
    assert_eq!(report.error.as_ref().unwrap().message, "deploy broke");
    let texts: Vec<&str> = report
        .effects
        .iter()
        .filter(|effect| effect.compensation)
        .map(|effect| effect.args["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["undo 3", "undo 2", "undo 1"], "the broken compensation does not stop the others");
    assert_eq!(report.compensations.len(), 4);
    let failed: Vec<_> = report.compensations.iter().filter(|compensation| compensation.error.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.as_deref().unwrap().contains("no notification channel \"nowhere\""));
    assert_eq!(failed[0].origin.line, 5);

    let journal = workspace.journal(&report);
    let compensating: Vec<u64> = journal
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Intent(intent) if intent.compensation => Some(intent.seq),
            _ => None,
        })
        .collect();
    assert_eq!(compensating, vec![1, 2, 3]);
    assert!(matches!(journal.records.last(), Some(Record::Footer(footer)) if footer.status == RunStatus::Failed));
}

#[test]
fn compensations_do_not_run_when_the_run_succeeds() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", "on_failure(|| notify(#{ channel: \"log\", text: \"undo\" }));\nnotify(#{ channel: \"log\", text: \"done\" });\n");
    let report = workspace.run("release.rhai", &[]);
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.effects.len(), 1);
    assert!(report.compensations.is_empty());
}

struct Boom;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoomParams {}

#[derive(Serialize)]
struct Nothing {}

impl Primitive for Boom {
    type Params = BoomParams;
    type Output = Nothing;
    fn name(&self) -> &'static str {
        "boom"
    }
    fn doc(&self) -> &'static str {
        "Panics."
    }
    fn class(&self) -> EffectClass {
        EffectClass::Write
    }
    fn live(&self, _: &BoomParams, _: &EffectContext) -> Result<Nothing, EffectError> {
        panic!("provider bug")
    }
    fn plan(&self, _: &BoomParams, _: &EffectContext) -> Result<Nothing, EffectError> {
        Ok(Nothing {})
    }
}

#[test]
fn a_panic_inside_a_primitive_still_leaves_a_footer() {
    let workspace = Workspace::new();
    workspace.config("[notify.log]\nkind = \"stdout\"\n");
    workspace.write("release.rhai", "on_failure(|| notify(#{ channel: \"log\", text: \"rolled back\" }));\nboom();\n");
    fn extend(registry: &mut Registry) {
        registry.add(Boom);
    }
    let report = workspace.execute("release.rhai", Mode::Run, "local", &[], Some(extend)).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap().message;
    assert!(error.contains("boom panicked: provider bug"), "{error}");
    let journal = read_journal(report.journal.as_ref().unwrap()).unwrap();
    let kinds = kinds(&journal.records);
    assert_eq!(
        kinds,
        vec!["intent 1 boom", "outcome 1 boom failed", "intent 2 notify", "outcome 2 notify ok", "footer failed"]
    );
}

/// Reads the run's own journal while it runs: the intent must already be on disk.
struct Peek;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeekParams {}

#[derive(Serialize)]
struct Peeked {
    intent_on_disk: bool,
}

impl Primitive for Peek {
    type Params = PeekParams;
    type Output = Peeked;
    fn name(&self) -> &'static str {
        "peek"
    }
    fn doc(&self) -> &'static str {
        "Looks at the journal."
    }
    fn class(&self) -> EffectClass {
        EffectClass::Read
    }
    fn live(&self, _: &PeekParams, context: &EffectContext) -> Result<Peeked, EffectError> {
        let path = context.root().join(".shipctl/runs").join(format!("{}.jsonl", context.run_id));
        let journal = read_journal(&path).map_err(|error| EffectError::new(error.to_string()))?;
        let seq = context.current_seq();
        let intent_on_disk = journal
            .records
            .iter()
            .any(|record| matches!(record, Record::Intent(intent) if intent.seq == seq && intent.kind == "peek"));
        Ok(Peeked { intent_on_disk })
    }
    fn plan(&self, _: &PeekParams, _: &EffectContext) -> Result<Peeked, EffectError> {
        Ok(Peeked { intent_on_disk: false })
    }
}

#[test]
fn the_intent_is_on_disk_before_the_effect_runs() {
    let workspace = Workspace::new();
    workspace.write(
        "release.rhai",
        "let first = now();\nlet seen = peek();\nif !seen.intent_on_disk { fail(\"intent not written first\"); }\n",
    );
    fn extend(registry: &mut Registry) {
        registry.add(Peek);
    }
    let report = workspace.execute("release.rhai", Mode::Run, "local", &[], Some(extend)).unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.effects[1].result.as_ref().unwrap()["intent_on_disk"], true);
}

#[test]
fn a_truncated_last_line_is_reported_and_the_rest_read() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "now();\nnow();\n");
    let report = workspace.run("release.rhai", &[]);
    let path = report.journal.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let cut = &text[..text.len() - 20];
    std::fs::write(&path, cut).unwrap();
    let journal = read_journal(&path).unwrap();
    assert!(journal.truncated);
    assert!(journal.footer().is_none());
    assert_eq!(journal.records.len(), 4, "two intents and two outcomes survive");

    let mut broken = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    writeln!(broken).unwrap();
    writeln!(broken, "{{\"type\":\"log\"}}").unwrap();
    let error = read_journal(&path).unwrap_err().to_string();
    assert!(error.contains(":6:"), "a broken line in the middle names its line: {error}");
}

#[test]
fn a_journal_from_a_newer_shipctl_is_refused_clearly() {
    let workspace = Workspace::new();
    workspace.write("future.jsonl", "{\"type\":\"header\",\"format\":99}\n");
    let error = read_journal(&workspace.path().join("future.jsonl")).unwrap_err().to_string();
    assert!(error.contains("journal format 99 is newer"), "{error}");
}

#[test]
fn print_and_log_lines_are_journaled_with_their_origin() {
    let workspace = Workspace::new();
    workspace.write("release.rhai", "print(\"plain\");\nwarn(`careful ${1 + 1}`);\n");
    let report = workspace.run("release.rhai", &[]);
    let journal = workspace.journal(&report);
    let logs: Vec<(String, String, Option<usize>)> = journal
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Log(log) => {
                Some((log.level.clone(), log.message.clone(), log.origin.as_ref().map(|origin| origin.line)))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        logs,
        vec![("info".to_string(), "plain".to_string(), None), ("warn".to_string(), "careful 2".to_string(), Some(2))]
    );
}
