//! Snapshots on demand (issue 13 part 3) against moto_server: a name in
//! `spec.snapshots` takes one manual snapshot with a deterministic id, tagged as
//! ours, recorded in status; never a second one (also after a lost response or a
//! restart); and the snapshots outlive the object whatever the deletion policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use aws_sdk_rds::types::DbSnapshot;
use serde_json::json;
use tiered::api::ManagedDatabase;
use tiered::controllers::data_tier::kind::Target;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;

use support::data_tier::operator::{Setup, setup};
use support::data_tier::{
    Kind, OnMoto, assert_final_snapshot_name_held, assert_shows_another_resources_snapshot,
    ready_on_moto, reconcile_once, reconcile_until_ready,
};
use support::fixtures::owner;
use support::moto::{delete_instance_by_hand, rds_client, tag_pairs};
use support::operator::{eventually, http_get, metric};
use support::restore_sources::snapshot_ids;

const DB: &str = Rds::OBJECT;

async fn manual_snapshots(rds: &aws_sdk_rds::Client) -> Vec<DbSnapshot> {
    rds.describe_db_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .unwrap()
        .db_snapshots()
        .to_vec()
}

fn snapshot_states(database: &ManagedDatabase) -> BTreeMap<String, (String, String)> {
    database
        .status
        .iter()
        .flat_map(|status| &status.snapshots)
        .map(|s| (s.name.clone(), (s.identifier.clone(), s.state.clone())))
        .collect()
}

/// A manual DB snapshot `name` of the instance `of`, taken straight in RDS (not by
/// tiered).
async fn take_snapshot(rds: &aws_sdk_rds::Client, of: &str, name: &str) {
    rds.create_db_snapshot()
        .db_instance_identifier(of)
        .db_snapshot_identifier(name)
        .send()
        .await
        .unwrap();
}

/// The CreateDBSnapshot calls the operator made.
async fn snapshot_creates(s: &Setup<Rds>) -> u64 {
    let (_, text) = http_get(s.op.http, "/metrics").await;
    let calls = metric(
        &text,
        "tiered_aws_calls_total{service=\"rds\",operation=\"CreateDBSnapshot\"}",
    );
    format!("{calls}").parse().expect("a whole number of calls")
}

async fn wait_for_states(s: &Setup<Rds>, wanted: &[(&str, &str)]) -> ManagedDatabase {
    eventually("status.snapshots shows the snapshots", || async {
        let states = snapshot_states(&s.objects.get(DB).await.unwrap());
        states.len() == wanted.len()
            && wanted
                .iter()
                .all(|(name, state)| states.get(*name).is_some_and(|(_, s)| s == state))
    })
    .await;
    s.objects.get(DB).await.unwrap()
}

#[tokio::test]
async fn each_requested_snapshot_is_taken_once_tagged_as_ours_and_recorded_in_status() {
    let s = setup::<Rds>().await;
    s.create(&json!({"snapshots": [{"name": "before-upgrade"}]}))
        .await;
    let database = wait_for_states(&s, &[("before-upgrade", "available")]).await;
    let identifier = database
        .status
        .as_ref()
        .unwrap()
        .identifier
        .clone()
        .unwrap();
    let rds = rds_client(&s.moto);
    let snapshots = manual_snapshots(&rds).await;
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let expected = format!("{identifier}-snap-before-upgrade");
    assert_eq!(
        snapshots[0].db_snapshot_identifier(),
        Some(expected.as_str())
    );
    assert_eq!(
        snapshot_states(&database)["before-upgrade"].0,
        expected,
        "status names the snapshot"
    );
    let tags: BTreeMap<&str, &str> = tag_pairs(snapshots[0].tag_list()).into_iter().collect();
    for key in [
        "tiered.io/cluster",
        "tiered.io/namespace",
        "tiered.io/name",
        "tiered.io/uid",
    ] {
        assert!(tags.contains_key(key), "{key} missing: {tags:?}");
    }
    assert_eq!(tags.get("tiered.io/name"), Some(&DB));

    // A second request takes one more; the first is not taken again.
    s.patch(json!({"spec": {"snapshots": [{"name": "before-upgrade"}, {"name": "nightly-1"}]}}))
        .await;
    wait_for_states(
        &s,
        &[("before-upgrade", "available"), ("nightly-1", "available")],
    )
    .await;
    assert_eq!(manual_snapshots(&rds).await.len(), 2);
    assert_eq!(
        snapshot_creates(&s).await,
        2,
        "one CreateDBSnapshot per name"
    );

    // Later passes (a new generation) take none again.
    let before = s.objects.get(DB).await.unwrap().metadata.generation;
    s.patch(json!({"spec": {"tags": {"team": "news", "poke": "1"}}}))
        .await;
    eventually("the new generation is handled", || async {
        let db = s.objects.get(DB).await.unwrap();
        db.metadata.generation > before
            && db.status.and_then(|status| status.observed_generation) == db.metadata.generation
    })
    .await;
    assert_eq!(snapshot_creates(&s).await, 2, "no snapshot requested twice");
    assert_eq!(manual_snapshots(&rds).await.len(), 2);
    s.op.stop().await;
}

