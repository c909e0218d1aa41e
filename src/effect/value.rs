//! Converting between script values and JSON, the form effects travel in.
//!
//! By hand rather than with Rhai's `serde` feature: its `Serialize` for `Dynamic`
//! turns a function pointer into its name and any host-only value into its type
//! name, both as strings, so `tag(#{ name: some_fn })` would pass a primitive the
//! string "some_fn" instead of being refused; here such values are an error naming
//! the key they sit under.

use rhai::{Array, Dynamic, FLOAT, INT, ImmutableString, Map};
use serde_json::{Map as JsonMap, Number, Value};

/// How deep a value passed to a primitive may nest: deeper is refused before anything
/// walks it again (display, journal, redaction), so a script cannot make the host build
/// a pyramid of indentation or recurse without bound. Helm values, the deepest argument
/// in practice, stay well under it.
pub const MAX_DEPTH: usize = 64;

/// The longest key a conversion error quotes in its path, and the most keys and
/// indices it shows.
const KEY_IN_PATH_CHARS: usize = 40;
const SEGMENTS_IN_PATH: usize = 16;

/// A script value as JSON. Functions and other host-only values are refused with a
/// message naming the type and where the value sits (`in fields.list[2]: ...`), and so
/// is a value nesting more than [`MAX_DEPTH`] levels.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
    convert(value, 0).map_err(|error| error.to_string())
}

/// An object map as a JSON object.
pub fn map_to_json(map: &Map) -> Result<JsonMap<String, Value>, String> {
    convert_map(map, 0).map_err(|error| error.to_string())
}

/// Why a value cannot be converted, and the keys and indices leading to it (innermost
/// first, as the error travels out).
struct ConversionError {
    path: Vec<Segment>,
    problem: String,
}

enum Segment {
    Key(String),
    Index(usize),
}

impl std::fmt::Display for ConversionError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            return formatter.write_str(&self.problem);
        }
        formatter.write_str("in ")?;
        for (position, segment) in self.path.iter().rev().enumerate().take(SEGMENTS_IN_PATH) {
            match segment {
                Segment::Index(index) => write!(formatter, "[{index}]")?,
                Segment::Key(key) => {
                    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    let dot = if position == 0 { "" } else { "." };
                    if plain && key.chars().count() <= KEY_IN_PATH_CHARS {
                        write!(formatter, "{dot}{key}")?;
                    } else {
                        let shown: String = key.chars().take(KEY_IN_PATH_CHARS).collect();
                        let cut = if shown.len() < key.len() { "…" } else { "" };
                        write!(formatter, "[\"{}{cut}\"]", shown.escape_debug())?;
                    }
                }
            }
        }
        let cut = if self.path.len() > SEGMENTS_IN_PATH { "…" } else { "" };
        write!(formatter, "{cut}: {}", self.problem)
    }
}

fn problem(problem: String) -> ConversionError {
    ConversionError { path: Vec::new(), problem }
}

fn convert(value: &Dynamic, depth: usize) -> Result<Value, ConversionError> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(boolean) = value.as_bool() {
        return Ok(Value::Bool(boolean));
    }
    if let Ok(integer) = value.as_int() {
        return Ok(Value::Number(integer.into()));
    }
    if let Ok(float) = value.as_float() {
        return Number::from_f64(float)
            .map(Value::Number)
            .ok_or_else(|| problem(format!("{float} is not a finite number")));
    }
    if value.is_string() {
        let text = value.read_lock::<ImmutableString>().map(|text| text.to_string()).unwrap_or_default();
        return Ok(Value::String(text));
    }
    if let Ok(character) = value.as_char() {
        return Ok(Value::String(character.to_string()));
    }
    if value.is_array() || value.is_map() {
        return convert_container(value, depth);
    }
    Err(problem(format!("a value of type {} cannot be passed to a primitive", value.type_name())))
}

fn convert_container(value: &Dynamic, depth: usize) -> Result<Value, ConversionError> {
    if depth >= MAX_DEPTH {
        return Err(problem(format!("the value nests more than {MAX_DEPTH} levels of arrays and maps")));
    }
    if let Some(map) = value.read_lock::<Map>() {
        return convert_map(&map, depth + 1).map(Value::Object);
    }
    let Some(array) = value.read_lock::<Array>() else {
        return Ok(Value::Array(Vec::new()));
    };
    let mut items = Vec::with_capacity(array.len());
    for (index, item) in array.iter().enumerate() {
        items.push(convert(item, depth + 1).map_err(|mut error| {
            error.path.push(Segment::Index(index));
            error
        })?);
    }
    Ok(Value::Array(items))
}

