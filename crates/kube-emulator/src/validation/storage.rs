//! PersistentVolumeClaim updates as upstream `ValidatePersistentVolumeClaimUpdate`
//! (pkg/apis/core/validation) judges them: the spec is immutable after creation, except
//! that `volumeName` may be set once, a missing `storageClassName` may be set (the
//! retroactive default class), and — for a Bound claim only — `resources.requests.storage`
//! and `volumeAttributesClassName` may change; the requested storage may never go below
//! the previous value. Quantities are compared by value (a small parser: the emulator
//! needs only an order, not exact arithmetic).

use serde_json::Value;

use crate::schema::{FieldError, FieldErrorKind};

/// Upstream's message (1.29+, with volume attributes classes).
pub const IMMUTABLE: &str = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

/// The field errors of an update of the claim `old` to `object`.
pub fn persistent_volume_claim_update(object: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut new_spec = object["spec"].clone();
    let mut old_spec = old["spec"].clone();
    // The strategy keeps the stored status on a spec write: the phase is the old one.
    let bound = old["status"]["phase"] == "Bound";
    let text = |spec: &Value, key: &str| spec[key].as_str().unwrap_or_default().to_owned();
    if text(&old_spec, "volumeName").is_empty() {
        old_spec["volumeName"] = new_spec["volumeName"].clone();
    }
    if old_spec["storageClassName"].is_null() {
        old_spec["storageClassName"] = new_spec["storageClassName"].clone();
    }
    if bound {
        if new_spec["resources"]["requests"].is_object() {
            new_spec["resources"]["requests"]["storage"] =
                old_spec["resources"]["requests"]["storage"].clone();
        }
        new_spec["volumeAttributesClassName"] = old_spec["volumeAttributesClassName"].clone();
    }
    if without_nulls(&new_spec) != without_nulls(&old_spec) {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec",
            None,
            format!("{IMMUTABLE}\n{}", difference(&old_spec, &new_spec)),
        ));
    }
    let storage = |claim: &Value| {
        claim["spec"]["resources"]["requests"]["storage"]
            .as_str()
            .and_then(quantity)
    };
    if let (Some(before), Some(after)) = (storage(old), storage(object))
        && after < before
    {
        errors.push(FieldError::new(
            FieldErrorKind::Forbidden,
            "spec.resources.requests.storage",
            None,
            "field can not be less than previous value",
        ));
    }
    errors
}

/// `value` without `null` members (an absent field and a null one are the same spec).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The top-level spec fields that differ, as `field: old -> new` lines (upstream prints
/// a `cmp.Diff` of the two specs).
fn difference(old: &Value, new: &Value) -> String {
    let (old, new) = (without_nulls(old), without_nulls(new));
    let mut keys: Vec<&String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(|fields| fields.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| old[key.as_str()] != new[key.as_str()])
        .map(|key| format!("  {key}: {} -> {}", old[key.as_str()], new[key.as_str()]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A resource quantity (`5Gi`, `500M`, `1.5e9`, `100m`) as a number of units, or `None`
/// when it is not one.
pub fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| text.strip_suffix(suffix).map(|n| (n, *scale)))
        .or_else(|| text.strip_suffix('E').map(|n| (n, 1e18)))
        .unwrap_or((text, 1.0));
    let plain = number.trim_start_matches(['+', '-']);
    let digits = plain.split(['e', 'E']).next().unwrap_or_default();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(quantity("5Gi"), Some(5.0 * 1_073_741_824.0));
        assert!(quantity("10Gi") > quantity("10G"));
        assert!(quantity("1500M") > quantity("1G"));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("100m"), Some(0.1));
        assert_eq!(quantity("Gi"), None);
        assert_eq!(quantity("five"), None);
    }
}
