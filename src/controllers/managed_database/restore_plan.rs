//! What `tiered render` prints for a ManagedDatabase with `spec.restoreFrom`: the
//! restore call filled in by the controller's own builders (never sent), then the
//! ModifyDBInstance that gives the restored instance tiered's generated password
//! (redacted). Pure.

use serde_norway::Value;

use crate::controllers::data_tier::listing::{Parameters, strings};
use crate::controllers::managed_database::desired::DesiredInstance;
use crate::controllers::managed_database::plan::set_password_call;
use crate::controllers::managed_database::restore::{
    Restore, restore_from_snapshot_request, restore_to_point_in_time_request,
};

/// Lists the settings both restore requests take (the ones `restore_settings!` in
/// `restore.rs` sets), in the order render prints them: a macro because the two SDK
/// inputs share no trait.
macro_rules! put_restore_settings {
    ($p:ident, $input:ident) => {
        $p.put("StorageType", $input.get_storage_type());
        $p.put("Iops", $input.get_iops());
        $p.put("StorageThroughput", $input.get_storage_throughput());
        $p.put("MultiAZ", $input.get_multi_az());
        $p.put("DBSubnetGroupName", $input.get_db_subnet_group_name());
        $p.put(
            "VpcSecurityGroupIds",
            strings($input.get_vpc_security_group_ids().as_ref()),
        );
        $p.put(
            "BackupRetentionPeriod",
            $input.get_backup_retention_period(),
        );
        $p.put(
            "PreferredBackupWindow",
            $input.get_preferred_backup_window(),
        );
        $p.put("DeletionProtection", $input.get_deletion_protection());
        $p.put("PubliclyAccessible", $input.get_publicly_accessible());
        $p.put("CopyTagsToSnapshot", $input.get_copy_tags_to_snapshot());
        $p.put(
            "ManageMasterUserPassword",
            $input.get_manage_master_user_password(),
        );
        $p.tags($input.get_tags().as_ref());
    };
}

/// The calls that restore `desired` from `restore`: the restore, and with a generated
/// password the ModifyDBInstance that sets it once the instance is available.
pub fn restore_calls(
    client: &aws_sdk_rds::Client,
    desired: &DesiredInstance,
    restore: &Restore,
) -> Vec<Value> {
    let p = match restore {
        Restore::Snapshot(snapshot) => snapshot_parameters(client, desired, snapshot),
        Restore::PointInTime { source, time } => {
            point_in_time_parameters(client, desired, source, *time)
        }
    };
    let mut calls = vec![p.call(restore.action())];
    if !desired.manage_master_user_password {
        // The snapshot's password is unknown: tiered sets its own once the instance
        // is available, before the connection Secret carries one.
        calls.push(set_password_call(&desired.identifier));
    }
    calls
}

/// RestoreDBInstanceFromDBSnapshot's parameters as the controller fills them in.
fn snapshot_parameters(
    client: &aws_sdk_rds::Client,
    desired: &DesiredInstance,
    snapshot: &str,
) -> Parameters {
    let mut p = Parameters::new();
    let request = restore_from_snapshot_request(
        client.restore_db_instance_from_db_snapshot(),
        desired,
        snapshot,
    );
    let input = request.as_input();
    p.put("DBInstanceIdentifier", input.get_db_instance_identifier());
    p.put("DBSnapshotIdentifier", input.get_db_snapshot_identifier());
    p.put("Engine", input.get_engine());
    p.put("DBInstanceClass", input.get_db_instance_class());
    p.put("AllocatedStorage", input.get_allocated_storage());
    put_restore_settings!(p, input);
    p
}

/// RestoreDBInstanceToPointInTime's parameters as the controller fills them in.
fn point_in_time_parameters(
    client: &aws_sdk_rds::Client,
    desired: &DesiredInstance,
    source: &str,
    time: Option<aws_sdk_rds::primitives::DateTime>,
) -> Parameters {
    let mut p = Parameters::new();
    let request = restore_to_point_in_time_request(
        client.restore_db_instance_to_point_in_time(),
        desired,
        source,
        time,
    );
    let input = request.as_input();
    p.put(
        "TargetDBInstanceIdentifier",
        input.get_target_db_instance_identifier(),
    );
    p.put(
        "SourceDBInstanceIdentifier",
        input.get_source_db_instance_identifier(),
    );
    p.put(
        "RestoreTime",
        input.get_restore_time().and_then(|time| {
            time.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
                .ok()
        }),
    );
    p.put(
        "UseLatestRestorableTime",
        input.get_use_latest_restorable_time(),
    );
    p.put("Engine", input.get_engine());
    p.put("DBInstanceClass", input.get_db_instance_class());
    p.put("AllocatedStorage", input.get_allocated_storage());
    p.put("MaxAllocatedStorage", input.get_max_allocated_storage());
    put_restore_settings!(p, input);
    p
}

