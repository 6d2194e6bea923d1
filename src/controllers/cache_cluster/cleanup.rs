//! ElastiCache's part of the finalizer (the outline is
//! `crate::controllers::data_tier::cleanup`): DeleteReplicationGroup with the final
//! snapshot the outline names. A group already `deleting` counts as done: ElastiCache
//! accepted the deletion, final snapshot included, and the group goes away on its own
//! (unless `spec.parameters` gave it a parameter group of tiered's: the outline then
//! waits until the group is gone and deletes that one too).

use aws_sdk_elasticache::types::ReplicationGroup;

use crate::aws::elasticache_actions::DELETE_REPLICATION_GROUP;
use crate::aws::errors::AwsError;
use crate::controllers::data_tier::kind::Deletion;

use crate::controllers::cache_cluster::elasticache::ElastiCache;

impl ElastiCache {
    /// One deletion step of `group`, with the final snapshot `snapshot`.
    pub async fn delete(
        &self,
        group: &ReplicationGroup,
        snapshot: Option<&str>,
    ) -> Result<Deletion, AwsError> {
        let id = group.replication_group_id().unwrap_or_default();
        if group.status() == Some("deleting") {
            return Ok(Deletion::Done(format!(
                "replication group {id} is deleting"
            )));
        }
        self.elasticache
            .delete_replication_group()
            .replication_group_id(id)
            .set_final_snapshot_identifier(snapshot.map(str::to_owned))
            .retain_primary_cluster(false)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(DELETE_REPLICATION_GROUP, e))?;
        Ok(Deletion::Requested)
    }
}
