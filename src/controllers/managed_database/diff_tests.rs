//! Table tests of the desired-vs-observed diff.

use aws_sdk_rds::types::{DbInstance, PendingModifiedValues, VpcSecurityGroupMembership};

use super::*;
use crate::controllers::data_tier::testing::assert_mentions;
use crate::controllers::managed_database::desired::tests::desired;

/// An instance exactly as `desired()` asks for it.
fn in_sync() -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier("prod-shop-db-12345678")
        .db_instance_status("available")
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.r6g.large")
        .allocated_storage(100)
        .max_allocated_storage(500)
        .storage_type("gp3")
        .multi_az(true)
        .backup_retention_period(7)
        .preferred_backup_window("03:00-04:00")
        .preferred_maintenance_window("sun:05:00-sun:06:00")
        .deletion_protection(false)
        .vpc_security_groups(sg("sg-0bbb1234"))
        .vpc_security_groups(sg("sg-0aaa1234"))
        .build()
}

fn sg(id: &str) -> VpcSecurityGroupMembership {
    VpcSecurityGroupMembership::builder()
        .vpc_security_group_id(id)
        .status("active")
        .build()
}

#[test]
fn an_instance_in_sync_needs_no_modification() {
    assert_eq!(diff(&desired(), &in_sync()), Ok(None));
}

#[test]
fn only_the_changed_fields_are_sent() {
    type Case = (
        &'static str,
        fn(&mut DesiredInstance),
        &'static [&'static str],
    );
    let cases: [Case; 8] = [
        (
            "class",
            |d| d.instance_class = "db.r6g.xlarge".into(),
            &["instanceClass"],
        ),
        (
            "storage grows",
            |d| d.allocated_storage = 200,
            &["allocatedStorage"],
        ),
        (
            "ceiling",
            |d| d.max_allocated_storage = Some(900),
            &["maxAllocatedStorage"],
        ),
        ("multi-AZ", |d| d.multi_az = false, &["multiAZ"]),
        (
            "retention",
            |d| d.backup_retention_days = Some(14),
            &["backupRetentionPeriod"],
        ),
        (
            "protection",
            |d| d.deletion_protection = Some(true),
            &["deletionProtection"],
        ),
        (
            "groups",
            |d| d.common.security_group_ids = vec!["sg-0ccc1234".into()],
            &["vpcSecurityGroupIds"],
        ),
        (
            "class and window",
            |d| {
                d.instance_class = "db.m7g.large".into();
                d.common.maintenance_window = Some("mon:01:00-mon:02:00".into());
            },
            &["instanceClass", "preferredMaintenanceWindow"],
        ),
    ];
    for (name, edit, expected) in cases {
        let mut wanted = desired();
        edit(&mut wanted);
        let change = diff(&wanted, &in_sync()).unwrap().unwrap_or_default();
        assert_eq!(change.changed_fields(), expected, "{name}");
    }
}

#[test]
fn a_pending_change_is_not_sent_again() {
    let mut wanted = desired();
    wanted.instance_class = "db.r6g.xlarge".into();
    wanted.allocated_storage = 200;
    let mut observed = in_sync();
    observed.pending_modified_values = Some(
        PendingModifiedValues::builder()
            .db_instance_class("db.r6g.xlarge")
            .allocated_storage(200)
            .build(),
    );
    assert_eq!(diff(&wanted, &observed), Ok(None));
}

#[test]
fn reverting_a_pending_change_is_sent() {
    let mut observed = in_sync();
    observed.pending_modified_values = Some(
        PendingModifiedValues::builder()
            .db_instance_class("db.r6g.xlarge")
            .build(),
    );
    let change = diff(&desired(), &observed).unwrap().unwrap();
    assert_eq!(change.instance_class.as_deref(), Some("db.r6g.large"));
}

#[test]
fn storage_above_the_spec_is_never_sent_as_a_shrink() {
    let mut grown = in_sync();
    grown.allocated_storage = Some(180);
    assert_eq!(
        diff(&desired(), &grown),
        Ok(None),
        "autoscaling grew storage past the spec"
    );
    let mut wanted = desired();
    wanted.max_allocated_storage = None;
    let mut larger = in_sync();
    larger.max_allocated_storage = None;
    assert_eq!(
        diff(&wanted, &larger).map(|change| change.map(|c| c.allocated_storage)),
        Ok(None),
        "a larger instance without autoscaling is not drift either"
    );
}

