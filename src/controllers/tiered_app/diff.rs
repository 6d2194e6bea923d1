//! Desired child vs live child, without a client: the hash of a desired object (kept in
//! an annotation, so a changed desired state is seen without parsing the live object)
//! and whether everything a desired object sets is already in the live one (so a field
//! someone else changed is put back). Pure; the apply step decides from these.

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use crate::runtime::owned::is_subset;

/// Hash of a JSON value as serialized. Maps keep their insertion order (serde_json's
/// `preserve_order` is on in this build), which is stable for a desired object: it is
/// always serialized from the same typed struct.
pub fn hash_value(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_of_desired_values_contained_or_not_in_the_live_object() {
        let live = json!({
            "metadata": {"name": "a", "uid": "u", "labels": {"x": "1"}},
            "spec": {"replicas": 2, "ports": [{"port": 80}, {"port": 81}]}
        });
        let cases = [
            (json!({"metadata": {"name": "a"}}), true),
            (
                json!({"spec": {"replicas": 2, "ports": [{"port": 80}]}}),
                true,
            ),
            (json!({"spec": {"replicas": 3}}), false),
            (json!({"spec": {"ports": [{"port": 81}]}}), false),
            (json!({"metadata": {"labels": {"x": "1", "y": "2"}}}), false),
            (json!({"metadata": {"annotations": {}}}), true),
            (json!({"spec": {"paused": null}}), true),
            (json!({"spec": {"paused": false}}), false),
        ];
        for (desired, contained) in cases {
            assert_eq!(is_subset(&desired, Some(&live)), contained, "{desired}");
        }
    }

    #[test]
    fn the_hash_is_stable_and_follows_the_content() {
        let a = json!({"b": 1, "a": [1, 2]});
        assert_eq!(hash_value(&a), hash_value(&json!({"b": 1, "a": [1, 2]})));
        assert_ne!(hash_value(&a), hash_value(&json!({"b": 1, "a": [2, 1]})));
        assert_ne!(hash_value(&a), hash_value(&json!({"b": 2, "a": [1, 2]})));
        assert_eq!(hash_value(&a).len(), 16);
    }
}
