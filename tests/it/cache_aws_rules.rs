//! The CacheCluster reconcile against ElastiCache as it really behaves (issue 10,
//! parts 2 and 4), each test naming its source: engine versions after AWS's automatic
//! minor upgrades, the order of replicas and failover, `engineVersion` left to AWS, and
//! the cluster-mode parameter group. The AUTH token change is in `cache_auth_token`.
//! `aws-smithy-mocks` where moto cannot show the behaviour (it reports no engine
//! version drift and has no IncreaseReplicaCount).
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
use aws_sdk_elasticache::operation::increase_replica_count::IncreaseReplicaCountOutput;
use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, MultiAzStatus, NodeGroup, NodeGroupMember,
    ReplicationGroup,
};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;
use tiered::api::CacheClusterSpec;
use tiered::api::conditions::reasons;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::desired::{DesiredGroup, create_group_request};
use tiered::controllers::data_tier::DataTier;
use tiered::controllers::data_tier::kind::Report;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::cache::{described, described_as, group, no_member, ours};
use support::data_tier::{Kind, mock_owner, reconcile_as, stalled_message};
use support::fixtures::spec_from;

/// DescribeCacheClusters answering a member that runs `version`.
fn member_running(version: &'static str) -> Rule {
    mock!(Client::describe_cache_clusters).then_output(move || {
        DescribeCacheClustersOutput::builder()
            .cache_clusters(CacheCluster::builder().engine_version(version).build())
            .build()
    })
}

fn with_version(version: &str) -> CacheClusterSpec {
    let mut spec = ElastiCache::mock_spec();
    spec.engine_version = Some(version.to_owned());
    spec
}

/// One pass with `spec.engineVersion: wanted` over an available group of ours whose
/// member runs `running`, `modify` answering ModifyReplicationGroup.
async fn version_pass(
    wanted: &str,
    running: &'static str,
    modify: &Rule,
) -> Report<<ElastiCache as DataTier>::Observed> {
    let describe = described_as("available");
    let (tags, member) = (ours(), member_running(running));
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, modify]);
    reconcile_as(&ctx, mock_owner(), &with_version(wanted)).await
}

/// Source: crossplane-contrib/provider-aws#622 (a `6.x` spec against the `6.0.5` AWS
/// reported sent ModifyReplicationGroup on every reconcile), and the ElastiCache guide
/// "Version management" (automatic minor upgrades move `7.0` to `7.1`).
#[tokio::test]
async fn an_automatic_minor_upgrade_or_a_6x_spec_is_converged_with_no_modify_call() {
    for (wanted, running) in [("7.0", "7.1.0"), ("6.x", "6.0.5"), ("8.0", "8.0.1")] {
        let modify = mock!(Client::modify_replication_group)
            .then_output(|| ModifyReplicationGroupOutput::builder().build());
        let report = version_pass(wanted, running, &modify).await;
        assert_eq!(modify.num_calls(), 0, "spec {wanted}, AWS {running}");
        assert_eq!(
            (report.mutations, report.progress.clone()),
            (
                0,
                Progress::Ready {
                    message: String::new()
                }
            ),
            "spec {wanted}, AWS {running}"
        );
    }
}

/// Source: crossplane-contrib/provider-aws#622 (the loop asked for a downgrade), and
/// the ElastiCache guide "Version management" (no downgrades).
#[tokio::test]
async fn a_spec_older_than_the_running_major_stalls_on_spec_engine_version_without_a_call() {
    let modify = mock!(Client::modify_replication_group)
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let report = version_pass("7.1", "8.0.1", &modify).await;
    assert_eq!(modify.num_calls(), 0);
    let message = stalled_message(&report.progress, reasons::UNSUPPORTED_CHANGE);
    assert!(
        message.contains("spec.engineVersion") && message.contains("8.0.1"),
        "{message}"
    );
}

#[tokio::test]
async fn a_real_upgrade_is_sent_once() {
    let modify = mock!(Client::modify_replication_group)
        .match_requests(|r| r.engine_version() == Some("8.1"))
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let report = version_pass("8.1", "8.0.1", &modify).await;
    assert_eq!(modify.num_calls(), 1, "{:?}", report.progress);
}

/// A group with `replicas` replicas, automatic failover and Multi-AZ off.
fn without_failover(replicas: usize) -> ReplicationGroup {
    let mut group = group("available");
    group.automatic_failover = Some(AutomaticFailoverStatus::Disabled);
    group.multi_az = Some(MultiAzStatus::Disabled);
    let mut node_group = NodeGroup::builder().node_group_id("0001");
    for _ in 0..=replicas {
        node_group = node_group.node_group_members(NodeGroupMember::builder().build());
    }
    group.node_groups = Some(vec![node_group.build()]);
    group
}

