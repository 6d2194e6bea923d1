//! Engine parameters (issue 13 part 4): on moto_server through the controller (the
//! owned DB parameter group for the family, tagged as ours, attached, values applied,
//! nothing sent again once converged), and with `aws-smithy-mocks` where moto has no
//! behaviour (it has no ResetDBParameterGroup, lists no ApplyType, never refuses a
//! parameter and never reports `pending-reboot`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDbParameterGroupsOutput;
use aws_sdk_rds::operation::describe_db_parameters::DescribeDbParametersOutput;
use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_rds::types::{ApplyMethod, DbParameterGroup, DbParameterGroupStatus, Parameter};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;

use support::aws_reads::{self, parameter_values, rds_tags_of};
use support::data_tier::database::{aws_error, described, described_as, instance};
use support::data_tier::operator::{Setup, setup};
use support::data_tier::{
    Kind, failing, in_progress_message, mock_owner, reconcile_as, reconcile_mocked, stalled_message,
};
use support::moto::{ids_of, rds_client};
use support::operator::{eventually, mutating_aws_calls};

const DB: &str = Rds::OBJECT;
/// The group tiered owns for the mock instance (`legacy-db`, postgres 16.4).
const MOCK_GROUP: &str = "legacy-db-postgres16";

async fn group_values(s: &Setup<Rds>, group: &str) -> BTreeMap<String, String> {
    parameter_values(&rds_client(&s.moto), group, None).await
}

#[tokio::test]
async fn parameters_go_into_an_owned_group_for_the_family_attached_to_the_instance() {
    let s = setup::<Rds>().await;
    s.create(&json!({"parameters": {"max_connections": "200", "shared_preload_libraries": "pg_stat_statements"}}))
        .await;
    eventually("status names the parameter group", || async {
        let db = s.objects.get(DB).await.unwrap();
        db.status
            .and_then(|status| status.parameter_group)
            .is_some_and(|group| group.family == "postgres16")
    })
    .await;
    let db = s.wait_ready().await;
    let status = db.status.unwrap();
    let identifier = status.identifier.unwrap();
    let group = status.parameter_group.unwrap();
    assert_eq!(group.name, format!("{identifier}-postgres16"));
    assert!(!group.pending_reboot);

    let rds = rds_client(&s.moto);
    let described = rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(&group.name)
        .send()
        .await
        .unwrap();
    let made: &DbParameterGroup = &described.db_parameter_groups()[0];
    assert_eq!(made.db_parameter_group_family(), Some("postgres16"));
    let tags = rds_tags_of(&rds, made.db_parameter_group_arn().unwrap()).await;
    assert_eq!(
        tags.get("tiered.io/name").map(String::as_str),
        Some(DB),
        "tagged as ours: {tags:?}"
    );
    assert_eq!(
        group_values(&s, &group.name).await,
        BTreeMap::from([
            ("max_connections".to_owned(), "200".to_owned()),
            (
                "shared_preload_libraries".to_owned(),
                "pg_stat_statements".to_owned()
            ),
        ])
    );
    let described = aws_reads::instance(&rds, &identifier).await.unwrap();
    let attached: Vec<&str> = described
        .db_parameter_groups()
        .iter()
        .filter_map(DbParameterGroupStatus::db_parameter_group_name)
        .collect();
    assert_eq!(attached, [group.name.as_str()]);

    // A changed value is set; then nothing more is sent.
    s.patch(json!({"spec": {"parameters": {"max_connections": "300", "shared_preload_libraries": "pg_stat_statements"}}})).await;
    eventually("moto has the new value", || async {
        group_values(&s, &group.name).await.get("max_connections") == Some(&"300".to_owned())
    })
    .await;
    eventually("the new generation is Ready", || async {
        let db = s.objects.get(DB).await.unwrap();
        db.status
            .as_ref()
            .and_then(|status| status.observed_generation)
            == db.metadata.generation
            && support::data_tier::operator::condition::<Rds>(&db, "Ready")
                .is_some_and(|c| c.0 == "True")
    })
    .await;
    let settled = mutating_aws_calls(s.op.http).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        mutating_aws_calls(s.op.http).await,
        settled,
        "converged: no more writes"
    );
    s.op.stop().await;
}

