//! `helm_upgrade`: `helm upgrade --install` with the real helm binary, recording the
//! revision it replaced, so a compensation can roll back to it.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base::confined::{ConfinedPath, ConfinedTree};
use crate::base::names::{ChartReference, ChartVersion, Namespace, ReleaseName};
use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};
use crate::providers::helm::{ChartMetadata, Helm, HelmCommand, Release, go_duration, manifest_diff, parse_json};
use crate::providers::kube::namespace;

/// The helm_upgrade primitive.
#[doc = include_str!("docs/helm_upgrade.md")]
pub struct HelmUpgrade;

/// Arguments of `helm_upgrade`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmUpgradeParams {
    pub release: ReleaseName,
    pub chart: ChartReference,
    pub namespace: Option<Namespace>,
    /// Values, written to a temporary values file.
    pub values: Option<serde_json::Map<String, Value>>,
    /// `--set-json key=value` for each entry: helm's own key syntax, values keep their type.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// Values files, relative to the scripts root.
    #[serde(default)]
    pub values_files: Vec<String>,
    pub version: Option<ChartVersion>,
    /// Roll back by itself when the upgrade fails (`--rollback-on-failure`, helm 3's `--atomic`).
    #[serde(default)]
    pub atomic: bool,
    /// Wait until the release's resources are ready (`--wait`).
    #[serde(default)]
    pub wait: bool,
    #[serde(default, with = "crate::base::time::serde_duration::option")]
    pub timeout: Option<Duration>,
    /// Install when the release does not exist yet (`--install`); default true.
    #[serde(default = "default_install")]
    pub install: bool,
}

fn default_install() -> bool {
    true
}

/// Result of `helm_upgrade`.
#[derive(Debug, Serialize)]
pub struct HelmUpgradeOutput {
    pub release: String,
    pub namespace: String,
    /// The revision this upgrade made.
    pub revision: i64,
    /// The revision it replaced; 0 when this was the first install.
    pub previous_revision: i64,
    pub chart: String,
    pub chart_version: String,
    pub app_version: String,
    /// Helm's status of the new revision (`deployed`).
    pub status: String,
    /// What changed, resource by resource, as unified diffs of the manifests.
    pub diff: String,
    /// What `plan --refresh` learned (`revision 3 deployed now`, `not installed yet`),
    /// or `unknown (why)` when the cluster could not be asked; empty otherwise.
    pub summary: String,
}

/// The chart's name as a plan can guess it from the reference: `charts/cdc` → `cdc`,
/// `oci://registry/charts/cdc` → `cdc`, `cdc-1.2.0.tgz` → `cdc`.
fn chart_name(reference: &str) -> String {
    let last = reference.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or(reference);
    let last = last.strip_suffix(".tgz").unwrap_or(last);
    match last.rsplit_once('-') {
        Some((name, version)) if reference.ends_with(".tgz") && version.starts_with(|c: char| c.is_ascii_digit()) => {
            name.to_string()
        }
        _ => last.to_string(),
    }
}

/// Does `chart` name something on disk (rather than `repo/chart` or a URL)? helm looks
/// for a local chart first, relative to its working directory (the scripts root), so
/// anything path-like, packaged, or present there is a path and must be confined.
fn names_local_chart(chart: &str, root: &Path) -> bool {
    // `file://` is a path in URL clothing; other schemes (oci, https) are remote.
    if chart.starts_with("file:") {
        return true;
    }
    if chart.contains("://") {
        return false;
    }
    let path = Path::new(chart);
    path.is_absolute()
        || chart.starts_with('.')
        || chart.ends_with(".tgz")
        || path.components().any(|component| matches!(component, Component::ParentDir))
        || std::fs::symlink_metadata(root.join(path)).is_ok()
}

/// A local chart resolved inside the scripts root; `None` for a repository or registry
/// reference. helm follows every symlink in a chart directory (a template, a values
/// file, `files/`, a subchart under `charts/`), so the directory is walked and each
/// symlink in it must resolve inside the root too ([`ConfinedPath::tree_with_help`]);
/// a packaged chart (`.tgz`) is one file. Every chart handed to helm (upgrade,
/// template, show chart) and every chart checked for uncommitted files comes here.
fn local_chart(chart: &str, root: &Path) -> Result<Option<ConfinedTree>, EffectError> {
    if !names_local_chart(chart, root) {
        return Ok(None);
    }
    let path = ConfinedPath::tree_with_help(
        root,
        "chart",
        chart,
        "use a chart directory or .tgz inside the scripts root (relative to it), or a repo/chart or oci:// reference",
    )?;
    Ok(Some(path))
}

/// The chart as helm is handed it: a local chart's resolved absolute path (symlinks
/// followed, inside the scripts root), a repository or registry reference as written.
fn chart_location(chart: &str, root: &Path) -> Result<String, EffectError> {
    Ok(match local_chart(chart, root)? {
        Some(tree) => tree.top.path().display().to_string(),
        None => chart.to_string(),
    })
}

