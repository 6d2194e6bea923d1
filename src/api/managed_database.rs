//! `ManagedDatabase`: an Amazon RDS DB instance (and its read replicas) that tiered
//! provisions, keeps in line with the spec, and never deletes without the user's say.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parameters::ParameterGroupStatus;
use super::replication::{AWS_REGION, ReplicaOf, ReplicationStatus};
use super::shared::{
    AWS_IDENTIFIER, AwsNetwork, DAILY_WINDOW, DeletionPolicy, ENGINE_VERSION, Endpoint,
    WEEKLY_WINDOW, kind_status,
};
use super::snapshots::{SnapshotRequest, SnapshotStatus};

/// Annotation that asks for a new master password: set it to any value not handled yet
/// (e.g. a date, `kubectl annotate mdb NAME tiered.io/rotate-password=$(date +%s)
/// --overwrite`). With `Generated` credentials tiered generates a new password, sets it
/// in RDS (ModifyDBInstance, applied immediately) and then in the connection Secret, so
/// the tiers that use it roll; the handled value is recorded in
/// `status.passwordRotation`. With `AWSManaged` credentials rotation is RDS' job (in
/// Secrets Manager); tiered only records the value and says so in an Event.
pub const ROTATE_PASSWORD_ANNOTATION: &str = "tiered.io/rotate-password";

