//! A new CacheCluster restored from an ElastiCache snapshot (`spec.restoreFrom`,
//! issue 13 part 2): CreateReplicationGroup with `SnapshotName`, otherwise the very
//! request of a new group (the deterministic id, the ownership tags, the spec's
//! settings), so the restored group is tagged and owned like any other. The AUTH token
//! needs no step of its own: CreateReplicationGroup takes `AuthToken` with
//! `SnapshotName` (a snapshot holds the data, not the token), so the restored group
//! starts with the token tiered generated and the connection Secret carries from the
//! first write. The source is creation-only (the CRD's rules); this file only fills in
//! the request. Pure.

use aws_sdk_elasticache::operation::create_replication_group::builders::CreateReplicationGroupFluentBuilder;

use crate::api::CacheClusterSpec;

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
