//! The ManagedDatabase reconcile against AWS behaviour moto cannot show, with
//! `aws-smithy-mocks`: the `creating` → `available` sequence, throttling, AccessDenied,
//! and a pending modification that must not be sent again.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
use aws_sdk_rds::types::{DbInstance, Endpoint, PendingModifiedValues};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tiered::api::ManagedDatabaseSpec;
use tiered::api::conditions::{READY, RECONCILING, STALLED, reasons};
use tiered::aws::tags::{Owner, resource_tags, to_rds_tags};
use tiered::controllers::data_tier::reconcile::{Credential, Target, sync};
use tiered::controllers::data_tier::secret::Password;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;
use tiered::controllers::managed_database::status::{Report, compute_status};

const ID: &str = "legacy-db";

fn owner() -> Owner {
    Owner {
        cluster: "test".into(),
        namespace: "shop".into(),
        name: "db".into(),
        uid: "uid-1".into(),
    }
}

/// A spec that adopts `ID`, so the identifier is known to the rules below.
fn spec() -> ManagedDatabaseSpec {
    serde_json::from_value(serde_json::json!({
        "engine": "postgres",
        "engineVersion": "16.4",
        "instanceClass": "db.t4g.small",
        "storage": {"allocatedGiB": 20, "type": "gp3"},
        "databaseName": "newsread",
        "masterUsername": "app",
        "adopt": {"identifier": ID}
    }))
    .expect("valid spec")
}

/// `ID` as RDS reports it when it matches `spec()`, in `status`.
fn instance(status: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(ID)
        .db_instance_arn(format!("arn:aws:rds:us-east-1:123456789012:db:{ID}"))
        .db_instance_status(status)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t4g.small")
        .allocated_storage(20)
        .storage_type("gp3")
        .multi_az(false)
        .deletion_protection(false)
        .set_tag_list(Some(to_rds_tags(&resource_tags(
            &owner(),
            &BTreeMap::new(),
        ))))
        .endpoint(
            Endpoint::builder()
                .address(format!("{ID}.rds.example"))
                .port(5432)
                .build(),
        )
        .build()
}

fn described(instance: DbInstance) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder()
        .db_instances(instance)
        .build()
}

fn aws_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
    )
}

fn context(rules: &[&Rule]) -> Rds {
    let rds: Client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules);
    Rds {
        rds,
        fleet: None,
        adoption_namespaces: None,
    }
}

async fn reconcile_once(ctx: &Rds) -> Report {
    let spec = spec();
    let password = Password::from_secret_value("unused-password-123".into());
    let target = Target {
        owner: owner(),
        spec: &spec,
    };
    sync(
        ctx,
        &target,
        Credential {
            value: Some(&password),
            is_new: false,
        },
    )
    .await
}

fn condition_status(status: &tiered::api::ManagedDatabaseStatus, type_: &str) -> (String, String) {
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("condition present");
    (condition.status.clone(), condition.reason.clone())
}

#[tokio::test]
async fn creating_then_available_gives_reconciling_then_ready() {
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| described(instance("creating")))
        .output(|| described(instance("backing-up")))
        .output(|| described(instance("available")))
        .build();
    let ctx = context(&[&describe]);
    let now = Time(Timestamp::UNIX_EPOCH);

    let mut previous = None;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let report = reconcile_once(&ctx).await;
        assert_eq!(report.mutations, 0);
        let status = compute_status(Some(1), &report, None, previous.as_ref(), &now);
        seen.push((
            condition_status(&status, READY),
            condition_status(&status, RECONCILING),
            status.aws_status.clone(),
        ));
        previous = Some(status);
    }
    let t = |s: &str| s.to_owned();
    assert_eq!(
        seen,
        [
            (
                (t("False"), t(reasons::AWS_IN_PROGRESS)),
                (t("True"), t(reasons::AWS_IN_PROGRESS)),
                Some(t("creating"))
            ),
            (
                (t("False"), t(reasons::AWS_IN_PROGRESS)),
                (t("True"), t(reasons::AWS_IN_PROGRESS)),
                Some(t("backing-up"))
            ),
            (
                (t("True"), t(reasons::READY)),
                (t("False"), t(reasons::CONVERGED)),
                Some(t("available"))
            ),
        ]
    );
    let endpoint = previous
        .and_then(|status| status.endpoint)
        .expect("endpoint once available");
    assert_eq!(endpoint.address, format!("{ID}.rds.example"));
}

#[tokio::test]
async fn throttling_is_transient_with_the_error_in_the_reconciling_message() {
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(400, Some(aws_error("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let ctx = context(&[&describe]);
    let report = reconcile_once(&ctx).await;
    match &report.progress {
        Progress::Transient { category, message } => {
            assert_eq!(category.label(), "transient");
            assert!(message.contains("Throttling: Rate exceeded"), "{message}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    let status = compute_status(None, &report, None, None, &Time(Timestamp::UNIX_EPOCH));
    assert_eq!(
        condition_status(&status, RECONCILING),
        ("True".into(), reasons::TRANSIENT_ERROR.into())
    );
    assert_eq!(condition_status(&status, STALLED).0, "False");
}

#[tokio::test]
async fn access_denied_stalls_naming_the_missing_iam_action() {
    let not_found = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(
            404,
            Some(aws_error("DBInstanceNotFound", "DBInstance x not found.")),
        )
        .repeatedly()
        .build();
    let denied = mock!(Client::create_db_instance)
        .sequence()
        .http_status(
            403,
            Some(aws_error("AccessDenied", "User: arn:aws:sts::1:assumed-role/tiered is not authorized to perform: rds:CreateDBInstance")),
        )
        .repeatedly()
        .build();
    let ctx = context(&[&not_found, &denied]);
    // Not adopting: the operator creates the instance with its own identifier.
    let mut spec = spec();
    spec.adopt = None;
    let password = Password::from_secret_value("unused-password-123".into());
    let target = Target {
        owner: owner(),
        spec: &spec,
    };
    let report = sync(
        &ctx,
        &target,
        Credential {
            value: Some(&password),
            is_new: false,
        },
    )
    .await;
    match &report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(*reason, reasons::AWS_ACCESS_DENIED);
            assert!(message.contains("grant rds:CreateDBInstance"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert_eq!(
        denied.num_calls(),
        1,
        "AccessDenied is not retried by the SDK"
    );
}

#[tokio::test]
async fn a_pending_modification_is_not_sent_again() {
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| {
            let mut observed = instance("available");
            observed.db_instance_class = Some("db.t4g.micro".into());
            observed.pending_modified_values = Some(
                PendingModifiedValues::builder()
                    .db_instance_class("db.t4g.small")
                    .build(),
            );
            described(observed)
        })
        .repeatedly()
        .build();
    let modify =
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
    let ctx = context(&[&describe, &modify]);
    let report = reconcile_once(&ctx).await;
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
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| {
            let mut observed = instance("available");
            observed.db_instance_class = Some("db.t4g.micro".into());
            described(observed)
        })
        .repeatedly()
        .build();
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|request| {
            request.db_instance_class() == Some("db.t4g.small")
                && request.allocated_storage().is_none()
                && request.multi_az().is_none()
                && request.engine_version().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let ctx = context(&[&describe, &modify]);
    let report = reconcile_once(&ctx).await;
    assert_eq!(modify.num_calls(), 1, "{:?}", report.progress);
    assert!(matches!(report.progress, Progress::InProgress { .. }));
}
