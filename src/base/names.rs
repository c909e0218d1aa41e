//! Names that reach a program's argument vector or an API path, validated for their kind.
//!
//! Each kind of name is a newtype that exists only when its text is valid: it
//! deserializes through [`TryFrom<String>`], so a primitive's params struct that uses it
//! as a field type refuses a bad name while the gate parses the arguments, in every mode
//! (plan, check, run, replay, test), before anything runs. The error names the kind,
//! quotes the value and says what a valid one looks like; the gate adds the argument.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A name refused for its kind: what it was, and what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: {rule}")]
pub struct NameError {
    /// The kind of name (`helm release name`, `namespace`, ...).
    pub kind: &'static str,
    /// The refused text.
    pub value: String,
    /// What a valid name looks like.
    pub rule: String,
}

/// At most 100 characters of a refused value: an error quotes it, and a name may be
/// as long as a script makes it.
fn shorten(text: &str) -> String {
    const SHOWN: usize = 100;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// Defines a validated name type: `$check` decides, `$kind` and `$rule` explain.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr, $rule:expr) => {
        name_type!($(#[$doc])* $name, $kind, $check, $rule, |text: &str| text.to_string());
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr, $rule:expr, $shown:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What this kind of name is called in errors.
            pub const KIND: &'static str = $kind;

            /// The name, when `text` is a valid one.
            pub fn new(text: impl Into<String>) -> Result<$name, NameError> {
                let text = text.into();
                let check: fn(&str) -> Result<(), String> = $check;
                match check(&text) {
                    Ok(()) => Ok($name(text)),
                    Err(why) => {
                        let rule: String = $rule.to_string();
                        let rule = if why.is_empty() { rule } else { format!("{why}; {rule}") };
                        let shown: fn(&str) -> String = $shown;
                        Err(NameError { kind: $kind, value: shorten(&shown(&text)), rule })
                    }
                }
            }

            /// The text of the name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(text: String) -> Result<$name, NameError> {
                $name::new(text)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A DNS-1123 label: lowercase letters, digits and `-`, starting and ending with a
/// letter or digit, 1 to 63 characters.
fn dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// DNS-1123 labels joined by dots, at most `limit` characters: no `/`, `..`, `?`, `%`,
/// space or upper case, so it can be neither a flag nor more than one path segment.
fn dns_subdomain(text: &str, limit: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    if text.len() > limit {
        return Err(format!("it has {} characters", text.len()));
    }
    if !text.split('.').all(dns_label) {
        return Err(String::new());
    }
    Ok(())
}

fn release_name(text: &str) -> Result<(), String> {
    dns_subdomain(text, 53)
}

fn namespace(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    if dns_label(text) { Ok(()) } else { Err(String::new()) }
}

fn workload_name(text: &str) -> Result<(), String> {
    dns_subdomain(text, 253)
}

/// Nothing a terminal or a program would read as anything but text.
fn printable(text: &str) -> Result<(), String> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("it holds the control character {c:?}")),
        None => Ok(()),
    }
}

/// Not empty, not an option, no control characters.
fn not_a_flag(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("it is empty".to_string());
    }
    if text.starts_with('-') {
        return Err("it begins with '-', which a program reads as an option".to_string());
    }
    printable(text)
}

