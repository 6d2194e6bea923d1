//! CacheCluster engine parameters (issue 13 part 4) with `aws-smithy-mocks`: moto
//! 5.2.5 has no ElastiCache parameter groups at all, so every call of the owned cache
//! parameter group is pinned here against mocked answers: created, set, reset and
//! attached; cluster-enabled kept in cluster mode; a refused parameter Stalled on
//! `spec.parameters.<name>` with ElastiCache's words (and named at creation too); a
//! pending reboot reported with nothing sent; only tiered's group deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::create_cache_parameter_group::CreateCacheParameterGroupOutput;
use aws_sdk_elasticache::operation::delete_cache_parameter_group::DeleteCacheParameterGroupOutput;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
use aws_sdk_elasticache::operation::describe_cache_parameter_groups::DescribeCacheParameterGroupsOutput;
use aws_sdk_elasticache::operation::describe_cache_parameters::DescribeCacheParametersOutput;
use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_elasticache::operation::modify_cache_parameter_group::{
    ModifyCacheParameterGroupInput, ModifyCacheParameterGroupOutput,
};
use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
use aws_sdk_elasticache::operation::reset_cache_parameter_group::ResetCacheParameterGroupOutput;
use aws_sdk_elasticache::types::{
    CacheCluster, CacheParameterGroup, CacheParameterGroupStatus, Parameter,
};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::desired::DesiredGroup;
use tiered::controllers::data_tier::cleanup::{Cleanup, cleanup};
use tiered::controllers::data_tier::kind::Target;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::cache::{aws_error, described_as, no_snapshot, ours};
use support::data_tier::{
    Kind, cleanup_once, failing, in_progress_message, mock_owner, reconcile_as, reconcile_mocked,
    waiting_message,
};
use support::fixtures::deletion_time;

/// The group tiered owns for the mock replication group (`legacy-cache`, valkey 8.0).
const MOCK_GROUP: &str = "legacy-cache-valkey8";

fn spec_with(parameters: &serde_json::Value) -> tiered::api::CacheClusterSpec {
    let mut spec = serde_json::to_value(ElastiCache::mock_spec()).unwrap();
    spec["parameters"] = parameters.clone();
    serde_json::from_value(spec).unwrap()
}

/// The parameters (name, value) a ModifyCacheParameterGroup sets.
fn values_set_by(request: &ModifyCacheParameterGroupInput) -> BTreeMap<&str, &str> {
    request
        .parameter_name_values()
        .iter()
        .filter_map(|p| Some((p.parameter_name()?, p.parameter_value()?)))
        .collect()
}