/// Desired state of an Amazon RDS database.
#[serde_with::skip_serializing_none]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tiered.io",
    version = "v1alpha1",
    kind = "ManagedDatabase",
    namespaced,
    status = "ManagedDatabaseStatus",
    shortname = "mdb",
    category = "tiered",
    doc = "An Amazon RDS database (PostgreSQL, MySQL or MariaDB) provisioned and kept in line by tiered, with its connection details in the Secret <name>-connection.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".status.endpoint.address"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        description = "What the Ready condition says: what is going on, or what to do",
        priority = "1"
    ),
    validation = Rule::new("size(self.metadata.name) <= 242").message("metadata.name must have at most 242 characters: the connection Secret <name>-connection must be a valid name (at most 253)")
)]
#[x_kube(validation = Rule::new("!has(oldSelf.adopt) || (has(self.adopt) && self.adopt == oldSelf.adopt)").message("adopt cannot be changed or removed once set").field_path(".adopt"))]
#[x_kube(validation = Rule::new("!has(self.tags) || self.tags.all(k, !k.startsWith('tiered.io/') && !k.lowerAscii().startsWith('aws:') && !k.lowerAscii().startsWith('rds:'))").message("tag keys starting with tiered.io/, aws: or rds: (in any case) are reserved (RDS refuses aws: and rds: in any upper or lower case)").field_path(".tags"))]
#[x_kube(validation = Rule::new("!has(self.tags) || self.tags.all(k, size(k) <= 128 && k.matches('^[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]+$') && size(self.tags[k]) <= 256 && self.tags[k].matches('^[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]*$'))").message("AWS tag keys have at most 128 and values at most 256 characters, each a letter, digit, space or one of _ . : / = + - @").field_path(".tags"))]
#[x_kube(validation = Rule::new("!has(self.adopt) || !has(self.deletionPolicy) || self.deletionPolicy != 'Delete'").message("adopt cannot be combined with deletionPolicy: Delete: tiered never deletes a resource it adopted; use Retain (the default when adopting) or Snapshot").field_path(".deletionPolicy"))]
#[x_kube(validation = Rule::new("!has(self.highAvailability) || !has(self.highAvailability.readReplicas) || self.highAvailability.readReplicas == 0 || !has(self.credentials) || self.credentials.source != 'AWSManaged'").message("read replicas cannot be combined with credentials.source: AWSManaged: RDS does not create read replicas of an instance whose master password Secrets Manager manages; use credentials.source: Generated or readReplicas: 0").field_path(".highAvailability.readReplicas"))]
#[x_kube(validation = Rule::new("has(self.restoreFrom) == has(oldSelf.restoreFrom)").message("restoreFrom is creation-only: it cannot be added to or removed from an existing ManagedDatabase; create a new one to restore").field_path(".restoreFrom"))]
#[x_kube(validation = Rule::new("!has(self.restoreFrom) || !has(self.adopt)").message("restoreFrom cannot be combined with adopt: a restore creates a new instance, adopt takes over an existing one").field_path(".restoreFrom"))]
#[x_kube(validation = Rule::new("has(self.replicaOf) == has(oldSelf.replicaOf)").message("replicaOf is creation-only: it cannot be added to or removed from an existing ManagedDatabase (a promoted replica keeps it, with promote: true)").field_path(".replicaOf"))]
#[x_kube(validation = Rule::new("!has(self.replicaOf) || (!has(self.restoreFrom) && !has(self.adopt))").message("replicaOf cannot be combined with restoreFrom or adopt: a replica is created from its source").field_path(".replicaOf"))]
#[x_kube(validation = Rule::new("!has(self.replicaOf) || !has(self.credentials) || self.credentials.source != 'AWSManaged'").message("replicaOf cannot be combined with credentials.source: AWSManaged: RDS does not create read replicas of an instance whose master password Secrets Manager manages").field_path(".credentials"))]
#[x_kube(validation = Rule::new("!has(self.replicaOf) || (has(self.replicaOf.promote) && self.replicaOf.promote) || !has(self.highAvailability) || !has(self.highAvailability.readReplicas) || self.highAvailability.readReplicas == 0").message("a replica has no read replicas of its own here: set readReplicas: 0, or add them after promote: true").field_path(".highAvailability.readReplicas"))]
#[x_kube(validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)").message("region is immutable: an instance cannot move between regions; create a new ManagedDatabase (a replicaOf in the new region) instead").field_path(".region"))]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabaseSpec {
    /// Database engine: `postgres`, `mysql` or `mariadb`. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("engine is immutable; create a new ManagedDatabase to change it"))]
    pub engine: DatabaseEngine,
    /// Engine version, e.g. `16.4`. A change of major version needs
    /// `allowMajorVersionUpgrade: true`. Optional: without it RDS picks its default
    /// version at creation (recorded in `status.engineVersion`), and tiered never
    /// changes the version the instance runs.
    #[schemars(length(min = 1, max = 32), regex(pattern = ENGINE_VERSION))]
    pub engine_version: Option<String>,
    /// Allow a major engine version upgrade when `engineVersion` changes major version.
    #[serde(default)]
    pub allow_major_version_upgrade: bool,
    /// RDS instance class, e.g. `db.r6g.large`.
    #[schemars(length(max = 64), regex(pattern = r"^db\.[a-z0-9-]+\.[a-z0-9]+$"))]
    pub instance_class: String,
    /// Storage size, type and encryption.
    pub storage: Storage,
    /// Multi-AZ standby and read replicas.
    pub high_availability: Option<HighAvailability>,
    /// Name of the database created in the instance. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("databaseName is immutable"))]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[A-Za-z][A-Za-z0-9_]*$"))]
    pub database_name: String,
    /// Master user name. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("masterUsername is immutable"))]
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[A-Za-z][A-Za-z0-9_]*$"))]
    pub master_username: String,
    /// Where the master password comes from.
    pub credentials: Option<Credentials>,
    /// Subnet group and security groups of the instance.
    pub network: Option<AwsNetwork>,
    /// Automated backups.
    pub backup: Option<Backup>,
    /// Weekly maintenance window in UTC, e.g. `sun:05:00-sun:06:00`.
    #[schemars(regex(pattern = WEEKLY_WINDOW))]
    pub maintenance_window: Option<String>,
    /// Performance Insights.
    pub performance_insights: Option<PerformanceInsights>,
    /// Apply changes now instead of in the next maintenance window.
    #[serde(default)]
    pub apply_immediately: bool,
    /// What happens to the instance when this object is deleted: `Snapshot` (default),
    /// `Retain` (default for adopted instances) or `Delete`.
    pub deletion_policy: Option<DeletionPolicy>,
    /// RDS deletion protection. While true, deleting this object is held with a
    /// condition until it is set to false. Unset: off for an instance tiered creates,
    /// and left as it is on an adopted instance (tiered never removes an adopted
    /// instance's deletion protection unless this says false).
    pub deletion_protection: Option<bool>,
    /// Whether the instance gets a public DNS name and address (RDS
    /// `PubliclyAccessible`). Unset: not public for an instance tiered creates (AWS'
    /// own default would make it public in a VPC with an internet gateway), and left
    /// as it is on an adopted instance.
    pub publicly_accessible: Option<bool>,
    /// Take over an existing DB instance instead of creating one.
    pub adopt: Option<AdoptDatabase>,
    /// Create the instance from a DB snapshot or from a point in time of another
    /// instance instead of an empty database. Creation-only. The source must have been
    /// made by tiered for this namespace in this cluster (a snapshot tiered took, this
    /// namespace's instance), or carry the AWS account administrator's tag
    /// `tiered.io/restorable=<namespace>/<name>` for this object; any other is refused
    /// (`Stalled`, `NotOptedIn`). The restored instance is tagged and owned like any
    /// other; tiered then sets a new master password (the snapshot's is unknown) before
    /// the connection Secret carries one.
    #[x_kube(validation = Rule::new("self == oldSelf").message("restoreFrom is creation-only: a restore happens once, when the instance is created; create a new ManagedDatabase to restore again"))]
    pub restore_from: Option<RestoreFrom>,
    /// AWS region of the instance, e.g. `eu-west-1`; the operator's region
    /// (`AWS_REGION`) when unset. Immutable. tiered makes every call for this object
    /// with an RDS client of that region.
    #[schemars(length(min = 1, max = 32), regex(pattern = AWS_REGION))]
    pub region: Option<String>,
    /// Make this instance a read replica of another DB instance, in this region or
    /// another (RDS CreateDBInstanceReadReplica with the source's ARN), and promote it
    /// to a standalone primary on request (`promote: true`, RDS PromoteReadReplica).
    /// The source is creation-only. While a replica, the connection Secret points at
    /// the replica's read-only endpoint and carries no password (the source's master
    /// password works; see docs/disaster-recovery.md); on promotion tiered sets its own.
    pub replica_of: Option<ReplicaOf>,
    /// Extra AWS tags. Keys under `tiered.io/`, `aws:` and `rds:` (the last two in any
    /// case) are reserved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    // maxLength on the values, not only the CEL rule's size(): the API server estimates
    // a rule's cost from the declared bounds, and a matches() on a value of unbounded
    // length (taken as the 3 MiB request) over 40 tags exceeds the per-rule budget, which
    // refuses the whole CRD at install (apiextensions' StaticEstimatedCostLimit).
    #[schemars(extend("maxProperties" = 40, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    pub tags: BTreeMap<String, String>,
    /// Manual snapshots to take on demand, each once (CreateDBSnapshot, tagged as
    /// tiered's): add a name to take one. `status.snapshots` shows their state. They
    /// follow `deletionPolicy`: kept with `Snapshot` and `Retain`, deleted with `Delete`
    /// once the instance is gone (those listed here that this object took). A name
    /// removed from the list leaves its snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[x_kube(validation = Rule::new("self.all(s, self.exists_one(t, t.name == s.name))").message("snapshot names must be unique"))]
    pub snapshots: Vec<SnapshotRequest>,
    /// Engine parameters, name to value (e.g. `max_connections: "200"`,
    /// `shared_preload_libraries: pg_stat_statements`). tiered creates and owns a DB
    /// parameter group for the engine family (`<identifier>-postgres16`), attaches it,
    /// applies dynamic parameters at once and static ones at the next reboot
    /// (`status.parameterGroup.pendingReboot`; reboot with the annotation
    /// `tiered.io/reboot`). A parameter removed here goes back to the family default.
    /// A parameter RDS refuses is `Stalled` naming `spec.parameters.<name>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 100))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[A-Za-z][A-Za-z0-9_.:-]{0,127}$'))").message("parameter names are letters, digits and _ . : - (at most 128), starting with a letter"))]
    pub parameters: BTreeMap<String, String>,
}

