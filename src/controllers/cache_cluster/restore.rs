//! A new CacheCluster restored from an ElastiCache snapshot (`spec.restoreFrom`,
//! issue 13 part 2): CreateReplicationGroup with `SnapshotName`, otherwise the very
//! request of a new group (the deterministic id, the ownership tags, the spec's
//! settings), so the restored group is tagged and owned like any other. The AUTH token
//! needs no step of its own: CreateReplicationGroup takes `AuthToken` with
//! `SnapshotName` (a snapshot holds the data, not the token), so the restored group
//! starts with the token tiered generated and the connection Secret carries from the
//! first write. The source is creation-only (the CRD's rules); this file fills in the
//! request (pure) and, before the group exists, checks the snapshot like an adoption
//! target ([`ElastiCache::check_restore_source`], `crate::aws::restore_source`): one
//! that is not this namespace's and carries no `tiered.io/restorable` opt-in for this
//! object is refused, `Stalled` naming `spec.restoreFrom.snapshotName`.

use aws_sdk_elasticache::operation::create_replication_group::builders::CreateReplicationGroupFluentBuilder;

use crate::api::CacheClusterSpec;
use crate::aws::elasticache_actions::DESCRIBE_SNAPSHOTS;
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::restore_source::{RestoreRefused, may_restore};
use crate::aws::tags::Owner;
use crate::controllers::data_tier::error::ConvergeError;

use crate::controllers::cache_cluster::ElastiCache;
use crate::controllers::cache_cluster::elasticache::list_tags;

/// The snapshot `spec` restores, `None` without `spec.restoreFrom`.
pub fn restore_snapshot(spec: &CacheClusterSpec) -> Option<&str> {
    spec.restore_from
        .as_ref()
        .map(|from| from.snapshot_name.as_str())
}

/// Adds the snapshot `spec` restores (if any) to a CreateReplicationGroup request.
pub fn restore_request(
    request: CreateReplicationGroupFluentBuilder,
    spec: &CacheClusterSpec,
) -> CreateReplicationGroupFluentBuilder {
    request.set_snapshot_name(restore_snapshot(spec).map(str::to_owned))
}

impl ElastiCache {
    /// Checks that `owner` may restore the snapshot `spec.restoreFrom` names: read with
    /// its tags, it must be `owner`'s namespace's or opted in for `owner`
    /// ([`may_restore`]). Nothing to check without `spec.restoreFrom`.
    ///
    /// # Errors
    /// [`RestoreRefused`] (as [`ConvergeError::RestoreSource`]) when the snapshot is
    /// missing or not allowed; a failed read.
    pub async fn check_restore_source(
        &self,
        spec: &CacheClusterSpec,
        owner: &Owner,
    ) -> Result<(), ConvergeError> {
        let Some(snapshot) = restore_snapshot(spec) else {
            return Ok(());
        };
        let field = "spec.restoreFrom.snapshotName";
        let source_name = format!("ElastiCache snapshot {snapshot}");
        let described = self
            .elasticache
            .describe_snapshots()
            .snapshot_name(snapshot)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(DESCRIBE_SNAPSHOTS, e));
        let arn = match described {
            Ok(output) => output
                .snapshots()
                .first()
                .and_then(|found| found.arn().map(str::to_owned)),
            Err(error) if error.kind == ErrorKind::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        let Some(arn) = arn else {
            return Err(RestoreRefused::NotFound { field, source_name }.into());
        };
        let tags = list_tags(&self.elasticache, &arn).await?;
        let pairs = tags
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()));
        may_restore(field, &source_name, pairs, owner)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::cache_cluster::desired::create_group_request;
    use crate::controllers::cache_cluster::desired::tests::{desired, spec};
    use crate::controllers::cache_cluster::render_plan::client;
    use crate::controllers::data_tier::secret::Password;

    #[test]
    fn a_restore_is_the_create_request_with_the_snapshot_and_the_new_token() {
        let extra = serde_json::json!({"restoreFrom": {"snapshotName": "nightly-1"}});
        let restoring = spec(&extra);
        let token = Password::from_secret_value("t".repeat(32));
        let request = restore_request(
            create_group_request(
                client().create_replication_group(),
                &desired(&extra),
                "tiered CacheCluster shop/cache",
                Some(&token),
            ),
            &restoring,
        );
        let input = request.as_input();
        assert_eq!(input.get_snapshot_name().as_deref(), Some("nightly-1"));
        assert_eq!(
            input.get_replication_group_id().as_deref(),
            Some("test-shop-cache-1234abcd")
        );
        assert_eq!(
            input.get_auth_token().as_deref(),
            Some(token.expose()),
            "the restored group starts with tiered's token"
        );
        let plain = restore_request(
            client().create_replication_group(),
            &spec(&serde_json::json!({})),
        );
        assert_eq!(plain.as_input().get_snapshot_name(), &None);
    }
}