/// Source: crossplane-contrib/provider-aws#2306 (storage autoscaling causes
/// allocatedStorage drift): storage grown by autoscaling, then the ceiling removed from
/// the spec, turns autoscaling off at the storage RDS has, once, and never stalls as a
/// shrink.
#[test]
fn removing_the_ceiling_after_autoscaling_grew_storage_turns_it_off_without_a_shrink() {
    let mut wanted = desired();
    wanted.max_allocated_storage = None;
    let mut grown = in_sync();
    grown.allocated_storage = Some(180);
    let change = diff(&wanted, &grown).unwrap().unwrap();
    assert_eq!(change.changed_fields(), ["maxAllocatedStorage"]);
    assert_eq!(
        change.max_allocated_storage,
        Some(180),
        "off at the storage RDS has"
    );
    for reported in [Some(180), None] {
        let mut off = grown.clone();
        off.max_allocated_storage = reported;
        assert_eq!(diff(&wanted, &off), Ok(None), "{reported:?}");
    }
}

/// Source: aws-controllers-k8s/community#2214 (the RDS controller cannot recover from
/// storage-full): the storage increase is sent alone and at once; no increase asked,
/// nothing sent.
#[test]
fn a_storage_full_instance_gets_only_the_storage_increase_now() {
    let mut full = in_sync();
    full.db_instance_status = Some("storage-full".into());
    assert_eq!(storage_full_modification(&desired(), &full), None);
    let mut wanted = desired();
    wanted.allocated_storage = 150;
    wanted.instance_class = "db.r6g.xlarge".into();
    let change = storage_full_modification(&wanted, &full).unwrap();
    assert_eq!(change.changed_fields(), ["allocatedStorage"]);
    assert_eq!(change.allocated_storage, Some(150));
    assert!(change.apply_immediately);
    full.pending_modified_values = Some(
        PendingModifiedValues::builder()
            .allocated_storage(150)
            .build(),
    );
    assert_eq!(
        storage_full_modification(&wanted, &full),
        None,
        "pending already"
    );
}

#[test]
fn removing_the_ceiling_turns_storage_autoscaling_off_once() {
    let mut wanted = desired();
    wanted.max_allocated_storage = None;
    let change = diff(&wanted, &in_sync()).unwrap().unwrap();
    assert_eq!(change.changed_fields(), ["maxAllocatedStorage"]);
    assert_eq!(
        change.max_allocated_storage,
        Some(100),
        "the ceiling is set to the allocated storage"
    );

    let mut off = in_sync();
    off.max_allocated_storage = Some(100);
    assert_eq!(
        diff(&wanted, &off),
        Ok(None),
        "RDS reports the ceiling at the storage"
    );
    off.max_allocated_storage = None;
    assert_eq!(diff(&wanted, &off), Ok(None), "RDS reports no ceiling");
}

#[test]
fn apply_immediately_is_carried_on_the_modification() {
    let mut wanted = desired();
    wanted.common.apply_immediately = true;
    wanted.instance_class = "db.r6g.xlarge".into();
    assert!(
        diff(&wanted, &in_sync())
            .unwrap()
            .unwrap()
            .apply_immediately
    );
}

#[test]
fn major_upgrade_needs_the_flag() {
    let mut wanted = desired();
    wanted.engine_version = Some("17.2".into());
    assert!(matches!(
        diff(&wanted, &in_sync()),
        Err(Unsupported::MajorUpgradeNotAllowed { .. })
    ));
    wanted.allow_major_version_upgrade = true;
    let change = diff(&wanted, &in_sync()).unwrap().unwrap();
    assert_eq!(change.engine_version.as_deref(), Some("17.2"));
    assert!(change.allow_major_version_upgrade);
}

#[test]
fn engine_versions_compare_by_major_of_each_engine() {
    use DatabaseEngine::{Mariadb, Mysql, Postgres};
    let cases = [
        (Postgres, "16.4", "16.4", VersionChange::None),
        (Postgres, "16", "16.4", VersionChange::None),
        (Postgres, "16.3", "16.4", VersionChange::None),
        (Postgres, "16.10", "16.4", VersionChange::Minor),
        (Postgres, "17.1", "16.4", VersionChange::Major),
        (Postgres, "15.8", "16.4", VersionChange::Downgrade),
        (Postgres, "9.6.24", "9.6.22", VersionChange::Minor),
        (Postgres, "10.1", "9.6.22", VersionChange::Major),
        (Mysql, "8.0.36", "8.0.35", VersionChange::Minor),
        (Mysql, "8.4.3", "8.0.35", VersionChange::Major),
        (Mariadb, "10.11.6", "10.6.14", VersionChange::Major),
        (Mariadb, "10.6.14", "10.11.6", VersionChange::Downgrade),
    ];
    for (engine, wanted, observed, expected) in cases {
        assert_eq!(
            version_change(engine, wanted, observed),
            expected,
            "{engine:?} {wanted} vs {observed}"
        );
    }
}

