//! The ServiceAccount of a tier that asks for an AWS identity (`serviceAccount`): named
//! like the tier's other children, with the IRSA annotation `eks.amazonaws.com/role-arn`
//! (or none for EKS Pod Identity, whose association names the ServiceAccount). Also what
//! the identity needs outside Kubernetes, for `tiered render` and the docs: the IAM
//! statement that lets the tier's role read an `AWSManaged` database password, and the
//! EKS Pod Identity association command. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::{Value, json};

use crate::api::tiered_app::IdentityProvider;
use crate::aws::naming::rds_instance_identifier;
use crate::controllers::tiered_app::build::child_metadata;
use crate::controllers::tiered_app::validated::{ValidatedApp, ValidatedTier};

/// The IRSA annotation read by the EKS Pod Identity Webhook.
pub const IRSA_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The ServiceAccount of one tier; `None` unless it asks for an identity.
pub fn desired_service_account(app: &ValidatedApp, tier: &ValidatedTier) -> Option<ServiceAccount> {
    let identity = tier.identity.as_ref()?;
    let mut metadata = child_metadata(app, tier);
    if identity.provider == IdentityProvider::Irsa {
        metadata.annotations = Some(BTreeMap::from([(
            IRSA_ROLE_ANNOTATION.to_owned(),
            identity.role_arn.clone(),
        )]));
    }
    Some(ServiceAccount {
        metadata,
        // Pods of the tier opt in themselves (the Deployment's pod spec); any other pod
        // that names this ServiceAccount mounts nothing unless it asks.
        automount_service_account_token: Some(false),
        image_pull_secrets: None,
        secrets: None,
    })
}

/// The IAM policy statement the role of a tier needs to read the master user password
/// that RDS keeps in Secrets Manager for the ManagedDatabase `namespace/database` with
/// `credentials.source: AWSManaged`, in the cluster named `cluster`. RDS names such
/// secrets `rds!db-<id>` and tags them with the instance's ARN, which tiered derives
/// from the cluster, namespace and name, so the statement holds before the instance
/// exists. (With a customer managed KMS key on the secret, `kms:Decrypt` on that key
/// is needed as well.) `partition` is the AWS partition of the ARNs (`aws`, `aws-cn`,
/// `aws-us-gov`; [`partition_of`] a role ARN).
pub fn secret_read_statement(
    partition: &str,
    cluster: &str,
    namespace: &str,
    database: &str,
) -> Value {
    let identifier = rds_instance_identifier(cluster, namespace, database);
    json!({
        "Sid": "ReadMasterUserSecretOf".to_owned() + &sid_part(database),
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": format!("arn:{partition}:secretsmanager:*:*:secret:rds!db-*"),
        "Condition": {
            "StringLike": {
                "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn":
                    format!("arn:{partition}:rds:*:*:db:{identifier}")
            }
        }
    })
}

/// The partition of `arn` (`arn:aws-cn:iam::…` → `aws-cn`); `*` (any) when it is not
/// an ARN.
pub fn partition_of(arn: &str) -> &str {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, ..] if !partition.is_empty() => partition,
        _ => "*",
    }
}

/// The AWS CLI command that associates the tier's role with its ServiceAccount for EKS
/// Pod Identity; `None` for IRSA or a tier without identity.
pub fn pod_identity_command(
    cluster: &str,
    app: &ValidatedApp,
    tier: &ValidatedTier,
) -> Option<String> {
    let identity = tier.identity.as_ref()?;
    (identity.provider == IdentityProvider::PodIdentity).then(|| {
        format!(
            "aws eks create-pod-identity-association --cluster-name {cluster} --namespace {} --service-account {} --role-arn {}",
            app.namespace, tier.child_name, identity.role_arn
        )
    })
}

/// `newsread-db` → `NewsreadDb`: an IAM statement id holds only letters and digits.
fn sid_part(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};
    use crate::controllers::tiered_app::validated::Identity;

    fn with_identity(provider: IdentityProvider) -> ValidatedApp {
        let mut app = validated(THREE_TIERS);
        app.tiers[1].identity = Some(Identity {
            role_arn: "arn:aws:iam::123456789012:role/shop-api".to_owned(),
            provider,
        });
        app
    }

    #[test]
    fn an_irsa_tier_gets_an_annotated_service_account_that_mounts_nothing_by_itself() {
        let app = with_identity(IdentityProvider::Irsa);
        let account = desired_service_account(&app, &app.tiers[1]).unwrap();
        assert_eq!(account.metadata.name.as_deref(), Some("shop-api"));
        assert_eq!(
            account.metadata.annotations.unwrap()[IRSA_ROLE_ANNOTATION],
            "arn:aws:iam::123456789012:role/shop-api"
        );
        assert_eq!(account.automount_service_account_token, Some(false));
        assert!(desired_service_account(&app, &app.tiers[0]).is_none());
        assert_eq!(pod_identity_command("c1", &app, &app.tiers[1]), None);
    }

    #[test]
    fn a_pod_identity_tier_gets_a_plain_service_account_and_the_association_command() {
        let app = with_identity(IdentityProvider::PodIdentity);
        let account = desired_service_account(&app, &app.tiers[1]).unwrap();
        assert!(account.metadata.annotations.is_none());
        assert_eq!(
            pod_identity_command("c1", &app, &app.tiers[1]).as_deref(),
            Some(
                "aws eks create-pod-identity-association --cluster-name c1 --namespace prod --service-account shop-api --role-arn arn:aws:iam::123456789012:role/shop-api"
            )
        );
    }

    #[test]
    fn the_secret_statement_is_scoped_to_the_database_instance_of_this_cluster() {
        let statement = secret_read_statement("aws", "c1", "prod", "shop-db");
        assert_eq!(statement["Sid"], "ReadMasterUserSecretOfShopDb");
        assert_eq!(statement["Action"][0], "secretsmanager:GetSecretValue");
        let arn = statement["Condition"]["StringLike"]
            ["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"]
            .as_str()
            .unwrap();
        assert_eq!(
            arn,
            format!(
                "arn:aws:rds:*:*:db:{}",
                rds_instance_identifier("c1", "prod", "shop-db")
            )
        );
        assert_ne!(
            secret_read_statement("aws", "c2", "prod", "shop-db"),
            statement,
            "another cluster's instance is another resource"
        );
    }

    /// Issue 13 part 5: the statement named `arn:aws:` whatever the partition, so a
    /// role in China or GovCloud got a statement that matched nothing.
    #[test]
    fn the_secret_statement_names_the_partition_of_the_role() {
        assert_eq!(
            partition_of("arn:aws-cn:iam::123456789012:role/shop-api"),
            "aws-cn"
        );
        assert_eq!(partition_of("not-an-arn"), "*");
        let statement = secret_read_statement("aws-us-gov", "c1", "prod", "shop-db");
        assert_eq!(
            statement["Resource"],
            "arn:aws-us-gov:secretsmanager:*:*:secret:rds!db-*"
        );
        let arn = statement["Condition"]["StringLike"]
            ["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"]
            .as_str()
            .unwrap();
        assert!(arn.starts_with("arn:aws-us-gov:rds:"), "{arn}");
    }
}
