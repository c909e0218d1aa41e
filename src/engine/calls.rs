//! What preflight learns at a script's calls without running them: a call to a function
//! nobody defines (with the closest name), and literal names (`repo`, `channel`,
//! `postgres`) that shipctl.toml does not declare.

use std::path::Path;

use rhai::AST;

use crate::base::suggest::did_you_mean;
use crate::config::Config;
use crate::effect::Registry;

use super::analysis::{Analysis, LiteralCall};
use super::{ScriptError, ScriptErrorKind, builtins, known};

/// A call to a function that is neither the script's own, a primitive, a builtin, a
/// bound function pointer nor one of Rhai's: it would fail when reached.
pub(super) fn check_functions(
    ast: &AST,
    analysis: &Analysis,
    file: &str,
    registry: &Registry,
    errors: &mut Vec<ScriptError>,
) {
    let own: Vec<&str> = ast.iter_functions().map(|function| function.name).collect();
    let shipctl: Vec<&str> = registry
        .iter()
        .map(|primitive| primitive.name())
        .chain(builtins::BUILTINS.iter().map(|(name, _)| *name))
        .chain(known::MORE_BUILTINS.iter().copied())
        .chain(known::TEST_BUILTINS.iter().copied().filter(|_| file.ends_with(known::TEST_SUFFIX)))
        .collect();
    let defined = |name: &str| {
        own.contains(&name)
            || shipctl.contains(&name)
            || known::KEYWORDS.contains(&name)
            || known::RHAI_FUNCTIONS.contains(&name)
            || analysis.variables.contains(name)
    };
    for (name, position) in &analysis.functions {
        if defined(name) {
            continue;
        }
        let candidates = shipctl.iter().chain(own.iter().filter(|own| !own.starts_with("anon$"))).copied();
        let message = match did_you_mean(name, candidates) {
            Some(close) => format!("unknown function {name}; did you mean {close}?"),
            None => format!("unknown function {name}"),
        };
        errors.push(ScriptError {
            kind: ScriptErrorKind::Arguments,
            message,
            location: Some(super::preflight::location(file, *position)),
            help: Some(
                "`shipctl docs` lists the primitives and builtins; a script's own functions are defined with fn".into(),
            ),
            trace: Vec::new(),
            step: None,
        });
    }
}

fn names<V>(table: &std::collections::BTreeMap<String, V>) -> Vec<&str> {
    table.keys().map(String::as_str).collect()
}

/// What a literal `value` of argument `key` to `function` names that shipctl.toml does
/// not declare: the message, and the names it does declare.
fn undeclared<'a>(
    config: &'a Config,
    root: &Path,
    function: &str,
    key: &str,
    value: &str,
) -> Option<(String, Vec<&'a str>)> {
    match (function, key) {
        ("notify", "channel") if !config.notify.contains_key(value) => {
            Some((format!("no notification channel \"{value}\" in [notify] of shipctl.toml"), names(&config.notify)))
        }
        // Any directory under the scripts root is a repo too (the gate confines it): not
        // an absolute path or one climbing out with `..`, whatever exists there.
        ("tag", "repo") if !config.repos.contains_key(value) && !under_root(root, value) => Some((
            format!("repo \"{value}\" is neither a [repos.*] entry nor a directory under the scripts root"),
            names(&config.repos),
        )),
        ("backup" | "restore", "postgres") if !config.databases.contains_key(value) && !value.contains("://") => {
            Some((
                format!("database \"{value}\" is neither a [databases.*] entry nor a postgres URL"),
                names(&config.databases),
            ))
        }
        _ => None,
    }
}

fn under_root(root: &Path, path: &str) -> bool {
    let climbs = path.split(['/', '\\']).any(|part| part == "..");
    !Path::new(path).has_root() && !climbs && root.join(path).is_dir()
}

