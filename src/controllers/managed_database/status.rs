//! ManagedDatabase status from a reconcile [`Report`]: the kstatus conditions of the
//! shared outline, endpoints, identifiers; and what an RDS DB instance status means
//! ([`phase`]: in progress, ready, or stalled with what a person can do). Pure.

use aws_sdk_rds::types::DbInstance;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::ManagedDatabaseStatus;
use crate::controllers::data_tier::error::Nouns;
use crate::controllers::data_tier::status::{Phase, conditions, endpoint_of};

/// How messages name a DB instance.
pub const NOUNS: &Nouns = &Nouns {
    resource: "DB instance",
    resources: "instances",
    adopt_field: "spec.adopt.identifier",
    credential: "master password",
    credential_reset: "annotation tiered.io/rotate-password: <any new value>",
};

/// The RDS status of an instance out of storage.
pub const STORAGE_FULL: &str = "storage-full";

/// What RDS reports for the object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The primary instance.
    pub primary: Option<DbInstance>,
    /// Our read replicas, by index.
    pub replicas: Vec<DbInstance>,
    /// The snapshots of `spec.snapshots` that RDS lists; `None` when the pass did not
    /// look (the status keeps what it said).
    pub snapshots: Option<Vec<aws_sdk_rds::types::DbSnapshot>>,
    /// The DB parameter group of `spec.parameters` as the pass saw it; `None` when the
    /// pass did not look (the status keeps what it said).
    pub parameter_group: Option<crate::api::parameters::ParameterGroupStatus>,
}

/// The result of one pass against RDS.
pub type Report = crate::controllers::data_tier::kind::Report<Observed>;

/// The status for `report`, given the previous status.
pub fn compute_status(
    generation: Option<i64>,
    report: &Report,
    connection_secret: Option<String>,
    previous: Option<&ManagedDatabaseStatus>,
    now: &Time,
) -> ManagedDatabaseStatus {
    let primary = report.observed.primary.as_ref();
    let endpoint = primary.and_then(|instance| endpoint_of(instance.endpoint()));
    let reader_endpoints = report
        .observed
        .replicas
        .iter()
        .filter_map(|replica| endpoint_of(replica.endpoint()))
        .collect();
    let status = ManagedDatabaseStatus {
        observed_generation: generation,
        conditions: conditions(generation, &report.progress, previous, NOUNS, now),
        identifier: Some(report.id.clone()),
        arn: primary.and_then(|instance| instance.db_instance_arn().map(str::to_owned)),
        endpoint,
        reader_endpoints,
        engine_version: primary
            .and_then(|instance| instance.engine_version().map(str::to_owned))
            .or_else(|| previous.and_then(|status| status.engine_version.clone())),
        aws_status: primary.and_then(|instance| instance.db_instance_status().map(str::to_owned)),
        connection_secret,
        password_rotation: previous.and_then(|status| status.password_rotation.clone()),
        snapshots: Vec::new(),
        replication: None,
        parameter_group: previous.and_then(|status| status.parameter_group.clone()),
    };
    match previous {
        // Not looked at in this pass (an AWS error or a held-back call came first): what
        // was last observed stands, rather than an empty endpoint.
        Some(previous) if !report.observed_resource => ManagedDatabaseStatus {
            arn: previous.arn.clone(),
            endpoint: previous.endpoint.clone(),
            reader_endpoints: previous.reader_endpoints.clone(),
            aws_status: previous.aws_status.clone(),
            ..status
        },
        _ => status,
    }
}

/// The phase of an RDS status string. Unknown statuses count as in progress: waiting
/// is safe, and a new transitional state is likelier than a new terminal one.
/// `storage-full` goes on to the convergence like `available`: it is the one stalled
/// state a spec change fixes, and the convergence sends only the storage increase, or
/// reports it Stalled when the spec asks for none (aws-controllers-k8s/community#2214).
pub fn phase(status: &str) -> Phase {
    match status {
        "available" | STORAGE_FULL => Phase::Ready,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "restore-error"
        | "stopped"
        | "insufficient-capacity" => Phase::Stalled,
        s if s.starts_with("incompatible-") => Phase::Stalled,
        _ => Phase::InProgress,
    }
}

