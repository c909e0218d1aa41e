//! Kubernetes protobuf request bodies: the 4 magic bytes `k8s\0`, then a
//! `runtime.Unknown` whose `raw` holds the encoded object. Helm writes its release
//! Secrets this way and kubectl's generators (`create namespace`, `create configmap`,
//! `create deployment`, ...) every built-in kind; the stand-in turns them into JSON
//! through the generic decoder of `protowire`.

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value};

use crate::protowire;

const MAGIC: &[u8] = b"k8s\0";

/// The content type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body was refused.
#[derive(Debug, PartialEq)]
pub enum DecodeError {
    /// A kind the decoder has no schema for (answered 415).
    UnknownKind(String),
    /// A body that is not a well-formed encoding of its kind (answered 400).
    Malformed(String),
}

/// Decode a protobuf body into the JSON form of the object it carries.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let malformed = |error: String| DecodeError::Malformed(error);
    let payload =
        body.strip_prefix(MAGIC).ok_or_else(|| malformed("protobuf body without the k8s\\0 prefix".into()))?;
    let unknown =
        Unknown::decode(payload).map_err(|error| malformed(format!("cannot decode runtime.Unknown: {error}")))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    if unknown.content_encoding.as_deref().is_some_and(|encoding| !encoding.is_empty()) {
        return Err(malformed(format!("content encoding {:?} is not supported", unknown.content_encoding)));
    }
    let message = protowire::kind_message(&api_version, &kind).ok_or_else(|| {
        DecodeError::UnknownKind(format!("the stand-in has no protobuf schema for {api_version:?} {kind:?}"))
    })?;
    let raw = unknown.raw.unwrap_or_default();
    let decoded = protowire::decode_message(message, &raw)
        .map_err(|error| malformed(format!("cannot decode {api_version} {kind}: {error}")))?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    if let Value::Object(fields) = decoded {
        object.extend(fields);
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