fn chart_reference(text: &str) -> Result<(), String> {
    not_a_flag(text)?;
    if let Some((scheme, rest)) = text.split_once("://") {
        if scheme != "oci" {
            return Err(format!("the scheme {scheme}:// is not one helm_upgrade takes"));
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || rest.split('/').count() < 2 || text.chars().any(char::is_whitespace) {
            return Err("an OCI reference is oci://registry/path/chart".to_string());
        }
    }
    Ok(())
}

fn chart_version(text: &str) -> Result<(), String> {
    not_a_flag(text)?;
    if text.len() > 128 {
        return Err(format!("it has {} characters", text.len()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " .+-^~<>=*,|".contains(c);
    match text.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!("{c:?} has no place in a version")),
        None => Ok(()),
    }
}

fn semantic_version(text: &str) -> Result<(), String> {
    semver::Version::parse(text).map(|_| ()).map_err(|error| error.to_string())
}

fn tag_name(text: &str) -> Result<(), String> {
    not_a_flag(text)?;
    if !git2::Reference::is_valid_name(&format!("refs/tags/{text}")) {
        return Err("git's check-ref-format refuses it".to_string());
    }
    Ok(())
}

fn remote_name(text: &str) -> Result<(), String> {
    not_a_flag(text)?;
    if !git2::Remote::is_valid_name(text) {
        return Err("git refuses it as a remote name".to_string());
    }
    Ok(())
}

fn label(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    if text.len() > 64 {
        return Err(format!("it has {} characters", text.len()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " ._-".contains(c);
    if let Some(c) = text.chars().find(|c| !allowed(*c)) {
        return Err(format!("{c:?} has no place in a label"));
    }
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) || text.ends_with(' ') {
        return Err("it must begin with a letter or digit and not end with a space".to_string());
    }
    Ok(())
}

/// A `[databases.*]` key, or a `postgres://` URL without a password.
fn database(text: &str) -> Result<(), String> {
    not_a_flag(text)?;
    if text.contains("://") {
        return database_url(text);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    match text.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!("{c:?} has no place in a database name")),
        None => Ok(()),
    }
}

fn database_url(text: &str) -> Result<(), String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL holds no spaces or control characters".to_string());
    }
    let parsed = reqwest::Url::parse(text).map_err(|error| format!("it is not a URL ({error})"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!("the scheme {}:// is not postgres://", parsed.scheme()));
    }
    if parsed.password().is_some() || parsed.query_pairs().any(|(key, _)| key.contains("password")) {
        return Err("the URL holds a password, which would be shown and journaled".to_string());
    }
    Ok(())
}

name_type!(
    /// A helm release name: helm's own rule, DNS-1123 labels joined by dots, at most 53
    /// characters.
    ReleaseName,
    "helm release name",
    release_name,
    "lowercase letters, digits and '-' (parts may be joined by '.'), beginning and ending with a letter or digit, at most 53 characters, e.g. \"cdc-frontend\""
);

name_type!(
    /// A Kubernetes namespace: a DNS-1123 label, at most 63 characters.
    Namespace,
    "namespace",
    namespace,
    "lowercase letters, digits and '-', beginning and ending with a letter or digit, at most 63 characters, e.g. \"web-production\""
);

name_type!(
    /// The name of a Kubernetes object (a Deployment, a StatefulSet, ...): a DNS-1123
    /// subdomain, so it is always exactly one segment of an API path.
    WorkloadName,
    "Kubernetes object name",
    workload_name,
    "lowercase letters, digits, '-' and '.', beginning and ending with a letter or digit, at most 253 characters, e.g. \"web\""
);

name_type!(
    /// What helm installs: a chart directory or packaged chart (a path), `repo/name`, or
    /// `oci://registry/path/name`. Never an option.
    ChartReference,
    "chart reference",
    chart_reference,
    "a chart directory or .tgz under the scripts root (\"charts/web\"), repo/name (\"bitnami/nginx\") or oci://registry/path/name"
);

name_type!(
    /// A chart version or version constraint as helm takes it (`1.4.0`, `^1.4`, `>=1 <2`).
    ChartVersion,
    "chart version",
    chart_version,
    "a version such as \"1.4.0\" or a constraint such as \"^1.4\" (letters, digits, . + - ^ ~ < > = * , |)"
);

name_type!(
    /// A semantic version (semver.org 2.0: `1.4.0`, `1.4.0-rc.1`, `1.4.0+build.5`).
    SemanticVersion,
    "semantic version",
    semantic_version,
    "MAJOR.MINOR.PATCH with an optional -prerelease and +build, e.g. \"1.4.0\" or \"1.4.0-rc.1\""
);

name_type!(
    /// A git tag name: what `git check-ref-format` accepts under `refs/tags/`, and never
    /// beginning with `-` (which git commands would read as an option).
    TagName,
    "tag name",
    tag_name,
    "a git tag name such as \"v1.4.0\": no spaces, '..', '@{', '~', '^', ':', '?', '*', '[' or '\\', not beginning with '-' or '.', not ending with '.lock' or '/'"
);

name_type!(
    /// A git remote's name, as `git remote` allows it.
    RemoteName,
    "git remote name",
    remote_name,
    "the name of a remote of the repository, e.g. \"origin\""
);

name_type!(
    /// A backup's label: becomes part of what people and file names see.
    Label,
    "label",
    label,
    "letters, digits, spaces and . _ -, beginning with a letter or digit, at most 64 characters, e.g. \"before 1.4.0\""
);

/// A database URL as an error may quote it: without password and query string.
fn database_shown(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    match reqwest::Url::parse(text) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => "(a URL that does not parse)".to_string(),
    }
}

