//! The standard library: the Rhai modules in `stdlib/`, compiled into the binary and
//! imported as `std/<name>`.

/// Every stdlib module: its name (as in `import "std/<name>"`) and its source.
pub const MODULES: &[(&str, &str)] =
    &[("release", include_str!("../../stdlib/release.rhai")), ("checks", include_str!("../../stdlib/checks.rhai"))];

/// The source of `std/<name>`.
pub fn get(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".rhai").unwrap_or(name);
    MODULES.iter().find(|(module, _)| *module == name).map(|(_, source)| *source)
}
