//! `promote_image`: tag the exact image that passed one stage as the next one's, through
//! the OCI distribution API (reqwest). The manifest's bytes are copied unchanged, so
//! the digest is the same; across repositories the blobs are mounted (or copied)
//! first; the new tag is read back and its digest compared.

use serde::{Deserialize, Serialize};

use crate::config::RegistryScheme;
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::oci::{
    Client, Credentials, ImageReference, Manifest, ManifestKind, Reference, RegistryError, is_digest, short_digest,
};

/// The promote_image primitive.
#[doc = include_str!("docs/promote_image.md")]
pub struct PromoteImage;

/// Arguments of `promote_image`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteParams {
    pub from: ImageReference,
    pub to: ImageReference,
}

/// Result of `promote_image`.
#[derive(Debug, Serialize)]
pub struct PromoteOutput {
    pub from: String,
    pub to: String,
    /// The digest `to` points at now (and `from` did).
    pub digest: String,
    /// What `to` pointed at before; empty for a new tag.
    pub previous: String,
    /// False when `to` already pointed at the digest (a re-run).
    pub changed: bool,
    pub media_type: String,
    /// One line for people: `web:production  sha256:aaa -> sha256:bbb`.
    pub summary: String,
}

struct Promotion {
    from: Reference,
    to: Reference,
}

fn references(params: &PromoteParams) -> Result<Promotion, EffectError> {
    // Both parsed (and checked) when the gate read the arguments.
    let from = params.from.reference.clone();
    let to = params.to.reference.clone();
    if to.digest.is_some() || to.tag.is_none() {
        return Err(EffectError::new(format!(
            "to: \"{}\" must name a tag (repository:tag), not a digest",
            params.to.text
        )));
    }
    if from.registry != to.registry {
        return Err(EffectError::new(format!(
            "from is on registry {} and to on {}: promote_image promotes within one registry",
            from.registry, to.registry
        ))
        .with_help("copy the image to the other registry first (for example with skopeo or crane)"));
    }
    Ok(Promotion { from, to })
}

fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost" || name == "::1" || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn client<'a>(promotion: &Promotion, context: &'a EffectContext, push: bool) -> Result<Client<'a>, EffectError> {
    let host = &promotion.to.registry;
    let config = context.project.config.registries.get(host).cloned().unwrap_or_default();
    let scheme = match config.scheme {
        Some(RegistryScheme::Http) => "http",
        Some(RegistryScheme::Https) => "https",
        None if is_loopback(host) => "http",
        None => "https",
    };
    let credentials = match (&config.username, &config.password_secret) {
        (Some(username), Some(secret)) => Some(Credentials {
            username: username.clone(),
            password: context.secrets.get(secret).map_err(EffectError::new)?,
        }),
        _ => None,
    };
    let (from, to) = (&promotion.from.repository, &promotion.to.repository);
    let mut scopes = Vec::new();
    if from != to {
        scopes.push(format!("repository:{from}:pull"));
    }
    scopes.push(format!("repository:{to}:{}", if push { "pull,push" } else { "pull" }));
    Ok(Client::new(context.http()?, host, scheme, credentials, scopes, context.redactor()))
}

fn effect_error(error: RegistryError) -> EffectError {
    let mut effect = EffectError::new(error.message);
    effect.help = error.help;
    effect
}

fn missing_from(promotion: &Promotion) -> EffectError {
    EffectError::new(format!("image {} does not exist (the registry has no such manifest)", promotion.from))
        .with_help("check the tag; promote_image copies an image that was pushed earlier, it builds none")
}

fn summary(to: &Reference, previous: Option<&str>, digest: Option<&str>) -> String {
    let target = to.short();
    match (previous, digest) {
        (Some(previous), Some(digest)) if previous == digest => {
            format!("{target}  {} (already)", short_digest(digest))
        }
        (Some(previous), Some(digest)) => format!("{target}  {} -> {}", short_digest(previous), short_digest(digest)),
        (None, Some(digest)) => format!("{target}  (new) -> {}", short_digest(digest)),
        (_, None) => format!("{target}  -> digest of the source (resolved with --refresh)"),
    }
}

/// A digest a manifest lists becomes part of a registry URL path: it must be one
/// (`sha256:` and 64 hex digits), whatever the registry sent.
fn digest_listed(promotion: &Promotion, digest: &str) -> Result<(), EffectError> {
    if is_digest(digest) {
        return Ok(());
    }
    Err(EffectError::new(format!("the manifest of {} lists {digest:?}, which is not a sha256 digest", promotion.from)))
}

/// Copy what `manifest` needs into the target repository: its blobs, and for an index
/// each image it lists (stored by digest).
async fn copy_content(client: &mut Client<'_>, promotion: &Promotion, manifest: &Manifest) -> Result<(), EffectError> {
    let (from, to) = (&promotion.from.repository, &promotion.to.repository);
    match manifest.kind {
        ManifestKind::Image => {
            for blob in manifest.blobs().map_err(EffectError::new)? {
                digest_listed(promotion, &blob.digest)?;
                client.ensure_blob(from, to, &blob).await.map_err(effect_error)?;
            }
        }
        ManifestKind::Index => {
            for child in manifest.children().map_err(EffectError::new)? {
                digest_listed(promotion, &child.digest)?;
                let image = client.manifest(from, &child.digest).await.map_err(effect_error)?.ok_or_else(|| {
                    EffectError::new(format!("{} lists {}, which {from} does not have", promotion.from, child.digest))
                })?;
                if image.kind != ManifestKind::Image {
                    return Err(EffectError::new(format!(
                        "{} lists {} of type {}; nested indexes are not promoted",
                        promotion.from, child.digest, image.media_type
                    )));
                }
                for blob in image.blobs().map_err(EffectError::new)? {
                    digest_listed(promotion, &blob.digest)?;
                    client.ensure_blob(from, to, &blob).await.map_err(effect_error)?;
                }
                client.put_manifest(to, &image.digest, &image).await.map_err(effect_error)?;
            }
        }
    }
    Ok(())
}