fn spec_with(parameters: &serde_json::Value) -> tiered::api::ManagedDatabaseSpec {
    let mut spec = serde_json::to_value(Rds::mock_spec()).unwrap();
    spec["parameters"] = parameters.clone();
    serde_json::from_value(spec).unwrap()
}

fn with_group(apply_status: &str) -> aws_sdk_rds::types::DbInstance {
    let mut observed = instance("available");
    observed.db_parameter_groups = Some(vec![
        DbParameterGroupStatus::builder()
            .db_parameter_group_name(MOCK_GROUP)
            .parameter_apply_status(apply_status)
            .build(),
    ]);
    observed
}

/// DescribeDBParameterGroups of [`MOCK_GROUP`] and ListTagsForResource answering the mock
/// owner's tags: the attached group is tiered's (read before a pass changes it).
fn owned_group() -> [Rule; 2] {
    let arn = format!("arn:aws:rds:us-east-1:123456789012:pg:{MOCK_GROUP}");
    let described = mock!(Client::describe_db_parameter_groups).then_output(move || {
        DescribeDbParameterGroupsOutput::builder()
            .db_parameter_groups(
                DbParameterGroup::builder()
                    .db_parameter_group_name(MOCK_GROUP)
                    .db_parameter_group_family("postgres16")
                    .db_parameter_group_arn(arn.clone())
                    .build(),
            )
            .build()
    });
    let tags = mock!(Client::list_tags_for_resource).then_output(|| {
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(tiered::aws::tags::to_rds_tags(
                &tiered::aws::tags::resource_tags(&mock_owner(), &BTreeMap::new()),
            )))
            .build()
    });
    [described, tags]
}

fn parameter(name: &str, value: &str, apply_type: &str) -> Parameter {
    Parameter::builder()
        .parameter_name(name)
        .parameter_value(value)
        .apply_type(apply_type)
        .source("user")
        .build()
}

#[tokio::test]
async fn dynamic_parameters_apply_now_static_ones_at_reboot_and_removed_ones_are_reset() {
    let describe =
        mock!(Client::describe_db_instances).then_output(|| described(with_group("in-sync")));
    // User-set now: max_connections (static, to change) and work_mem (dynamic, no
    // longer in the spec). The full listing gives every parameter's ApplyType.
    let user = mock!(Client::describe_db_parameters)
        .match_requests(|request| request.source() == Some("user"))
        .then_output(|| {
            DescribeDbParametersOutput::builder()
                .parameters(parameter("max_connections", "100", "static"))
                .parameters(parameter("work_mem", "8192", "dynamic"))
                .build()
        });
    let all = mock!(Client::describe_db_parameters)
        .match_requests(|request| request.source().is_none())
        .then_output(|| {
            DescribeDbParametersOutput::builder()
                .parameters(parameter("max_connections", "100", "static"))
                .parameters(parameter("log_min_duration_statement", "-1", "dynamic"))
                .parameters(parameter("work_mem", "8192", "dynamic"))
                .build()
        });
    let modify = mock!(Client::modify_db_parameter_group)
        .match_requests(|request| {
            let methods: BTreeMap<&str, &ApplyMethod> = request
                .parameters()
                .iter()
                .filter_map(|p| Some((p.parameter_name()?, p.apply_method()?)))
                .collect();
            request.db_parameter_group_name() == Some(MOCK_GROUP)
                && methods
                    == BTreeMap::from([
                        ("log_min_duration_statement", &ApplyMethod::Immediate),
                        ("max_connections", &ApplyMethod::PendingReboot),
                    ])
        })
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput::builder()
                .build()
        });
    let reset = mock!(Client::reset_db_parameter_group)
        .match_requests(|request| {
            request.reset_all_parameters() == Some(false)
                && request.parameters().len() == 1
                && request.parameters()[0].parameter_name() == Some("work_mem")
                && request.parameters()[0].apply_method() == Some(&ApplyMethod::Immediate)
        })
        .then_output(|| {
            aws_sdk_rds::operation::reset_db_parameter_group::ResetDbParameterGroupOutput::builder()
                .build()
        });
    let [group, tags] = owned_group();
    let ctx = Rds::mocked(&[&describe, &user, &all, &modify, &reset, &group, &tags]);
    let spec = spec_with(&json!({"max_connections": "200", "log_min_duration_statement": "500"}));
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert_eq!(modify.num_calls(), 1, "{:?}", report.progress);
    assert_eq!(reset.num_calls(), 1, "{:?}", report.progress);
    let message = in_progress_message(&report.progress);
    assert!(message.contains(MOCK_GROUP), "{message}");
}

