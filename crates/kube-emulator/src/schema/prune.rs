//! Structural pruning and defaulting, as the apiextensions-apiserver decoder does before
//! validation: unknown fields are dropped (not rejected), non-nullable `null`s without a
//! default are dropped, and `default`s fill absent (or non-nullable `null`) fields.

use serde_json::Value;

use super::{child_path, flag};

/// Fields of a resource root (and of an embedded resource) that pruning always keeps.
const RESOURCE_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Drops every field the schema does not declare, unless
/// `x-kubernetes-preserve-unknown-fields: true` keeps it; records the dropped paths.
/// `apiVersion`, `kind` and `metadata` of the root and of embedded resources are left
/// alone (the server coerces `metadata` to `ObjectMeta` elsewhere).
pub(super) fn prune(object: &mut Value, schema: &Value, dropped: &mut Vec<String>) {
    prune_node(object, schema, "", true, dropped);
}

fn prune_node(
    value: &mut Value,
    schema: &Value,
    path: &str,
    resource: bool,
    dropped: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            let resource = resource || flag(schema, "x-kubernetes-embedded-resource");
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keeps_any_key =
                preserve || additional.is_some_and(|a| a.is_object() || a == &Value::Bool(true));
            if !keeps_any_key {
                map.retain(|key, _| {
                    let known = properties.is_some_and(|p| p.contains_key(key))
                        || (resource && RESOURCE_FIELDS.contains(&key.as_str()));
                    if !known {
                        dropped.push(child_path(path, key));
                    }
                    known
                });
            }
            for (key, child) in map.iter_mut() {
                if resource && RESOURCE_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                let child_schema = properties
                    .and_then(|p| p.get(key))
                    .or_else(|| additional.filter(|a| a.is_object()));
                if let Some(child_schema) = child_schema {
                    prune_node(child, child_schema, &child_path(path, key), false, dropped);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item, item_schema, &format!("{path}[{i}]"), false, dropped);
                }
            }
        }
        _ => {}
    }
}

/// Applies `default`s (recursively, also inside defaults just inserted and inside list
/// items), and drops `null`s of non-nullable fields that have no default
/// (`PruneNonNullableNullsWithoutDefaults` then `Default` in structural defaulting).
pub(super) fn apply_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, prop) in properties {
                    let default = prop.get("default");
                    match map.get(key) {
                        None => {
                            if let Some(default) = default {
                                map.insert(key.clone(), default.clone());
                            }
                        }
                        Some(Value::Null) if !flag(prop, "nullable") => match default {
                            Some(default) => {
                                map.insert(key.clone(), default.clone());
                            }
                            None => {
                                map.retain(|k, _| k != key);
                            }
                        },
                        Some(_) => {}
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, child) in map.iter_mut() {
                if let Some(prop) = properties.and_then(|p| p.get(key)) {
                    apply_defaults(child, prop);
                } else if let Some(additional) = additional {
                    default_null(child, additional);
                    apply_defaults(child, additional);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    default_null(item, item_schema);
                    apply_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Replaces a `null` list item or map value by the default of its non-nullable schema.
fn default_null(value: &mut Value, schema: &Value) {
    if value.is_null()
        && !flag(schema, "nullable")
        && let Some(default) = schema.get("default")
    {
        *value = default.clone();
    }
}
