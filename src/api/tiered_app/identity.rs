//! `TierServiceAccount`: the AWS identity of a tier's pods, through a ServiceAccount of
//! the tier's own (IAM Roles for Service Accounts or EKS Pod Identity).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `pattern` of an IAM role ARN.
pub const IAM_ROLE_ARN: &str =
    r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$";

/// AWS access for the tier's pods: tiered creates a ServiceAccount `<app>-<tier>`, runs
/// the pods under it and mounts its token (pods of tiers without one mount none).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierServiceAccount {
    /// IAM role the pods act as, e.g. `arn:aws:iam::123456789012:role/newsread-api`. Its
    /// trust policy must admit the ServiceAccount `system:serviceaccount:<namespace>:<app>-<tier>`
    /// (IRSA) or the service principal `pods.eks.amazonaws.com` (EKS Pod Identity).
    #[schemars(length(max = 2048), regex(pattern = IAM_ROLE_ARN))]
    pub role_arn: String,
    /// How the pods get the role's credentials: `IRSA` (default; the ServiceAccount
    /// carries `eks.amazonaws.com/role-arn`) or `PodIdentity` (an EKS Pod Identity
    /// association for the ServiceAccount, which you create with
    /// `aws eks create-pod-identity-association`; `tiered render` prints the command).
    pub provider: Option<IdentityProvider>,
}

/// How a tier's pods receive AWS credentials.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::shared::field_describes_enum)]
pub enum IdentityProvider {
    /// IAM Roles for Service Accounts: the ServiceAccount's `eks.amazonaws.com/role-arn`
    /// annotation; the cluster's OIDC provider must be registered in IAM.
    #[serde(rename = "IRSA")]
    Irsa,
    /// EKS Pod Identity: the EKS Pod Identity Agent add-on and an association of the
    /// role with the ServiceAccount.
    PodIdentity,
}
