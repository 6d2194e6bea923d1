//! Adoption is opt-in on both sides, against moto for both data-tier kinds: the
//! operator lists the namespace (empty = none) and the AWS resource carries the
//! administrator's tag `tiered.io/adoptable=<namespace>/<name>`. Every refusal comes
//! before any mutating AWS call (the resource's tags are unchanged) and never names
//! another tenant; an adopted resource's unknown credential is never replaced.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use tiered::api::conditions::reasons;
use tiered::aws::adoption::ADOPTABLE;
use tiered::controllers::data_tier::kind::{Credential, Target};
use tiered::controllers::data_tier::reconcile::sync;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::{
    Kind, both_kinds, merged, reconcile_once, reconcile_until_ready, stalled_message,
};
use support::fixtures::owner;
use support::moto::MotoServer;

both_kinds!(
    an_empty_namespace_list_refuses_every_adoption,
    a_listed_namespace_without_the_opt_in_tag_is_refused_before_any_write,
    an_opt_in_for_another_object_is_refused_without_naming_it,
    the_opt_in_for_this_object_adopts,
    an_adopted_resource_whose_credential_is_unknown_is_not_given_a_new_one,
);

const LEGACY: &str = "legacy";

fn allowing<K: Kind>(server: &MotoServer, namespaces: &[&str]) -> K {
    let mut ctx = K::on(server);
    K::allow_adoption_in(
        &mut ctx,
        namespaces.iter().map(|n| (*n).to_owned()).collect(),
    );
    ctx
}

fn adopt_spec<K: Kind>() -> tiered::controllers::data_tier::Spec<K> {
    K::spec(&merged(K::adoptable(), &K::adopt(LEGACY)))
}

/// Refused with `reason`, no mutating call, the resource's tags as the administrator
/// left them; returns the message.
async fn assert_refused<K: Kind>(
    ctx: &K,
    before: &BTreeMap<String, String>,
    reason: &str,
) -> String {
    let report = reconcile_once(ctx, K::NAME, &adopt_spec::<K>()).await;
    let message = stalled_message(&report.progress, reason).to_owned();
    assert_eq!(report.mutations, 0, "no mutating AWS call");
    let after = support::data_tier::tags(ctx, LEGACY).await;
    assert_eq!(&after, before, "tags unchanged");
    message
}

async fn an_empty_namespace_list_refuses_every_adoption<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing::<K>(&server, &[]);
    let opt_in = format!("shop/{}", K::NAME);
    ctx.create_untagged(LEGACY, &[(ADOPTABLE, &opt_in)]).await;
    let before = support::data_tier::tags(&ctx, LEGACY).await;
    assert_refused(&ctx, &before, reasons::ADOPTION_NOT_ALLOWED).await;
}

async fn a_listed_namespace_without_the_opt_in_tag_is_refused_before_any_write<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing::<K>(&server, &["shop"]);
    ctx.create_untagged(LEGACY, &[("team", "legacy")]).await;
    let before = support::data_tier::tags(&ctx, LEGACY).await;
    let message = assert_refused(&ctx, &before, reasons::NOT_OPTED_IN).await;
    assert!(message.contains(ADOPTABLE), "says what to set: {message}");
}

async fn an_opt_in_for_another_object_is_refused_without_naming_it<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing::<K>(&server, &["shop", "billing"]);
    ctx.create_untagged(LEGACY, &[(ADOPTABLE, "billing/ledger")])
        .await;
    let before = support::data_tier::tags(&ctx, LEGACY).await;
    let message = assert_refused(&ctx, &before, reasons::NOT_OPTED_IN).await;
    assert!(
        !message.contains("billing") && !message.contains("ledger"),
        "{message}"
    );
}

async fn the_opt_in_for_this_object_adopts<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing::<K>(&server, &["shop"]);
    let opt_in = format!("shop/{}", K::NAME);
    ctx.create_untagged(LEGACY, &[(ADOPTABLE, &opt_in)]).await;
    let report = reconcile_until_ready(&ctx, K::NAME, &adopt_spec::<K>()).await;
    assert_eq!(report.id, LEGACY);
    let tags = support::data_tier::tags(&ctx, LEGACY).await;
    assert_eq!(
        tags.get(tiered::aws::tags::NAME).map(String::as_str),
        Some(K::NAME)
    );
    assert_eq!(ctx.count().await, 1, "nothing new was created");
}

async fn an_adopted_resource_whose_credential_is_unknown_is_not_given_a_new_one<K: Kind>() {
    let server = MotoServer::start();
    let ctx = allowing::<K>(&server, &["shop"]);
    let opt_in = format!("shop/{}", K::NAME);
    ctx.create_untagged(LEGACY, &[(ADOPTABLE, &opt_in)]).await;
    let before = support::data_tier::tags(&ctx, LEGACY).await;
    // The connection Secret holds no credential and the object asks for none: the
    // reconcile gets no value (what `reconcile::apply` passes when adopting).
    let spec = adopt_spec::<K>();
    let target = Target {
        owner: owner(K::NAME),
        spec: &spec,
    };
    let report = sync(&ctx, &target, Credential::default()).await;
    assert!(
        matches!(&report.progress, Progress::Stalled { reason, .. } if *reason == reasons::CREDENTIAL_UNKNOWN),
        "{:?}",
        report.progress
    );
    assert_eq!(report.mutations, 0, "no password or token reset, no tags");
    assert_eq!(support::data_tier::tags(&ctx, LEGACY).await, before);
}