/// What a person can do about a stalled status.
pub fn stalled_hint(status: &str) -> &'static str {
    match status {
        STORAGE_FULL => {
            "increase spec.storage.allocatedGiB (RDS accepts only a storage increase while storage-full); set spec.storage.maxAllocatedGiB afterwards to let storage autoscaling grow it"
        }
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
    use crate::api::conditions::{READY, RECONCILING, STALLED, reasons};
    use crate::api::shared::Endpoint;
    use crate::controllers::data_tier::status::Progress;
    use crate::runtime::error::Category;
    use crate::runtime::kstatus::same_ignoring_transition_times;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use k8s_openapi::jiff::Timestamp;

    fn report(progress: Progress) -> Report {
        let instance = aws_sdk_rds::types::DbInstance::builder()
            .db_instance_identifier("db-1")
            .db_instance_status("available")
            .db_instance_arn("arn:aws:rds:us-east-1:1:db:db-1")
            .endpoint(
                aws_sdk_rds::types::Endpoint::builder()
                    .address("db-1.rds")
                    .port(5432)
                    .build(),
            )
            .build();
        let observed = Observed {
            primary: Some(instance),
            replicas: vec![],
            snapshots: None,
            parameter_group: None,
        };
        Report::new("db-1".into(), observed, progress)
    }

    /// `Ready` with nothing to say.
    fn ready() -> Progress {
        Progress::Ready {
            message: String::new(),
        }
    }

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn get<'a>(status: &'a ManagedDatabaseStatus, type_: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn ready_report_gives_ready_true_with_the_endpoint() {
        let status = compute_status(Some(3), &report(ready()), None, None, &at(1));
        assert_eq!(get(&status, READY).status, "True");
        assert_eq!(get(&status, RECONCILING).status, "False");
        assert_eq!(get(&status, STALLED).status, "False");
        assert_eq!(
            status.endpoint,
            Some(Endpoint {
                address: "db-1.rds".into(),
                port: 5432
            })
        );
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.aws_status.as_deref(), Some("available"));
    }

    #[test]
    fn stalled_report_sets_stalled_with_its_reason_and_message() {
        let progress = Progress::Stalled {
            reason: reasons::OWNED_ELSEWHERE,
            category: Category::Internal,
            message: "owned by a/b".into(),
        };
        let status = compute_status(None, &report(progress), None, None, &at(1));
        let stalled = get(&status, STALLED);
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "OwnedElsewhere")
        );
        assert_eq!(get(&status, READY).status, "False");
    }

    #[test]
    fn statuses_differing_only_in_transition_times_count_as_the_same() {
        let a = compute_status(Some(1), &report(ready()), None, None, &at(1));
        let b = compute_status(Some(1), &report(ready()), None, None, &at(2));
        assert_ne!(a, b);
        assert!(same_ignoring_transition_times(&a, &b));
        let c = compute_status(Some(2), &report(ready()), None, None, &at(1));
        assert!(
            !same_ignoring_transition_times(&a, &c),
            "observedGeneration differs"
        );
    }

    #[test]
    fn transition_time_changes_only_when_a_status_flips() {
        let in_progress = Progress::InProgress {
            reason: reasons::AWS_IN_PROGRESS,
            message: "creating".into(),
        };
        let first = compute_status(Some(1), &report(in_progress.clone()), None, None, &at(1));
        let again = compute_status(Some(1), &report(in_progress), None, Some(&first), &at(2));
        assert_eq!(
            first, again,
            "an unchanged object computes an identical status"
        );

        let ready = compute_status(Some(1), &report(ready()), None, Some(&again), &at(3));
        assert_eq!(get(&ready, READY).last_transition_time, at(3));
        assert_eq!(
            get(&ready, STALLED).last_transition_time,
            at(1),
            "Stalled stayed False"
        );
    }

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
            ("storage-full", Phase::Ready),
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