/// A protected environment deploys only what is committed: the local chart (every
/// file in it, git-ignored ones included, and what its symlinks lead to elsewhere in
/// the root) and the values files.
fn refuse_uncommitted(params: &HelmUpgradeParams, context: &EffectContext) -> Result<(), EffectError> {
    if !context.environment.protected {
        return Ok(());
    }
    let root = context.root();
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    if let Some(tree) = local_chart(&params.chart, root)? {
        paths.push(tree.top.path());
        paths.extend(tree.linked.iter().map(ConfinedPath::path));
    }
    paths.extend(values_files(&params.values_files, root)?.iter().map(ConfinedPath::path));
    let files = crate::providers::git::uncommitted_paths(root, &paths);
    if files.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = files.iter().take(10).map(String::as_str).collect();
    Err(EffectError::new(format!(
        "environment \"{}\" is protected and helm_upgrade would deploy files that are not committed: {}{}",
        context.environment_name,
        shown.join(", "),
        if files.len() > shown.len() { ", ..." } else { "" }
    ))
    .with_help(
        "commit the chart and values files (a git-ignored file must be un-ignored and committed), then run again",
    ))
}

/// The values files, each resolved inside the scripts root and a regular file.
fn values_files(files: &[String], root: &Path) -> Result<Vec<ConfinedPath>, EffectError> {
    let mut resolved = Vec::new();
    for file in files {
        let path = ConfinedPath::with_help(
            root,
            "values file",
            file,
            "name a values file inside the scripts root, relative to it (or pass values inline with `values`)",
        )?;
        if !path.is_file() {
            return Err(EffectError::new(format!(
                "values file \"{file}\" is not a regular file under the scripts root {}",
                root.display()
            )));
        }
        resolved.push(path);
    }
    Ok(resolved)
}

impl HelmUpgradeParams {
    /// What both `helm upgrade` and `helm template` take: release and chart (positional,
    /// after `--`; a local chart as its path resolved inside `root`), namespace, values,
    /// version.
    fn chart_args(
        &self,
        command: &mut HelmCommand,
        root: &Path,
        namespace: &Namespace,
        values_file: Option<&Path>,
    ) -> Result<(), EffectError> {
        let chart = chart_location(&self.chart, root)?;
        command.positional(&self.release).positional(&chart).option("--namespace", namespace);
        for file in values_files(&self.values_files, root)? {
            command.option("--values", &file.path().display().to_string());
        }
        if let Some(file) = values_file {
            command.option("--values", &file.display().to_string());
        }
        for (key, value) in &self.set {
            let json = serde_json::to_string(value)
                .map_err(|error| EffectError::new(format!("set.{key} cannot be written as JSON: {error}")))?;
            command.option("--set-json", &format!("{key}={json}"));
        }
        if let Some(version) = &self.version {
            command.option("--version", version);
        }
        Ok(())
    }
}

/// A temporary directory holding `values.json` (JSON is YAML) when there are inline values.
fn values_file(params: &HelmUpgradeParams) -> Result<Option<(tempfile::TempDir, std::path::PathBuf)>, EffectError> {
    let Some(values) = &params.values else {
        return Ok(None);
    };
    let dir = tempfile::Builder::new()
        .prefix("shipctl-values-")
        .tempdir()
        .map_err(|error| EffectError::new(format!("cannot make a directory for the values file: {error}")))?;
    let path = dir.path().join("values.json");
    let text = serde_json::to_string_pretty(values)
        .map_err(|error| EffectError::new(format!("values cannot be written as JSON: {error}")))?;
    std::fs::write(&path, text)
        .map_err(|error| EffectError::new(format!("cannot write {}: {error}", path.display())))?;
    Ok(Some((dir, path)))
}

impl Primitive for HelmUpgrade {
    type Params = HelmUpgradeParams;
    type Output = HelmUpgradeOutput;