#[tokio::test]
async fn a_snapshot_whose_create_response_was_lost_is_not_taken_again() {
    let db = ready_on_moto::<Rds>("db", &json!({})).await;
    let OnMoto {
        ctx, report: ready, ..
    } = &db;
    // The create reached RDS but its response was lost (or the operator restarted
    // before the next pass): RDS has the snapshot, nothing else knows of it.
    let id = format!("{}-snap-first", ready.id);
    take_snapshot(&ctx.rds, &ready.id, &id).await;
    let spec = Rds::spec(&json!({"snapshots": [{"name": "first"}]}));
    let pass = reconcile_once(ctx, "db", &spec).await;
    assert_eq!(pass.mutations, 0, "{pass:?}");
    assert!(matches!(pass.progress, Progress::Ready { .. }), "{pass:?}");
    let listed = pass.observed.snapshots.expect("the pass looked");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].db_snapshot_identifier(), Some(id.as_str()));
    assert_eq!(manual_snapshots(&ctx.rds).await.len(), 1);
}

/// The object `db` Ready on moto, and a DB snapshot named `<db's identifier><suffix>`
/// of the instance of another object; returns the three and the snapshot's name.
async fn with_another_instances_snapshot(suffix: &str) -> (OnMoto<Rds>, String, String) {
    let db = ready_on_moto::<Rds>("db", &json!({})).await;
    let other = reconcile_until_ready(&db.ctx, "other", &Rds::spec(&json!({}))).await;
    let taken = format!("{}{suffix}", db.report.id);
    take_snapshot(&db.ctx.rds, &other.id, &taken).await;
    (db, other.id, taken)
}

/// Checks that moto holds one manual snapshot, of the instance `of`, as it was made.
async fn assert_only_snapshot_is_of(rds: &aws_sdk_rds::Client, of: &str) {
    let snapshots = manual_snapshots(rds).await;
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0].db_instance_identifier(), Some(of));
}

/// Found from outside: another instance's snapshot held the identifier the request
/// would take. RDS' describe, filtered by this instance, did not list it, so every
/// pass asked for it again (`DBSnapshotAlreadyExists`, "taking snapshot" forever).
/// Now it is listed, shown as another resource's, and never asked for.
#[tokio::test]
async fn another_instances_snapshot_under_the_requested_identifier_is_said_and_never_asked_for() {
    let (db, other, taken) = with_another_instances_snapshot("-snap-first").await;
    let spec = Rds::spec(&json!({"snapshots": [{"name": "first"}]}));
    for _ in 0..2 {
        let pass = reconcile_once(&db.ctx, "db", &spec).await;
        assert_eq!(pass.mutations, 0, "never asked for: {pass:?}");
        let listed = pass.observed.snapshots.expect("the pass looked");
        assert_shows_another_resources_snapshot(&pass.progress, &listed, &taken);
    }
    assert_only_snapshot_is_of(&db.ctx.rds, &other).await;
}

