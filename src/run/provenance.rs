//! Who ran what, from where: the facts a journal header records.

/// Git status queries live with the other clients of outside systems; a run reaches
/// them through here.
pub use crate::providers::git::{repo_state, uncommitted_files};

/// This build: `0.1.0 (4f2a9c1 2026-12-02)`, the version, commit and build date
/// `build.rs` found ("unknown" commit outside a git checkout).
pub const SHIPCTL_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("SHIPCTL_COMMIT"), " ", env!("SHIPCTL_BUILD_DATE"), ")");

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Where `ast` imports a module by a computed path (`import name as m;` with `name` a
/// variable): such a module is found only while the script runs, so it cannot be
/// checked for being committed before the run starts.
pub fn computed_imports(ast: &rhai::AST) -> Vec<rhai::Position> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[rhai::ASTNode]| {
        if let Some(rhai::ASTNode::Stmt(rhai::Stmt::Import(import, position))) = path.last()
            && !matches!(import.0, rhai::Expr::StringConstant(..))
        {
            found.push(*position);
        }
        true
    });
    found
}
