//! The ManagedDatabase reconcile against RDS behaviour moto cannot show, with
//! `aws-smithy-mocks`, where RDS differs from ElastiCache: a pending modification must
//! not be sent again, and drift is one modify with only the difference. What both kinds
//! share is in `data_tier_mocks`.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::PendingModifiedValues;
use aws_smithy_mocks::{Rule, mock};
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;

use support::data_tier::database::{described, instance};
use support::data_tier::{Kind, mock_owner, reconcile_as};

/// Describe answering, every time, an available db.t4g.micro instance (the mock spec
/// asks for db.t4g.small) with `pending` modifications.
fn micro_instance(pending: Option<PendingModifiedValues>) -> Rule {
    mock!(Client::describe_db_instances)
        .sequence()
        .output(move || {
            let mut observed = instance("available");
            observed.db_instance_class = Some("db.t4g.micro".into());
            observed.pending_modified_values.clone_from(&pending);
            described(observed)
        })
        .repeatedly()
        .build()
}

#[tokio::test]
async fn a_pending_modification_is_not_sent_again() {
    let describe = micro_instance(Some(
        PendingModifiedValues::builder()
            .db_instance_class("db.t4g.small")
            .build(),
    ));
    let modify = Rds::modify();
    let ctx = Rds::mocked(&[&describe, &modify]);
    let report = reconcile_as(&ctx, mock_owner(), &Rds::mock_spec()).await;
    assert_eq!(
        modify.num_calls(),
        0,
        "no ModifyDBInstance for a change already pending"
    );
    assert_eq!(report.mutations, 0);
    match &report.progress {
        Progress::Ready { message } => assert!(message.contains("maintenance window"), "{message}"),
        other => panic!("expected Ready, got {other:?}"),
    }
}

#[tokio::test]
async fn drift_is_sent_as_one_modify_with_only_the_difference() {
    let describe = micro_instance(None);
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|request| {
            request.db_instance_class() == Some("db.t4g.small")
                && request.allocated_storage().is_none()
                && request.multi_az().is_none()
                && request.engine_version().is_none()
        })
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
        });
    let ctx = Rds::mocked(&[&describe, &modify]);
    let report = reconcile_as(&ctx, mock_owner(), &Rds::mock_spec()).await;
    assert_eq!(modify.num_calls(), 1, "{:?}", report.progress);
    assert!(matches!(report.progress, Progress::InProgress { .. }));
}
