//! The ManagedDatabase controller of `tiered run`, in-process against the emulator and
//! a private `moto_server`: create (finalizer, tagged instance, connection Secret,
//! status), zero writes when converged, drift, deletion with a snapshot, deletion
//! protection, AWS rejections, password rotation, and a TieredApp tier that waits for
//! its database and rolls when the credentials rotate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_rds::types::DbInstance;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::moto::{MotoServer, aws_config, rds_client};
use support::operator::{
    Running, app_using, assert_converged, env_from_secret, eventually, find_condition,
    mutating_aws_calls, secret_text, start_with_aws, wait_for_app_reason,
};
use tiered::api::{ManagedDatabase, TieredApp};
use tiered::aws::tags;

const NS: &str = "shop";
const DB: &str = "shop-db";

fn database(extra: &serde_json::Value) -> ManagedDatabase {
    let mut spec = json!({
        "engine": "postgres",
        "engineVersion": "16.4",
        "instanceClass": "db.t4g.micro",
        "storage": {"allocatedGiB": 20, "type": "gp3"},
        "databaseName": "newsread",
        "masterUsername": "app",
        "backup": {"retentionDays": 7},
        "applyImmediately": true,
        "tags": {"team": "news"}
    });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "tiered.io/v1alpha1",
        "kind": "ManagedDatabase",
        "metadata": {"name": DB, "namespace": NS},
        "spec": spec,
    }))
    .unwrap()
}

struct Setup {
    op: Running,
    moto: MotoServer,
    databases: Api<ManagedDatabase>,
}

async fn setup() -> Setup {
    let moto = MotoServer::start();
    let op = start_with_aws(&[NS], &aws_config(&moto)).await;
    let databases = Api::namespaced(op.client.clone(), NS);
    Setup {
        op,
        moto,
        databases,
    }
}

/// `(status, reason, message)` of condition `type_`.
fn condition(database: &ManagedDatabase, type_: &str) -> Option<(String, String, String)> {
    find_condition(&database.status.as_ref()?.conditions, type_)
}

fn is_ready(database: &ManagedDatabase) -> bool {
    condition(database, "Ready").is_some_and(|c| c.0 == "True")
}

async fn wait_ready(s: &Setup) -> ManagedDatabase {
    eventually("the ManagedDatabase is Ready", || async {
        s.databases.get(DB).await.is_ok_and(|db| is_ready(&db))
    })
    .await;
    s.databases.get(DB).await.unwrap()
}

async fn instance(s: &Setup, identifier: &str) -> Option<DbInstance> {
    tiered::aws::fleet::describe_instance(&rds_client(&s.moto), identifier)
        .await
        .unwrap()
}

fn tag<'a>(instance: &'a DbInstance, key: &str) -> Option<&'a str> {
    instance
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

#[tokio::test]
async fn a_database_gets_a_finalizer_a_tagged_instance_a_connection_secret_and_ready_status() {
    let s = setup().await;
    // Every version of the object the watch sees, to check the first status write.
    let seen = Arc::new(Mutex::new(Vec::<ManagedDatabase>::new()));
    let recorder = Arc::clone(&seen);
    let watch = watcher(s.databases.clone(), watcher::Config::default())
        .applied_objects()
        .for_each(move |object| {
            if let Ok(object) = object {
                recorder.lock().unwrap().push(object);
            }
            async {}
        });
    let watch = tokio::spawn(watch);
    tokio::time::sleep(Duration::from_millis(200)).await;

    s.databases
        .create(&PostParams::default(), &database(&json!({})))
        .await
        .unwrap();
    let db = wait_ready(&s).await;
    watch.abort();

    assert!(db.finalizers().contains(&"tiered.io/database".to_owned()));
    let status = db.status.clone().unwrap();
    let identifier = status.identifier.clone().unwrap();
    let endpoint = status.endpoint.clone().expect("endpoint in status");
    assert_eq!(endpoint.port, 5432);
    assert_eq!(status.observed_generation, db.metadata.generation);
    assert_eq!(
        status.connection_secret.as_deref(),
        Some("shop-db-connection")
    );

    let found = instance(&s, &identifier).await.expect("instance in moto");
    assert_eq!(tag(&found, tags::CLUSTER), Some("test"));
    assert_eq!(tag(&found, tags::NAMESPACE), Some(NS));
    assert_eq!(tag(&found, tags::NAME), Some(DB));
    assert_eq!(tag(&found, tags::UID), db.uid().as_deref());
    assert_eq!(tag(&found, "team"), Some("news"));

    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let secret = secrets.get("shop-db-connection").await.unwrap();
    assert_eq!(
        secret.owner_references()[0].uid,
        db.uid().unwrap(),
        "the Secret is owned by the ManagedDatabase"
    );
    let data = secret_text(&secret);
    assert_eq!(data["host"], endpoint.address);
    assert_eq!(data["port"], "5432");
    assert_eq!(data["username"], "app");
    assert_eq!(data["database"], "newsread");
    assert_eq!(data["password"].len(), 32);
    let url = url::Url::parse(&data["url"]).expect("the url parses");
    assert_eq!(url.scheme(), "postgresql");
    assert_eq!(url.host_str(), Some(endpoint.address.as_str()));
    assert_eq!(url.path(), "/newsread");

    let with_status: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|object| object.status.is_some())
        .cloned()
        .collect();
    assert!(!with_status.is_empty(), "the watch saw the status");
    for version in &with_status {
        for type_ in ["Ready", "Reconciling", "Stalled"] {
            assert!(
                condition(version, type_).is_some(),
                "{type_} is in every status written, also the first: {:?}",
                version.status
            );
        }
    }
    s.op.stop().await;
}

