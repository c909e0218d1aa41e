//! A stand-in for a program shipctl spawns (helm, pg_dump, ...) that records every
//! argument vector it is given, so a hostile test can see exactly what reached the
//! program. The answers are a shell `case` on the first argument.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An executable script at `path` that appends its argv to `log` before answering.
pub struct FakeTool {
    pub path: PathBuf,
    log: PathBuf,
}

impl FakeTool {
    /// A program called `name` in `dir`. `answers` is the body of a shell `case "$1" in
    /// ... esac` (each branch prints what the real program would and exits); anything
    /// not matched exits 0 printing nothing.
    pub fn new(dir: &Path, name: &str, answers: &str) -> FakeTool {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        let log = dir.join(format!("{name}.argv"));
        // One argument per line, each invocation ended by a line holding only a NUL
        // marker, so arguments with spaces or leading dashes stay whole.
        let script = format!(
            "#!/bin/sh\nfor arg in \"$@\"; do printf '%s\\n' \"$arg\" >> '{log}'; done\nprintf '@@end\\n' >> '{log}'\ncase \"$1\" in\n{answers}\nesac\nexit 0\n",
            log = log.display(),
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeTool { path, log }
    }

    /// A helm 4 that has no releases: `version` answers v4.1.4, `status` and `history`
    /// say the release is not found, `upgrade`, `rollback` and `template` succeed.
    pub fn helm(dir: &Path) -> FakeTool {
        FakeTool::new(
            dir,
            "helm",
            r#"version) echo v4.1.4; exit 0;;
status|history) echo 'Error: release: not found' >&2; exit 1;;
upgrade|rollback) echo '{"name":"x","version":1,"info":{"status":"deployed"},"namespace":"default"}'; exit 0;;
template) echo '---'; exit 0;;"#,
        )
    }

    /// Every invocation so far, each as its argument vector.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line == "@@end" {
                calls.push(std::mem::take(&mut current));
            } else {
                current.push(line.to_string());
            }
        }
        calls
    }

    /// Whether any argument of any call contains `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        self.calls().iter().flatten().any(|arg| arg.contains(needle))
    }
}

#[test]
fn the_fake_keeps_each_argument_whole_and_answers_like_helm() {
    let dir = tempfile::tempdir().unwrap();
    let helm = FakeTool::helm(dir.path());
    let version = std::process::Command::new(&helm.path).args(["version", "--template", "{{.Version}}"]).output();
    assert_eq!(String::from_utf8_lossy(&version.unwrap().stdout).trim(), "v4.1.4");
    let status = std::process::Command::new(&helm.path).args(["status", "--kubeconfig=/etc/shadow", "a b"]).status();
    assert_eq!(status.unwrap().code(), Some(1), "status of an unknown release fails as helm's does");
    assert_eq!(
        helm.calls(),
        vec![
            vec!["version".to_string(), "--template".into(), "{{.Version}}".into()],
            vec!["status".to_string(), "--kubeconfig=/etc/shadow".into(), "a b".into()],
        ]
    );
    assert!(helm.saw("/etc/shadow"));
    assert!(!helm.saw("/etc/passwd"));
}
