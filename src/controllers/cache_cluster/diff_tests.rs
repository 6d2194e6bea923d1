//! Table tests of the replication group diff.

use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, MultiAzStatus, NodeGroup, NodeGroupMember,
    PendingModifiedValues, ReplicationGroup, SecurityGroupMembership,
};

use super::*;
use crate::controllers::cache_cluster::desired::tests::desired;
use crate::controllers::data_tier::testing::assert_mentions;

fn node_group(id: &str, members: usize) -> NodeGroup {
    let mut group = NodeGroup::builder().node_group_id(id);
    for _ in 0..members {
        group = group.node_group_members(NodeGroupMember::builder().build());
    }
    group.build()
}

/// The group as ElastiCache reports it when it matches `desired(&json!({}))` but for
/// its `replicas` (one shard), automatic failover and Multi-AZ.
pub(crate) fn group_with(
    replicas: usize,
    failover: AutomaticFailoverStatus,
    multi_az: MultiAzStatus,
) -> ReplicationGroup {
    ReplicationGroup::builder()
        .status("available")
        .engine("valkey")
        .cache_node_type("cache.r7g.large")
        .automatic_failover(failover)
        .multi_az(multi_az)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .auth_token_enabled(true)
        .cluster_enabled(false)
        .snapshot_retention_limit(5)
        .snapshot_window("04:00-05:00")
        .node_groups(node_group("0001", replicas + 1))
        .build()
}

/// The group as ElastiCache reports it when it matches `desired(&json!({}))`.
fn group() -> ReplicationGroup {
    group_with(2, AutomaticFailoverStatus::Enabled, MultiAzStatus::Enabled)
}

/// The first member of the group, matching `desired(&json!({}))` but for the
/// `version` it runs (its security groups listed in another order than the spec's).
pub(crate) fn member_running(version: &str) -> CacheCluster {
    CacheCluster::builder()
        .engine_version(version)
        .preferred_maintenance_window("sun:05:00-sun:06:00")
        .security_groups(
            SecurityGroupMembership::builder()
                .security_group_id("sg-0bbb1234")
                .build(),
        )
        .security_groups(
            SecurityGroupMembership::builder()
                .security_group_id("sg-0aaa1234")
                .build(),
        )
        .build()
}

/// The first member of [`group`].
fn member() -> CacheCluster {
    member_running("8.0.1")
}

#[test]
fn a_matching_group_needs_no_change_of_any_kind() {
    let desired = desired(&serde_json::json!({}));
    assert_eq!(diff(&desired, &group(), Some(&member())), None);
    assert_eq!(unsupported(&desired, &group()), None);
    assert_eq!(replica_change(&desired, &group()), None);
    assert_eq!(shard_change(&desired, &group()), None);
}

#[test]
fn table_of_drift_gives_only_the_changed_fields() {
    let cases: [(serde_json::Value, &[&str]); 6] = [
        (
            serde_json::json!({"nodeType": "cache.r7g.xlarge"}),
            &["nodeType"],
        ),
        (
            serde_json::json!({"engineVersion": "8.1"}),
            &["engineVersion"],
        ),
        (
            serde_json::json!({"snapshot": {"retentionDays": 7, "window": "04:00-05:00"}}),
            &["snapshot.retentionDays"],
        ),
        (
            serde_json::json!({"maintenanceWindow": "mon:01:00-mon:02:00"}),
            &["maintenanceWindow"],
        ),
        (
            serde_json::json!({"network": {"securityGroupIds": ["sg-0ccc1234"]}}),
            &["network.securityGroupIds"],
        ),
        (serde_json::json!({"multiAZ": false}), &["multiAZ"]),
    ];
    for (extra, fields) in cases {
        let change = diff(&desired(&extra), &group(), Some(&member())).unwrap();
        assert_eq!(change.changed_fields(), fields, "{extra}");
    }
}

#[test]
fn a_pending_node_type_is_not_sent_again() {
    let member = CacheCluster::builder()
        .pending_modified_values(
            PendingModifiedValues::builder()
                .cache_node_type("cache.r7g.xlarge")
                .build(),
        )
        .build();
    let desired = desired(&serde_json::json!({"nodeType": "cache.r7g.xlarge"}));
    let change = diff(&desired, &group(), Some(&member));
    assert!(
        change.as_ref().is_none_or(|c| c.node_type.is_none()),
        "{change:?}"
    );
}