#[tokio::test]
async fn a_converged_database_makes_zero_kubernetes_writes_and_zero_mutating_aws_calls() {
    let s = setup().await;
    s.databases
        .create(&PostParams::default(), &database(&json!({})))
        .await
        .unwrap();
    wait_ready(&s).await;
    let after = assert_converged(&s.op, "manageddatabase").await;
    assert!(
        support::operator::metric(
            &after,
            "tiered_aws_calls_total{service=\"rds\",operation=\"DescribeDBInstances\"}"
        ) >= 2.0,
        "AWS calls are counted by operation: {after}"
    );
    s.op.stop().await;
}

#[tokio::test]
async fn changing_the_instance_class_modifies_the_instance() {
    let s = setup().await;
    s.databases
        .create(&PostParams::default(), &database(&json!({})))
        .await
        .unwrap();
    let db = wait_ready(&s).await;
    let identifier = db.status.unwrap().identifier.unwrap();
    s.databases
        .patch(
            DB,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"instanceClass": "db.t4g.small"}})),
        )
        .await
        .unwrap();
    eventually("moto reports the new class", || async {
        instance(&s, &identifier)
            .await
            .is_some_and(|i| i.db_instance_class() == Some("db.t4g.small"))
    })
    .await;
    eventually("the status describes the new generation", || async {
        let db = s.databases.get(DB).await.unwrap();
        is_ready(&db) && db.status.unwrap().observed_generation == db.metadata.generation
    })
    .await;
    s.op.stop().await;
}

async fn final_snapshots(s: &Setup) -> Vec<String> {
    rds_client(&s.moto)
        .describe_db_snapshots()
        .send()
        .await
        .unwrap()
        .db_snapshots()
        .iter()
        .filter_map(|snapshot| snapshot.db_snapshot_identifier().map(str::to_owned))
        .filter(|id| id.contains("-final-"))
        .collect()
}

#[tokio::test]
async fn deleting_with_the_snapshot_policy_leaves_a_final_snapshot_and_the_object_goes() {
    let s = setup().await;
    s.databases
        .create(&PostParams::default(), &database(&json!({})))
        .await
        .unwrap();
    let identifier = wait_ready(&s).await.status.unwrap().identifier.unwrap();
    s.databases
        .delete(DB, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the object is gone", || async {
        s.databases.get_opt(DB).await.unwrap().is_none()
    })
    .await;
    assert!(
        instance(&s, &identifier).await.is_none(),
        "instance deleted"
    );
    let snapshots = final_snapshots(&s).await;
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert!(snapshots[0].starts_with(&format!("{identifier}-final-")));
    s.op.stop().await;
}

