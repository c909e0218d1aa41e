//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry) with its storage in a temporary directory, on a free loopback port,
//! optionally behind htpasswd basic auth; stopped and deleted on drop. Images are
//! built here (a config blob, a tar.gz layer, a manifest) and pushed through the API.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

const INSTALL: &str = "install the registry (Debian: apt-get install docker-registry; .ci/run does)";

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
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

fn program() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("docker-registry"), dir.join("registry")])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("docker-registry not found on the PATH: {INSTALL}"))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", shipctl::run::sha256_hex(bytes))
}

impl Registry {
    /// A registry anyone may push to.
    pub fn start() -> Registry {
        Registry::launch(None)
    }

    /// A registry that wants `user` and `password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(credentials: Option<(String, String)>) -> Registry {
        let program = program();
        let dir = tempfile::Builder::new().prefix("shipctl-registry-").tempdir().expect("temp dir");
        let auth = match &credentials {
            Some((user, password)) => {
                let hash = bcrypt::hash_with_result(password, 4).unwrap().format_for_version(bcrypt::Version::TwoA);
                std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: shipctl-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let http = reqwest::Client::new();
        let mut registry =
            Registry { dir, child: None, host: String::new(), credentials: credentials.clone(), runtime, http };
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
    }
}
