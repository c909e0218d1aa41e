//! Just enough of the OCI distribution API to promote an image: image references,
//! manifests (OCI and Docker v2, images and indexes), blob existence, cross-repository
//! mounts and copies, and the registry's auth challenge (anonymous, basic, or a bearer
//! token from the realm the `WWW-Authenticate` header names).

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{Keep, Redactor};
use crate::providers::http::EXCERPT_BODY_CAP;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Longest wait for one API request (manifests, HEADs, mounts): a registry that hangs
/// fails the effect long before the run's deadline.
/// How much of a registry's error answer an error quotes.
const ERROR_EXCERPT_CHARS: usize = 300;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest manifest read: the distribution spec has registries accept manifests of
/// at least 4 MiB, and none of the images we promote comes near it.
const MANIFEST_CAP: usize = 4 * 1024 * 1024;

/// Longest wait for copying one blob, which can be large.
const BLOB_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Every manifest type promote_image understands, for the Accept header.
const ACCEPTED: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                        application/vnd.docker.distribution.manifest.list.v2+json, \
                        application/vnd.docker.distribution.manifest.v2+json";

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
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
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

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A registry answered something other than what was asked for.
#[derive(Debug)]
pub struct RegistryError {
    pub message: String,
    pub help: Option<String>,
    /// The HTTP status, when the registry answered.
    pub status: Option<StatusCode>,
}

impl RegistryError {
    fn new(message: impl Into<String>) -> RegistryError {
        RegistryError { message: message.into(), help: None, status: None }
    }
}

/// How requests are authorized, once the registry said how it wants it.
#[derive(Debug, Clone)]
enum Authorization {
    None,
    Basic,
    Bearer(String),
}

/// One registry, with the scopes of one promotion (for the token service).
pub struct Client<'a> {
    http: &'a reqwest::Client,
    host: String,
    base: String,
    credentials: Option<Credentials>,
    scopes: Vec<String>,
    authorization: Authorization,
    /// Scrubs what a registry echoes before an error quotes it.
    redactor: Redactor,
}

/// A response whose status was one of those expected.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub response: reqwest::Response,
}

