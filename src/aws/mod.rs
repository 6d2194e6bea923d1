//! Shared AWS pieces for the data-tier controllers: deterministic identifiers
//! ([`naming`]), ownership tags and the adoption guard ([`tags`]), the restore-source
//! guard ([`restore_source`]), error classification ([`errors`]), the shared fleet
//! reads ([`fleet`] for RDS, [`cache_fleet`] for ElastiCache; the rule that a pass changes
//! nothing on a claim it did not read is `crate::runtime::claims`), listings paged with
//! a `Marker` ([`pages`]), and SDK configuration from the standard environment.

pub mod adoption;
pub mod cache_fleet;
pub mod errors;
pub mod fleet;
pub mod naming;
pub mod pages;
pub mod restore_source;
pub mod tags;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// IAM action names of the RDS calls the operator makes, as named in AccessDenied
/// conditions and in the IAM policy.
pub mod rds_actions {
    /// `rds:DescribeDBInstances`.
    pub const DESCRIBE_DB_INSTANCES: &str = "rds:DescribeDBInstances";
    /// `rds:CreateDBInstance`.
    pub const CREATE_DB_INSTANCE: &str = "rds:CreateDBInstance";
    /// `rds:CreateDBInstanceReadReplica`.
    pub const CREATE_DB_INSTANCE_READ_REPLICA: &str = "rds:CreateDBInstanceReadReplica";
    /// `rds:ModifyDBInstance`.
    pub const MODIFY_DB_INSTANCE: &str = "rds:ModifyDBInstance";
    /// `rds:DeleteDBInstance`.
    pub const DELETE_DB_INSTANCE: &str = "rds:DeleteDBInstance";
    /// `rds:AddTagsToResource`.
    pub const ADD_TAGS_TO_RESOURCE: &str = "rds:AddTagsToResource";
    /// `rds:RemoveTagsFromResource`.
    pub const REMOVE_TAGS_FROM_RESOURCE: &str = "rds:RemoveTagsFromResource";
    /// `rds:ListTagsForResource` (a DB parameter group's tags, before tiered changes or
    /// deletes a group of its name).
    pub const LIST_TAGS_FOR_RESOURCE: &str = "rds:ListTagsForResource";
    /// `rds:RestoreDBInstanceFromDBSnapshot`.
    pub const RESTORE_DB_INSTANCE_FROM_DB_SNAPSHOT: &str = "rds:RestoreDBInstanceFromDBSnapshot";
    /// `rds:RestoreDBInstanceToPointInTime`.
    pub const RESTORE_DB_INSTANCE_TO_POINT_IN_TIME: &str = "rds:RestoreDBInstanceToPointInTime";
    /// `rds:CreateDBSnapshot` (snapshots on demand).
    pub const CREATE_DB_SNAPSHOT: &str = "rds:CreateDBSnapshot";
    /// `rds:DeleteDBSnapshot` (snapshots on demand, with `deletionPolicy: Delete`).
    pub const DELETE_DB_SNAPSHOT: &str = "rds:DeleteDBSnapshot";
    /// `rds:DescribeDBSnapshots`.
    pub const DESCRIBE_DB_SNAPSHOTS: &str = "rds:DescribeDBSnapshots";
    /// `rds:CreateDBParameterGroup` (engine parameters).
    pub const CREATE_DB_PARAMETER_GROUP: &str = "rds:CreateDBParameterGroup";
    /// `rds:DescribeDBParameterGroups`.
    pub const DESCRIBE_DB_PARAMETER_GROUPS: &str = "rds:DescribeDBParameterGroups";
    /// `rds:DescribeDBParameters`.
    pub const DESCRIBE_DB_PARAMETERS: &str = "rds:DescribeDBParameters";
    /// `rds:ModifyDBParameterGroup`.
    pub const MODIFY_DB_PARAMETER_GROUP: &str = "rds:ModifyDBParameterGroup";
    /// `rds:ResetDBParameterGroup`.
    pub const RESET_DB_PARAMETER_GROUP: &str = "rds:ResetDBParameterGroup";
    /// `rds:DeleteDBParameterGroup` (after the instance is gone).
    pub const DELETE_DB_PARAMETER_GROUP: &str = "rds:DeleteDBParameterGroup";
    /// `rds:RebootDBInstance` (only on request).
    pub const REBOOT_DB_INSTANCE: &str = "rds:RebootDBInstance";
    /// PromoteReadReplica.
    pub const PROMOTE_READ_REPLICA: &str = "rds:PromoteReadReplica";
}

