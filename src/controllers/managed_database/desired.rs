//! The DB instance a ManagedDatabase asks for ([`DesiredInstance`]), checks that only
//! the operator can make (with the AWS rules of `rules`), and the CreateDBInstance / CreateDBInstanceReadReplica
//! requests built from it. Pure: the request builders fill in a fluent builder and
//! never send it.

use std::collections::BTreeMap;

use aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder;
use aws_sdk_rds::operation::create_db_instance_read_replica::builders::CreateDBInstanceReadReplicaFluentBuilder;

use crate::api::managed_database::{
    CredentialSource, DatabaseEngine, ManagedDatabaseSpec, StorageType,
};
use crate::aws::tags::to_rds_tags;

use crate::controllers::data_tier::desired::Common;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::secret::Password;
use crate::controllers::data_tier::spec::SharedSpec;
use crate::controllers::managed_database::replica_of::Source;
use crate::controllers::managed_database::rules::{
    check_provisioned_iops, check_storage_throughput,
};

/// The owned settings of the primary DB instance, as RDS names and spells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredInstance {
    /// DB instance identifier.
    pub identifier: String,
    /// The engine.
    pub engine: DatabaseEngine,
    /// Engine version; `None` takes RDS' default at creation and never changes it.
    pub engine_version: Option<String>,
    /// Whether a major version upgrade may be requested.
    pub allow_major_version_upgrade: bool,
    /// Instance class.
    pub instance_class: String,
    /// Allocated storage in GiB.
    pub allocated_storage: i32,
    /// Storage autoscaling ceiling in GiB; `None` leaves it as it is.
    pub max_allocated_storage: Option<i32>,
    /// Storage type, lowercase (`gp3`).
    pub storage_type: &'static str,
    /// Whether the spec names the storage type; unset, an existing instance keeps its
    /// own (an adopted gp2 instance is not moved to gp3, an hours-long storage change).
    pub storage_type_asked: bool,
    /// Provisioned IOPS; `None` leaves them to AWS.
    pub iops: Option<i32>,
    /// Provisioned storage throughput (MiBps); `None` leaves it to AWS.
    pub storage_throughput: Option<i32>,
    /// Storage encryption (creation only).
    pub storage_encrypted: bool,
    /// Storage encryption as the spec states it (`None`: unset, AWS's value is kept on
    /// an adopted instance); compared with what RDS reports.
    pub storage_encrypted_asked: Option<bool>,
    /// KMS key for storage encryption (creation only).
    pub kms_key_id: Option<String>,
    /// Multi-AZ standby.
    pub multi_az: bool,
    /// Number of read replicas.
    pub read_replicas: u32,
    /// Database name (creation only).
    pub database_name: String,
    /// Master user name (creation only).
    pub master_username: String,
    /// Whether RDS manages the master password in Secrets Manager.
    pub manage_master_user_password: bool,
    /// Subnet group, security groups, maintenance window, apply now, tags.
    pub common: Common,
    /// Backup retention in days; `None` leaves it as it is.
    pub backup_retention_days: Option<i32>,
    /// Backup window; `None` leaves it as it is.
    pub backup_window: Option<String>,
    /// Deletion protection; `None` leaves it as it is (an adopted instance without
    /// `spec.deletionProtection`).
    pub deletion_protection: Option<bool>,
    /// Public accessibility; `None` leaves it as it is (an adopted instance without
    /// `spec.publiclyAccessible`).
    pub publicly_accessible: Option<bool>,
    /// Performance Insights (enabled, retention days); `None` leaves it as it is.
    pub performance_insights: Option<(bool, Option<i32>)>,
    /// The names of the snapshots to take on demand (`spec.snapshots`).
    pub snapshots: Vec<String>,
    /// Engine parameters (`spec.parameters`).
    pub parameters: BTreeMap<String, String>,
    /// The source of a replica (`spec.replicaOf`); `None` for an instance of its own.
    pub replica_source: Option<Source>,
    /// KMS key of the replica's region (`spec.replicaOf.kmsKeyId`).
    pub replica_kms_key_id: Option<String>,
    /// Promote the replica (`spec.replicaOf.promote`).
    pub promote: bool,
}

