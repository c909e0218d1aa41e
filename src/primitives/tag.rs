//! `tag`: annotated git tags with git2, pushed over any transport git2 was built with
//! (`file://` and local paths, `http://` and `git://`; no TLS, no ssh), within the
//! run's deadline.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::confined::{ConfiguredPath, ConfinedPath};
use crate::base::names::{RemoteName, SemanticVersion, TagName};
use crate::base::suggest::did_you_mean;
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};

/// The tag primitive.
#[doc = include_str!("docs/tag.md")]
pub struct Tag;

/// Arguments of `tag`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagParams {
    pub repo: String,
    pub name: TagName,
    pub message: String,
    pub target: Option<String>,
    pub push: Option<RemoteName>,
}

/// Result of `tag`.
#[derive(Debug, Serialize)]
pub struct TagOutput {
    pub name: String,
    pub commit: String,
    pub created: bool,
    pub pushed: bool,
    /// What `plan --refresh` learned (`new tag on 1a2b3c4`, `exists on 1a2b3c4`), or
    /// `unknown (why)` when the repository could not be read; empty otherwise.
    pub summary: String,
}

/// The repository a `repo` argument names, and whether config asks for semver tags.
struct RepoTarget {
    path: PathBuf,
    semver: bool,
}

/// A `[repos.*]` entry is where shipctl.toml says, anywhere; any other `repo` is a
/// directory inside the scripts root, resolved through [`ConfinedPath`] (no `..` out, no
/// absolute path, no symlink out), so the tag lands only where the root allows.
fn resolve_repo(repo: &str, context: &EffectContext) -> Result<RepoTarget, EffectError> {
    let config = &context.project.config;
    if let Some(declared) = config.repos.get(repo) {
        let path = ConfiguredPath::from_config(&context.project.root, &declared.path).into_path();
        return Ok(RepoTarget { path, semver: declared.semver });
    }
    let names: Vec<&str> = config.repos.keys().map(String::as_str).collect();
    let declare = "declare repositories outside the scripts root as [repos.<name>] in shipctl.toml and use the name";
    match ConfinedPath::with_help(context.root(), "repo", repo, declare) {
        Ok(path) if path.is_dir() => {
            check_git_dir(context, repo, &path)?;
            Ok(RepoTarget { path: path.path(), semver: false })
        }
        Ok(path) => Err(EffectError::new(format!("repo \"{repo}\" ({path}) is not a directory"))
            .with_help("name a git repository's directory, or a [repos.<name>] entry")),
        Err(error) if error.missing => {
            let mut error = EffectError::new(format!(
                "repo \"{repo}\" is neither a [repos.*] entry nor a directory under the scripts root"
            ));
            error.help = Some(match did_you_mean(repo, names.iter().copied()) {
                Some(close) => format!("did you mean \"{close}\"?"),
                None if names.is_empty() => {
                    "declare it as [repos.<name>] with path = \"...\" in shipctl.toml".to_string()
                }
                None => format!("declared repos: {}", names.join(", ")),
            });
            Err(error)
        }
        Err(error) => Err(error.into()),
    }
}

/// The repository's `.git`, when it is a symlink, must stay inside the root too: the
/// tag is written where `.git` leads. (A `.git` file, as in a linked worktree, names a
/// git directory on purpose and is left to git.)
fn check_git_dir(context: &EffectContext, repo: &str, path: &ConfinedPath) -> Result<(), EffectError> {
    let git = path.path().join(".git");
    let is_symlink = std::fs::symlink_metadata(&git).is_ok_and(|metadata| metadata.file_type().is_symlink());
    if !is_symlink {
        return Ok(());
    }
    let relative = path.relative().join(".git").to_string_lossy().into_owned();
    ConfinedPath::with_help(
        context.root(),
        &format!("repo \"{repo}\"'s git directory"),
        &relative,
        "declare repositories outside the scripts root as [repos.<name>] in shipctl.toml and use the name",
    )?;
    Ok(())
}

/// A semantic version as semver.org 2.0 defines it (`1.4.0`, `1.4.0-rc.1`,
/// `1.4.0+build.5`; not `01.4.0` nor `1.0.0-01`).
pub fn is_semver(name: &str) -> bool {
    SemanticVersion::new(name).is_ok()
}

fn git_error(action: &str, path: &Path, error: git2::Error) -> EffectError {
    EffectError::new(format!("{action} in {}: {}", path.display(), error.message()))
}

fn short(id: git2::Oid) -> String {
    id.to_string().chars().take(12).collect()
}

