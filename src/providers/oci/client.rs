//! One registry's API: requests with the authorization the registry asked for,
//! manifests read and written, blobs checked, mounted or copied (streamed and verified
//! against their digest), and errors that say what the registry answered.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::manifest::{ACCEPTED, Descriptor, MANIFEST_CAP, Manifest};
use super::reference::is_digest;
use crate::config::{Keep, Redactor};
use crate::providers::http::EXCERPT_BODY_CAP;

/// How much of a registry's error answer an error quotes.
pub(super) const ERROR_EXCERPT_CHARS: usize = 300;

/// Longest wait for one API request (manifests, HEADs, mounts): a registry that hangs
/// fails the effect long before the run's deadline.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait for copying one blob, which can be large.
const BLOB_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A registry answered something other than what was asked for.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RegistryError {
    pub message: String,
    pub help: Option<String>,
    /// The HTTP status, when the registry answered.
    pub status: Option<StatusCode>,
}

impl miette::Diagnostic for RegistryError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::registry"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

impl RegistryError {
    pub(super) fn new(message: impl Into<String>) -> RegistryError {
        RegistryError { message: message.into(), help: None, status: None }
    }
}

/// How requests are authorized, once the registry said how it wants it.
#[derive(Debug, Clone)]
pub(super) enum Authorization {
    None,
    Basic,
    Bearer(String),
}

/// One registry, with the scopes of one promotion (for the token service).
pub struct Client<'a> {
    pub(super) http: &'a reqwest::Client,
    pub(super) host: String,
    pub(super) base: String,
    pub(super) credentials: Option<Credentials>,
    pub(super) scopes: Vec<String>,
    pub(super) authorization: Authorization,
    /// Scrubs what a registry echoes before an error quotes it.
    pub(super) redactor: Redactor,
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
            tracing::debug!(method = %method, url = %self.redactor.redact_str(&url), "registry request");
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
            tracing::debug!(method = %method, url = %self.redactor.redact_str(&url), status = status.as_u16(), "registry answered");
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
    pub(super) fn words(&self, error: &reqwest::Error, timeout: Option<Duration>) -> String {
        crate::providers::http::error_in_words(error, timeout, &self.redactor)
    }

    /// The beginning of an error answer's body, read up to a cap (unredacted: quote it
    /// only through the redactor's excerpt).
    pub(super) async fn error_body(&self, response: reqwest::Response) -> String {
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

    /// `method` (GET or HEAD) on the manifest `reference` in `repository`, accepting the
    /// manifest types shipctl reads; `None` when the registry has no such manifest.
    async fn manifest_request(
        &mut self,
        method: Method,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Answer>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let accepted = [StatusCode::OK, StatusCode::NOT_FOUND];
        let answer = self.send(method, &path, |request| request.header(ACCEPT, ACCEPTED), &accepted).await?;
        Ok((answer.status != StatusCode::NOT_FOUND).then_some(answer))
    }

    /// The manifest `reference` (tag or digest) in `repository`; `None` if the registry
    /// has no such manifest.
    pub async fn manifest(&mut self, repository: &str, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        let Some(answer) = self.manifest_request(Method::GET, repository, reference).await? else {
            return Ok(None);
        };
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
        let Some(answer) = self.manifest_request(Method::HEAD, repository, reference).await? else {
            return Ok(None);
        };
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

#[cfg(test)]
mod tests {
    use super::super::reference::sha256_digest;
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
}
