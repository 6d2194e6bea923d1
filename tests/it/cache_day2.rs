//! CacheCluster day-2 data operations (issue 13 parts 2 and 3) on moto_server through
//! the controller's pass: snapshots on demand taken once, tagged as ours and recorded
//! with their state; a group restored from a snapshot, owned like any other and with
//! tiered's AUTH token; with `aws-smithy-mocks` what moto cannot do (it registers no
//! node of a replication group, so a snapshot from a node, the cluster-mode-disabled
//! way, is pinned there); and the CRD's rules as the emulator evaluates them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::create_snapshot::CreateSnapshotOutput;
use aws_sdk_elasticache::types::{NodeGroup, NodeGroupMember, Snapshot};
use aws_smithy_mocks::mock;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tiered::api::CacheCluster;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::data_tier::status::Progress;

use std::time::Duration;

use support::aws_reads::{elasticache_tags, has_tag, replication_group};
use support::data_tier::cache::{
    aws_error, described, group, no_member, ours, snapshot_already_exists,
};
use support::data_tier::{
    Kind, assert_shows_another_resources_snapshot, in_progress_message, merged, mock_owner,
    reconcile_as, reconcile_once, reconcile_until_ready,
};
use support::day2::{create_named, wait_ready_named, wait_snapshots_available};
use support::moto::{MotoServer, assert_no_cache_parameter_groups, elasticache_client, ids_of};
use support::operator::assert_invalid;
use support::restore_sources::take_cache_snapshot;

#[tokio::test]
async fn a_requested_snapshot_is_taken_once_tagged_as_ours_and_recorded() {
    let server = MotoServer::start();
    let ctx = ElastiCache::on(&server);
    let moto = elasticache_client(&server);
    // Cluster mode: moto snapshots the group by ReplicationGroupId.
    let spec = ElastiCache::spec(&json!({"shards": 2, "snapshots": [{"name": "before-upgrade"}]}));
    let ready = reconcile_until_ready(&ctx, "snapped", &spec).await;
    let name = format!("{}-snap-before-upgrade", ready.id);
    let listed = ready.observed.snapshots.clone().expect("the pass looked");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].snapshot_name(), Some(name.as_str()));
    assert_eq!(listed[0].snapshot_status(), Some("available"));
    let tags = elasticache_tags(&moto, listed[0].arn().expect("a snapshot has an ARN")).await;
    assert!(has_tag(&tags, "tiered.io/name", "snapped"), "{tags:?}");
    assert!(has_tag(&tags, "team", "news"), "{tags:?}");

    // Converged: described again, never taken twice.
    let again = reconcile_once(&ctx, "snapped", &spec).await;
    assert!(
        matches!(again.progress, Progress::Ready { .. }),
        "{:?}",
        again.progress
    );
    assert_eq!(again.mutations, 0);
    let all = moto.describe_snapshots().send().await.unwrap();
    assert_eq!(all.snapshots().len(), 1, "{:?}", all.snapshots());
}

/// Found from outside: another group's snapshot under the name the request would
/// take was shown in `status.snapshots` as this CacheCluster's own. Now it is shown as
/// another resource's, and never taken over or asked for.
#[tokio::test]
async fn another_groups_snapshot_under_the_requested_name_is_said_not_shown_as_ours() {
    let server = MotoServer::start();
    let ctx = ElastiCache::on(&server);
    let moto = elasticache_client(&server);
    let cluster_mode = json!({"shards": 2});
    let ready = reconcile_until_ready(&ctx, "cache", &ElastiCache::spec(&cluster_mode)).await;
    let other = reconcile_until_ready(&ctx, "other", &ElastiCache::spec(&cluster_mode)).await;
    let taken = format!("{}-snap-first", ready.id);
    moto.create_snapshot()
        .replication_group_id(&other.id)
        .snapshot_name(&taken)
        .send()
        .await
        .unwrap();
    let spec = ElastiCache::spec(&json!({"shards": 2, "snapshots": [{"name": "first"}]}));
    let pass = reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(pass.mutations, 0, "{pass:?}");
    let listed = pass.observed.snapshots.expect("the pass looked");
    assert_shows_another_resources_snapshot(&pass.progress, &listed, &taken);
}

