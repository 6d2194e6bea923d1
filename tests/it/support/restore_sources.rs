//! Restore sources made outside tiered, as another team or the account's administrator
//! would make them in moto: a PostgreSQL instance, DB snapshots of it and ElastiCache
//! snapshots of a replication group, each with the tags given (e.g. the opt-in tag
//! `tiered.io/restorable=<namespace>/<name>`, see `restore_isolation`); and, for either
//! data-tier kind, a snapshot, the field that names it and its opt-in.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::data_tier::database::postgres_instance;
use super::data_tier::{Kind, resource};
use super::moto::{MotoServer, elasticache_client, rds_client, sdk_tags};

/// Whether `K` is the ManagedDatabase kind (else CacheCluster).
fn is_database<K: Kind>() -> bool {
    K::CONTROLLER == tiered::controllers::managed_database::CONTROLLER
}

/// The key of `spec.restoreFrom` that names a snapshot of kind `K`.
fn snapshot_key<K: Kind>() -> &'static str {
    if is_database::<K>() {
        "dbSnapshotIdentifier"
    } else {
        "snapshotName"
    }
}

/// The spec field that names a snapshot of kind `K` (in messages).
pub fn snapshot_field<K: Kind>() -> String {
    format!("spec.restoreFrom.{}", snapshot_key::<K>())
}

/// `{"restoreFrom": …}` naming the snapshot `name` of kind `K`.
pub fn restore_from_snapshot<K: Kind>(name: &str) -> Value {
    json!({"restoreFrom": {snapshot_key::<K>(): name}})
}

/// The spec fields a resource of kind `K` needs for moto to snapshot it: a cache in
/// cluster mode (moto snapshots a replication group by its id only then).
pub fn snapshotable<K: Kind>() -> Value {
    if is_database::<K>() {
        json!({})
    } else {
        json!({"shards": 2})
    }
}

/// The ids of the snapshots of kind `K` moto holds (manual DB snapshots, or cache
/// snapshots), sorted.
pub async fn snapshot_ids<K: Kind>(server: &MotoServer) -> Vec<String> {
    let mut ids = if is_database::<K>() {
        let described = rds_client(server)
            .describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .expect("DescribeDBSnapshots failed");
        super::moto::ids_of(described.db_snapshots(), |s| s.db_snapshot_identifier())
    } else {
        let described = elasticache_client(server)
            .describe_snapshots()
            .send()
            .await
            .expect("DescribeSnapshots failed");
        super::moto::ids_of(described.snapshots(), |s| s.snapshot_name())
    };
    ids.sort();
    ids
}

/// The snapshot `name` of the resource `source` of kind `K` (made untagged, as an
/// administrator would, when there is none), with `tags`; its ARN.
pub async fn take_snapshot<K: Kind>(
    ctx: &K,
    server: &MotoServer,
    source: &str,
    name: &str,
    tags: &[(&str, &str)],
) -> String {
    if resource(ctx, source).await.is_none() {
        ctx.create_untagged(source, &[]).await;
    }
    if is_database::<K>() {
        take_db_snapshot(&rds_client(server), source, name, tags).await
    } else {
        take_cache_snapshot(&elasticache_client(server), source, name, tags).await
    }
}

/// Tags the snapshot `arn` of kind `K` with `key` = `value` (an administrator's opt-in),
/// with the kind's AddTagsToResource.
pub async fn tag_snapshot<K: Kind>(ctx: &K, arn: &str, key: &str, value: &str) {
    let tag = BTreeMap::from([(key.to_owned(), value.to_owned())]);
    ctx.add_tags(arn, &tag)
        .await
        .unwrap_or_else(|e| panic!("AddTagsToResource {arn}: {e:?}"));
}

/// Someone else's PostgreSQL instance `id` (database `newsread`, a week of backups, so
/// it can be restored to a point in time) with `tags`.
pub async fn source_instance(rds: &aws_sdk_rds::Client, id: &str, tags: &[(&str, &str)]) {
    postgres_instance(rds, id, tags)
        .db_name("newsread")
        .backup_retention_period(7)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDBInstance {id}: {e:?}"));
}

/// The DB snapshot `snapshot` of the instance `source` (made untagged by
/// [`source_instance`] when there is none), with `tags`; its ARN.
pub async fn take_db_snapshot(
    rds: &aws_sdk_rds::Client,
    source: &str,
    snapshot: &str,
    tags: &[(&str, &str)],
) -> String {
    if super::aws_reads::instance(rds, source).await.is_none() {
        source_instance(rds, source, &[]).await;
    }
    rds.create_db_snapshot()
        .db_instance_identifier(source)
        .db_snapshot_identifier(snapshot)
        .set_tags((!tags.is_empty()).then(|| sdk_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDBSnapshot {snapshot}: {e:?}"))
        .db_snapshot()
        .and_then(|s| s.db_snapshot_arn().map(str::to_owned))
        .expect("a snapshot has an ARN")
}

/// The snapshot `snapshot` of the replication group `group`, with `tags`; its ARN.
pub async fn take_cache_snapshot(
    elasticache: &aws_sdk_elasticache::Client,
    group: &str,
    snapshot: &str,
    tags: &[(&str, &str)],
) -> String {
    elasticache
        .create_snapshot()
        .replication_group_id(group)
        .snapshot_name(snapshot)
        .set_tags((!tags.is_empty()).then(|| sdk_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSnapshot {snapshot}: {e:?}"))
        .snapshot()
        .and_then(|s| s.arn().map(str::to_owned))
        .expect("a snapshot has an ARN")
}