/// The first member as ElastiCache describes it, using `group` in `apply_status`.
fn member(
    group: &str,
    apply_status: &str,
) -> aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput {
    DescribeCacheClustersOutput::builder()
        .cache_clusters(
            CacheCluster::builder()
                .cache_cluster_id("legacy-cache-001")
                .engine_version("8.0.1")
                .cache_parameter_group(
                    CacheParameterGroupStatus::builder()
                        .cache_parameter_group_name(group)
                        .parameter_apply_status(apply_status)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn user_set(values: &[(&str, &str)]) -> DescribeCacheParametersOutput {
    let mut output = DescribeCacheParametersOutput::builder();
    for (name, value) in values {
        output = output.parameters(
            Parameter::builder()
                .parameter_name(*name)
                .parameter_value(*value)
                .source("user")
                .build(),
        );
    }
    output.build()
}

#[tokio::test]
async fn a_new_group_is_created_set_reset_and_attached_to_the_replication_group() {
    let describe = described_as("available");
    let node =
        mock!(Client::describe_cache_clusters).then_output(|| member("default.valkey8", "in-sync"));
    let exists = failing!(
        Client::describe_cache_parameter_groups,
        404,
        aws_error(
            "CacheParameterGroupNotFound",
            "CacheParameterGroup legacy-cache-valkey8 not found."
        )
    );
    let create = mock!(Client::create_cache_parameter_group)
        .match_requests(|request| {
            request.cache_parameter_group_name() == Some(MOCK_GROUP)
                && request.cache_parameter_group_family() == Some("valkey8")
                && request
                    .tags()
                    .iter()
                    .any(|tag| tag.key() == Some("tiered.io/uid") && tag.value() == Some("uid-1"))
        })
        .then_output(|| CreateCacheParameterGroupOutput::builder().build());
    // A parameter set by hand before: not in the spec, so it goes back to the default.
    let current = mock!(Client::describe_cache_parameters)
        .match_requests(|request| request.source() == Some("user"))
        .then_output(|| user_set(&[("timeout", "300")]));
    let modify = mock!(Client::modify_cache_parameter_group)
        .match_requests(|request| {
            let values = values_set_by(request);
            request.cache_parameter_group_name() == Some(MOCK_GROUP)
                && values == BTreeMap::from([("maxmemory-policy", "allkeys-lru")])
        })
        .then_output(|| ModifyCacheParameterGroupOutput::builder().build());
    let reset = mock!(Client::reset_cache_parameter_group)
        .match_requests(|request| {
            request.reset_all_parameters() == Some(false)
                && request.parameter_name_values().len() == 1
                && request.parameter_name_values()[0].parameter_name() == Some("timeout")
        })
        .then_output(|| ResetCacheParameterGroupOutput::builder().build());
    let attach = mock!(Client::modify_replication_group)
        .match_requests(|request| {
            request.replication_group_id() == Some("legacy-cache")
                && request.cache_parameter_group_name() == Some(MOCK_GROUP)
                && request.auth_token().is_none()
        })
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let tags = ours();
    let ctx = ElastiCache::mocked(&[
        &describe, &node, &exists, &create, &current, &modify, &reset, &attach, &tags,
    ]);
    let report = reconcile_as(
        &ctx,
        mock_owner(),
        &spec_with(&json!({"maxmemory-policy": "allkeys-lru"})),
    )
    .await;
    let message = in_progress_message(&report.progress);
    assert!(message.contains(MOCK_GROUP), "{message}");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(reset.num_calls(), 1);
    assert_eq!(attach.num_calls(), 1);
    assert_eq!(report.mutations, 4, "create, modify, reset, attach");
    let status = report
        .observed
        .parameter_group
        .expect("the group is observed");
    assert_eq!(
        (status.name.as_str(), status.family.as_str()),
        (MOCK_GROUP, "valkey8")
    );
}

#[tokio::test]
async fn a_parameter_elasticache_refuses_is_stalled_naming_it_with_elasticache_words() {
    let describe = described_as("available");
    let node = mock!(Client::describe_cache_clusters).then_output(|| member(MOCK_GROUP, "in-sync"));
    let current = mock!(Client::describe_cache_parameters).then_output(|| user_set(&[]));
    let modify = failing!(
        Client::modify_cache_parameter_group,
        400,
        aws_error(
            "InvalidParameterValue",
            "Unknown parameter: maxmemory-polcy"
        )
    );
    // Attached and changing: its tags are read first (ours).
    let exists = one_group(MOCK_GROUP, "valkey8");
    let tags = ours();
    let ctx = ElastiCache::mocked(&[&describe, &node, &exists, &current, &modify, &tags]);
    let spec = spec_with(&json!({"maxmemory-polcy": "allkeys-lru", "timeout": "300"}));
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    match &report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(*reason, reasons::AWS_INVALID_REQUEST);
            assert!(
                message.contains("spec.parameters.maxmemory-polcy"),
                "{message}"
            );
            assert!(!message.contains("spec.parameters.timeout"), "{message}");
            assert!(message.contains("Unknown parameter"), "{message}");
            assert!(message.contains("ElastiCache"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
}

#[tokio::test]
async fn a_change_waiting_for_a_reboot_is_said_and_nothing_is_sent() {
    let describe = described_as("available");
    let node =
        mock!(Client::describe_cache_clusters).then_output(|| member(MOCK_GROUP, "pending-reboot"));
    let current = mock!(Client::describe_cache_parameters)
        .then_output(|| user_set(&[("maxmemory-policy", "allkeys-lru")]));
    let modify = mock!(Client::modify_cache_parameter_group)
        .then_output(|| ModifyCacheParameterGroupOutput::builder().build());
    let tags = ours();
    let rules = [&describe, &node, &current, &modify, &tags];
    let spec = spec_with(&json!({"maxmemory-policy": "allkeys-lru"}));
    let report = reconcile_mocked::<ElastiCache>(&rules, &spec).await;
    assert_eq!(report.mutations, 0, "{report:?}");
    assert_eq!(modify.num_calls(), 0);
    // The group's parameters are read once a pass (the shared steps: the copy of the
    // cache read them twice when the group was in use).
    assert_eq!(current.num_calls(), 1);
    let status = report
        .observed
        .parameter_group
        .clone()
        .expect("the group is observed");
    assert!(status.pending_reboot, "{status:?}");
    assert!(
        matches!(&report.progress, Progress::Ready { message } if message.contains("reboot")),
        "{:?}",
        report.progress
    );
}

fn desired(spec: &serde_json::Value) -> DesiredGroup {
    let spec = ElastiCache::spec(spec);
    DesiredGroup::from_spec(&spec, "prod-shop-cache-1a2b".into(), BTreeMap::new()).unwrap()
}

#[tokio::test]
async fn before_a_cluster_mode_group_is_created_its_group_holds_cluster_enabled_and_a_refusal_names_the_field()
 {
    let exists = mock!(Client::describe_cache_parameter_groups)
        .then_output(|| DescribeCacheParameterGroupsOutput::builder().build());
    let create = mock!(Client::create_cache_parameter_group)
        .then_output(|| CreateCacheParameterGroupOutput::builder().build());
    let current = mock!(Client::describe_cache_parameters).then_output(|| user_set(&[]));
    let modify = mock!(Client::modify_cache_parameter_group)
        .match_requests(|request| {
            let values = values_set_by(request);
            values
                == BTreeMap::from([
                    ("cluster-enabled", "yes"),
                    ("maxmemory-policy", "volatile-lru"),
                ])
        })
        .then_output(|| ModifyCacheParameterGroupOutput::builder().build());
    let ctx = ElastiCache::mocked(&[&exists, &create, &current, &modify]);
    let sharded =
        desired(&json!({"shards": 2, "parameters": {"maxmemory-policy": "volatile-lru"}}));
    assert_eq!(
        sharded.parameter_group.as_deref(),
        Some("prod-shop-cache-1a2b-valkey8")
    );
    ctx.prepare_parameter_group(&sharded).await.unwrap();
    assert_eq!((create.num_calls(), modify.num_calls()), (1, 1));

    let refusing = failing!(
        Client::modify_cache_parameter_group,
        400,
        aws_error("InvalidParameterValue", "Unknown parameter: bogus")
    );
    let ctx = ElastiCache::mocked(&[&exists, &create, &current, &refusing]);
    let error = ctx
        .prepare_parameter_group(&desired(&json!({"parameters": {"bogus": "1"}})))
        .await
        .unwrap_err();
    let message = error.aws_message();
    assert!(
        message.contains("spec.parameters.bogus") && message.contains("Unknown parameter"),
        "{message}"
    );
}

/// The ARN ElastiCache gives the cache parameter group `name`.
fn group_arn(name: &str) -> String {
    format!("arn:aws:elasticache:us-east-1:123456789012:parametergroup:{name}")
}

fn listed_group(name: &str, family: &str) -> CacheParameterGroup {
    CacheParameterGroup::builder()
        .cache_parameter_group_name(name)
        .cache_parameter_group_family(family)
        .arn(group_arn(name))
        .build()
}

/// DescribeCacheParameterGroups of one group by name, answering it as listed.
fn one_group(name: &'static str, family: &'static str) -> Rule {
    mock!(Client::describe_cache_parameter_groups)
        .match_requests(move |request| request.cache_parameter_group_name() == Some(name))
        .then_output(move || {
            DescribeCacheParameterGroupsOutput::builder()
                .cache_parameter_groups(listed_group(name, family))
                .build()
        })
}

/// ListTagsForResource of the cache parameter group `name` answering no tags: an
/// administrator's group, not tiered's.
fn untagged(name: &'static str) -> Rule {
    mock!(Client::list_tags_for_resource)
        .match_requests(move |request| request.resource_name() == Some(group_arn(name).as_str()))
        .then_output(|| ListTagsForResourceOutput::builder().build())
}

#[tokio::test]
async fn only_the_group_tiered_made_for_the_replication_group_is_deleted() {
    let listed = mock!(Client::describe_cache_parameter_groups)
        .match_requests(|request| request.cache_parameter_group_name().is_none())
        .then_output(move || {
            DescribeCacheParameterGroupsOutput::builder()
                .cache_parameter_groups(listed_group("default.valkey8", "valkey8"))
                .cache_parameter_groups(listed_group("legacy-cache-valkey8", "valkey8"))
                .cache_parameter_groups(listed_group("legacy-cache-redis7", "redis7"))
                .cache_parameter_groups(listed_group("legacy-cache-redis6-x", "redis6.x"))
                .cache_parameter_groups(listed_group("legacy-cache-valkey8", "redis7"))
                .cache_parameter_groups(listed_group("legacy-cache-2-valkey8", "valkey8"))
                .build()
        });
    let (valkey, redis7, redis6) = (
        one_group("legacy-cache-valkey8", "valkey8"),
        one_group("legacy-cache-redis7", "redis7"),
        one_group("legacy-cache-redis6-x", "redis6.x"),
    );
    // The redis6.x group has our name but an administrator made it: never deleted.
    let administrators = untagged("legacy-cache-redis6-x");
    let tags = ours();
    let delete = mock!(Client::delete_cache_parameter_group)
        .match_requests(|request| {
            matches!(
                request.cache_parameter_group_name(),
                Some("legacy-cache-valkey8" | "legacy-cache-redis7")
            )
        })
        .then_output(|| DeleteCacheParameterGroupOutput::builder().build());
    let ctx = ElastiCache::mocked(&[
        &listed,
        &valkey,
        &redis7,
        &redis6,
        &administrators,
        &tags,
        &delete,
    ]);
    ctx.delete_parameter_groups("legacy-cache", &mock_owner())
        .await
        .unwrap();
    assert_eq!(
        delete.num_calls(),
        2,
        "ours of each family, nothing else (not the administrator's group of our name)"
    );
}

/// Found reading the cleanup (session 6's note): a replication group already
/// `deleting` ended the finalizer, and the cache parameter group tiered made for
/// `spec.parameters` goes only once the group is gone (ElastiCache refuses to delete a
/// group in use), so against ElastiCache that group was never deleted. Now the
/// finalizer waits for the replication group to be gone, then deletes it; without
/// `spec.parameters` (and none reported) a `deleting` group still ends it at once (moto
/// keeps one `deleting` for ever).
#[tokio::test]
async fn a_deleting_group_with_parameters_is_waited_for_and_its_parameter_group_then_deleted() {
    let mut spec = spec_with(&json!({"maxmemory-policy": "allkeys-lru"}));
    spec.deletion_policy = Some(tiered::api::shared::DeletionPolicy::Snapshot);
    let target = Target {
        owner: mock_owner(),
        spec: &spec,
    };
    let delete_group = mock!(Client::delete_cache_parameter_group)
        .match_requests(|request| request.cache_parameter_group_name() == Some(MOCK_GROUP))
        .then_output(|| DeleteCacheParameterGroupOutput::builder().build());
    let listed = listing(&[MOCK_GROUP]);

    let (deleting, tags) = (described_as("deleting"), ours());
    let ctx = ElastiCache::mocked(&[&deleting, &tags, &delete_group]);
    let step = cleanup_once(&ctx, &target).await;
    assert!(
        waiting_message(&step).contains("parameter group"),
        "{step:?}"
    );
    assert_eq!(delete_group.num_calls(), 0, "not while the group uses it");

    let gone = ElastiCache::describe_fails(404, ElastiCache::NOT_FOUND_CODE, "not found");
    let ours_by_name = one_group(MOCK_GROUP, "valkey8");
    let none = no_snapshot();
    let rules = [&gone, &listed, &ours_by_name, &tags, &delete_group, &none];
    let step = cleanup_once(&ElastiCache::mocked(&rules), &target).await;
    assert!(
        matches!(
            step,
            Cleanup::Done {
                final_snapshot: None,
                ..
            }
        ),
        "no final snapshot listed: {step:?}"
    );
    assert_eq!(
        delete_group.num_calls(),
        1,
        "deleted once the replication group is gone"
    );

    let mut plain = ElastiCache::mock_spec();
    plain.deletion_policy = spec.deletion_policy;
    let ctx = ElastiCache::mocked(&[&deleting, &tags, &none]);
    let step = cleanup_once(
        &ctx,
        &Target {
            owner: mock_owner(),
            spec: &plain,
        },
    )
    .await;
    assert!(matches!(step, Cleanup::Done { .. }), "{step:?}");
}

/// Found reading session 7's fix, which judged from the spec alone: `spec.parameters`
/// emptied on a live group resets the parameters of tiered's parameter group but leaves
/// it attached (and reported in `status.parameterGroup`), so the finalizer must still
/// wait for the replication group to be gone; ending it at `deleting` leaked the group.
#[tokio::test]
async fn a_deleting_group_whose_parameters_were_emptied_is_still_waited_for() {
    let mut emptied = ElastiCache::mock_spec();
    emptied.deletion_policy = Some(tiered::api::shared::DeletionPolicy::Delete);
    let status = tiered::api::CacheClusterStatus {
        parameter_group: Some(support::data_tier::reported_group(
            MOCK_GROUP, "valkey8", "in-sync",
        )),
        ..Default::default()
    };
    let ctx = ElastiCache::mocked(&[&described_as("deleting"), &ours()]);
    let target = Target {
        owner: mock_owner(),
        spec: &emptied,
    };
    let step = cleanup(&ctx, &target, Some(&status), deletion_time())
        .await
        .unwrap();
    assert!(
        waiting_message(&step).contains("parameter group"),
        "{step:?}"
    );
}

/// DescribeCacheParameterGroups without a name (the listing), answering `names` (all
/// of family `valkey8`).
fn listing(names: &'static [&'static str]) -> Rule {
    mock!(Client::describe_cache_parameter_groups)
        .match_requests(|request| request.cache_parameter_group_name().is_none())
        .then_output(move || {
            DescribeCacheParameterGroupsOutput::builder()
                .set_cache_parameter_groups(Some(
                    names
                        .iter()
                        .map(|name| listed_group(name, "valkey8"))
                        .collect(),
                ))
                .build()
        })
}

/// DESIGN.md "Ownership" (found by the outside review for RDS; ElastiCache had the same
/// fault): a cache parameter group of tiered's name that an administrator made is
/// neither changed nor attached; the object is Stalled naming spec.parameters.
#[tokio::test]
async fn a_group_of_our_name_that_is_not_ours_is_neither_changed_nor_attached() {
    let describe = described_as("available");
    let node =
        mock!(Client::describe_cache_clusters).then_output(|| member("default.valkey8", "in-sync"));
    let exists = one_group(MOCK_GROUP, "valkey8");
    let administrators = untagged(MOCK_GROUP);
    let current = mock!(Client::describe_cache_parameters).then_output(|| user_set(&[]));
    let modify = mock!(Client::modify_cache_parameter_group)
        .then_output(|| ModifyCacheParameterGroupOutput::builder().build());
    let attach = mock!(Client::modify_replication_group)
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let tags = ours();
    let ctx = ElastiCache::mocked(&[
        &describe,
        &node,
        &exists,
        &administrators,
        &current,
        &modify,
        &attach,
        &tags,
    ]);
    let report = reconcile_as(
        &ctx,
        mock_owner(),
        &spec_with(&json!({"maxmemory-policy": "allkeys-lru"})),
    )
    .await;
    assert!(
        matches!(&report.progress, Progress::Stalled { message, .. }
            if message.contains("spec.parameters") && message.contains(MOCK_GROUP)),
        "{:?}",
        report.progress
    );
    assert_eq!(
        modify.num_calls(),
        0,
        "the administrator's group is not changed"
    );
    assert_eq!(attach.num_calls(), 0, "nor attached");
}

#[tokio::test]
async fn without_a_described_node_the_group_is_not_attached_blind() {
    let describe = described_as("available");
    let exists = mock!(Client::describe_cache_parameter_groups).then_output(|| {
        DescribeCacheParameterGroupsOutput::builder()
            .cache_parameter_groups(
                CacheParameterGroup::builder()
                    .cache_parameter_group_name(MOCK_GROUP)
                    .cache_parameter_group_family("valkey8")
                    .arn(group_arn(MOCK_GROUP))
                    .build(),
            )
            .build()
    });
    let current = mock!(Client::describe_cache_parameters)
        .then_output(|| user_set(&[("maxmemory-policy", "allkeys-lru")]));
    let attach = mock!(Client::modify_replication_group)
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let tags = ours();
    let node = support::data_tier::cache::no_member();
    let ctx = ElastiCache::mocked(&[&describe, &exists, &current, &attach, &tags, &node]);
    let spec = spec_with(&json!({"maxmemory-policy": "allkeys-lru"}));
    for _ in 0..2 {
        let report = reconcile_as(&ctx, mock_owner(), &spec).await;
        let message = in_progress_message(&report.progress);
        assert!(message.contains("describe a node"), "{message}");
    }
    assert_eq!(attach.num_calls(), 0, "never attached blind");
}
