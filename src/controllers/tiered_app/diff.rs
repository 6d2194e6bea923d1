//! Desired child vs live child, without a client: the hash of a desired object (kept in
//! an annotation, so a changed desired state is seen without parsing the live object)
//! and whether everything a desired object sets is already in the live one (so a field
//! someone else changed is put back). Pure; the apply step decides from these.

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use crate::runtime::owned::{differences, is_subset};

/// Hash of a JSON value, over its compact serialization with the keys of every map in
/// sorted order, so that it does not depend on how the map was built. serde_json's
/// `preserve_order` feature is not ours to set: cargo turns it on when another crate in
/// the same build asks for it (the AWS SDK's `test-util`, a dev-dependency, does), and
/// then maps keep their insertion order. The typed children do not serialize their keys
/// in sorted order (a ServiceAccount writes `kind` before `automountServiceAccountToken`),
/// so the same desired object hashed differently in a test build than in a release build
/// (the operator's own `cargo build`), and two such processes re-applied each other's
/// ServiceAccounts without end. Sorted (serde_json's own `sort_all_objects`, on a copy:
/// the object sent keeps its order), the hash is the one a build without
/// `preserve_order` always computed.
pub fn hash_value(value: &Value) -> String {
    let mut sorted = value.clone();
    sorted.sort_all_objects();
    let digest = Sha256::digest(sorted.to_string().as_bytes());
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

    #[test]
    fn the_hash_does_not_depend_on_the_order_a_map_was_built_in() {
        // serde_json keeps insertion order when any crate of the build turns on its
        // `preserve_order` (test builds do): the two maps below then serialize apart.
        let mut forward = serde_json::Map::new();
        forward.insert("kind".to_owned(), json!("ServiceAccount"));
        forward.insert("automountServiceAccountToken".to_owned(), json!(false));
        forward.insert(
            "metadata".to_owned(),
            json!({"name": "a", "labels": {"y": "1", "x": "2"}}),
        );
        let mut backward = serde_json::Map::new();
        backward.insert(
            "metadata".to_owned(),
            json!({"labels": {"x": "2", "y": "1"}, "name": "a"}),
        );
        backward.insert("automountServiceAccountToken".to_owned(), json!(false));
        backward.insert("kind".to_owned(), json!("ServiceAccount"));
        let (forward, backward) = (Value::Object(forward), Value::Object(backward));
        assert_eq!(hash_value(&forward), hash_value(&backward));
        // The hash of the sorted compact text: what builds without `preserve_order`
        // (release builds) have always written, so their annotations stay valid.
        let sorted = r#"{"automountServiceAccountToken":false,"kind":"ServiceAccount","metadata":{"labels":{"x":"2","y":"1"},"name":"a"}}"#;
        assert_eq!(
            hash_value(&forward),
            hex::encode(&Sha256::digest(sorted.as_bytes())[..8])
        );
        // Strings are escaped as serde_json escapes them.
        let odd = json!({"k\"é\n": "v\u{1}"});
        assert_eq!(
            hash_value(&odd),
            hex::encode(&Sha256::digest(odd.to_string().as_bytes())[..8])
        );
    }
}