/// IAM action names of the ElastiCache calls the operator makes.
pub mod elasticache_actions {
    /// `elasticache:DescribeReplicationGroups`.
    pub const DESCRIBE_REPLICATION_GROUPS: &str = "elasticache:DescribeReplicationGroups";
    /// `elasticache:DescribeCacheClusters`.
    pub const DESCRIBE_CACHE_CLUSTERS: &str = "elasticache:DescribeCacheClusters";
    /// `elasticache:CreateReplicationGroup`.
    pub const CREATE_REPLICATION_GROUP: &str = "elasticache:CreateReplicationGroup";
    /// `elasticache:ModifyReplicationGroup`.
    pub const MODIFY_REPLICATION_GROUP: &str = "elasticache:ModifyReplicationGroup";
    /// `elasticache:IncreaseReplicaCount`.
    pub const INCREASE_REPLICA_COUNT: &str = "elasticache:IncreaseReplicaCount";
    /// `elasticache:DecreaseReplicaCount`.
    pub const DECREASE_REPLICA_COUNT: &str = "elasticache:DecreaseReplicaCount";
    /// `elasticache:ModifyReplicationGroupShardConfiguration`.
    pub const MODIFY_SHARD_CONFIGURATION: &str =
        "elasticache:ModifyReplicationGroupShardConfiguration";
    /// `elasticache:DeleteReplicationGroup`.
    pub const DELETE_REPLICATION_GROUP: &str = "elasticache:DeleteReplicationGroup";
    /// `elasticache:ListTagsForResource`.
    pub const LIST_TAGS_FOR_RESOURCE: &str = "elasticache:ListTagsForResource";
    /// `elasticache:AddTagsToResource`.
    pub const ADD_TAGS_TO_RESOURCE: &str = "elasticache:AddTagsToResource";
    /// `elasticache:RemoveTagsFromResource`.
    pub const REMOVE_TAGS_FROM_RESOURCE: &str = "elasticache:RemoveTagsFromResource";
    /// `elasticache:CreateSnapshot`.
    pub const CREATE_SNAPSHOT: &str = "elasticache:CreateSnapshot";
    /// `elasticache:DeleteSnapshot` (snapshots on demand, with `deletionPolicy: Delete`).
    pub const DELETE_SNAPSHOT: &str = "elasticache:DeleteSnapshot";
    /// `elasticache:DescribeSnapshots`.
    pub const DESCRIBE_SNAPSHOTS: &str = "elasticache:DescribeSnapshots";
    /// `elasticache:CreateCacheParameterGroup`.
    pub const CREATE_CACHE_PARAMETER_GROUP: &str = "elasticache:CreateCacheParameterGroup";
    /// `elasticache:ModifyCacheParameterGroup`.
    pub const MODIFY_CACHE_PARAMETER_GROUP: &str = "elasticache:ModifyCacheParameterGroup";
    /// `elasticache:ResetCacheParameterGroup`.
    pub const RESET_CACHE_PARAMETER_GROUP: &str = "elasticache:ResetCacheParameterGroup";
    /// `elasticache:DeleteCacheParameterGroup`.
    pub const DELETE_CACHE_PARAMETER_GROUP: &str = "elasticache:DeleteCacheParameterGroup";
    /// `elasticache:DescribeCacheParameterGroups`.
    pub const DESCRIBE_CACHE_PARAMETER_GROUPS: &str = "elasticache:DescribeCacheParameterGroups";
    /// `elasticache:DescribeCacheParameters`.
    pub const DESCRIBE_CACHE_PARAMETERS: &str = "elasticache:DescribeCacheParameters";
}

/// AWS SDK configuration from the standard environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, the default credential chain: IRSA / EKS Pod Identity on EKS),
/// with `region` and `endpoint_url` overriding the environment when given.
pub async fn sdk_config(region: Option<String>, endpoint_url: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint_url) = endpoint_url {
        loader = loader.endpoint_url(endpoint_url);
    }
    loader.load().await
}
