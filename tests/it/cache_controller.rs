//! The CacheCluster controller of `tiered run`, in-process against the emulator and a
//! private `moto_server`, where it differs from the ManagedDatabase's: deletion with the
//! `Delete` policy (moto keeps a deleted group `deleting`). What both kinds share is in
//! `data_tier_controller`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use serde_json::json;
use tiered::controllers::cache_cluster::ElastiCache;

use support::data_tier::operator::{setup, wire_status};
use support::data_tier::{Kind, resource};

#[tokio::test]
async fn deleting_with_the_delete_policy_deletes_the_group_and_the_object_goes() {
    let s = setup::<ElastiCache>().await;
    s.create(&json!({})).await;
    let cache = s.wait_ready().await;
    let identifier = wire_status::<ElastiCache>(&cache)["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    s.delete().await;
    s.wait_gone().await;
    let left = resource(&ElastiCache::on(&s.moto), &identifier)
        .await
        .and_then(|group| group.status().map(str::to_owned));
    assert!(
        left.is_none() || left.as_deref() == Some("deleting"),
        "the group is deleted: {left:?}"
    );
    s.op.stop().await;
}