async fn promote(
    mut client: Client<'_>,
    promotion: &Promotion,
    params: &PromoteParams,
) -> Result<PromoteOutput, EffectError> {
    let (from, to) = (&promotion.from, &promotion.to);
    let tag = to.tag.as_deref().unwrap_or("latest");
    let manifest = client
        .manifest(&from.repository, from.reference())
        .await
        .map_err(effect_error)?
        .ok_or_else(|| missing_from(promotion))?;
    let previous = client.digest(&to.repository, tag).await.map_err(effect_error)?;
    let output = |previous: Option<String>, changed: bool| PromoteOutput {
        from: params.from.text.clone(),
        to: params.to.text.clone(),
        digest: manifest.digest.clone(),
        summary: summary(to, previous.as_deref(), Some(&manifest.digest)),
        previous: previous.unwrap_or_default(),
        changed,
        media_type: manifest.media_type.clone(),
    };
    if previous.as_deref() == Some(manifest.digest.as_str()) {
        return Ok(output(previous, false));
    }
    if from.repository != to.repository {
        copy_content(&mut client, promotion, &manifest).await?;
    }
    client.put_manifest(&to.repository, tag, &manifest).await.map_err(effect_error)?;
    let now = client.digest(&to.repository, tag).await.map_err(effect_error)?;
    if now.as_deref() != Some(manifest.digest.as_str()) {
        return Err(EffectError::new(format!(
            "after the push {to} points at {}, not {}",
            now.as_deref().unwrap_or("nothing"),
            manifest.digest
        ))
        .with_help("another push to the same tag may have raced this one: check the registry"));
    }
    Ok(output(previous, true))
}

impl Primitive for PromoteImage {
    type Params = PromoteParams;
    type Output = PromoteOutput;

    fn name(&self) -> &'static str {
        "promote_image"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/promote_image.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Write
    }

    fn validate(&self, params: &PromoteParams, _context: &EffectContext) -> Result<(), EffectError> {
        references(params).map(|_| ())
    }

    fn live(&self, params: &PromoteParams, context: &EffectContext) -> Result<PromoteOutput, EffectError> {
        let promotion = references(params)?;
        let client = client(&promotion, context, true)?;
        context.progress(&format!("promoting {} to {}", promotion.from.short(), promotion.to.short()));
        let output = context.block_on(|| promote(client, &promotion, params))??;
        if !output.changed {
            context.progress(&format!("{} already points at {}", promotion.to.short(), short_digest(&output.digest)));
        }
        Ok(output)
    }

    fn plan(&self, params: &PromoteParams, context: &EffectContext) -> Result<PromoteOutput, EffectError> {
        let promotion = references(params)?;
        let planned = PromoteOutput {
            from: params.from.text.clone(),
            to: params.to.text.clone(),
            digest: String::new(),
            previous: String::new(),
            changed: true,
            media_type: String::new(),
            summary: summary(&promotion.to, None, None),
        };
        if !context.refresh {
            return Ok(planned);
        }
        let mut client = client(&promotion, context, false)?;
        let (from, to) = (&promotion.from, &promotion.to);
        let tag = to.tag.clone().unwrap_or_default();
        let probed = context.block_on(|| async {
            let manifest = client.manifest(&from.repository, from.reference()).await.map_err(effect_error)?;
            let previous = client.digest(&to.repository, &tag).await.map_err(effect_error)?;
            Ok::<_, EffectError>((manifest, previous))
        })?;
        // A registry that cannot be reached leaves the plan going, the digests unknown.
        let (manifest, previous) = match probed {
            Ok(probed) => probed,
            Err(error) => return Ok(PromoteOutput { summary: format!("unknown ({})", error.message), ..planned }),
        };
        let manifest = manifest.ok_or_else(|| missing_from(&promotion))?;
        Ok(PromoteOutput {
            from: params.from.text.clone(),
            to: params.to.text.clone(),
            summary: summary(to, previous.as_deref(), Some(&manifest.digest)),
            changed: previous.as_deref() != Some(manifest.digest.as_str()),
            digest: manifest.digest,
            previous: previous.unwrap_or_default(),
            media_type: manifest.media_type,
        })
    }

    fn refresh_probes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_default_to_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.org"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn summaries() {
        let to = Reference::parse("r.example.org/cdc/web:production").unwrap();
        let (a, b) = (format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64)));
        assert_eq!(summary(&to, Some(&a), Some(&b)), "web:production  sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb");
        assert_eq!(summary(&to, Some(&b), Some(&b)), "web:production  sha256:bbbbbbbbbbbb (already)");
        assert_eq!(summary(&to, None, Some(&b)), "web:production  (new) -> sha256:bbbbbbbbbbbb");
    }
}
