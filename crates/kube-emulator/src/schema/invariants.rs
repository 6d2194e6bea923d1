//! The checks apiextensions-apiserver runs after `OpenAPI` validation: `apiVersion`/`kind` of
//! embedded resources (`schemaobjectmeta.Validate`) and the uniqueness invariants of
//! `x-kubernetes-list-type: set|map` (`structurallisttype.ValidateListSetsAndMaps`).
//! Their paths come from `field.Path`, so map keys print as `[key]`.

use serde_json::{Map, Value};

use super::errors::{FieldError, FieldErrorKind};
use super::{additional_entries, child_path, flag, list_map_keys, sorted_properties};

/// `apiVersion` and `kind` of every `x-kubernetes-embedded-resource` object.
pub(super) fn embedded_resources(schema: &Value, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(schema, object, "", &mut |schema, value, path| {
        if let Value::Object(map) = value
            && flag(schema, "x-kubernetes-embedded-resource")
        {
            for field in ["apiVersion", "kind"] {
                let field_path = child_path(path, field);
                match map.get(field) {
                    None => errors.push(FieldError::new(
                        FieldErrorKind::Required,
                        &field_path,
                        None,
                        "must not be empty",
                    )),
                    Some(Value::String(s)) if s.is_empty() => {
                        errors.push(FieldError::new(
                            FieldErrorKind::Invalid,
                            &field_path,
                            Some(Value::from("")),
                            "must not be empty",
                        ));
                    }
                    Some(Value::String(_)) => {}
                    Some(other) => {
                        errors.push(FieldError::new(
                            FieldErrorKind::Invalid,
                            &field_path,
                            Some(other.clone()),
                            "must be a string",
                        ));
                    }
                }
            }
        }
    });
    errors
}

/// Duplicate items of list-type `set` lists and duplicate keys of list-type `map` lists.
pub(super) fn list_sets_and_maps(schema: &Value, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(schema, object, "", &mut |schema, value, path| {
        let Value::Array(items) = value else {
            return;
        };
        match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        let item_path = format!("{path}[{i}]");
                        errors.push(FieldError::new(
                            FieldErrorKind::Duplicate,
                            &item_path,
                            Some(item.clone()),
                            "",
                        ));
                    }
                }
            }
            Some("map") => list_map(schema, items, path, &mut errors),
            _ => {}
        }
    });
    errors
}

fn list_map(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    if let Some((i, item)) = items
        .iter()
        .enumerate()
        .find(|(_, item)| !item.is_object() && !item.is_null())
    {
        let item_path = format!("{path}[{i}]");
        let detail = "must be an object for an array of list-type map";
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            &item_path,
            Some(item.clone()),
            detail,
        ));
        return;
    }
    let keys = list_map_keys(schema).unwrap_or_default();
    let item_schema = schema.get("items");
    // A key an item leaves out counts with its schema default, as upstream does.
    let key_values = |item: &Value| -> Map<String, Value> {
        keys.iter()
            .filter_map(|key| {
                let value = item.get(*key).cloned().or_else(|| {
                    item_schema
                        .and_then(|s| s.get("properties"))
                        .and_then(|p| p.get(*key))
                        .and_then(|p| p.get("default"))
                        .cloned()
                })?;
                Some(((*key).to_owned(), value))
            })
            .collect()
    };
    let mut seen: Vec<Map<String, Value>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let identity = key_values(item);
        if seen.contains(&identity) {
            let item_path = format!("{path}[{i}]");
            errors.push(FieldError::new(
                FieldErrorKind::Duplicate,
                &item_path,
                Some(Value::Object(identity)),
                "",
            ));
        } else {
            seen.push(identity);
        }
    }
}

/// Visits every value with its schema, parents first, in a stable order.
fn walk(schema: &Value, value: &Value, path: &str, visit: &mut dyn FnMut(&Value, &Value, &str)) {
    visit(schema, value, path);
    match value {
        Value::Object(map) => {
            for (name, prop) in sorted_properties(schema) {
                if let Some(child) = map.get(name) {
                    walk(prop, child, &child_path(path, name), visit);
                }
            }
            if let Some((additional, keys)) = additional_entries(schema, map) {
                for key in keys {
                    walk(additional, &map[key], &format!("{path}[{key}]"), visit);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), visit);
                }
            }
        }
        _ => {}
    }
}
