//! The cross-region read replica of a ManagedDatabase (`spec.replicaOf`, `spec.region`)
//! and what its status says about it (`status.replication`): types only.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An AWS region name, e.g. `eu-west-1` or `us-gov-west-1`.
pub const AWS_REGION: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";

/// An RDS DB instance ARN in any partition
/// (`arn:aws:rds:us-east-1:123456789012:db:prod-db`, `arn:aws-cn:…`, `arn:aws-us-gov:…`).
pub const RDS_INSTANCE_ARN: &str =
    r"^arn:aws(-[a-z]+)*:rds:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:db:[a-zA-Z][a-zA-Z0-9-]{0,62}$";

/// The source a ManagedDatabase replicates (RDS CreateDBInstanceReadReplica), and
/// whether to promote it to a standalone primary (RDS PromoteReadReplica).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.managedDatabase) != has(self.sourceArn)").message("set exactly one of managedDatabase (a ManagedDatabase in this namespace) and sourceArn (the ARN of a DB instance, e.g. in another region)"))]
#[x_kube(validation = Rule::new("!has(oldSelf.managedDatabase) || (has(self.managedDatabase) && self.managedDatabase == oldSelf.managedDatabase)").message("replicaOf.managedDatabase is creation-only: a replica cannot change its source; create a new ManagedDatabase").field_path(".managedDatabase"))]
#[x_kube(validation = Rule::new("!has(oldSelf.sourceArn) || (has(self.sourceArn) && self.sourceArn == oldSelf.sourceArn)").message("replicaOf.sourceArn is creation-only: a replica cannot change its source; create a new ManagedDatabase").field_path(".sourceArn"))]
#[x_kube(validation = Rule::new("!has(oldSelf.kmsKeyId) || (has(self.kmsKeyId) && self.kmsKeyId == oldSelf.kmsKeyId)").message("replicaOf.kmsKeyId is creation-only: RDS encrypts a replica once, when it is created").field_path(".kmsKeyId"))]
#[x_kube(validation = Rule::new("!(has(oldSelf.promote) && oldSelf.promote) || (has(self.promote) && self.promote)").message("promote cannot be undone: a promoted instance is a standalone primary and RDS cannot make it a replica again; create a new ManagedDatabase to replicate again").field_path(".promote"))]
#[serde(rename_all = "camelCase")]
pub struct ReplicaOf {
    /// Name of a ManagedDatabase in this namespace to replicate. tiered reads its ARN
    /// from its `status.arn` and waits until it has one. Creation-only.
    #[schemars(
        length(min = 1, max = 242),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub managed_database: Option<String>,
    /// ARN of the DB instance to replicate (RDS `SourceDBInstanceIdentifier`), for a
    /// source tiered does not manage here, typically in another region. Creation-only.
    #[schemars(length(max = 2048), regex(pattern = RDS_INSTANCE_ARN))]
    pub source_arn: Option<String>,
    /// KMS key of this instance's region that encrypts the replica (RDS `KmsKeyId`).
    /// Needed when the source is encrypted and in another region (a KMS key belongs to
    /// one region); RDS refuses the replica without it and tiered reports that
    /// `Stalled` on this field. Unset in the source's region: the source's key.
    /// Creation-only.
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: Option<String>,
    /// Promote the replica to a standalone primary (RDS PromoteReadReplica): set it to
    /// true to fail over. tiered promotes once, waits through the states RDS reports,
    /// then sets its own generated master password and keeps the instance as any
    /// primary (backups on from `spec.backup`, drift corrected). It never promotes by
    /// itself and cannot be set back to false.
    #[serde(default)]
    pub promote: bool,
}

/// Whether the instance is a primary or a read replica.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ReplicationRole {
    /// A standalone instance that takes writes (never a replica, or promoted).
    Primary,
    /// A read replica of `status.replication.source`.
    Replica,
}

/// The replication of a ManagedDatabase with `spec.replicaOf`, as RDS reports it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    /// `Primary` or `Replica`.
    pub role: ReplicationRole,
    /// The source instance as RDS names it (`ReadReplicaSourceDBInstanceIdentifier`: an
    /// ARN for a cross-region source), or the source it was promoted from.
    pub source: Option<String>,
    /// The replication state RDS reports in the instance's `StatusInfos`
    /// (`replicating`, `error`, `stopped`, `terminated`), with its message when there
    /// is one. The replica lag is not here: RDS publishes it only as the CloudWatch
    /// metric `ReplicaLag` (AWS/RDS namespace, dimension `DBInstanceIdentifier`),
    /// which tiered does not read.
    pub state: Option<String>,
    /// When the promotion was requested from RDS (RFC 3339), once tiered promoted it.
    pub promoted_at: Option<String>,
}