#[tokio::test]
async fn deletion_protection_holds_deletion_until_it_is_turned_off() {
    let s = setup().await;
    s.databases
        .create(
            &PostParams::default(),
            &database(&json!({"deletionProtection": true})),
        )
        .await
        .unwrap();
    let identifier = wait_ready(&s).await.status.unwrap().identifier.unwrap();
    s.databases
        .delete(DB, &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "deletion is held with a condition saying how to release it",
        || async {
            s.databases.get(DB).await.is_ok_and(|db| {
                condition(&db, "Stalled").is_some_and(|c| {
                    c.0 == "True" && c.1 == "DeletionProtected" && c.2.contains("set it to false")
                })
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(instance(&s, &identifier).await.is_some(), "nothing deleted");
    assert!(s.databases.get_opt(DB).await.unwrap().is_some());

    s.databases
        .patch(
            DB,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deletionProtection": false}})),
        )
        .await
        .unwrap();
    eventually("the object is gone", || async {
        s.databases.get_opt(DB).await.unwrap().is_none()
    })
    .await;
    assert!(
        instance(&s, &identifier).await.is_none(),
        "instance deleted"
    );
    assert_eq!(final_snapshots(&s).await.len(), 1);
    s.op.stop().await;
}

#[tokio::test]
async fn input_aws_rejects_is_stalled_with_the_aws_message() {
    let s = setup().await;
    s.databases
        .create(
            &PostParams::default(),
            &database(&json!({"network": {"subnetGroupName": "no-such-group"}})),
        )
        .await
        .unwrap();
    eventually("Stalled with AWS' message", || async {
        s.databases.get(DB).await.is_ok_and(|db| {
            condition(&db, "Stalled").is_some_and(|c| {
                c.0 == "True" && c.1 == "AwsInvalidRequest" && c.2.contains("no-such-group")
            }) && condition(&db, "Ready").is_some_and(|c| c.0 == "False")
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

/// Asks for a rotation and checks it: RDS got a ModifyDBInstance, the Secret (and its
/// url) the new password, status the handled value, and the Deployment a new hash.
async fn rotate_password_and_wait_for_the_roll(
    s: &Setup,
    deployments: &Api<Deployment>,
    first_hash: &str,
) {
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let old_password =
        secret_text(&secrets.get("shop-db-connection").await.unwrap())["password"].clone();
    let before_rotation = mutating_aws_calls(s.op.http).await;
    s.databases
        .patch(
            DB,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"tiered.io/rotate-password": "2025-01-01"}}}),
            ),
        )
        .await
        .unwrap();
    eventually("the rotation is recorded in status", || async {
        s.databases
            .get(DB)
            .await
            .is_ok_and(|db| db.status.unwrap().password_rotation.as_deref() == Some("2025-01-01"))
    })
    .await;
    let data = secret_text(&secrets.get("shop-db-connection").await.unwrap());
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
}

#[tokio::test]
async fn a_tier_waits_for_its_database_then_gets_its_secret_and_rolls_when_the_password_rotates() {
    let s = setup().await;
    let apps: Api<TieredApp> = Api::namespaced(s.op.client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(s.op.client.clone(), NS);
    apps.create(&PostParams::default(), &app_using(NS, "database", DB))
        .await
        .unwrap();
    wait_for_app_reason(&apps, "newsread", "WaitingForDatabase").await;
    assert!(
        deployments.get_opt("newsread-api").await.unwrap().is_none(),
        "the tier is not rolled out before its database is Ready"
    );

    s.databases
        .create(&PostParams::default(), &database(&json!({})))
        .await
        .unwrap();
    wait_ready(&s).await;
    eventually("the tier rolls out with a secret hash", || async {
        deployments
            .get_opt("newsread-api")
            .await
            .unwrap()
            .is_some_and(|d| secret_hash(&d).is_some())
    })
    .await;
    let deployment = deployments.get("newsread-api").await.unwrap();
    assert_eq!(
        env_from_secret(&deployment, "DATABASE_URL"),
        ("shop-db-connection".to_owned(), "url".to_owned())
    );
    let first_hash = secret_hash(&deployment).unwrap();

    rotate_password_and_wait_for_the_roll(&s, &deployments, &first_hash).await;

    // Handled once: the next resyncs do not rotate again.
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let after = secret_text(&secrets.get("shop-db-connection").await.unwrap())["password"].clone();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = secret_text(&secrets.get("shop-db-connection").await.unwrap())["password"].clone();
    assert_eq!(after, later, "a handled rotation request is not repeated");
    s.op.stop().await;
}
