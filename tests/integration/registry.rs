//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry) with its storage in a temporary directory, on a free loopback port,
//! optionally behind htpasswd basic auth or behind token auth (a token service here
//! signs JWTs with a key whose self-signed certificate the registry trusts); stopped
//! and deleted on drop. Images are built here (a config blob, a tar.gz layer, a
//! manifest) and pushed through the API.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::SigningKey;

use reqwest::StatusCode;
use serde_json::json;

const INSTALL: &str = "install the registry (Debian: apt-get install docker-registry; ./.ci/test does)";

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                      application/vnd.docker.distribution.manifest.v2+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json";

/// A running registry.
pub struct Registry {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `127.0.0.1:<port>`: how image references name it.
    pub host: String,
    credentials: Option<(String, String)>,
    issuer: Option<TokenIssuer>,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// How a registry wants to be logged in to.
enum Auth {
    Anonymous,
    Basic(String, String),
    Token(String, String),
}

const ISSUER: &str = "shipctl-test-issuer";
const SERVICE: &str = "shipctl-test-registry";

/// The token service of a registry with token auth: signs registry JWTs (RS256, the
/// certificate in `x5c`) for a user with the right password, for the scopes asked.
struct TokenIssuer {
    key: Arc<rcgen::KeyPair>,
    certificate: String,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<AtomicUsize>,
    realm: String,
}

/// A registry JWT granting `access` (`[(repository, [actions])]`).
fn mint(key: &rcgen::KeyPair, certificate: &str, subject: &str, access: &[(String, Vec<String>)]) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = json!({ "typ": "JWT", "alg": "RS256", "x5c": [certificate] });
    let access: Vec<serde_json::Value> = access
        .iter()
        .map(|(name, actions)| json!({ "type": "repository", "name": name, "actions": actions }))
        .collect();
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", access.len()), "access": access,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let signature = key.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

impl TokenIssuer {
    /// Start the token service; writes the certificate the registry trusts to `bundle`.
    fn start(user: &str, password: &str, bundle: &std::path::Path) -> TokenIssuer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["shipctl-test-issuer".to_string()]).unwrap();
        let certificate = params.self_signed(&key).unwrap();
        std::fs::write(bundle, certificate.pem()).unwrap();
        let certificate = STANDARD.encode(certificate.der());
        let key = Arc::new(key);
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let realm = format!("http://127.0.0.1:{}/token", server.server_addr().to_ip().unwrap().port());
        let requests = Arc::new(AtomicUsize::new(0));
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        let thread = {
            let (server, key, certificate, requests) =
                (Arc::clone(&server), Arc::clone(&key), certificate.clone(), Arc::clone(&requests));
            let user = user.to_string();
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let authorized = request
                        .headers()
                        .iter()
                        .any(|header| header.field.equiv("Authorization") && header.value.as_str() == expected);
                    if !authorized {
                        let _ = request
                            .respond(tiny_http::Response::from_string("wrong credentials").with_status_code(401));
                        continue;
                    }
                    let url = reqwest::Url::parse(&format!("http://token{}", request.url())).unwrap();
                    let access: Vec<(String, Vec<String>)> = url
                        .query_pairs()
                        .filter(|(key, _)| key == "scope")
                        .filter_map(|(_, scope)| {
                            let mut parts = scope.splitn(3, ':');
                            let (_, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                            Some((name.to_string(), actions.split(',').map(str::to_string).collect()))
                        })
                        .collect();
                    let token = mint(&key, &certificate, &user, &access);
                    let body = json!({ "token": token, "expires_in": 300 }).to_string();
                    let _ = request.respond(tiny_http::Response::from_string(body));
                }
            })
        };
        TokenIssuer { key, certificate, server, thread: Some(thread), requests, realm }
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The repository a registry API path is about (`/v2/<repository>/blobs/...`).
fn repository_of(path: &str) -> String {
    let path = path.split("/v2/").nth(1).unwrap_or_default();
    let end = ["/blobs/", "/manifests/"].iter().filter_map(|marker| path.find(marker)).min().unwrap_or(path.len());
    path[..end].to_string()
}

