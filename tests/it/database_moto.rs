//! The ManagedDatabase reconcile and cleanup against RDS in a private `moto_server`,
//! through the Rust SDK, where RDS differs from ElastiCache: drift of its own fields,
//! read replicas, the fleet read, the deletion policies that delete, deletion
//! protection, and the connection Secret's contents. What both kinds share is in
//! `data_tier_moto`.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_rds::types::{DbInstance, Tag};
use serde_json::Value;
use tiered::api::ManagedDatabaseSpec;
use tiered::api::conditions::reasons;
use tiered::aws::fleet::describe_cluster_instances;
use tiered::aws::tags;
use tiered::controllers::data_tier::cleanup::Cleanup;
use tiered::controllers::managed_database::Rds;
use tiered::controllers::managed_database::secret::{
    Credential, connection_details, connection_secret_data,
};

use support::data_tier::database::all_instances;
use support::data_tier::{
    Kind, OnMoto, assert_waited_on_final_snapshot, delete_until_done, ready_on_moto,
    reconcile_once, reconcile_until_ready, stalled_message,
};
use support::fixtures::CLUSTER;
use support::moto::MotoServer;

fn spec(extra: &Value) -> ManagedDatabaseSpec {
    Rds::spec(extra)
}

fn password() -> tiered::controllers::data_tier::secret::Password {
    Rds::credential()
}

async fn describe(ctx: &Rds, id: &str) -> Option<DbInstance> {
    support::data_tier::resource(ctx, id).await
}

fn tag<'a>(instance: &'a DbInstance, key: &str) -> Option<&'a str> {
    instance
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(Tag::value)
}

#[tokio::test]
async fn changing_class_and_storage_modifies_only_those_fields() {
    let db = ready_on_moto::<Rds>(
        "db",
        &serde_json::json!({"maintenanceWindow": "sun:05:00-sun:06:00"}),
    )
    .await;

    // Only class and storage change in the spec.
    let after = spec(&serde_json::json!({
        "maintenanceWindow": "sun:05:00-sun:06:00",
        "instanceClass": "db.t4g.small",
        "storage": {"allocatedGiB": 40, "type": "gp3"},
        "applyImmediately": true
    }));
    let instance = db
        .assert_modifies_only("db", &after, "instanceClass, allocatedStorage")
        .await;
    assert_eq!(instance.db_instance_class(), Some("db.t4g.small"));
    assert_eq!(instance.allocated_storage(), Some(40));
    assert_eq!(
        instance.multi_az(),
        Some(true),
        "untouched fields keep their values"
    );
}

#[tokio::test]
async fn read_replicas_follow_the_spec_up_and_down() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let two = spec(&serde_json::json!({"highAvailability": {"multiAZ": false, "readReplicas": 2}}));
    let report = reconcile_until_ready(&ctx, "db", &two).await;
    let id = report.id.clone();
    let replica_ids: Vec<&str> = report
        .observed
        .replicas
        .iter()
        .filter_map(DbInstance::db_instance_identifier)
        .collect();
    assert_eq!(replica_ids, [format!("{id}-r1"), format!("{id}-r2")]);
    for replica in &report.observed.replicas {
        assert_eq!(tag(replica, tags::NAME), Some("db"));
        assert_eq!(
            replica.read_replica_source_db_instance_identifier(),
            Some(id.as_str())
        );
    }

    let one = spec(&serde_json::json!({"highAvailability": {"multiAZ": false, "readReplicas": 1}}));
    let report = reconcile_until_ready(&ctx, "db", &one).await;
    assert_eq!(report.observed.replicas.len(), 1);
    assert!(
        describe(&ctx, &format!("{id}-r2")).await.is_none(),
        "the newest replica went first"
    );
    assert!(describe(&ctx, &format!("{id}-r1")).await.is_some());
}

#[tokio::test]
async fn replicas_without_backups_stall_as_invalid_spec_before_any_call() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let invalid = spec(&serde_json::json!({
        "highAvailability": {"readReplicas": 1}, "backup": {"retentionDays": 0}
    }));
    let report = reconcile_once(&ctx, "db", &invalid).await;
    let message = stalled_message(&report.progress, reasons::INVALID_SPEC);
    assert!(message.contains("spec.backup.retentionDays"), "{message}");
    assert!(all_instances(&ctx).await.is_empty());
}

