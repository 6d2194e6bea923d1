//! The schemas of the `/openapi/v3` documents, and the unknown-field walk that
//! `fieldValidation=Strict` rejects built-in objects with.
//!
//! Built-in kinds take their definitions from k8s-openapi (`schemars` feature): they are
//! generated from the upstream Kubernetes 1.33 OpenAPI document, so the fields, types and
//! descriptions are a real API server's, not a copy of ours. A CRD version's
//! `openAPIV3Schema` becomes its kind's component, named as upstream names it
//! (`io.tiered.v1alpha1.TieredApp`), with `metadata` referring to `ObjectMeta`.

use std::sync::LazyLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::events::v1::Event as EventsEvent;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::super::resources::ResourceType;

/// Where components live, as `$ref`s spell it.
pub const COMPONENTS: &str = "#/components/schemas/";

/// The built-in kinds' component names and every definition they reach.
#[derive(Debug)]
pub struct Builtins {
    /// Component name → schema (OpenAPI 3.0 flavour: `nullable`, `allOf` around `$ref`s).
    pub components: Map<String, Value>,
    /// `(group, version, kind)` → component name.
    kinds: Vec<(&'static str, &'static str, &'static str, String)>,
}

impl Builtins {
    /// The component name of a built-in kind.
    pub fn component_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .iter()
            .find(|(g, v, k, _)| *g == group && *v == version && *k == kind)
            .map(|(_, _, _, name)| name.as_str())
    }
}

fn add<T: JsonSchema>(
    generator: &mut SchemaGenerator,
    kinds: &mut Vec<(&'static str, &'static str, &'static str, String)>,
    (group, version, kind): (&'static str, &'static str, &'static str),
) {
    generator.subschema_for::<T>();
    kinds.push((group, version, kind, T::schema_name().into_owned()));
}

fn gvk_extension(group: &str, version: &str, kind: &str) -> Value {
    json!([{ "group": group, "version": version, "kind": kind }])
}

/// Built once: the definitions of every kind in the built-in table
/// ([`super::super::resources::builtins`]).
pub static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut kinds = Vec::new();
    let g = &mut generator;
    let k = &mut kinds;
    add::<Namespace>(g, k, ("", "v1", "Namespace"));
    add::<ConfigMap>(g, k, ("", "v1", "ConfigMap"));
    add::<Secret>(g, k, ("", "v1", "Secret"));
    add::<Service>(g, k, ("", "v1", "Service"));
    add::<ServiceAccount>(g, k, ("", "v1", "ServiceAccount"));
    add::<PersistentVolumeClaim>(g, k, ("", "v1", "PersistentVolumeClaim"));
    add::<Event>(g, k, ("", "v1", "Event"));
    add::<Pod>(g, k, ("", "v1", "Pod"));
    add::<Deployment>(g, k, ("apps", "v1", "Deployment"));
    add::<HorizontalPodAutoscaler>(g, k, ("autoscaling", "v2", "HorizontalPodAutoscaler"));
    add::<PodDisruptionBudget>(g, k, ("policy", "v1", "PodDisruptionBudget"));
    add::<NetworkPolicy>(g, k, ("networking.k8s.io", "v1", "NetworkPolicy"));
    add::<Ingress>(g, k, ("networking.k8s.io", "v1", "Ingress"));
    add::<Lease>(g, k, ("coordination.k8s.io", "v1", "Lease"));
    add::<EventsEvent>(g, k, ("events.k8s.io", "v1", "Event"));
    add::<ClusterRole>(g, k, ("rbac.authorization.k8s.io", "v1", "ClusterRole"));
    add::<ClusterRoleBinding>(
        g,
        k,
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    );
    add::<Role>(g, k, ("rbac.authorization.k8s.io", "v1", "Role"));
    add::<RoleBinding>(g, k, ("rbac.authorization.k8s.io", "v1", "RoleBinding"));
    add::<CustomResourceDefinition>(
        g,
        k,
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    );
    generator.subschema_for::<ObjectMeta>();
    let mut components = generator.take_definitions(true);
    for (group, version, kind, name) in &kinds {
        if let Some(Value::Object(schema)) = components.get_mut(name) {
            // k8s-openapi marks `metadata` required (the Rust field is not optional);
            // upstream's schemas do not.
            if let Some(Value::Array(required)) = schema.get_mut("required") {
                required.retain(|r| r != "metadata");
                if required.is_empty() {
                    schema.remove("required");
                }
            }
            schema.insert(
                "x-kubernetes-group-version-kind".to_owned(),
                gvk_extension(group, version, kind),
            );
        }
    }
    Builtins { components, kinds }
});

/// Upstream's component name of a custom kind: the group reversed, then version and kind
/// (`tiered.io`, `v1alpha1`, `TieredApp` → `io.tiered.v1alpha1.TieredApp`).
pub fn custom_component_name(rt: &ResourceType) -> String {
    let reversed: Vec<&str> = rt.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind)
}

/// A custom kind's component: its `openAPIV3Schema` with `apiVersion`, `kind` and a
/// `metadata` that refers to `ObjectMeta`, and the kind's group-version-kind extension.
pub fn custom_component(rt: &ResourceType) -> Value {
    let mut schema = rt
        .schema
        .clone()
        .unwrap_or_else(|| json!({ "type": "object" }));
    if let Value::Object(map) = &mut schema {
        let properties = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            properties.insert(
                "metadata".to_owned(),
                json!({ "allOf": [{ "$ref": format!("{COMPONENTS}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") }] }),
            );
            for field in ["apiVersion", "kind"] {
                properties
                    .entry(field)
                    .or_insert_with(|| json!({ "type": "string" }));
            }
        }
        map.insert(
            "x-kubernetes-group-version-kind".to_owned(),
            gvk_extension(&rt.group, &rt.version, &rt.kind),
        );
    }
    schema
}

/// Follows `$ref`s and single-element `allOf`s to the schema that describes a value.
fn resolve<'a>(components: &'a Map<String, Value>, mut schema: &'a Value) -> &'a Value {
    // Bounded: a `$ref` cycle cannot loop forever.
    for _ in 0..16 {
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(COMPONENTS))
            .and_then(|name| components.get(name))
        {
            schema = target;
        } else if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            schema = only;
        } else {
            break;
        }
    }
    schema
}

fn walk(
    components: &Map<String, Value>,
    schema: &Value,
    value: &Value,
    path: &str,
    unknown: &mut Vec<String>,
) {
    let schema = resolve(components, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(fields) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, field) in fields {
                    match properties.get(key) {
                        Some(field_schema) => {
                            walk(components, field_schema, field, &join(key), unknown);
                        }
                        None => unknown.push(join(key)),
                    }
                }
            } else if let Some(values) =
                schema.get("additionalProperties").filter(|s| s.is_object())
            {
                for (key, field) in fields {
                    walk(components, values, field, &join(key), unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        components,
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                        unknown,
                    );
                }
            }
        }
        _ => {}
    }
}

/// The fields of a built-in object its kind's schema does not declare, as upstream's
/// strict decoding names them (`spec.template.spec.containers[0].imagePullPolicyy`).
/// Empty for kinds without a built-in schema.
pub fn unknown_fields(rt: &ResourceType, object: &Value) -> Vec<String> {
    let builtins = &*BUILTINS;
    let Some(name) = builtins.component_of(&rt.group, &rt.version, &rt.kind) else {
        return Vec::new();
    };
    let root = json!({ "$ref": format!("{COMPONENTS}{name}") });
    let mut unknown = Vec::new();
    walk(&builtins.components, &root, object, "", &mut unknown);
    unknown
}
