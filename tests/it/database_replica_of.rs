//! Issue 13 part 1: a ManagedDatabase that is a cross-region read replica of another
//! (`spec.replicaOf`, `spec.region`), promoted on request, through the controller of
//! `tiered run` against the emulator and moto_server behind the `aws-faults` proxy:
//! created in its own region with the source's ARN, tagged as ours, a connection
//! Secret without a password until promotion, promoted once, then a primary with
//! tiered's own password that converges to zero calls. Also the CRD's cross-field rules
//! and the moto gaps the controller works around.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use tiered::api::ManagedDatabase;
use tiered::api::replication::ReplicationRole;
use tiered::controllers::managed_database::Rds;

use crate::support::aws_reads::{has_parameter_group, instance, parameter_values, rds_in, rds_tag};
use crate::support::data_tier::operator::NS;
use crate::support::faults::{Faulty, aws_id, start};
use crate::support::moto::{MotoServer, rds_client};
use crate::support::operator::eventually;

const RESYNC: Duration = Duration::from_secs(2);
const DR_REGION: &str = "eu-west-1";
const KMS_KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab";

/// Checks the replica `dr` of `primary_arn` in moto and Kubernetes; its region's client
/// and its identifier.
async fn assert_replica_in_its_region(
    f: &Faulty,
    primary_arn: &str,
) -> (aws_sdk_rds::Client, String) {
    // A replica's identifier ends with -rr: the IAM policy exempts new instances named
    // like replicas from its rule that a source must be this cluster's.
    let id = tiered::aws::naming::rds_replica_of_identifier("test", NS, "dr");
    assert!(id.ends_with("-rr"), "{id}");
    let dr = rds_in(&f.moto, DR_REGION);
    let replica = instance(&dr, &id)
        .await
        .expect("the replica is in eu-west-1");
    assert!(
        instance(&rds_client(&f.moto), &id).await.is_none(),
        "nothing in the operator's own region"
    );
    assert_eq!(
        replica.read_replica_source_db_instance_identifier(),
        Some(primary_arn)
    );
    assert_eq!(replica.kms_key_id(), Some(KMS_KEY));
    assert_eq!(rds_tag(replica.tag_list(), "tiered.io/name"), Some("dr"));
    assert_eq!(rds_tag(replica.tag_list(), "team"), Some("news"));
    assert_eq!(f.reached("CreateDBInstanceReadReplica"), 1);
    let status = f.database_status("dr").await;
    let replication = status.replication.unwrap();
    assert_eq!(replication.role, ReplicationRole::Replica);
    assert_eq!(replication.source.as_deref(), Some(primary_arn));
    assert!(status.arn.unwrap().contains(":eu-west-1:"));
    let data = f.connection("dr").await.unwrap_or_default();
    assert!(data["host"].contains(DR_REGION), "{}", data["host"]);
    assert!(!data.contains_key("password"), "{:?}", data.keys());
    assert!(data.contains_key("pendingPassword"), "{:?}", data.keys());

    (dr, id)
}