#[tokio::test]
async fn a_parameter_rds_refuses_is_stalled_naming_it_with_rds_words() {
    let describe =
        mock!(Client::describe_db_instances).then_output(|| described(with_group("in-sync")));
    let parameters = mock!(Client::describe_db_parameters)
        .then_output(|| DescribeDbParametersOutput::builder().build());
    let modify = failing!(
        Client::modify_db_parameter_group,
        400,
        aws_error(
            "InvalidParameterValue",
            "Could not find parameter with name: max_connectionz"
        )
    );
    let [group, tags] = owned_group();
    let ctx = Rds::mocked(&[&describe, &parameters, &modify, &group, &tags]);
    let spec = spec_with(&json!({"max_connectionz": "200", "work_mem": "8192"}));
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    let message = stalled_message(&report.progress, reasons::AWS_INVALID_REQUEST);
    assert!(
        message.contains("spec.parameters.max_connectionz"),
        "{message}"
    );
    assert!(!message.contains("spec.parameters.work_mem"), "{message}");
    assert!(message.contains("Could not find parameter"), "{message}");
}

#[tokio::test]
async fn a_static_change_waiting_for_a_reboot_is_said_and_nothing_is_sent() {
    let describe = mock!(Client::describe_db_instances)
        .then_output(|| described(with_group("pending-reboot")));
    let user = mock!(Client::describe_db_parameters).then_output(|| {
        DescribeDbParametersOutput::builder()
            .parameters(parameter("max_connections", "200", "static"))
            .build()
    });
    let modify = mock!(Client::modify_db_parameter_group).then_output(|| {
        aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput::builder()
            .build()
    });
    let reboot = mock!(Client::reboot_db_instance).then_output(|| {
        aws_sdk_rds::operation::reboot_db_instance::RebootDbInstanceOutput::builder().build()
    });
    let spec = spec_with(&json!({"max_connections": "200"}));
    let report = reconcile_mocked::<Rds>(&[&describe, &user, &modify, &reboot], &spec).await;
    assert_eq!(report.mutations, 0, "{report:?}");
    assert_eq!(modify.num_calls(), 0);
    assert_eq!(reboot.num_calls(), 0, "never a reboot without a request");
    let group = report
        .observed
        .parameter_group
        .expect("the group is observed");
    assert!(group.pending_reboot, "{group:?}");
    assert_eq!(group.name, MOCK_GROUP);
}

