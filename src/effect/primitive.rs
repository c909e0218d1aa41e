//! What a primitive is: typed parameters, a typed result, a live implementation, a
//! plan mock and documentation. The [`Registry`] holds them by name; the engine
//! registers one script function per entry and nothing else needs to know about them.

use std::any::Any;
use std::rc::Rc;

use serde::Serialize;
use serde::de::{self, DeserializeOwned};
use serde_json::Value;

use super::{EffectClass, EffectContext, EffectError};

/// A deploy primitive scripts can call. One implementation per file in
/// `src/primitives/`.
pub trait Primitive: 'static {
    /// The arguments, deserialized from the script's object map. Use
    /// `#[serde(deny_unknown_fields)]`.
    type Params: DeserializeOwned + 'static;
    /// The result, returned to the script as an object map. Live and plan return the
    /// same type, so the shapes match.
    type Output: Serialize;

    /// The name scripts call.
    fn name(&self) -> &'static str;

    /// Markdown for `shipctl docs <name>`: what it does, arguments, result, plan mode.
    fn doc(&self) -> &'static str;

    /// What the effect does: [`EffectClass::Read`] only if it changes nothing anywhere.
    /// Policy's allow lists let reads through; resume performs an unfinished read again
    /// without asking, and counts a compensation's writes as undoing finished work.
    fn class(&self) -> EffectClass;

    /// Checks that need config but no outside system (a channel exists, a repo is
    /// declared). Runs in every mode, before the executor.
    fn validate(&self, _params: &Self::Params, _context: &EffectContext) -> Result<(), EffectError> {
        Ok(())
    }

    /// Perform the effect for real.
    fn live(&self, params: &Self::Params, context: &EffectContext) -> Result<Self::Output, EffectError>;

    /// The result a live call would give, without touching anything. With
    /// `context.refresh`, read-only queries of the live systems are allowed.
    fn plan(&self, params: &Self::Params, context: &EffectContext) -> Result<Self::Output, EffectError>;

    /// Whether `plan` with `context.refresh` asks a live system, with an answer that
    /// depends only on the arguments and the run's config (not on the clock, the
    /// terminal, or what earlier effects of the run did). `plan --refresh` then asks it
    /// ahead of the script, alongside the other probes, in a context of its own on
    /// another thread.
    fn refresh_probes(&self) -> bool {
        false
    }
}

/// A [`Primitive`] with its types erased, so the registry can hold any of them.
pub trait ErasedPrimitive {
    fn name(&self) -> &'static str;
    fn doc(&self) -> &'static str;
    fn class(&self) -> EffectClass;
    /// The argument names, when the parameters are a plain struct.
    fn fields(&self) -> Option<&'static [&'static str]>;
    /// Deserialize arguments into the typed parameters. The error names the argument.
    fn parse(&self, args: &Value) -> Result<Box<dyn Any>, ArgumentError>;
    fn validate(&self, params: &dyn Any, context: &EffectContext) -> Result<(), EffectError>;
    fn live(&self, params: &dyn Any, context: &EffectContext) -> Result<Value, EffectError>;
    fn plan(&self, params: &dyn Any, context: &EffectContext) -> Result<Value, EffectError>;
    fn refresh_probes(&self) -> bool;
}

/// The error for argument `key`, which primitive `kind` (taking `fields`) does not
/// have: the message, with the closest field as a likely typo, and the help listing
/// them all. The gate and the preflight say it the same way.
pub fn unknown_argument(kind: &str, key: &str, fields: &[&str]) -> (String, String) {
    let message = match crate::base::suggest::did_you_mean(key, fields.iter().copied()) {
        Some(close) => format!("unknown argument \"{key}\" to {kind}; did you mean \"{close}\"?"),
        None => format!("unknown argument \"{key}\" to {kind}"),
    };
    (message, format!("{kind} takes: {}; see `shipctl docs {kind}`", fields.join(", ")))
}

/// Why arguments do not fit a primitive's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgumentError {
    /// The argument concerned, when there is one (`push`, `fields.owner`); for a
    /// missing argument, the table it is missing from.
    pub path: Option<String>,
    pub problem: ArgumentProblem,
}

/// What is wrong with the arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgumentProblem {
    /// A required argument is not there.
    Missing(&'static str),
    /// Anything else, in serde's words (a wrong type, an unknown variant).
    Invalid(String),
}

/// The problem alone, without the primitive's name (see
/// [`argument_message`](super::argument_message) for the whole message).
impl std::fmt::Display for ArgumentError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            ArgumentProblem::Missing(field) => write!(formatter, "missing field `{field}`"),
            ArgumentProblem::Invalid(message) => formatter.write_str(message),
        }
    }
}

/// The error type parameters are deserialized with: serde's own words for every
/// problem (serde_json's, so they read as before), and a missing field kept as data
/// so it is worded by [`argument_message`](super::argument_message), not parsed
/// back from serde's text.
#[derive(Debug)]
enum ParamError {
    Missing(&'static str),
    Other(serde_json::Error),
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::Missing(field) => write!(formatter, "missing field `{field}`"),
            ParamError::Other(error) => error.fmt(formatter),
        }
    }
}

impl std::error::Error for ParamError {}

impl de::Error for ParamError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        ParamError::Other(serde_json::Error::custom(message))
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        ParamError::Other(<serde_json::Error as de::Error>::invalid_type(unexpected, expected))
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        ParamError::Other(<serde_json::Error as de::Error>::invalid_value(unexpected, expected))
    }

    fn missing_field(field: &'static str) -> Self {
        ParamError::Missing(field)
    }
}