/// Source: issue 13 part 1 ("a replica … of another ManagedDatabase … created with the
/// source's ARN in its own region …, encrypted with a KMS key of its region …, tagged as
/// ours"; "promotion on request … afterwards the object is a primary … idempotent …
/// never happens by itself").
#[tokio::test]
async fn a_cross_region_replica_is_created_in_its_region_and_promoted_once_on_request() {
    let f = start(Vec::new(), 13, RESYNC).await;
    f.create::<Rds>("primary", &json!({})).await;
    eventually("the primary is Ready", || f.is_ready::<Rds>("primary")).await;
    let primary_arn = f.database_status("primary").await.arn.unwrap();
    assert!(primary_arn.contains(":us-east-1:"), "{primary_arn}");

    f.create::<Rds>(
        "dr",
        &json!({
            "region": DR_REGION,
            "replicaOf": {"managedDatabase": "primary", "kmsKeyId": KMS_KEY}
        }),
    )
    .await;
    eventually("the replica is Ready", || f.is_ready::<Rds>("dr")).await;
    let (dr, id) = assert_replica_in_its_region(&f, &primary_arn).await;

    // A replica left alone stays one: resyncs send nothing.
    f.assert_quiet(RESYNC * 3, "a replica left alone").await;
    assert_eq!(f.reached("PromoteReadReplica"), 0, "never by itself");

    // A rotation request on a replica changes nothing (its password is its source's):
    // noted in the status, no ModifyDBInstance.
    let api: Api<ManagedDatabase> = Api::namespaced(f.op.client.clone(), NS);
    let modified = f.reached("ModifyDBInstance");
    f.patch_database(
        "dr",
        json!({"metadata": {"annotations": {"tiered.io/rotate-password": "1"}}}),
    )
    .await;
    eventually("the rotation request is noted", || async {
        f.database("dr")
            .await
            .status
            .and_then(|status| status.password_rotation)
            .as_deref()
            == Some("1")
    })
    .await;
    assert_eq!(
        f.reached("ModifyDBInstance"),
        modified,
        "no password set on a replica"
    );
    assert!(
        !f.connection("dr")
            .await
            .unwrap_or_default()
            .contains_key("password")
    );

    // Promote: one field.
    let asked = Instant::now();
    f.promote("dr").await;
    eventually(
        "the promoted instance is a Ready primary with a password",
        || async {
            f.is_ready::<Rds>("dr").await
                && f.role("dr").await == Some(ReplicationRole::Primary)
                && f.connection("dr")
                    .await
                    .unwrap_or_default()
                    .contains_key("password")
        },
    )
    .await;
    let took = asked.elapsed();
    println!("promotion on moto: request to Ready as primary in {took:?}");
    assert_eq!(f.reached("PromoteReadReplica"), 1);
    let promoted = instance(&dr, &id).await.unwrap();
    assert!(
        rds_tag(promoted.tag_list(), "tiered.io/promoted").is_some(),
        "recorded"
    );
    let data = f.connection("dr").await.unwrap_or_default();
    assert!(!data.contains_key("pendingPassword"), "{:?}", data.keys());
    assert!(data["url"].contains(&data["host"]));

    // Converged: the promotion is never sent again, nothing else is either.
    f.assert_quiet(RESYNC * 3, "the promoted instance").await;
    assert_eq!(f.reached("PromoteReadReplica"), 1);

    // It is deleted like any primary of ours, in its region, the source untouched.
    api.delete("dr", &DeleteParams::default()).await.unwrap();
    eventually("the promoted instance is gone", || async {
        instance(&dr, &id).await.is_none()
    })
    .await;
    assert!(
        instance(&rds_client(&f.moto), &aws_id::<Rds>("primary"))
            .await
            .is_some()
    );
    f.op.stop().await;
}

