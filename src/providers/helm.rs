//! The helm binary as `helm_upgrade` and `helm_rollback` run it: found on PATH or at
//! `[helm] bin`, given an argument vector (never a shell), pointed at the environment's
//! kubeconfig and context, bounded by the run's deadline, its stderr kept in errors.
//! Also the diff of two release manifests, resource by resource.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::base::confined::ConfiguredPath;
use crate::base::names::{Namespace, ReleaseName};
use crate::config::{Keep, Redactor};
use crate::effect::{EffectContext, EffectError};

/// A release as `helm status -o json` and `helm upgrade -o json` print it.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    /// The revision.
    pub version: i64,
    #[serde(default)]
    pub info: ReleaseInfo,
    pub chart: Option<Chart>,
    #[serde(default)]
    pub manifest: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReleaseInfo {
    #[serde(default)]
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chart {
    pub metadata: ChartMetadata,
}

/// `Chart.yaml`, as far as results need it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChartMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default, rename = "appVersion")]
    pub app_version: String,
}

/// One line of `helm history -o json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Revision {
    pub revision: i64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub chart: String,
    #[serde(default)]
    pub app_version: String,
}

/// One helm invocation: the subcommand, its flags, and its positional arguments
/// (release, chart, revision). The positionals always go after `--`, which helm's
/// command-line parser (cobra) honours, so a name that begins with `-` can never be
/// read as a flag; the environment's `--kubeconfig`/`--kube-context` go before it.
#[derive(Debug, Clone)]
pub struct HelmCommand {
    subcommand: Vec<String>,
    flags: Vec<String>,
    positionals: Vec<String>,
}

impl HelmCommand {
    /// `helm <words...>`, e.g. `HelmCommand::new(["show", "chart"])`.
    pub fn new<const N: usize>(words: [&str; N]) -> HelmCommand {
        HelmCommand {
            subcommand: words.iter().map(|word| word.to_string()).collect(),
            flags: Vec::new(),
            positionals: Vec::new(),
        }
    }

    /// A flag without a value (`--wait`).
    pub fn flag(&mut self, flag: &str) -> &mut HelmCommand {
        self.flags.push(flag.to_string());
        self
    }

    /// A flag and its value, written as one argument (`--namespace=web`), so the value
    /// can never be taken for a flag of its own.
    pub fn option(&mut self, flag: &str, value: &str) -> &mut HelmCommand {
        self.flags.push(format!("{flag}={value}"));
        self
    }

    /// A positional argument; it goes after `--`.
    pub fn positional(&mut self, value: &str) -> &mut HelmCommand {
        self.positionals.push(value.to_string());
        self
    }

    /// The argument vector: subcommand, flags, `globals`, `--`, positionals.
    fn argv(&self, globals: &[String]) -> Vec<String> {
        let mut argv = self.subcommand.clone();
        argv.extend(self.flags.iter().cloned());
        argv.extend(globals.iter().cloned());
        if !self.positionals.is_empty() {
            argv.push("--".to_string());
            argv.extend(self.positionals.iter().cloned());
        }
        argv
    }

    /// `helm upgrade`, for messages.
    fn describe(&self) -> String {
        format!("helm {}", self.subcommand.join(" "))
    }
}

/// How helm ended.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The helm binary, set up for one environment.
pub struct Helm {
    program: PathBuf,
    /// `--kubeconfig` and `--kube-context`, from the environment.
    globals: Vec<String>,
    root: PathBuf,
    /// Scrubs helm's stderr before an error quotes the end of it.
    redactor: Redactor,
}

/// How much of helm's stderr an error keeps (the end, where the error is).
const STDERR_EXCERPT_CHARS: usize = 4000;

/// A Go duration for `--timeout`.
pub fn go_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

impl Helm {
    pub fn new(context: &EffectContext) -> Helm {
        let program = match &context.project.config.helm.bin {
            Some(bin) if bin.components().count() > 1 || bin.is_absolute() => {
                ConfiguredPath::from_config(&context.project.root, bin).into_path()
            }
            Some(bin) => bin.clone(),
            None => PathBuf::from("helm"),
        };
        let mut globals = Vec::new();
        // Each value glued to its flag, so none can be read as a flag of its own.
        if let Some(kubeconfig) = context.environment.kubeconfig() {
            globals.push(format!(
                "--kubeconfig={}",
                ConfiguredPath::from_config(&context.project.root, Path::new(kubeconfig))
            ));
        }
        if let Some(kube_context) = context.environment.kube_context() {
            globals.push(format!("--kube-context={kube_context}"));
        }
        Helm { program, globals, root: context.root().clone(), redactor: context.redactor() }
    }

    fn not_found(&self) -> EffectError {
        EffectError::new(format!("helm not found (looked for {})", self.program.display())).with_help(
            "install helm 3.8 or later (https://helm.sh/docs/intro/install/), or set [helm] bin = \"/path/to/helm\" in shipctl.toml",
        )
    }