/// Found from outside: a DB snapshot someone else took under the name of the final
/// snapshot made RDS refuse the deletion (`DBSnapshotAlreadyExists`), which the
/// finalizer read as "an earlier attempt got through": the object said "is deleting"
/// and sent DeleteDBInstance every pass, forever, while the instance ran. Now the
/// deletion is refused with what to do, and the instance and the snapshot are kept.
#[tokio::test]
async fn a_final_snapshot_name_held_by_another_snapshot_refuses_the_deletion_with_what_to_do() {
    let (db, other, final_name) = with_another_instances_snapshot("-final-20260102030405").await;
    let target = Target {
        owner: owner("db"),
        spec: &db.spec,
    };
    for _ in 0..2 {
        assert_final_snapshot_name_held(&db.ctx, &target, &final_name).await;
    }
    let instances = db
        .ctx
        .rds
        .describe_db_instances()
        .db_instance_identifier(&db.report.id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        instances.db_instances()[0].db_instance_status(),
        Some("available"),
        "RDS keeps the instance"
    );
    assert_only_snapshot_is_of(&db.ctx.rds, &other).await;
}

/// Issue 13 part 3: "Snapshots tiered took follow the deletion policy (kept with
/// `Snapshot` and `Retain`)": with `Snapshot` the requested snapshot stays, next to the
/// final snapshot. (With `Delete` it goes: `data_tier_controller`, for both kinds.)
#[tokio::test]
async fn snapshots_taken_on_request_stay_with_the_snapshot_policy() {
    let s = setup::<Rds>().await;
    s.create(&json!({"deletionPolicy": "Snapshot", "snapshots": [{"name": "keep-me"}]}))
        .await;
    let database = wait_for_states(&s, &[("keep-me", "available")]).await;
    let identifier = database.status.unwrap().identifier.unwrap();
    s.delete().await;
    s.wait_gone().await;
    let ids = snapshot_ids::<Rds>(&s.moto).await;
    let requested = format!("{identifier}-snap-keep-me");
    assert!(
        ids.contains(&requested),
        "the requested snapshot kept; left {ids:?}"
    );
    assert!(
        ids.iter()
            .any(|id| id.starts_with(&format!("{identifier}-final-"))),
        "next to the final snapshot: {ids:?}"
    );
    s.op.stop().await;
}

/// With `Delete`, only the snapshots this very object took go: one of the same
/// identifier that an earlier object of the same name took (another UID) stays.
#[tokio::test]
async fn a_predecessors_snapshot_is_not_deleted_with_the_delete_policy() {
    let s = setup::<Rds>().await;
    let spec = json!({"deletionPolicy": "Retain", "snapshots": [{"name": "before-upgrade"}]});
    s.create(&spec).await;
    let database = wait_for_states(&s, &[("before-upgrade", "available")]).await;
    let identifier = database.status.unwrap().identifier.unwrap();
    s.delete().await;
    s.wait_gone().await;
    // The instance is retained; delete it in AWS as an administrator would, then
    // create the object again, now with Delete.
    delete_instance_by_hand(&s.moto, &identifier).await;
    let rds = rds_client(&s.moto);
    s.create(&json!({"deletionPolicy": "Delete", "snapshots": [{"name": "before-upgrade"}]}))
        .await;
    s.wait_ready().await;
    s.delete().await;
    s.wait_gone().await;
    let ids: Vec<String> = manual_snapshots(&rds)
        .await
        .iter()
        .filter_map(|snapshot| snapshot.db_snapshot_identifier().map(str::to_owned))
        .collect();
    assert_eq!(
        ids,
        [format!("{identifier}-snap-before-upgrade")],
        "the predecessor's snapshot is not this object's to delete"
    );
    s.op.stop().await;
}
