//! What moto holds, read the same way by every test that checks AWS behind the
//! operator's back: an RDS client in another region, an instance, the ids of instances,
//! a parameter group's values, a snapshot, a replication group and the tags of any of
//! them. Each read fails the test on an AWS error other than "not found".

use std::collections::BTreeMap;

use aws_sdk_elasticache::types::ReplicationGroup;
use aws_sdk_rds::types::{DbInstance, DbSnapshot};

use super::moto::{MotoServer, aws_config};

/// An RDS client on `server` in `region` (moto keeps each region apart, as AWS does).
pub fn rds_in(server: &MotoServer, region: &str) -> aws_sdk_rds::Client {
    let config = aws_sdk_rds::config::Builder::from(&aws_config(server))
        .region(aws_sdk_rds::config::Region::new(region.to_owned()))
        .build();
    aws_sdk_rds::Client::from_conf(config)
}

/// The instance `id` in `rds`'s region, `None` when RDS says there is none.
pub async fn instance(rds: &aws_sdk_rds::Client, id: &str) -> Option<DbInstance> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(described) => {
            let listed = described.db_instances();
            assert!(listed.len() <= 1, "{id} describes as {listed:?}");
            listed.first().cloned()
        }
        Err(error) => {
            let error = error.into_service_error();
            assert!(
                error.is_db_instance_not_found_fault(),
                "DescribeDBInstances {id}: {error:?}"
            );
            None
        }
    }
}

/// The ids of the instances in `rds`'s region that start with `prefix`, sorted.
pub async fn instance_ids(rds: &aws_sdk_rds::Client, prefix: &str) -> Vec<String> {
    let described = rds
        .describe_db_instances()
        .send()
        .await
        .expect("DescribeDBInstances failed");
    let mut ids: Vec<String> = described
        .db_instances()
        .iter()
        .filter_map(DbInstance::db_instance_identifier)
        .filter(|id| id.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

/// The values in the DB parameter group `group` (only those of `source`, e.g. `user`,
/// when given), by parameter name.
pub async fn parameter_values(
    rds: &aws_sdk_rds::Client,
    group: &str,
    source: Option<&str>,
) -> BTreeMap<String, String> {
    rds.describe_db_parameters()
        .db_parameter_group_name(group)
        .set_source(source.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeDBParameters {group}: {e:?}"))
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_name()?.to_owned(),
                p.parameter_value()?.to_owned(),
            ))
        })
        .collect()
}

/// Whether the DB parameter group `group` is attached to `instance`; `Err` with the
/// groups it has otherwise (for the failure message).
pub fn has_parameter_group(instance: &DbInstance, group: &str) -> Result<(), String> {
    let attached = instance.db_parameter_groups();
    if attached
        .iter()
        .any(|g| g.db_parameter_group_name() == Some(group))
    {
        Ok(())
    } else {
        Err(format!("{group} is not attached: {attached:?}"))
    }
}

/// The one DB snapshot `id`.
pub async fn db_snapshot(rds: &aws_sdk_rds::Client, id: &str) -> DbSnapshot {
    let described = rds
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeDBSnapshots {id}: {e:?}"));
    let [snapshot] = described.db_snapshots() else {
        panic!(
            "expected one snapshot {id}, got {:?}",
            described.db_snapshots()
        );
    };
    snapshot.clone()
}

/// The value of the RDS tag `key` among `tags`.
pub fn rds_tag<'a>(tags: &'a [aws_sdk_rds::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|tag| tag.key() == Some(key))
        .and_then(aws_sdk_rds::types::Tag::value)
}

/// The RDS `tags` by key.
pub fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect()
}

/// The tags of the RDS resource `arn` (a parameter group, say), by key.
pub async fn rds_tags_of(rds: &aws_sdk_rds::Client, arn: &str) -> BTreeMap<String, String> {
    let listed = rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTagsForResource {arn}: {e:?}"));
    rds_tags(listed.tag_list())
}

/// The replication groups `id` as DescribeReplicationGroups lists them.
pub async fn replication_groups(
    elasticache: &aws_sdk_elasticache::Client,
    id: &str,
) -> Vec<ReplicationGroup> {
    elasticache
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeReplicationGroups {id}: {e:?}"))
        .replication_groups()
        .to_vec()
}

/// The one replication group `id`.
pub async fn replication_group(
    elasticache: &aws_sdk_elasticache::Client,
    id: &str,
) -> ReplicationGroup {
    let listed = replication_groups(elasticache, id).await;
    let [group] = listed.as_slice() else {
        panic!("expected one replication group {id}, got {listed:?}");
    };
    group.clone()
}

/// The tags of the ElastiCache resource `arn` (a group, a snapshot), in AWS's order.
pub async fn elasticache_tags(
    elasticache: &aws_sdk_elasticache::Client,
    arn: &str,
) -> Vec<(String, String)> {
    let listed = elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTagsForResource {arn}: {e:?}"));
    listed
        .tag_list()
        .iter()
        .map(|tag| {
            (
                tag.key().unwrap_or_default().to_owned(),
                tag.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Whether `tags` has `key` with `value`.
pub fn has_tag(tags: &[(String, String)], key: &str, value: &str) -> bool {
    tags.iter().any(|(k, v)| k == key && v == value)
}