    async fn spawn(&self, command: &HelmCommand) -> Result<Finished, EffectError> {
        self.spawn_until(command, std::future::pending()).await
    }

    /// Run helm; when `signalled` resolves first, pass that signal on to helm and still
    /// wait for it: helm answers SIGINT/SIGTERM by cancelling its `--wait` and marking
    /// the release failed, which a kill would not do.
    async fn spawn_until(
        &self,
        command: &HelmCommand,
        signalled: impl std::future::Future<Output = i32>,
    ) -> Result<Finished, EffectError> {
        let cannot_run = |error: std::io::Error| match error.kind() {
            std::io::ErrorKind::NotFound => self.not_found(),
            _ => EffectError::new(format!("cannot run {}: {error}", self.program.display())),
        };
        let argv = command.argv(&self.globals);
        tracing::debug!(program = %self.program.display(), argv = %self.redactor.redact_str(&argv.join(" ")), "running helm");
        let child = tokio::process::Command::new(&self.program)
            .args(argv)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(cannot_run)?;
        let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
        let output = child.wait_with_output();
        tokio::pin!(output);
        let output = tokio::select! {
            output = &mut output => output,
            number = signalled => {
                if let Some(pid) = pid {
                    // SAFETY: kill(2) on the pid of a child not yet waited for (so not reused).
                    unsafe { libc::kill(pid, number) };
                }
                output.await
            }
        }
        .map_err(cannot_run)?;
        Ok(Finished {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// The end of helm's stderr, redacted before it is cut.
    fn stderr_excerpt(&self, stderr: &str) -> String {
        self.redactor.excerpt(stderr.trim(), Keep::Tail(STDERR_EXCERPT_CHARS))
    }

    async fn check(
        &self,
        command: &HelmCommand,
        signalled: impl std::future::Future<Output = i32>,
    ) -> Result<String, EffectError> {
        let finished = self.spawn_until(command, signalled).await?;
        if finished.code == Some(0) {
            return Ok(finished.stdout);
        }
        let how = finished.code.map(|code| format!("exit code {code}")).unwrap_or_else(|| "killed".to_string());
        let what = match command.positionals.first() {
            Some(first) => format!("{} {first}", command.describe()),
            None => command.describe(),
        };
        Err(EffectError::new(format!("{what} failed ({how}): {}", self.stderr_excerpt(&finished.stderr))))
    }

    /// Run helm and return its stdout; a failure keeps helm's stderr. Bounded by the
    /// run's deadline (helm is killed when it passes); a signal to the run is passed on.
    pub fn run(&self, context: &EffectContext, command: &HelmCommand) -> Result<String, EffectError> {
        context.block_on(|| self.check(command, context.signalled()))?
    }

    /// The major version (3 or 4): flags differ between them.
    pub fn major_version(&self, context: &EffectContext) -> Result<u32, EffectError> {
        let mut command = HelmCommand::new(["version"]);
        command.option("--template", "{{.Version}}");
        let version = context.block_on(|| async { self.check(&command, std::future::pending()).await })??;
        version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .ok_or_else(|| EffectError::new(format!("cannot read helm's version from {:?}", version.trim())))
    }

    /// The deployed (or last) release, `None` when it is not installed.
    pub fn status(
        &self,
        context: &EffectContext,
        release: &ReleaseName,
        namespace: &Namespace,
    ) -> Result<Option<Release>, EffectError> {
        let mut command = HelmCommand::new(["status"]);
        command.option("--namespace", namespace).option("--output", "json").positional(release);
        let finished = context.block_on(|| self.spawn(&command))??;
        if finished.code != Some(0) {
            if finished.stderr.contains("release: not found") {
                return Ok(None);
            }
            return Err(EffectError::new(format!(
                "helm status {release} failed: {}",
                self.stderr_excerpt(&finished.stderr)
            )));
        }
        parse_json(&finished.stdout, "helm status").map(Some)
    }

    /// Every revision of a release, oldest first; empty when it is not installed.
    pub fn history(
        &self,
        context: &EffectContext,
        release: &ReleaseName,
        namespace: &Namespace,
    ) -> Result<Vec<Revision>, EffectError> {
        let mut command = HelmCommand::new(["history"]);
        command.option("--namespace", namespace).option("--output", "json").option("--max", "1000").positional(release);
        let finished = context.block_on(|| self.spawn(&command))??;
        if finished.code != Some(0) {
            if finished.stderr.contains("release: not found") {
                return Ok(Vec::new());
            }
            return Err(EffectError::new(format!(
                "helm history {release} failed: {}",
                self.stderr_excerpt(&finished.stderr)
            )));
        }
        let mut revisions: Vec<Revision> = parse_json(&finished.stdout, "helm history")?;
        revisions.sort_by_key(|revision| revision.revision);
        Ok(revisions)
    }
}

/// Parse helm's JSON output, saying which command printed it when it does not parse.
/// The output is not quoted: it holds rendered manifests, Secrets included.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, command: &str) -> Result<T, EffectError> {
    serde_json::from_str(text).map_err(|error| {
        EffectError::new(format!("cannot read the JSON {command} printed ({} bytes): {error}", text.len()))
    })
}

/// One resource of a manifest: how it is named in a diff, and its text.
struct Resource {
    key: String,
    text: String,
}

/// Split a multi-document manifest into resources, named `Kind name (namespace)`.
fn resources(manifest: &str) -> Vec<Resource> {
    let mut documents: Vec<String> = vec![String::new()];
    for line in manifest.lines() {
        if line.trim_end() == "---" {
            documents.push(String::new());
            continue;
        }
        if line.starts_with("# Source:") {
            continue;
        }
        let current = documents.last_mut().expect("documents starts non-empty");
        current.push_str(line);
        current.push('\n');
    }
    let mut found = Vec::new();
    for (index, text) in documents.into_iter().enumerate() {
        if text.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        let parsed: Option<Value> = serde_saphyr::from_str(&text).ok();
        let field = |pointer: &str| {
            parsed.as_ref().and_then(|value| value.pointer(pointer)).and_then(Value::as_str).map(str::to_string)
        };
        let key = match (field("/kind"), field("/metadata/name")) {
            (Some(kind), Some(name)) => match field("/metadata/namespace") {
                Some(namespace) => format!("{kind} {name} ({namespace})"),
                None => format!("{kind} {name}"),
            },
            _ => format!("document {}", index + 1),
        };
        let text = if field("/kind").as_deref() == Some("Secret") { redact_secret(&text) } else { text };
        found.push(Resource { key, text });
    }
    found
}

/// A Secret's values replaced by a digest, so a diff shows that they changed, not what
/// they are.
fn redact_secret(text: &str) -> String {
    let mut out = String::new();
    let mut in_data = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_data = matches!(line.trim_end(), "data:" | "stringData:");
            out.push_str(line);
        } else if in_data && let Some((key, value)) = line.split_once(':') {
            let digest = crate::base::digest::sha256_hex(value.trim().as_bytes());
            out.push_str(&format!("{key}: (redacted, sha256 {})", &digest[..12]));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// What changes between two release manifests, resource by resource, as unified
/// diffs. Empty when nothing changes.
pub fn manifest_diff(old: &str, new: &str) -> String {
    let before = resources(old);
    let after = resources(new);
    let mut out = String::new();
    let changed =
        |old: &str, new: &str| similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).to_string();
    for resource in &after {
        match before.iter().find(|old| old.key == resource.key) {
            None => {
                out.push_str(&format!("+ {} (new)\n", resource.key));
                out.push_str(&changed("", &resource.text));
            }
            Some(old) if old.text != resource.text => {
                out.push_str(&format!("~ {}\n", resource.key));
                out.push_str(&changed(&old.text, &resource.text));
            }
            Some(_) => {}
        }
    }
    for resource in &before {
        if !after.iter().any(|new| new.key == resource.key) {
            out.push_str(&format!("- {} (removed)\n", resource.key));
            out.push_str(&changed(&resource.text, ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "---
# Source: web/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  ports:
  - port: 80
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: nginx:1.16.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: gone
";

    #[test]
    fn diffs_resource_by_resource() {
        let new = OLD.replace("nginx:1.16.0", "nginx:1.27").replace(
            "kind: ConfigMap\nmetadata:\n  name: gone\n",
            "kind: Secret\nmetadata:\n  name: token\ndata:\n  token: c2VjcmV0\n",
        );
        let diff = manifest_diff(OLD, &new);
        assert!(!diff.contains("Service web"), "unchanged resources are left out:\n{diff}");
        assert!(diff.contains("~ Deployment web\n@@"), "{diff}");
        assert!(diff.contains("-      - image: nginx:1.16.0\n+      - image: nginx:1.27\n"), "{diff}");
        assert!(diff.contains("+ Secret token (new)\n"), "{diff}");
        assert!(!diff.contains("c2VjcmV0"), "secret values are redacted:\n{diff}");
        assert!(diff.contains("+  token: (redacted, sha256 "), "{diff}");
        assert!(diff.contains("- ConfigMap gone (removed)\n"), "{diff}");
        assert_eq!(manifest_diff(OLD, OLD), "");
    }

    #[test]
    fn positionals_go_after_the_double_dash() {
        let mut command = HelmCommand::new(["upgrade"]);
        command.positional("web").positional("charts/web").option("--namespace", "demo").flag("--install");
        let globals = vec!["--kube-context=kind".to_string()];
        assert_eq!(
            command.argv(&globals),
            ["upgrade", "--namespace=demo", "--install", "--kube-context=kind", "--", "web", "charts/web"]
        );
        assert_eq!(HelmCommand::new(["version"]).argv(&[]), ["version"]);
    }

    #[test]
    fn timeouts_in_go_syntax() {
        assert_eq!(go_duration(Duration::from_secs(300)), "300s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }
}