#[tokio::test]
async fn the_fleet_read_holds_only_this_clusters_instances() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    reconcile_until_ready(&ctx, "db", &spec(&serde_json::json!({}))).await;
    ctx.create_untagged("legacy-db", &[]).await;
    let fleet = describe_cluster_instances(&ctx.rds, CLUSTER)
        .await
        .expect("fleet read");
    assert_eq!(fleet.len(), 1);
    assert!(
        fleet.keys().all(|id| id.starts_with("test-shop-db-")),
        "{:?}",
        fleet.keys()
    );
    assert!(
        describe_cluster_instances(&ctx.rds, "other")
            .await
            .expect("fleet read")
            .is_empty()
    );
}

async fn snapshots(ctx: &Rds) -> Vec<String> {
    let output = ctx
        .rds
        .describe_db_snapshots()
        .send()
        .await
        .expect("describe snapshots");
    output
        .db_snapshots()
        .iter()
        .filter(|snapshot| snapshot.snapshot_type() == Some("manual"))
        .filter_map(|snapshot| snapshot.db_snapshot_identifier().map(str::to_owned))
        .collect()
}

/// The object `db` with one read replica, Ready on a private moto_server.
async fn ready_with_a_replica() -> OnMoto<Rds> {
    ready_on_moto(
        "db",
        &serde_json::json!({"highAvailability": {"readReplicas": 1}}),
    )
    .await
}

#[tokio::test]
async fn snapshot_policy_deletes_replicas_then_the_instance_with_a_final_snapshot() {
    let db = ready_with_a_replica().await;
    let OnMoto {
        ctx, spec, report, ..
    } = &db;
    let steps = delete_until_done(ctx, "db", spec).await;
    let expected = assert_waited_on_final_snapshot(&steps, &report.id);
    assert!(all_instances(ctx).await.is_empty());
    assert_eq!(snapshots(ctx).await, [expected]);
}

#[tokio::test]
async fn delete_policy_deletes_without_a_snapshot() {
    let db = ready_on_moto::<Rds>("db", &serde_json::json!({"deletionPolicy": "Delete"})).await;
    delete_until_done(&db.ctx, "db", &db.spec).await;
    assert!(all_instances(&db.ctx).await.is_empty());
    assert!(snapshots(&db.ctx).await.is_empty());
}

#[tokio::test]
async fn deletion_protection_holds_deletion_and_deletes_nothing() {
    let db = ready_on_moto::<Rds>("db", &serde_json::json!({"deletionProtection": true})).await;
    let steps = delete_until_done(&db.ctx, "db", &db.spec).await;
    assert_eq!(steps, [Cleanup::Held]);
    assert!(describe(&db.ctx, &db.report.id).await.is_some());
}

#[tokio::test]
async fn connection_secret_carries_a_url_that_parses_back_to_the_parts() {
    let db = ready_with_a_replica().await;
    let OnMoto { spec, report, .. } = &db;
    let details = connection_details(spec, &report.observed, Credential::Generated(password()));
    let data = connection_secret_data(&details);
    let text = |key: &str| String::from_utf8(data[key].0.clone()).expect("utf-8");

    let host = report
        .observed
        .primary
        .as_ref()
        .and_then(|p| p.endpoint())
        .and_then(|e| e.address())
        .expect("host");
    assert_eq!(text("host"), host);
    assert_eq!(text("port"), "5432");
    assert_eq!(text("username"), "app");
    assert_eq!(text("database"), "newsread");
    assert_eq!(text("password"), password().expose());
    assert!(text("readerHost").contains("-r1"), "{}", text("readerHost"));

    let url = url::Url::parse(&text("url")).expect("url parses");
    assert_eq!(url.scheme(), "postgresql");
    assert_eq!(url.host_str(), Some(host));
    assert_eq!(url.port(), Some(5432));
    assert_eq!(url.username(), "app");
    let decoded = percent_encoding::percent_decode_str(url.password().expect("password"))
        .decode_utf8()
        .expect("utf-8");
    assert_eq!(decoded, password().expose());
    assert_eq!(url.path(), "/newsread");
}
