//! Desired vs observed DB instance: the ModifyDBInstance to send, holding only the
//! owned fields that differ, compared against pending modifications too so that a
//! change already on its way is never sent again. Pure; table-tested.

use std::cmp::Ordering;

use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder;
use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};

use crate::api::managed_database::DatabaseEngine;
use crate::controllers::data_tier::error::UnsupportedChange;

use crate::controllers::managed_database::desired::DesiredInstance;

/// The owned fields to change; `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modification {
    /// New instance class.
    pub instance_class: Option<String>,
    /// New allocated storage (only ever larger).
    pub allocated_storage: Option<i32>,
    /// New storage autoscaling ceiling.
    pub max_allocated_storage: Option<i32>,
    /// New storage type.
    pub storage_type: Option<String>,
    /// New provisioned IOPS.
    pub iops: Option<i32>,
    /// New provisioned storage throughput (MiBps).
    pub storage_throughput: Option<i32>,
    /// New Multi-AZ setting.
    pub multi_az: Option<bool>,
    /// New backup retention.
    pub backup_retention_days: Option<i32>,
    /// New backup window.
    pub backup_window: Option<String>,
    /// New maintenance window.
    pub maintenance_window: Option<String>,
    /// New deletion protection.
    pub deletion_protection: Option<bool>,
    /// New public accessibility.
    pub publicly_accessible: Option<bool>,
    /// New engine version.
    pub engine_version: Option<String>,
    /// Whether the engine version change is a major upgrade.
    pub allow_major_version_upgrade: bool,
    /// New security groups.
    pub security_group_ids: Option<Vec<String>>,
    /// New Performance Insights setting (enabled, retention days).
    pub performance_insights: Option<(bool, Option<i32>)>,
    /// The DB parameter group a major upgrade moves to (never from [`diff`]: the
    /// upgrade step sets it, see `Rds::upgrade_parameter_group`).
    pub db_parameter_group_name: Option<String>,
    /// Apply now rather than in the maintenance window.
    pub apply_immediately: bool,
}

/// A change RDS cannot make in place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// A major version upgrade without the flag.
    #[error(
        "failed to upgrade engine {observed} to {desired}: a major version upgrade needs spec.allowMajorVersionUpgrade: true"
    )]
    MajorUpgradeNotAllowed {
        /// Version RDS reports.
        observed: String,
        /// Version in the spec.
        desired: String,
    },
    /// Storage encryption differs from the spec: RDS sets it at creation only ("You can
    /// only encrypt an Amazon RDS DB instance when you create it", RDS User Guide,
    /// Overview.Encryption, limitations).
    #[error(
        "failed to make storage encryption {}: RDS sets encryption only when it creates an instance (to change it, restore an encrypted or decrypted snapshot copy into a new one); set spec.storage.encrypted to {observed} to keep this instance",
        if *desired { "on" } else { "off" }
    )]
    Encryption {
        /// Encryption RDS reports.
        observed: bool,
        /// Encryption in the spec.
        desired: bool,
    },
    /// RDS cannot downgrade engines.
    #[error(
        "failed to downgrade engine {observed} to {desired}: RDS cannot downgrade; set engineVersion to {observed} or later"
    )]
    Downgrade {
        /// Version RDS reports.
        observed: String,
        /// Version in the spec.
        desired: String,
    },
}

impl UnsupportedChange for Unsupported {
    fn field(&self) -> &'static str {
        match self {
            Self::MajorUpgradeNotAllowed { .. } | Self::Downgrade { .. } => "spec.engineVersion",
            Self::Encryption { .. } => "spec.storage.encrypted",
        }
    }
}