fn convert_map(map: &Map, depth: usize) -> Result<JsonMap<String, Value>, ConversionError> {
    let mut object = JsonMap::with_capacity(map.len());
    for (key, item) in map {
        let converted = convert(item, depth).map_err(|mut error| {
            error.path.push(Segment::Key(key.to_string()));
            error
        })?;
        object.insert(key.to_string(), converted);
    }
    Ok(object)
}

/// JSON as a script value: objects become object maps, numbers integers where they fit.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(boolean) => Dynamic::from_bool(*boolean),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Dynamic::from_int(integer as INT),
            None => Dynamic::from_float(number.as_f64().unwrap_or(f64::NAN) as FLOAT),
        },
        Value::String(text) => Dynamic::from(text.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(object) => {
            let map: Map = object.iter().map(|(key, item)| (key.as_str().into(), to_dynamic(item))).collect();
            Dynamic::from_map(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_values() {
        let json = serde_json::json!({"a": 1, "b": [true, "x", 2.5], "c": {"d": null}});
        let back = to_json(&to_dynamic(&json)).unwrap();
        assert_eq!(back, json);
    }

    #[test]
    fn refuses_functions() {
        let engine = rhai::Engine::new_raw();
        let pointer: Dynamic = engine.eval_expression::<Dynamic>("Fn(\"x\")").unwrap();
        assert!(to_json(&pointer).unwrap_err().contains("Fn"));
    }

    fn eval(script: &str) -> Dynamic {
        rhai::Engine::new_raw().eval::<Dynamic>(script).unwrap()
    }

    #[test]
    fn an_error_names_the_path_to_the_value() {
        let value = eval("#{ fields: #{ list: [1, Fn(\"x\")] } }");
        let message = to_json(&value).unwrap_err();
        assert_eq!(message, "in fields.list[1]: a value of type Fn cannot be passed to a primitive");
        let odd = eval("#{ \"a b\": [Fn(\"x\")] }");
        assert_eq!(to_json(&odd).unwrap_err(), "in [\"a b\"][0]: a value of type Fn cannot be passed to a primitive");
    }

    #[test]
    fn a_long_or_hostile_key_is_cut_and_escaped_in_the_path() {
        let key = format!("{}\u{1b}[31m", "k".repeat(100));
        let mut map = Map::new();
        map.insert(key.as_str().into(), Dynamic::from(f64::NAN as FLOAT));
        let message = map_to_json(&map).unwrap_err();
        assert_eq!(message, format!("in [\"{}…\"]: NaN is not a finite number", "k".repeat(40)));
        let mut map = Map::new();
        map.insert("\u{1b}[31mred".into(), Dynamic::from(f64::INFINITY as FLOAT));
        let message = map_to_json(&map).unwrap_err();
        assert!(message.starts_with("in [\"\\u{1b}[31mred\"]"), "{message}");
        assert!(!message.contains('\u{1b}'), "{message}");
    }

    fn nested(levels: usize) -> Dynamic {
        let mut value = Dynamic::from_int(1);
        for level in 0..levels {
            value = if level % 2 == 0 {
                let mut map = Map::new();
                map.insert("a".into(), value);
                Dynamic::from_map(map)
            } else {
                Dynamic::from_array(vec![value])
            };
        }
        value
    }

    #[test]
    fn values_nest_at_most_max_depth_levels() {
        assert!(to_json(&nested(MAX_DEPTH)).is_ok());
        let message = to_json(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(message.ends_with("the value nests more than 64 levels of arrays and maps"), "{message}");
        assert!(message.starts_with("in a[0].a[0].a"), "{message}");
        assert!(message.contains("[0]…: the value"), "{message}");
        // As deep as the default map and array limits let a script build: the error
        // comes from the top 64 levels, without walking the rest. (Dropping the value
        // recurses in Rhai; script threads have the stack for it, test threads not.)
        let deep = std::thread::Builder::new().stack_size(256 << 20).spawn(|| to_json(&nested(10_000)).unwrap_err());
        let message = deep.unwrap().join().unwrap();
        assert!(message.contains("more than 64 levels"), "{message}");
    }
}