#[tokio::test]
async fn a_group_without_cluster_mode_is_snapshotted_from_a_replica_node_once() {
    let mut replicated = group("available");
    let member = |id: &str, role: &str| {
        NodeGroupMember::builder()
            .cache_cluster_id(id)
            .current_role(role)
            .build()
    };
    replicated.node_groups = Some(vec![
        NodeGroup::builder()
            .node_group_id("0001")
            .node_group_members(member("legacy-cache-001", "primary"))
            .node_group_members(member("legacy-cache-002", "replica"))
            .build(),
    ]);
    let describe = mock!(Client::describe_replication_groups)
        .then_output(move || described(replicated.clone()));
    let none_yet = mock!(Client::describe_snapshots)
        .sequence()
        .http_status(
            404,
            Some(aws_error("SnapshotNotFoundFault", "Snapshot not found")),
        )
        .repeatedly()
        .build();
    let create = mock!(Client::create_snapshot)
        .match_requests(|request| {
            request.cache_cluster_id() == Some("legacy-cache-002")
                && request.replication_group_id().is_none()
                && request.snapshot_name() == Some("legacy-cache-snap-nightly")
        })
        .then_output(|| {
            CreateSnapshotOutput::builder()
                .snapshot(
                    Snapshot::builder()
                        .snapshot_name("legacy-cache-snap-nightly")
                        .snapshot_status("creating")
                        .build(),
                )
                .build()
        });
    let tags = ours();
    let member_read = no_member();
    let ctx = ElastiCache::mocked(&[&describe, &none_yet, &create, &tags, &member_read]);
    let mut spec = ElastiCache::mock_spec();
    spec.snapshots = vec![serde_json::from_value(json!({"name": "nightly"})).unwrap()];
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert_eq!(create.num_calls(), 1, "{:?}", report.progress);
    let message = in_progress_message(&report.progress);
    assert!(message.contains("legacy-cache-snap-nightly"), "{message}");

    // A lost answer: ElastiCache says it exists already; that counts as taken.
    let exists = mock!(Client::create_snapshot)
        .sequence()
        .http_status(400, Some(snapshot_already_exists()))
        .repeatedly()
        .build();
    let ctx = ElastiCache::mocked(&[&describe, &none_yet, &exists, &tags, &member_read]);
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert!(
        matches!(report.progress, Progress::InProgress { .. }),
        "{:?}",
        report.progress
    );
}

#[tokio::test]
async fn a_restored_group_is_owned_like_any_other_and_has_tiereds_token() {
    let server = MotoServer::start();
    let ctx = ElastiCache::on(&server);
    let moto = elasticache_client(&server);
    ctx.create_untagged("legacy", &[]).await;
    // Another team's snapshot: the account's administrator opts it in for this object
    // (`restore_isolation`).
    take_cache_snapshot(
        &moto,
        "legacy",
        "nightly-1",
        &[(tiered::aws::restore_source::RESTORABLE, "shop/restored")],
    )
    .await;
    let spec = ElastiCache::spec(&json!({"restoreFrom": {"snapshotName": "nightly-1"}}));
    let ready = reconcile_until_ready(&ctx, "restored", &spec).await;
    let restored = replication_group(&moto, &ready.id).await;
    assert_eq!(
        restored.auth_token_enabled(),
        Some(true),
        "the token tiered generated"
    );
    let tags = elasticache_tags(&moto, restored.arn().unwrap()).await;
    assert!(has_tag(&tags, "tiered.io/name", "restored"), "{tags:?}");
    let described = moto.describe_replication_groups().send().await.unwrap();
    let groups = ids_of(
        described.replication_groups(),
        aws_sdk_elasticache::types::ReplicationGroup::replication_group_id,
    );
    assert_eq!(
        groups.len(),
        2,
        "the source and one restored group: {groups:?}"
    );
}