#[tokio::test]
async fn a_reboot_happens_once_per_new_value_of_the_annotation() {
    let reboot = mock!(Client::reboot_db_instance).then_output(|| {
        aws_sdk_rds::operation::reboot_db_instance::RebootDbInstanceOutput::builder().build()
    });
    let ctx = Rds::mocked(&[&reboot]);
    let mut database: tiered::api::ManagedDatabase = support::data_tier::object::<Rds>(
        "shop",
        "obj",
        &serde_json::to_value(spec_with(&json!({"max_connections": "200"}))).unwrap(),
    );
    let status = tiered::api::ManagedDatabaseStatus {
        parameter_group: Some(support::data_tier::reported_group(
            MOCK_GROUP,
            "postgres16",
            "pending-reboot",
        )),
        ..Default::default()
    };
    database.status = Some(status);
    let report = tiered::controllers::managed_database::status::Report {
        id: "legacy-db".into(),
        observed: tiered::controllers::managed_database::status::Observed {
            primary: Some(with_group("pending-reboot")),
            ..Default::default()
        },
        progress: Progress::Ready {
            message: String::new(),
        },
        mutations: 0,
        credential_accepted: false,
        observed_resource: true,
    };

    // No annotation: no reboot, whatever is pending.
    assert_eq!(ctx.handle_reboot(&database, &report).await.unwrap(), None);
    assert_eq!(reboot.num_calls(), 0);

    database.metadata.annotations = Some(BTreeMap::from([(
        tiered::api::parameters::REBOOT_ANNOTATION.to_owned(),
        "1".to_owned(),
    )]));
    let handled = ctx.handle_reboot(&database, &report).await.unwrap();
    assert_eq!(handled.as_deref(), Some("1"));
    assert_eq!(reboot.num_calls(), 1);

    // Handled (recorded in status): the same value reboots no more.
    if let Some(group) = database
        .status
        .as_mut()
        .and_then(|status| status.parameter_group.as_mut())
    {
        group.reboot = handled;
    }
    assert_eq!(
        ctx.handle_reboot(&database, &report)
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    assert_eq!(reboot.num_calls(), 1);
}

async fn group_names(rds: &Client) -> Vec<String> {
    let described = rds.describe_db_parameter_groups().send().await.unwrap();
    let mut names = ids_of(
        described.db_parameter_groups(),
        DbParameterGroup::db_parameter_group_name,
    );
    names.retain(|name| !name.starts_with("default."));
    names
}

#[tokio::test]
async fn the_parameter_group_goes_with_the_instance_and_stays_with_retain() {
    let server = support::moto::MotoServer::start();
    let ctx = Rds::on(&server);
    // Without engineVersion: the family comes from the version RDS reports.
    let deleted = Rds::spec(&json!({
        "engineVersion": null,
        "parameters": {"max_connections": "200"},
        "deletionPolicy": "Snapshot"
    }));
    let ready = support::data_tier::reconcile_until_ready(&ctx, "deleted", &deleted).await;
    let retained = Rds::spec(&json!({
        "parameters": {"max_connections": "200"},
        "deletionPolicy": "Retain"
    }));
    let kept = support::data_tier::reconcile_until_ready(&ctx, "kept", &retained).await;
    let groups = group_names(&ctx.rds).await;
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(
        groups
            .iter()
            .any(|name| name.starts_with(&format!("{}-postgres", ready.id)))
    );

    support::data_tier::delete_until_done(&ctx, "deleted", &deleted).await;
    support::data_tier::delete_until_done(&ctx, "kept", &retained).await;
    let left = group_names(&ctx.rds).await;
    assert_eq!(
        left,
        [format!("{}-postgres16", kept.id)],
        "only the retained one's group stays"
    );
}

/// RDS answers DescribeDBParameterGroups for a group that does not exist with
/// `DBParameterGroupNotFound` (moto answers an empty list): the group is created, not
/// a stall.
#[tokio::test]
async fn a_group_rds_says_is_not_found_is_created() {
    let describe = described_as("available");
    let missing = failing!(
        Client::describe_db_parameter_groups,
        404,
        aws_error(
            "DBParameterGroupNotFound",
            "DBParameterGroup not found: legacy-db-postgres16"
        )
    );
    let create = mock!(Client::create_db_parameter_group)
        .match_requests(|request| {
            request.db_parameter_group_name() == Some(MOCK_GROUP)
                && request.db_parameter_group_family() == Some("postgres16")
        })
        .then_output(|| {
            aws_sdk_rds::operation::create_db_parameter_group::CreateDbParameterGroupOutput::builder()
                .build()
        });
    let parameters = mock!(Client::describe_db_parameters)
        .then_output(|| DescribeDbParametersOutput::builder().build());
    let modify = mock!(Client::modify_db_parameter_group).then_output(|| {
        aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput::builder()
            .build()
    });
    let attach = mock!(Client::modify_db_instance)
        .match_requests(|request| request.db_parameter_group_name() == Some(MOCK_GROUP))
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
        });
    let ctx = Rds::mocked(&[&describe, &missing, &create, &parameters, &modify, &attach]);
    let report = reconcile_as(
        &ctx,
        mock_owner(),
        &spec_with(&json!({"max_connections": "200"})),
    )
    .await;
    assert_eq!(create.num_calls(), 1, "{:?}", report.progress);
    assert_eq!(attach.num_calls(), 1, "{:?}", report.progress);
    let message = in_progress_message(&report.progress);
    assert!(message.contains("attaching"), "{message}");
}

