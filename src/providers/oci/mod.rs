//! Just enough of the OCI distribution API to promote an image: image references
//! (`reference`), manifests (OCI and Docker v2, images and indexes: `manifest`), blob
//! existence, cross-repository mounts and copies (`client`), and the registry's auth
//! challenge (anonymous, basic, or a bearer token from the realm the `WWW-Authenticate`
//! header names: `auth`).

mod auth;
mod client;
mod manifest;
mod reference;

pub use auth::parse_challenge;
pub use client::{Answer, Client, Credentials, RegistryError};
pub use manifest::{
    DOCKER_LIST, DOCKER_MANIFEST, Descriptor, Manifest, ManifestKind, OCI_INDEX, OCI_MANIFEST, manifest_kind,
};
pub use reference::{ImageReference, Reference, is_digest, sha256_digest, short_digest};