#[test]
fn without_a_member_cluster_version_window_and_groups_are_left_alone() {
    let desired = desired(&serde_json::json!({"engineVersion": "9.9"}));
    assert_eq!(diff(&desired, &group(), None), None);
}

#[test]
fn creation_only_switches_are_unsupported_with_their_field() {
    let cases = [
        (serde_json::json!({"engine": "redis"}), "spec.engine"),
        (
            serde_json::json!({"transitEncryption": false, "authToken": false}),
            "spec.transitEncryption",
        ),
        (
            serde_json::json!({"atRestEncryption": false}),
            "spec.atRestEncryption",
        ),
        (serde_json::json!({"authToken": false}), "spec.authToken"),
        (serde_json::json!({"shards": 3}), "spec.shards"),
    ];
    for (extra, field) in cases {
        let found = unsupported(&desired(&extra), &group()).map(|u| u.field());
        assert_eq!(found, Some(field), "{extra}");
    }
}

/// Source: the ElastiCache guide "Authenticating with the Valkey and Redis OSS AUTH
/// command", "Modifying the AUTH token on an existing cluster" (ModifyReplicationGroup
/// with `AuthTokenUpdateStrategy=ROTATE` adds AUTH to a group with in-transit
/// encryption; AUTH only over TLS; a token goes only towards RBAC).
#[test]
fn table_of_auth_changes_on_an_existing_group() {
    let without_auth = |transit: bool| {
        let mut group = group();
        group.auth_token_enabled = Some(false);
        group.transit_encryption_enabled = Some(transit);
        group
    };
    let plain = serde_json::json!({"transitEncryption": false, "authToken": false});
    let cases = [
        // AUTH on, TLS on: in place (ROTATE, then SET).
        (serde_json::json!({}), without_auth(true), None),
        // AUTH and TLS on for a group created without TLS: TLS is the reason.
        (
            serde_json::json!({}),
            without_auth(false),
            Some("spec.transitEncryption"),
        ),
        (plain.clone(), without_auth(false), None),
        // AUTH off: only towards RBAC.
        (
            serde_json::json!({"authToken": false}),
            group(),
            Some("spec.authToken"),
        ),
        (
            serde_json::json!({"authToken": false}),
            without_auth(true),
            None,
        ),
    ];
    for (extra, group, field) in cases {
        let found = unsupported(&desired(&extra), &group);
        assert_eq!(found.as_ref().map(Unsupported::field), field, "{extra}");
        if let Some(found) = found {
            assert_mentions(&found.to_string(), &["AUTH", "spec."]);
        }
    }
}

#[test]
fn replicas_follow_the_spec_up_and_down() {
    let up = desired(&serde_json::json!({"replicasPerShard": 4}));
    assert_eq!(
        replica_change(&up, &group()),
        Some(ReplicaChange::Increase(4))
    );
    let down = desired(&serde_json::json!({"replicasPerShard": 1}));
    assert_eq!(
        replica_change(&down, &group()),
        Some(ReplicaChange::Decrease(1))
    );
}

#[test]
fn shrinking_shards_removes_the_highest_node_groups() {
    let cluster = ReplicationGroup::builder()
        .cluster_enabled(true)
        .node_groups(node_group("0001", 2))
        .node_groups(node_group("0003", 2))
        .node_groups(node_group("0002", 2))
        .build();
    let two = desired(&serde_json::json!({"shards": 2}));
    assert_eq!(
        shard_change(&two, &cluster),
        Some(ShardChange {
            count: 2,
            remove: vec!["0003".into()]
        })
    );
    let four = desired(&serde_json::json!({"shards": 4}));
    assert_eq!(
        shard_change(&four, &cluster),
        Some(ShardChange {
            count: 4,
            remove: vec![]
        })
    );
}

/// An upgrade ElastiCache already has pending (applied in the maintenance window) is
/// not sent again on every pass.
#[test]
fn a_pending_engine_upgrade_is_not_sent_again() {
    let mut pending = member();
    pending.engine_version = Some("8.0.1".into());
    pending.pending_modified_values = Some(
        PendingModifiedValues::builder()
            .engine_version("8.1.0")
            .build(),
    );
    let desired = desired(&serde_json::json!({"engineVersion": "8.1"}));
    assert_eq!(diff(&desired, &group(), Some(&pending)), None);
    assert_eq!(
        diff(&desired, &group(), Some(&member())).map(|change| change.engine_version),
        Some(Some("8.1".to_owned()))
    );
}
