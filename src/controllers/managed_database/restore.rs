//! A new ManagedDatabase restored from a DB snapshot or a point in time of another
//! instance (`spec.restoreFrom`): which restore the spec asks for ([`Restore`], checked
//! where only the operator can), the RestoreDBInstanceFromDBSnapshot /
//! RestoreDBInstanceToPointInTime requests (pure builders, with the deterministic id,
//! the ownership tags and the spec's settings the calls take), and sending them. What
//! the restore calls do not take (backup retention of a snapshot restore aside, the
//! maintenance window, storage ceiling, Performance Insights) converges afterwards
//! through the usual ModifyDBInstance; the master password is set by the shared
//! outline once the instance is available (`Credential::pending`).
//!
//! Before the restore, while the instance does not exist, the source is checked like an
//! adoption target ([`Rds::check_restore_source`], `crate::aws::restore_source`): a
//! snapshot or source instance that is not this namespace's and carries no
//! `tiered.io/restorable` opt-in for this object is refused, `Stalled` naming
//! `spec.restoreFrom.…` and the tag that would allow it.

use aws_sdk_rds::operation::restore_db_instance_from_db_snapshot::builders::RestoreDBInstanceFromDBSnapshotFluentBuilder;
use aws_sdk_rds::operation::restore_db_instance_to_point_in_time::builders::RestoreDBInstanceToPointInTimeFluentBuilder;
use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::primitives::DateTimeFormat;
use aws_sdk_rds::types::{DbInstance, Tag};

use crate::api::ManagedDatabaseSpec;
use crate::api::managed_database::RestoreFrom;
use crate::aws::errors::{AwsError, not_found_is_none, sent};
use crate::aws::fleet::describe_instance;
use crate::aws::rds_actions::{
    DESCRIBE_DB_SNAPSHOTS, RESTORE_DB_INSTANCE_FROM_DB_SNAPSHOT,
    RESTORE_DB_INSTANCE_TO_POINT_IN_TIME,
};
use crate::aws::restore_source::{RestoreRefused, may_restore};
use crate::aws::tags::{Owner, to_rds_tags};
use crate::controllers::data_tier::diff::tag_pairs;
use crate::controllers::data_tier::error::{ConvergeError, InvalidSpec};

use crate::controllers::managed_database::desired::{DesiredInstance, engine_name};
use crate::controllers::managed_database::rds::Rds;

/// The restore `spec.restoreFrom` asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Restore {
    /// RestoreDBInstanceFromDBSnapshot of this snapshot (identifier or ARN).
    Snapshot(String),
    /// RestoreDBInstanceToPointInTime of `source` at `time` (`None`: its latest
    /// restorable time).
    PointInTime {
        /// The source instance.
        source: String,
        /// The point in time; `None` uses the latest restorable time.
        time: Option<DateTime>,
    },
}

impl Restore {
    /// The restore of `spec`, `None` without `spec.restoreFrom`.
    ///
    /// # Errors
    /// [`InvalidSpec`] on `spec.restoreFrom` when it names no source, both, or a time
    /// that is not RFC 3339 (the CRD's rules refuse these; an object stored before them
    /// still gets a clear condition).
    pub fn from_spec(spec: &ManagedDatabaseSpec) -> Result<Option<Self>, InvalidSpec> {
        let Some(from) = &spec.restore_from else {
            return Ok(None);
        };
        let RestoreFrom {
            db_snapshot_identifier,
            source_db_instance_identifier,
            restore_time,
            use_latest_restorable_time,
        } = from;
        let latest = use_latest_restorable_time == &Some(true);
        match (db_snapshot_identifier, source_db_instance_identifier) {
            (Some(snapshot), None) if restore_time.is_none() && !latest => {
                Ok(Some(Self::Snapshot(snapshot.clone())))
            }
            (None, Some(source)) => {
                let time = match (restore_time, latest) {
                    (Some(time), false) => Some(
                        DateTime::from_str(time, DateTimeFormat::DateTime).map_err(|_| {
                            InvalidSpec {
                                field: "spec.restoreFrom.restoreTime",
                                reason: format!(
                                    "{time:?} is not an RFC 3339 UTC time such as 2026-11-30T03:00:00Z"
                                ),
                            }
                        })?,
                    ),
                    (None, true) => None,
                    _ => {
                        return Err(InvalidSpec {
                            field: "spec.restoreFrom",
                            reason: "a point-in-time restore needs exactly one of restoreTime and useLatestRestorableTime: true".into(),
                        });
                    }
                };
                Ok(Some(Self::PointInTime {
                    source: source.clone(),
                    time,
                }))
            }
            _ => Err(InvalidSpec {
                field: "spec.restoreFrom",
                reason: "set exactly one of dbSnapshotIdentifier and sourceDBInstanceIdentifier (restoreTime and useLatestRestorableTime only with the latter)".into(),
            }),
        }
    }