/// Source: issue 13 part 1 ("cross-field rules in CEL with clear messages").
#[tokio::test]
async fn replica_rules_are_enforced_by_the_api_server() {
    let f = start(Vec::new(), 1, RESYNC).await;
    let api: Api<ManagedDatabase> = Api::namespaced(f.op.client.clone(), NS);
    let refused = |extra: serde_json::Value, part: &'static str| {
        let api = api.clone();
        async move {
            let spec = crate::support::data_tier::merged(
                <Rds as crate::support::data_tier::Kind>::manifest_spec(),
                &extra,
            );
            let object = crate::support::data_tier::object::<Rds>(NS, "bad", &spec);
            let error = api
                .create(&kube::api::PostParams::default(), &object)
                .await
                .expect_err("refused");
            let text = error.to_string();
            assert!(text.contains(part), "{part}: {text}");
        }
    };
    refused(
        json!({"replicaOf": {"managedDatabase": "a", "sourceArn": "arn:aws:rds:us-east-1:123456789012:db:x"}}),
        "exactly one of managedDatabase",
    )
    .await;
    refused(
        json!({"replicaOf": {"managedDatabase": "a"}, "restoreFrom": {"dbSnapshotIdentifier": "s"}}),
        "replicaOf cannot be combined with restoreFrom",
    )
    .await;
    refused(
        json!({"replicaOf": {"managedDatabase": "a"}, "credentials": {"source": "AWSManaged"}}),
        "AWSManaged",
    )
    .await;
    refused(
        json!({"replicaOf": {"managedDatabase": "a"}, "highAvailability": {"readReplicas": 1}}),
        "after promote: true",
    )
    .await;

    f.create::<Rds>("r", &json!({"replicaOf": {"managedDatabase": "a"}}))
        .await;
    let change = |patch: serde_json::Value, part: &'static str| {
        let api = api.clone();
        async move {
            let error = api
                .patch("r", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .expect_err("refused");
            let text = error.to_string();
            assert!(text.contains(part), "{part}: {text}");
        }
    };
    change(
        json!({"spec": {"replicaOf": {"managedDatabase": "b"}}}),
        "creation-only",
    )
    .await;
    change(json!({"spec": {"replicaOf": null}}), "creation-only").await;
    change(
        json!({"spec": {"region": "us-west-2"}}),
        "region is immutable",
    )
    .await;
    api.patch(
        "r",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicaOf": {"promote": true}}})),
    )
    .await
    .expect("promote is allowed");
    change(
        json!({"spec": {"replicaOf": {"promote": false}}}),
        "promote cannot be undone",
    )
    .await;
    f.op.stop().await;
}

/// What moto names as the replica source of the instance `id`.
async fn source_of(rds: &aws_sdk_rds::Client, id: &str) -> Option<String> {
    instance(rds, id)
        .await
        .unwrap_or_else(|| panic!("{id} exists"))
        .read_replica_source_db_instance_identifier()
        .map(str::to_owned)
}

/// What moto 5.2.5 does with cross-region replicas that real RDS does not (TESTING.md:
/// pin each gap so an upgrade that changes one fails here): after PromoteReadReplica it
/// still reports `ReadReplicaSourceDBInstanceIdentifier` (so tiered records a promotion
/// with its `tiered.io/promoted` tag), a second CreateDBInstanceReadReplica of the same
/// id replaces the replica instead of failing (so only describe-before-create keeps one),
/// deleting a cross-region replica that was never promoted fails with a 500, and a
/// point-in-time restore reports its source as `ReadReplicaSourceDBInstanceIdentifier`.
#[tokio::test]
async fn moto_cross_region_replica_gaps_are_pinned() {
    let moto = MotoServer::start();
    let east = rds_client(&moto);
    let west = rds_in(&moto, DR_REGION);
    let arn = east
        .create_db_instance()
        .db_instance_identifier("src")
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("the-password-123")
        .backup_retention_period(1)
        .send()
        .await
        .unwrap()
        .db_instance()
        .and_then(|i| i.db_instance_arn().map(str::to_owned))
        .unwrap();
    let replica = |id: &'static str, class: &'static str| {
        west.create_db_instance_read_replica()
            .db_instance_identifier(id)
            .source_db_instance_identifier(&arn)
            .db_instance_class(class)
            .send()
    };
    replica("rep", "db.t4g.small").await.unwrap();
    replica("rep", "db.t4g.large")
        .await
        .expect("moto accepts a second create of the same replica");
    let again = instance(&west, "rep").await.unwrap();
    assert_eq!(again.db_instance_class(), Some("db.t4g.large"), "replaced");

    replica("never-promoted", "db.t4g.small").await.unwrap();
    assert!(
        west.delete_db_instance()
            .db_instance_identifier("never-promoted")
            .skip_final_snapshot(true)
            .send()
            .await
            .is_err(),
        "moto fails to delete a cross-region replica"
    );

    west.promote_read_replica()
        .db_instance_identifier("rep")
        .send()
        .await
        .unwrap();
    assert_eq!(
        source_of(&west, "rep").await.as_deref(),
        Some(arn.as_str()),
        "moto still names the source of a promoted instance"
    );

    // A point-in-time restore is no replica, but moto names its source as one (so
    // tiered asks "replica?" only of objects with spec.replicaOf).
    east.restore_db_instance_to_point_in_time()
        .source_db_instance_identifier("src")
        .target_db_instance_identifier("pitr")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        source_of(&east, "pitr").await.as_deref(),
        Some("src"),
        "moto reports a point-in-time restore's source as a replica source"
    );
}