/// What the repository says about the tag: the commit to tag, and the commit an existing
/// tag of that name points at.
struct Inspection {
    commit: git2::Oid,
    existing: Option<git2::Oid>,
}

fn inspect(repository: &git2::Repository, path: &Path, params: &TagParams) -> Result<Inspection, EffectError> {
    let target = params.target.as_deref().unwrap_or("HEAD");
    let commit = repository
        .revparse_single(target)
        .and_then(|object| object.peel_to_commit())
        .map_err(|error| git_error(&format!("cannot resolve target \"{target}\""), path, error))?
        .id();
    let existing = match repository.find_reference(&format!("refs/tags/{}", params.name)) {
        Ok(reference) => Some(
            reference.peel_to_commit().map_err(|error| git_error("cannot read the existing tag", path, error))?.id(),
        ),
        Err(error) if error.code() == git2::ErrorCode::NotFound => None,
        Err(error) => return Err(git_error("cannot look up the tag", path, error)),
    };
    if let Some(existing) = existing.filter(|existing| *existing != commit) {
        return Err(EffectError::new(format!(
            "tag {} already exists in {} on commit {}, not on {} (the target)",
            params.name,
            path.display(),
            short(existing),
            short(commit)
        ))
        .with_help("a released tag does not move: pick a new version, or delete the tag if it was a mistake"));
    }
    Ok(Inspection { commit, existing })
}

fn open(path: &Path) -> Result<git2::Repository, EffectError> {
    git2::Repository::open(path).map_err(|error| git_error("cannot open the git repository", path, error))
}

fn signature(repository: &git2::Repository) -> Result<git2::Signature<'static>, EffectError> {
    if let Ok(signature) = repository.signature() {
        return Ok(signature.to_owned());
    }
    let user = crate::base::operator::user();
    git2::Signature::now(&user, &format!("{user}@shipctl.invalid"))
        .map_err(|error| EffectError::new(format!("cannot make a tagger signature: {}", error.message())))
}

/// Serializes pushes: the transport timeouts are process-wide libgit2 options, set to
/// one push's remaining time right before it.
static PUSH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Bound every socket libgit2 opens from now on (connect, and each read and write) by
/// `remaining`, so a remote that accepts and never answers cannot outlive the deadline.
fn bound_transport(remaining: std::time::Duration) -> Result<(), EffectError> {
    // Rounded up: a socket must not give up before the deadline, or the error would be
    // a plain timeout instead of the deadline's.
    let milliseconds = i32::try_from(remaining.as_millis() + 1).unwrap_or(i32::MAX);
    // SAFETY: these set plain integers in libgit2's global options; the PUSH lock
    // keeps two pushes of this process from setting them at once.
    let set = unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(milliseconds)
            .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(milliseconds))
    };
    set.map_err(|error| EffectError::new(format!("cannot bound the push by the deadline: {}", error.message())))
}

/// Push `tag` to `remote_name`, within the run's deadline: the transport's sockets time
/// out at the deadline, and every progress callback aborts the push once it has passed.
fn push(
    repository: &git2::Repository,
    path: &Path,
    remote_name: &str,
    tag: &str,
    context: &EffectContext,
) -> Result<(), EffectError> {
    let mut remote = repository.find_remote(remote_name).map_err(|error| {
        let remotes = repository
            .remotes()
            .ok()
            .map(|names| names.iter().filter_map(|name| name.ok().flatten().map(str::to_string)).collect::<Vec<_>>())
            .unwrap_or_default();
        git_error(&format!("no remote \"{remote_name}\" (remotes: {})", remotes.join(", ")), path, error)
    })?;
    let deadline = context.deadline();
    let in_time = move || std::time::Instant::now() < deadline;
    let rejected = std::cell::RefCell::new(None::<String>);
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.push_update_reference(|reference, status| {
        if let Some(status) = status {
            *rejected.borrow_mut() = Some(format!("{reference}: {status}"));
        }
        Ok(())
    });
    callbacks.sideband_progress(move |_| in_time());
    callbacks.transfer_progress(move |_| in_time());
    callbacks.push_negotiation(move |_| {
        if in_time() { Ok(()) } else { Err(git2::Error::from_str("the run's deadline passed")) }
    });
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    context.progress(&format!("pushing {tag} to {remote_name}"));
    let refspec = format!("refs/tags/{tag}:refs/tags/{tag}");
    let pushed = {
        // A poisoned lock only means another push panicked; the options are still plain integers.
        let _guard = PUSH.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        context.check_deadline().map_err(|error| deadline_passed(error, tag, remote_name))?;
        bound_transport(context.remaining())?;
        remote.push(&[refspec.as_str()], Some(&mut options))
    };
    drop(options);
    if let Err(error) = pushed {
        if let Err(passed) = context.check_deadline() {
            return Err(deadline_passed(passed, tag, remote_name));
        }
        return Err(git_error(&format!("cannot push tag {tag} to {remote_name}"), path, error));
    }
    if let Some(reason) = rejected.into_inner() {
        return Err(EffectError::new(format!("{remote_name} rejected tag {tag} ({reason})"))
            .with_help("the remote has a different tag of that name: pick a new version"));
    }
    Ok(())
}

