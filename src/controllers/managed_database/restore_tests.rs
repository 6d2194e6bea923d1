//! Unit tests of `restore.rs` (restores), apart so the module reads in one
//! sitting.

use std::collections::BTreeMap;

use super::*;
use crate::controllers::managed_database::desired::tests::spec;
use crate::controllers::managed_database::plan::client;

fn restoring(from: serde_json::Value) -> ManagedDatabaseSpec {
    let mut spec = spec();
    spec.restore_from = Some(serde_json::from_value(from).unwrap());
    spec
}

fn desired(spec: &ManagedDatabaseSpec) -> DesiredInstance {
    let tags = BTreeMap::from([("tiered.io/name".to_owned(), "db".to_owned())]);
    DesiredInstance::from_spec(spec, "prod-shop-db-12345678".into(), tags).unwrap()
}

/// Checks that the input of a restore request (from a snapshot or to a point in time:
/// `restore_settings!` fills in both alike) carries the settings of [`spec`] and the
/// tags of [`desired`]: engine, class, storage, availability, network, backups, access.
macro_rules! assert_the_specs_settings {
    ($input:expr) => {{
        let input = $input;
        assert_eq!(input.get_engine().as_deref(), Some("postgres"));
        assert_eq!(
            input.get_db_instance_class().as_deref(),
            Some("db.r6g.large")
        );
        assert_eq!(*input.get_allocated_storage(), Some(100));
        assert_eq!(input.get_storage_type().as_deref(), Some("gp3"));
        assert_eq!(*input.get_multi_az(), Some(true));
        assert_eq!(input.get_db_subnet_group_name().as_deref(), Some("app-db"));
        assert_eq!(
            input.get_vpc_security_group_ids().as_deref(),
            Some(&["sg-0aaa1234".to_owned(), "sg-0bbb1234".to_owned()][..])
        );
        assert_eq!(*input.get_backup_retention_period(), Some(7));
        assert_eq!(
            input.get_preferred_backup_window().as_deref(),
            Some("03:00-04:00")
        );
        assert_eq!(*input.get_deletion_protection(), Some(false));
        assert_eq!(*input.get_publicly_accessible(), Some(false));
        assert_eq!(*input.get_copy_tags_to_snapshot(), Some(true));
        let tags = input.get_tags().clone().unwrap_or_default();
        assert!(
            tags.iter()
                .any(|tag| tag.key() == Some("tiered.io/name") && tag.value() == Some("db")),
            "{tags:?}"
        );
    }};
}

#[test]
fn no_restore_from_means_a_plain_create() {
    assert_eq!(Restore::from_spec(&spec()), Ok(None));
}

#[test]
fn a_snapshot_restore_carries_the_id_tags_and_the_specs_settings() {
    let spec = restoring(serde_json::json!({"dbSnapshotIdentifier": "nightly-1"}));
    let restore = Restore::from_spec(&spec).unwrap().unwrap();
    assert_eq!(restore, Restore::Snapshot("nightly-1".into()));
    assert_eq!(restore.action(), "rds:RestoreDBInstanceFromDBSnapshot");
    let request = restore_from_snapshot_request(
        client().restore_db_instance_from_db_snapshot(),
        &desired(&spec),
        "nightly-1",
    );
    let input = request.as_input();
    assert_eq!(
        input.get_db_instance_identifier().as_deref(),
        Some("prod-shop-db-12345678")
    );
    assert_eq!(
        input.get_db_snapshot_identifier().as_deref(),
        Some("nightly-1")
    );
    assert_the_specs_settings!(input);
    assert_eq!(*input.get_manage_master_user_password(), None);
    assert_eq!(*input.get_db_name(), None, "RDS refuses DBName here");
}