    /// The IAM action of this restore, for `tiered render` and errors.
    pub const fn action(&self) -> &'static str {
        match self {
            Self::Snapshot(_) => RESTORE_DB_INSTANCE_FROM_DB_SNAPSHOT,
            Self::PointInTime { .. } => RESTORE_DB_INSTANCE_TO_POINT_IN_TIME,
        }
    }
}

/// Checks that the restored (or replicated) `instance` has the master user and
/// database name `spec` says (a restore or a replica takes both from its source, and
/// the connection Secret would otherwise name ones that do not exist); no check
/// without `spec.restoreFrom` or `spec.replicaOf`, or before RDS reports them.
///
/// # Errors
/// [`InvalidSpec`] on `spec.masterUsername` or `spec.databaseName`, naming the restored
/// value to put there.
pub fn check_restored(
    spec: &ManagedDatabaseSpec,
    instance: &DbInstance,
) -> Result<(), InvalidSpec> {
    if spec.restore_from.is_none() && spec.replica_of.is_none() {
        return Ok(());
    }
    check_source_names(
        spec,
        instance.master_username(),
        instance.db_name(),
        "the instance's",
    )
}

/// Checks the master user and database name a restore or replica takes from its source
/// (`whose`: "the instance's", "the source's") against `spec`'s. Both fields are
/// creation-only (CEL), so the advice is to create the object again with the source's
/// value: an outside review found the earlier "set masterUsername to it" refused by the
/// API server. [`Rds::check_restore_source`] runs it before the restore, so nothing is
/// created (and paid for) under a spec that cannot describe it.
///
/// # Errors
/// [`InvalidSpec`] on `spec.masterUsername` or `spec.databaseName`.
pub fn check_source_names(
    spec: &ManagedDatabaseSpec,
    master_username: Option<&str>,
    database_name: Option<&str>,
    whose: &str,
) -> Result<(), InvalidSpec> {
    let advice = |field: &str, value: &str| {
        format!(
            "{whose} {} is {value:?} (RDS keeps the source's on a restore or replica) and {field} is creation-only: delete this object and create it again with {field}: {value}",
            if field == "masterUsername" {
                "master user"
            } else {
                "database"
            }
        )
    };
    if let Some(user) = master_username
        && user != spec.master_username
    {
        return Err(InvalidSpec {
            field: "spec.masterUsername",
            reason: advice("masterUsername", user),
        });
    }
    if let Some(name) = database_name
        && name != spec.database_name
    {
        return Err(InvalidSpec {
            field: "spec.databaseName",
            reason: advice("databaseName", name),
        });
    }
    Ok(())
}

/// What a restore takes from its source and the spec must match.
#[derive(Clone, Debug, Default)]
struct SourceNames {
    /// The source's master user, when AWS reports it.
    master_username: Option<String>,
    /// The source instance's database name (unknown for a snapshot).
    database_name: Option<String>,
}

/// The settings both restore calls take from `desired`, set on `$request` (a
/// RestoreDBInstanceFromDBSnapshot or RestoreDBInstanceToPointInTime fluent builder):
/// engine, class, storage, availability, network, backup, access, tags, and AWS-managed
/// credentials. The two builders are separate SDK types with the same setters and no
/// trait in common, so the list is written once here (as `tag_calls!` does for tags)
/// instead of twice, where one copy could drift from the other.
macro_rules! restore_settings {
    ($request:expr, $desired:expr) => {{
        let desired: &DesiredInstance = $desired;
        let mut request = $request
            .engine(engine_name(desired.engine))
            .db_instance_class(&desired.instance_class)
            .allocated_storage(desired.allocated_storage)
            .storage_type(desired.storage_type)
            .set_iops(desired.iops)
            .set_storage_throughput(desired.storage_throughput)
            .multi_az(desired.multi_az)
            .set_db_subnet_group_name(desired.common.subnet_group_name.clone())
            .set_backup_retention_period(desired.backup_retention_days)
            .set_preferred_backup_window(desired.backup_window.clone())
            .deletion_protection(desired.deletion_protection.unwrap_or(false))
            .publicly_accessible(desired.publicly_accessible.unwrap_or(false))
            .copy_tags_to_snapshot(true)
            .set_tags(Some(to_rds_tags(&desired.common.tags)));
        if !desired.common.security_group_ids.is_empty() {
            request =
                request.set_vpc_security_group_ids(Some(desired.common.security_group_ids.clone()));
        }
        if desired.manage_master_user_password {
            request = request.manage_master_user_password(true);
        }
        request
    }};
}

/// Fills in RestoreDBInstanceFromDBSnapshot of `snapshot` into `desired`: its id, tags,
/// class, storage, availability, network, backup and access settings. No password
/// (the snapshot's is kept until tiered sets one) and no database name (RDS takes it
/// from the snapshot; the call refuses one for PostgreSQL, MySQL and MariaDB).
pub fn restore_from_snapshot_request(
    request: RestoreDBInstanceFromDBSnapshotFluentBuilder,
    desired: &DesiredInstance,
    snapshot: &str,
) -> RestoreDBInstanceFromDBSnapshotFluentBuilder {
    restore_settings!(
        request
            .db_instance_identifier(&desired.identifier)
            .db_snapshot_identifier(snapshot),
        desired
    )
}

