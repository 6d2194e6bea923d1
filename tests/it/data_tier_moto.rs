//! The reconcile and cleanup of both data-tier kinds against AWS in a private
//! `moto_server`, written once and run for each kind: create with tags and then no
//! calls, a change AWS cannot make in place, crash safety, adoption and its guards,
//! and the deletion policies that leave the resource alone. What differs per kind is in
//! `cache_moto` and `database_moto`.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::collections::BTreeSet;

use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::aws::adoption::ADOPTABLE;
use tiered::aws::tags;
use tiered::controllers::data_tier::cleanup::Cleanup;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::{
    Kind, both_kinds, delete_until_done, merged, reconcile_once, reconcile_until_ready, resource,
    stalled_message,
};
use support::fixtures::CLUSTER;
use support::moto::MotoServer;

both_kinds!(
    reconcile_creates_a_tagged_resource_with_the_spec_settings_and_then_makes_no_calls,
    a_change_aws_cannot_make_in_place_stalls_naming_the_field,
    a_crash_between_create_and_status_write_makes_no_second_resource,
    an_untagged_resource_is_adopted_and_tagged,
    a_resource_tagged_for_another_owner_is_refused_and_left_alone,
    adoption_outside_the_allowed_namespaces_is_refused,
    retain_policy_keeps_the_resource_and_removes_only_our_tags,
    a_resource_not_tagged_as_ours_is_never_deleted,
);

fn ready() -> Progress {
    Progress::Ready {
        message: String::new(),
    }
}

async fn reconcile_creates_a_tagged_resource_with_the_spec_settings_and_then_makes_no_calls<
    K: Kind,
>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    let spec = K::spec(&json!({}));
    let report = reconcile_once(&ctx, K::NAME, &spec).await;
    assert_eq!(report.progress, ready(), "moto is available at once");
    let prefix = format!("{CLUSTER}-shop-{}-", K::NAME);
    assert!(report.id.starts_with(&prefix), "{}", report.id);
    let created = resource(&ctx, &report.id).await.expect("created");
    K::assert_created_as_specified(&created);
    let found = support::data_tier::tags(&ctx, &report.id).await;
    for (key, value) in [
        (tags::CLUSTER, CLUSTER.to_owned()),
        (tags::NAMESPACE, "shop".to_owned()),
        (tags::NAME, K::NAME.to_owned()),
        (tags::UID, format!("uid-{}", K::NAME)),
        ("team", "news".to_owned()),
    ] {
        assert_eq!(found.get(key), Some(&value), "{key}");
    }

    let again = reconcile_once(&ctx, K::NAME, &spec).await;
    assert_eq!(
        again.mutations, 0,
        "a converged object makes no mutating AWS call"
    );
    assert_eq!(again.progress, ready());
}

async fn a_change_aws_cannot_make_in_place_stalls_naming_the_field<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    let (before, after, field) = K::unsupported_change();
    reconcile_until_ready(&ctx, K::NAME, &K::spec(&before)).await;
    let report = reconcile_once(&ctx, K::NAME, &K::spec(&after)).await;
    let message = stalled_message(&report.progress, reasons::UNSUPPORTED_CHANGE);
    assert!(message.contains(field), "{message}");
    assert_eq!(report.mutations, 0);
}

async fn a_crash_between_create_and_status_write_makes_no_second_resource<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::with_stale_reads(&server).await;
    let spec = K::spec(&json!({}));
    let first = reconcile_once(&ctx, K::NAME, &spec).await;
    assert!(first.mutations > 0);
    // No status was recorded (the write "failed"); the operator restarts and reconciles.
    let second = reconcile_once(&ctx, K::NAME, &spec).await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.mutations, 0);
    assert_eq!(ctx.count().await, 1);
}

/// The id of the resource an administrator made.
fn legacy<K: Kind>() -> String {
    format!("legacy-{}", K::NAME)
}

/// The opt-in tag an administrator sets for the object `K::NAME` in `shop`.
fn opted_in<K: Kind>() -> String {
    format!("shop/{}", K::NAME)
}

fn allowing_shop<K: Kind>(server: &MotoServer) -> K {
    let mut ctx = K::on(server);
    K::allow_adoption_in(&mut ctx, BTreeSet::from(["shop".to_owned()]));
    ctx
}

