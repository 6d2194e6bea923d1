//! ElastiCache's part of the finalizer (the outline is
//! `crate::controllers::data_tier::cleanup`): DeleteReplicationGroup with the final
//! snapshot the outline names. A group already `deleting` counts as done: ElastiCache
//! accepted the deletion, final snapshot included, and the group goes away on its own
//! (unless `spec.parameters` gave it a parameter group of tiered's: the outline then
//! waits until the group is gone and deletes that one too). A final snapshot name that
//! another snapshot holds (`SnapshotAlreadyExistsFault`) refuses the deletion with what
//! to do, unless the group is deleting (an earlier attempt got through).

use aws_sdk_elasticache::types::ReplicationGroup;

use crate::aws::elasticache_actions::DELETE_REPLICATION_GROUP;
use crate::aws::errors::{AwsError, ErrorKind, sent};
use crate::controllers::data_tier::cleanup::final_snapshot_name_held;
use crate::controllers::data_tier::kind::Deletion;

use crate::controllers::cache_cluster::elasticache::ElastiCache;
use crate::controllers::cache_cluster::status::NOUNS;

impl ElastiCache {
    /// One deletion step of `group`, with the final snapshot `snapshot`.
    pub async fn delete(
        &self,
        group: &ReplicationGroup,
        snapshot: Option<&str>,
    ) -> Result<Deletion, AwsError> {
        let id = group.replication_group_id().unwrap_or_default();
        if group.status() == Some("deleting") {
            return Ok(deleting(id));
        }
        let request = self
            .elasticache
            .delete_replication_group()
            .replication_group_id(id)
            .set_final_snapshot_identifier(snapshot.map(str::to_owned))
            .retain_primary_cluster(false);
        match sent(DELETE_REPLICATION_GROUP, request.send()).await {
            Ok(_) => Ok(Deletion::Requested),
            // The final snapshot's name exists (`SnapshotAlreadyExistsFault`): an earlier
            // attempt got through (an SDK retry after a lost answer) and the group is
            // deleting, or the name is held by a snapshot this deletion did not take.
            Err(error) if error.kind == ErrorKind::Conflict => {
                let now = self.describe_group(id).await?;
                match now.as_ref().and_then(ReplicationGroup::status) {
                    Some("deleting") | None => Ok(deleting(id)),
                    Some(_) => Err(final_snapshot_name_held(error, NOUNS, snapshot)),
                }
            }
            Err(error) => Err(error),
        }
    }
}

/// A group ElastiCache is deleting: done, as far as the finalizer is concerned.
fn deleting(id: &str) -> Deletion {
    Deletion::Done(format!("replication group {id} is deleting"))
}