#[cfg(test)]
mod tests {
    use crate::api::ManagedDatabaseSpec;
    use crate::controllers::managed_database::desired::tests::spec;
    use crate::controllers::managed_database::plan::{DatabasePlan, database_plan};

    /// The plan of `spec` for the object `shop/<name>` in the cluster `prod`.
    pub(super) fn plan_of(spec: &ManagedDatabaseSpec, name: &str) -> DatabasePlan {
        database_plan(spec, "prod", "shop", name).unwrap()
    }

    /// Asserts that the plan's calls, as `tiered render` prints them, hold each of
    /// `present` and none of `absent`.
    pub(super) fn assert_calls(plan: &DatabasePlan, present: &[&str], absent: &[&str]) {
        let text = serde_norway::to_string(&plan.calls).unwrap();
        for part in present {
            assert!(text.contains(part), "{part} missing: {text}");
        }
        for part in absent {
            assert!(!text.contains(part), "{part} listed: {text}");
        }
    }

    #[test]
    fn render_shows_the_restore_and_the_redacted_password_set_after_it() {
        let mut restored = spec();
        restored.restore_from = Some(
            serde_json::from_value(serde_json::json!({"dbSnapshotIdentifier": "nightly-1"}))
                .unwrap(),
        );
        assert_calls(
            &plan_of(&restored, "db"),
            &[
                "action: rds:RestoreDBInstanceFromDBSnapshot",
                "DBSnapshotIdentifier: nightly-1",
                "tiered.io/name: db",
                "action: rds:ModifyDBInstance",
                "MasterUserPassword: <generated>",
            ],
            &["rds:CreateDBInstance\n"],
        );

        restored.restore_from = Some(
            serde_json::from_value(serde_json::json!({
                "sourceDBInstanceIdentifier": "prod-db",
                "restoreTime": "2026-11-30T03:00:00Z"
            }))
            .unwrap(),
        );
        assert_calls(
            &plan_of(&restored, "db"),
            &[
                "action: rds:RestoreDBInstanceToPointInTime",
                "SourceDBInstanceIdentifier: prod-db",
                "RestoreTime: 2026-11-30T03:00:00Z",
            ],
            &["CreateDBInstance"],
        );
    }
}

#[cfg(test)]
mod replica_of_tests {
    use super::tests::{assert_calls, plan_of};
    use crate::controllers::managed_database::desired::tests::spec;

    #[test]
    fn render_shows_the_replica_in_its_region_and_the_promotion_when_asked() {
        let mut replica = spec();
        replica.region = Some("eu-west-1".into());
        replica.replica_of = Some(
            serde_json::from_value(serde_json::json!({
                "sourceArn": "arn:aws-cn:rds:cn-north-1:123456789012:db:prod-db",
                "kmsKeyId": "alias/dr"
            }))
            .unwrap(),
        );
        let plan = plan_of(&replica, "dr");
        assert_calls(
            &plan,
            &[
                "action: rds:CreateDBInstanceReadReplica",
                "SourceDBInstanceIdentifier: arn:aws-cn:rds:cn-north-1:123456789012:db:prod-db",
                "KmsKeyId: alias/dr",
                "region: eu-west-1",
            ],
            &[
                "rds:CreateDBInstance\n",
                "PromoteReadReplica",
                "MasterUserPassword",
            ],
        );
        let secret = serde_norway::to_string(&plan.secret).unwrap();
        assert!(secret.contains("pendingPassword: <generated>"), "{secret}");
        assert!(!secret.contains("\n  password:"), "{secret}");

        if let Some(replica_of) = replica.replica_of.as_mut() {
            replica_of.promote = true;
        }
        assert_calls(
            &plan_of(&replica, "dr"),
            &[
                "action: rds:PromoteReadReplica",
                "BackupRetentionPeriod: 7",
                "tiered.io/promoted",
                "MasterUserPassword: <generated>",
            ],
            &[],
        );
    }
}
