//! What a primitive is: typed parameters, a typed result, a live implementation, a
//! plan mock and documentation. The [`Registry`] holds them by name; the engine
//! registers one script function per entry and nothing else needs to know about them.

use std::any::Any;
use std::rc::Rc;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserializer, Serialize};
use serde_json::Value;

use super::{EffectContext, EffectError};

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

    /// False for primitives that change nothing anywhere (`now`): policy lets them
    /// through everywhere.
    fn has_side_effects(&self) -> bool {
        true
    }

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
}

/// A [`Primitive`] with its types erased, so the registry can hold any of them.
pub trait ErasedPrimitive {
    fn name(&self) -> &'static str;
    fn doc(&self) -> &'static str;
    fn has_side_effects(&self) -> bool;
    /// The argument names, when the parameters are a plain struct.
    fn fields(&self) -> Option<&'static [&'static str]>;
    /// Deserialize arguments into the typed parameters. The error names the argument.
    fn parse(&self, args: &Value) -> Result<Box<dyn Any>, ArgumentError>;
    fn validate(&self, params: &dyn Any, context: &EffectContext) -> Result<(), EffectError>;
    fn live(&self, params: &dyn Any, context: &EffectContext) -> Result<Value, EffectError>;
    fn plan(&self, params: &dyn Any, context: &EffectContext) -> Result<Value, EffectError>;
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
    /// The argument concerned, when there is one (`push`, `fields.owner`).
    pub path: Option<String>,
    pub message: String,
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

    fn has_side_effects(&self) -> bool {
        self.primitive.has_side_effects()
    }

    fn fields(&self) -> Option<&'static [&'static str]> {
        self.fields
    }

    fn parse(&self, args: &Value) -> Result<Box<dyn Any>, ArgumentError> {
        match serde_path_to_error::deserialize::<_, P::Params>(args) {
            Ok(params) => Ok(Box::new(params)),
            Err(error) => {
                let path = error.path().to_string();
                let path = (path != ".").then_some(path);
                Err(ArgumentError { path, message: error.into_inner().to_string() })
            }
        }
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
        let fields = struct_fields::<P::Params>();
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

/// The field names of a struct `T` as serde derives them, found by asking `T` to
/// deserialize itself from a probe that records what it is asked for.
///
/// Kept by hand rather than `serde_aux::serde_introspection::serde_introspect`, which
/// probes the same way but answers differently: it returns an enum's variant names as if
/// they were fields (parameters that are a serde enum, "exactly one of", would then offer
/// variant names as argument names in did-you-mean) and an empty slice for anything that
/// is not a struct, so "no arguments" (`now`: every key is unknown) and "not a plain
/// struct" (`None`: keys are left to serde) would look the same. The probe is short and
/// tested below.
pub fn struct_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    let mut probe = FieldProbe(None);
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct FieldProbe(Option<&'static [&'static str]>);

#[derive(Debug)]
struct ProbeDone;

impl std::fmt::Display for ProbeDone {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("probe")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<T: std::fmt::Display>(_message: T) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for &mut FieldProbe {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeDone> {
        self.0 = Some(fields);
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        release: String,
        #[serde(default)]
        namespace: Option<String>,
    }

    #[test]
    fn probe_finds_struct_fields() {
        assert_eq!(struct_fields::<Sample>(), Some(&["release", "namespace"][..]));
        assert_eq!(struct_fields::<String>(), None);
    }
}