fn program() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("docker-registry"), dir.join("registry")])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("docker-registry not found on the PATH: {INSTALL}"))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", shipctl::base::digest::sha256_hex(bytes))
}

impl Registry {
    /// A registry anyone may push to.
    pub fn start() -> Registry {
        Registry::launch(Auth::Anonymous)
    }

    /// A registry that wants `user` and `password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Auth::Basic(user.to_string(), password.to_string()))
    }

    /// A registry that wants a bearer token from its token service, which wants `user`
    /// and `password`.
    pub fn with_token_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Auth::Token(user.to_string(), password.to_string()))
    }

    /// How many requests the token service got.
    pub fn token_requests(&self) -> usize {
        self.issuer.as_ref().map_or(0, |issuer| issuer.requests.load(Ordering::SeqCst))
    }

    fn launch(auth: Auth) -> Registry {
        let program = program();
        let dir = tempfile::Builder::new().prefix("shipctl-registry-").tempdir().expect("temp dir");
        let (auth, credentials, issuer) = match auth {
            Auth::Anonymous => (String::new(), None, None),
            Auth::Basic(user, password) => {
                let hash = bcrypt::hash_with_result(&password, 4).unwrap().format_for_version(bcrypt::Version::TwoA);
                std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
                let path = dir.path().join("htpasswd");
                let auth = format!("auth:\n  htpasswd:\n    realm: shipctl-test\n    path: {}\n", path.display());
                (auth, Some((user, password)), None)
            }
            Auth::Token(user, password) => {
                let bundle = dir.path().join("issuer.pem");
                let issuer = TokenIssuer::start(&user, &password, &bundle);
                let auth = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    issuer.realm,
                    bundle.display()
                );
                (auth, None, Some(issuer))
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let http = reqwest::Client::new();
        let mut registry = Registry { dir, child: None, host: String::new(), credentials, issuer, runtime, http };
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: shipctl-test-secret\n{auth}",
                registry.storage().display()
            );
            let config_path = registry.dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = File::create(registry.dir.path().join("registry.log")).unwrap();
            let child = Command::new(&program)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}; {INSTALL}", program.display()));
            registry.child = Some(child);
            registry.host = format!("127.0.0.1:{port}");
            if registry.wait_ready() {
                return registry;
            }
        }
        panic!("the registry did not start: {}", registry.log());
    }

    /// True once `/v2/` answers; false if the registry exited (the port was taken).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/v2/", self.host);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                let log = self.log();
                assert!(log.contains("address already in use"), "docker-registry exited: {log}");
                return false;
            }
            let answered = self.runtime.block_on(async {
                let request = self.http.get(&url).timeout(Duration::from_millis(500)).send();
                request.await.map(|response| response.status()).ok()
            });
            if matches!(answered, Some(StatusCode::OK | StatusCode::UNAUTHORIZED)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the registry did not answer within 30 s: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry keeps blobs and manifests.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// `127.0.0.1:<port>/<repository>:<tag>`.
    pub fn image(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.host)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_string() } else { format!("http://{}{path}", self.host) };
        let request = self.http.request(method, url);
        if let Some(issuer) = &self.issuer {
            let everything = vec!["pull".to_string(), "push".to_string()];
            let token = mint(&issuer.key, &issuer.certificate, "fixture", &[(repository_of(path), everything)]);
            return request.bearer_auth(token);
        }
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Upload a blob (monolithic upload); returns its descriptor.
    pub fn push_blob(&self, repository: &str, media_type: &str, bytes: &[u8]) -> serde_json::Value {
        let digest = sha256(bytes);
        self.runtime.block_on(async {
            let started =
                self.request(reqwest::Method::POST, &format!("/v2/{repository}/blobs/uploads/")).send().await.unwrap();
            assert_eq!(started.status(), StatusCode::ACCEPTED, "start upload: {:?}", started.text().await);
            let location = started.headers()["location"].to_str().unwrap().to_string();
            let separator = if location.contains('?') { '&' } else { '?' };
            let finished = self
                .request(reqwest::Method::PUT, &format!("{location}{separator}digest={digest}"))
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(finished.status(), StatusCode::CREATED, "finish upload: {:?}", finished.text().await);
        });
        json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() })
    }

    /// Store a manifest under `reference`; returns its digest.
    pub fn push_manifest(&self, repository: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        self.runtime.block_on(async {
            let response = self
                .request(reqwest::Method::PUT, &format!("/v2/{repository}/manifests/{reference}"))
                .header("content-type", media_type)
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "push manifest: {:?}", response.text().await);
        });
        sha256(body)
    }

    /// Build and push a one-layer image whose layer holds `content`; returns the
    /// manifest's digest. `media_type` is the OCI or the Docker v2 manifest type.
    pub fn push_image(&self, repository: &str, tag: &str, media_type: &str, content: &str) -> String {
        let body = self.image_manifest(repository, media_type, content);
        self.push_manifest(repository, tag, media_type, &body)
    }

    fn image_manifest(&self, repository: &str, media_type: &str, content: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "hello.txt", content.as_bytes()).unwrap();
        let layer_tar = tar.into_inner().unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gzip, &layer_tar).unwrap();
        let layer = gzip.finish().unwrap();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Cmd": ["/hello"] },
            "rootfs": { "type": "layers", "diff_ids": [sha256(&layer_tar)] },
        });
        let (config_type, layer_type) = if media_type == DOCKER_MANIFEST {
            ("application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip")
        } else {
            ("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
        };
        let config = self.push_blob(repository, config_type, &serde_json::to_vec(&config).unwrap());
        let layer = self.push_blob(repository, layer_type, &layer);
        let manifest = json!({ "schemaVersion": 2, "mediaType": media_type, "config": config, "layers": [layer] });
        serde_json::to_vec(&manifest).unwrap()
    }

    /// Push an OCI index of two one-layer images (amd64, arm64) under `tag`; returns
    /// the index's digest and the images' digests.
    pub fn push_index(&self, repository: &str, tag: &str) -> (String, Vec<String>) {
        let mut children = Vec::new();
        let mut descriptors = Vec::new();
        for architecture in ["amd64", "arm64"] {
            let body = self.image_manifest(repository, OCI_MANIFEST, &format!("built for {architecture}"));
            let digest = self.push_manifest(repository, &sha256(&body), OCI_MANIFEST, &body);
            descriptors.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": body.len(),
                "platform": { "architecture": architecture, "os": "linux" },
            }));
            children.push(digest);
        }
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors });
        let digest = self.push_manifest(repository, tag, OCI_INDEX, &serde_json::to_vec(&index).unwrap());
        (digest, children)
    }

    /// The digest `reference` points at, read with our own request (not shipctl's).
    pub fn digest(&self, repository: &str, reference: &str) -> Option<String> {
        self.runtime.block_on(async {
            let response = self
                .request(reqwest::Method::GET, &format!("/v2/{repository}/manifests/{reference}"))
                .header("accept", ACCEPT)
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::NOT_FOUND {
                return None;
            }
            assert_eq!(response.status(), StatusCode::OK);
            Some(sha256(&response.bytes().await.unwrap()))
        })
    }

    /// Whether `repository` serves the blob `digest`.
    pub fn has_blob(&self, repository: &str, digest: &str) -> bool {
        self.runtime.block_on(async {
            let response =
                self.request(reqwest::Method::HEAD, &format!("/v2/{repository}/blobs/{digest}")).send().await.unwrap();
            response.status() == StatusCode::OK
        })
    }

    /// The blobs an image manifest names (config and layers).
    pub fn blobs_of(&self, repository: &str, reference: &str) -> Vec<String> {
        let body = self.runtime.block_on(async {
            let response = self
                .request(reqwest::Method::GET, &format!("/v2/{repository}/manifests/{reference}"))
                .header("accept", ACCEPT)
                .send()
                .await
                .unwrap();
            response.bytes().await.unwrap()
        });
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
        for layer in manifest["layers"].as_array().unwrap() {
            digests.push(layer["digest"].as_str().unwrap().to_string());
        }
        digests
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.issuer.take();
    }
}