/// The mock spec with `replicas` per shard, automatic failover and Multi-AZ both
/// `failover`.
fn with_replicas(replicas: i32, failover: bool) -> CacheClusterSpec {
    let mut spec = ElastiCache::mock_spec();
    spec.replicas_per_shard = replicas;
    spec.automatic_failover = failover;
    spec.multi_az = failover;
    spec
}

/// Source: pulumi/pulumi-aws#2227 (0 → 1 replica with automatic failover and Multi-AZ
/// in one update failed with `InvalidParameterCombination`: ElastiCache needs the
/// replica before failover), and the ElastiCache guide "Minimizing downtime in
/// ElastiCache by using Multi-AZ".
#[tokio::test]
async fn zero_to_one_replica_with_failover_adds_the_replica_first_then_enables_failover() {
    let spec = with_replicas(1, true);

    let describe = mock!(Client::describe_replication_groups)
        .sequence()
        .output(|| described(without_failover(0)))
        .output(|| described(without_failover(1)))
        .build();
    let increase = mock!(Client::increase_replica_count)
        .match_requests(|r| r.new_replica_count() == Some(1))
        .then_output(|| IncreaseReplicaCountOutput::builder().build());
    let failover = mock!(Client::modify_replication_group)
        .match_requests(|r| {
            r.automatic_failover_enabled() == Some(true) && r.multi_az_enabled() == Some(true)
        })
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let (tags, member) = (ours(), no_member());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &increase, &failover]);

    for (calls, step) in [
        ((1, 0), "the replica first"),
        ((1, 1), "then failover and Multi-AZ"),
    ] {
        let pass = reconcile_as(&ctx, mock_owner(), &spec).await;
        assert_eq!(
            (increase.num_calls(), failover.num_calls()),
            calls,
            "{step}: {:?}",
            pass.progress
        );
    }
}

/// Source: pulumi/pulumi-aws#2227, the other way round: the last replica goes only
/// once ElastiCache reports automatic failover off.
#[tokio::test]
async fn the_last_replica_waits_while_failover_is_still_being_disabled() {
    let spec = with_replicas(0, false);
    let describe = mock!(Client::describe_replication_groups).then_output(|| {
        let mut disabling = without_failover(1);
        disabling.automatic_failover = Some(AutomaticFailoverStatus::Disabling);
        described(disabling)
    });
    let decrease = mock!(Client::decrease_replica_count).then_output(|| {
        aws_sdk_elasticache::operation::decrease_replica_count::DecreaseReplicaCountOutput::builder(
        )
        .build()
    });
    let (tags, member) = (ours(), no_member());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &decrease]);
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert_eq!(decrease.num_calls(), 0, "{:?}", report.progress);
    assert!(matches!(report.progress, Progress::InProgress { .. }));
}

fn cache_spec(extra: &serde_json::Value) -> CacheClusterSpec {
    spec_from(
        json!({"engine": "valkey", "nodeType": "cache.t4g.small", "replicasPerShard": 1}),
        extra,
    )
}

/// The CreateReplicationGroup tiered would send for `spec`, as its input.
fn create_input(
    spec: &CacheClusterSpec,
) -> aws_sdk_elasticache::operation::create_replication_group::builders::CreateReplicationGroupInputBuilder
{
    let desired = DesiredGroup::from_spec(spec, "g".into(), std::collections::BTreeMap::new())
        .expect("valid spec");
    let ctx = ElastiCache::mocked(&[]);
    create_group_request(
        ctx.elasticache.create_replication_group(),
        &desired,
        "d",
        None,
    )
    .as_input()
    .clone()
}

/// Issue 10 part 4: `engineVersion` is optional; AWS's default is used at creation,
/// recorded in status, and never "upgraded" by drift.
#[tokio::test]
async fn without_engine_version_aws_picks_it_status_records_it_and_drift_never_changes_it() {
    let spec = cache_spec(&json!({}));
    assert_eq!(spec.engine_version, None);
    assert_eq!(create_input(&spec).get_engine_version(), &None);

    let describe = described_as("available");
    let modify = mock!(Client::modify_replication_group)
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let (tags, member) = (ours(), member_running("8.1.0"));
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &modify]);
    let mut adopted = ElastiCache::mock_spec();
    adopted.engine_version = None;
    let report = reconcile_as(&ctx, mock_owner(), &adopted).await;
    assert_eq!(modify.num_calls(), 0, "{:?}", report.progress);
    assert!(matches!(report.progress, Progress::Ready { .. }));
    let status = ElastiCache::status_of(&report, None);
    assert_eq!(status.engine_version.as_deref(), Some("8.1.0"));
}