/// RDS database engine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseEngine {
    /// PostgreSQL.
    Postgres,
    /// MySQL.
    Mysql,
    /// MariaDB.
    Mariadb,
}

/// Storage of an RDS instance.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.allocatedGiB >= oldSelf.allocatedGiB").message("allocatedGiB can grow but never shrink; RDS cannot reduce storage").field_path(".allocatedGiB"))]
#[x_kube(validation = Rule::new("!has(self.maxAllocatedGiB) || self.maxAllocatedGiB > self.allocatedGiB").message("maxAllocatedGiB must be greater than allocatedGiB (it is the storage autoscaling ceiling)").field_path(".maxAllocatedGiB"))]
#[x_kube(validation = Rule::new("!has(self.iops) || self.type in ['gp3', 'io1', 'io2']").message("iops can only be set with storage type gp3, io1 or io2").field_path(".iops"))]
#[x_kube(validation = Rule::new("!has(self.throughputMiBps) || !has(self.type) || self.type == 'gp3'").message("throughputMiBps can only be set with storage type gp3").field_path(".throughputMiBps"))]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Allocated storage in GiB (20 to 65536). It can grow but never shrink.
    #[serde(rename = "allocatedGiB")]
    #[schemars(range(min = 20, max = 65536))]
    pub allocated_gib: i32,
    /// Storage autoscaling ceiling in GiB; absent disables storage autoscaling.
    #[serde(rename = "maxAllocatedGiB")]
    #[schemars(range(min = 21, max = 65536))]
    pub max_allocated_gib: Option<i32>,
    /// Storage type: `gp3` (default), `gp2`, `io1` or `io2`.
    #[serde(rename = "type")]
    pub storage_type: Option<StorageType>,
    /// Provisioned IOPS (gp3, io1, io2). gp3 takes them from 400 GiB on (12000 to
    /// 64000); io1 and io2 need them (1000 to 256000, 0.5 to 50 per GiB for io1, up to
    /// 1000 per GiB for io2).
    #[schemars(range(min = 1000, max = 256_000))]
    pub iops: Option<i32>,
    /// Provisioned storage throughput in MiBps (gp3 of 400 GiB or more: 500 to 4000,
    /// at most a quarter of the IOPS); absent leaves it to AWS.
    #[serde(rename = "throughputMiBps")]
    #[schemars(range(min = 125, max = 4000))]
    pub throughput_mibps: Option<i32>,
    /// Encrypt storage at rest. Defaults to true. Immutable after creation in RDS.
    pub encrypted: Option<bool>,
    /// KMS key for storage encryption; the AWS managed key when absent.
    #[schemars(length(max = 2048))]
    pub kms_key_id: Option<String>,
}

