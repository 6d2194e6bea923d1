//! The CacheCluster's AUTH token change finished with SET (issue 10, part 2;
//! hashicorp/terraform-provider-aws#33439): the tag that owes the SET goes on the group
//! before the ROTATE, the SET follows once the group is available again (also after a
//! restart, on moto), a refused SET rotates again, and the token reaches no message or
//! status. `aws-smithy-mocks` for the AUTH fields moto ignores.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::sync::{Arc, Mutex};

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_elasticache::operation::modify_replication_group::{
    ModifyReplicationGroupInput, ModifyReplicationGroupOutput,
};
use aws_sdk_elasticache::operation::remove_tags_from_resource::RemoveTagsFromResourceOutput;
use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, Tag};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;
use tiered::aws::tags::{resource_tags, to_elasticache_tags};
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::auth_token::SET_PENDING_TAG;
use tiered::controllers::data_tier::kind::Target;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::cache::{aws_error, described_as, no_member, ours};
use support::data_tier::{
    Kind, OnMoto, in_progress_message, mock_owner, ready_on_moto, reconcile_as, sync_with, tags,
};

/// ListTagsForResource answering the mock owner's tags and the SET-pending marker.
fn ours_with_set_pending() -> Rule {
    mock!(Client::list_tags_for_resource).then_output(|| {
        let mut tags = to_elasticache_tags(&resource_tags(
            &mock_owner(),
            &std::collections::BTreeMap::new(),
        ));
        tags.push(Tag::builder().key(SET_PENDING_TAG).value("true").build());
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(tags))
            .build()
    })
}

/// The reads of a pass over an available group of ours: describe, tags (with the
/// SET-pending marker when `set_pending`) and its member.
fn available_group(set_pending: bool) -> (Rule, Rule, Rule) {
    let describe = described_as("available");
    let tags = if set_pending {
        ours_with_set_pending()
    } else {
        ours()
    };
    (describe, tags, no_member())
}

fn token() -> String {
    ElastiCache::credential().expose().to_owned()
}

/// Whether a ModifyReplicationGroup sets the AUTH token (strategy SET).
fn is_set(request: &ModifyReplicationGroupInput) -> bool {
    request.auth_token_update_strategy() == Some(&AuthTokenUpdateStrategyType::Set)
}

/// Source: hashicorp/terraform-provider-aws#33439 (a token changed with ROTATE was
/// never followed by SET: the old token kept working), and the ElastiCache guide
/// "Modifying the AUTH token on an existing cluster" (SET is allowed only after
/// ROTATE). The operator restarted after the ROTATE: nothing in memory, the tag on the
/// group says the SET is owed; it is sent with the Secret's token, and the tag goes.
#[tokio::test]
async fn after_a_restart_a_rotated_token_is_set_once_the_group_is_available_and_the_tag_goes() {
    let (describe, tags, member) = available_group(true);
    let set = mock!(Client::modify_replication_group)
        .match_requests(|r| is_set(r) && r.auth_token() == Some(token().as_str()))
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let untag = mock!(Client::remove_tags_from_resource)
        .match_requests(|r| r.tag_keys() == [SET_PENDING_TAG])
        .then_output(|| RemoveTagsFromResourceOutput::builder().build());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &set, &untag]);

    let report = reconcile_as(&ctx, mock_owner(), &ElastiCache::mock_spec()).await;
    let message = in_progress_message(&report.progress);
    assert!(
        message.contains("AUTH token") && !message.contains(&token()),
        "{message}"
    );
    ctx.finish_token_change(&report, Some(&ElastiCache::credential()))
        .await
        .expect("SET");
    assert_eq!((set.num_calls(), untag.num_calls()), (1, 1));
    let status = serde_json::to_string(&ElastiCache::status_of(&report, None)).unwrap();
    assert!(!status.contains(&token()), "the token is not in the status");
}