impl DesiredInstance {
    /// The desired instance for `spec`, named `identifier`, carrying `tags`.
    pub fn from_spec(
        spec: &ManagedDatabaseSpec,
        identifier: String,
        tags: BTreeMap<String, String>,
    ) -> Result<Self, InvalidSpec> {
        let high_availability = spec.high_availability.clone().unwrap_or_default();
        let read_replicas =
            u32::try_from(high_availability.read_replicas).map_err(|_| InvalidSpec {
                field: "spec.highAvailability.readReplicas",
                reason: "must not be negative".into(),
            })?;
        let backup_retention_days = spec.backup.as_ref().map(|backup| backup.retention_days);
        if read_replicas > 0 && backup_retention_days == Some(0) {
            return Err(InvalidSpec {
                field: "spec.backup.retentionDays",
                reason: "read replicas need automated backups; set retentionDays to 1 or more, or readReplicas to 0".into(),
            });
        }
        if let Some(max) = spec.storage.max_allocated_gib
            && max <= spec.storage.allocated_gib
        {
            return Err(InvalidSpec {
                field: "spec.storage.maxAllocatedGiB",
                reason: format!(
                    "must be greater than allocatedGiB ({})",
                    spec.storage.allocated_gib
                ),
            });
        }
        let storage_type = spec.storage.storage_type.unwrap_or(StorageType::Gp3);
        check_provisioned_iops(storage_type, spec.storage.allocated_gib, spec.storage.iops)?;
        check_storage_throughput(
            storage_type,
            spec.storage.allocated_gib,
            spec.storage.iops,
            spec.storage.throughput_mibps,
        )?;
        Ok(Self {
            identifier,
            engine: spec.engine,
            engine_version: spec.engine_version.clone(),
            allow_major_version_upgrade: spec.allow_major_version_upgrade,
            instance_class: spec.instance_class.clone(),
            allocated_storage: spec.storage.allocated_gib,
            max_allocated_storage: spec.storage.max_allocated_gib,
            storage_type: storage_type_name(storage_type),
            storage_type_asked: spec.storage.storage_type.is_some(),
            iops: spec.storage.iops,
            storage_throughput: spec.storage.throughput_mibps,
            storage_encrypted: spec.storage.encrypted.unwrap_or(true),
            storage_encrypted_asked: spec.storage.encrypted,
            kms_key_id: spec.storage.kms_key_id.clone(),
            multi_az: high_availability.multi_az,
            read_replicas,
            database_name: spec.database_name.clone(),
            master_username: spec.master_username.clone(),
            manage_master_user_password: spec
                .credentials
                .as_ref()
                .is_some_and(|credentials| credentials.source == CredentialSource::AwsManaged),
            common: Common::from_spec(spec.common(), tags),
            backup_retention_days,
            backup_window: spec
                .backup
                .as_ref()
                .and_then(|backup| backup.window.clone()),
            // Unset: off for an instance tiered creates; an adopted instance keeps
            // what it has (issue 9: adoption never removes deletion protection).
            deletion_protection: spec
                .deletion_protection
                .or((spec.adopt.is_none()).then_some(false)),
            // Unset: not public for an instance tiered creates (issue 10: AWS' default
            // makes it public in a VPC with an internet gateway).
            publicly_accessible: spec
                .publicly_accessible
                .or((spec.adopt.is_none()).then_some(false)),
            performance_insights: spec
                .performance_insights
                .as_ref()
                .map(|insights| (insights.enabled, insights.retention_days)),
            snapshots: crate::controllers::data_tier::snapshots::requested_names(&spec.snapshots),
            parameters: spec.parameters.clone(),
            replica_source: Source::of(spec)?,
            replica_kms_key_id: spec
                .replica_of
                .as_ref()
                .and_then(|replica_of| replica_of.kms_key_id.clone()),
            promote: spec
                .replica_of
                .as_ref()
                .is_some_and(|replica_of| replica_of.promote),
        })
    }
}

/// The RDS engine name.
pub const fn engine_name(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "postgres",
        DatabaseEngine::Mysql => "mysql",
        DatabaseEngine::Mariadb => "mariadb",
    }
}

