//! Finalizer cleanup of a CacheCluster: `Retain` drops only tiered's tags; `Snapshot`
//! deletes the replication group with a final snapshot named
//! `<id>-final-<yyyymmddhhmmss>` from the deletion timestamp; `Delete` deletes
//! without one. A group already gone, already `deleting`, or not tagged ours counts
//! as done: nothing the operator did not create or adopt is deleted.

use k8s_openapi::jiff::Timestamp;

use crate::api::CacheClusterSpec;
use crate::api::shared::DeletionPolicy;
use crate::aws::elasticache_actions::{DELETE_REPLICATION_GROUP, REMOVE_TAGS_FROM_RESOURCE};
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::tags::{OWNERSHIP_KEYS, Ownership, elasticache_ownership};
use crate::controllers::data_tier::cleanup::{self, final_snapshot_name};

use crate::controllers::cache_cluster::reconcile::{
    CacheContext, Error, Target, describe_group, group_tags,
};

/// Where the cleanup stands. Not shared with the database's: that one also has
/// `Held` (deletion protection), which ElastiCache has no counterpart of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing is left to do; the finalizer can go.
    Done {
        /// What happened, for the log.
        message: String,
    },
    /// ElastiCache is deleting; look again later.
    Waiting {
        /// What is happening.
        message: String,
        /// The final snapshot requested by this call, for an Event.
        snapshot: Option<String>,
    },
}

/// The deletion policy in force: the spec's, else `Retain` for adopted groups and
/// `Snapshot` for created ones.
pub fn effective_policy(spec: &CacheClusterSpec) -> DeletionPolicy {
    cleanup::effective_policy(spec.deletion_policy, spec.adopt.is_some())
}

/// One step of cleanup; call again until [`Cleanup::Done`]. `deleted_at` is the
/// object's deletion timestamp, so every retry names the same snapshot.
pub async fn cleanup(
    ctx: &CacheContext,
    target: &Target<'_>,
    deleted_at: Timestamp,
) -> Result<Cleanup, Error> {
    let id = target.id();
    let Some(group) = describe_group(&ctx.elasticache, &id).await? else {
        return Ok(done(format!("replication group {id} is already gone")));
    };
    let tags = group_tags(&ctx.elasticache, &group).await?;
    if elasticache_ownership(&tags, &target.owner) != Ownership::Ours {
        return Ok(done(format!(
            "replication group {id} is not tagged as ours; left alone"
        )));
    }
    let policy = effective_policy(target.spec);
    if policy == DeletionPolicy::Retain {
        if let Some(arn) = group.arn() {
            ctx.elasticache
                .remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(
                    OWNERSHIP_KEYS.iter().map(|key| (*key).to_owned()).collect(),
                ))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(REMOVE_TAGS_FROM_RESOURCE, e))?;
        }
        return Ok(done(format!(
            "replication group {id} retained; tiered's tags removed"
        )));
    }
    if group.status() == Some("deleting") {
        // Accepted by ElastiCache, final snapshot included; it goes away on its own.
        return Ok(done(format!("replication group {id} is deleting")));
    }
    let snapshot =
        (policy == DeletionPolicy::Snapshot).then(|| final_snapshot_name(&id, deleted_at));
    let result = ctx
        .elasticache
        .delete_replication_group()
        .replication_group_id(&id)
        .set_final_snapshot_identifier(snapshot.clone())
        .retain_primary_cluster(false)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(DELETE_REPLICATION_GROUP, e));
    match result {
        Ok(_) => {
            tracing::info!(id = %id, snapshot = ?snapshot, "deleting replication group");
            Ok(Cleanup::Waiting {
                message: format!("deleting replication group {id}"),
                snapshot,
            })
        }
        Err(error) if error.kind == ErrorKind::NotFound => {
            Ok(done(format!("replication group {id} is already gone")))
        }
        Err(error) => Err(error.into()),
    }
}

fn done(message: String) -> Cleanup {
    Cleanup::Done { message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cache_cluster::AdoptCache;
    use crate::controllers::cache_cluster::desired::tests::spec;

    #[test]
    fn adopted_groups_default_to_retain_and_created_ones_to_snapshot() {
        let mut spec = spec(&serde_json::json!({}));
        assert_eq!(effective_policy(&spec), DeletionPolicy::Snapshot);
        spec.adopt = Some(AdoptCache {
            replication_group_id: "legacy".into(),
        });
        assert_eq!(effective_policy(&spec), DeletionPolicy::Retain);
        spec.deletion_policy = Some(DeletionPolicy::Delete);
        assert_eq!(effective_policy(&spec), DeletionPolicy::Delete);
    }
}
