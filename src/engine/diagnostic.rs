//! Script errors with the place they happened, the chain of calls and imports that led
//! there. `Located` (located.rs) gives one to the renderer with its script's text.

use rhai::{EvalAltResult, ParseError, Position};
use serde::Serialize;

use crate::base::location::Location;
use crate::config::Limits;
use crate::effect::{GateError, GateErrorKind};

/// What kind of trouble a script is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptErrorKind {
    /// The script or a module does not parse.
    Syntax,
    /// An import was refused or not found.
    Import,
    /// A sandbox limit stopped the script (operations, depth, size, deadline).
    Limit,
    /// Arguments that do not fit a primitive, found before the run.
    Arguments,
    /// The command line does not give what the script needs (a missing param).
    Usage,
    /// Anything raised while running: a failed effect, bad arguments, `fail()`.
    Runtime,
}

/// A frame of the call chain: a function or an import, and where it was called.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    pub function: String,
    pub location: Location,
}

/// An error in a script, located.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptError {
    pub kind: ScriptErrorKind,
    pub message: String,
    pub location: Option<Location>,
    pub help: Option<String>,
    /// The calls and imports that led to the error, outermost first.
    pub trace: Vec<Frame>,
    /// The innermost step the error happened in.
    pub step: Option<String>,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(location) = &self.location {
            write!(formatter, "{location}: ")?;
        }
        formatter.write_str(&self.message)?;
        if let Some(step) = &self.step {
            write!(formatter, " (in step \"{step}\")")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

impl miette::Diagnostic for ScriptError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("shipctl::script"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_deref().map(|help| Box::new(help) as Box<dyn std::fmt::Display + 'a>)
    }
}

impl ScriptError {
    /// A parse error in the file named `file`.
    pub fn from_parse(error: &ParseError, file: &str) -> ScriptError {
        ScriptError {
            kind: ScriptErrorKind::Syntax,
            message: format!("syntax error: {}", error.err_type()),
            location: locate(file, error.position()),
            help: None,
            trace: Vec::new(),
            step: None,
        }
    }

    /// A runtime error raised while running the script named `main`.
    pub fn from_eval(error: &EvalAltResult, main: &str, limits: &Limits) -> ScriptError {
        let mut source = main.to_string();
        let mut trace = Vec::new();
        let mut current = error;
        loop {
            match current {
                EvalAltResult::ErrorInFunctionCall(name, function_source, inner, position) => {
                    trace.push(Frame {
                        function: describe_function(name),
                        location: location_or_start(&source, *position),
                    });
                    if !function_source.is_empty() {
                        source = function_source.clone();
                    }
                    current = inner;
                }
                EvalAltResult::ErrorInModule(name, inner, position) => {
                    if inner.position().is_none() {
                        let kind = match inner.as_ref() {
                            EvalAltResult::ErrorRuntime(..) => ScriptErrorKind::Import,
                            _ => classify(inner),
                        };
                        let (message, help) = describe(inner, limits);
                        return ScriptError {
                            kind,
                            message,
                            location: locate(&source, *position),
                            help,
                            trace,
                            step: None,
                        };
                    }
                    trace.push(Frame {
                        function: format!("import \"{name}\""),
                        location: location_or_start(&source, *position),
                    });
                    source = name.clone();
                    current = inner;
                }
                EvalAltResult::ErrorParsing(parse, position) => {
                    return ScriptError {
                        kind: ScriptErrorKind::Syntax,
                        message: format!("syntax error: {parse}"),
                        location: locate(&source, *position),
                        help: None,
                        trace,
                        step: None,
                    };
                }
                other => {
                    let (message, help) = describe(other, limits);
                    return ScriptError {
                        kind: classify(other),
                        message,
                        location: locate(&source, other.position()),
                        help,
                        trace,
                        step: None,
                    };
                }
            }
        }
    }
}

fn classify(error: &EvalAltResult) -> ScriptErrorKind {
    match error {
        // A fatal gate error: say what it really was, not that the script was stopped.
        EvalAltResult::ErrorTerminated(value, _) if value.is::<GateError>() => {
            match value.read_lock::<GateError>().map(|error| error.kind) {
                Some(GateErrorKind::Arguments) => ScriptErrorKind::Arguments,
                _ => ScriptErrorKind::Runtime,
            }
        }
        EvalAltResult::ErrorTooManyOperations(..)
        | EvalAltResult::ErrorStackOverflow(..)
        | EvalAltResult::ErrorDataTooLarge(..)
        | EvalAltResult::ErrorTooManyModules(..)
        | EvalAltResult::ErrorTooManyVariables(..)
        | EvalAltResult::ErrorTerminated(..) => ScriptErrorKind::Limit,
        EvalAltResult::ErrorModuleNotFound(..) => ScriptErrorKind::Import,
        EvalAltResult::ErrorParsing(..) => ScriptErrorKind::Syntax,
        _ => ScriptErrorKind::Runtime,
    }
}

/// The message (without Rhai's position suffix) and a hint.
fn describe(error: &EvalAltResult, limits: &Limits) -> (String, Option<String>) {
    let raise = |key: &str| Some(format!("raise [limits] {key} in shipctl.toml if the script really needs more"));
    match error {
        EvalAltResult::ErrorRuntime(value, _) => (value.to_string(), None),
        EvalAltResult::ErrorTooManyOperations(_) => (
            format!("the script ran more than {} operations (an endless loop?)", limits.max_operations),
            raise("max_operations"),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            format!("function calls nested deeper than {} levels (runaway recursion?)", limits.max_call_levels),
            raise("max_call_levels"),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            format!("{what} is larger than the sandbox allows"),
            raise("max_string_size / max_array_size / max_map_size"),
        ),
        EvalAltResult::ErrorTooManyModules(_) => {
            (format!("the script loads more than {} modules", limits.max_modules), raise("max_modules"))
        }
        EvalAltResult::ErrorTerminated(value, _) if value.is::<GateError>() => match value.read_lock::<GateError>() {
            Some(error) => (error.message.clone(), error.help.clone()),
            None => (value.to_string(), None),
        },
        EvalAltResult::ErrorTerminated(value, _) => {
            (if value.is_unit() { "the script was stopped".to_string() } else { value.to_string() }, None)
        }
        EvalAltResult::ErrorFunctionNotFound(signature, _) if signature.starts_with("eval ") || signature == "eval" => {
            ("eval is disabled in shipctl scripts".to_string(), None)
        }
        EvalAltResult::ErrorFunctionNotFound(signature, _) => (
            format!("unknown function or wrong argument types: {signature}"),
            Some(
                "`shipctl docs` lists the primitives and builtins; primitives take one object map: tag(#{ ... })"
                    .to_string(),
            ),
        ),
        other => (without_position(&other.to_string()), None),
    }
}

/// Rhai's messages end in " (line 3, position 5)"; the location is shown separately.
fn without_position(message: &str) -> String {
    match message.rfind(" (line ") {
        Some(index) if message.ends_with(')') => message[..index].to_string(),
        _ => message.to_string(),
    }
}

fn describe_function(name: &str) -> String {
    if name.starts_with("anon$") { "closure".to_string() } else { format!("function {name}") }
}

fn locate(file: &str, position: Position) -> Option<Location> {
    Some(Location { file: file.to_string(), line: position.line()?, column: position.position().unwrap_or(1) })
}

fn location_or_start(file: &str, position: Position) -> Location {
    locate(file, position).unwrap_or(Location { file: file.to_string(), line: 1, column: 1 })
}