/// The engine's default port.
pub const fn default_port(engine: DatabaseEngine) -> i32 {
    match engine {
        DatabaseEngine::Postgres => 5432,
        DatabaseEngine::Mysql | DatabaseEngine::Mariadb => 3306,
    }
}

/// The RDS storage type name.
pub const fn storage_type_name(storage_type: StorageType) -> &'static str {
    match storage_type {
        StorageType::Gp3 => "gp3",
        StorageType::Gp2 => "gp2",
        StorageType::Io1 => "io1",
        StorageType::Io2 => "io2",
    }
}

/// Sets what every new instance of `desired` gets whichever request makes it: public
/// access, the tags (copied to its snapshots) and the security groups (only when the
/// spec names some; RDS picks the VPC's default otherwise). A macro because each
/// request is an SDK builder type of its own, with no trait in common.
macro_rules! access_and_tags {
    ($request:expr, $desired:expr) => {{
        let desired: &DesiredInstance = $desired;
        let request = $request
            .publicly_accessible(desired.publicly_accessible.unwrap_or(false))
            .copy_tags_to_snapshot(true)
            .set_tags(Some(to_rds_tags(&desired.common.tags)));
        if desired.common.security_group_ids.is_empty() {
            request
        } else {
            request.set_vpc_security_group_ids(Some(desired.common.security_group_ids.clone()))
        }
    }};
}

/// Fills in CreateDBInstance for `desired`. `password` is the generated master password
/// (ignored when RDS manages it). The request's `Debug` redacts the password (the SDK
/// marks it sensitive).
pub fn create_instance_request(
    request: CreateDBInstanceFluentBuilder,
    desired: &DesiredInstance,
    password: Option<&Password>,
) -> CreateDBInstanceFluentBuilder {
    let mut request = request
        .db_instance_identifier(&desired.identifier)
        .engine(engine_name(desired.engine))
        .set_engine_version(desired.engine_version.clone())
        .db_instance_class(&desired.instance_class)
        .allocated_storage(desired.allocated_storage)
        .set_max_allocated_storage(desired.max_allocated_storage)
        .storage_type(desired.storage_type)
        .set_iops(desired.iops)
        .set_storage_throughput(desired.storage_throughput)
        .storage_encrypted(desired.storage_encrypted)
        .set_kms_key_id(desired.kms_key_id.clone())
        .multi_az(desired.multi_az)
        .db_name(&desired.database_name)
        .master_username(&desired.master_username)
        .set_db_subnet_group_name(desired.common.subnet_group_name.clone())
        .set_backup_retention_period(desired.backup_retention_days)
        .set_preferred_backup_window(desired.backup_window.clone())
        .set_preferred_maintenance_window(desired.common.maintenance_window.clone())
        .deletion_protection(desired.deletion_protection.unwrap_or(false));
    request = access_and_tags!(request, desired);
    if let Some((enabled, retention)) = desired.performance_insights {
        request = request
            .enable_performance_insights(enabled)
            .set_performance_insights_retention_period(retention.filter(|_| enabled));
    }
    if desired.manage_master_user_password {
        request.manage_master_user_password(true)
    } else {
        request.set_master_user_password(password.map(|password| password.expose().to_owned()))
    }
}