impl<'a> Client<'a> {
    /// `scopes` are what the token service is asked for, such as
    /// `repository:cdc/web:pull,push`.
    pub fn new(
        http: &'a reqwest::Client,
        host: &str,
        scheme: &str,
        credentials: Option<Credentials>,
        scopes: Vec<String>,
        redactor: Redactor,
    ) -> Client<'a> {
        let api = if host == "docker.io" { "registry-1.docker.io" } else { host };
        Client {
            http,
            host: host.to_string(),
            base: format!("{scheme}://{api}"),
            credentials,
            scopes,
            authorization: Authorization::None,
            redactor,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        format!("{}{path}", self.base)
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.authorization, &self.credentials) {
            (Authorization::Basic, Some(credentials)) => {
                request.basic_auth(&credentials.username, Some(&credentials.password))
            }
            (Authorization::Bearer(token), _) => request.bearer_auth(token),
            _ => request,
        }
    }

    /// Send a request (rebuilt by `build` for a retry after the auth challenge) and
    /// return the answer if its status is in `expected`.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<Answer, RegistryError> {
        let url = self.url(path);
        let mut challenged = false;
        loop {
            let request = self.authorize(build(self.http.request(method.clone(), &url).timeout(REQUEST_TIMEOUT)));
            let request = request.build().map_err(|error| {
                RegistryError::new(format!(
                    "cannot make a request to registry {}: {}",
                    self.host,
                    self.words(&error, None)
                ))
            })?;
            let timeout = request.timeout().copied();
            let response = self.http.execute(request).await.map_err(|error| {
                let mut failure =
                    RegistryError::new(format!("cannot reach registry {}: {}", self.host, self.words(&error, timeout)));
                failure.help = Some(format!(
                    "check the host, and scheme = \"http\"/\"https\" under [registries.\"{}\"]",
                    self.host
                ));
                failure
            })?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                self.answer_challenge(&challenge).await?;
                continue;
            }
            if expected.contains(&status) {
                let headers = response.headers().clone();
                return Ok(Answer { status, headers, response });
            }
            return Err(self.failure(&method, path, response).await);
        }
    }

    /// Why a request got no answer, in words, redacted.
    fn words(&self, error: &reqwest::Error, timeout: Option<Duration>) -> String {
        crate::providers::http::error_in_words(error, timeout, &self.redactor)
    }

    /// The beginning of an error answer's body, read up to a cap (unredacted: quote it
    /// only through the redactor's excerpt).
    async fn error_body(&self, response: reqwest::Response) -> String {
        crate::providers::http::read_capped(response, EXCERPT_BODY_CAP, EXCERPT_BODY_CAP, None)
            .await
            .map(|body| body.head_text())
            .unwrap_or_default()
    }

    /// Turn an unexpected answer into an error that says what the registry said.
    async fn failure(&self, method: &Method, path: &str, response: reqwest::Response) -> RegistryError {
        let status = response.status();
        let body = self.error_body(response).await;
        let detail = match registry_errors(&body) {
            Some(errors) => self.redactor.excerpt(&errors, Keep::Head(ERROR_EXCERPT_CHARS * 2)),
            None => self.redactor.excerpt(&body, Keep::Head(ERROR_EXCERPT_CHARS)),
        };
        let what = format!("{method} {path}");
        let mut error = match status {
            StatusCode::UNAUTHORIZED => match &self.credentials {
                Some(credentials) => RegistryError {
                    message: format!(
                        "registry {} refused the credentials of \"{}\" (401) for {what}: {detail}",
                        self.host, credentials.username
                    ),
                    help: Some(format!(
                        "check username and password_secret under [registries.\"{}\"] in shipctl.toml",
                        self.host
                    )),
                    status: None,
                },
                None => RegistryError {
                    message: format!("registry {} requires authentication (401) for {what}", self.host),
                    help: Some(format!(
                        "declare [registries.\"{}\"] with username and password_secret in shipctl.toml",
                        self.host
                    )),
                    status: None,
                },
            },
            StatusCode::FORBIDDEN => RegistryError {
                message: format!("registry {} denied {what} (403): {detail}", self.host),
                help: Some("the account lacks permission for this repository".to_string()),
                status: None,
            },
            _ => RegistryError::new(format!("registry {} answered {status} to {what}: {detail}", self.host)),
        };
        error.status = Some(status);
        error
    }

    async fn answer_challenge(&mut self, challenge: &str) -> Result<(), RegistryError> {
        let (scheme, parameters) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                if self.credentials.is_none() {
                    return Err(RegistryError {
                        message: format!("registry {} requires a user name and password (basic auth)", self.host),
                        help: Some(format!(
                            "declare [registries.\"{}\"] with username and password_secret in shipctl.toml",
                            self.host
                        )),
                        status: Some(StatusCode::UNAUTHORIZED),
                    });
                }
                self.authorization = Authorization::Basic;
                Ok(())
            }
            "bearer" => {
                let token = self.token(&parameters).await?;
                self.authorization = Authorization::Bearer(token);
                Ok(())
            }
            _ => Err(RegistryError::new(format!(
                "registry {} asks for authentication shipctl does not speak: {challenge:?}",
                self.host
            ))),
        }
    }

    /// The bearer-token flow: ask the realm for a token for our scopes, with the
    /// credentials if there are any (anonymous otherwise).
    async fn token(&self, parameters: &[(String, String)]) -> Result<String, RegistryError> {
        let get = |name: &str| parameters.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let realm = get("realm").ok_or_else(|| {
            RegistryError::new(format!("registry {} sent a bearer challenge without a realm", self.host))
        })?;
        let mut url = reqwest::Url::parse(&realm).map_err(|error| {
            RegistryError::new(format!(
                "registry {} names a token realm that is not a URL ({realm}): {error}",
                self.host
            ))
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = get("service") {
                query.append_pair("service", &service);
            }
            for scope in &self.scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url).timeout(REQUEST_TIMEOUT);
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        let response = request.send().await.map_err(|error| {
            RegistryError::new(format!(
                "cannot reach the token service of {}: {}",
                self.host,
                self.words(&error, Some(REQUEST_TIMEOUT))
            ))
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = self.error_body(response).await;
            let body = self.redactor.excerpt(&body, Keep::Head(ERROR_EXCERPT_CHARS));
            let mut error =
                RegistryError::new(format!("the token service of registry {} answered {status}: {body}", self.host));
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                error.help = Some(format!(
                    "check username and password_secret under [registries.\"{}\"] in shipctl.toml",
                    self.host
                ));
            }
            error.status = Some(status);
            return Err(error);
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let answer: TokenAnswer = response.json().await.map_err(|error| {
            RegistryError::new(format!("the token service of {} sent no token: {error}", self.host))
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| RegistryError::new(format!("the token service of {} sent an empty token", self.host)))
    }

    /// The manifest `reference` (tag or digest) in `repository`; `None` if the registry
    /// has no such manifest.
    pub async fn manifest(&mut self, repository: &str, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let answer = self
            .send(
                Method::GET,
                &path,
                |request| request.header(ACCEPT, ACCEPTED),
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let content_type = header(&answer.headers, CONTENT_TYPE.as_str());
        let expected = header(&answer.headers, "docker-content-digest")
            .or_else(|| is_digest(reference).then(|| reference.to_string()));
        let body = crate::providers::http::read_capped(answer.response, MANIFEST_CAP, MANIFEST_CAP, None)
            .await
            .map_err(|error| {
                RegistryError::new(format!(
                    "cannot read manifest {reference} of {repository}: {}",
                    self.words(&error, Some(REQUEST_TIMEOUT))
                ))
            })?;
        if body.truncated {
            return Err(RegistryError::new(format!(
                "manifest {repository}:{reference} is larger than {} MiB, the most a registry may serve; \
                 refusing to read it",
                MANIFEST_CAP >> 20
            )));
        }
        Manifest::new(body.head, content_type.as_deref(), expected.as_deref())
            .map(Some)
            .map_err(|message| RegistryError::new(format!("manifest {repository}:{reference}: {message}")))
    }

    /// The digest `reference` points at now (HEAD), `None` if nothing.
    pub async fn digest(&mut self, repository: &str, reference: &str) -> Result<Option<String>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let answer = self
            .send(
                Method::HEAD,
                &path,
                |request| request.header(ACCEPT, ACCEPTED),
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        match header(&answer.headers, "docker-content-digest").filter(|digest| is_digest(digest)) {
            Some(digest) => Ok(Some(digest)),
            // A registry that does not say: read the manifest and hash it.
            None => Ok(self.manifest(repository, reference).await?.map(|manifest| manifest.digest)),
        }
    }

    /// Store `manifest` in `repository` under `reference` (a tag, or its digest).
    pub async fn put_manifest(
        &mut self,
        repository: &str,
        reference: &str,
        manifest: &Manifest,
    ) -> Result<Option<String>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let bytes = manifest.bytes.clone();
        let media_type = manifest.media_type.clone();
        let answer = self
            .send(
                Method::PUT,
                &path,
                |request| request.header(CONTENT_TYPE, media_type.as_str()).body(bytes.clone()),
                &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED],
            )
            .await?;
        Ok(header(&answer.headers, "docker-content-digest"))
    }

    /// Make `blob` available in `to`: already there, mounted from `from`, or copied.
    pub async fn ensure_blob(&mut self, from: &str, to: &str, blob: &Descriptor) -> Result<(), RegistryError> {
        let exists = self
            .send(
                Method::HEAD,
                &format!("/v2/{to}/blobs/{}", blob.digest),
                |request| request,
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        if exists.status == StatusCode::OK {
            return Ok(());
        }
        let mount = format!("/v2/{to}/blobs/uploads/?mount={}&from={from}", blob.digest);
        let answer =
            self.send(Method::POST, &mount, |request| request, &[StatusCode::CREATED, StatusCode::ACCEPTED]).await?;
        if answer.status == StatusCode::CREATED {
            return Ok(());
        }
        // The registry did not mount it but opened an upload: copy the blob into it.
        let location = header(&answer.headers, "location")
            .ok_or_else(|| RegistryError::new(format!("registry {} opened an upload without a Location", self.host)))?;
        let source = self
            .send(
                Method::GET,
                &format!("/v2/{from}/blobs/{}", blob.digest),
                |request| request.timeout(BLOB_TIMEOUT),
                &[StatusCode::OK],
            )
            .await?;
        // Streamed from one to the other, never held whole in memory; a blob that does
        // not match its digest ends the upload with an error before it completes.
        let body = reqwest::Body::wrap_stream(verified(source.response.bytes_stream(), blob.digest.clone()));
        // Sent once: the upload was opened with this client's push access already, so
        // it is not challenged again; a retry would go without the body and fail.
        let body = std::cell::RefCell::new(Some(body));
        let separator = if location.contains('?') { '&' } else { '?' };
        let upload = format!("{location}{separator}digest={}", blob.digest);
        let upload = if upload.starts_with('/') || upload.starts_with("http") { upload } else { format!("/{upload}") };
        self.send(
            Method::PUT,
            &upload,
            |request| {
                let request = request.timeout(BLOB_TIMEOUT).header(CONTENT_TYPE, "application/octet-stream");
                match body.borrow_mut().take() {
                    Some(body) => request.body(body),
                    None => request,
                }
            },
            &[StatusCode::CREATED, StatusCode::NO_CONTENT],
        )
        .await?;
        Ok(())
    }
}

/// `stream` as it passes, hashed: once it ends, an error instead of the end when what
/// passed is not `digest` (`sha256:<hex>`), so an upload of it never completes.
fn verified<S, B>(stream: S, digest: String) -> impl futures::Stream<Item = Result<B, std::io::Error>>
where
    S: futures::Stream<Item = Result<B, reqwest::Error>> + Send + 'static,
    B: AsRef<[u8]>,
{
    use futures::StreamExt;
    let state = (Box::pin(stream), Some(Sha256::new()));
    futures::stream::unfold(state, move |(mut stream, hasher)| {
        let digest = digest.clone();
        async move {
            let mut hasher = hasher?;
            match stream.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(chunk.as_ref());
                    Some((Ok(chunk), (stream, Some(hasher))))
                }
                Some(Err(error)) => {
                    let error = std::io::Error::other(format!(
                        "cannot read blob {digest}: {}",
                        crate::providers::http::unredacted_words(&error, Some(BLOB_TIMEOUT))
                    ));
                    Some((Err(error), (stream, None)))
                }
                None => {
                    let hex: String = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
                    if format!("sha256:{hex}") == digest {
                        return None;
                    }
                    let error =
                        std::io::Error::other(format!("blob {digest} does not match its digest (sha256:{hex})"));
                    Some((Err(error), (stream, None)))
                }
            }
        }
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string)
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` as
/// `MANIFEST_UNKNOWN: manifest unknown`.
fn registry_errors(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let errors: Errors = serde_json::from_str(body).ok()?;
    let parts: Vec<String> = errors.errors.iter().map(|entry| format!("{}: {}", entry.code, entry.message)).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull,push"`
/// as the scheme and its parameters (quoted values may hold commas).
pub fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut parameters = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            parameters.push((key.trim().to_string(), String::new()));
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        parameters.push((key.trim().to_string(), value));
    }
    (scheme.to_string(), parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(chunks: &[&str], digest: &str) -> Vec<Result<Vec<u8>, String>> {
        use futures::StreamExt;
        let items: Vec<Result<Vec<u8>, reqwest::Error>> =
            chunks.iter().map(|chunk| Ok(chunk.as_bytes().to_vec())).collect();
        let stream = verified(futures::stream::iter(items), digest.to_string());
        futures::executor::block_on(stream.map(|item| item.map_err(|error| error.to_string())).collect())
    }

    #[test]
    fn a_copied_blob_passes_only_when_it_matches_its_digest() {
        let digest = sha256_digest(b"layer bytes");
        let passed = streamed(&["layer ", "bytes"], &digest);
        assert_eq!(passed, vec![Ok(b"layer ".to_vec()), Ok(b"bytes".to_vec())]);
        let tampered = streamed(&["layer ", "bytez"], &digest);
        assert_eq!(tampered.len(), 3, "{tampered:?}");
        let error = tampered[2].clone().unwrap_err();
        assert!(error.contains(&format!("blob {digest} does not match its digest")), "{error}");
    }

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

    #[test]
    fn challenges() {
        let (scheme, parameters) = parse_challenge(
            "Bearer realm=\"https://auth.example.org/token\",service=\"registry\",scope=\"repository:a/b:pull,push\"",
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            parameters,
            vec![
                ("realm".to_string(), "https://auth.example.org/token".to_string()),
                ("service".to_string(), "registry".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string()),
            ]
        );
        assert_eq!(parse_challenge("Basic realm=\"x\"").0, "Basic");
    }

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
