//! The ManagedDatabase controller of `tiered run`, in-process against the emulator and
//! a private `moto_server`, where it differs from the CacheCluster's: drift, deletion
//! with a final snapshot, deletion protection, AWS rejections, and password rotation
//! that rolls the tier using the database. What both kinds share is in
//! `data_tier_controller`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use aws_sdk_rds::types::DbInstance;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::json;
use tiered::api::ManagedDatabase;
use tiered::api::shared::RECONCILE_REQUESTED_AT_ANNOTATION;
use tiered::aws::tags::OWNERSHIP_KEYS;
use tiered::controllers::managed_database::Rds;

use support::data_tier::operator::{NS, Setup, condition, setup};
use support::data_tier::{Kind, resource};
use support::moto::{delete_instance_by_hand, ids_of, rds_client};
use support::operator::{
    events, eventually, eventually_event, has_event, http_get, mutating_aws_calls, secret_text,
};

const DB: &str = Rds::OBJECT;

fn identifier(database: &ManagedDatabase) -> String {
    database
        .status
        .as_ref()
        .and_then(|status| status.identifier.clone())
        .expect("identifier in status")
}

async fn instance(s: &Setup<Rds>, identifier: &str) -> Option<DbInstance> {
    resource(&Rds::on(&s.moto), identifier).await
}

/// The operator with a ManagedDatabase of `spec` created and Ready; its identifier.
async fn ready_database(spec: &serde_json::Value) -> (Setup<Rds>, String) {
    let s = setup::<Rds>().await;
    s.create(spec).await;
    let identifier = identifier(&s.wait_ready().await);
    (s, identifier)
}

/// Waits until the object is gone, then checks that its instance is too.
async fn assert_instance_deleted(s: &Setup<Rds>, identifier: &str) {
    s.wait_gone().await;
    assert!(instance(s, identifier).await.is_none(), "instance deleted");
}

fn is_ready(database: &ManagedDatabase) -> bool {
    condition::<Rds>(database, "Ready").is_some_and(|c| c.0 == "True")
}

#[tokio::test]
async fn changing_the_instance_class_modifies_the_instance() {
    let (s, identifier) = ready_database(&json!({})).await;
    s.patch(json!({"spec": {"instanceClass": "db.t4g.small"}}))
        .await;
    eventually("moto reports the new class", || async {
        instance(&s, &identifier)
            .await
            .is_some_and(|i| i.db_instance_class() == Some("db.t4g.small"))
    })
    .await;
    eventually("the status describes the new generation", || async {
        let db = s.objects.get(DB).await.unwrap();
        is_ready(&db) && db.status.unwrap().observed_generation == db.metadata.generation
    })
    .await;
    s.op.stop().await;
}

async fn final_snapshots(s: &Setup<Rds>) -> Vec<String> {
    let described = rds_client(&s.moto)
        .describe_db_snapshots()
        .send()
        .await
        .unwrap();
    let mut ids = ids_of(
        described.db_snapshots(),
        aws_sdk_rds::types::DbSnapshot::db_snapshot_identifier,
    );
    ids.retain(|id| id.contains("-final-"));
    ids
}

#[tokio::test]
async fn deleting_with_the_snapshot_policy_leaves_a_final_snapshot_and_the_object_goes() {
    let (s, identifier) = ready_database(&json!({})).await;
    s.delete().await;
    assert_instance_deleted(&s, &identifier).await;
    let snapshots = final_snapshots(&s).await;
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert!(snapshots[0].starts_with(&format!("{identifier}-final-")));
    assert_no_errors_counted(&s).await;
    s.op.stop().await;
}