/// Source: issue 13 part 4 with part 1 ("`parameters` on a ManagedDatabase … creates
/// and owns a DB parameter group for the engine family, attaches it"): RDS gives a read
/// replica a DB parameter group of its own, so a replica's `spec.parameters` go into
/// its owned group in its region, attached to it. Before, a replica ignored them (Ready,
/// no group, `status.parameterGroup` empty) until it was promoted.
#[tokio::test]
async fn a_replica_gets_its_own_parameter_group_in_its_region() {
    let f = start(Vec::new(), 4, RESYNC).await;
    f.create::<Rds>("primary", &json!({})).await;
    eventually("the primary is Ready", || f.is_ready::<Rds>("primary")).await;
    f.create::<Rds>(
        "dr",
        &json!({
            "region": DR_REGION,
            "replicaOf": {"managedDatabase": "primary"},
            "parameters": {"max_connections": "150"}
        }),
    )
    .await;
    eventually("the replica is Ready with its parameter group", || async {
        f.is_ready::<Rds>("dr").await
            && f.database("dr")
                .await
                .status
                .is_some_and(|status| status.parameter_group.is_some())
    })
    .await;
    let id = tiered::aws::naming::rds_replica_of_identifier("test", NS, "dr");
    let group = f.database_status("dr").await.parameter_group.unwrap();
    assert_eq!(group.name, format!("{id}-postgres16"));
    assert_eq!(f.role("dr").await, Some(ReplicationRole::Replica));
    let dr = rds_in(&f.moto, DR_REGION);
    let replica = instance(&dr, &id).await.unwrap();
    has_parameter_group(&replica, &group.name).expect("attached to the replica");
    // (In the replica's region: the read fails otherwise.)
    let set = parameter_values(&dr, &group.name, Some("user")).await;
    assert_eq!(
        set,
        BTreeMap::from([("max_connections".to_owned(), "150".to_owned())])
    );
    assert_eq!(
        f.reached("ModifyDBInstance"),
        0,
        "created with its group: no attaching (and no reboot owed) afterwards"
    );
    // (moto lists no group for an unknown name where RDS answers NotFound.)
    assert!(
        rds_client(&f.moto)
            .describe_db_parameter_groups()
            .db_parameter_group_name(&group.name)
            .send()
            .await
            .map_or(true, |found| found.db_parameter_groups().is_empty()),
        "nothing in the operator's own region"
    );
    f.assert_quiet(RESYNC * 3, "a replica with parameters")
        .await;
    f.op.stop().await;
}

/// Found by an outside review: a ManagedDatabase naming itself in
/// `spec.replicaOf.managedDatabase` waited forever (TransientError) for its own ARN.
/// It is Stalled on the field instead, before any AWS call.
#[tokio::test]
async fn a_replica_of_itself_is_stalled_naming_the_field() {
    use crate::support::data_tier::{Kind, reconcile_once, stalled_message};
    use tiered::api::conditions::reasons;

    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let spec = Rds::spec(&json!({
        "engineVersion": null,
        "replicaOf": {"managedDatabase": "dr"}
    }));
    let report = reconcile_once(&ctx, "dr", &spec).await;
    let message = stalled_message(&report.progress, reasons::INVALID_SPEC);
    assert!(
        message.contains("spec.replicaOf.managedDatabase") && message.contains("itself"),
        "{message}"
    );
    assert_eq!(report.mutations, 0, "no AWS call: {message}");
}
