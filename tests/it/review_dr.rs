//! An outside review of the day-2 and disaster-recovery features (wt-review), second
//! part: the promotion of a replica, a major upgrade with `spec.parameters`, and the AWS
//! call metric under the mutating-call budget. Each test is a fault found by trying
//! inputs the authors' tests do not, written to fail on the main of 2026-11-30 and to
//! pass once the fault is fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use serde_json::json;
use tiered::controllers::managed_database::Rds;

use support::aws_reads::instance;
use support::data_tier::Kind;
use support::data_tier::operator::{NS, condition};
use support::day2::{create_named, wait_ready_named};
use support::moto::{MotoServer, rds_client};

/// docs/disaster-recovery.md "Failing over": `InvalidDBInstanceState` from
/// PromoteReadReplica "counts as sent". RDS answers that code for any replica that is
/// not `available`, e.g. `storage-full`, which tiered treats as a settled state and
/// converges. tiered then tags the replica `tiered.io/promoted`, never sends
/// PromoteReadReplica again, and reports `replication.role: Primary` with `promotedAt`
/// (what the runbook's `kubectl wait` waits for) while RDS still replicates into a
/// read-only instance. Expected: a refused promotion is not recorded as done (the
/// promoted tag is not written) and is tried again.
#[tokio::test]
async fn a_promotion_rds_refuses_is_not_recorded_as_done() {
    use aws_sdk_rds::Client;
    use aws_smithy_mocks::mock;
    use support::data_tier::database::{aws_error, described, instance};
    use support::data_tier::{mock_owner, reconcile_as};

    const SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:db:prod-db";
    let owner = mock_owner();
    let id = tiered::aws::naming::rds_replica_of_identifier(
        &owner.cluster,
        &owner.namespace,
        &owner.name,
    );
    let arn = format!("arn:aws:rds:us-east-1:123456789012:db:{id}");
    let replica = {
        let mut replica = instance("storage-full");
        replica.db_instance_identifier = Some(id.clone());
        replica.db_instance_arn = Some(arn);
        replica.read_replica_source_db_instance_identifier = Some(SOURCE.to_owned());
        replica
    };
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(move || described(replica.clone()))
        .repeatedly()
        .build();
    let promote = mock!(Client::promote_read_replica)
        .sequence()
        .http_status(
            400,
            Some(aws_error(
                "InvalidDBInstanceState",
                "DB Instance is not in available state",
            )),
        )
        .repeatedly()
        .build();
    let promoted_tag = mock!(Client::add_tags_to_resource)
        .match_requests(|request| {
            request
                .tags()
                .iter()
                .any(|tag| tag.key() == Some("tiered.io/promoted"))
        })
        .then_output(|| {
            aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput::builder().build()
        });
    let other_tags = mock!(Client::add_tags_to_resource).then_output(|| {
        aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput::builder().build()
    });
    let modify = mock!(Client::modify_db_instance).then_output(|| {
        aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
    });
    let ctx = Rds::mocked(&[&describe, &promote, &promoted_tag, &other_tags, &modify]);
    let spec = Rds::spec(&json!({
        "engineVersion": null,
        "tags": {},
        "replicaOf": {"sourceArn": SOURCE, "promote": true}
    }));
    let report = reconcile_as(&ctx, owner, &spec).await;
    assert!(promote.num_calls() >= 1, "{:?}", report.progress);
    assert_eq!(
        promoted_tag.num_calls(),
        0,
        "RDS refused the promotion of a storage-full replica, yet tiered recorded it as \
         promoted (tiered.io/promoted), so it never asks again; pass ended in {:?}",
        report.progress
    );
}