/// `args` as the typed parameters `T`. The arguments go through `serde_value`, whose
/// deserializer takes any error type (serde_json's `Value` only gives its own).
fn parse_params<T: DeserializeOwned>(args: &Value) -> Result<T, ArgumentError> {
    let value = serde_value::to_value(args)
        .map_err(|error| ArgumentError { path: None, problem: ArgumentProblem::Invalid(error.to_string()) })?;
    serde_path_to_error::deserialize(serde_value::ValueDeserializer::<ParamError>::new(value)).map_err(|error| {
        let path = error.path().to_string();
        let path = (path != ".").then_some(path);
        let problem = match error.into_inner() {
            ParamError::Missing(field) => ArgumentProblem::Missing(field),
            ParamError::Other(error) => ArgumentProblem::Invalid(error.to_string()),
        };
        ArgumentError { path, problem }
    })
}

struct Erased<P: Primitive> {
    primitive: P,
    fields: Option<&'static [&'static str]>,
}

fn typed<T: 'static>(params: &dyn Any) -> Result<&T, EffectError> {
    params.downcast_ref::<T>().ok_or_else(|| EffectError::new("internal error: parameters of the wrong type"))
}

fn output<T: Serialize>(output: T) -> Result<Value, EffectError> {
    serde_json::to_value(output)
        .map_err(|error| EffectError::new(format!("internal error: result not serializable: {error}")))
}

impl<P: Primitive> ErasedPrimitive for Erased<P> {
    fn name(&self) -> &'static str {
        self.primitive.name()
    }

    fn doc(&self) -> &'static str {
        self.primitive.doc()
    }

    fn class(&self) -> EffectClass {
        self.primitive.class()
    }

    fn fields(&self) -> Option<&'static [&'static str]> {
        self.fields
    }

    fn parse(&self, args: &Value) -> Result<Box<dyn Any>, ArgumentError> {
        Ok(Box::new(parse_params::<P::Params>(args)?))
    }

    fn validate(&self, params: &dyn Any, context: &EffectContext) -> Result<(), EffectError> {
        self.primitive.validate(typed::<P::Params>(params)?, context)
    }

    fn live(&self, params: &dyn Any, context: &EffectContext) -> Result<Value, EffectError> {
        output(self.primitive.live(typed::<P::Params>(params)?, context)?)
    }

    fn plan(&self, params: &dyn Any, context: &EffectContext) -> Result<Value, EffectError> {
        output(self.primitive.plan(typed::<P::Params>(params)?, context)?)
    }

    fn refresh_probes(&self) -> bool {
        self.primitive.refresh_probes()
    }
}

/// The primitives of a run, by name.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<Rc<dyn ErasedPrimitive>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Add a primitive; a later one with the same name replaces the earlier.
    pub fn add<P: Primitive>(&mut self, primitive: P) {
        let fields = crate::base::serde_fields::struct_fields::<P::Params>();
        let entry: Rc<dyn ErasedPrimitive> = Rc::new(Erased { primitive, fields });
        match self.entries.iter().position(|existing| existing.name() == entry.name()) {
            Some(index) => self.entries[index] = entry,
            None => self.entries.push(entry),
        }
    }

    /// The primitive called `name`.
    pub fn get(&self, name: &str) -> Option<&Rc<dyn ErasedPrimitive>> {
        self.entries.iter().find(|entry| entry.name() == name)
    }

    /// All primitives, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Rc<dyn ErasedPrimitive>> {
        self.entries.iter()
    }

    /// Names of all primitives.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|entry| entry.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        release: String,
        namespace: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        target: Sample,
        replicas: u32,
    }

    #[test]
    fn a_missing_argument_is_typed_and_other_problems_keep_serde_json_words() {
        let missing = parse_params::<Nested>(&serde_json::json!({ "target": {}, "replicas": 1 })).unwrap_err();
        assert_eq!(missing.path.as_deref(), Some("target"));
        assert_eq!(missing.problem, ArgumentProblem::Missing("release"));
        assert_eq!(crate::effect::argument_message("peek", &missing), "missing argument \"target.release\" to peek");
        let null = parse_params::<Nested>(&serde_json::json!({ "target": { "release": null }, "replicas": 1 }));
        let null = null.unwrap_err();
        assert_eq!(null.path.as_deref(), Some("target.release"));
        assert_eq!(null.problem, ArgumentProblem::Invalid("invalid type: null, expected a string".into()));
        let negative = parse_params::<Nested>(&serde_json::json!({ "target": { "release": "a" }, "replicas": -1 }));
        assert_eq!(negative.unwrap_err().to_string(), "invalid value: integer `-1`, expected u32");
    }

    #[test]
    fn text_that_looks_like_a_missing_field_is_not_taken_for_one() {
        // A value whose own error reads like serde's missing-field text stays a value
        // error: the kind comes from where serde raised it, not from the words.
        let error = parse_params::<Nested>(
            &serde_json::json!({ "target": { "release": "a" }, "replicas": "missing field `replicas`" }),
        );
        let error = error.unwrap_err();
        assert!(matches!(error.problem, ArgumentProblem::Invalid(_)), "{error:?}");
        assert!(
            crate::effect::argument_message("peek", &error).starts_with("argument \"replicas\" to peek: invalid type")
        );
    }
}