impl Modification {
    /// The names of the fields this modification changes, for Events and logs.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let Self {
            instance_class,
            allocated_storage,
            max_allocated_storage,
            storage_type,
            iops,
            storage_throughput,
            multi_az,
            backup_retention_days,
            backup_window,
            maintenance_window,
            deletion_protection,
            publicly_accessible,
            engine_version,
            allow_major_version_upgrade: _,
            security_group_ids,
            performance_insights,
            db_parameter_group_name,
            apply_immediately: _,
        } = self;
        [
            ("instanceClass", instance_class.is_some()),
            ("allocatedStorage", allocated_storage.is_some()),
            ("maxAllocatedStorage", max_allocated_storage.is_some()),
            ("storageType", storage_type.is_some()),
            ("iops", iops.is_some()),
            ("storageThroughput", storage_throughput.is_some()),
            ("multiAZ", multi_az.is_some()),
            ("backupRetentionPeriod", backup_retention_days.is_some()),
            ("preferredBackupWindow", backup_window.is_some()),
            ("preferredMaintenanceWindow", maintenance_window.is_some()),
            ("deletionProtection", deletion_protection.is_some()),
            ("publiclyAccessible", publicly_accessible.is_some()),
            ("engineVersion", engine_version.is_some()),
            ("vpcSecurityGroupIds", security_group_ids.is_some()),
            ("performanceInsights", performance_insights.is_some()),
            ("dbParameterGroupName", db_parameter_group_name.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// Fills in ModifyDBInstance for the instance `identifier`.
    pub fn request(
        &self,
        request: ModifyDBInstanceFluentBuilder,
        identifier: &str,
    ) -> ModifyDBInstanceFluentBuilder {
        let mut request = request
            .db_instance_identifier(identifier)
            .apply_immediately(self.apply_immediately)
            .set_db_instance_class(self.instance_class.clone())
            .set_allocated_storage(self.allocated_storage)
            .set_max_allocated_storage(self.max_allocated_storage)
            .set_storage_type(self.storage_type.clone())
            .set_iops(self.iops)
            .set_storage_throughput(self.storage_throughput)
            .set_multi_az(self.multi_az)
            .set_backup_retention_period(self.backup_retention_days)
            .set_preferred_backup_window(self.backup_window.clone())
            .set_preferred_maintenance_window(self.maintenance_window.clone())
            .set_deletion_protection(self.deletion_protection)
            .set_publicly_accessible(self.publicly_accessible)
            .set_engine_version(self.engine_version.clone())
            .set_db_parameter_group_name(self.db_parameter_group_name.clone())
            .set_vpc_security_group_ids(self.security_group_ids.clone());
        if self.allow_major_version_upgrade {
            request = request.allow_major_version_upgrade(true);
        }
        if let Some((enabled, retention)) = self.performance_insights {
            request = request
                .enable_performance_insights(enabled)
                .set_performance_insights_retention_period(retention.filter(|_| enabled));
        }
        request
    }
}

/// The modification that brings `observed` to `desired`, `None` when nothing owned
/// differs (pending values count as done).
pub fn diff(
    desired: &DesiredInstance,
    observed: &DbInstance,
) -> Result<Option<Modification>, Unsupported> {
    if let (Some(desired), Some(observed)) = (
        desired.storage_encrypted_asked,
        observed.storage_encrypted(),
    ) && desired != observed
    {
        return Err(Unsupported::Encryption { observed, desired });
    }
    let pending = observed.pending_modified_values();
    let mut change = Modification {
        apply_immediately: desired.common.apply_immediately,
        ..Modification::default()
    };

    let class = pending
        .and_then(PendingModifiedValues::db_instance_class)
        .or(observed.db_instance_class());
    if class != Some(desired.instance_class.as_str()) {
        change.instance_class = Some(desired.instance_class.clone());
    }

    let storage = pending
        .and_then(PendingModifiedValues::allocated_storage)
        .or(observed.allocated_storage());
    // `allocatedGiB` is a floor: RDS storage only grows, so storage above it (grown by
    // storage autoscaling, also after the ceiling was removed, or outside tiered) is
    // not drift and never a "shrink" (crossplane-contrib/provider-aws#2306; the CRD
    // refuses lowering allocatedGiB itself).
    if storage.is_none_or(|observed| desired.allocated_storage > observed) {
        change.allocated_storage = Some(desired.allocated_storage);
    }
    change.max_allocated_storage =
        storage_ceiling_change(desired, observed, change.allocated_storage.or(storage));

    let storage_type = pending
        .and_then(PendingModifiedValues::storage_type)
        .or(observed.storage_type());
    if desired.storage_type_asked
        && !storage_type.is_some_and(|observed| observed.eq_ignore_ascii_case(desired.storage_type))
    {
        change.storage_type = Some(desired.storage_type.to_owned());
    }
    let iops = pending
        .and_then(PendingModifiedValues::iops)
        .or(observed.iops());
    if desired.iops.is_some() && iops != desired.iops {
        change.iops = desired.iops;
    }
    let throughput = pending
        .and_then(PendingModifiedValues::storage_throughput)
        .or(observed.storage_throughput());
    if desired.storage_throughput.is_some() && throughput != desired.storage_throughput {
        change.storage_throughput = desired.storage_throughput;
    }

    let multi_az = pending
        .and_then(PendingModifiedValues::multi_az)
        .or(observed.multi_az())
        .unwrap_or(false);
    if multi_az != desired.multi_az {
        change.multi_az = Some(desired.multi_az);
    }

    let retention = pending
        .and_then(PendingModifiedValues::backup_retention_period)
        .or(observed.backup_retention_period());
    if desired.backup_retention_days.is_some() && retention != desired.backup_retention_days {
        change.backup_retention_days = desired.backup_retention_days;
    }
    change.backup_window = changed_text(
        desired.backup_window.as_deref(),
        observed.preferred_backup_window(),
    );
    change.maintenance_window = changed_text(
        desired.common.maintenance_window.as_deref(),
        observed.preferred_maintenance_window(),
    );

    // Unset on an adopted instance: left as it is (issue 9).
    change.deletion_protection = desired
        .deletion_protection
        .filter(|wanted| observed.deletion_protection().unwrap_or(false) != *wanted);
    change.publicly_accessible = desired
        .publicly_accessible
        .filter(|wanted| observed.publicly_accessible().unwrap_or(false) != *wanted);

    // Without a version in the spec, the one RDS chose stays (never "upgraded").
    let version = pending
        .and_then(PendingModifiedValues::engine_version)
        .or(observed.engine_version());
    if let (Some(wanted), Some(version)) = (desired.engine_version.as_deref(), version)
        && version_needs_change(desired, wanted, version)?
    {
        change.engine_version = Some(wanted.to_owned());
        change.allow_major_version_upgrade =
            version_change(desired.engine, wanted, version) == VersionChange::Major;
    }

    if !desired.common.security_group_ids.is_empty() {
        let mut groups: Vec<String> = observed
            .vpc_security_groups()
            .iter()
            .filter(|group| group.status() != Some("removing"))
            .filter_map(|group| group.vpc_security_group_id().map(str::to_owned))
            .collect();
        groups.sort();
        groups.dedup();
        if groups != desired.common.security_group_ids {
            change.security_group_ids = Some(desired.common.security_group_ids.clone());
        }
    }

    change.performance_insights = changed_performance_insights(desired, observed);

    Ok((!change.changed_fields().is_empty()).then_some(change))
}

/// The modification that recovers an instance RDS reports `storage-full`: the storage
/// increase the spec asks for, alone (RDS accepts nothing else in that state) and
/// applied now (the database is out of service until it is); `None` when the spec asks
/// for no more storage than RDS has (or has pending). Source:
/// aws-controllers-k8s/community#2214 (a controller that waits for `available` never
/// sends the increase that would bring it back).
pub fn storage_full_modification(
    desired: &DesiredInstance,
    observed: &DbInstance,
) -> Option<Modification> {
    let storage = observed
        .pending_modified_values()
        .and_then(PendingModifiedValues::allocated_storage)
        .or(observed.allocated_storage());
    storage
        .is_none_or(|observed| desired.allocated_storage > observed)
        .then(|| Modification {
            allocated_storage: Some(desired.allocated_storage),
            apply_immediately: true,
            ..Modification::default()
        })
}

/// The autoscaling ceiling to send: the spec's when it differs; with no ceiling in the
/// spec, autoscaling is turned off, which RDS does when the ceiling is set to the
/// allocated storage (it then reports none, or that value).
pub fn storage_ceiling_change(
    desired: &DesiredInstance,
    observed: &DbInstance,
    allocated_after: Option<i32>,
) -> Option<i32> {
    let ceiling = observed.max_allocated_storage();
    match desired.max_allocated_storage {
        Some(wanted) => (ceiling != Some(wanted)).then_some(wanted),
        None => match (ceiling, allocated_after) {
            (Some(ceiling), Some(allocated)) if ceiling > allocated => Some(allocated),
            _ => None,
        },
    }
}

/// The Performance Insights setting to send, when the spec has one and RDS differs.
fn changed_performance_insights(
    desired: &DesiredInstance,
    observed: &DbInstance,
) -> Option<(bool, Option<i32>)> {
    let (enabled, retention) = desired.performance_insights?;
    let observed_enabled = observed.performance_insights_enabled().unwrap_or(false);
    let retention_differs = enabled
        && retention.is_some()
        && observed.performance_insights_retention_period() != retention;
    (observed_enabled != enabled || retention_differs).then_some((enabled, retention))
}

/// Whether the engine version `wanted` (of `desired`) must be requested over `observed`.
fn version_needs_change(
    desired: &DesiredInstance,
    wanted: &str,
    observed: &str,
) -> Result<bool, Unsupported> {
    match version_change(desired.engine, wanted, observed) {
        VersionChange::None => Ok(false),
        VersionChange::Minor => Ok(true),
        VersionChange::Major if desired.allow_major_version_upgrade => Ok(true),
        VersionChange::Major => Err(Unsupported::MajorUpgradeNotAllowed {
            observed: observed.to_owned(),
            desired: wanted.to_owned(),
        }),
        VersionChange::Downgrade => Err(Unsupported::Downgrade {
            observed: observed.to_owned(),
            desired: wanted.to_owned(),
        }),
    }
}

fn changed_text(desired: Option<&str>, observed: Option<&str>) -> Option<String> {
    let desired = desired?;
    (!observed.is_some_and(|observed| observed.eq_ignore_ascii_case(desired)))
        .then(|| desired.to_owned())
}

/// How a desired engine version relates to the observed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionChange {
    /// Same version, or `desired` names only a prefix (`16` of `16.4`), or RDS applied
    /// a newer minor version itself (auto minor upgrade): nothing to do.
    None,
    /// A newer minor version of the same major.
    Minor,
    /// A newer major version.
    Major,
    /// An older version of another major.
    Downgrade,
}

