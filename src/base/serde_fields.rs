//! The field names of a struct as serde derives them, for did-you-mean on argument
//! names (primitives) and config keys.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

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

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        release: String,
        namespace: Option<String>,
    }

    #[test]
    fn probe_finds_struct_fields() {
        assert_eq!(struct_fields::<Sample>(), Some(&["release", "namespace"][..]));
        assert_eq!(struct_fields::<String>(), None);
    }
}
