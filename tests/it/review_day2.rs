//! An outside review of the day-2 and disaster-recovery features (wt-review), first
//! part: ownership of parameter groups and snapshots, and restores. Each test
//! here is a fault found by trying inputs the authors' tests do not, written to fail on
//! the main of 2026-11-30 and to pass once the fault is fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use kube::ResourceExt;
use serde_json::json;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;

use support::aws_reads::{db_snapshot, instance, parameter_values, rds_tags};
use support::data_tier::Kind;
use support::data_tier::operator::{NS, condition, setup};
use support::day2::{create_named, ready_of, wait_ready_named, wait_snapshots_available};
use support::moto::{MotoServer, rds_client};

/// The AWS id of the object `name` (cluster `test`, namespace [`NS`]).
fn aws_id(name: &str) -> String {
    tiered::aws::naming::rds_instance_identifier("test", NS, name)
}

/// Creates, as an administrator would (no tiered tags), the DB parameter group named
/// like the one tiered makes for the object `db` (`<identifier>-postgres16`), with
/// `max_connections` 50; returns its name.
async fn dbas_group(rds: &aws_sdk_rds::Client) -> String {
    let group = format!("{}-postgres16", aws_id("db"));
    rds.create_db_parameter_group()
        .db_parameter_group_name(&group)
        .db_parameter_group_family("postgres16")
        .description("the DBA's own group")
        .send()
        .await
        .unwrap();
    rds.modify_db_parameter_group()
        .db_parameter_group_name(&group)
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("max_connections")
                .parameter_value("50")
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .unwrap();
    group
}

/// A private moto holding the administrator's group of [`dbas_group`]: the
/// controller's context and an RDS client on it, and the group's name.
async fn with_dbas_group() -> (MotoServer, Rds, aws_sdk_rds::Client, String) {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let rds = rds_client(&server);
    let group = dbas_group(&rds).await;
    (server, ctx, rds, group)
}

/// Passes of the object `db` with `spec` until Ready or Stalled (at most six); how the
/// last one ended.
async fn passes(ctx: &Rds, spec: &tiered::api::ManagedDatabaseSpec) -> String {
    let mut last = String::new();
    for _ in 0..6 {
        let report = support::data_tier::reconcile_once(ctx, "db", spec).await;
        last = format!("{:?}", report.progress);
        if matches!(
            report.progress,
            Progress::Ready { .. } | Progress::Stalled { .. }
        ) {
            break;
        }
    }
    last
}

/// DESIGN.md "Ownership": tiered writes only what it controls. A DB parameter group
/// named like the one tiered would make (`<identifier>-postgres16`) that an
/// administrator made (no tiered tags) is taken over: its parameters are changed and it
/// is attached to the instance. `group_exists` looks at the name only, never at the
/// group's tags. Expected: left untouched and reported (Stalled, as a name conflict).
#[tokio::test]
async fn a_parameter_group_of_our_name_that_is_not_ours_is_not_changed() {
    let (_server, ctx, rds, group) = with_dbas_group().await;
    let spec = Rds::spec(&json!({"parameters": {"max_connections": "200"}}));
    let last = passes(&ctx, &spec).await;
    let values = parameter_values(&rds, &group, None).await;
    assert_eq!(
        values.get("max_connections").map(String::as_str),
        Some("50"),
        "the DBA's group was changed by tiered (last pass: {last})"
    );
}

/// DESIGN.md "Deletion": "nothing the operator did not create or adopt is ever
/// deleted". The same administrator's group (no tiered tags) is deleted with the
/// instance: `delete_parameter_groups` picks groups by name and family only.
#[tokio::test]
async fn a_parameter_group_of_our_name_that_is_not_ours_is_not_deleted() {
    let (_server, ctx, rds, group) = with_dbas_group().await;
    let spec = Rds::spec(&json!({
        "parameters": {"max_connections": "200"},
        "deletionPolicy": "Delete"
    }));
    let last = passes(&ctx, &spec).await;
    let steps = support::data_tier::delete_until_done(&ctx, "db", &spec).await;
    let left: Vec<String> = rds
        .describe_db_parameter_groups()
        .send()
        .await
        .unwrap()
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name().map(str::to_owned))
        .collect();
    assert!(
        left.contains(&group),
        "tiered deleted a parameter group it did not create: left {left:?}, last pass \
         {last}, cleanup {steps:?}"
    );
}