async fn an_untagged_resource_is_adopted_and_tagged<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing_shop::<K>(&server);
    ctx.create_untagged(&legacy::<K>(), &[(ADOPTABLE, &opted_in::<K>())])
        .await;
    let adopt = K::spec(&merged(K::adoptable(), &K::adopt(&legacy::<K>())));
    let report = reconcile_until_ready(&ctx, K::NAME, &adopt).await;
    assert_eq!(report.id, legacy::<K>());
    let found = support::data_tier::tags(&ctx, &legacy::<K>()).await;
    assert_eq!(found.get(tags::NAME).map(String::as_str), Some(K::NAME));
    assert_eq!(found.get(tags::CLUSTER).map(String::as_str), Some(CLUSTER));
    assert_eq!(ctx.count().await, 1, "nothing new was created");
}

async fn a_resource_tagged_for_another_owner_is_refused_and_left_alone<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing_shop::<K>(&server);
    let theirs = reconcile_until_ready(&ctx, "other", &K::spec(&json!({}))).await;
    let adopt = K::spec(&merged(K::changed_setting(), &K::adopt(&theirs.id)));
    let report = reconcile_once(&ctx, K::NAME, &adopt).await;
    let message = stalled_message(&report.progress, reasons::OWNED_ELSEWHERE);
    // Another tenant's namespace and name are not revealed.
    assert!(!message.contains("shop/other"), "{message}");
    assert_eq!(report.mutations, 0);
    let left = resource(&ctx, &theirs.id).await.expect("still there");
    assert_eq!(K::setting(&left), K::setting_of_spec(), "not modified");
    let found = support::data_tier::tags(&ctx, &theirs.id).await;
    assert_eq!(found.get(tags::NAME).map(String::as_str), Some("other"));
}

async fn adoption_outside_the_allowed_namespaces_is_refused<K: Kind>() {
    let server = MotoServer::start();
    let mut ctx = K::on(&server);
    K::allow_adoption_in(&mut ctx, BTreeSet::from(["platform".to_owned()]));
    ctx.create_untagged(&legacy::<K>(), &[(ADOPTABLE, &opted_in::<K>())])
        .await;
    let report = reconcile_once(&ctx, K::NAME, &K::spec(&K::adopt(&legacy::<K>()))).await;
    assert!(
        matches!(&report.progress, Progress::Stalled { reason, .. } if *reason == reasons::ADOPTION_NOT_ALLOWED),
        "{:?}",
        report.progress
    );
    let found = support::data_tier::tags(&ctx, &legacy::<K>()).await;
    assert!(
        tags::OWNERSHIP_KEYS
            .iter()
            .all(|key| !found.contains_key(*key)),
        "not tagged: {found:?}"
    );
}

async fn retain_policy_keeps_the_resource_and_removes_only_our_tags<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    let spec = K::spec(&json!({"deletionPolicy": "Retain"}));
    let report = reconcile_until_ready(&ctx, K::NAME, &spec).await;
    delete_until_done(&ctx, K::NAME, &spec).await;
    let kept = resource(&ctx, &report.id).await.expect("retained");
    assert_eq!(K::aws_status(&kept), Some("available"));
    let found = support::data_tier::tags(&ctx, &report.id).await;
    assert_eq!(found.get("team").map(String::as_str), Some("news"));
    for key in tags::OWNERSHIP_KEYS {
        assert!(!found.contains_key(key), "{key} removed");
    }
    // A later object with the same name must adopt it explicitly.
    let again = reconcile_once(&ctx, K::NAME, &spec).await;
    assert!(
        matches!(again.progress, Progress::Stalled { reason, .. } if reason == reasons::OWNED_ELSEWHERE),
        "{:?}",
        again.progress
    );
}

async fn a_resource_not_tagged_as_ours_is_never_deleted<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    ctx.create_untagged(&legacy::<K>(), &[]).await;
    let spec = K::spec(&merged(
        K::adopt(&legacy::<K>()),
        &json!({"deletionPolicy": "Delete"}),
    ));
    // Never adopted (no reconcile ran), so it carries no tags of ours.
    let steps = delete_until_done(&ctx, K::NAME, &spec).await;
    assert!(
        matches!(&steps[..], [Cleanup::LeftAlone { .. }]),
        "{steps:?}"
    );
    let left = resource(&ctx, &legacy::<K>()).await.expect("still there");
    assert_eq!(K::aws_status(&left), Some("available"));
}
