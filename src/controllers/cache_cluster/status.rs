//! CacheCluster status from a reconcile [`Report`]: the kstatus conditions of the
//! shared outline, endpoints and identifiers; and what a replication group status
//! means ([`phase`]: in progress, ready, or stalled with what a person can do). Pure.

use aws_sdk_elasticache::types::{CacheCluster, ReplicationGroup};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::CacheClusterStatus;
use crate::api::shared::Endpoint;
use crate::controllers::data_tier::error::Nouns;
use crate::controllers::data_tier::status::{Phase, conditions, endpoint_of};

/// How messages name a replication group.
pub const NOUNS: &Nouns = &Nouns {
    resource: "replication group",
    resources: "replication groups",
    adopt_field: "spec.adopt.replicationGroupId",
    credential: "AUTH token",
    credential_reset: "not possible for a CacheCluster yet",
};

/// What ElastiCache reports for the object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The replication group.
    pub group: Option<ReplicationGroup>,
    /// Its first member cache cluster (engine version, maintenance window, security
    /// groups), when ElastiCache describes it.
    pub member: Option<CacheCluster>,
    /// The group carries the tag that says a ROTATE of the AUTH token was sent and
    /// the SET is still owed (`auth_token`).
    pub auth_token_set_pending: bool,
    /// This pass reached the SET: the group is available and nothing else changed it;
    /// the kind's step after the pass sends it with the Secret's token.
    pub auth_token_set_due: bool,
    /// This pass reached the ROTATE that turns AUTH on for a group without it; the
    /// kind's step after the pass sends it with the Secret's token.
    pub auth_token_rotate_due: bool,
    /// The snapshots of `spec.snapshots` ElastiCache lists, when this pass looked.
    pub snapshots: Option<Vec<aws_sdk_elasticache::types::Snapshot>>,
    /// The cache parameter group of `spec.parameters`, when this pass looked at it.
    pub parameter_group: Option<crate::api::parameters::ParameterGroupStatus>,
}

/// The result of one pass against ElastiCache.
pub type Report = crate::controllers::data_tier::kind::Report<Observed>;

/// The status for `report`, given the previous status.
pub fn compute_status(
    generation: Option<i64>,
    report: &Report,
    connection_secret: Option<String>,
    previous: Option<&CacheClusterStatus>,
    now: &Time,
) -> CacheClusterStatus {
    let group = report.observed.group.as_ref();
    let status = CacheClusterStatus {
        observed_generation: generation,
        conditions: conditions(generation, &report.progress, previous, NOUNS, now),
        identifier: Some(report.id.clone()),
        arn: group.and_then(|g| g.arn().map(str::to_owned)),
        endpoint: group.and_then(endpoint),
        reader_endpoint: group.and_then(reader_endpoint),
        engine_version: report
            .observed
            .member
            .as_ref()
            .and_then(|member| member.engine_version().map(str::to_owned))
            .or_else(|| previous.and_then(|p| p.engine_version.clone())),
        aws_status: group.and_then(|g| g.status().map(str::to_owned)),
        connection_secret,
        snapshots: Vec::new(),
        parameter_group: None,
    };
    match previous {
        // Not looked at in this pass (an AWS error or a held-back call came first): what
        // was last observed stands, rather than an empty endpoint.
        Some(previous) if !report.observed_resource => CacheClusterStatus {
            arn: previous.arn.clone(),
            endpoint: previous.endpoint.clone(),
            reader_endpoint: previous.reader_endpoint.clone(),
            aws_status: previous.aws_status.clone(),
            ..status
        },
        _ => status,
    }
}

/// The endpoint clients connect to: the configuration endpoint in cluster mode, else
/// the primary endpoint.
pub fn endpoint(group: &ReplicationGroup) -> Option<Endpoint> {
    endpoint_of(group.configuration_endpoint()).or_else(|| {
        group
            .node_groups()
            .first()
            .and_then(|node_group| endpoint_of(node_group.primary_endpoint()))
    })
}

/// The reader endpoint (cluster mode off only).
pub fn reader_endpoint(group: &ReplicationGroup) -> Option<Endpoint> {
    if group.configuration_endpoint().is_some() {
        return None;
    }
    group
        .node_groups()
        .first()
        .and_then(|node_group| endpoint_of(node_group.reader_endpoint()))
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
    use crate::api::conditions::{READY, reasons};
    use crate::controllers::data_tier::status::Progress;
    use aws_sdk_elasticache::types::NodeGroup;
    use k8s_openapi::jiff::Timestamp;

    fn ep(address: &str) -> aws_sdk_elasticache::types::Endpoint {
        aws_sdk_elasticache::types::Endpoint::builder()
            .address(address)
            .port(6379)
            .build()
    }

    fn report(group: ReplicationGroup, progress: Progress) -> Report {
        let observed = Observed {
            group: Some(group),
            ..Observed::default()
        };
        Report::new("g".into(), observed, progress)
    }

    #[test]
    fn table_of_endpoints_by_cluster_mode() {
        let disabled = ReplicationGroup::builder()
            .node_groups(
                NodeGroup::builder()
                    .primary_endpoint(ep("master.x"))
                    .reader_endpoint(ep("replica.x"))
                    .build(),
            )
            .build();
        let enabled = ReplicationGroup::builder()
            .configuration_endpoint(ep("clustercfg.x"))
            .node_groups(NodeGroup::builder().build())
            .build();
        let cases = [
            (disabled, Some("master.x"), Some("replica.x")),
            (enabled, Some("clustercfg.x"), None),
        ];
        for (group, primary, reader) in cases {
            assert_eq!(endpoint(&group).map(|e| e.address).as_deref(), primary);
            assert_eq!(
                reader_endpoint(&group).map(|e| e.address).as_deref(),
                reader
            );
        }
    }

    #[test]
    fn ready_report_gives_ready_with_identifiers_and_an_unchanged_recompute() {
        let group = ReplicationGroup::builder()
            .arn("arn:g")
            .status("available")
            .configuration_endpoint(ep("clustercfg.x"))
            .build();
        let ready = report(
            group,
            Progress::Ready {
                message: String::new(),
            },
        );
        let t1 = Time(Timestamp::from_second(1).unwrap());
        let t2 = Time(Timestamp::from_second(2).unwrap());
        let status = compute_status(Some(4), &ready, Some("c-connection".into()), None, &t1);
        let condition = status.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("True", reasons::READY)
        );
        assert_eq!(status.arn.as_deref(), Some("arn:g"));
        assert_eq!(status.aws_status.as_deref(), Some("available"));
        assert_eq!(status.observed_generation, Some(4));
        let again = compute_status(
            Some(4),
            &ready,
            Some("c-connection".into()),
            Some(&status),
            &t2,
        );
        assert_eq!(
            again, status,
            "an unchanged object computes an identical status"
        );
    }

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
