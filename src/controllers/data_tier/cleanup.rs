//! What the data-tier finalizers share before they touch AWS: the deletion policy in
//! force and the name of the final snapshot. Pure. Each controller's `delete` module
//! does the AWS side, whose calls and resources differ (one DB instance and its
//! replicas; one replication group).

use k8s_openapi::jiff::Timestamp;

use crate::api::shared::DeletionPolicy;

/// The deletion policy in force: the spec's, else `Retain` for an adopted resource
/// and `Snapshot` for one tiered created.
pub fn effective_policy(spec_policy: Option<DeletionPolicy>, adopted: bool) -> DeletionPolicy {
    spec_policy.unwrap_or(if adopted {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Snapshot
    })
}

/// `<id>-final-<yyyymmddhhmmss>` (UTC) of the deletion time, so every retry of a
/// cleanup names the same snapshot.
pub fn final_snapshot_name(id: &str, deleted_at: Timestamp) -> String {
    format!("{id}-final-{}", deleted_at.strftime("%Y%m%d%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_snapshot_is_named_after_the_resource_and_the_deletion_time() {
        let at: Timestamp = "2025-03-04T05:06:07Z".parse().unwrap();
        assert_eq!(
            final_snapshot_name("prod-db-1234abcd", at),
            "prod-db-1234abcd-final-20250304050607"
        );
    }

    #[test]
    fn adopted_resources_default_to_retain_and_created_ones_to_snapshot() {
        assert_eq!(effective_policy(None, false), DeletionPolicy::Snapshot);
        assert_eq!(effective_policy(None, true), DeletionPolicy::Retain);
        assert_eq!(
            effective_policy(Some(DeletionPolicy::Delete), true),
            DeletionPolicy::Delete
        );
    }
}
