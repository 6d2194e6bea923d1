//! Unit tests of `replica_of.rs` (the cross-region replica and promotion), apart so the module reads in one
//! sitting.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{DbInstanceStatusInfo, Tag};

use super::*;
use crate::controllers::managed_database::desired::tests::spec;
use crate::controllers::managed_database::plan::client;

const SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:db:prod-db";

fn replica_spec(replica_of: serde_json::Value) -> ManagedDatabaseSpec {
    let mut spec = spec();
    spec.region = Some("eu-west-1".into());
    spec.replica_of = Some(serde_json::from_value(replica_of).unwrap());
    spec
}

fn desired(spec: &ManagedDatabaseSpec) -> DesiredInstance {
    let tags = BTreeMap::from([("tiered.io/name".to_owned(), "dr".to_owned())]);
    DesiredInstance::from_spec(spec, "prod-shop-dr-12345678".into(), tags).unwrap()
}

fn instance(source: Option<&str>, promoted: Option<&str>) -> DbInstance {
    let mut tags = vec![Tag::builder().key("tiered.io/name").value("dr").build()];
    if let Some(at) = promoted {
        tags.push(Tag::builder().key(PROMOTED_TAG).value(at).build());
    }
    DbInstance::builder()
        .db_instance_identifier("prod-shop-dr-12345678")
        .set_read_replica_source_db_instance_identifier(source.map(str::to_owned))
        .status_infos(
            DbInstanceStatusInfo::builder()
                .status_type("read replication")
                .status("replicating")
                .normal(true)
                .build(),
        )
        .set_tag_list(Some(tags))
        .build()
}

#[test]
fn the_source_is_the_managed_database_or_the_arn() {
    assert_eq!(Source::of(&spec()), Ok(None));
    let named = replica_spec(serde_json::json!({"managedDatabase": "prod"}));
    assert_eq!(
        Source::of(&named),
        Ok(Some(Source::ManagedDatabase("prod".into())))
    );
    let arn = replica_spec(serde_json::json!({"sourceArn": SOURCE}));
    assert_eq!(Source::of(&arn), Ok(Some(Source::Arn(SOURCE.into()))));
    let both = replica_spec(serde_json::json!({"managedDatabase": "p", "sourceArn": SOURCE}));
    assert_eq!(Source::of(&both).unwrap_err().field, "spec.replicaOf");
}

/// moto keeps `ReadReplicaSourceDBInstanceIdentifier` after a promotion; RDS drops
/// it. Either way the instance counts as promoted once tiered tagged it.
#[test]
fn an_instance_is_a_replica_while_rds_names_a_source_and_tiered_did_not_promote_it() {
    assert!(is_replica(&instance(Some(SOURCE), None)));
    assert!(!is_replica(&instance(
        Some(SOURCE),
        Some("2026-11-30T05:00:00Z")
    )));
    assert!(!is_replica(&instance(None, None)));
    assert_eq!(
        promoted_at(&instance(None, Some("2026-11-30T05:00:00Z"))),
        Some("2026-11-30T05:00:00Z")
    );
}

#[test]
fn the_replica_request_carries_the_source_arn_the_kms_key_the_id_and_the_tags() {
    let spec = replica_spec(serde_json::json!({
        "sourceArn": SOURCE,
        "kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/k"
    }));
    let request = replica_of_request(
        client().create_db_instance_read_replica(),
        &desired(&spec),
        SOURCE,
    );
    let input = request.as_input();
    assert_eq!(
        input.get_db_instance_identifier().as_deref(),
        Some("prod-shop-dr-12345678")
    );
    assert_eq!(
        input.get_source_db_instance_identifier().as_deref(),
        Some(SOURCE)
    );
    assert_eq!(
        input.get_kms_key_id().as_deref(),
        Some("arn:aws:kms:eu-west-1:123456789012:key/k")
    );
    assert_eq!(
        input.get_db_instance_class().as_deref(),
        Some("db.r6g.large")
    );
    assert_eq!(*input.get_multi_az(), Some(true));
    assert_eq!(input.get_db_subnet_group_name().as_deref(), Some("app-db"));
    assert_eq!(*input.get_publicly_accessible(), Some(false));
    assert_eq!(*input.get_deletion_protection(), Some(false));
    let tags = input.get_tags().clone().unwrap_or_default();
    assert!(
        tags.iter().any(|t| t.key() == Some("tiered.io/name")),
        "{tags:?}"
    );
}

#[test]
fn promotion_turns_the_specs_backups_on() {
    let spec = replica_spec(serde_json::json!({"sourceArn": SOURCE, "promote": true}));
    let wanted = desired(&spec);
    assert!(wanted.promote);
    let request = promote_request(client().promote_read_replica(), &wanted);
    let input = request.as_input();
    assert_eq!(
        input.get_db_instance_identifier().as_deref(),
        Some("prod-shop-dr-12345678")
    );
    assert_eq!(*input.get_backup_retention_period(), Some(7));
    assert_eq!(
        input.get_preferred_backup_window().as_deref(),
        Some("03:00-04:00")
    );
    let mut off = wanted;
    off.backup_retention_days = Some(0);
    let request = promote_request(client().promote_read_replica(), &off);
    assert_eq!(
        *request.as_input().get_backup_retention_period(),
        None,
        "0 would leave backups off: RDS' default (1 day) instead"
    );
}

#[test]
fn replication_status_shows_role_source_and_state_as_rds_reports_them() {
    assert_eq!(replication_status(&spec(), None, None), None);
    let spec = replica_spec(serde_json::json!({"managedDatabase": "prod"}));
    let before = replication_status(&spec, None, None).unwrap();
    assert_eq!(before.role, ReplicationRole::Replica);
    assert_eq!(
        before.source.as_deref(),
        Some("<ARN of ManagedDatabase prod>")
    );

    let replica = replication_status(&spec, Some(&instance(Some(SOURCE), None)), None).unwrap();
    assert_eq!(replica.role, ReplicationRole::Replica);
    assert_eq!(replica.source.as_deref(), Some(SOURCE));
    assert_eq!(replica.state.as_deref(), Some("replicating"));
    assert_eq!(replica.promoted_at, None);

    // Promoted: RDS names no source any more; the status keeps the one it had.
    let promoted = replication_status(
        &spec,
        Some(&instance(None, Some("2026-11-30T05:00:00Z"))),
        Some(&replica),
    )
    .unwrap();
    assert_eq!(promoted.role, ReplicationRole::Primary);
    assert_eq!(promoted.source.as_deref(), Some(SOURCE));
    assert_eq!(promoted.state, None, "no replication state for a primary");
    assert_eq!(
        promoted.promoted_at.as_deref(),
        Some("2026-11-30T05:00:00Z")
    );
}