#[test]
fn a_point_in_time_restore_sends_the_time_or_the_latest() {
    let spec = restoring(serde_json::json!({
        "sourceDBInstanceIdentifier": "prod-db",
        "restoreTime": "2026-11-30T03:00:00Z"
    }));
    let Some(Restore::PointInTime { source, time }) = Restore::from_spec(&spec).unwrap() else {
        panic!("a point-in-time restore");
    };
    assert_eq!(source, "prod-db");
    let request = restore_to_point_in_time_request(
        client().restore_db_instance_to_point_in_time(),
        &desired(&spec),
        &source,
        time,
    );
    let input = request.as_input();
    assert_eq!(
        input.get_target_db_instance_identifier().as_deref(),
        Some("prod-shop-db-12345678")
    );
    assert_eq!(
        input.get_source_db_instance_identifier().as_deref(),
        Some("prod-db")
    );
    assert_eq!(
        input.get_restore_time().map(|t| t.secs()),
        Some(1_796_007_600)
    );
    assert_eq!(*input.get_use_latest_restorable_time(), None);
    assert_eq!(*input.get_max_allocated_storage(), Some(500));
    assert_the_specs_settings!(input);

    let latest = restoring(serde_json::json!({
        "sourceDBInstanceIdentifier": "prod-db",
        "useLatestRestorableTime": true
    }));
    let restore = Restore::from_spec(&latest).unwrap().unwrap();
    assert_eq!(restore.action(), "rds:RestoreDBInstanceToPointInTime");
    let Restore::PointInTime { time: None, .. } = restore else {
        panic!("the latest restorable time");
    };
    let request = restore_to_point_in_time_request(
        client().restore_db_instance_to_point_in_time(),
        &desired(&latest),
        "prod-db",
        None,
    );
    let input = request.as_input();
    assert_eq!(*input.get_use_latest_restorable_time(), Some(true));
    assert_eq!(input.get_restore_time(), &None);
    assert_eq!(*input.get_max_allocated_storage(), Some(500));
    assert_the_specs_settings!(input);
}

#[test]
fn aws_managed_credentials_stay_managed_after_a_restore() {
    let mut spec = restoring(serde_json::json!({"dbSnapshotIdentifier": "s"}));
    spec.credentials = Some(crate::api::managed_database::Credentials {
        source: crate::api::managed_database::CredentialSource::AwsManaged,
    });
    let request = restore_from_snapshot_request(
        client().restore_db_instance_from_db_snapshot(),
        &desired(&spec),
        "s",
    );
    assert_eq!(
        *request.as_input().get_manage_master_user_password(),
        Some(true)
    );
}

#[test]
fn a_restored_instance_must_have_the_specs_user_and_database() {
    let restored = restoring(serde_json::json!({"dbSnapshotIdentifier": "s"}));
    let instance = |user: &str, db: &str| {
        DbInstance::builder()
            .master_username(user)
            .db_name(db)
            .build()
    };
    assert_eq!(
        check_restored(&restored, &instance("app", "newsreadb")),
        Ok(())
    );
    let error = check_restored(&restored, &instance("admin", "newsreadb")).unwrap_err();
    assert_eq!(error.field, "spec.masterUsername");
    assert!(error.reason.contains("\"admin\""), "{}", error.reason);
    let error = check_restored(&restored, &instance("app", "other")).unwrap_err();
    assert_eq!(error.field, "spec.databaseName");
    assert_eq!(
        check_restored(&spec(), &instance("admin", "other")),
        Ok(()),
        "only restores"
    );
}

#[test]
fn a_restore_source_the_crd_would_refuse_is_invalid_with_the_field_path() {
    for (from, field) in [
        (serde_json::json!({}), "spec.restoreFrom"),
        (
            serde_json::json!({"dbSnapshotIdentifier": "s", "sourceDBInstanceIdentifier": "p"}),
            "spec.restoreFrom",
        ),
        (
            serde_json::json!({"sourceDBInstanceIdentifier": "p"}),
            "spec.restoreFrom",
        ),
        (
            serde_json::json!({"dbSnapshotIdentifier": "s", "useLatestRestorableTime": true}),
            "spec.restoreFrom",
        ),
        (
            serde_json::json!({"sourceDBInstanceIdentifier": "p", "restoreTime": "yesterday"}),
            "spec.restoreFrom.restoreTime",
        ),
    ] {
        let error = Restore::from_spec(&restoring(from.clone())).unwrap_err();
        assert_eq!(error.field, field, "{from}");
    }
}