/// Found by the lifecycle trial of session 10: a routine deletion (AWS still deleting,
/// or deletionProtection holding it) was counted in `tiered_reconcile_errors_total`
/// (category `deletion_pending`), so an alert on its rate fired on every deletion.
async fn assert_no_errors_counted(s: &Setup<Rds>) {
    let (_, metrics) = http_get(s.op.http, "/metrics").await;
    let errors: Vec<&str> = (metrics.lines())
        .filter(|line| line.starts_with("tiered_reconcile_errors_total{"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn deletion_protection_holds_deletion_until_it_is_turned_off() {
    let (s, identifier) = ready_database(&json!({"deletionProtection": true})).await;
    s.delete().await;
    eventually(
        "deletion is held with a condition saying how to release it",
        || async {
            s.objects.get(DB).await.is_ok_and(|db| {
                condition::<Rds>(&db, "Stalled").is_some_and(|c| {
                    c.0 == "True" && c.1 == "DeletionProtected" && c.2.contains("set it to false")
                })
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(instance(&s, &identifier).await.is_some(), "nothing deleted");
    assert!(s.objects.get_opt(DB).await.unwrap().is_some());
    assert_no_errors_counted(&s).await;

    s.patch(json!({"spec": {"deletionProtection": false}}))
        .await;
    assert_instance_deleted(&s, &identifier).await;
    assert_eq!(final_snapshots(&s).await.len(), 1);
    s.op.stop().await;
}

#[tokio::test]
async fn input_aws_rejects_is_stalled_with_the_aws_message() {
    let s = setup::<Rds>().await;
    s.create(&json!({"network": {"subnetGroupName": "no-such-group"}}))
        .await;
    eventually("Stalled with AWS' message", || async {
        s.objects.get(DB).await.is_ok_and(|db| {
            condition::<Rds>(&db, "Stalled").is_some_and(|c| {
                c.0 == "True" && c.1 == "AwsInvalidRequest" && c.2.contains("no-such-group")
            }) && condition::<Rds>(&db, "Ready").is_some_and(|c| c.0 == "False")
        })
    })
    .await;
    s.op.stop().await;
}

fn secret_hash(deployment: &Deployment) -> Option<String> {
    deployment
        .spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get("tiered.io/secret-hash")
        .cloned()
}

#[tokio::test]
async fn a_password_rotation_reaches_the_secret_once_and_rolls_the_tier_using_it() {
    let s = setup::<Rds>().await;
    let deployments: Api<Deployment> = Api::namespaced(s.op.client.clone(), NS);
    let first_hash = secret_hash(&s.tier_waits_then_rolls_out().await).expect("a secret hash");
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let secret_name = format!("{DB}-connection");
    let old_password = secret_text(&secrets.get(&secret_name).await.unwrap())["password"].clone();
    let before_rotation = mutating_aws_calls(s.op.http).await;

    // Asks for a rotation: RDS gets a ModifyDBInstance, the Secret (and its url) the
    // new password, status the handled value, and the Deployment a new hash.
    s.patch(json!({"metadata": {"annotations": {"tiered.io/rotate-password": "2025-01-01"}}}))
        .await;
    eventually("the rotation is recorded in status", || async {
        s.objects
            .get(DB)
            .await
            .is_ok_and(|db| db.status.unwrap().password_rotation.as_deref() == Some("2025-01-01"))
    })
    .await;
    let data = secret_text(&secrets.get(&secret_name).await.unwrap());
    assert_ne!(
        data["password"], old_password,
        "the Secret has a new password"
    );
    let url = url::Url::parse(&data["url"]).expect("the url parses");
    let in_url = percent_encoding::percent_decode_str(url.password().unwrap())
        .decode_utf8()
        .unwrap();
    assert_eq!(in_url, data["password"], "the url carries the new password");
    assert!(
        mutating_aws_calls(s.op.http).await > before_rotation,
        "ModifyDBInstance set the new password"
    );
    eventually("the Deployment rolls with a new secret hash", || async {
        deployments
            .get("newsread-api")
            .await
            .is_ok_and(|d| secret_hash(&d).is_some_and(|h| h != first_hash))
    })
    .await;

    // Handled once: the next resyncs do not rotate again.
    let after = secret_text(&secrets.get(&secret_name).await.unwrap())["password"].clone();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = secret_text(&secrets.get(&secret_name).await.unwrap())["password"].clone();
    assert_eq!(after, later, "a handled rotation request is not repeated");
    s.op.stop().await;
}

/// Found by the outside trial of session 16: an instance deleted outside tiered (in
/// the console, say) was created anew, empty, and the object went back to Ready with
/// nothing said. The new instance is still created (the spec asks for one), and a
/// Warning Event `Recreated`, sent before the create, says that the deleted one's data
/// is not in it; the first creation sends no such Event.
#[tokio::test]
async fn an_instance_deleted_outside_tiered_is_created_anew_with_a_warning_event() {
    let (s, identifier) = ready_database(&json!({})).await;
    let recreated = || async {
        has_event(
            &events(&s.op.client, NS).await,
            "Warning",
            "Recreated",
            &format!("{identifier} "),
        )
    };
    assert!(
        !recreated().await,
        "no Recreated Event for the first creation"
    );
    delete_instance_by_hand(&s.moto, &identifier).await;
    s.patch(json!({"metadata": {"annotations": {RECONCILE_REQUESTED_AT_ANNOTATION: "1"}}}))
        .await;
    eventually("a Recreated Warning Event names the instance", recreated).await;
    eventually("the instance is there again", || async {
        instance(&s, &identifier).await.is_some()
    })
    .await;
    s.wait_ready().await;
    s.op.stop().await;
}

/// Found by the outside trial of session 17: an instance whose ownership tags someone
/// stripped outlived its object's deletion (rightly: tiered deletes only what is tagged
/// as the object's) with only a log line to say so. Now a Warning Event says it is left
/// in AWS, not deleted and without a final snapshot.
#[tokio::test]
async fn an_instance_no_longer_tagged_as_ours_is_left_in_aws_with_a_warning_event() {
    let (s, identifier) = ready_database(&json!({})).await;
    let arn = instance(&s, &identifier)
        .await
        .and_then(|i| i.db_instance_arn().map(str::to_owned))
        .expect("an ARN");
    rds_client(&s.moto)
        .remove_tags_from_resource()
        .resource_name(arn)
        .set_tag_keys(Some(
            OWNERSHIP_KEYS.iter().map(ToString::to_string).collect(),
        ))
        .send()
        .await
        .unwrap();
    s.delete().await;
    s.wait_gone().await;
    eventually_event(
        "a Warning says the instance is left in AWS",
        &s.op.client,
        NS,
        "Warning",
        "OwnedElsewhere",
        &format!("DB instance {identifier} is left in AWS as it is"),
    )
    .await;
    assert!(instance(&s, &identifier).await.is_some(), "not deleted");
    s.op.stop().await;
}
