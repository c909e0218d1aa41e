//! Compile a script and every module it imports, before anything runs: syntax errors,
//! refused imports, unknown argument keys in literal primitive calls and missing params
//! are all reported at once, each with file, line and column. `check` is this and
//! nothing else; `plan` and `run` refuse to start while it finds errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;

use rhai::{AST, Position};

use crate::base::location::Location;
use crate::effect::{ArgumentProblem, Registry};

use super::analysis::{Analysis, LiteralCall, analyze};
use super::resolver::{Target, locate};
use super::sources::SourceMap;
use super::{ScriptError, ScriptErrorKind, builtins, stdlib};

/// A `param` read somewhere in the scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRead {
    pub name: String,
    pub required: bool,
    pub location: Location,
}

/// The compiled scripts and what was found in them.
#[derive(Default)]
pub struct Preflight {
    /// The main script, compiled, when it compiles.
    pub main: Option<AST>,
    /// Every module reached by a literal import, compiled, by source name.
    pub modules: BTreeMap<String, AST>,
    pub errors: Vec<ScriptError>,
    /// Literal arguments of primitive calls that the primitive's params refuse (a
    /// hostile release name, a negative timeout). `check` reports them; a run refuses
    /// them at the gate when the call is made.
    pub argument_errors: Vec<ScriptError>,
    pub params: Vec<ParamRead>,
    /// Every primitive call written with a literal object map (or no arguments), with
    /// its file: what the run will need, as far as literals tell.
    pub calls: Vec<(String, LiteralCall)>,
    /// Some script reads a param by a computed name: the list above is not complete.
    pub computed_params: bool,
}

impl Preflight {
    /// Names of the params the scripts read, sorted, once each.
    pub fn param_names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self.params.iter().map(|param| param.name.as_str()).collect();
        names.into_iter().map(str::to_string).collect()
    }

    /// `--set` names no script reads (a typo would silently leave an optional param at
    /// its default), each with the closest name read. Empty when some param is read by
    /// a computed name, since then nobody can tell.
    pub fn unread_params(&self, given: &BTreeMap<String, String>) -> Vec<String> {
        if self.computed_params {
            return Vec::new();
        }
        let names = self.param_names();
        given
            .keys()
            .filter(|name| !names.contains(name))
            .map(|name| {
                let mut message = format!("--set {name}: the script reads no param \"{name}\"");
                match crate::base::suggest::did_you_mean(name, names.iter().map(String::as_str)) {
                    Some(close) => message.push_str(&format!("; did you mean {close}?")),
                    None if names.is_empty() => message.push_str("; it reads no params at all"),
                    None => message.push_str(&format!("; it reads: {}", names.join(", "))),
                }
                message
            })
            .collect()
    }

    /// Errors for required params missing from `given`, one per param (its first read).
    pub fn missing_params(&self, given: &BTreeMap<String, String>) -> Vec<ScriptError> {
        let names = self.param_names();
        let mut seen = BTreeSet::new();
        let mut errors = Vec::new();
        for read in self.params.iter().filter(|read| read.required && !given.contains_key(&read.name)) {
            if !seen.insert(read.name.as_str()) {
                continue;
            }
            errors.push(ScriptError {
                kind: ScriptErrorKind::Usage,
                message: builtins::missing_param(&read.name, &names, given.keys().map(String::as_str)),
                location: Some(read.location.clone()),
                help: Some(format!("give it on the command line, or read it as param(\"{}\", <default>)", read.name)),
                trace: Vec::new(),
                step: None,
            });
        }
        errors
    }
}