#[test]
fn performance_insights_are_compared_only_when_the_spec_has_them() {
    let mut wanted = desired();
    assert_eq!(diff(&wanted, &in_sync()), Ok(None));
    wanted.performance_insights = Some((true, Some(7)));
    let change = diff(&wanted, &in_sync()).unwrap().unwrap();
    assert_eq!(change.performance_insights, Some((true, Some(7))));
}

/// Source: issue 9 ("deletion protection follows the spec" on an adopted instance):
/// without `spec.deletionProtection`, an adopted instance keeps the protection it has.
#[test]
fn unset_deletion_protection_and_public_access_leave_the_instance_as_it_is() {
    let mut wanted = desired();
    wanted.deletion_protection = None;
    wanted.publicly_accessible = None;
    let mut protected = in_sync();
    protected.deletion_protection = Some(true);
    protected.publicly_accessible = Some(true);
    assert_eq!(diff(&wanted, &protected), Ok(None));
    wanted.deletion_protection = Some(false);
    let change = diff(&wanted, &protected).unwrap().unwrap();
    assert_eq!(
        change.changed_fields(),
        ["deletionProtection"],
        "only when asked"
    );
}

/// Source: issue 10 part 4 ("`engineVersion` optional: AWS's default at creation,
/// recorded in status, never upgraded by drift").
#[test]
fn without_an_engine_version_the_one_rds_chose_is_never_changed() {
    let mut wanted = desired();
    wanted.engine_version = None;
    for running in ["16.4", "17.2", "15.8"] {
        let mut observed = in_sync();
        observed.engine_version = Some(running.into());
        assert_eq!(diff(&wanted, &observed), Ok(None), "{running}");
    }
}

#[test]
fn storage_throughput_is_sent_only_when_the_spec_sets_another() {
    let mut wanted = desired();
    wanted.storage_throughput = Some(500);
    let change = diff(&wanted, &in_sync()).unwrap().unwrap();
    assert_eq!(change.changed_fields(), ["storageThroughput"]);
    let mut observed = in_sync();
    observed.storage_throughput = Some(500);
    assert_eq!(diff(&wanted, &observed), Ok(None));
    assert_eq!(
        diff(&desired(), &observed),
        Ok(None),
        "unset leaves it to AWS"
    );
}

/// Found from outside (a new user's trial): a spec turning encryption on for an
/// unencrypted instance was Ready, while RDS encrypts only at creation
/// (RDS User Guide, Overview.Encryption, limitations).
#[test]
fn storage_encryption_other_than_the_instance_has_is_unsupported_naming_the_field() {
    let mut wanted = desired();
    let mut plain = in_sync();
    plain.storage_encrypted = Some(false);
    wanted.storage_encrypted_asked = Some(true);
    let refused = diff(&wanted, &plain).unwrap_err();
    assert_eq!(refused.field(), "spec.storage.encrypted");
    assert_mentions(
        &refused.to_string(),
        &["set spec.storage.encrypted to false"],
    );
    wanted.storage_encrypted_asked = None;
    assert_eq!(
        diff(&wanted, &plain),
        Ok(None),
        "unset: the instance's own value stays"
    );
    wanted.storage_encrypted_asked = Some(false);
    assert_eq!(diff(&wanted, &plain), Ok(None));
}

/// Found from outside (a new user's trial): adopting a gp2 instance with a spec that
/// names no storage type modified it to gp3, a storage change that runs for hours.
#[test]
fn an_unset_storage_type_leaves_the_instance_on_its_own() {
    let mut wanted = desired();
    let mut gp2 = in_sync();
    gp2.storage_type = Some("gp2".to_owned());
    wanted.storage_type_asked = false;
    assert_eq!(diff(&wanted, &gp2), Ok(None));
    wanted.storage_type_asked = true;
    assert_eq!(
        diff(&wanted, &gp2).unwrap().unwrap().changed_fields(),
        ["storageType"],
        "only when the spec names one"
    );
}