/// Source: hashicorp/terraform-provider-aws#33439. The tag goes on the group before
/// the ROTATE, so no crash between the two calls can lose the SET that is owed.
#[tokio::test]
async fn a_new_token_is_rotated_in_only_after_the_group_is_tagged_for_the_set() {
    let calls = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (describe, tags, member) = available_group(false);
    let seen = Arc::clone(&calls);
    let tag = mock!(Client::add_tags_to_resource)
        .match_requests(move |r| {
            let marked = r.tags().iter().any(|t| t.key() == Some(SET_PENDING_TAG));
            if marked {
                seen.lock().unwrap().push("tag");
            }
            marked
        })
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let seen = Arc::clone(&calls);
    let rotate = mock!(Client::modify_replication_group)
        .match_requests(move |r| {
            let rotating =
                r.auth_token_update_strategy() == Some(&AuthTokenUpdateStrategyType::Rotate);
            if rotating {
                seen.lock().unwrap().push("rotate");
            }
            rotating
        })
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &tag, &rotate]);
    let spec = ElastiCache::mock_spec();
    let credential = ElastiCache::credential();
    let target = Target {
        owner: mock_owner(),
        spec: &spec,
    };
    let report = sync_with(&ctx, &target, &credential, true).await;
    assert_eq!(
        *calls.lock().unwrap(),
        ["tag", "rotate"],
        "{:?}",
        report.progress
    );
    assert!(
        !report.observed.auth_token_set_due,
        "no SET in the pass of the ROTATE"
    );
}

/// A crash between the tag and the ROTATE leaves a SET that ElastiCache refuses (SET
/// is allowed only after ROTATE): the ROTATE is sent again and the tag stays.
#[tokio::test]
async fn a_refused_set_rotates_the_token_in_again_and_keeps_the_tag() {
    let (describe, tags, member) = available_group(true);
    let set = mock!(Client::modify_replication_group)
        .match_requests(is_set)
        .sequence()
        .http_status(
            400,
            Some(aws_error(
                "InvalidParameterCombination",
                "SET is allowed only after ROTATE",
            )),
        )
        .build();
    let rotate = mock!(Client::modify_replication_group)
        .match_requests(|r| {
            r.auth_token_update_strategy() == Some(&AuthTokenUpdateStrategyType::Rotate)
        })
        .then_output(|| ModifyReplicationGroupOutput::builder().build());
    let untag = mock!(Client::remove_tags_from_resource)
        .then_output(|| RemoveTagsFromResourceOutput::builder().build());
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member, &set, &rotate, &untag]);
    let report = reconcile_as(&ctx, mock_owner(), &ElastiCache::mock_spec()).await;
    ctx.finish_token_change(&report, Some(&ElastiCache::credential()))
        .await
        .expect("ROTATE again");
    assert_eq!(
        (set.num_calls(), rotate.num_calls(), untag.num_calls()),
        (1, 1, 0)
    );
}

/// Source: hashicorp/terraform-provider-aws#33439, on moto: a new token rotated into
/// an existing group leaves the SET-pending tag on the group in AWS; an operator that
/// starts afresh (a new client, nothing in memory) finishes with SET and removes the
/// tag, and the pass after that changes nothing.
#[tokio::test]
async fn the_set_owed_after_a_rotate_survives_a_restart_on_moto() {
    let cache = ready_on_moto::<ElastiCache>("cache", &json!({})).await;
    let OnMoto {
        ctx: first,
        spec,
        report,
        server,
    } = &cache;
    let id = report.id.clone();
    let owner = support::fixtures::owner("cache");
    let fresh = tiered::controllers::data_tier::secret::Password::from_secret_value(
        "A-new-token-0123456789-abcdef".into(),
    );
    let target = Target {
        owner: owner.clone(),
        spec,
    };
    sync_with(first, &target, &fresh, true).await;
    assert!(tags(first, &id).await.contains_key(SET_PENDING_TAG));

    let restarted = ElastiCache::on(server);
    let report = sync_with(&restarted, &target, &fresh, false).await;
    assert!(report.observed.auth_token_set_due, "{:?}", report.progress);
    restarted
        .finish_token_change(&report, Some(&fresh))
        .await
        .expect("SET");
    assert!(!tags(&restarted, &id).await.contains_key(SET_PENDING_TAG));
    let after = sync_with(&restarted, &target, &fresh, false).await;
    assert_eq!(after.mutations, 0, "{:?}", after.progress);
    assert!(matches!(after.progress, Progress::Ready { .. }));
}

/// Looking for the SET-pending tag costs no call of its own: a pass over an available
/// group with AUTH reads its tags once (for the ownership check, which the SET step
/// reuses).
#[tokio::test]
async fn a_pass_reads_the_tags_of_the_group_once() {
    let (describe, tags, member) = available_group(false);
    let ctx = ElastiCache::mocked(&[&describe, &tags, &member]);
    let report = reconcile_as(&ctx, mock_owner(), &ElastiCache::mock_spec()).await;
    assert!(
        matches!(report.progress, Progress::Ready { .. }),
        "{:?}",
        report.progress
    );
    assert_eq!(tags.num_calls(), 1);
}
