use super::*;

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("charts/web")).unwrap();
    std::fs::write(dir.path().join("charts/web/values.yaml"), "a: 1\n").unwrap();
    dir
}

#[test]
fn a_path_inside_resolves() {
    let dir = root();
    let path = ConfinedPath::new(dir.path(), "values file", "charts/./web/../web/values.yaml").unwrap();
    assert_eq!(path.relative(), Path::new("charts/web/values.yaml"));
    assert!(path.is_file());
    assert_eq!(path.read_to_string().unwrap(), "a: 1\n");
}

#[test]
fn escapes_are_refused_with_the_value() {
    let dir = root();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "x").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
    for (value, reason) in [
        ("../x", "through \"..\""),
        ("charts/../../x", "through \"..\""),
        ("/etc/passwd", "absolute"),
        ("link/secret", "symlink"),
        ("", "empty"),
        ("missing", "does not exist"),
    ] {
        let error = ConfinedPath::new(dir.path(), "values file", value).unwrap_err();
        assert!(error.to_string().contains(reason), "{value}: {error}");
        assert!(error.to_string().contains(&format!("\"{value}\"")), "{error}");
    }
}

#[test]
fn a_new_file_needs_a_confined_parent_and_no_symlink() {
    let dir = root();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("f"), dir.path().join("dangling")).unwrap();
    assert!(ConfinedPath::new_file(dir.path(), "lock", "charts/new.lock").is_ok());
    assert!(ConfinedPath::new_file(dir.path(), "lock", "dangling").is_err());
    assert!(ConfinedPath::new_file(dir.path(), "lock", "../new.lock").is_err());
}

