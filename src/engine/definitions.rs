//! `.d.rhai` definition files for editors: every primitive, builtin and `std/*`
//! module, with their documentation as doc comments, so the Rhai language server
//! completes and documents them.
//!
//! Written from the same texts `shipctl docs` prints (the registry's docs, the
//! builtins' docs, the stdlib's `///` comments) rather than through
//! `Engine::definitions()`: that needs rhai's `metadata` feature (a slower rhai build and
//! metadata kept for every registered function in every run) and would still know the
//! primitives only as the undocumented closures the sandbox registers.

use crate::effect::Registry;

use super::stdlib;

/// The definition files: (file name, contents). `builtins` are (name, doc) pairs whose
/// doc starts with the signatures, one a line, then a blank line (as
/// [`super::BUILTINS`]).
pub fn definitions(registry: &Registry, builtins: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files = vec![("shipctl.d.rhai".to_string(), static_module(registry, builtins))];
    for (name, source) in stdlib::MODULES {
        let text = format!("// import \"std/{name}\" as {name};\nmodule {name};\n\n{}", script_functions(source));
        files.push((format!("std-{name}.d.rhai"), text));
    }
    files
}

/// The global functions: primitives then builtins.
fn static_module(registry: &Registry, builtins: &[(&str, &str)]) -> String {
    let mut out = String::from("module static;\n\n");
    for primitive in registry.iter() {
        out.push_str(&doc_comment(primitive.doc()));
        // The sandbox registers both forms: with the arguments map, and without (`now()`).
        out.push_str(&format!("fn {0}(args: Map) -> Map;\nfn {0}() -> Map;\n\n", primitive.name()));
    }
    for (_, doc) in builtins {
        let (signatures, rest) = doc.split_once("\n\n").unwrap_or((doc, ""));
        out.push_str(&doc_comment(rest));
        for declaration in signatures.lines().flat_map(declarations) {
            out.push_str(&format!("fn {declaration};\n"));
        }
        out.push('\n');
    }
    out
}

/// The declarations in one signature line of a builtin's doc:
/// `log(message), info(message)` is two; `param(name) -> string` one, returning `String`.
fn declarations(line: &str) -> Vec<String> {
    let (calls, result) = line.rsplit_once(" -> ").map_or((line, None), |(calls, result)| (calls, Some(result)));
    let result = match result.map(str::trim) {
        Some("string") => "String",
        Some("map") => "Map",
        Some("bool") => "bool",
        Some("int" | "integer") => "int",
        Some("array") => "Array",
        Some(_) | None => "?",
    };
    top_level_calls(calls)
        .into_iter()
        .map(|(name, params)| {
            let params: Vec<&str> = split_top_level(params).into_iter().map(parameter).collect();
            format!("{name}({}) -> {result}", params.join(", "))
        })
        .collect()
}

/// A documented argument as a parameter name: `#{ ... }` is `options`, a closure
/// `callback`.
fn parameter(text: &str) -> &str {
    match text.trim() {
        name if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => name,
        options if options.starts_with("#{") => "options",
        _ => "callback",
    }
}

/// `name(args)` pairs outside any bracket.
fn top_level_calls(text: &str) -> Vec<(&str, &str)> {
    let mut calls = Vec::new();
    let (mut depth, mut word, mut name, mut args) = (0usize, None::<usize>, "", 0usize);
    for (index, c) in text.char_indices() {
        match c {
            '(' | '{' | '[' if depth > 0 => depth += 1,
            '(' => {
                name = word.map_or("", |start| &text[start..index]);
                args = index + 1;
                depth = 1;
            }
            ')' | '}' | ']' if depth == 1 => {
                depth = 0;
                if !name.is_empty() {
                    calls.push((name, &text[args..index]));
                }
                word = None;
            }
            ')' | '}' | ']' if depth > 0 => depth -= 1,
            c if depth == 0 && (c.is_ascii_alphanumeric() || c == '_') => {
                word.get_or_insert(index);
            }
            _ if depth == 0 => word = None,
            _ => {}
        }
    }
    calls
}

/// `text` split at the commas outside brackets; empty for no arguments.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, c) in text.char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|part| !part.trim().is_empty()).collect()
}

/// `text` as `///` lines.
fn doc_comment(text: &str) -> String {
    text.trim().lines().map(|line| format!("/// {line}").trim_end().to_string() + "\n").collect()
}

/// The public functions of a stdlib module with the `///` comments above them.
fn script_functions(source: &str) -> String {
    let mut out = String::new();
    let mut comments: Vec<&str> = Vec::new();
    for line in source.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("///") {
            comments.push(line);
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("fn ")
            && let Some(end) = rest.find(')')
        {
            comments.iter().for_each(|comment| out.push_str(&format!("{}\n", comment.trim_start())));
            out.push_str(&format!("fn {};\n\n", &rest[..=end]));
        }
        comments.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_from_doc_signatures() {
        assert_eq!(declarations("param(name) -> string"), ["param(name) -> String"]);
        assert_eq!(declarations("param(name, default) -> value"), ["param(name, default) -> ?"]);
        assert_eq!(declarations("test(name, || { ... })"), ["test(name, callback) -> ?"]);
        assert_eq!(declarations("environment() -> map"), ["environment() -> Map"]);
        assert_eq!(declarations("log(message), info(message)"), ["log(message) -> ?", "info(message) -> ?"]);
        assert_eq!(declarations("run(#{ script?, env? }) -> map"), ["run(options) -> Map"]);
        assert!(declarations("(each also with a last `message` argument)").is_empty());
    }

    #[test]
    fn every_primitive_builtin_and_module_is_defined_with_its_doc() {
        let registry = crate::primitives::registry();
        let files = definitions(&registry, crate::engine::BUILTINS);
        let (_, global) = files.iter().find(|(name, _)| name == "shipctl.d.rhai").unwrap();
        for primitive in registry.iter() {
            let declared = format!("fn {}(args: Map) -> Map;", primitive.name());
            assert!(global.contains(&declared), "{declared} missing");
            let summary = primitive.doc().lines().next().unwrap();
            assert!(global.contains(&format!("/// {summary}").trim_end().to_string()), "doc of {}", primitive.name());
        }
        for (name, _) in crate::engine::BUILTINS {
            assert!(global.contains(&format!("fn {name}(")), "builtin {name} missing");
        }
        for (name, source) in stdlib::MODULES {
            let (_, module) = files.iter().find(|(file, _)| *file == format!("std-{name}.d.rhai")).unwrap();
            assert!(module.contains(&format!("module {name};")));
            let public = source.lines().filter(|line| line.trim_start().starts_with("fn ")).count();
            assert_eq!(module.matches("\nfn ").count(), public, "{module}");
        }
    }
}