/// Literal names in `calls` (file, call) that shipctl.toml (under `root`) does not
/// declare: a channel, a repo, a database.
pub fn unknown_names(calls: &[(String, LiteralCall)], config: &Config, root: &Path) -> Vec<ScriptError> {
    let mut errors = Vec::new();
    for (file, call) in calls {
        for (key, value, position) in &call.literals {
            let Some(value) = value.as_str() else { continue };
            let Some((message, names)) = undeclared(config, root, &call.function, key, value) else {
                continue;
            };
            let help = match did_you_mean(value, names.iter().copied()) {
                Some(close) => format!("did you mean \"{close}\"?"),
                None if names.is_empty() => "declare it in shipctl.toml".to_string(),
                None => format!("shipctl.toml declares: {}", names.join(", ")),
            };
            errors.push(ScriptError {
                kind: ScriptErrorKind::Arguments,
                message,
                location: Some(super::preflight::location(file, *position)),
                help: Some(help),
                trace: Vec::new(),
                step: None,
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use crate::engine::SourceMap;
    use crate::engine::preflight::{Preflight, preflight};

    fn check(text: &str) -> Preflight {
        let registry = crate::primitives::registry();
        let root = std::env::temp_dir();
        let limits = crate::config::Limits::default();
        preflight(&limits, &root, "main.rhai", text, &SourceMap::default(), Some(&registry))
    }

    #[test]
    fn unknown_functions_get_the_closest_name_and_their_own_place() {
        let found = check("step(\"A\", || {\n    notfy(#{ channel: \"log\", text: \"x\" });\n});\nfrobnicate(1);\n");
        let messages: Vec<(String, usize, usize)> = found
            .errors
            .iter()
            .map(|error| {
                (error.message.clone(), error.location.as_ref().unwrap().line, error.location.as_ref().unwrap().column)
            })
            .collect();
        assert_eq!(
            messages,
            vec![
                ("unknown function notfy; did you mean notify?".to_string(), 2, 5),
                ("unknown function frobnicate".to_string(), 4, 1)
            ]
        );
    }

    #[test]
    fn rhai_functions_own_functions_and_function_pointers_are_known() {
        let text = "fn helper(f) { f(1) }\nlet g = |x| x + 1;\nlet n = max(1, 2) + tan(0.0).to_int() + g(2);\n\
                    helper(g);\nlet t = now();\nprint(type_of(n));\nlet k = Fn(\"helper\");\nparse_int(\"3\");\n\
                    info(\"x\"); warn(\"y\"); log(\"z\"); fail(\"no\");\n";
        let found = check(text);
        assert!(found.errors.is_empty(), "{:?}", found.errors);
    }

    #[test]
    fn undeclared_names_and_repos_outside_the_root_are_found() {
        let root = std::env::temp_dir().join(format!("shipctl-calls-{}", std::process::id()));
        std::fs::create_dir_all(root.join("app")).unwrap();
        let config = crate::config::parse("[notify.log]\nkind = \"stdout\"\n", "shipctl.toml").unwrap();
        let mut found = Vec::new();
        for repo in ["app", "/etc", "../..", "app/../..", "nothere"] {
            let text = format!(
                "tag(#{{ repo: \"{repo}\", name: \"1.0.0\", message: \"m\" }});\nnotify(#{{ channel: \"lgo\", text: \"x\" }});\n"
            );
            let compiled = check(&text);
            let errors = super::unknown_names(&compiled.calls, &config, &root);
            found.push((repo, errors.iter().map(|error| error.message.clone()).collect::<Vec<_>>()));
        }
        std::fs::remove_dir_all(&root).unwrap();
        for (repo, messages) in &found {
            assert_eq!(
                messages.last().map(String::as_str),
                Some("no notification channel \"lgo\" in [notify] of shipctl.toml")
            );
            assert_eq!(messages.len(), if *repo == "app" { 1 } else { 2 }, "{repo}: {messages:?}");
        }
    }

    #[test]
    fn test_builtins_are_known_in_test_files_only() {
        let registry = crate::primitives::registry();
        let limits = crate::config::Limits::default();
        let text = "test(\"t\", || assert_eq(run().status, \"succeeded\"));\n";
        let root = std::env::temp_dir();
        let found = preflight(&limits, &root, "release.test.rhai", text, &SourceMap::default(), Some(&registry));
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert_eq!(check(text).errors.len(), 3);
    }

    #[test]
    fn a_missing_argument_points_at_the_call_and_a_computed_one_is_not_missing() {
        let found = check(
            "let n = \"v1\";\ntag(#{ repo: \"app\", message: \"m\" });\ntag(#{ repo: \"app\", name: n, message: \"m\" });\n",
        );
        let errors: Vec<String> = found.argument_errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors, vec!["main.rhai:2:1: missing argument \"name\" to tag".to_string()]);
    }

    /// Every argument of every primitive, given a value of each JSON type: whatever the
    /// params refuse is said without a Rust type.
    #[test]
    fn no_argument_error_names_a_rust_type() {
        let types = ["u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "f32", "f64", "bool", "char"];
        let phrases = ["struct ", "sequence", "a map", "borrowed", "floating point", "integer"];
        let values = [json!("x"), json!(-1), json!(1.5), json!(true), json!([1]), json!({ "a": 1 }), Value::Null];
        let registry = crate::primitives::registry();
        let mut seen = BTreeSet::new();
        for primitive in registry.iter() {
            for field in primitive.fields().unwrap_or_default() {
                for value in &values {
                    let Err(error) = primitive.parse(&json!({ *field: value })) else { continue };
                    let message = crate::effect::argument_message(primitive.name(), &error);
                    seen.insert(primitive.name());
                    let mut words = message.split(|c: char| !c.is_ascii_alphanumeric());
                    assert!(!words.any(|word| types.contains(&word)), "{message}");
                    assert!(!phrases.iter().any(|phrase| message.contains(phrase)), "{message}");
                }
            }
        }
        assert_eq!(
            seen.len(),
            registry.iter().filter(|primitive| primitive.fields().is_some_and(|f| !f.is_empty())).count()
        );
    }
}