/// Found by the outside trial of session 8 (DESIGN.md, Deletion: "`Retain` only removes
/// the tags' claim"): with `deletionPolicy: Retain` the finalizer released the instance
/// but left tiered's ownership tags on the DB parameter group tiered made for
/// `spec.parameters`, which stays attached to the retained instance; a later object of
/// the same namespace and name would count that group as its own.
#[tokio::test]
async fn retain_releases_the_parameter_group_with_the_instance() {
    let s = setup::<Rds>().await;
    s.create(&json!({"parameters": {"max_connections": "200"}, "deletionPolicy": "Retain"}))
        .await;
    let db = s.wait_ready().await;
    let status = db.status.unwrap();
    let identifier = status.identifier.unwrap();
    let group = status.parameter_group.unwrap().name;
    s.delete().await;
    s.wait_gone().await;

    let rds = rds_client(&s.moto);
    let instance = aws_reads::instance(&rds, &identifier).await.unwrap();
    let instance_tags = rds_tags_of(&rds, instance.db_instance_arn().unwrap()).await;
    assert!(
        !instance_tags.contains_key("tiered.io/name"),
        "the retained instance is released: {instance_tags:?}"
    );
    assert_group_released(&rds, &group).await;
}

/// Found by the outside trial: `Retain` released only the parameter group the status
/// named, and a pass that creates the group and then fails (the attachment or the
/// parameters refused or throttled, the operator killed) writes no status naming it;
/// deleting the object then left the group claimed by tiered's tags. The finalizer here
/// runs with no status at all.
#[tokio::test]
async fn retain_releases_a_parameter_group_the_status_does_not_name() {
    let server = support::moto::MotoServer::start();
    let ctx = Rds::on(&server);
    let retained = Rds::spec(&json!({
        "parameters": {"max_connections": "200"},
        "deletionPolicy": "Retain"
    }));
    let kept = support::data_tier::reconcile_until_ready(&ctx, "kept", &retained).await;
    support::data_tier::delete_until_done(&ctx, "kept", &retained).await;

    let group = format!("{}-postgres16", kept.id);
    assert_group_released(&ctx.rds, &group).await;
}

/// Checks that the DB parameter group `group` carries none of tiered's ownership tags.
async fn assert_group_released(rds: &aws_sdk_rds::Client, group: &str) {
    let described = rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(group)
        .send()
        .await
        .unwrap();
    let arn = described.db_parameter_groups()[0]
        .db_parameter_group_arn()
        .unwrap();
    let group_tags = rds_tags_of(rds, arn).await;
    for key in ["tiered.io/cluster", "tiered.io/namespace", "tiered.io/name"] {
        assert!(
            !group_tags.contains_key(key),
            "the group {group} kept {key}: {group_tags:?}"
        );
    }
}