/// Fills in CreateDBInstanceReadReplica for replica `identifier` of `desired`.
pub fn create_replica_request(
    request: CreateDBInstanceReadReplicaFluentBuilder,
    desired: &DesiredInstance,
    identifier: &str,
) -> CreateDBInstanceReadReplicaFluentBuilder {
    let request = request
        .db_instance_identifier(identifier)
        .source_db_instance_identifier(&desired.identifier)
        .db_instance_class(&desired.instance_class)
        .storage_type(desired.storage_type)
        .set_max_allocated_storage(desired.max_allocated_storage)
        .deletion_protection(false);
    access_and_tags!(request, desired)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::managed_database::{Backup, HighAvailability, Storage};

    pub(crate) fn spec() -> ManagedDatabaseSpec {
        serde_json::from_value(serde_json::json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.r6g.large",
            "storage": {"allocatedGiB": 100, "maxAllocatedGiB": 500, "type": "gp3"},
            "highAvailability": {"multiAZ": true, "readReplicas": 0},
            "databaseName": "newsreadb",
            "masterUsername": "app",
            "network": {"subnetGroupName": "app-db", "securityGroupIds": ["sg-0bbb1234", "sg-0aaa1234"]},
            "backup": {"retentionDays": 7, "window": "03:00-04:00"},
            "maintenanceWindow": "Sun:05:00-Sun:06:00",
            "tags": {"team": "news"}
        }))
        .expect("valid spec")
    }

    pub(crate) fn desired() -> DesiredInstance {
        DesiredInstance::from_spec(&spec(), "prod-shop-db-12345678".into(), BTreeMap::new())
            .expect("valid")
    }

    #[test]
    fn spec_becomes_rds_names_with_defaults() {
        let desired = desired();
        assert_eq!(desired.storage_type, "gp3");
        assert!(desired.storage_encrypted, "encryption defaults to on");
        assert_eq!(
            desired.common.security_group_ids,
            ["sg-0aaa1234", "sg-0bbb1234"]
        );
        assert_eq!(
            desired.common.maintenance_window.as_deref(),
            Some("sun:05:00-sun:06:00")
        );
        assert!(!desired.manage_master_user_password);
        assert_eq!(desired.backup_retention_days, Some(7));
    }

    /// Source: issue 10 part 2 ("`PubliclyAccessible` is sent as `false` unless the
    /// spec asks": AWS' default makes an instance public in a VPC with an internet
    /// gateway). Also no engine version when the spec has none (RDS' default).
    #[test]
    fn creates_are_not_public_unless_asked_and_take_rds_default_version() {
        let client = aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::Config::builder()
                .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
                .region(aws_sdk_rds::config::Region::new("us-east-1"))
                .build(),
        );
        let request = create_instance_request(client.create_db_instance(), &desired(), None);
        assert_eq!(*request.as_input().get_publicly_accessible(), Some(false));
        let replica =
            create_replica_request(client.create_db_instance_read_replica(), &desired(), "r1");
        assert_eq!(*replica.as_input().get_publicly_accessible(), Some(false));

        let mut public = spec();
        public.publicly_accessible = Some(true);
        public.engine_version = None;
        let wanted = DesiredInstance::from_spec(&public, "x".into(), BTreeMap::new()).unwrap();
        let request = create_instance_request(client.create_db_instance(), &wanted, None);
        assert_eq!(*request.as_input().get_publicly_accessible(), Some(true));
        assert_eq!(*request.as_input().get_engine_version(), None);
    }

    #[test]
    fn an_adopted_instance_without_the_fields_keeps_its_protection_and_access() {
        let mut adopted = spec();
        adopted.adopt = Some(crate::api::managed_database::AdoptDatabase {
            identifier: "legacy".into(),
        });
        let wanted =
            DesiredInstance::from_spec(&adopted, "legacy".into(), BTreeMap::new()).unwrap();
        assert_eq!(wanted.deletion_protection, None);
        assert_eq!(wanted.publicly_accessible, None);
        assert_eq!(desired().deletion_protection, Some(false), "created: off");
    }

    #[test]
    fn replicas_without_backups_are_invalid_with_the_field_path() {
        let mut spec = spec();
        spec.high_availability = Some(HighAvailability {
            multi_az: false,
            read_replicas: 1,
        });
        spec.backup = Some(Backup {
            retention_days: 0,
            window: None,
        });
        let error = DesiredInstance::from_spec(&spec, "x".into(), BTreeMap::new()).unwrap_err();
        assert_eq!(error.field, "spec.backup.retentionDays");
    }

    #[test]
    fn autoscaling_ceiling_below_allocated_storage_is_invalid() {
        let mut spec = spec();
        spec.storage = Storage {
            max_allocated_gib: Some(50),
            ..spec.storage
        };
        let error = DesiredInstance::from_spec(&spec, "x".into(), BTreeMap::new()).unwrap_err();
        assert_eq!(error.field, "spec.storage.maxAllocatedGiB");
    }
}
