//! Strategic merge patch (k8s.io/apimachinery `strategicpatch`) for built-in kinds: lists with
//! a patch merge key merge item by item, `finalizers` merge as a set, other lists replace;
//! `null` deletes a key; the directives `$patch: replace|delete|merge`,
//! `$deleteFromPrimitiveList/<field>`, `$retainKeys` and `$setElementOrder/<field>` are
//! honoured (the last one only stripped: item order is not rearranged).

use serde_json::{Map, Value};

use super::PatchError;
use super::shape::{ListKind, Shape, is_builtin};

const DIRECTIVE: &str = "$patch";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const RETAIN_KEYS: &str = "$retainKeys";

/// Applies a strategic merge patch to `current`, an object of `gvk`.
pub(crate) fn apply(current: &Value, patch: &Value, gvk: &str) -> Result<Value, PatchError> {
    if !is_builtin(gvk) {
        return Err(PatchError::Invalid(format!(
            "strategic merge patch is not supported for custom resources ({gvk}): the body of \
             the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, \
             application/apply-patch+yaml"
        )));
    }
    let Value::Object(patch) = patch else {
        return Err(PatchError::Invalid(
            "a strategic merge patch must be a JSON object".to_owned(),
        ));
    };
    let current = match current {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let merged = merge_map(current, patch, Shape::for_object(gvk, None))?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Merges `patch` into `current`; `None` means `$patch: delete` removed the whole map.
fn merge_map(
    mut current: Map<String, Value>,
    patch: &Map<String, Value>,
    shape: Shape<'_>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get(DIRECTIVE).map(|d| d.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("delete")) => return Ok(None),
        Some(Some("replace")) => {
            let mut replaced = Map::new();
            for (key, value) in patch {
                if key != DIRECTIVE {
                    replaced.insert(key.clone(), strip(value));
                }
            }
            return Ok(Some(replaced));
        }
        Some(other) => {
            return Err(PatchError::Invalid(format!(
                "unknown patch directive {DIRECTIVE}: {other:?}"
            )));
        }
    }
    for (key, value) in patch {
        if key == DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(&mut current, field, value)?;
            continue;
        }
        let child_shape = shape.field(key);
        let merged = match value {
            Value::Null => None,
            Value::Object(child_patch) => {
                let child = match current.get_mut(key).map(Value::take) {
                    Some(Value::Object(child)) => child,
                    _ => Map::new(),
                };
                merge_map(child, child_patch, child_shape)?.map(Value::Object)
            }
            Value::Array(items) => {
                let existing = match current.get_mut(key).map(Value::take) {
                    Some(Value::Array(existing)) => existing,
                    _ => Vec::new(),
                };
                Some(Value::Array(merge_list(existing, items, child_shape)?))
            }
            other => Some(strip(other)),
        };
        // Assigning through `get_mut` keeps the key's position when maps preserve order.
        match (merged, current.get_mut(key)) {
            (Some(merged), Some(slot)) => *slot = merged,
            (Some(merged), None) => {
                current.insert(key.clone(), merged);
            }
            (None, _) => {
                current.remove(key);
            }
        }
    }
    if let Some(Value::Array(retained)) = patch.get(RETAIN_KEYS) {
        current.retain(|key, _| retained.iter().any(|k| k.as_str() == Some(key)));
    }
    Ok(Some(current))
}

/// Merges a patch list into the current list according to the list's strategy.
fn merge_list(
    current: Vec<Value>,
    patch: &[Value],
    shape: Shape<'_>,
) -> Result<Vec<Value>, PatchError> {
    // `{"$patch": "replace"}` as an element replaces the whole list with the other elements.
    let replace = patch
        .iter()
        .any(|item| item.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
    match shape.list_kind() {
        ListKind::Atomic => Ok(patch.iter().map(strip).collect()),
        ListKind::Set => {
            let mut merged = if replace { Vec::new() } else { current };
            for item in patch.iter().filter(|item| item.get(DIRECTIVE).is_none()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Ok(merged)
        }
        ListKind::Map { merge_key, .. } => {
            let mut merged = if replace { Vec::new() } else { current };
            for item in patch {
                let Value::Object(fields) = item else {
                    return Err(PatchError::Invalid(format!(
                        "list merged by key {merge_key:?} has an element that is not an object"
                    )));
                };
                if fields.get(DIRECTIVE).and_then(Value::as_str) == Some("replace") {
                    continue;
                }
                let Some(key) = fields.get(&merge_key) else {
                    return Err(PatchError::Invalid(format!(
                        "map: {item} does not contain declared merge key: {merge_key}"
                    )));
                };
                let position = merged
                    .iter()
                    .position(|existing| existing.get(&merge_key) == Some(key));
                let existing = match position {
                    Some(at) => match merged.remove(at) {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    },
                    None => Map::new(),
                };
                if let Some(result) = merge_map(existing, fields, shape.item())? {
                    let at = position.unwrap_or(merged.len());
                    merged.insert(at, Value::Object(result));
                }
            }
            Ok(merged)
        }
    }
}

/// `$deleteFromPrimitiveList/<field>: [values]` removes those values from `field`.
fn delete_from_primitive_list(
    current: &mut Map<String, Value>,
    field: &str,
    values: &Value,
) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Err(PatchError::Invalid(format!(
            "{DELETE_FROM_PRIMITIVE_LIST}{field} must be a list"
        )));
    };
    if let Some(Value::Array(list)) = current.get_mut(field) {
        list.retain(|item| !values.contains(item));
    }
    Ok(())
}

/// A patch value inserted where nothing merges, without its directives and `null`s.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, value)| {
                    !key.starts_with('$') && !value.is_null() && !is_delete_directive(value)
                })
                .map(|(key, value)| (key.clone(), strip(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| !is_delete_directive(item))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_delete_directive(value: &Value) -> bool {
    value.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}
