//! What `tiered render` prints about the tiers' AWS identities, as YAML comments after
//! the app's objects: the IAM statement a tier's role needs to read an `AWSManaged`
//! database password (and a warning when such a tier has no identity to use it), and
//! the EKS Pod Identity association to create. Pure: text from the validated app and
//! the ManagedDatabases given in the same input.

use std::fmt::Write as _;

use crate::api::ManagedDatabase;
use crate::api::managed_database::CredentialSource;
use crate::controllers::tiered_app::build::ValidatedApp;
use crate::controllers::tiered_app::build::service_account::{
    partition_of, pod_identity_command, secret_read_statement,
};
use crate::controllers::tiered_app::validate::DEFAULT_NAMESPACE;

/// Appends the identity notes of `app` to `out`; returns warnings for tiers that need
/// an identity they do not have. `databases` are the ManagedDatabases of the input.
pub fn write_identity_notes(
    out: &mut String,
    app: &ValidatedApp,
    databases: &[&ManagedDatabase],
    cluster: &str,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for tier in &app.tiers {
        if let Some(command) = pod_identity_command(cluster, app, tier) {
            let _ = writeln!(
                out,
                "# tier {}: EKS Pod Identity; associate its role with its ServiceAccount once:\n#   {command}",
                tier.name
            );
        }
        let Some(database) = tier.database.as_deref() else {
            continue;
        };
        let aws_managed = databases.iter().any(|db| {
            db.metadata.name.as_deref() == Some(database)
                && db
                    .metadata
                    .namespace
                    .as_deref()
                    .unwrap_or(DEFAULT_NAMESPACE)
                    == app.namespace
                && db
                    .spec
                    .credentials
                    .as_ref()
                    .is_some_and(|c| c.source == CredentialSource::AwsManaged)
        });
        if !aws_managed {
            continue;
        }
        // The partition of the tier's role, else of another tier's role in the app (one
        // app runs in one partition); any partition when no tier has a role.
        let partition = tier
            .identity
            .as_ref()
            .or_else(|| app.tiers.iter().find_map(|other| other.identity.as_ref()))
            .map_or("*", |identity| partition_of(&identity.role_arn));
        let statement = secret_read_statement(partition, cluster, &app.namespace, database);
        let json = serde_json::to_string_pretty(&statement).unwrap_or_default();
        if let Some(identity) = &tier.identity {
            let _ = writeln!(
                out,
                "# tier {}: ManagedDatabase {database} keeps its password in AWS Secrets Manager\n# (credentials.source AWSManaged). Add this statement to the role {}:",
                tier.name, identity.role_arn
            );
        } else {
            warnings.push(format!(
                "TieredApp {}/{}: tier {} uses ManagedDatabase {database}, whose password is in AWS Secrets Manager (credentials.source AWSManaged), but has no serviceAccount.roleArn to read it with; give the tier a serviceAccount whose role has the statement printed in the output",
                app.namespace, app.name, tier.name
            ));
            let _ = writeln!(
                out,
                "# tier {}: ManagedDatabase {database} keeps its password in AWS Secrets Manager\n# (credentials.source AWSManaged); the tier has no serviceAccount yet. Its role needs:",
                tier.name
            );
        }
        for line in json.lines() {
            let _ = writeln!(out, "#   {line}");
        }
    }
    warnings
}