/// RDS refuses a major version upgrade of an instance whose parameter group is a custom
/// one unless the same ModifyDBInstance names a group of the new family
/// (`InvalidParameterCombination: The current DB instance parameter group … is custom.
/// You must explicitly specify a new DB instance parameter group, either default or
/// custom, for the engine version upgrade`). A ManagedDatabase with `spec.parameters`
/// has exactly such a group (`<id>-postgres16`), and tiered sends the upgrade
/// (`engineVersion` 16 → 17 with `allowMajorVersionUpgrade`) without one; it can then
/// never get out: the new family's group is only attached after the modify succeeds,
/// and RDS would refuse attaching a postgres17 group to a 16 instance. moto does not
/// enforce this rule, so the mock answers as RDS does.
#[tokio::test]
async fn a_major_upgrade_of_an_instance_with_spec_parameters_names_a_group_of_the_new_family() {
    use aws_sdk_rds::Client;
    use aws_sdk_rds::types::DbParameterGroupStatus;
    use aws_smithy_mocks::mock;
    use support::data_tier::database::{aws_error, described, instance};
    use support::data_tier::{mock_owner, reconcile_as};

    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| {
            let mut observed = instance("available");
            observed.db_parameter_groups = Some(vec![
                DbParameterGroupStatus::builder()
                    .db_parameter_group_name("legacy-db-postgres16")
                    .parameter_apply_status("in-sync")
                    .build(),
            ]);
            described(observed)
        })
        .repeatedly()
        .build();
    let refused = mock!(Client::modify_db_instance)
        .match_requests(|request| {
            request.engine_version().is_some() && request.db_parameter_group_name().is_none()
        })
        .sequence()
        .http_status(
            400,
            Some(aws_error(
                "InvalidParameterCombination",
                "The current DB instance parameter group legacy-db-postgres16 is custom. You must explicitly specify a new DB instance parameter group, either default or custom, for the engine version upgrade.",
            )),
        )
        .repeatedly()
        .build();
    let accepted = mock!(Client::modify_db_instance).then_output(|| {
        aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
    });
    let groups = mock!(Client::describe_db_parameter_groups).then_output(|| {
        aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDbParameterGroupsOutput::builder().build()
    });
    let create_group = mock!(Client::create_db_parameter_group).then_output(|| {
        aws_sdk_rds::operation::create_db_parameter_group::CreateDbParameterGroupOutput::builder()
            .build()
    });
    let parameters = mock!(Client::describe_db_parameters).then_output(|| {
        aws_sdk_rds::operation::describe_db_parameters::DescribeDbParametersOutput::builder()
            .build()
    });
    let set = mock!(Client::modify_db_parameter_group).then_output(|| {
        aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput::builder()
            .build()
    });
    let ctx = Rds::mocked(&[
        &describe,
        &refused,
        &accepted,
        &groups,
        &create_group,
        &parameters,
        &set,
    ]);
    let mut spec = serde_json::to_value(Rds::mock_spec()).unwrap();
    spec["engineVersion"] = json!("17.2");
    spec["allowMajorVersionUpgrade"] = json!(true);
    spec["parameters"] = json!({"max_connections": "200"});
    let spec: tiered::api::ManagedDatabaseSpec = serde_json::from_value(spec).unwrap();
    let mut ends = Vec::new();
    for _ in 0..3 {
        let report = reconcile_as(&ctx, mock_owner(), &spec).await;
        ends.push(format!("{:?}", report.progress));
    }
    assert_eq!(
        refused.num_calls(),
        0,
        "tiered sent the major upgrade without a parameter group of the new family, which \
         RDS refuses for an instance with a custom group; passes ended in {ends:#?}"
    );
}

/// `tiered_aws_calls_total{service,operation}` is documented as "Calls to AWS APIs"
/// (DESIGN.md: "AWS calls by operation"). It is counted by an SDK interceptor in
/// `read_before_serialization`, but the mutating-call budget holds calls later, in
/// `read_before_attempt`: every held call, which never leaves the process, is counted as
/// a call to AWS. In the sandbox, four promotions held by the restart hold showed
/// `operation="PromoteReadReplica"} 120` for 4 calls sent. Expected: a call the budget
/// holds is not counted as an AWS call (or is counted apart).
#[tokio::test]
async fn calls_the_budget_holds_back_are_not_counted_as_aws_calls() {
    use tiered::api::ManagedDatabase;

    let moto = MotoServer::start();
    let emulator = support::operator::emulator(&[NS], false).await;
    let client = emulator.client();
    let databases: kube::Api<ManagedDatabase> = kube::Api::namespaced(client.clone(), NS);
    let aws = support::moto::aws_config(&moto);
    let launch = || {
        support::operator::launch_with_aws(
            client.clone(),
            support::operator::test_config(&[NS]),
            &aws,
        )
    };
    let first = launch().await;
    create_named::<Rds>(&databases, Rds::OBJECT, &json!({})).await;
    wait_ready_named::<Rds>(&databases, Rds::OBJECT, Duration::from_secs(30), "").await;
    first.stop().await;
    // As aws_budget: the restart must fall in a later second than the creation.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let second = launch().await;
    databases
        .patch(
            Rds::OBJECT,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"instanceClass": "db.t4g.large"}})),
        )
        .await
        .expect("patch");
    support::operator::eventually("the change is held by the restart hold", || async {
        databases.get(Rds::OBJECT).await.is_ok_and(|db| {
            condition::<Rds>(&db, "Reconciling")
                .is_some_and(|(_, reason, _)| reason == "AwsCallsPaced")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let id = tiered::aws::naming::rds_instance_identifier("test", NS, Rds::OBJECT);
    let class = instance(&rds_client(&moto), &id)
        .await
        .expect("the instance")
        .db_instance_class()
        .map(str::to_owned);
    assert_eq!(
        class.as_deref(),
        Some("db.t4g.micro"),
        "nothing reached AWS"
    );
    let (_, text) = support::operator::http_get(second.http, "/metrics").await;
    let counted = support::operator::metric(
        &text,
        "tiered_aws_calls_total{service=\"rds\",operation=\"ModifyDBInstance\"}",
    );
    assert!(
        counted < 0.5,
        "no ModifyDBInstance left the restarted operator (the budget held it), yet \
         tiered_aws_calls_total counts {counted}"
    );
    second.stop().await;
}
