//! Converting between script values and JSON, the form effects travel in.
//!
//! By hand rather than with Rhai's `serde` feature: its `Serialize` for `Dynamic`
//! turns a function pointer into its name and any host-only value into its type
//! name, both as strings, so `tag(#{ name: some_fn })` would pass a primitive the
//! string "some_fn" instead of being refused; here such values are an error naming
//! the key they sit under.

use rhai::{Array, Dynamic, FLOAT, INT, ImmutableString, Map};
use serde_json::{Map as JsonMap, Number, Value};

/// A script value as JSON. Functions and other host-only values are refused with a
/// message naming the type.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
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
        return Number::from_f64(float).map(Value::Number).ok_or_else(|| format!("{float} is not a finite number"));
    }
    if value.is_string() {
        let text = value.read_lock::<ImmutableString>().map(|text| text.to_string()).unwrap_or_default();
        return Ok(Value::String(text));
    }
    if let Ok(character) = value.as_char() {
        return Ok(Value::String(character.to_string()));
    }
    if value.is_array() {
        let Some(array) = value.read_lock::<Array>() else {
            return Ok(Value::Array(Vec::new()));
        };
        return array.iter().map(to_json).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    if value.is_map() {
        let Some(map) = value.read_lock::<Map>() else {
            return Ok(Value::Object(JsonMap::new()));
        };
        return map_to_json(&map).map(Value::Object);
    }
    Err(format!("a value of type {} cannot be passed to a primitive", value.type_name()))
}

/// An object map as a JSON object.
pub fn map_to_json(map: &Map) -> Result<JsonMap<String, Value>, String> {
    let mut object = JsonMap::with_capacity(map.len());
    for (key, item) in map {
        let converted = to_json(item).map_err(|error| format!("in \"{key}\": {error}"))?;
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
}
