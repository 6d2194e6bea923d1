//! Which [`Phase`] (shared with the database controller) an ElastiCache replication
//! group status is in: in progress (requeue and wait), ready, or stalled (a person
//! must act), with what a person can do about it. Pure.

use crate::controllers::data_tier::progress::Phase;

/// The phase of a replication group status. Unknown statuses count as in progress:
/// waiting is safe, and a new transitional state is likelier than a terminal one.
pub fn phase(status: &str) -> Phase {
    match status {
        "available" => Phase::Ready,
        "create-failed" | "incompatible-network" | "restore-failed" => Phase::Stalled,
        _ => Phase::InProgress,
    }
}

/// What a person can do about a stalled status.
pub fn stalled_hint(status: &str) -> &'static str {
    match status {
        "create-failed" => {
            "check the subnet group, security groups and node type; delete the replication group in AWS, then tiered creates it again"
        }
        "incompatible-network" => "fix the cache subnet group or security groups of the group",
        _ => "see the ElastiCache console or events of the group; AWS support may be needed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_group_statuses_map_to_phases() {
        let cases = [
            ("available", Phase::Ready),
            ("creating", Phase::InProgress),
            ("modifying", Phase::InProgress),
            ("snapshotting", Phase::InProgress),
            ("deleting", Phase::InProgress),
            ("some-future-state", Phase::InProgress),
            ("create-failed", Phase::Stalled),
            ("incompatible-network", Phase::Stalled),
        ];
        for (status, expected) in cases {
            assert_eq!(phase(status), expected, "{status}");
        }
    }

    #[test]
    fn create_failed_says_what_to_check() {
        assert!(stalled_hint("create-failed").contains("subnet group"));
    }
}