/// The deadline error, saying which push it stopped. The tag stays in the local
/// repository; a rerun pushes it again (pushing the same tag twice changes nothing).
fn deadline_passed(error: EffectError, tag: &str, remote_name: &str) -> EffectError {
    EffectError { message: format!("{} while pushing tag {tag} to {remote_name}", error.message), ..error }
}

impl Primitive for Tag {
    type Params = TagParams;
    type Output = TagOutput;

    fn name(&self) -> &'static str {
        "tag"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/tag.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Write
    }

    fn validate(&self, params: &TagParams, context: &EffectContext) -> Result<(), EffectError> {
        // The tag's name and the remote's are valid by their types (git's
        // check-ref-format, no leading '-'), checked when the arguments were parsed.
        let repo = resolve_repo(&params.repo, context)?;
        if repo.semver && !is_semver(&params.name) {
            return Err(EffectError::new(format!(
                "tag \"{}\" is not a semantic version X.Y.Z, which repo \"{}\" requires",
                params.name, params.repo
            ))
            .with_help("write the version as 1.4.0 (or 1.4.0-rc.1, 1.4.0+build.5)"));
        }
        Ok(())
    }

    fn live(&self, params: &TagParams, context: &EffectContext) -> Result<TagOutput, EffectError> {
        let path = resolve_repo(&params.repo, context)?.path;
        let repository = open(&path)?;
        let inspection = inspect(&repository, &path, params)?;
        let created = inspection.existing.is_none();
        if created {
            let object = repository
                .find_object(inspection.commit, None)
                .map_err(|error| git_error("cannot read the target", &path, error))?;
            repository
                .tag(&params.name, &object, &signature(&repository)?, &params.message, false)
                .map_err(|error| git_error(&format!("cannot create tag {}", params.name), &path, error))?;
        } else {
            context.progress(&format!("tag {} already on {}", params.name, short(inspection.commit)));
        }
        let pushed = match &params.push {
            Some(remote) => {
                push(&repository, &path, remote, &params.name, context)?;
                true
            }
            None => false,
        };
        Ok(TagOutput {
            name: params.name.to_string(),
            commit: inspection.commit.to_string(),
            created,
            pushed,
            summary: String::new(),
        })
    }

    fn plan(&self, params: &TagParams, context: &EffectContext) -> Result<TagOutput, EffectError> {
        let planned = TagOutput {
            name: params.name.to_string(),
            commit: params.target.clone().unwrap_or_else(|| "HEAD".to_string()),
            created: true,
            pushed: params.push.is_some(),
            summary: String::new(),
        };
        if !context.refresh {
            return Ok(planned);
        }
        // A repository that cannot be opened leaves the plan going, its tag unknown; a
        // tag that is in the way is an error, as it would be in the run.
        let path = resolve_repo(&params.repo, context)?.path;
        let repository = match open(&path) {
            Ok(repository) => repository,
            Err(error) => return Ok(TagOutput { summary: format!("unknown ({})", error.message), ..planned }),
        };
        let inspection = inspect(&repository, &path, params)?;
        let created = inspection.existing.is_none();
        let on = short(inspection.commit);
        let summary = if created { format!("new tag on {on}") } else { format!("exists on {on}") };
        Ok(TagOutput { commit: inspection.commit.to_string(), created, summary, ..planned })
    }

    fn refresh_probes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_names() {
        for good in ["1.4.0", "0.0.1", "10.20.30", "1.4.0-rc.1", "1.0.0+build", "1.0.0-rc.1+build.5"] {
            assert!(is_semver(good), "{good}");
        }
        for bad in ["1.4", "v1.4.0", "01.4.0", "1.4.0-", "1.4.x", "1.4.0-rc..1", "1.0.0-01"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}
