//! Requests that work from a recorded run: replay and resume.

use std::path::{Path, PathBuf};

use crate::base::confined::ConfinedPath;
use crate::config::Project;
use crate::effect::{EffectClass, Mode, Registry, Undone, recorded_class, undone_write};
use crate::error::Error;
use crate::journal::{Journal, RecordedEffect, Recording, RunStatus, read_journal};

use super::{RunRequest, Source};
use crate::base::digest::sha256_hex;

fn read(path: &Path) -> Result<(Journal, Recording, Vec<String>), Error> {
    let journal = read_journal(path)?;
    let recording = Recording::from_journal(&journal)?;
    let mut warnings = Vec::new();
    if journal.truncated {
        warnings.push(format!(
            "{}: the last line is cut off (the run died while writing it); using the records before it",
            path.display()
        ));
    }
    Ok((journal, recording, warnings))
}

/// The script a journal names, confined. A journal is untrusted input (anyone can
/// write one, or edit one): the scripts root it names must hold the journal itself,
/// the script must resolve inside that root (no `..`, no absolute path, no symlink
/// out), and the script's own project must be that root. So a journal can only name a
/// script of the project it was written in.
fn journal_script(journal_path: &Path, journal: &Journal) -> Result<ConfinedPath, Error> {
    let header = &journal.header;
    let help = || Some("give the script to use with --script".to_string());
    let root = Path::new(&header.root);
    let refuse = |message: String| Error::usage(message, help());
    let canonical_root = root
        .canonicalize()
        .map_err(|error| refuse(format!("the journal's scripts root {} cannot be read: {error}", header.root)))?;
    let journal_real = journal_path
        .canonicalize()
        .map_err(|error| refuse(format!("{} cannot be read: {error}", journal_path.display())))?;
    if !journal_real.starts_with(&canonical_root) {
        return Err(refuse(format!(
            "{} names the scripts root {}, but does not lie inside it; a journal's script is taken only from the project the journal is in",
            journal_path.display(),
            header.root
        )));
    }
    let script = ConfinedPath::new(&canonical_root, "the journal's script", &header.script)
        .map_err(|error| Error::usage(format!("{}: {error}", journal_path.display()), help()))?;
    let project = Project::discover(&script.path()).map_err(Error::Config)?;
    let project_root = project.root.canonicalize().unwrap_or(project.root);
    if project_root != canonical_root {
        return Err(refuse(format!(
            "{}: the journal's script \"{}\" belongs to the scripts root {}, not to the journal's root {}",
            journal_path.display(),
            header.script,
            project_root.display(),
            header.root
        )));
    }
    Ok(script)
}

