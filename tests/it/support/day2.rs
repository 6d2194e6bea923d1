//! The steps the day-2 operator tests (snapshots, restores, replicas) share for objects
//! of either data-tier kind in [`NS`], by name: create one next to another, wait until
//! one is Ready (within a limit, saying how it stands otherwise), wait until its
//! requested snapshots are available.

use std::time::Duration;

use kube::Api;
use kube::api::PostParams;
use serde_json::Value;

use super::data_tier::operator::{NS, condition, wire_status};
use super::data_tier::{Kind, merged, object};

/// Creates the object `name` of kind `K` in [`NS`] with the operator tests' spec and
/// `extra`.
pub async fn create_named<K: Kind>(objects: &Api<K::Object>, name: &str, extra: &Value) {
    let spec = merged(K::manifest_spec(), extra);
    objects
        .create(&PostParams::default(), &object::<K>(NS, name, &spec))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

/// The `Ready` condition of `object`, `(status, reason, message)`.
pub fn ready_of<K: Kind>(object: &K::Object) -> Option<(String, String, String)> {
    condition::<K>(object, "Ready")
}

/// Waits up to `limit` until the object `name` is Ready; panics with its `Ready`
/// condition and `why` (what it said before, say) otherwise. Returns the object.
pub async fn wait_ready_named<K: Kind>(
    objects: &Api<K::Object>,
    name: &str,
    limit: Duration,
    why: &str,
) -> K::Object {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let found = objects.get_opt(name).await.expect("get");
        let ready = found.as_ref().and_then(ready_of::<K>);
        if let Some(found) = found
            && ready
                .as_ref()
                .is_some_and(|(status, _, _)| status == "True")
        {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is not Ready within {limit:?}: {ready:?} {why}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the object `name` lists `count` snapshots in its status, each
/// `available`; returns the object.
pub async fn wait_snapshots_available<K: Kind>(
    objects: &Api<K::Object>,
    name: &str,
    count: usize,
) -> K::Object {
    super::operator::eventually(
        &format!("{name} lists {count} available snapshot(s)"),
        || async {
            objects.get(name).await.is_ok_and(|found| {
                let snapshots = wire_status::<K>(&found)["snapshots"].clone();
                snapshots.as_array().is_some_and(|listed| {
                    listed.len() == count && listed.iter().all(|s| s["state"] == "available")
                })
            })
        },
    )
    .await;
    objects.get(name).await.expect("get")
}
