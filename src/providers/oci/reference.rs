//! Image references as docker writes them (`registry/repository:tag`,
//! `registry/repository@sha256:...`), validated before any part reaches a URL, and
//! digests.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `registry/repository:tag` or `registry/repository@sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `registry.example.org`, `127.0.0.1:5000`; `docker.io` when the name has none.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// An image reference as a script wrote it, valid: a params field of this type is
/// checked when the gate parses the arguments, so only a well-formed registry host,
/// repository path, tag and digest ever reach a registry's URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct ImageReference {
    /// As written.
    pub text: String,
    pub reference: Reference,
}

impl TryFrom<String> for ImageReference {
    type Error = String;

    fn try_from(text: String) -> Result<ImageReference, String> {
        let reference = Reference::parse(&text)?;
        Ok(ImageReference { text, reference })
    }
}

/// `host`, `host:port` or `[v6]:port`: what may stand between `scheme://` and the path.
fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) if v6.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", port.strip_prefix(':')),
            _ => return false,
        },
        None => match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    };
    let label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port > 0));
    host.len() <= 253 && host.split('.').all(label) && port_ok
}

impl Reference {
    /// Parse an image reference as docker writes them.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let invalid = |why: &str| format!("\"{text}\" is not an image reference ({why})");
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(invalid("a digest is sha256: and 64 hex digits"));
                }
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains(['.', ':', '[']) || first == "localhost" => (first.to_string(), path),
            _ => ("docker.io".to_string(), rest),
        };
        if !valid_registry(&registry) {
            return Err(invalid("a registry is host or host:port"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository.to_string(), Some(tag.to_string())),
            _ => (path.to_string(), None),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let valid_repository = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                    && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && part.ends_with(|c: char| c.is_ascii_alphanumeric())
            });
        if !valid_repository {
            return Err(invalid("repository names are lowercase letters, digits, and . _ - between slashes"));
        }
        if let Some(tag) = &tag {
            let valid = tag.len() <= 128
                && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid {
                return Err(invalid("a tag is up to 128 letters, digits, and . _ -"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(invalid("it names neither a tag nor a digest; write repository:tag"));
        }
        Ok(Reference { registry, repository, tag, digest })
    }

    /// The tag or digest to ask the registry for (the digest when both are given).
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// `web:production`: the last part of the repository and the tag, for people.
    pub fn short(&self) -> String {
        let name = self.repository.rsplit('/').next().unwrap_or(&self.repository);
        match (&self.tag, &self.digest) {
            (Some(tag), _) => format!("{name}:{tag}"),
            (None, Some(digest)) => format!("{name}@{}", short_digest(digest)),
            (None, None) => name.to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(formatter, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(formatter, "@{digest}")?;
        }
        Ok(())
    }
}

pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `sha256:0123456789ab`: enough to tell digests apart on a plan line.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("sha256:{}", digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let reference = Reference::parse("registry.example.org/cdc/web:1.4.0").unwrap();
        assert_eq!(reference.registry, "registry.example.org");
        assert_eq!(reference.repository, "cdc/web");
        assert_eq!(reference.tag.as_deref(), Some("1.4.0"));
        assert_eq!(reference.short(), "web:1.4.0");
        let local = Reference::parse("127.0.0.1:5000/web:production").unwrap();
        assert_eq!((local.registry.as_str(), local.repository.as_str()), ("127.0.0.1:5000", "web"));
        let hub = Reference::parse("nginx:1.27").unwrap();
        assert_eq!((hub.registry.as_str(), hub.repository.as_str()), ("docker.io", "library/nginx"));
        let pinned = Reference::parse(&format!("localhost/web@sha256:{}", "a".repeat(64))).unwrap();
        assert_eq!(pinned.reference(), format!("sha256:{}", "a".repeat(64)));
        assert!(Reference::parse("registry.example.org/Web:1").is_err());
        assert!(Reference::parse("registry.example.org/web").unwrap_err().contains("neither a tag nor a digest"));
        assert!(Reference::parse("registry.example.org/web@sha256:abc").is_err());
        for hostile in [
            "registry.example.org/a/../../v2/_catalog:1",
            "registry.example.org/web?x=1:1",
            "user@evil.example/web:1",
            "evil.example#/web:1",
            "registry.example.org:99999/web:1",
            "registry.example.org/web:1/../x",
            "registry.example.org/web:-f",
            "registry.example.org/web./x:1",
        ] {
            assert!(Reference::parse(hostile).is_err(), "{hostile}");
        }
        assert!(Reference::parse("[::1]:5000/web:1").is_ok());
    }
}
