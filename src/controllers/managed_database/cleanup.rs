//! Finalizer cleanup of a ManagedDatabase: `deletionProtection` holds it; `Retain`
//! drops only tiered's tags; `Snapshot` and `Delete` delete our replicas first, then
//! the primary (with a final snapshot named `<id>-final-<yyyymmddhhmmss>` from the
//! deletion timestamp, or without one). An instance already gone, or not tagged ours,
//! counts as done: nothing the operator did not create or adopt is deleted.

use aws_sdk_rds::types::DbInstance;
use k8s_openapi::jiff::Timestamp;

use crate::api::ManagedDatabaseSpec;
use crate::api::shared::DeletionPolicy;
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::rds_actions::{DELETE_DB_INSTANCE, MODIFY_DB_INSTANCE, REMOVE_TAGS_FROM_RESOURCE};
use crate::aws::tags::{OWNERSHIP_KEYS, Ownership, rds_ownership};
use crate::controllers::data_tier::cleanup::{self, final_snapshot_name};

use crate::aws::fleet::describe_instance;
use crate::controllers::managed_database::reconcile::{Error, RdsContext, Target, delete_replica};

/// Where the cleanup stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing is left to do; the finalizer can go.
    Done {
        /// What happened, for the log.
        message: String,
    },
    /// `spec.deletionProtection` is true.
    Held,
    /// AWS is deleting; look again later.
    Waiting {
        /// What is happening.
        message: String,
        /// The final snapshot requested by this call, for an Event.
        snapshot: Option<String>,
    },
}

/// The deletion policy in force: the spec's, else `Retain` for adopted instances and
/// `Snapshot` for created ones.
pub fn effective_policy(spec: &ManagedDatabaseSpec) -> DeletionPolicy {
    cleanup::effective_policy(spec.deletion_policy, spec.adopt.is_some())
}

/// One step of cleanup; call again until [`Cleanup::Done`]. `deleted_at` is the
/// object's deletion timestamp, so every retry names the same snapshot.
pub async fn cleanup(
    ctx: &RdsContext,
    target: &Target<'_>,
    deleted_at: Timestamp,
) -> Result<Cleanup, Error> {
    if target.spec.deletion_protection {
        return Ok(Cleanup::Held);
    }
    let identifier = target.identifier();
    let Some(primary) = describe_instance(&ctx.rds, &identifier).await? else {
        return Ok(done(format!("DB instance {identifier} is already gone")));
    };
    if rds_ownership(primary.tag_list(), &target.owner) != Ownership::Ours {
        return Ok(done(format!(
            "DB instance {identifier} is not tagged as ours; left alone"
        )));
    }
    let mut replicas = Vec::new();
    for replica_id in primary.read_replica_db_instance_identifiers() {
        if let Some(replica) = describe_instance(&ctx.rds, replica_id).await?
            && rds_ownership(replica.tag_list(), &target.owner) == Ownership::Ours
        {
            replicas.push(replica);
        }
    }

    let policy = effective_policy(target.spec);
    if policy == DeletionPolicy::Retain {
        for instance in replicas.iter().chain([&primary]) {
            remove_ownership_tags(ctx, instance).await?;
        }
        return Ok(done(format!(
            "DB instance {identifier} retained; tiered's tags removed"
        )));
    }

    if !replicas.is_empty() {
        for replica in &replicas {
            if replica.db_instance_status() != Some("deleting") {
                delete_replica(ctx, replica.db_instance_identifier().unwrap_or_default()).await?;
            }
        }
        return Ok(Cleanup::Waiting {
            message: format!("deleting the read replicas of {identifier} first"),
            snapshot: None,
        });
    }
    if primary.db_instance_status() == Some("deleting") {
        return Ok(Cleanup::Waiting {
            message: format!("DB instance {identifier} is deleting"),
            snapshot: None,
        });
    }
    if primary.deletion_protection() == Some(true) {
        // The spec says false (checked above); RDS has not caught up yet.
        ctx.rds
            .modify_db_instance()
            .db_instance_identifier(&identifier)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(MODIFY_DB_INSTANCE, e))?;
    }

    let snapshot =
        (policy == DeletionPolicy::Snapshot).then(|| final_snapshot_name(&identifier, deleted_at));
    let result = ctx
        .rds
        .delete_db_instance()
        .db_instance_identifier(&identifier)
        .set_final_db_snapshot_identifier(snapshot.clone())
        .skip_final_snapshot(snapshot.is_none())
        .delete_automated_backups(snapshot.is_none())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(DELETE_DB_INSTANCE, e));
    match result {
        Ok(_) => {
            tracing::info!(identifier = %identifier, snapshot = ?snapshot, "deleting DB instance");
            Ok(Cleanup::Waiting {
                message: format!("deleting DB instance {identifier}"),
                snapshot,
            })
        }
        Err(error) if error.kind == ErrorKind::NotFound => {
            Ok(done(format!("DB instance {identifier} is already gone")))
        }
        // The snapshot exists: an earlier attempt got through and the instance is on its way.
        Err(error) if error.kind == ErrorKind::Conflict => Ok(Cleanup::Waiting {
            message: format!("DB instance {identifier} is deleting"),
            snapshot: None,
        }),
        Err(error) => Err(error.into()),
    }
}

fn done(message: String) -> Cleanup {
    Cleanup::Done { message }
}

async fn remove_ownership_tags(ctx: &RdsContext, instance: &DbInstance) -> Result<(), AwsError> {
    let Some(arn) = instance.db_instance_arn() else {
        return Ok(());
    };
    ctx.rds
        .remove_tags_from_resource()
        .resource_name(arn)
        .set_tag_keys(Some(
            OWNERSHIP_KEYS.iter().map(|key| (*key).to_owned()).collect(),
        ))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(REMOVE_TAGS_FROM_RESOURCE, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::managed_database::desired::tests::spec;

    #[test]
    fn adopted_instances_default_to_retain_and_created_ones_to_snapshot() {
        let mut spec = spec();
        assert_eq!(effective_policy(&spec), DeletionPolicy::Snapshot);
        spec.adopt = Some(crate::api::managed_database::AdoptDatabase {
            identifier: "legacy".into(),
        });
        assert_eq!(effective_policy(&spec), DeletionPolicy::Retain);
        spec.deletion_policy = Some(DeletionPolicy::Delete);
        assert_eq!(effective_policy(&spec), DeletionPolicy::Delete);
    }
}