/// The disaster-recovery round trip through the running operator (the controller of
/// `tiered run` on the emulator and moto_server): a cache asks for a snapshot, which
/// `status.snapshots` shows once available; a new cache restored from it becomes Ready
/// with its connection Secret carrying the AUTH token tiered generated.
#[tokio::test]
async fn a_snapshot_requested_on_one_cache_restores_another_through_the_operator() {
    use k8s_openapi::api::core::v1::Secret;
    use support::data_tier::operator::{NS, setup};
    use support::operator::secret_text;

    let s = setup::<ElastiCache>().await;
    s.create(&json!({"shards": 2, "snapshots": [{"name": "before-upgrade"}]}))
        .await;
    let cache = wait_snapshots_available::<ElastiCache>(&s.objects, ElastiCache::OBJECT, 1).await;
    let status = cache.status.unwrap();
    let snapshot = status.snapshots[0].clone();
    assert_eq!(snapshot.name, "before-upgrade");
    assert_eq!(
        snapshot.identifier,
        format!("{}-snap-before-upgrade", status.identifier.unwrap())
    );

    create_named::<ElastiCache>(
        &s.objects,
        "restored",
        &json!({"restoreFrom": {"snapshotName": snapshot.identifier}}),
    )
    .await;
    wait_ready_named::<ElastiCache>(&s.objects, "restored", Duration::from_secs(30), "").await;
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let data = secret_text(&secrets.get("restored-connection").await.unwrap());
    assert!(!data["authToken"].is_empty(), "{:?}", data.keys());
    assert!(
        data["url"].starts_with("rediss://:"),
        "the url carries the token"
    );
    s.op.stop().await;
}

/// The moto 5.2.5 gaps the tests above work around, pinned so that an upgrade that
/// closes one fails here (then move that coverage from the mocks to moto): no cache
/// parameter groups at all, and no node of a replication group to snapshot by
/// `CacheClusterId` (the cluster-mode-disabled way).
#[tokio::test]
async fn moto_has_no_cache_parameter_groups_and_no_group_node_to_snapshot() {
    let server = MotoServer::start();
    let ctx = ElastiCache::on(&server);
    let moto = elasticache_client(&server);
    assert_no_cache_parameter_groups(&moto).await;
    ctx.create_untagged("legacy", &[]).await;
    let member = replication_group(&moto, "legacy").await.member_clusters()[0].clone();
    let by_node = moto
        .create_snapshot()
        .cache_cluster_id(&member)
        .snapshot_name("pin")
        .send()
        .await;
    assert!(
        by_node.is_err(),
        "moto now snapshots a group's node: {by_node:?}"
    );
}

/// The CRD's rules for issue 13, as the emulator evaluates them like kube-apiserver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_source_is_creation_only_and_parameters_own_the_group() {
    let emulator = crate::support::operator::emulator(&[], false).await;
    let caches: Api<CacheCluster> = Api::namespaced(emulator.client(), "default");
    let object = |name: &str, extra: serde_json::Value| {
        let base =
            json!({"engine": "valkey", "engineVersion": "8.0", "nodeType": "cache.t4g.micro"});
        support::data_tier::object::<ElastiCache>("default", name, &merged(base, &extra))
    };
    let refused = assert_invalid::<CacheCluster>;
    let patch = |spec: serde_json::Value| Patch::Merge(json!({ "spec": spec }));
    let params = PatchParams::default();
    let post = PostParams::default();

    for (extra, part) in [
        (
            json!({"parameters": {"timeout": "300"}, "parameterGroupName": "mine"}),
            "parameters cannot be combined with parameterGroupName",
        ),
        (
            json!({"parameters": {"timeout": "300"}, "engineVersion": null}),
            "parameters needs engineVersion",
        ),
        (
            json!({"parameters": {"cluster-enabled": "yes"}}),
            "cluster-enabled is set by tiered",
        ),
        (
            json!({"restoreFrom": {"snapshotName": "s"}, "adopt": {"replicationGroupId": "g"}}),
            "restoreFrom cannot be combined with adopt",
        ),
    ] {
        refused(caches.create(&post, &object("bad", extra)).await, part);
    }

    caches
        .create(
            &post,
            &object(
                "restored",
                json!({"restoreFrom": {"snapshotName": "nightly-1"}}),
            ),
        )
        .await
        .unwrap();
    for change in [
        json!({"restoreFrom": {"snapshotName": "nightly-2"}}),
        json!({"restoreFrom": null}),
    ] {
        refused(
            caches.patch("restored", &params, &patch(change)).await,
            "restoreFrom is creation-only",
        );
    }
    caches
        .patch(
            "restored",
            &params,
            &patch(json!({"parameters": {"timeout": "300"}, "snapshots": [{"name": "a"}]})),
        )
        .await
        .unwrap();
    caches
        .create(&post, &object("plain", json!({})))
        .await
        .unwrap();
    refused(
        caches
            .patch(
                "plain",
                &params,
                &patch(json!({"restoreFrom": {"snapshotName": "nightly-1"}})),
            )
            .await,
        "restoreFrom is creation-only",
    );
}
