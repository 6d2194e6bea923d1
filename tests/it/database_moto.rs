//! The ManagedDatabase reconcile and cleanup against RDS in a private `moto_server`,
//! through the Rust SDK: create, drift correction, replicas, deletion policies,
//! adoption and its guard, crash safety, and the connection Secret's contents.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_rds::types::{DbInstance, Tag};
use k8s_openapi::jiff::Timestamp;
use tiered::api::ManagedDatabaseSpec;
use tiered::api::conditions::reasons;
use tiered::aws::fleet::{Fleet, describe_cluster_instances};
use tiered::aws::tags;
use tiered::controllers::data_tier::cleanup::{Cleanup, cleanup};
use tiered::controllers::data_tier::reconcile::{self, Target, sync};
use tiered::controllers::data_tier::secret::Password;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;
use tiered::controllers::managed_database::secret::{
    Credential, connection_details, connection_secret_data,
};
use tiered::controllers::managed_database::status::Report;

use support::fixtures::{CLUSTER, deletion_time, owner, spec_from};
use support::moto::{MotoServer, rds_client};

fn spec(extra: &serde_json::Value) -> ManagedDatabaseSpec {
    spec_from(
        serde_json::json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20, "type": "gp3"},
            "highAvailability": {"multiAZ": true, "readReplicas": 0},
            "databaseName": "newsread",
            "masterUsername": "app",
            "backup": {"retentionDays": 7},
            "tags": {"team": "news"}
        }),
        extra,
    )
}

fn context(server: &MotoServer) -> Rds {
    Rds {
        rds: rds_client(server),
        fleet: None,
        adoption_namespaces: None,
    }
}

fn password() -> Password {
    Password::from_secret_value("Not-a-real-secret-0123456789%:#".into())
}

async fn reconcile_once(ctx: &Rds, name: &str, spec: &ManagedDatabaseSpec) -> Report {
    let password = password();
    let target = Target {
        owner: owner(name),
        spec,
    };
    sync(
        ctx,
        &target,
        reconcile::Credential {
            value: Some(&password),
            is_new: false,
        },
    )
    .await
}

/// Reconciles until Ready (at most 6 rounds), returning the last report.
async fn reconcile_until_ready(ctx: &Rds, name: &str, spec: &ManagedDatabaseSpec) -> Report {
    let mut report = reconcile_once(ctx, name, spec).await;
    for _ in 0..5 {
        if matches!(report.progress, Progress::Ready { .. }) {
            return report;
        }
        report = reconcile_once(ctx, name, spec).await;
    }
    panic!("not ready after 6 rounds: {:?}", report.progress);
}

async fn describe(ctx: &Rds, id: &str) -> Option<DbInstance> {
    tiered::aws::fleet::describe_instance(&ctx.rds, id)
        .await
        .expect("describe failed")
}

async fn all_instances(ctx: &Rds) -> Vec<DbInstance> {
    ctx.rds
        .describe_db_instances()
        .send()
        .await
        .expect("describe failed")
        .db_instances()
        .to_vec()
}

fn tag<'a>(instance: &'a DbInstance, key: &str) -> Option<&'a str> {
    instance
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(Tag::value)
}

#[tokio::test]
async fn reconcile_creates_a_tagged_instance_with_the_spec_settings_and_then_makes_no_calls() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({}));

    let report = reconcile_once(&ctx, "db", &spec).await;
    assert_eq!(
        report.progress,
        Progress::Ready {
            message: String::new()
        },
        "moto is available at once"
    );
    let instance = describe(&ctx, &report.id).await.expect("instance created");
    assert_eq!(instance.db_instance_class(), Some("db.t4g.micro"));
    assert_eq!(instance.allocated_storage(), Some(20));
    assert_eq!(instance.multi_az(), Some(true));
    assert_eq!(instance.engine(), Some("postgres"));
    assert_eq!(tag(&instance, tags::CLUSTER), Some(CLUSTER));
    assert_eq!(tag(&instance, tags::NAMESPACE), Some("shop"));
    assert_eq!(tag(&instance, tags::NAME), Some("db"));
    assert_eq!(tag(&instance, tags::UID), Some("uid-db"));
    assert_eq!(tag(&instance, "team"), Some("news"));

    let again = reconcile_once(&ctx, "db", &spec).await;
    assert_eq!(
        again.mutations, 0,
        "a converged object makes no mutating AWS call"
    );
    assert_eq!(
        again.progress,
        Progress::Ready {
            message: String::new()
        }
    );
}

