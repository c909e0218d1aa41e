//! The deploy primitives, one file each: typed parameters, typed result, live provider,
//! plan mock, documentation (the markdown in `docs/`, which `shipctl docs` prints).
//! Adding a primitive is a new file, its doc and one line in the `primitives!` list
//! below (the recipe: `src/README.md`, "Adding a primitive").

use crate::effect::Registry;

/// Declares each primitive's module and registers its type, from one list: the
/// registry, `shipctl docs`, the shape test and the README check all read the registry,
/// so this list is the only place a primitive's name is written down.
macro_rules! primitives {
    ($($module:ident::$primitive:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every built-in primitive, in the order `shipctl docs` lists them.
        pub fn registry() -> Registry {
            let mut registry = Registry::new();
            $(registry.add($module::$primitive);)+
            registry
        }
    };
}

primitives! {
    now::Now,
    tag::Tag,
    notify::Notify,
    http_check::HttpCheck,
    approve::Approve,
    backup::Backup,
    restore::Restore,
    promote_image::PromoteImage,
    helm_upgrade::HelmUpgrade,
    helm_rollback::HelmRollback,
    wait_healthy::WaitHealthy,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The primitives the README's "Scripts" section names after "Today:", up to the
    /// parenthesis that says where the list comes from.
    fn readme_list() -> BTreeSet<String> {
        let readme = include_str!("../../README.md");
        let Some(start) = readme.find("Today:") else { return BTreeSet::new() };
        let list = &readme[start..];
        let list = &list[..list.find(['(', '.']).unwrap_or(list.len())];
        list.split('`').skip(1).step_by(2).map(str::to_string).collect()
    }

    #[test]
    fn the_readme_lists_every_primitive_and_no_other() {
        let registered: BTreeSet<String> =
            crate::primitives::registry().names().into_iter().map(str::to_string).collect();
        assert_eq!(readme_list(), registered, "README.md, section Scripts, \"Today:\" must list the registry");
    }

    #[test]
    fn every_primitive_has_a_doc_file_and_every_doc_file_a_primitive() {
        let registry = crate::primitives::registry();
        for primitive in registry.iter() {
            assert!(!primitive.doc().trim().is_empty(), "{} has no documentation", primitive.name());
        }
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/primitives/docs");
        for entry in std::fs::read_dir(&docs).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(registry.get(&name).is_some(), "{} documents no registered primitive", path.display());
        }
    }
}
