//! The CacheCluster reconcile against ElastiCache behaviour moto cannot show, with
//! `aws-smithy-mocks`: `creating` → `available`, throttling, AccessDenied, replica
//! count changes, no Modify when converged, and the final snapshot request.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::decrease_replica_count::DecreaseReplicaCountOutput;
use aws_sdk_elasticache::operation::delete_replication_group::DeleteReplicationGroupOutput;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsOutput;
use aws_sdk_elasticache::operation::increase_replica_count::IncreaseReplicaCountOutput;
use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, Endpoint, MultiAzStatus, NodeGroup, NodeGroupMember, ReplicationGroup,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tiered::api::conditions::{READY, RECONCILING, reasons};
use tiered::api::{CacheClusterSpec, CacheClusterStatus};
use tiered::aws::tags::{Owner, resource_tags, to_elasticache_tags};
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::status::{Report, compute_status};
use tiered::controllers::data_tier::cleanup::{Cleanup, cleanup};
use tiered::controllers::data_tier::reconcile::{Credential, Target, sync};
use tiered::controllers::data_tier::secret::Password;
use tiered::controllers::data_tier::status::Progress;

use support::fixtures::{deletion_time, spec_from};

const ID: &str = "legacy-cache";

fn owner() -> Owner {
    Owner {
        cluster: "test".into(),
        namespace: "shop".into(),
        name: "cache".into(),
        uid: "uid-1".into(),
    }
}

/// A spec that adopts `ID`, so the id is known to the rules below.
fn spec(extra: &serde_json::Value) -> CacheClusterSpec {
    spec_from(
        serde_json::json!({
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.t4g.small",
            "replicasPerShard": 1,
            "adopt": {"replicationGroupId": ID}
        }),
        extra,
    )
}

/// `ID` as ElastiCache reports it when it matches `spec`, in `status`.
fn group(status: &str) -> ReplicationGroup {
    let member = || NodeGroupMember::builder().build();
    ReplicationGroup::builder()
        .replication_group_id(ID)
        .arn(format!(
            "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{ID}"
        ))
        .status(status)
        .engine("valkey")
        .cache_node_type("cache.t4g.small")
        .automatic_failover(AutomaticFailoverStatus::Enabled)
        .multi_az(MultiAzStatus::Enabled)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .auth_token_enabled(true)
        .cluster_enabled(false)
        .member_clusters(format!("{ID}-001"))
        .node_groups(
            NodeGroup::builder()
                .node_group_id("0001")
                .primary_endpoint(
                    Endpoint::builder()
                        .address("master.example")
                        .port(6379)
                        .build(),
                )
                .reader_endpoint(
                    Endpoint::builder()
                        .address("replica.example")
                        .port(6379)
                        .build(),
                )
                .node_group_members(member())
                .node_group_members(member())
                .build(),
        )
        .build()
}

fn described(group: ReplicationGroup) -> DescribeReplicationGroupsOutput {
    DescribeReplicationGroupsOutput::builder()
        .replication_groups(group)
        .build()
}

fn aws_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
    )
}

fn ours() -> Rule {
    mock!(Client::list_tags_for_resource).then_output(|| {
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(to_elasticache_tags(&resource_tags(
                &owner(),
                &BTreeMap::new(),
            ))))
            .build()
    })
}

fn no_member() -> Rule {
    mock!(Client::describe_cache_clusters)
        .then_output(|| DescribeCacheClustersOutput::builder().build())
}

fn context(rules: &[&Rule]) -> ElastiCache {
    ElastiCache {
        elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, rules),
        adoption_namespaces: None,
    }
}

async fn reconcile_with(ctx: &ElastiCache, spec: &CacheClusterSpec) -> Report {
    let token = Password::from_secret_value("unused-token-0123456789".into());
    let target = Target {
        owner: owner(),
        spec,
    };
    sync(
        ctx,
        &target,
        Credential {
            value: Some(&token),
            is_new: false,
        },
    )
    .await
}

fn condition(status: &CacheClusterStatus, type_: &str) -> (String, String) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("condition present");
    (c.status.clone(), c.reason.clone())
}

#[tokio::test]
async fn creating_then_available_gives_reconciling_then_ready() {
    let describe = mock!(Client::describe_replication_groups)
        .sequence()
        .output(|| described(group("creating")))
        .output(|| described(group("available")))
        .build();
    let (tags, member) = (ours(), no_member());
    let ctx = context(&[&describe, &tags, &member]);
    let spec = spec(&serde_json::json!({}));
    let now = Time(Timestamp::UNIX_EPOCH);
    let first = reconcile_with(&ctx, &spec).await;
    let status = compute_status(Some(1), &first, None, None, &now);
    assert_eq!(
        condition(&status, READY),
        ("False".into(), reasons::AWS_IN_PROGRESS.into())
    );
    assert_eq!(
        condition(&status, RECONCILING),
        ("True".into(), reasons::AWS_IN_PROGRESS.into())
    );
    assert_eq!(status.aws_status.as_deref(), Some("creating"));

    let second = reconcile_with(&ctx, &spec).await;
    let status = compute_status(Some(1), &second, None, Some(&status), &now);
    assert_eq!(
        condition(&status, READY),
        ("True".into(), reasons::READY.into())
    );
    assert_eq!(condition(&status, RECONCILING).0, "False");
    assert_eq!(
        status.endpoint.map(|e| e.address).as_deref(),
        Some("master.example")
    );
    assert_eq!(
        status.reader_endpoint.map(|e| e.address).as_deref(),
        Some("replica.example")
    );
    assert_eq!(first.mutations + second.mutations, 0);
}

