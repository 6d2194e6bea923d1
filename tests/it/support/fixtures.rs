//! Fixtures the ManagedDatabase and CacheCluster tests share: the owner an object's
//! AWS resources are tagged for, a spec built from a base plus per-test fields, and
//! the fixed deletion time that names final snapshots.

use k8s_openapi::jiff::Timestamp;
use serde::de::DeserializeOwned;
use tiered::aws::tags::Owner;

/// The cluster name the operator runs as in these tests.
pub const CLUSTER: &str = "test";

/// The owner of the object `name` in namespace `shop`.
pub fn owner(name: &str) -> Owner {
    Owner {
        cluster: CLUSTER.into(),
        namespace: "shop".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

/// A spec from `base` with `extra`'s top-level fields set over it.
pub fn spec_from<T: DeserializeOwned>(mut base: serde_json::Value, extra: &serde_json::Value) -> T {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            base.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(base).expect("valid spec")
}

/// The deletion timestamp the cleanup tests pass, so final snapshots are named
/// `<id>-final-20260102030405`.
pub fn deletion_time() -> Timestamp {
    "2026-01-02T03:04:05Z".parse().expect("timestamp")
}