/// The recorded script, and whether it still has the recorded content.
fn recorded_script(journal_path: &Path, journal: &Journal) -> Result<(PathBuf, bool), Error> {
    let script = journal_script(journal_path, journal)?;
    let text = script.read().map_err(|error| {
        Error::usage(
            format!("the journal's script {script} cannot be read: {error}"),
            Some("give the script to use with --script".to_string()),
        )
    })?;
    Ok((script.path(), sha256_hex(&text) == journal.header.script_sha256))
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// `shipctl replay <journal> [--script <path>]`: the request, and warnings to show.
/// Without `script`, the journal's own script is replayed, and only if it is unchanged.
pub fn replay_request(journal_path: &Path, script: Option<&Path>) -> Result<(RunRequest, Vec<String>), Error> {
    let (journal, recording, mut warnings) = read(journal_path)?;
    let header = &journal.header;
    let script = match script {
        Some(script) => {
            let given = crate::config::absolute(script);
            let recorded = Path::new(&header.root).join(&header.script);
            if given.canonicalize().ok() != recorded.canonicalize().ok() {
                warnings.push(format!(
                    "replaying {} against run {} of {}",
                    script.display(),
                    header.run_id,
                    header.script
                ));
            }
            given
        }
        None => {
            let (path, unchanged) = recorded_script(journal_path, &journal)?;
            if !unchanged {
                let now = sha256_hex(&crate::base::files::read_regular_bytes(&path).unwrap_or_default());
                return Err(Error::usage(
                    format!(
                        "{} changed since run {} (sha256 {} then, {} now)",
                        header.script,
                        header.run_id,
                        short(&header.script_sha256),
                        short(&now)
                    ),
                    Some(format!(
                        "to replay the changed script against the recording, say so: --script {}",
                        path.display()
                    )),
                ));
            }
            path
        }
    };
    let mut request = RunRequest::new(script, &header.environment, Mode::Replay);
    request.params = header.params.clone();
    request.journal = false;
    request.source = Source::Replay(recording);
    Ok((request, warnings))
}

/// `step "name"`, or nothing outside a step.
fn in_step(effect: &RecordedEffect) -> String {
    effect.step.as_ref().map(|step| format!(" in step \"{step}\"")).unwrap_or_default()
}

/// Refuse a resume that would skip a write one of the run's compensations undid: the
/// resumed run would go on as if it were still done.
fn refuse_undone(recording: &Recording, registry: &Registry) -> Result<(), Error> {
    let Some(Undone { write, by, others }) = undone_write(recording, registry) else {
        return Ok(());
    };
    let more = match others {
        0 => String::new(),
        1 => "; 1 more finished write may have been undone too".to_string(),
        n => format!("; {n} more finished writes may have been undone too"),
    };
    Err(Error::usage(
        format!(
            "run {}: its compensation undid effect {} ({}{}) with effect {} ({}), and a resume would skip effect {} as finished{more}",
            recording.run_id,
            write.seq,
            write.kind,
            in_step(write),
            by.seq,
            by.kind,
            write.seq
        ),
        Some(format!(
            "start a new run, which performs every effect again (check first what effect {} left behind)",
            by.seq
        )),
    ))
}

/// Whether the effect the run died in may be performed again without the operator's
/// word: a read changes nothing; a notification may already have been sent, but a
/// second one only shows twice (a warning says so), while holding the resume until
/// someone checks a chat channel would block it for nothing. A write needs
/// `--retry-unfinished`. The class comes from the registry, not from the journal.
fn retried_without_asking(recording: &Recording, registry: &Registry, warnings: &mut Vec<String>) -> bool {
    let Some(unfinished) = recording.effects.iter().find(|effect| !effect.compensation && effect.outcome.is_none())
    else {
        return false;
    };
    match recorded_class(registry, &unfinished.kind) {
        EffectClass::Read => true,
        EffectClass::Notify => {
            warnings.push(format!(
                "effect {} ({}{}) may have been sent before run {} stopped; it is sent again",
                unfinished.seq,
                unfinished.kind,
                in_step(unfinished),
                recording.run_id
            ));
            true
        }
        EffectClass::Write => false,
    }
}

/// `shipctl resume <journal>`: the request, and warnings to show.
pub fn resume_request(
    journal_path: &Path,
    retry_unfinished: bool,
    allow_changed_script: bool,
) -> Result<(RunRequest, Vec<String>), Error> {
    let (journal, recording, mut warnings) = read(journal_path)?;
    let header = &journal.header;
    if header.mode != Mode::Run.as_str() {
        return Err(Error::usage(
            format!("run {} was a {}; only runs can be resumed", header.run_id, header.mode),
            None,
        ));
    }
    if recording.status == Some(RunStatus::Succeeded) {
        return Err(Error::usage(format!("run {} succeeded: there is nothing to resume", header.run_id), None));
    }
    let registry = crate::primitives::registry();
    refuse_undone(&recording, &registry)?;
    let retry_unfinished = retry_unfinished || retried_without_asking(&recording, &registry, &mut warnings);
    let (script, unchanged) = recorded_script(journal_path, &journal)?;
    if !unchanged && !allow_changed_script {
        return Err(Error::usage(
            format!("{} changed since run {}", header.script, header.run_id),
            Some(
                "revert the change, or resume with --allow-changed-script (the finished part must then ask for the same effects)"
                    .to_string(),
            ),
        ));
    }
    let mut request = RunRequest::new(script, &header.environment, Mode::Run);
    request.params = header.params.clone();
    // A resume talks to the cluster the run did, unless its own flags say otherwise.
    request.kube = crate::providers::kube::KubeOverrides::from_recorded(&header.kube);
    request.journal = true;
    // `shipctl resume` is a live run like `shipctl run`: a signal stops it in order.
    request.watch_signals = true;
    request.source = Source::Resume { recording, retry_unfinished };
    Ok((request, warnings))
}
