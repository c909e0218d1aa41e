//! The function names a script may call besides its own functions, the primitives and
//! the builtins: Rhai's keywords and the functions of the packages the sandbox loads
//! (`ScriptPackage` in `mod.rs`). Rhai lists its package functions only with its
//! `metadata` feature, which shipctl builds without (it slows the engine), so the names
//! are kept here; `.ci/test` builds the unit tests once more with the `rhai-metadata`
//! feature, and a test checks that this list is exactly what the sandbox registers
//! (rhai 1.27), so an upgrade that adds or drops a function fails that test instead of
//! refusing a valid script.

/// Rhai's keyword functions, handled by the engine itself.
pub const KEYWORDS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
    "this",
    "global",
];

/// Functions of the core, logic, math, array, map, string and bit-field packages.
pub const RHAI_FUNCTIONS: &[&str] = &[
    "E",
    "PI",
    "abs",
    "acos",
    "acosh",
    "all",
    "append",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "bits",
    "bytes",
    "ceiling",
    "chars",
    "chop",
    "clear",
    "contains",
    "cos",
    "cosh",
    "crop",
    "debug",
    "dedup",
    "drain",
    "end",
    "ends_with",
    "exit",
    "exp",
    "extract",
    "fill_with",
    "filter",
    "find",
    "find_map",
    "floor",
    "for_each",
    "fraction",
    "get",
    "get_bit",
    "get_bits",
    "get_fn_metadata_list",
    "hypot",
    "index_of",
    "insert",
    "int",
    "is_anonymous",
    "is_empty",
    "is_even",
    "is_exclusive",
    "is_finite",
    "is_inclusive",
    "is_infinite",
    "is_nan",
    "is_odd",
    "is_zero",
    "keys",
    "len",
    "ln",
    "log",
    "make_lower",
    "make_upper",
    "map",
    "max",
    "min",
    "mixin",
    "name",
    "order",
    "order_by",
    "order_desc",
    "pad",
    "parse_float",
    "parse_int",
    "parse_json",
    "pop",
    "print",
    "push",
    "range",
    "reduce",
    "reduce_rev",
    "remove",
    "replace",
    "retain",
    "reverse",
    "round",
    "set",
    "set_bit",
    "set_bits",
    "set_tag",
    "shift",
    "sign",
    "sin",
    "sinh",
    "sleep",
    "some",
    "sort",
    "sort_by",
    "sort_desc",
    "splice",
    "split",
    "split_rev",
    "sqrt",
    "start",
    "starts_with",
    "sub_string",
    "tag",
    "take",
    "tan",
    "tanh",
    "to_binary",
    "to_blob",
    "to_chars",
    "to_debug",
    "to_degrees",
    "to_float",
    "to_hex",
    "to_int",
    "to_json",
    "to_lower",
    "to_octal",
    "to_radians",
    "to_string",
    "to_upper",
    "trim",
    "truncate",
    "values",
    "zip",
];

/// Builtins registered besides those `shipctl docs` lists under their own name.
pub const MORE_BUILTINS: &[&str] = &["info", "warn", "sleep"];

/// The builtins of test files (`*.test.rhai`), registered by `testing/builtins.rs`.
pub const TEST_BUILTINS: &[&str] =
    &["test", "run", "mock", "mock_error", "effect", "effects", "assert_order", "assert", "assert_eq", "assert_ne"];

/// How test files are named (`testing::SUFFIX`).
pub const TEST_SUFFIX: &str = ".test.rhai";

#[cfg(all(test, feature = "rhai-metadata"))]
mod tests {
    use std::collections::BTreeSet;

    /// Rhai lists its functions only with its `metadata` feature (shipctl's
    /// `rhai-metadata`, which `.ci/test` turns on for this test alone): the hand-kept
    /// list must be exactly what the sandbox's packages register, so a rhai upgrade
    /// that adds or drops a function fails here, not in a user's script.
    #[test]
    fn the_list_is_what_the_sandbox_registers() {
        let engine = crate::engine::sandbox(&crate::config::Limits::default());
        let registered: BTreeSet<String> = engine
            .gen_fn_signatures(true)
            .iter()
            .filter_map(|signature| signature.split('(').next())
            .map(|name| name.trim_start_matches("get$").trim_start_matches("set$").to_string())
            // Operators (`+`, `==`, ...) are not called by name.
            .filter(|name| name.starts_with(|first: char| first.is_alphabetic() || first == '_'))
            .collect();
        let listed: BTreeSet<String> = super::RHAI_FUNCTIONS.iter().map(|name| name.to_string()).collect();
        let missing: Vec<_> = registered.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&registered).collect();
        assert!(registered.len() > 100, "{registered:?}");
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing from the list: {missing:?}; listed but not registered: {extra:?}"
        );
    }
}
