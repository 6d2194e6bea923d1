//! Shared AWS pieces for the data-tier controllers: deterministic identifiers
//! ([`naming`]), ownership tags and the adoption guard ([`tags`]), error classification
//! ([`errors`]), the call counter ([`calls`]), and SDK configuration from the standard
//! environment.

pub mod calls;
pub mod errors;
pub mod naming;
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
