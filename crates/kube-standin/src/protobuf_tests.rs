//! The protobuf decoder against bodies encoded by `k8s-pb`'s own types, and against
//! hostile bodies that must be refused without a panic.

use super::*;
use k8s_pb::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_pb::api::core::v1::{
    ConfigMap, Container, Namespace, NamespaceSpec, PodSpec, PodTemplateSpec, ResourceRequirements, Secret, Service,
    ServicePort, ServiceSpec,
};
use k8s_pb::api::rbac::v1::{PolicyRule, Role};
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_pb::apimachinery::pkg::runtime::TypeMeta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// ObjectMeta as Go writes it: every non-pointer field present, empty or zero.
fn meta(name: &str) -> Option<ObjectMeta> {
    Some(ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(Time { seconds: Some(-62_135_596_800), nanos: Some(0) }),
        labels: [("app".to_string(), "web".to_string())].into(),
        ..Default::default()
    })
}

#[test]
fn decodes_a_helm_release_secret() {
    let secret = Secret {
        metadata: meta("sh.helm.release.v1.web.v1"),
        data: [("release".to_string(), b"hello".to_vec())].into(),
        r#type: Some("helm.sh/release.v1".into()),
        ..Default::default()
    };
    let object = decode(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
    assert_eq!(object["apiVersion"], "v1");
    assert_eq!(object["kind"], "Secret");
    assert_eq!(object["metadata"]["name"], "sh.helm.release.v1.web.v1");
    assert_eq!(object["metadata"]["labels"]["app"], "web");
    assert_eq!(object["data"]["release"], "aGVsbG8=");
    assert_eq!(object["type"], "helm.sh/release.v1");
    // What Go's JSON leaves out is left out: no empty namespace, uid, or year-1 timestamp.
    let metadata = object["metadata"].as_object().unwrap();
    for absent in ["namespace", "uid", "resourceVersion", "creationTimestamp", "generateName"] {
        assert!(!metadata.contains_key(absent), "{absent} in {metadata:?}");
    }
}

#[test]
fn decodes_namespaces_configmaps_and_roles() {
    let namespace = Namespace { metadata: meta("team"), spec: Some(NamespaceSpec::default()), status: None };
    let object = decode(&envelope("v1", "Namespace", namespace.encode_to_vec())).unwrap();
    assert_eq!(object["metadata"]["name"], "team");
    assert_eq!(object["spec"], serde_json::json!({}));

    let config = ConfigMap {
        metadata: meta("settings"),
        data: [("mode".to_string(), "fast".to_string()), ("empty".to_string(), String::new())].into(),
        binary_data: [("blob".to_string(), vec![0, 1, 2])].into(),
        immutable: None,
    };
    let object = decode(&envelope("v1", "ConfigMap", config.encode_to_vec())).unwrap();
    assert_eq!(object["data"], serde_json::json!({ "empty": "", "mode": "fast" }));
    assert_eq!(object["binaryData"]["blob"], "AAEC");

    let role = Role {
        metadata: meta("reader"),
        rules: vec![PolicyRule {
            verbs: vec!["get".into(), "list".into()],
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            ..Default::default()
        }],
    };
    let object = decode(&envelope("rbac.authorization.k8s.io/v1", "Role", role.encode_to_vec())).unwrap();
    assert_eq!(object["rules"][0]["verbs"], serde_json::json!(["get", "list"]));
    assert_eq!(object["rules"][0]["apiGroups"], serde_json::json!([""]));
}

#[test]
fn decodes_a_deployment_and_a_service_with_their_special_types() {
    let container = Container {
        name: Some("web".into()),
        image: Some("nginx:1.27".into()),
        resources: Some(ResourceRequirements {
            limits: [("memory".to_string(), Quantity { string: Some("128Mi".into()) })].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: meta("web"),
        spec: Some(DeploymentSpec {
            replicas: Some(3),
            selector: Some(LabelSelector {
                match_labels: [("app".to_string(), "web".to_string())].into(),
                ..Default::default()
            }),
            template: Some(PodTemplateSpec {
                metadata: meta(""),
                spec: Some(PodSpec { containers: vec![container], ..Default::default() }),
            }),
            strategy: Some(DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString { r#type: Some(1), int_val: None, str_val: Some("25%".into()) }),
                    max_surge: Some(IntOrString { r#type: Some(0), int_val: Some(1), str_val: None }),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let object = decode(&envelope("apps/v1", "Deployment", deployment.encode_to_vec())).unwrap();
    let spec = &object["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["selector"]["matchLabels"]["app"], "web");
    assert_eq!(spec["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(spec["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "128Mi");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], "25%");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxSurge"], 1);

    let service = Service {
        metadata: meta("web"),
        spec: Some(ServiceSpec {
            ports: vec![ServicePort {
                port: Some(80),
                target_port: Some(IntOrString { r#type: Some(1), int_val: None, str_val: Some("http".into()) }),
                ..Default::default()
            }],
            external_ips: vec!["10.0.0.1".into()],
            cluster_ip: Some("None".into()),
            ..Default::default()
        }),
        status: None,
    };
    let object = decode(&envelope("v1", "Service", service.encode_to_vec())).unwrap();
    assert_eq!(object["spec"]["ports"][0]["port"], 80);
    assert_eq!(object["spec"]["ports"][0]["targetPort"], "http");
    // JSON names that snake case loses (`externalIPs`, `clusterIP`) come back as the API spells them.
    assert_eq!(object["spec"]["externalIPs"][0], "10.0.0.1");
    assert_eq!(object["spec"]["clusterIP"], "None");
}

#[test]
fn refuses_kinds_it_has_no_schema_for() {
    let error = decode(&envelope("example.com/v1", "Widget", vec![])).unwrap_err();
    assert!(matches!(&error, DecodeError::UnknownKind(message) if message.contains("Widget")), "{error:?}");
    let error = decode(&envelope("v1", "", vec![])).unwrap_err();
    assert!(matches!(error, DecodeError::UnknownKind(_)));
}

fn malformed(body: &[u8]) -> String {
    match decode(body) {
        Err(DecodeError::Malformed(message)) => message,
        other => panic!("expected a malformed-body error, got {other:?}"),
    }
}

#[test]
fn refuses_hostile_bodies_without_panicking() {
    let config = ConfigMap { metadata: meta("settings"), ..Default::default() };
    let good = envelope("v1", "ConfigMap", config.encode_to_vec());
    assert!(malformed(b"{\"kind\":\"ConfigMap\"}").contains("k8s\\0"));
    assert!(malformed(b"k8s\x01rest").contains("k8s\\0"));
    assert!(malformed(b"").contains("k8s\\0"));
    for cut in 4..good.len() {
        let _ = decode(&good[..cut]);
    }
    // A field number the schema does not have: field 99, varint.
    let mut raw = config.encode_to_vec();
    raw.extend([0x98, 0x06, 0x01]);
    assert!(malformed(&envelope("v1", "ConfigMap", raw)).contains("field 99 of ConfigMap"));
    // A length prefix far beyond the body, and one beyond usize on 32-bit hosts.
    let raw = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, b'x'];
    assert!(malformed(&envelope("v1", "ConfigMap", raw)).contains("exceeds"));
    let raw = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert!(malformed(&envelope("v1", "ConfigMap", raw)).contains("ConfigMap"));
    // A varint that never ends.
    let raw = vec![0x08; 1].into_iter().chain(std::iter::repeat_n(0xff, 20)).collect();
    assert!(malformed(&envelope("apps/v1", "Deployment", raw)).contains("varint"));
    // A wire type the field cannot have (metadata as a varint), and a group.
    assert!(malformed(&envelope("v1", "ConfigMap", vec![0x08, 0x01])).contains("wrong wire type"));
    assert!(malformed(&envelope("v1", "ConfigMap", vec![0x0b])).contains("wire type 3"));
    // A string that is not UTF-8 in metadata.name.
    assert!(malformed(&envelope("v1", "ConfigMap", vec![0x0a, 0x03, 0x0a, 0x01, 0xff])).contains("UTF-8"));
}

#[test]
fn refuses_nesting_deeper_than_any_kind_needs() {
    // JSONSchemaProps nest themselves (`not`, field 28): 200 levels of them in a CRD.
    let mut props: Vec<u8> = Vec::new();
    for _ in 0..200 {
        let mut outer = vec![0xe2, 0x01];
        let mut length = props.len();
        while length >= 0x80 {
            outer.push((length as u8 & 0x7f) | 0x80);
            length >>= 7;
        }
        outer.push(length as u8);
        outer.extend(&props);
        props = outer;
    }
    let body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", vec![0x12, 0x00]);
    assert!(decode(&body).is_ok());
    let schema = protowire::decode_message("apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps", &props);
    assert!(schema.unwrap_err().contains("nested deeper"));
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..2000 {
        let length = round % 64;
        let mut raw = Vec::with_capacity(length);
        for _ in 0..length {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            raw.push(state as u8);
        }
        let _ = decode(&envelope("apps/v1", "Deployment", raw.clone()));
        let mut body = MAGIC.to_vec();
        body.extend(&raw);
        let _ = decode(&body);
    }
}