#[tokio::test]
async fn changing_class_and_storage_modifies_only_those_fields() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let before = spec(&serde_json::json!({"maintenanceWindow": "sun:05:00-sun:06:00"}));
    let report = reconcile_until_ready(&ctx, "db", &before).await;

    // Only class and storage change in the spec.
    let after = spec(&serde_json::json!({
        "maintenanceWindow": "sun:05:00-sun:06:00",
        "instanceClass": "db.t4g.small",
        "storage": {"allocatedGiB": 40, "type": "gp3"},
        "applyImmediately": true
    }));
    let modified = reconcile_once(&ctx, "db", &after).await;
    match &modified.progress {
        Progress::InProgress { message, .. } => {
            assert!(
                message.ends_with("instanceClass, allocatedStorage"),
                "{message}"
            );
        }
        other => panic!("expected a modification, got {other:?}"),
    }
    let instance = describe(&ctx, &report.id).await.expect("instance");
    assert_eq!(instance.db_instance_class(), Some("db.t4g.small"));
    assert_eq!(instance.allocated_storage(), Some(40));
    assert_eq!(
        instance.multi_az(),
        Some(true),
        "untouched fields keep their values"
    );

    let settled = reconcile_once(&ctx, "db", &after).await;
    assert_eq!(settled.mutations, 0);
    assert!(
        matches!(settled.progress, Progress::Ready { .. }),
        "{:?}",
        settled.progress
    );
}

#[tokio::test]
async fn shrinking_storage_stalls_with_the_field_path() {
    let server = MotoServer::start();
    let ctx = context(&server);
    reconcile_until_ready(
        &ctx,
        "db",
        &spec(&serde_json::json!({"storage": {"allocatedGiB": 40}})),
    )
    .await;
    let report = reconcile_once(
        &ctx,
        "db",
        &spec(&serde_json::json!({"storage": {"allocatedGiB": 20}})),
    )
    .await;
    match report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(reason, reasons::UNSUPPORTED_CHANGE);
            assert!(message.contains("spec.storage.allocatedGiB"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert_eq!(report.mutations, 0);
}

#[tokio::test]
async fn read_replicas_follow_the_spec_up_and_down() {
    let server = MotoServer::start();
    let ctx = context(&server);
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
    let ctx = context(&server);
    let invalid = spec(&serde_json::json!({
        "highAvailability": {"readReplicas": 1}, "backup": {"retentionDays": 0}
    }));
    let report = reconcile_once(&ctx, "db", &invalid).await;
    assert!(
        matches!(&report.progress, Progress::Stalled { reason, message, .. }
            if *reason == reasons::INVALID_SPEC && message.contains("spec.backup.retentionDays")),
        "{:?}",
        report.progress
    );
    assert!(all_instances(&ctx).await.is_empty());
}

#[tokio::test]
async fn a_crash_between_create_and_status_write_makes_no_second_instance() {
    let server = MotoServer::start();
    let mut ctx = context(&server);
    let spec = spec(&serde_json::json!({}));
    // The fleet is read before the create, so the second reconcile starts from a read
    // that does not show the instance.
    let fleet = Arc::new(Fleet::new(CLUSTER, Duration::from_mins(5)));
    fleet.instances(&ctx.rds).await.expect("fleet read");
    ctx.fleet = Some(fleet);

    let first = reconcile_once(&ctx, "db", &spec).await;
    assert!(first.mutations > 0);
    // No status was recorded (the write "failed"); the operator restarts and reconciles.
    let second = reconcile_once(&ctx, "db", &spec).await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.mutations, 0);
    assert_eq!(all_instances(&ctx).await.len(), 1);
}

#[tokio::test]
async fn the_fleet_read_holds_only_this_clusters_instances() {
    let server = MotoServer::start();
    let ctx = context(&server);
    reconcile_until_ready(&ctx, "db", &spec(&serde_json::json!({}))).await;
    create_untagged(&ctx, "legacy-db").await;
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

async fn create_untagged(ctx: &Rds, id: &str) {
    ctx.rds
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("legacy-password-1234")
        .send()
        .await
        .expect("CreateDBInstance failed");
}

#[tokio::test]
async fn an_untagged_instance_is_adopted_and_tagged() {
    let server = MotoServer::start();
    let ctx = context(&server);
    create_untagged(&ctx, "legacy-db").await;
    let adopt = spec(
        &serde_json::json!({"adopt": {"identifier": "legacy-db"}, "highAvailability": {"multiAZ": false}}),
    );
    let report = reconcile_until_ready(&ctx, "db", &adopt).await;
    assert_eq!(report.id, "legacy-db");
    let instance = describe(&ctx, "legacy-db").await.expect("still there");
    assert_eq!(tag(&instance, tags::NAME), Some("db"));
    assert_eq!(tag(&instance, tags::CLUSTER), Some(CLUSTER));
    assert_eq!(
        all_instances(&ctx).await.len(),
        1,
        "nothing new was created"
    );
}

#[tokio::test]
async fn an_instance_tagged_for_another_owner_is_refused_and_left_alone() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let theirs = reconcile_until_ready(&ctx, "other", &spec(&serde_json::json!({}))).await;
    let adopt = spec(
        &serde_json::json!({"adopt": {"identifier": theirs.id}, "instanceClass": "db.t4g.large"}),
    );
    let report = reconcile_once(&ctx, "db", &adopt).await;
    match &report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(*reason, reasons::OWNED_ELSEWHERE);
            assert!(message.contains("shop/other"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert_eq!(report.mutations, 0);
    let instance = describe(&ctx, &theirs.id).await.expect("still there");
    assert_eq!(
        instance.db_instance_class(),
        Some("db.t4g.micro"),
        "not modified"
    );
    assert_eq!(tag(&instance, tags::NAME), Some("other"));
}

#[tokio::test]
async fn adoption_outside_the_allowed_namespaces_is_refused() {
    let server = MotoServer::start();
    let mut ctx = context(&server);
    ctx.adoption_namespaces = Some(BTreeSet::from(["platform".to_owned()]));
    create_untagged(&ctx, "legacy-db").await;
    let report = reconcile_once(
        &ctx,
        "db",
        &spec(&serde_json::json!({"adopt": {"identifier": "legacy-db"}})),
    )
    .await;
    assert!(
        matches!(&report.progress, Progress::Stalled { reason, .. } if *reason == reasons::ADOPTION_NOT_ALLOWED),
        "{:?}",
        report.progress
    );
    let instance = describe(&ctx, "legacy-db").await.expect("still there");
    assert!(instance.tag_list().is_empty(), "not tagged");
}

async fn delete_until_done(
    ctx: &Rds,
    name: &str,
    spec: &ManagedDatabaseSpec,
    at: Timestamp,
) -> Vec<Cleanup> {
    let target = Target {
        owner: owner(name),
        spec,
    };
    let mut steps = Vec::new();
    for _ in 0..6 {
        let step = cleanup(ctx, &target, at).await.expect("cleanup failed");
        let done = matches!(step, Cleanup::Done { .. } | Cleanup::Held);
        steps.push(step);
        if done {
            return steps;
        }
    }
    panic!("cleanup did not finish: {steps:?}");
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

#[tokio::test]
async fn snapshot_policy_deletes_replicas_then_the_instance_with_a_final_snapshot() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"highAvailability": {"readReplicas": 1}}));
    let report = reconcile_until_ready(&ctx, "db", &spec).await;
    let steps = delete_until_done(&ctx, "db", &spec, deletion_time()).await;
    let expected = format!("{}-final-20260102030405", report.id);
    assert!(
        steps.iter().any(
            |s| matches!(s, Cleanup::Waiting { snapshot: Some(name), .. } if *name == expected)
        ),
        "{steps:?}"
    );
    assert!(all_instances(&ctx).await.is_empty());
    assert_eq!(snapshots(&ctx).await, [expected]);
}

