//! What a CacheCluster may change on an existing replication group (issue 10): a
//! setting ElastiCache fixes at creation stalls the object before any AUTH token is
//! generated, any connection Secret written or any mutating AWS call sent (the Secret's
//! bytes stay as they were); turning AUTH on for a group with in-transit encryption is
//! done in place, ROTATE then SET (ElastiCache guide "Authenticating with the Valkey and
//! Redis OSS AUTH command", "Modifying the AUTH token on an existing cluster").
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, ReplicationGroup};
use aws_smithy_mocks::mock;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::auth_token::SET_PENDING_TAG;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::cache::{described, group, no_member, ours};
use support::data_tier::operator::{NS, condition, setup};
use support::data_tier::{Kind, in_progress_message, mock_owner, reconcile_as, resource};
use support::operator::mutating_aws_calls;

/// The mock group without AUTH, with in-transit encryption `transit`.
fn without_auth(status: &str, transit: bool) -> ReplicationGroup {
    let mut group = group(status);
    group.auth_token_enabled = Some(false);
    group.transit_encryption_enabled = Some(transit);
    group
}

/// Found by a reviewer: toggling `transitEncryption` on an existing CacheCluster made
/// the operator generate an AUTH token, write it into the connection Secret (a
/// `rediss://` URL with the new token), tag the group and send ModifyReplicationGroup
/// with ROTATE, and only then stall. Now the stall comes first and nothing is written.
#[tokio::test]
async fn toggling_transit_encryption_stalls_before_any_token_secret_write_or_aws_change() {
    let s = setup::<ElastiCache>().await;
    s.create(&json!({"transitEncryption": false})).await;
    s.wait_ready().await;
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let secret_name = format!("{}-connection", ElastiCache::OBJECT);
    let before = secrets.get(&secret_name).await.expect("the Secret");
    let calls_before = mutating_aws_calls(s.op.http).await;

    s.objects
        .patch(
            ElastiCache::OBJECT,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"transitEncryption": true}})),
        )
        .await
        .expect("patch");
    let stalled = s
        .wait_for("Stalled", "True", Some(reasons::UNSUPPORTED_CHANGE))
        .await;
    let (_, _, message) = condition::<ElastiCache>(&stalled, "Stalled").unwrap();
    assert!(
        message.contains("spec.transitEncryption") && message.contains("create a new CacheCluster"),
        "the message names the field and what to do: {message}"
    );
    // A second reconcile (the resync of a stalled object is minutes away: a relist
    // would not come in time) must not change anything either; give the controller
    // the moments a write would take.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let after = secrets.get(&secret_name).await.expect("the Secret");
    assert_eq!(after.data, before.data, "the Secret's bytes are unchanged");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the Secret was not written at all"
    );
    assert_eq!(
        mutating_aws_calls(s.op.http).await,
        calls_before,
        "no mutating AWS call"
    );
    let identifier = stalled.status.as_ref().unwrap().identifier.clone().unwrap();
    let kind = ElastiCache::on(&s.moto);
    let group = resource(&kind, &identifier).await.expect("the group");
    let tags = kind.group_tags(&group).await.unwrap();
    assert!(
        !tags.iter().any(|(key, _)| key == SET_PENDING_TAG),
        "no rotation was started: {tags:?}"
    );
    assert_eq!(group.transit_encryption_enabled(), Some(false));
    s.op.stop().await;
}

