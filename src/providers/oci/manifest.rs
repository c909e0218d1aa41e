//! Manifests as a registry stores them: their media types, their exact bytes and
//! digest, and the blobs and child manifests they point at.

use serde::Deserialize;

use super::reference::{is_digest, sha256_digest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest read: the distribution spec has registries accept manifests of
/// at least 4 MiB, and none of the images we promote comes near it.
pub(super) const MANIFEST_CAP: usize = 4 * 1024 * 1024;

/// Every manifest type promote_image understands, for the Accept header.
pub(super) const ACCEPTED: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                        application/vnd.docker.distribution.manifest.list.v2+json, \
                        application/vnd.docker.distribution.manifest.v2+json";

/// What kind of manifest a media type is, if it is one promote_image knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// One image: a config blob and layers.
    Image,
    /// A list of images (one per platform), each a manifest of its own.
    Index,
}

pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// A manifest as the registry stores it: the exact bytes (the digest is theirs).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    pub kind: ManifestKind,
}

/// The parts of a manifest that point at other content.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestBody {
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// A pointer to a blob or manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    /// Foreign layers live elsewhere; the registry does not hold them.
    #[serde(default)]
    pub urls: Vec<String>,
}

impl Manifest {
    /// Check the bytes against the expected digest and work out the media type (the
    /// Content-Type header, else the manifest's own `mediaType`).
    pub fn new(bytes: Vec<u8>, content_type: Option<&str>, expected: Option<&str>) -> Result<Manifest, String> {
        let digest = sha256_digest(&bytes);
        if let Some(expected) = expected.filter(|expected| is_digest(expected))
            && expected != digest
        {
            return Err(format!("the manifest's bytes hash to {digest}, not {expected} as the registry says"));
        }
        let body: ManifestBody =
            serde_json::from_slice(&bytes).map_err(|error| format!("the manifest is not JSON: {error}"))?;
        let header = content_type.map(|value| value.split(';').next().unwrap_or(value).trim().to_string());
        let media_type = match (header, body.media_type) {
            (Some(header), _) if manifest_kind(&header).is_some() => header,
            (_, Some(inner)) if !inner.is_empty() => inner,
            (header, inner) => header.or(inner).unwrap_or_default(),
        };
        let kind = manifest_kind(&media_type).ok_or_else(|| {
            format!(
                "unknown manifest media type \"{media_type}\"; promote_image copies OCI and Docker v2 images and indexes"
            )
        })?;
        Ok(Manifest { bytes, media_type, digest, kind })
    }

    /// The blobs an image manifest needs (config and layers, foreign layers left out).
    pub fn blobs(&self) -> Result<Vec<Descriptor>, String> {
        let body: ManifestBody =
            serde_json::from_slice(&self.bytes).map_err(|error| format!("the manifest is not JSON: {error}"))?;
        Ok(body.config.into_iter().chain(body.layers).filter(|descriptor| descriptor.urls.is_empty()).collect())
    }

    /// The manifests an index lists.
    pub fn children(&self) -> Result<Vec<Descriptor>, String> {
        let body: ManifestBody =
            serde_json::from_slice(&self.bytes).map_err(|error| format!("the manifest is not JSON: {error}"))?;
        Ok(body.manifests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_need_a_known_type_and_the_right_digest() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"c","digest":"sha256:00","size":1},"layers":[]}"#.to_vec();
        let manifest = Manifest::new(body.clone(), Some(OCI_MANIFEST), None).unwrap();
        assert_eq!(manifest.kind, ManifestKind::Image);
        assert_eq!(manifest.blobs().unwrap().len(), 1);
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert!(Manifest::new(body.clone(), None, Some(&wrong)).unwrap_err().contains("hash to"));
        let unknown = br#"{"schemaVersion":1,"name":"web","tag":"1"}"#.to_vec();
        let error = Manifest::new(unknown, Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), None)
            .unwrap_err();
        assert!(error.contains("unknown manifest media type"), "{error}");
    }
}
