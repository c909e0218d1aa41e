//! What stops a run before it opens anything: policy lists that name no primitive,
//! and, in a protected environment, scripts and files that are not committed.

use std::path::{Path, PathBuf};

use super::provenance;
use crate::base::suggest::did_you_mean;
use crate::config::Project;
use crate::effect::Registry;
use crate::error::Error;

/// `allow` and `deny` must name primitives that exist.
pub(super) fn check_policy_names(project: &Project, registry: &Registry) -> Result<(), Error> {
    let names = registry.names();
    for (environment_name, environment) in &project.config.environments {
        let listed = environment.allow.iter().flatten().chain(environment.deny.iter());
        for name in listed {
            if names.contains(&name.as_str()) {
                continue;
            }
            let help = match did_you_mean(name, names.iter().copied()) {
                Some(close) => {
                    format!("did you mean \"{close}\"? Primitives: {}", names.join(", "))
                }
                None => format!("primitives: {}", names.join(", ")),
            };
            return Err(Error::Config(crate::config::ConfigError {
                location: None,
                message: format!(
                    "[environments.{environment_name}] in {} names \"{name}\", which is not a primitive",
                    project.config_path.as_deref().map(Path::display).map(|path| path.to_string()).unwrap_or_default()
                ),
                help: Some(help),
            }));
        }
    }
    Ok(())
}

/// A protected environment runs only what is committed: the script and every file it
/// uses, each checked with git's own status (a git-ignored file is not committed).
pub(super) fn refuse_uncommitted(environment: &str, root: &Path, used: &[PathBuf]) -> Result<(), Error> {
    let files = provenance::uncommitted_files(root, used);
    if files.is_empty() {
        return Ok(());
    }
    Err(Error::Policy {
        message: format!(
            "environment \"{environment}\" is protected and the run uses files that are not committed: {}",
            files.join(", ")
        ),
        help: Some(
            "commit them (a git-ignored file must be un-ignored and committed), then run again; `shipctl plan` works on uncommitted scripts"
                .to_string(),
        ),
    })
}

/// A protected run imports modules only by literal paths, so every module it uses was
/// checked with git before it starts.
pub(super) fn refuse_computed_imports<'a>(
    environment: &str,
    scripts: impl Iterator<Item = (&'a str, &'a rhai::AST)>,
) -> Result<(), Error> {
    for (name, ast) in scripts {
        if let Some(position) = provenance::computed_imports(ast).first() {
            let line = position.line().unwrap_or(0);
            let column = position.position().unwrap_or(0);
            return Err(Error::Policy {
                message: format!(
                    "{name}:{line}:{column}: environment \"{environment}\" is protected and this import's path is computed while the script runs, so the module cannot be checked for being committed"
                ),
                help: Some(
                    "import modules in protected environments by a literal path: import \"lib/helpers\" as helpers;"
                        .to_string(),
                ),
            });
        }
    }
    Ok(())
}

/// A protected environment runs only committed scripts: the scripts root must be in a
/// git repository. Which files must be committed is `refuse_uncommitted`'s question
/// (those the run uses); an unrelated untracked file (a plan saved by hand) does not
/// hold the run, the header records the tree as dirty.
pub(super) fn refuse_outside_git(
    environment: &str,
    root: &Path,
    repo: Option<&crate::journal::RepoState>,
) -> Result<(), Error> {
    if repo.is_some() {
        return Ok(());
    }
    Err(Error::Policy {
        message: format!(
            "environment \"{environment}\" is protected and the scripts root {} is not in a git repository",
            root.display()
        ),
        help: Some(
            "protected environments run only committed scripts: put the scripts under version control".to_string(),
        ),
    })
}