/// EBS volume type of RDS storage.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::api::shared::field_describes_enum)]
pub enum StorageType {
    /// General purpose SSD, baseline performance independent of size.
    Gp3,
    /// Previous-generation general purpose SSD.
    Gp2,
    /// Provisioned IOPS SSD.
    Io1,
    /// Provisioned IOPS SSD, higher durability.
    Io2,
}

/// High availability of a database.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HighAvailability {
    /// Keep a synchronous standby in another Availability Zone.
    #[serde(rename = "multiAZ", default)]
    pub multi_az: bool,
    /// Number of read replicas (0 to 5). Their endpoints appear in status and in the
    /// connection Secret as `readerHost`.
    #[serde(default)]
    #[schemars(range(min = 0, max = 5))]
    pub read_replicas: i32,
}

/// Where the master password lives.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct Credentials {
    /// `Generated`: tiered generates the password and keeps it in a Kubernetes Secret.
    /// `AWSManaged`: RDS keeps it in AWS Secrets Manager and the Secret carries its ARN.
    pub source: CredentialSource,
}

/// Source of the master password.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CredentialSource {
    /// Generated by tiered from the OS CSPRNG, stored in a Kubernetes Secret.
    Generated,
    /// Managed by RDS in AWS Secrets Manager (`ManageMasterUserPassword`).
    #[serde(rename = "AWSManaged")]
    AwsManaged,
}

/// Automated backups of a database.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// Days to keep automated backups (0 disables them; 1 to 35).
    #[schemars(range(min = 0, max = 35))]
    pub retention_days: i32,
    /// Daily backup window in UTC, e.g. `03:00-04:00`.
    #[schemars(regex(pattern = DAILY_WINDOW))]
    pub window: Option<String>,
}