/// Every setting ElastiCache fixes at creation, against a group that matches the mock
/// spec otherwise: the pass stalls naming it, and no mutating call is sent (the mocks
/// answer only reads: a mutating call would fail the pass as transient).
#[tokio::test]
async fn every_creation_only_difference_stalls_with_its_field_and_no_mutating_call() {
    type Spec = tiered::api::CacheClusterSpec;
    type Case = (fn(&mut ReplicationGroup), fn(&mut Spec), &'static str);
    let cases: [Case; 4] = [
        (
            |g| g.engine = Some("redis".to_owned()),
            |_| {},
            "spec.engine",
        ),
        (
            |g| g.at_rest_encryption_enabled = Some(false),
            |_| {},
            "spec.atRestEncryption",
        ),
        (
            |g| {
                g.transit_encryption_enabled = Some(false);
                g.auth_token_enabled = Some(false);
            },
            |_| {},
            "spec.transitEncryption",
        ),
        (|_| {}, |s| s.auth_token = Some(false), "spec.authToken"),
    ];
    for (change_group, change_spec, field) in cases {
        let mut aws = group("available");
        change_group(&mut aws);
        let describe =
            mock!(Client::describe_replication_groups).then_output(move || described(aws.clone()));
        let (tags, member) = (ours(), no_member());
        let ctx = ElastiCache::mocked(&[&describe, &tags, &member]);
        let mut spec = ElastiCache::mock_spec();
        ElastiCache::forget_adoption(&mut spec);
        change_spec(&mut spec);
        let report = reconcile_as(&ctx, mock_owner(), &spec).await;
        let Progress::Stalled {
            reason, message, ..
        } = &report.progress
        else {
            panic!("{field}: expected Stalled, got {:?}", report.progress);
        };
        assert_eq!(*reason, reasons::UNSUPPORTED_CHANGE, "{field}: {message}");
        assert!(
            message.contains(field) && message.contains("create a new CacheCluster"),
            "{field}: {message}"
        );
        assert_eq!(report.mutations, 0, "{field}");
    }
}

/// Source: the ElastiCache guide "Modifying the AUTH token on an existing cluster":
/// ModifyReplicationGroup with the token and `AuthTokenUpdateStrategy=ROTATE` adds AUTH
/// to a group with in-transit encryption (clients without the token still connect
/// until the SET). Before, turning AUTH on stalled as a creation-only change.
#[tokio::test]
async fn auth_turned_on_for_a_group_with_transit_encryption_is_rotated_in_then_set() {
    let token = ElastiCache::credential().expose().to_owned();
    let describe = mock!(Client::describe_replication_groups)
        .then_output(|| described(without_auth("available", true)));
    let (tags, member) = (ours(), no_member());
    let marker = mock!(Client::add_tags_to_resource)
        .match_requests(|r| r.tags().iter().any(|t| t.key() == Some(SET_PENDING_TAG)))
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let expected = token.clone();
    let rotate = mock!(Client::modify_replication_group)
        .match_requests(move |r| {
            r.auth_token_update_strategy() == Some(&AuthTokenUpdateStrategyType::Rotate)
                && r.auth_token() == Some(expected.as_str())
        })
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &marker, &rotate]);
    let mut spec = ElastiCache::mock_spec();
    ElastiCache::forget_adoption(&mut spec);

    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    let message = in_progress_message(&report.progress);
    assert!(
        message.contains("turning AUTH on") && !message.contains(&token),
        "{message}"
    );
    assert_eq!(
        rotate.num_calls(),
        0,
        "the ROTATE goes in the step after the pass"
    );
    ctx.finish_token_change(&report, Some(&ElastiCache::credential()))
        .await
        .unwrap();
    assert_eq!(
        marker.num_calls(),
        1,
        "the SET is owed before the ROTATE goes"
    );
    assert_eq!(rotate.num_calls(), 1);

    // While ElastiCache applies it: wait, no second ROTATE.
    let describe = mock!(Client::describe_replication_groups)
        .then_output(|| described(without_auth("modifying", true)));
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member]);
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert!(
        matches!(report.progress, Progress::InProgress { .. }) && report.mutations == 0,
        "{:?}",
        report.progress
    );
}

/// AUTH cannot be turned on without in-transit encryption (fixed at creation): the
/// message says why and what to do, and nothing is sent.
#[tokio::test]
async fn auth_without_transit_encryption_stalls_saying_why() {
    let describe = mock!(Client::describe_replication_groups)
        .then_output(|| described(without_auth("available", false)));
    let (tags, member) = (ours(), no_member());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member]);
    let mut spec = ElastiCache::mock_spec();
    ElastiCache::forget_adoption(&mut spec);
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    let Progress::Stalled { message, .. } = &report.progress else {
        panic!("expected Stalled, got {:?}", report.progress);
    };
    assert!(
        message.contains("AUTH") && message.contains("in-transit encryption"),
        "{message}"
    );
    assert_eq!(report.mutations, 0);
}
