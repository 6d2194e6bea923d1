//! What an ElastiCache replication group status means for the operator: in progress
//! (requeue and wait), ready, or stalled (a person must act). Pure.

/// The operator's reading of a replication group status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `available`: usable; drift can be corrected.
    Ready,
    /// A transitional state (`creating`, `modifying`, `snapshotting`, …): wait.
    InProgress,
    /// A state ElastiCache does not leave without someone acting (`create-failed`).
    Stalled,
}

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
