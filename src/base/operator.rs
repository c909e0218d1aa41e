//! Who is at the keyboard, or which CI job runs shipctl.

use serde::{Deserialize, Serialize};

/// The operator: `$USER`, `$LOGNAME`, the name of this process's user in the system's
/// user database, or `unknown`.
pub fn user() -> String {
    let from_env = ["USER", "LOGNAME"].iter().find_map(|name| std::env::var(name).ok().filter(|value| plain(value)));
    from_env.or_else(system_user).unwrap_or_else(|| "unknown".to_string())
}

/// The name of the real user id in the system's user database (containers and CI
/// runners often leave `$USER` unset).
fn system_user() -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain data, all-zero is a valid value for it.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buffer.len()` is its size;
    // getpwuid_r is the reentrant form, it writes only into `entry` and `buffer`.
    let status = unsafe { libc::getpwuid_r(libc::getuid(), &mut entry, buffer.as_mut_ptr(), buffer.len(), &mut found) };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string inside `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    name.to_str().ok().map(str::to_string).filter(|name| plain(name))
}

/// The CI job running shipctl: who started it and where to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiIdentity {
    /// `github` or `gitlab`.
    pub system: String,
    /// The CI's user that started the job (`GITHUB_ACTOR`, `GITLAB_USER_LOGIN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The job's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The CI job running shipctl, from its environment variables, or `None` outside CI.
/// Values that are not plain (control characters, over 256 bytes) or URLs that are not
/// http(s) are left out rather than recorded.
pub fn ci_identity() -> Option<CiIdentity> {
    ci_identity_from(|name| std::env::var(name).ok())
}

/// [`ci_identity`] reading variables through `var` (tests pass a map).
pub fn ci_identity_from(var: impl Fn(&str) -> Option<String>) -> Option<CiIdentity> {
    let get = |name: &str| var(name).filter(|value| plain(value));
    if var("GITHUB_ACTIONS").as_deref() == Some("true") {
        let url = match (get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY"), get("GITHUB_RUN_ID")) {
            (Some(server), Some(repository), Some(run)) if repository_name(&repository) && digits(&run) => {
                Some(format!("{}/{repository}/actions/runs/{run}", server.trim_end_matches('/')))
            }
            _ => None,
        };
        let url = url.filter(|url| http_url(url));
        return Some(CiIdentity { system: "github".to_string(), actor: get("GITHUB_ACTOR"), url });
    }
    if var("GITLAB_CI").as_deref() == Some("true") {
        let url = get("CI_JOB_URL").filter(|url| http_url(url));
        return Some(CiIdentity { system: "gitlab".to_string(), actor: get("GITLAB_USER_LOGIN"), url });
    }
    None
}

/// Non-empty, at most 256 bytes, no control characters or spaces.
fn plain(value: &str) -> bool {
    !value.is_empty() && value.len() <= 256 && !value.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn digits(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_digit())
}

/// `owner/name` with the characters GitHub allows.
fn repository_name(value: &str) -> bool {
    let allowed = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    value.split_once('/').is_some_and(|(owner, name)| allowed(owner) && allowed(name))
}

fn http_url(value: &str) -> bool {
    (value.starts_with("https://") || value.starts_with("http://")) && plain(value)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn identity(vars: &[(&str, &str)]) -> Option<CiIdentity> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ci_identity_from(|name| vars.get(name).cloned())
    }

    #[test]
    fn github_actor_and_run_url() {
        let found = identity(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "42"),
        ]);
        let expected = CiIdentity {
            system: "github".to_string(),
            actor: Some("octocat".to_string()),
            url: Some("https://github.com/acme/shop/actions/runs/42".to_string()),
        };
        assert_eq!(found, Some(expected));
    }

    #[test]
    fn hostile_values_are_left_out() {
        let found = identity(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_ACTOR", "mallory\n::error::forged"),
            ("GITHUB_SERVER_URL", "javascript:alert(1)//"),
            ("GITHUB_REPOSITORY", "../../evil"),
            ("GITHUB_RUN_ID", "42"),
        ])
        .unwrap();
        assert_eq!((found.actor, found.url), (None, None));
        let found = identity(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "file:///etc"),
            ("GITHUB_REPOSITORY", "a/b"),
            ("GITHUB_RUN_ID", "1"),
        ]);
        assert_eq!(found.unwrap().url, None);
    }

    #[test]
    fn gitlab_job() {
        let found = identity(&[
            ("GITLAB_CI", "true"),
            ("GITLAB_USER_LOGIN", "alice"),
            ("CI_JOB_URL", "https://gitlab.example/acme/shop/-/jobs/7"),
        ])
        .unwrap();
        assert_eq!(found.system, "gitlab");
        assert_eq!(found.actor.as_deref(), Some("alice"));
        assert_eq!(found.url.as_deref(), Some("https://gitlab.example/acme/shop/-/jobs/7"));
        assert_eq!(identity(&[("CI_JOB_URL", "https://x")]), None);
    }

    #[test]
    fn system_user_names_this_process_user() {
        // Whatever the environment says, the user database knows the uid running tests.
        assert!(system_user().is_some_and(|name| !name.is_empty()));
    }
}