/// README "Snapshots on demand": `<identifier>-snap-<name>` is taken once. The
/// identifier is deterministic from cluster, namespace and name, so a ManagedDatabase
/// deleted and created again under the same name with the same snapshot name finds
/// the snapshot of the *previous* instance (tagged with the old object's uid) and
/// reports it as its own, `available`: a restore "from before-upgrade" of the new
/// database would bring back the old database's data. Expected: either a snapshot of
/// the new instance, or a condition saying the name is taken by another object's
/// snapshot; never the old one shown as this object's.
#[tokio::test]
async fn a_recreated_database_does_not_report_its_predecessors_snapshot_as_its_own() {
    let s = setup::<Rds>().await;
    let spec = json!({"deletionPolicy": "Delete", "snapshots": [{"name": "before-upgrade"}]});
    s.create(&spec).await;
    let first = s.wait_ready().await;
    wait_snapshots_available::<Rds>(&s.objects, Rds::OBJECT, 1).await;
    s.delete().await;
    s.wait_gone().await;

    s.create(&spec).await;
    let second = s.wait_ready().await;
    assert_ne!(first.uid(), second.uid(), "a new object");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let second = s.objects.get(Rds::OBJECT).await.unwrap();
    let listed = second.status.as_ref().unwrap().snapshots.clone();
    let rds = rds_client(&s.moto);
    for snap in listed.iter().filter(|snap| snap.state == "available") {
        let tags = rds_tags(db_snapshot(&rds, &snap.identifier).await.tag_list());
        assert_eq!(
            tags.get("tiered.io/uid"),
            second.uid().as_ref(),
            "status.snapshots of the new object reports {} as available, but it is the \
             snapshot of the deleted predecessor (tags {tags:?}); status {listed:?}",
            snap.identifier
        );
    }
    s.op.stop().await;
}

/// deploy/examples/tuned-db.yaml as its header says to use it: one `kubectl apply` of
/// a database that takes the snapshot `before-upgrade` and of a copy restored from that
/// snapshot. The copy's first RestoreDBInstanceFromDBSnapshot meets
/// `DBSnapshotNotFound` (the snapshot is not taken yet), which tiered reports as
/// `Stalled` ("AwsInvalidRequest … fix the spec", no field named) and looks at again
/// only after the 10-minute stalled requeue, although the spec is right and the
/// snapshot exists seconds later. Expected: a missing restore source is waited for
/// (Reconciling, like `replicaOf`'s SourceNotReady), and the copy is Ready soon after
/// the snapshot is.
#[tokio::test]
async fn a_copy_restored_from_a_snapshot_applied_with_its_source_becomes_ready() {
    let s = setup::<Rds>().await;
    // The copy first (kubectl apply order within a file is not a promise).
    let snapshot = format!("{}-snap-before-upgrade", aws_id(Rds::OBJECT));
    create_named::<Rds>(
        &s.objects,
        "copy",
        &json!({
            "restoreFrom": {"dbSnapshotIdentifier": snapshot},
            "deletionPolicy": "Delete"
        }),
    )
    .await;
    support::operator::eventually("the copy reports its first pass", || async {
        s.objects
            .get("copy")
            .await
            .is_ok_and(|db| ready_of::<Rds>(&db).is_some())
    })
    .await;
    let first = ready_of::<Rds>(&s.objects.get("copy").await.unwrap());
    s.create(&json!({"snapshots": [{"name": "before-upgrade"}]}))
        .await;
    wait_snapshots_available::<Rds>(&s.objects, Rds::OBJECT, 1).await;
    // The snapshot exists: within 30 s (resync 1 s) the copy must get going.
    wait_ready_named::<Rds>(
        &s.objects,
        "copy",
        Duration::from_secs(30),
        &format!("30 s after its snapshot exists (its first pass said {first:?})"),
    )
    .await;
    s.op.stop().await;
}

/// docs/disaster-recovery.md and README: a restored (or replica) instance must have the
/// spec's `masterUsername` and `databaseName`; otherwise `Stalled` on the field, whose
/// message said `set masterUsername to it`. But both fields are immutable in the CRD
/// (`masterUsername is immutable`), so the advice could not be followed: the API server
/// refused the patch, and the restored instance (already created, paid for) could only
/// go by deleting the object. Expected (the review's alternative, chosen): the check runs
/// before the restore, nothing is created, and the condition says what really can be
/// done (create the object again with the source's value), not to patch an immutable
/// field.
#[tokio::test]
async fn the_advice_of_a_restore_stalled_on_its_master_user_can_be_followed() {
    let s = setup::<Rds>().await;
    s.create(&json!({})).await;
    s.wait_ready().await;
    create_named::<Rds>(
        &s.objects,
        "copy",
        &json!({
            "restoreFrom": {"sourceDBInstanceIdentifier": aws_id(Rds::OBJECT), "useLatestRestorableTime": true},
            "masterUsername": "admin",
            "deletionPolicy": "Delete"
        }),
    )
    .await;
    support::operator::eventually("the copy is Stalled on masterUsername", || async {
        s.objects.get("copy").await.is_ok_and(|db| {
            condition::<Rds>(&db, "Stalled").is_some_and(|(status, _, message)| {
                status == "True" && message.contains("masterUsername")
            })
        })
    })
    .await;
    let (_, _, said) = condition::<Rds>(&s.objects.get("copy").await.unwrap(), "Stalled").unwrap();
    assert!(
        said.contains("create it again with masterUsername: app"),
        "the advice must be one that can be followed (masterUsername is immutable): {said}"
    );
    // Checked before the restore: no instance was made under a spec that cannot
    // describe it.
    let found = instance(&rds_client(&s.moto), &aws_id("copy")).await;
    assert!(
        found.is_none(),
        "the copy was restored although its spec cannot describe it: {found:?}"
    );
    // The field itself cannot be patched in place.
    let followed = s
        .objects
        .patch(
            "copy",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"masterUsername": "app"}})),
        )
        .await;
    assert!(
        followed.is_err(),
        "masterUsername is creation-only (CEL), which is why the advice is to create again"
    );
    s.op.stop().await;
}
