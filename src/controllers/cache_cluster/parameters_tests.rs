//! Tests of `parameters.rs`: the owned group's name, cluster-enabled in cluster mode,
//! and the reboot a node waits for.

use aws_sdk_elasticache::types::CacheParameterGroupStatus;

use super::*;
use crate::controllers::cache_cluster::desired::tests::desired;

#[test]
fn the_owned_group_is_named_after_the_group_and_the_family() {
    assert_eq!(
        owned_group("prod-shop-cache-1a2b", CacheEngine::Valkey, Some("8.0")),
        Ok((
            "prod-shop-cache-1a2b-valkey8".to_owned(),
            "valkey8".to_owned()
        ))
    );
    assert_eq!(
        owned_group("g", CacheEngine::Redis, Some("6.x")),
        Ok(("g-redis6-x".to_owned(), "redis6.x".to_owned()))
    );
    let error = owned_group("g", CacheEngine::Redis, None).unwrap_err();
    assert_eq!(error.field, "spec.engineVersion");
}

#[test]
fn cluster_mode_always_keeps_cluster_enabled_in_the_owned_group() {
    let plain = desired(&serde_json::json!({"parameters": {"maxmemory-policy": "allkeys-lru"}}));
    assert_eq!(
        wanted_parameters(&plain),
        BTreeMap::from([("maxmemory-policy".to_owned(), "allkeys-lru".to_owned())])
    );
    let sharded = desired(&serde_json::json!({"shards": 3}));
    assert_eq!(
        wanted_parameters(&sharded),
        BTreeMap::from([(CLUSTER_ENABLED.to_owned(), "yes".to_owned())]),
        "an emptied spec.parameters never resets cluster-enabled away"
    );
    // So a reset of the user's last parameter leaves cluster-enabled alone.
    let current = BTreeMap::from([
        (CLUSTER_ENABLED.to_owned(), "yes".to_owned()),
        ("timeout".to_owned(), "300".to_owned()),
    ]);
    let changes = parameter_changes(&wanted_parameters(&sharded), &current);
    assert_eq!(changes.reset, ["timeout"]);
    assert!(changes.set.is_empty());
}

#[test]
fn a_node_waiting_for_a_reboot_is_reported() {
    let node = |group: &str, status: &str| {
        CacheCluster::builder()
            .cache_parameter_group(
                CacheParameterGroupStatus::builder()
                    .cache_parameter_group_name(group)
                    .parameter_apply_status(status)
                    .build(),
            )
            .build()
    };
    let pending = group_status(
        Some(&node("g-valkey8", "pending-reboot")),
        "g-valkey8",
        "valkey8",
    );
    assert!(pending.pending_reboot);
    assert_eq!(pending.apply_status.as_deref(), Some("pending-reboot"));
    assert!(
        !group_status(Some(&node("g-valkey8", "in-sync")), "g-valkey8", "valkey8").pending_reboot
    );
    // Another group's status is not ours.
    let other = group_status(
        Some(&node("default.valkey8", "pending-reboot")),
        "g-valkey8",
        "valkey8",
    );
    assert!(!other.pending_reboot && other.apply_status.is_none());
    assert!(attached(Some(&node("g-valkey8", "in-sync")), "g-valkey8"));
    assert!(!attached(None, "g-valkey8"));
}