/// Compile `main_text` (named `main_name`) and its imports under `root` with the
/// sandbox of `limits`, recording every
/// source in `sources`. With a `registry`, literal primitive calls are checked too.
pub fn preflight(
    limits: &crate::config::Limits,
    root: &Path,
    main_name: &str,
    main_text: &str,
    sources: &SourceMap,
    registry: Option<&Registry>,
) -> Preflight {
    let mut result = Preflight::default();
    // Unoptimized: constant folding would turn object-map literals into constants and
    // lose the position of every key.
    let mut engine = super::sandbox(limits);
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    // run, check and test all load their script here: a secret's file is refused
    // before it is compiled or recorded, so no error can quote it.
    if let Err(message) = crate::config::refuse_secret_file(&root, &root.join(main_name)) {
        result.errors.push(ScriptError {
            kind: ScriptErrorKind::Usage,
            message,
            location: None,
            help: Some("run a script; secrets reach primitives through shipctl.toml, never through a script".into()),
            trace: Vec::new(),
            step: None,
        });
        return result;
    }
    let mut pending: Vec<(String, Rc<str>)> = vec![(main_name.to_string(), Rc::from(main_text))];
    let mut visited = BTreeSet::from([main_name.to_string()]);
    while let Some((name, text)) = pending.pop() {
        sources.insert(&name, Rc::clone(&text));
        let mut ast = match engine.compile(&*text) {
            Ok(ast) => ast,
            Err(error) => {
                result.errors.push(ScriptError::from_parse(&error, &name));
                continue;
            }
        };
        ast.set_source(name.as_str());
        let analysis = analyze(&ast);
        check_file(&ast, &analysis, &name, registry, &mut result);
        let imports = Imports { root: &root, importer: &name, max_modules: limits.max_modules };
        imports.follow(&analysis, &mut visited, &mut pending, &mut result.errors);
        if name == main_name {
            result.main = Some(ast);
        } else {
            result.modules.insert(name, ast);
        }
    }
    result.errors.sort_by(|a, b| {
        let key = |error: &ScriptError| error.location.as_ref().map(|l| (l.file.clone(), l.line, l.column));
        key(a).cmp(&key(b))
    });
    result
}

/// The checks of one compiled file: its calls, literal arguments, functions, and the
/// params it reads.
fn check_file(ast: &AST, analysis: &Analysis, name: &str, registry: Option<&Registry>, result: &mut Preflight) {
    check_calls(ast, analysis, name, registry, &mut result.errors);
    check_literal_arguments(ast, analysis, name, registry, &mut result.argument_errors);
    if let Some(registry) = registry {
        super::calls::check_functions(ast, analysis, name, registry, &mut result.errors);
        let primitive_calls = analysis.calls.iter().filter(|call| registry.get(&call.function).is_some());
        result.calls.extend(primitive_calls.map(|call| (name.to_string(), call.clone())));
    }
    result.computed_params |= analysis.computed_params;
    result.params.extend(analysis.params.iter().map(|param| ParamRead {
        name: param.name.clone(),
        required: param.required,
        location: location(name, param.position),
    }));
}

/// The imports of one file, resolved below the root and counted against `max_modules`.
struct Imports<'a> {
    root: &'a Path,
    importer: &'a str,
    max_modules: usize,
}

impl Imports<'_> {
    /// Queue each import of `analysis` not yet `visited` onto `pending`, loaded.
    fn follow(
        &self,
        analysis: &Analysis,
        visited: &mut BTreeSet<String>,
        pending: &mut Vec<(String, Rc<str>)>,
        errors: &mut Vec<ScriptError>,
    ) {
        let name = self.importer;
        for (path, position) in &analysis.imports {
            let target = match locate(self.root, Some(name), path) {
                Ok(target) => target,
                Err(message) => {
                    errors.push(import_error(message, name, *position));
                    continue;
                }
            };
            if visited.contains(target.name()) {
                continue;
            }
            // `visited` holds the main script besides the modules.
            if visited.len() > self.max_modules {
                errors.push(import_error(
                    format!(
                        "the scripts import more than {} modules in all; raise [limits] max_modules if they really need more",
                        self.max_modules
                    ),
                    name,
                    *position,
                ));
                continue;
            }
            visited.insert(target.name().to_string());
            match load(&target) {
                Ok(text) => pending.push((target.name().to_string(), text)),
                Err(message) => errors.push(import_error(message, name, *position)),
            }
        }
    }
}