    fn name(&self) -> &'static str {
        "helm_upgrade"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/helm_upgrade.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Write
    }

    fn validate(&self, params: &HelmUpgradeParams, context: &EffectContext) -> Result<(), EffectError> {
        // release, chart, namespace and version are valid by their types (checked when
        // the arguments were parsed); the environment's namespace, the local chart and
        // the values files are checked here.
        namespace(params.namespace.as_ref(), context)?;
        chart_location(&params.chart, context.root())?;
        values_files(&params.values_files, context.root())?;
        if let Some(key) = params.set.keys().find(|key| key.is_empty()) {
            return Err(EffectError::new(format!("set has an empty key ({key:?})")));
        }
        Ok(())
    }

    fn live(&self, params: &HelmUpgradeParams, context: &EffectContext) -> Result<HelmUpgradeOutput, EffectError> {
        refuse_uncommitted(params, context)?;
        let helm = Helm::new(context);
        let namespace = namespace(params.namespace.as_ref(), context)?;
        let current = helm.status(context, &params.release, &namespace)?;
        if current.is_none() && !params.install {
            return Err(EffectError::new(format!(
                "release {} is not installed in namespace {namespace}, and install is false",
                params.release
            ))
            .with_help("install it first, or leave install at its default (true)"));
        }
        let values = values_file(params)?;
        let mut args = HelmCommand::new(["upgrade"]);
        params.chart_args(&mut args, context.root(), &namespace, values.as_ref().map(|(_, path)| path.as_path()))?;
        if params.install {
            args.flag("--install");
        }
        if params.wait {
            args.flag("--wait");
        }
        if params.atomic {
            let flag = if helm.major_version(context)? >= 4 { "--rollback-on-failure" } else { "--atomic" };
            args.flag(flag);
        }
        if let Some(timeout) = params.timeout {
            args.option("--timeout", &go_duration(timeout));
        }
        args.option("--output", "json");
        let previous = current.as_ref().map(|release| release.version).unwrap_or(0);
        context.progress(&format!(
            "helm upgrade {} {} in {namespace} (revision {previous} now)",
            params.release, params.chart
        ));
        let printed = helm.run(context, &args)?;
        let release: Release = parse_json(&printed, "helm upgrade")?;
        let metadata = release.chart.map(|chart| chart.metadata).unwrap_or_default();
        let before = current.map(|release| release.manifest).unwrap_or_default();
        Ok(HelmUpgradeOutput {
            release: release.name,
            namespace: namespace.to_string(),
            revision: release.version,
            previous_revision: previous,
            chart: metadata.name,
            chart_version: metadata.version,
            app_version: metadata.app_version,
            status: release.info.status,
            diff: manifest_diff(&before, &release.manifest),
            summary: String::new(),
        })
    }

    fn plan(&self, params: &HelmUpgradeParams, context: &EffectContext) -> Result<HelmUpgradeOutput, EffectError> {
        let namespace = namespace(params.namespace.as_ref(), context)?;
        let planned = HelmUpgradeOutput {
            release: params.release.to_string(),
            namespace: namespace.to_string(),
            revision: 1,
            previous_revision: 0,
            chart: chart_name(&params.chart),
            chart_version: params.version.as_ref().map(ToString::to_string).unwrap_or_default(),
            app_version: String::new(),
            status: "deployed".to_string(),
            diff: String::new(),
            summary: String::new(),
        };
        if !context.refresh {
            return Ok(planned);
        }
        // Read-only: the release as it is (helm status reads), the chart rendered
        // locally (helm template contacts no cluster), and the difference. A cluster that
        // cannot be asked leaves the plan going, the release's state unknown.
        let helm = Helm::new(context);
        let current = match helm.status(context, &params.release, &namespace) {
            Ok(current) => current,
            Err(error) => return Ok(HelmUpgradeOutput { summary: format!("unknown ({})", error.message), ..planned }),
        };
        let values = values_file(params)?;
        let mut template = HelmCommand::new(["template"]);
        params.chart_args(
            &mut template,
            context.root(),
            &namespace,
            values.as_ref().map(|(_, path)| path.as_path()),
        )?;
        template.flag("--no-hooks");
        if current.is_some() {
            template.flag("--is-upgrade");
        }
        let rendered = helm.run(context, &template)?;
        let mut show = HelmCommand::new(["show", "chart"]);
        show.positional(&chart_location(&params.chart, context.root())?);
        if let Some(version) = &params.version {
            show.option("--version", version);
        }
        let metadata: ChartMetadata = serde_saphyr::from_str(&helm.run(context, &show)?)
            .map_err(|error| EffectError::new(format!("cannot read the chart's Chart.yaml: {error}")))?;
        let previous = current.as_ref().map(|release| release.version).unwrap_or(0);
        let summary = match &current {
            Some(release) => format!("revision {previous} {} now", release.info.status),
            None => "not installed yet".to_string(),
        };
        let before = current.map(|release| release.manifest).unwrap_or_default();
        Ok(HelmUpgradeOutput {
            revision: previous + 1,
            previous_revision: previous,
            chart: metadata.name,
            chart_version: metadata.version,
            app_version: metadata.app_version,
            diff: manifest_diff(&before, &rendered),
            summary,
            ..planned
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
    fn chart_names_from_references() {
        assert_eq!(chart_name("charts/cdc"), "cdc");
        assert_eq!(chart_name("./charts/cdc/"), "cdc");
        assert_eq!(chart_name("oci://registry.example/charts/cdc"), "cdc");
        assert_eq!(chart_name("bitnami/nginx"), "nginx");
        assert_eq!(chart_name("packages/cdc-frontend-1.2.0.tgz"), "cdc-frontend");
    }
}