/// Compares engine versions the way RDS groups them into majors.
pub fn version_change(engine: DatabaseEngine, desired: &str, observed: &str) -> VersionChange {
    let prefix_of_observed = observed
        .strip_prefix(desired)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    if prefix_of_observed {
        return VersionChange::None;
    }
    let ordering = compare_versions(desired, observed);
    if major(engine, desired) == major(engine, observed) {
        return if ordering == Ordering::Greater {
            VersionChange::Minor
        } else {
            VersionChange::None
        };
    }
    if ordering == Ordering::Greater {
        VersionChange::Major
    } else {
        VersionChange::Downgrade
    }
}

/// The major version: `16` of PostgreSQL 16.4 (`9.6` before 10), `8.0` of MySQL 8.0.35,
/// `10.11` of MariaDB 10.11.6.
fn major(engine: DatabaseEngine, version: &str) -> String {
    let parts: Vec<&str> = version.split('.').collect();
    let first_number: u32 = parts.first().and_then(|p| p.parse().ok()).unwrap_or(0);
    let take = if engine == DatabaseEngine::Postgres && first_number >= 10 {
        1
    } else {
        2
    };
    parts
        .iter()
        .take(take)
        .copied()
        .collect::<Vec<_>>()
        .join(".")
}

fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) => {
                let ordering = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