/// A chart `charts/web` with a template, and an outside directory holding a secret
/// file and a chart.
fn chart_root() -> (tempfile::TempDir, tempfile::TempDir) {
    let dir = root();
    std::fs::create_dir_all(dir.path().join("charts/web/templates")).unwrap();
    std::fs::write(dir.path().join("charts/web/templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "x").unwrap();
    std::fs::create_dir_all(outside.path().join("chart/templates")).unwrap();
    (dir, outside)
}

fn tree(root: &Path, value: &str) -> Result<ConfinedTree, PathError> {
    ConfinedPath::tree_with_help(root, "chart", value, "the chart's help")
}

fn link(target: impl AsRef<Path>, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[test]
fn a_tree_with_symlinks_that_stay_inside_is_taken() {
    let (dir, _outside) = chart_root();
    std::fs::create_dir_all(dir.path().join("shared/templates")).unwrap();
    std::fs::write(dir.path().join("shared/templates/common.yaml"), "a: 1\n").unwrap();
    link("../../../shared/templates/common.yaml", &dir.path().join("charts/web/templates/common.yaml"));
    link("../../shared/templates", &dir.path().join("charts/web/shared"));
    link("values.yaml", &dir.path().join("charts/web/values-copy.yaml"));
    let checked = tree(dir.path(), "./charts/web/").unwrap();
    assert_eq!(checked.top.relative(), Path::new("charts/web"));
    // What the links reach outside the chart, each once; the link inside it is not listed.
    let mut linked: Vec<&Path> = checked.linked.iter().map(ConfinedPath::relative).collect();
    linked.sort();
    assert_eq!(linked, [Path::new("shared/templates"), Path::new("shared/templates/common.yaml")]);
    // The root itself, and a file (a packaged chart), are trees too.
    assert!(tree(dir.path(), ".").is_ok());
    assert!(tree(dir.path(), "charts/web/values.yaml").is_ok());
}

#[test]
fn a_symlink_in_the_tree_that_leads_out_is_refused_by_name() {
    let (dir, outside) = chart_root();
    let secret = outside.path().join("secret");
    link(&secret, &dir.path().join("charts/web/templates/leak.yaml"));
    let error = tree(dir.path(), "charts/web").unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("chart \"charts/web\" holds a symlink that leads outside the scripts root"), "{text}");
    assert!(text.ends_with(&format!("charts/web/templates/leak.yaml -> {}", secret.display())), "{text}");
    assert!(error.help.contains("replace a symlink that leads out"), "{}", error.help);
    // The plain check of the directory itself does not walk it.
    assert!(ConfinedPath::new(dir.path(), "chart", "charts/web").is_ok());
}

#[test]
fn every_way_a_tree_leads_out_is_refused() {
    /// Plants symlinks in a root (first argument) leading to an outside directory.
    type Plant = fn(&Path, &Path);
    let cases: [(&str, Plant); 5] = [
        ("charts/web/charts/sub", |root, outside| link(outside.join("chart"), &root.join("charts/web/charts/sub"))),
        ("charts/web/files", |root, outside| link(outside, &root.join("charts/web/files"))),
        ("charts/web/templates/up.yaml", |root, outside| {
            let name = outside.file_name().unwrap().to_string_lossy();
            link(format!("../../../../{name}/secret"), &root.join("charts/web/templates/up.yaml"))
        }),
        // A symlink to a directory inside the root, which holds a symlink out.
        ("shared/leak", |root, outside| {
            std::fs::create_dir_all(root.join("shared")).unwrap();
            link(outside.join("secret"), &root.join("shared/leak"));
            link("../../../shared", &root.join("charts/web/templates/shared"));
        }),
        // The same out-link reached through a chain of in-root links.
        ("elsewhere/deep/leak", |root, outside| {
            std::fs::create_dir_all(root.join("elsewhere/deep")).unwrap();
            link(outside.join("secret"), &root.join("elsewhere/deep/leak"));
            link("elsewhere", &root.join("hop"));
            link("../../hop/deep", &root.join("charts/web/deep"));
        }),
    ];
    for (symlink, plant) in cases {
        let (dir, outside) = chart_root();
        std::fs::create_dir_all(dir.path().join("charts/web/charts")).unwrap();
        plant(dir.path(), outside.path());
        let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
        assert!(error.contains("leads outside the scripts root"), "{symlink}: {error}");
        assert!(error.contains(&format!(": {symlink} -> ")), "{symlink}: {error}");
    }
}

#[test]
fn loops_and_dangling_symlinks_end_the_walk_with_their_name() {
    let (dir, _outside) = chart_root();
    link("..", &dir.path().join("charts/web/templates/self"));
    let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
    assert!(error.contains("a loop: charts/web/templates/self -> .."), "{error}");

    let (dir, _outside) = chart_root();
    link("b.yaml", &dir.path().join("charts/web/templates/a.yaml"));
    link("a.yaml", &dir.path().join("charts/web/templates/b.yaml"));
    let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
    assert!(error.contains("holds a symlink that cannot be resolved"), "{error}");
    assert!(error.contains("charts/web/templates/a.yaml -> b.yaml") || error.contains("b.yaml -> a.yaml"));

    let (dir, _outside) = chart_root();
    link("missing.yaml", &dir.path().join("charts/web/templates/gone.yaml"));
    let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
    assert!(error.contains("to nothing (its target does not exist): charts/web/templates/gone.yaml"), "{error}");

    // Two symlinks to each other's directories inside the root: each walked once.
    let (dir, _outside) = chart_root();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    link("../b", &dir.path().join("a/to-b"));
    link("../a", &dir.path().join("b/to-a"));
    link("../../a", &dir.path().join("charts/web/a"));
    assert!(tree(dir.path(), "charts/web").is_ok());
}

#[test]
fn a_tree_too_large_or_too_deep_is_refused_not_walked_for_long() {
    let (dir, _outside) = chart_root();
    let many = dir.path().join("charts/web/many");
    std::fs::create_dir_all(&many).unwrap();
    for index in 0..MAX_TREE_ENTRIES {
        std::fs::write(many.join(index.to_string()), "").unwrap();
    }
    let error = tree(dir.path(), "charts/web").unwrap_err();
    assert!(error.to_string().contains("holds more than 10000 files and directories"), "{error}");
    assert!(error.help.contains("helm package"), "{}", error.help);

    let (dir, _outside) = chart_root();
    let deep: PathBuf = std::iter::repeat_n("d", MAX_TREE_DEPTH).collect();
    std::fs::create_dir_all(dir.path().join("charts/web").join(&deep)).unwrap();
    assert!(tree(dir.path(), "charts/web").is_ok(), "{MAX_TREE_DEPTH} levels are walked");
    std::fs::create_dir_all(dir.path().join("charts/web").join(&deep).join("d")).unwrap();
    let error = tree(dir.path(), "charts/web").unwrap_err().to_string();
    assert!(error.contains("more than 32 levels deep"), "{error}");
}

#[test]
fn names_are_encoded_one_to_one() {
    assert_eq!(encode_file_name("production"), "production");
    assert_eq!(encode_file_name("../x"), "%2E%2E%2Fx");
    assert_ne!(encode_file_name("a/b"), encode_file_name("a_b"));
    assert!(!encode_file_name("..").contains('.'));
    assert!(is_plain_file_name("b1.tar.gz"));
    for bad in ["", "..", ".hidden", "a/b", "../b"] {
        assert!(!is_plain_file_name(bad), "{bad}");
    }
}