/// Performance Insights of a database.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceInsights {
    /// Turn Performance Insights on.
    pub enabled: bool,
    /// Days to keep Performance Insights data (7 is the free tier).
    #[schemars(range(min = 7, max = 731))]
    pub retention_days: Option<i32>,
}

/// An existing DB instance to take over.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct AdoptDatabase {
    /// DB instance identifier of the instance to adopt.
    #[schemars(length(min = 1, max = 63), regex(pattern = AWS_IDENTIFIER))]
    pub identifier: String,
}

/// Where a new instance is restored from: a DB snapshot, or a point in time of another
/// instance (names after RDS' RestoreDBInstanceFromDBSnapshot and
/// RestoreDBInstanceToPointInTime).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.dbSnapshotIdentifier) != has(self.sourceDBInstanceIdentifier)").message("set exactly one of dbSnapshotIdentifier (restore a snapshot) and sourceDBInstanceIdentifier (restore a point in time)"))]
#[x_kube(validation = Rule::new("!has(self.sourceDBInstanceIdentifier) || (has(self.restoreTime) != (has(self.useLatestRestorableTime) && self.useLatestRestorableTime))").message("a point-in-time restore needs exactly one of restoreTime and useLatestRestorableTime: true"))]
#[x_kube(validation = Rule::new("has(self.sourceDBInstanceIdentifier) || (!has(self.restoreTime) && !has(self.useLatestRestorableTime))").message("restoreTime and useLatestRestorableTime apply only with sourceDBInstanceIdentifier"))]
#[serde(rename_all = "camelCase")]
pub struct RestoreFrom {
    /// DB snapshot to restore (its identifier, or its ARN for a shared snapshot).
    #[serde(rename = "dbSnapshotIdentifier")]
    #[schemars(length(min = 1, max = 2048))]
    pub db_snapshot_identifier: Option<String>,
    /// DB instance whose point in time is restored.
    #[serde(rename = "sourceDBInstanceIdentifier")]
    #[schemars(length(min = 1, max = 63), regex(pattern = AWS_IDENTIFIER))]
    pub source_db_instance_identifier: Option<String>,
    /// The point in time to restore, in UTC (RFC 3339, e.g. `2026-11-30T03:00:00Z`).
    #[schemars(length(max = 64), regex(pattern = RFC3339_UTC))]
    pub restore_time: Option<String>,
    /// Restore the latest restorable time of the source instance.
    pub use_latest_restorable_time: Option<bool>,
}

/// A UTC timestamp as RFC 3339 writes it (`2026-11-30T03:00:00Z`, fractions allowed).
pub const RFC3339_UTC: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$";

kind_status! {
    /// Observed state of a ManagedDatabase.
    pub struct ManagedDatabaseStatus {
        /// DB instance identifier in RDS.
        pub identifier: Option<String>,
        /// ARN of the DB instance.
        pub arn: Option<String>,
        /// Writer endpoint.
        pub endpoint: Option<Endpoint>,
        /// Endpoints of the read replicas.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reader_endpoints: Vec<Endpoint>,
        /// Engine version the instance runs, as RDS reports it (RDS' default when
        /// `spec.engineVersion` is unset).
        pub engine_version: Option<String>,
        /// Status of the instance as RDS reports it, e.g. `available` or `modifying`.
        pub aws_status: Option<String>,
        /// Name of the Secret with the connection details.
        pub connection_secret: Option<String>,
        /// The last value of the `tiered.io/rotate-password` annotation that was handled;
        /// setting the annotation to another value rotates the master password again.
        pub password_rotation: Option<String>,
        /// The snapshots `spec.snapshots` asks for, with their state in AWS.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub snapshots: Vec<SnapshotStatus>,
        /// Role and source of a ManagedDatabase with `spec.replicaOf`.
        pub replication: Option<ReplicationStatus>,
        /// The DB parameter group of `spec.parameters`, once tiered made one.
        pub parameter_group: Option<ParameterGroupStatus>,
    }
}
