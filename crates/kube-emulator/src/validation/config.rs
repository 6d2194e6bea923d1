//! Rules of Secrets and `ConfigMaps`, after `pkg/apis/core/validation` (`ValidateSecret`,
//! `ValidateConfigMap`): data keys are config keys, the data is at most 1 MiB, and a
//! Secret's `type` never changes.

use serde_json::{Map, Value, json};

use super::{each_invalid, format, invalid};
use crate::schema::{FieldError, FieldErrorKind};

/// `MaxSecretSize`, also the limit of a `ConfigMap`'s data.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// Decoded length of a base64 value (Secret `data`, `ConfigMap` `binaryData`).
fn decoded_len(value: &Value) -> usize {
    let text = value.as_str().unwrap_or_default().trim_end_matches('=');
    text.len() * 3 / 4
}

fn entries(object: &Value, key: &str) -> Map<String, Value> {
    object[key].as_object().cloned().unwrap_or_default()
}

fn key_errors(field: &str, keys: &Map<String, Value>) -> Vec<FieldError> {
    keys.keys()
        .flat_map(|key| each_invalid(&format!("{field}[{key}]"), key, format::config_map_key(key)))
        .collect()
}

/// `ValidateSecret` (keys and size) and, on update, `ValidateSecretUpdate`'s immutable type.
pub fn secret(object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let data = entries(object, "data");
    let mut errors = key_errors("data", &data);
    if data.values().map(decoded_len).sum::<usize>() > MAX_DATA_SIZE {
        errors.push(FieldError::new(
            FieldErrorKind::TooLong,
            "data",
            None,
            format!("must have at most {MAX_DATA_SIZE} bytes"),
        ));
    }
    if let Some(old) = old
        && old["type"] != object["type"]
    {
        errors.push(invalid(
            "type",
            object["type"].clone(),
            "field is immutable",
        ));
    }
    errors
}

/// `ValidateConfigMap`: keys of `data` and `binaryData`, no key in both, 1 MiB in total.
pub fn config_map(object: &Value) -> Vec<FieldError> {
    let (data, binary) = (entries(object, "data"), entries(object, "binaryData"));
    let mut errors = key_errors("data", &data);
    errors.extend(key_errors("binaryData", &binary));
    for key in binary.keys().filter(|k| data.contains_key(*k)) {
        errors.push(invalid(
            &format!("binaryData[{key}]"),
            json!(key),
            "duplicate of key present in data",
        ));
    }
    let size: usize = data
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .chain(binary.iter().map(|(k, v)| k.len() + decoded_len(v)))
        .sum();
    if size > MAX_DATA_SIZE {
        errors.push(FieldError::new(
            FieldErrorKind::TooLong,
            "",
            None,
            format!("must have at most {MAX_DATA_SIZE} bytes"),
        ));
    }
    errors
}