/// Issue 10 part 4, and the ElastiCache API reference of CreateReplicationGroup
/// (`CacheParameterGroupName`: "to create a cluster mode enabled replication group, use
/// `default.redis3.2.cluster.on`" and its later families): cluster mode gets the
/// cluster-mode default of the engine version's family, or the group the spec names.
#[test]
fn cluster_mode_uses_a_cluster_mode_parameter_group() {
    let cases = [
        (
            json!({"shards": 3, "engineVersion": "8.0"}),
            Some("default.valkey8.cluster.on"),
        ),
        (
            json!({"shards": 3, "engine": "redis", "engineVersion": "7.1"}),
            Some("default.redis7.cluster.on"),
        ),
        (
            json!({"shards": 3, "engine": "redis", "engineVersion": "6.x"}),
            Some("default.redis6.x.cluster.on"),
        ),
        (
            json!({"shards": 3, "parameterGroupName": "my-cluster-params"}),
            Some("my-cluster-params"),
        ),
        (json!({"shards": 1, "engineVersion": "8.0"}), None),
    ];
    for (extra, expected) in cases {
        let input = create_input(&cache_spec(&extra));
        assert_eq!(
            input.get_cache_parameter_group_name().as_deref(),
            expected,
            "{extra}"
        );
    }
}

#[test]
fn cluster_mode_without_a_version_or_a_parameter_group_names_spec_engine_version() {
    let spec = cache_spec(&json!({"shards": 3}));
    let error = DesiredGroup::from_spec(&spec, "g".into(), std::collections::BTreeMap::new())
        .expect_err("invalid");
    assert_eq!(error.field, "spec.engineVersion");
}

/// The CEL rules of the CacheCluster CRD's `spec`, compiled by kube-cel as the emulator
/// compiles them.
fn spec_rules() -> kube_cel::CompiledSchema {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(tiered::api::CacheCluster::crd()).unwrap();
    kube_cel::compile_schema(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"],
    )
}

/// The API server refuses cluster mode without `engineVersion` or
/// `parameterGroupName` (the CRD's CEL rule, evaluated by kube-cel as the emulator
/// does), naming `spec.engineVersion`; either one makes it valid.
#[test]
fn the_crd_refuses_cluster_mode_without_a_version_or_a_parameter_group() {
    let compiled = spec_rules();
    let base = json!({
        "engine": "valkey", "nodeType": "cache.t4g.small", "replicasPerShard": 1,
        "shards": 3, "automaticFailover": true, "multiAZ": true
    });
    let failures = kube_cel::validate_compiled(&compiled, &base, None).expect_err("refused");
    assert!(
        failures.iter().any(|f| f.field_path == ".engineVersion"),
        "{failures:?}"
    );
    for extra in [
        json!({"engineVersion": "8.0"}),
        json!({"parameterGroupName": "mine"}),
    ] {
        let mut valid = base.clone();
        valid
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert!(
            kube_cel::validate_compiled(&compiled, &valid, None).is_ok(),
            "{extra}"
        );
    }
}

/// Found from outside (a new user's trial): `self == oldSelf` on the optional field
/// let an update add or remove `parameterGroupName`, which is used only at creation,
/// and the cache stayed Ready with the change ignored. The API server now refuses both.
#[test]
fn the_crd_refuses_adding_or_removing_the_parameter_group_on_update() {
    let compiled = spec_rules();
    let without = json!({"engine": "redis", "engineVersion": "6.x", "nodeType": "cache.t4g.small"});
    let mut with = without.clone();
    with["parameterGroupName"] = json!("custom-six");
    for (old, new) in [(&without, &with), (&with, &without)] {
        let failures = kube_cel::validate_compiled(&compiled, new, Some(old)).expect_err("refused");
        assert!(
            failures
                .iter()
                .any(|f| f.field_path == ".parameterGroupName"),
            "{failures:?}"
        );
    }
    assert!(kube_cel::validate_compiled(&compiled, &with, Some(&with)).is_ok());
    assert!(kube_cel::validate_compiled(&compiled, &without, Some(&without)).is_ok());
}

/// Issue 10 part 4, on moto: a CacheCluster without `engineVersion` is created with
/// ElastiCache's default and converges with no further call. (moto describes no member
/// cache cluster of a group, so the recorded version is pinned by the mocked test
/// above.)
#[tokio::test]
async fn without_engine_version_a_group_is_created_on_moto_and_converges() {
    let server = support::moto::MotoServer::start();
    let ctx = ElastiCache::on(&server);
    let mut spec = ElastiCache::spec(&json!({}));
    spec.engine_version = None;
    let report = support::data_tier::reconcile_until_ready(&ctx, "cache", &spec).await;
    assert_eq!(
        support::data_tier::cache::all_groups(&ctx).await.len(),
        1,
        "{:?}",
        report.progress
    );
    let again = support::data_tier::reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(again.mutations, 0, "{:?}", again.progress);
}
