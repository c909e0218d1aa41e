//! Resume after a failure: what a compensation undid, and which unfinished effects are
//! performed again without asking. Real runs: a real git repository, a webhook and a
//! health endpoint on loopback.

use std::path::{Path, PathBuf};

use shipctl::effect::Silent;
use shipctl::journal::{Record, RunStatus, read_journal};
use shipctl::run::{execute, resume_request};

use crate::support::{HttpServer, Workspace, tag_and_webhook_workspace};

/// A workspace shaped like the bundled scripts: it tags, checks health, announces; its
/// compensation (`compensation`, script text) runs when the health check fails.
struct Release {
    workspace: Workspace,
    webhook: HttpServer,
    health: HttpServer,
}

fn release(compensation: &str) -> Release {
    let webhook = HttpServer::start(&[(200, "ok")]);
    // Down for the first run, up for the resume.
    let health = HttpServer::start(&[(503, "down"), (200, "ok")]);
    let workspace = tag_and_webhook_workspace(&webhook);
    workspace.write(
        "release.rhai",
        &format!(
            r#"let version = param("version");
step("Tag", || tag(#{{ repo: "app", name: version, message: `Release ${{version}}` }}));
on_failure(|| {compensation});
step("Verify", || http_check(#{{ url: "{}/health", retries: 0 }}));
step("Done", || notify(#{{ channel: "hook", text: `${{version}} is live` }}));
"#,
            health.url
        ),
    );
    Release { workspace, webhook, health }
}

const NOTICE: &str = r#"notify(#{ channel: "hook", text: `${version} FAILED` })"#;

fn tag_target(workspace: &Workspace, name: &str) -> Option<git2::Oid> {
    let repository = git2::Repository::open(workspace.path().join("repos/app")).unwrap();
    repository.find_reference(&format!("refs/tags/{name}")).ok().and_then(|reference| reference.target())
}

/// The failed first run's journal.
fn failed_run(release: &Release) -> PathBuf {
    let report = release.workspace.run("release.rhai", &[("version", "1.0.0")]);
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.error);
    report.journal.unwrap()
}

/// A copy of `journal` that ends at the intent of effect `seq`, as if the process had
/// died while performing it; `edit` may change that intent's line.
fn cut_at_intent(journal: &Path, seq: u64, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(journal).unwrap();
    let mut kept = Vec::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let is_intent = value["type"] == "intent" && value["seq"] == seq;
        kept.push(if is_intent { edit(line.to_string()) } else { line.to_string() });
        if is_intent {
            break;
        }
    }
    let cut = journal.with_file_name(format!("cut-{seq}.jsonl"));
    std::fs::write(&cut, kept.join("\n") + "\n").unwrap();
    cut
}

fn replayed_from(journal: &Path) -> Vec<Option<String>> {
    let journal = read_journal(journal).unwrap();
    journal
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Outcome(outcome) => Some(outcome.replayed_from.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_whose_compensation_only_notified_resumes_and_skips_its_tag() {
    let release = release(NOTICE);
    let journal = failed_run(&release);
    let bodies: Vec<String> = release.webhook.requests().into_iter().map(|request| request.body).collect();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].contains("1.0.0 FAILED"), "{bodies:?}");
    let tag = tag_target(&release.workspace, "1.0.0").expect("the first run tagged");

    let (request, warnings) = resume_request(&journal, false, false).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let report = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?} {:?}", report.error, report.halt);
    let kinds: Vec<(&str, bool)> =
        report.effects.iter().map(|effect| (effect.kind.as_ref(), effect.replayed_from.is_some())).collect();
    assert_eq!(kinds, vec![("tag", true), ("http_check", false), ("notify", false)]);
    assert_eq!(tag_target(&release.workspace, "1.0.0"), Some(tag), "the tag was skipped, not made again");
    assert_eq!(release.health.requests().len(), 2, "the failed check was performed again");
    let bodies: Vec<String> = release.webhook.requests().into_iter().map(|request| request.body).collect();
    assert_eq!(bodies.len(), 2, "the old failure notice is not sent again: {bodies:?}");
    assert!(bodies[1].contains("1.0.0 is live"), "{bodies:?}");
    let resumed = report.journal.unwrap();
    let run_id = read_journal(&journal).unwrap().header.run_id;
    assert_eq!(replayed_from(&resumed), vec![Some(run_id), None, None]);
}

#[test]
fn a_run_whose_compensation_wrote_is_refused_naming_the_undone_tag() {
    let release = release(r#"tag(#{ repo: "app", name: `${version}-withdrawn`, message: `Withdraw ${version}` })"#);
    let journal = failed_run(&release);
    assert!(tag_target(&release.workspace, "1.0.0-withdrawn").is_some(), "the compensation ran");

    let refused = release.workspace.shipctl(&["resume", journal.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("its compensation undid effect 1 (tag in step \"Tag\") with effect 3 (tag)"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("a resume would skip effect 1 as finished"), "{}", refused.stderr);
    assert!(refused.stderr.contains("start a new run"), "{}", refused.stderr);
    assert_eq!(release.health.requests().len(), 1, "nothing was performed");
    // Even told to retry, the undone write is not skipped.
    let error = resume_request(&journal, true, true).unwrap_err().to_string();
    assert!(error.contains("undid effect 1"), "{error}");
}

#[test]
fn an_unfinished_read_is_performed_again_without_asking() {
    let release = release(NOTICE);
    let journal = failed_run(&release);
    let cut = cut_at_intent(&journal, 2, |line| line);

    let resumed = release.workspace.shipctl(&["resume", cut.to_str().unwrap()]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(!resumed.stderr.contains("--retry-unfinished"), "{}", resumed.stderr);
    assert_eq!(release.health.requests().len(), 2, "the unfinished check ran again");
    let bodies: Vec<String> = release.webhook.requests().into_iter().map(|request| request.body).collect();
    assert!(bodies.last().unwrap().contains("1.0.0 is live"), "{bodies:?}");
}

#[test]
fn an_unfinished_write_still_asks_even_when_the_journal_calls_it_a_read() {
    let release = release(NOTICE);
    let journal = failed_run(&release);
    let plain = cut_at_intent(&journal, 1, |line| line);
    // A hostile edit: the intent claims to be a read; the class comes from the registry.
    let claimed = cut_at_intent(&journal, 1, |line| {
        assert!(line.contains("\"class\":\"write\""), "the intent records its class: {line}");
        line.replace("\"class\":\"write\"", "\"class\":\"read\"")
    });
    assert!(std::fs::read_to_string(&claimed).unwrap().contains("\"class\":\"read\""));

    for cut in [&plain, &claimed] {
        let asked = release.workspace.shipctl(&["resume", cut.to_str().unwrap()]);
        assert_eq!(asked.code, 5, "{asked:?}");
        assert!(asked.stderr.contains("effect 1 (tag in step \"Tag\") was started by run"), "{}", asked.stderr);
        assert!(asked.stderr.contains("--retry-unfinished"), "{}", asked.stderr);
    }
    assert_eq!(release.health.requests().len(), 1, "the resume stopped before the check");
}

#[test]
fn an_unfinished_notification_is_sent_again_with_a_warning() {
    let release = release(NOTICE);
    release.workspace.write(
        "notify_first.rhai",
        "notify(#{ channel: \"hook\", text: \"starting\" });\nnotify(#{ channel: \"hook\", text: \"done\" });\n",
    );
    let first = release.workspace.run("notify_first.rhai", &[]);
    assert_eq!(first.status, RunStatus::Succeeded);
    let cut = cut_at_intent(&first.journal.unwrap(), 2, |line| line);
    let sent = release.webhook.requests().len();

    let (request, warnings) = resume_request(&cut, false, false).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("effect 2 (notify) may have been sent before run"), "{warnings:?}");
    let resumed = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    assert_eq!(release.webhook.requests().len(), sent + 1, "sent again, once");
}

#[test]
fn a_journal_written_before_classes_resumes_by_the_registrys_classes() {
    let release = release(NOTICE);
    let journal = failed_run(&release);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("\"class\":\"notify\""), "{text}");
    let old = journal.with_file_name("old.jsonl");
    let stripped: Vec<String> = text
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("class");
            value.to_string()
        })
        .collect();
    std::fs::write(&old, stripped.join("\n") + "\n").unwrap();
    assert!(!std::fs::read_to_string(&old).unwrap().contains("\"class\""));

    let (request, _) = resume_request(&old, false, false).unwrap();
    let report = execute(request, Box::new(Silent)).unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?} {:?}", report.error, report.halt);
    assert!(report.effects[0].replayed_from.is_some(), "the tag was skipped");
    // And an old journal cut in its tag still asks.
    let cut = cut_at_intent(&old, 1, |line| line);
    let asked = release.workspace.shipctl(&["resume", cut.to_str().unwrap()]);
    assert_eq!(asked.code, 5, "{asked:?}");
    assert!(asked.stderr.contains("--retry-unfinished"), "{}", asked.stderr);
}

#[test]
fn a_class_that_is_not_one_is_a_journal_error() {
    let release = release(NOTICE);
    let journal = failed_run(&release);
    let forged = cut_at_intent(&journal, 1, |line| line.replace("\"class\":\"write\"", "\"class\":\"harmless\""));
    let error = resume_request(&forged, false, false).unwrap_err().to_string();
    assert!(error.contains("cut-1.jsonl:"), "the line is named: {error}");
    assert!(error.contains("field class: unknown variant `harmless`"), "{error}");
}
