//! `shipctl docs`: the primitives' and builtins' documentation, from the same text as
//! the code's doc comments.

use crate::base::suggest::did_you_mean;
use crate::engine::BUILTINS;
use crate::error::Error;
use crate::exit_codes;

use super::DocsArgs;
use super::output;

const README: &str = include_str!("../../README.md");

/// What the sandbox promises and what it does not (`shipctl docs security`).
const SECURITY: &str = include_str!("../../docs/security.md");

/// The config reference: the README section between its markers.
fn config_reference() -> &'static str {
    let start = README.find("<!-- config-reference -->").map(|index| index + "<!-- config-reference -->".len());
    let end = README.find("<!-- /config-reference -->");
    match (start, end) {
        (Some(start), Some(end)) if start < end => README[start..end].trim(),
        _ => "see README.md, section Configuration",
    }
}

/// `shipctl docs [name]`.
pub fn docs(args: DocsArgs) -> i32 {
    let registry = crate::primitives::registry();
    let Some(name) = args.name else {
        let builtins = BUILTINS.iter().chain(crate::testing::BUILTINS).map(|(name, _)| *name);
        let width = registry.names().into_iter().chain(builtins).map(str::len).max();
        let width = width.unwrap_or(0).max(12);
        output::outln("Primitives (each takes one object map of named arguments):");
        for primitive in registry.iter() {
            let summary = primitive.doc().lines().next().unwrap_or_default();
            output::outln(&format!("  {:<width$} {summary}", primitive.name()));
        }
        output::outln("\nBuiltins:");
        for (name, doc) in BUILTINS {
            let summary = doc.lines().next().unwrap_or_default();
            output::outln(&format!("  {name:<width$} {summary}"));
        }
        output::outln("\nIn test files (*.test.rhai, run by `shipctl test`):");
        for (name, doc) in crate::testing::BUILTINS {
            let summary = doc.lines().next().unwrap_or_default();
            output::outln(&format!("  {name:<width$} {summary}"));
        }
        output::outln(
            "\n`shipctl docs <name>` for one of them; `shipctl docs config` for shipctl.toml; \
             `shipctl docs security` for the security model.",
        );
        return exit_codes::SUCCESS;
    };
    if name == "config" {
        output::outln(config_reference());
        return exit_codes::SUCCESS;
    }
    if name == "security" {
        output::outln(SECURITY.trim_end());
        return exit_codes::SUCCESS;
    }
    if let Some(primitive) = registry.get(&name) {
        output::outln(&format!("# {}\n", primitive.name()));
        output::outln(primitive.doc().trim_end());
        return exit_codes::SUCCESS;
    }
    if let Some((builtin, doc)) = BUILTINS.iter().chain(crate::testing::BUILTINS).find(|(builtin, _)| *builtin == name)
    {
        output::outln(&format!("# {builtin} (builtin)\n"));
        output::outln(doc);
        return exit_codes::SUCCESS;
    }
    let mut names: Vec<&str> = registry.names();
    names.extend(BUILTINS.iter().chain(crate::testing::BUILTINS).map(|(name, _)| *name));
    names.extend(["config", "security"]);
    let help = did_you_mean(&name, names.iter().copied()).map(|close| format!("did you mean `shipctl docs {close}`?"));
    output::print_error(&Error::usage(format!("no primitive or builtin called \"{name}\""), help));
    exit_codes::USAGE
}