/// Fills in RestoreDBInstanceToPointInTime of `source` at `time` (`None`: the latest
/// restorable time) into `desired`, with the same settings as a snapshot restore plus
/// the storage autoscaling ceiling.
pub fn restore_to_point_in_time_request(
    request: RestoreDBInstanceToPointInTimeFluentBuilder,
    desired: &DesiredInstance,
    source: &str,
    time: Option<DateTime>,
) -> RestoreDBInstanceToPointInTimeFluentBuilder {
    let request = request
        .target_db_instance_identifier(&desired.identifier)
        .source_db_instance_identifier(source)
        .set_max_allocated_storage(desired.max_allocated_storage);
    let request = match time {
        Some(time) => request.restore_time(time),
        None => request.use_latest_restorable_time(true),
    };
    restore_settings!(request, desired)
}

impl Rds {
    /// Checks that `owner` may restore what `spec.restoreFrom` names: the snapshot, or
    /// the source instance of a point-in-time restore, read in the object's region with
    /// its tags, must be `owner`'s namespace's or opted in for `owner`
    /// ([`may_restore`]). Nothing to check without `spec.restoreFrom`.
    ///
    /// # Errors
    /// [`RestoreRefused`] (as [`ConvergeError::RestoreSource`]) when the source is
    /// missing or not allowed; a failed read.
    pub async fn check_restore_source(
        &self,
        spec: &ManagedDatabaseSpec,
        owner: &Owner,
    ) -> Result<(), ConvergeError> {
        let Some(restore) = Restore::from_spec(spec)? else {
            return Ok(());
        };
        let (field, source_name, found) = match &restore {
            Restore::Snapshot(snapshot) => (
                "spec.restoreFrom.dbSnapshotIdentifier",
                format!("DB snapshot {snapshot}"),
                self.snapshot_tags(snapshot).await?,
            ),
            Restore::PointInTime { source, .. } => (
                "spec.restoreFrom.sourceDBInstanceIdentifier",
                format!("DB instance {source}"),
                describe_instance(&self.rds, source).await?.map(|instance| {
                    let names = SourceNames {
                        master_username: instance.master_username().map(str::to_owned),
                        database_name: instance.db_name().map(str::to_owned),
                    };
                    (tag_pairs(instance.tag_list(), Tag::key, Tag::value), names)
                }),
            ),
        };
        let Some((tags, names)) = found else {
            return Err(RestoreRefused::NotFound { field, source_name }.into());
        };
        let pairs = tags
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()));
        may_restore(field, &source_name, pairs, owner)?;
        check_source_names(
            spec,
            names.master_username.as_deref(),
            names.database_name.as_deref(),
            "the source's",
        )?;
        Ok(())
    }

    /// The tags and master user of the DB snapshot `snapshot` (an identifier, or the ARN
    /// of a shared one); `None` when RDS knows no such snapshot.
    async fn snapshot_tags(
        &self,
        snapshot: &str,
    ) -> Result<Option<(Vec<(String, String)>, SourceNames)>, AwsError> {
        let request = self
            .rds
            .describe_db_snapshots()
            .db_snapshot_identifier(snapshot)
            .set_include_shared(snapshot.starts_with("arn:").then_some(true));
        let described = sent(DESCRIBE_DB_SNAPSHOTS, request.send()).await;
        not_found_is_none(described.map(|output| {
            output.db_snapshots().first().map(|found| {
                // A DB snapshot records its master user, not its database name.
                let names = SourceNames {
                    master_username: found.master_username().map(str::to_owned),
                    database_name: None,
                };
                (tag_pairs(found.tag_list(), Tag::key, Tag::value), names)
            })
        }))
    }

    /// Sends the restore `restore` for `desired` (instead of CreateDBInstance).
    pub async fn restore(
        &self,
        restore: &Restore,
        desired: &DesiredInstance,
    ) -> Result<Option<DbInstance>, AwsError> {
        match restore {
            Restore::Snapshot(snapshot) => {
                let request = restore_from_snapshot_request(
                    self.rds.restore_db_instance_from_db_snapshot(),
                    desired,
                    snapshot,
                );
                let output = sent(restore.action(), request.send()).await?;
                Ok(output.db_instance)
            }
            Restore::PointInTime { source, time } => {
                let request = restore_to_point_in_time_request(
                    self.rds.restore_db_instance_to_point_in_time(),
                    desired,
                    source,
                    *time,
                );
                let output = sent(restore.action(), request.send()).await?;
                Ok(output.db_instance)
            }
        }
    }
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
