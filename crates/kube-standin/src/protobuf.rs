//! Kubernetes protobuf request bodies: the 4 magic bytes `k8s\0`, then a
//! `runtime.Unknown` whose `raw` holds the encoded object. Helm's Kubernetes client
//! writes its release Secrets this way; the stand-in turns them into JSON.

use k8s_pb::api::core::v1::Secret;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// The content type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decode a protobuf body into the JSON form of the object. Only Secrets are
/// understood (the only kind helm sends as protobuf); others are an error naming the kind.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let payload = body.strip_prefix(MAGIC).ok_or("protobuf body without the k8s\\0 prefix")?;
    let unknown = Unknown::decode(payload).map_err(|error| format!("cannot decode runtime.Unknown: {error}"))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => {
            let secret = Secret::decode(raw.as_slice()).map_err(|error| format!("cannot decode v1.Secret: {error}"))?;
            Ok(secret_json(secret))
        }
        _ => Err(format!("the stand-in decodes protobuf for v1 Secret only, not {api_version} {kind}")),
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn secret_json(secret: Secret) -> Value {
    let mut object = json!({ "apiVersion": "v1", "kind": "Secret" });
    object["metadata"] = meta_json(secret.metadata.unwrap_or_default());
    if !secret.data.is_empty() {
        let data: Map<String, Value> =
            secret.data.iter().map(|(key, value)| (key.clone(), Value::String(base64(value)))).collect();
        object["data"] = Value::Object(data);
    }
    if !secret.string_data.is_empty() {
        object["stringData"] = json!(secret.string_data);
    }
    if let Some(kind) = secret.r#type {
        object["type"] = json!(kind);
    }
    if let Some(immutable) = secret.immutable {
        object["immutable"] = json!(immutable);
    }
    object
}

fn time_json(time: &Time) -> Option<Value> {
    let timestamp = jiff::Timestamp::from_second(time.seconds?).ok()?;
    Some(Value::String(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn meta_json(meta: ObjectMeta) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            object.insert(key.to_string(), value);
        }
    };
    put("name", meta.name.map(Value::String));
    put("generateName", meta.generate_name.map(Value::String));
    put("namespace", meta.namespace.map(Value::String));
    put("uid", meta.uid.map(Value::String));
    put("resourceVersion", meta.resource_version.filter(|rv| !rv.is_empty()).map(Value::String));
    put("generation", meta.generation.map(Value::from));
    put("creationTimestamp", meta.creation_timestamp.as_ref().and_then(time_json));
    put("labels", (!meta.labels.is_empty()).then(|| json!(meta.labels)));
    put("annotations", (!meta.annotations.is_empty()).then(|| json!(meta.annotations)));
    put("finalizers", (!meta.finalizers.is_empty()).then(|| json!(meta.finalizers)));
    let owners: Vec<Value> = meta
        .owner_references
        .into_iter()
        .map(|owner| {
            json!({
                "apiVersion": owner.api_version.unwrap_or_default(),
                "kind": owner.kind.unwrap_or_default(),
                "name": owner.name.unwrap_or_default(),
                "uid": owner.uid.unwrap_or_default(),
                "controller": owner.controller.unwrap_or(false),
            })
        })
        .collect();
    put("ownerReferences", (!owners.is_empty()).then_some(Value::Array(owners)));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    #[test]
    fn decodes_a_helm_release_secret() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                name: Some("sh.helm.release.v1.web.v1".into()),
                namespace: Some("demo".into()),
                labels: [("owner".to_string(), "helm".to_string())].into(),
                ..Default::default()
            }),
            data: [("release".to_string(), b"hello".to_vec())].into(),
            r#type: Some("helm.sh/release.v1".into()),
            ..Default::default()
        };
        let unknown = Unknown {
            type_meta: Some(TypeMeta { api_version: Some("v1".into()), kind: Some("Secret".into()) }),
            raw: Some(secret.encode_to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        let object = decode(&body).unwrap();
        assert_eq!(object["metadata"]["name"], "sh.helm.release.v1.web.v1");
        assert_eq!(object["metadata"]["labels"]["owner"], "helm");
        assert_eq!(object["data"]["release"], "aGVsbG8=");
        assert_eq!(object["type"], "helm.sh/release.v1");
        assert!(decode(b"{}").is_err());
    }
}
