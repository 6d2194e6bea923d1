//! A restore is safe by default, like an adoption (issue 13 part 2 and DESIGN.md
//! "Adoption is opt-in on both sides"), against moto for both data-tier kinds: the
//! source of `spec.restoreFrom` (a DB or ElastiCache snapshot, the instance of a
//! point-in-time restore) must have been made by tiered for the object's namespace in
//! this cluster, or carry the administrator's tag `tiered.io/restorable=<namespace>/<name>`.
//! Anything else, such as an untagged snapshot of another team in the same account, is
//! refused `Stalled` naming the field and the tag, before any mutating call and without
//! naming another tenant. Before, any snapshot the operator's role could read was
//! restored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::aws::restore_source::RESTORABLE;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;

use crate::support::data_tier::{Kind, both_kinds, reconcile_once, resource, stalled_message};
use crate::support::moto::{MotoServer, rds_client};
use crate::support::restore_sources::{
    restore_from_snapshot, snapshot_field, source_instance, tag_snapshot, take_snapshot,
};

/// Refused with `reason` before any mutating call, nothing made; the message.
async fn refused<K: Kind>(ctx: &K, name: &str, extra: serde_json::Value, reason: &str) -> String {
    let report = reconcile_once(ctx, name, &K::spec(&extra)).await;
    let message = stalled_message(&report.progress, reason).to_owned();
    assert_eq!(report.mutations, 0, "no mutating AWS call: {message}");
    assert!(
        resource(ctx, &report.id).await.is_none(),
        "nothing restored"
    );
    message
}

/// One pass of `name` with `extra`, whose source does not exist: waited for
/// (Reconciling `WaitingForSource`, not Stalled: it may be a snapshot being taken), no
/// mutating call, nothing restored; the message.
async fn waiting<K: Kind>(ctx: &K, name: &str, extra: serde_json::Value) -> String {
    let report = reconcile_once(ctx, name, &K::spec(&extra)).await;
    let Progress::InProgress { reason, message } = &report.progress else {
        panic!(
            "expected InProgress WaitingForSource, got {:?}",
            report.progress
        );
    };
    assert_eq!(*reason, reasons::WAITING_FOR_SOURCE, "{message}");
    assert_eq!(report.mutations, 0, "no mutating AWS call: {message}");
    assert!(
        resource(ctx, &report.id).await.is_none(),
        "nothing restored"
    );
    message.clone()
}

/// One pass of `name` with `extra`, whose source tiered may restore: not Stalled, and
/// the resource is there.
async fn restores<K: Kind>(ctx: &K, name: &str, extra: &serde_json::Value) {
    let report = reconcile_once(ctx, name, &K::spec(extra)).await;
    assert!(
        !matches!(report.progress, Progress::Stalled { .. }),
        "{:?}",
        report.progress
    );
    assert!(resource(ctx, &report.id).await.is_some(), "restored");
}

/// The tags tiered puts on what it makes for the object `shop/db` here.
const TIERED_SHOP_DB: [(&str, &str); 3] = [
    ("tiered.io/cluster", "test"),
    ("tiered.io/namespace", "shop"),
    ("tiered.io/name", "db"),
];

both_kinds!(
    a_snapshot_of_another_team_is_refused_until_an_administrator_opts_it_in,
    a_snapshot_tiered_took_in_this_namespace_restores_without_an_opt_in,
);

async fn a_snapshot_of_another_team_is_refused_until_an_administrator_opts_it_in<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);

    // Untagged, in the same account: refused, saying which tag allows it.
    let other_team = [("team", "billing")];
    let arn = take_snapshot(&ctx, &server, "billing", "billing-nightly", &other_team).await;
    let from = restore_from_snapshot::<K>;
    let message = refused(
        &ctx,
        "restored",
        from("billing-nightly"),
        reasons::NOT_OPTED_IN,
    )
    .await;
    assert!(message.contains(&snapshot_field::<K>()), "{message}");
    assert!(
        message.contains("tiered.io/restorable=shop/restored"),
        "{message}"
    );

    // Made by tiered for another namespace of this cluster, or opted in for another
    // object: refused without naming them.
    let elsewhere = [
        ("tiered.io/cluster", "test"),
        ("tiered.io/namespace", "billing"),
        ("tiered.io/name", "ledger"),
    ];
    take_snapshot(&ctx, &server, "billing", "nightly-2", &elsewhere).await;
    let message = refused(&ctx, "restored", from("nightly-2"), reasons::NOT_OPTED_IN).await;
    assert!(
        !message.contains("billing") && !message.contains("ledger"),
        "{message}"
    );
    let opted_in_elsewhere = [(RESTORABLE, "billing/ledger")];
    take_snapshot(&ctx, &server, "billing", "nightly-3", &opted_in_elsewhere).await;
    let message = refused(&ctx, "restored", from("nightly-3"), reasons::NOT_OPTED_IN).await;
    assert!(
        !message.contains("billing") && !message.contains("ledger"),
        "{message}"
    );

    // A snapshot that does not exist (yet) is waited for, saying so.
    let message = waiting(&ctx, "restored", from("no-such-snapshot")).await;
    assert!(message.contains("does not exist"), "{message}");

    // The administrator opts the first one in for this object: it is restored.
    tag_snapshot(&ctx, &arn, RESTORABLE, "shop/restored").await;
    restores(&ctx, "restored", &from("billing-nightly")).await;
}

async fn a_snapshot_tiered_took_in_this_namespace_restores_without_an_opt_in<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    take_snapshot(&ctx, &server, "test-shop-db", "db-snap-1", &TIERED_SHOP_DB).await;
    restores(&ctx, "restored", &restore_from_snapshot::<K>("db-snap-1")).await;
}

#[tokio::test]
async fn a_point_in_time_source_of_another_team_is_refused_and_this_namespaces_is_restored() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let rds = rds_client(&server);
    source_instance(&rds, "billing-db", &[]).await;
    let pitr = |source: &str| json!({"restoreFrom": {"sourceDBInstanceIdentifier": source, "useLatestRestorableTime": true}});
    let message = refused(&ctx, "pitr", pitr("billing-db"), reasons::NOT_OPTED_IN).await;
    assert!(
        message.contains("spec.restoreFrom.sourceDBInstanceIdentifier"),
        "{message}"
    );
    assert!(
        message.contains("tiered.io/restorable=shop/pitr"),
        "{message}"
    );
    let message = waiting(&ctx, "pitr", pitr("no-such-db")).await;
    assert!(message.contains("does not exist"), "{message}");

    source_instance(&rds, "test-shop-db", &TIERED_SHOP_DB).await;
    restores(&ctx, "pitr", &pitr("test-shop-db")).await;
}