name_type!(
    /// The database a `backup` or `restore` names: a `[databases.*]` entry, or a
    /// `postgres://user@host/db` URL without a password.
    DatabaseName,
    "database",
    database,
    "the name of a [databases.*] entry of shipctl.toml (\"main\"), or postgres://user@host:5432/dbname without a password",
    database_shown
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names() {
        for good in ["web", "cdc-frontend", "a.b-1", &"x".repeat(53)] {
            assert!(ReleaseName::new(good).is_ok(), "{good}");
        }
        for bad in ["Web", "-web", "web_1", "", &"x".repeat(54), "--kubeconfig=/etc/shadow", "a..b", "a/b", "web "] {
            assert!(ReleaseName::new(bad).is_err(), "{bad}");
        }
        let error = ReleaseName::new("--kubeconfig=/etc/shadow").unwrap_err().to_string();
        assert!(error.starts_with("\"--kubeconfig=/etc/shadow\" is not a valid helm release name: "), "{error}");
        assert!(error.contains("53 characters"), "{error}");
        let long = ReleaseName::new("x".repeat(100_000)).unwrap_err();
        assert_eq!(long.value, format!("{}...", "x".repeat(100)));
        assert!(long.rule.starts_with("it has 100000 characters"), "{}", long.rule);
    }

    #[test]
    fn namespaces_and_workloads() {
        assert!(Namespace::new("web-production").is_ok());
        for bad in ["web --kubeconfig=x", "", "a.b", &"n".repeat(64), "Web", "-a"] {
            assert!(Namespace::new(bad).is_err(), "{bad}");
        }
        assert!(WorkloadName::new("web.v2").is_ok());
        for bad in ["a/../../secrets", "..", "a?watch=1", "a%2f", "a,b", "a b", "", "A"] {
            assert!(WorkloadName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn charts_and_versions() {
        for good in
            ["charts/web", "./charts/web", "bitnami/nginx", "oci://registry.example/charts/web", "web-1.2.0.tgz"]
        {
            assert!(ChartReference::new(good).is_ok(), "{good}");
        }
        for bad in ["--repo=http://evil", "-x", "", "http://evil/web.tgz", "oci://", "a\nb"] {
            assert!(ChartReference::new(bad).is_err(), "{bad}");
        }
        for good in ["1.4.0", "^1.4", ">=1.0.0 <2.0.0", "1.2.x"] {
            assert!(ChartVersion::new(good).is_ok(), "{good}");
        }
        for bad in ["--devel", "1.0;rm", "1.0\n"] {
            assert!(ChartVersion::new(bad).is_err(), "{bad}");
        }
        assert!(SemanticVersion::new("1.0.0+build.1").is_ok());
        assert!(SemanticVersion::new("1.0.0-rc.1").is_ok());
        assert!(SemanticVersion::new("1.0.0-01").is_err());
        assert!(SemanticVersion::new("v1.0.0").is_err());
    }

    #[test]
    fn tags_and_remotes() {
        assert!(TagName::new("v1.4.0").is_ok());
        for bad in ["-f", "a..b", "v1@{0}", "", "a b", "x.lock", "a~1", "--force"] {
            assert!(TagName::new(bad).is_err(), "{bad}");
        }
        assert!(RemoteName::new("origin").is_ok());
        assert!(RemoteName::new("--upload-pack=x").is_err());
    }

    #[test]
    fn labels_and_databases() {
        for good in ["", "before 1.4.0", "nightly_2"] {
            assert!(Label::new(good).is_ok(), "{good}");
        }
        for bad in ["../x", "a/b", "-x", " a", "a\n"] {
            assert!(Label::new(bad).is_err(), "{bad}");
        }
        for good in ["main", "postgres://app@db:5432/catalogue", "postgresql://app@db/x?sslmode=require"] {
            assert!(DatabaseName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "--dbname=x",
            "postgres://app:pw@db/x",
            "postgres://app@db/x?password=pw",
            "http://db/x",
            "host=db password=pw",
        ] {
            assert!(DatabaseName::new(bad).is_err(), "{bad}");
        }
        let error = DatabaseName::new("postgres://app:s3cret@db/x?password=s3cret").unwrap_err().to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn names_deserialize_only_when_valid() {
        let good: ReleaseName = serde_json::from_value(serde_json::json!("web")).unwrap();
        assert_eq!(good, "web");
        let error = serde_json::from_value::<ReleaseName>(serde_json::json!("-x")).unwrap_err().to_string();
        assert!(error.contains("is not a valid helm release name"), "{error}");
        assert_eq!(serde_json::to_value(&good).unwrap(), serde_json::json!("web"));
    }
}
