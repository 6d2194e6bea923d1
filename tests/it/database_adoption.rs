//! Adopting an RDS instance safely (issue 9 part 4), against moto: the engine and the
//! master user are checked before the instance is tagged as ours, and an adopted
//! instance keeps its deletion protection unless the spec says otherwise.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::collections::BTreeSet;

use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::aws::adoption::ADOPTABLE;
use tiered::aws::tags;
use tiered::controllers::data_tier::kind::Target;
use tiered::controllers::managed_database::Rds;

use support::data_tier::database::postgres_instance;
use support::data_tier::{
    Kind, cleanup_once, reconcile_once, reconcile_until_ready, resource, stalled_message,
    waiting_message,
};
use support::fixtures::owner;
use support::moto::MotoServer;

const LEGACY: &str = "legacy-db";

fn allowing_shop(server: &MotoServer) -> Rds {
    let mut ctx = Rds::on(server);
    ctx.allow_adoption_in(BTreeSet::from(["shop".to_owned()]));
    ctx
}

/// Source: issue 9 part 4 ("Every check (engine, master user, cluster mode, opt-in)
/// runs before the first mutating call").
#[tokio::test]
async fn an_instance_with_another_master_user_is_not_adopted_and_not_tagged() {
    let server = MotoServer::start();
    let ctx = allowing_shop(&server);
    ctx.create_untagged(LEGACY, &[(ADOPTABLE, "shop/db")]).await;
    let spec = Rds::spec(&json!({
        "adopt": {"identifier": LEGACY},
        "masterUsername": "admin",
        "highAvailability": {"multiAZ": false}
    }));
    let report = reconcile_once(&ctx, "db", &spec).await;
    let message = stalled_message(&report.progress, reasons::INVALID_SPEC);
    assert!(message.contains("spec.masterUsername"), "{message}");
    assert!(message.contains("masterUsername: app"), "{message}");
    assert_eq!(report.mutations, 0);
    let found = support::data_tier::tags(&ctx, LEGACY).await;
    assert!(!found.contains_key(tags::NAME), "not tagged: {found:?}");
}

/// Source: issue 9 part 4 ("An adopted resource never gets … its deletion protection
/// removed unless the spec asks explicitly"): the default of `deletionProtection` used
/// to be false, and turned an adopted instance's protection off, in the reconcile and
/// in the finalizer's delete.
#[tokio::test]
async fn an_adopted_instance_keeps_its_deletion_protection_unless_the_spec_says_false() {
    let server = MotoServer::start();
    let ctx = allowing_shop(&server);
    postgres_instance(&ctx.rds, LEGACY, &[(ADOPTABLE, "shop/db")])
        .deletion_protection(true)
        .send()
        .await
        .expect("CreateDBInstance failed");
    let adopt = json!({"adopt": {"identifier": LEGACY}, "highAvailability": {"multiAZ": false}});
    let spec = Rds::spec(&adopt);
    reconcile_until_ready(&ctx, "db", &spec).await;
    let adopted = resource(&ctx, LEGACY).await.expect("exists");
    assert_eq!(adopted.deletion_protection(), Some(true), "kept");
    assert_eq!(reconcile_once(&ctx, "db", &spec).await.mutations, 0);

    // Deleting with a policy that deletes never turns the protection off either.
    let snapshot = json!({
        "adopt": {"identifier": LEGACY},
        "highAvailability": {"multiAZ": false},
        "deletionPolicy": "Snapshot"
    });
    let snapshot = Rds::spec(&snapshot);
    let target = Target {
        owner: owner("db"),
        spec: &snapshot,
    };
    let step = cleanup_once(&ctx, &target).await;
    assert!(
        waiting_message(&step).contains("deletion protection"),
        "{step:?}"
    );
    let kept = resource(&ctx, LEGACY).await.expect("not deleted");
    assert_eq!(kept.deletion_protection(), Some(true), "not turned off");
    assert_eq!(kept.db_instance_status(), Some("available"));

    let mut off = adopt.clone();
    off["deletionProtection"] = json!(false);
    reconcile_until_ready(&ctx, "db", &Rds::spec(&off)).await;
    let released = resource(&ctx, LEGACY).await.expect("exists");
    assert_eq!(
        released.deletion_protection(),
        Some(false),
        "only when asked"
    );
}

/// Found by the outside trial: `spec.adopt.identifier` may be written in capitals
/// (`Legacy-Prod-DB`, as a console shows what someone typed), but RDS stores and lists
/// identifiers lowercase. tiered named its snapshots and replicas after the capitals,
/// never found them in what RDS lists, and so sent CreateDBSnapshot on every pass with
/// `status.snapshots` `pending` and the object never Ready.
#[tokio::test]
async fn an_identifier_in_capitals_is_adopted_and_converges_like_a_lowercase_one() {
    let server = MotoServer::start();
    let ctx = allowing_shop(&server);
    ctx.create_untagged("Legacy-Prod-DB", &[(ADOPTABLE, "shop/db")])
        .await;
    let spec = Rds::spec(&json!({
        "adopt": {"identifier": "Legacy-Prod-DB"},
        "highAvailability": {"multiAZ": false},
        "snapshots": [{"name": "before"}]
    }));
    let ready = reconcile_until_ready(&ctx, "db", &spec).await;
    let listed = ready.observed.snapshots.expect("the pass looked");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0].db_snapshot_identifier(),
        Some("legacy-prod-db-snap-before")
    );
    let again = reconcile_once(&ctx, "db", &spec).await;
    assert_eq!(again.mutations, 0, "{again:?}");
}