#[tokio::test]
async fn throttling_is_transient_with_the_error_in_the_message() {
    let describe = mock!(Client::describe_replication_groups)
        .sequence()
        .http_status(400, Some(aws_error("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let ctx = context(&[&describe]);
    let report = reconcile_with(&ctx, &spec(&serde_json::json!({}))).await;
    match &report.progress {
        Progress::Transient { category, message } => {
            assert_eq!(category.label(), "transient");
            assert!(message.contains("Throttling: Rate exceeded"), "{message}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[tokio::test]
async fn access_denied_stalls_naming_the_missing_iam_action() {
    let not_found = mock!(Client::describe_replication_groups)
        .sequence()
        .http_status(
            404,
            Some(aws_error("ReplicationGroupNotFoundFault", "not found")),
        )
        .repeatedly()
        .build();
    let denied = mock!(Client::create_replication_group)
        .sequence()
        .http_status(
            403,
            Some(aws_error(
                "AccessDenied",
                "not authorized to perform: elasticache:CreateReplicationGroup",
            )),
        )
        .repeatedly()
        .build();
    let ctx = context(&[&not_found, &denied]);
    let mut spec = spec(&serde_json::json!({}));
    spec.adopt = None;
    let report = reconcile_with(&ctx, &spec).await;
    match &report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(*reason, reasons::AWS_ACCESS_DENIED);
            assert!(
                message.contains("grant elasticache:CreateReplicationGroup"),
                "{message}"
            );
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert_eq!(denied.num_calls(), 1);
}

#[tokio::test]
async fn a_converged_group_gets_no_modify_call() {
    let describe =
        mock!(Client::describe_replication_groups).then_output(|| described(group("available")));
    let modify = mock!(Client::modify_replication_group)
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let (tags, member) = (ours(), no_member());
    let ctx = context(&[&describe, &tags, &member, &modify]);
    let report = reconcile_with(&ctx, &spec(&serde_json::json!({}))).await;
    assert_eq!(
        report.progress,
        Progress::Ready {
            message: String::new()
        }
    );
    assert_eq!(modify.num_calls(), 0);
    assert_eq!(report.mutations, 0);
}

#[tokio::test]
async fn more_replicas_are_added_with_increase_replica_count() {
    let describe =
        mock!(Client::describe_replication_groups).then_output(|| described(group("available")));
    let increase = mock!(Client::increase_replica_count)
        .match_requests(|r| r.new_replica_count() == Some(3) && r.apply_immediately() == Some(true))
        .then_output(|| IncreaseReplicaCountOutput::builder().build());
    let (tags, member) = (ours(), no_member());
    let ctx = context(&[&describe, &tags, &member, &increase]);
    let report = reconcile_with(&ctx, &spec(&serde_json::json!({"replicasPerShard": 3}))).await;
    assert_eq!(increase.num_calls(), 1, "{:?}", report.progress);
    assert!(matches!(report.progress, Progress::InProgress { .. }));
}

#[tokio::test]
async fn fewer_replicas_are_removed_with_decrease_replica_count() {
    let describe = mock!(Client::describe_replication_groups).then_output(|| {
        let mut three = group("available");
        for node_group in three.node_groups.iter_mut().flatten() {
            node_group
                .node_group_members
                .get_or_insert_with(Vec::new)
                .push(NodeGroupMember::builder().build());
        }
        described(three)
    });
    let decrease = mock!(Client::decrease_replica_count)
        .match_requests(|r| r.new_replica_count() == Some(1) && r.apply_immediately() == Some(true))
        .then_output(|| DecreaseReplicaCountOutput::builder().build());
    let (tags, member) = (ours(), no_member());
    let ctx = context(&[&describe, &tags, &member, &decrease]);
    let report = reconcile_with(&ctx, &spec(&serde_json::json!({}))).await;
    assert_eq!(decrease.num_calls(), 1, "{:?}", report.progress);
    assert!(matches!(report.progress, Progress::InProgress { .. }));
}

#[tokio::test]
async fn snapshot_policy_asks_for_the_final_snapshot_by_name() {
    let describe =
        mock!(Client::describe_replication_groups).then_output(|| described(group("available")));
    let delete = mock!(Client::delete_replication_group)
        .match_requests(|r| {
            r.final_snapshot_identifier() == Some(&format!("{ID}-final-20260102030405"))
        })
        .then_output(|| DeleteReplicationGroupOutput::builder().build());
    let tags = ours();
    let ctx = context(&[&describe, &tags, &delete]);
    let spec = spec(&serde_json::json!({"deletionPolicy": "Snapshot"}));
    let target = Target {
        owner: owner(),
        spec: &spec,
    };
    let step = cleanup(&ctx, &target, deletion_time())
        .await
        .expect("cleanup");
    assert_eq!(delete.num_calls(), 1);
    assert!(
        matches!(
            step,
            Cleanup::Waiting {
                snapshot: Some(_),
                ..
            }
        ),
        "{step:?}"
    );
}
