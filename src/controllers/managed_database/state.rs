//! Which [`Phase`] (shared with the cache controller) an RDS DB instance status is
//! in: in progress (requeue and wait), ready, or stalled (a person must act), with
//! what a person can do about it. Pure.

use crate::controllers::data_tier::progress::Phase;

/// The phase of an RDS status string. Unknown statuses count as in progress: waiting
/// is safe, and a new transitional state is likelier than a new terminal one.
pub fn phase(status: &str) -> Phase {
    match status {
        "available" => Phase::Ready,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "restore-error"
        | "storage-full"
        | "stopped"
        | "insufficient-capacity" => Phase::Stalled,
        s if s.starts_with("incompatible-") => Phase::Stalled,
        _ => Phase::InProgress,
    }
}

/// What a person can do about a stalled status.
pub fn stalled_hint(status: &str) -> &'static str {
    match status {
        "storage-full" => "increase spec.storage.allocatedGiB or set spec.storage.maxAllocatedGiB",
        "stopped" => {
            "start the instance (aws rds start-db-instance); tiered does not start stopped instances"
        }
        "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable" => {
            "restore access to the KMS key of the instance"
        }
        "incompatible-parameters" => "fix the DB parameter group of the instance",
        "incompatible-network" => "fix the subnet group or security groups of the instance",
        _ => "see the RDS console or events of the instance; AWS support may be needed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_statuses_map_to_phases() {
        let cases = [
            ("available", Phase::Ready),
            ("creating", Phase::InProgress),
            ("modifying", Phase::InProgress),
            ("backing-up", Phase::InProgress),
            ("rebooting", Phase::InProgress),
            ("upgrading", Phase::InProgress),
            ("configuring-enhanced-monitoring", Phase::InProgress),
            ("configuring-log-exports", Phase::InProgress),
            ("storage-optimization", Phase::InProgress),
            ("maintenance", Phase::InProgress),
            ("renaming", Phase::InProgress),
            ("deleting", Phase::InProgress),
            ("some-future-state", Phase::InProgress),
            ("failed", Phase::Stalled),
            ("incompatible-parameters", Phase::Stalled),
            ("incompatible-restore", Phase::Stalled),
            ("storage-full", Phase::Stalled),
            ("stopped", Phase::Stalled),
        ];
        for (status, expected) in cases {
            assert_eq!(phase(status), expected, "{status}");
        }
    }

    #[test]
    fn storage_full_says_to_grow_storage() {
        assert!(stalled_hint("storage-full").contains("allocatedGiB"));
    }
}