fn load(target: &Target) -> Result<Rc<str>, String> {
    match target {
        Target::Std(name) => {
            let module = name.trim_start_matches(super::resolver::STD_PREFIX);
            stdlib::get(module).map(Rc::from).ok_or_else(|| {
                let known: Vec<&str> = stdlib::MODULES.iter().map(|(module, _)| *module).collect();
                format!("no stdlib module \"{name}\"; the stdlib has: {}", known.join(", "))
            })
        }
        Target::File { path, .. } => crate::base::files::read_regular(path)
            .map(Rc::from)
            .map_err(|error| format!("cannot read module {}: {error}", path.display())),
    }
}

fn check_calls(ast: &AST, analysis: &Analysis, file: &str, registry: Option<&Registry>, errors: &mut Vec<ScriptError>) {
    let Some(registry) = registry else { return };
    for call in &analysis.calls {
        if ast.iter_functions().any(|function| function.name == call.function) {
            continue;
        }
        let Some(primitive) = registry.get(&call.function) else {
            continue;
        };
        let Some(fields) = primitive.fields() else {
            continue;
        };
        for (key, position) in &call.keys {
            if fields.contains(&key.as_str()) {
                continue;
            }
            let (message, help) = crate::effect::unknown_argument(primitive.name(), key, fields);
            errors.push(ScriptError {
                kind: ScriptErrorKind::Arguments,
                message,
                location: Some(location(file, *position)),
                help: Some(help),
                trace: Vec::new(),
                step: None,
            });
        }
    }
}

/// Parse the literal arguments of each literal primitive call with the primitive's own
/// params, as the gate will: a value its type refuses is an error here already. The
/// other arguments are left out, so only errors about a literal key count.
fn check_literal_arguments(
    ast: &AST,
    analysis: &Analysis,
    file: &str,
    registry: Option<&Registry>,
    errors: &mut Vec<ScriptError>,
) {
    let Some(registry) = registry else { return };
    for call in &analysis.calls {
        if ast.iter_functions().any(|function| function.name == call.function) {
            continue;
        }
        let Some(primitive) = registry.get(&call.function) else {
            continue;
        };
        // Unknown keys are check_calls' to report.
        let known = |key: &str| primitive.fields().is_none_or(|fields| fields.contains(&key));
        let args: serde_json::Map<String, serde_json::Value> = call
            .literals
            .iter()
            .filter(|(key, _, _)| known(key))
            .map(|(key, value, _)| (key.clone(), value.clone()))
            .collect();
        let Err(error) = primitive.parse(&serde_json::Value::Object(args)) else {
            continue;
        };
        let Some(position) = error_position(call, error.path.as_deref(), &error.problem) else {
            continue;
        };
        errors.push(ScriptError {
            kind: ScriptErrorKind::Arguments,
            message: crate::effect::argument_message(primitive.name(), &error),
            location: Some(location(file, position)),
            help: Some(format!("see `shipctl docs {}`", primitive.name())),
            trace: Vec::new(),
            step: None,
        });
    }
}

/// Where an argument error of a literal call is: at the literal it names, or at the
/// call for a missing argument. None when the error may be about an argument that is
/// there but not a literal (left out of the parse).
fn error_position(call: &LiteralCall, path: Option<&str>, problem: &ArgumentProblem) -> Option<Position> {
    if let Some((_, _, position)) = call.literals.iter().find(|(key, _, _)| path == Some(key)) {
        return Some(*position);
    }
    let ArgumentProblem::Missing(missing) = problem else {
        return None;
    };
    let given = call.keys.iter().any(|(key, _)| key == missing);
    (path.is_none() && !given).then_some(call.position)
}

fn import_error(message: String, file: &str, position: Position) -> ScriptError {
    ScriptError {
        kind: ScriptErrorKind::Import,
        message,
        location: Some(location(file, position)),
        help: None,
        trace: Vec::new(),
        step: None,
    }
}

/// The location of `position` in `file`.
pub(super) fn location(file: &str, position: Position) -> Location {
    Location { file: file.to_string(), line: position.line().unwrap_or(1), column: position.position().unwrap_or(1) }
}
