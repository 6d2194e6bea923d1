//! RDS storage as AWS really behaves (issue 10 part 2), against mocked RDS and moto: a
//! `storage-full` instance gets the increase the spec asks for, storage grown by
//! autoscaling is not drift (also once the ceiling is removed), and IOPS AWS would
//! refuse stall before any call, naming `spec.storage.iops`.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_rds::Client;
use aws_smithy_mocks::mock;
use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;

use support::data_tier::database::{all_instances, described_as};
use support::data_tier::{
    Kind, in_progress_message, mock_owner, reconcile_as, reconcile_once, reconcile_until_ready,
    stalled_message,
};
use support::moto::MotoServer;

/// Source: aws-controllers-k8s/community#2214 ("RDS controller cannot recover from
/// Storage Full": it waits for `available` and never sends the increase).
#[tokio::test]
async fn a_storage_full_instance_gets_the_storage_increase_the_spec_asks_for() {
    let describe = described_as("storage-full");
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|request| {
            request.allocated_storage() == Some(40)
                && request.apply_immediately() == Some(true)
                && request.db_instance_class().is_none()
        })
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
        });
    let ctx = Rds::mocked(&[&describe, &modify]);
    let mut spec = Rds::mock_spec();
    spec.storage.allocated_gib = 40;
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert_eq!(modify.num_calls(), 1, "{:?}", report.progress);
    let message = in_progress_message(&report.progress);
    assert!(message.contains("storage-full"), "{message}");

    // Nothing more asked: Stalled, saying what to do, and nothing sent.
    let unchanged = reconcile_as(&ctx, mock_owner(), &Rds::mock_spec()).await;
    assert_eq!(modify.num_calls(), 1);
    match &unchanged.progress {
        Progress::Stalled { message, .. } => {
            assert!(message.contains("spec.storage.allocatedGiB"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
}

/// Source: crossplane-contrib/provider-aws#2306 (storage autoscaling causes
/// allocatedStorage drift): storage grown by RDS autoscaling is not drift, and removing
/// `maxAllocatedGiB` afterwards turns autoscaling off instead of stalling as a shrink.
#[tokio::test]
async fn storage_grown_by_autoscaling_is_not_drift_and_removing_the_ceiling_turns_it_off() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let autoscaled = Rds::spec(&json!({
        "storage": {"allocatedGiB": 20, "maxAllocatedGiB": 100, "type": "gp3"},
        "applyImmediately": true
    }));
    let report = reconcile_until_ready(&ctx, "db", &autoscaled).await;
    // RDS autoscaling grows the storage (as AWS would, outside tiered).
    ctx.rds
        .modify_db_instance()
        .db_instance_identifier(&report.id)
        .allocated_storage(30)
        .apply_immediately(true)
        .send()
        .await
        .expect("grown");
    let grown = reconcile_once(&ctx, "db", &autoscaled).await;
    assert_eq!(grown.mutations, 0, "not drift: {grown:?}");
    assert!(
        matches!(grown.progress, Progress::Ready { .. }),
        "{grown:?}"
    );

    let no_ceiling = Rds::spec(&json!({
        "storage": {"allocatedGiB": 20, "type": "gp3"},
        "applyImmediately": true
    }));
    let off = reconcile_once(&ctx, "db", &no_ceiling).await;
    assert!(
        !matches!(off.progress, Progress::Stalled { .. }),
        "not a shrink: {:?}",
        off.progress
    );
    let settled = reconcile_until_ready(&ctx, "db", &no_ceiling).await;
    let instance = all_instances(&ctx)
        .await
        .into_iter()
        .next()
        .expect("instance");
    assert_eq!(instance.allocated_storage(), Some(30), "storage kept");
    assert!(
        instance.max_allocated_storage().is_none_or(|max| max <= 30),
        "autoscaling off: {:?}",
        instance.max_allocated_storage()
    );
    let again = reconcile_once(&ctx, "db", &no_ceiling).await;
    assert_eq!(again.mutations, 0, "{settled:?} then {again:?}");
}

/// Source: cloudtools/troposphere#2141 and AWS' "Amazon RDS DB instance storage" (gp3
/// below 400 GiB takes no IOPS): the spec stalls on `spec.storage.iops` and nothing is
/// created.
#[tokio::test]
async fn gp3_iops_below_400_gib_stall_naming_the_field_before_any_call() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let spec = Rds::spec(&json!({"storage": {"allocatedGiB": 100, "type": "gp3", "iops": 3000}}));
    let report = reconcile_once(&ctx, "db", &spec).await;
    let message = stalled_message(&report.progress, reasons::INVALID_SPEC);
    assert!(message.contains("spec.storage.iops"), "{message}");
    assert_eq!(report.mutations, 0);
    assert!(all_instances(&ctx).await.is_empty());

    // Throughput likewise, on its own field.
    let spec = Rds::spec(
        &json!({"storage": {"allocatedGiB": 100, "type": "gp3", "throughputMiBps": 500}}),
    );
    let report = reconcile_once(&ctx, "db", &spec).await;
    let message = stalled_message(&report.progress, reasons::INVALID_SPEC);
    assert!(
        message.contains("spec.storage.throughputMiBps"),
        "{message}"
    );
    assert!(all_instances(&ctx).await.is_empty());
}