#[tokio::test]
async fn delete_policy_deletes_without_a_snapshot() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"deletionPolicy": "Delete"}));
    reconcile_until_ready(&ctx, "db", &spec).await;
    delete_until_done(&ctx, "db", &spec, deletion_time()).await;
    assert!(all_instances(&ctx).await.is_empty());
    assert!(snapshots(&ctx).await.is_empty());
}

#[tokio::test]
async fn retain_policy_keeps_the_instance_and_removes_only_our_tags() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"deletionPolicy": "Retain"}));
    let report = reconcile_until_ready(&ctx, "db", &spec).await;
    delete_until_done(&ctx, "db", &spec, deletion_time()).await;
    let instance = describe(&ctx, &report.id).await.expect("retained");
    assert_eq!(tag(&instance, "team"), Some("news"));
    for key in tags::OWNERSHIP_KEYS {
        assert_eq!(tag(&instance, key), None, "{key} removed");
    }
    // A later object with the same name must adopt it explicitly.
    let again = reconcile_once(&ctx, "db", &spec).await;
    assert!(
        matches!(again.progress, Progress::Stalled { reason, .. } if reason == reasons::OWNED_ELSEWHERE)
    );
}

#[tokio::test]
async fn deletion_protection_holds_deletion_and_deletes_nothing() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"deletionProtection": true}));
    let report = reconcile_until_ready(&ctx, "db", &spec).await;
    let steps = delete_until_done(&ctx, "db", &spec, deletion_time()).await;
    assert_eq!(steps, [Cleanup::Held]);
    assert!(describe(&ctx, &report.id).await.is_some());
}

#[tokio::test]
async fn an_instance_not_tagged_as_ours_is_never_deleted() {
    let server = MotoServer::start();
    let ctx = context(&server);
    create_untagged(&ctx, "legacy-db").await;
    let spec = spec(
        &serde_json::json!({"adopt": {"identifier": "legacy-db"}, "deletionPolicy": "Delete"}),
    );
    // Never adopted (no reconcile ran), so it carries no tags of ours.
    let steps = delete_until_done(&ctx, "db", &spec, deletion_time()).await;
    assert!(matches!(&steps[..], [Cleanup::Done { .. }]), "{steps:?}");
    assert!(describe(&ctx, "legacy-db").await.is_some());
}

#[tokio::test]
async fn connection_secret_carries_a_url_that_parses_back_to_the_parts() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"highAvailability": {"readReplicas": 1}}));
    let report = reconcile_until_ready(&ctx, "db", &spec).await;
    let details = connection_details(&spec, &report.observed, Credential::Generated(password()));
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
