//! The status of a data-tier object from where it stands ([`Progress`], in
//! `data_tier::progress`): what the [`Phase`] of an AWS resource status means for it
//! (each kind maps its own status strings to a phase), and the kstatus [`Summary`] and
//! conditions that follow, written by [`crate::runtime::kstatus`] with
//! `lastTransitionTime` carried over; the status while deletion protection holds a
//! deletion. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::conditions::reasons;
use crate::api::shared::Endpoint;
use crate::controllers::data_tier::error::Nouns;
use crate::runtime::error::Category;
use crate::runtime::kstatus::{self, Computed, Summary, WithConditions};

/// Re-exported: the steps, the kinds and the tests name it with the status it makes.
pub use crate::controllers::data_tier::progress::Progress;

/// The operator's reading of an AWS resource status (an RDS DB instance's, an
/// ElastiCache replication group's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `available`: usable; drift can be corrected.
    Ready,
    /// A transitional state (`creating`, `modifying`, …): wait.
    InProgress,
    /// A state AWS does not leave without someone acting (`failed`, …).
    Stalled,
}

/// What a resource's status means for the object: `None` when it is ready (go on and
/// correct drift), else in progress or stalled. `resource` names it for the message
/// (`DB instance prod-db-1234abcd`); `hint` says what a person can do when stalled.
pub fn status_progress(resource: &str, status: &str, phase: Phase, hint: &str) -> Option<Progress> {
    match phase {
        Phase::Ready => None,
        Phase::InProgress => Some(Progress::aws_in_progress(format!("{resource} is {status}"))),
        Phase::Stalled => Some(Progress::Stalled {
            reason: reasons::AWS_INVALID_REQUEST,
            category: Category::AwsState,
            message: format!("{resource} is {status}: {hint}"),
        }),
    }
}

/// The endpoint of an AWS SDK (RDS and ElastiCache generate the same address and port
/// shape from their Smithy models as two types), so one function reads both.
pub trait SdkEndpoint {
    /// The address and port, when AWS reports both.
    fn address_port(&self) -> Option<(&str, i32)>;
}

macro_rules! sdk_endpoint {
    ($($endpoint:ty),*) => {$(
        impl SdkEndpoint for $endpoint {
            fn address_port(&self) -> Option<(&str, i32)> {
                Some((self.address()?, self.port()?))
            }
        }
    )*};
}

sdk_endpoint!(
    aws_sdk_rds::types::Endpoint,
    aws_sdk_elasticache::types::Endpoint
);

/// The status's endpoint of an SDK's, when AWS reports one with address and port.
pub fn endpoint_of<E: SdkEndpoint>(endpoint: Option<&E>) -> Option<Endpoint> {
    let (address, port) = endpoint?.address_port()?;
    Some(Endpoint {
        address: address.to_owned(),
        port,
    })
}

/// The kstatus [`Summary`] of `progress`; `Ready` says the resource `nouns` name is
/// available when the progress carries no message.
pub fn summary(progress: &Progress, nouns: &Nouns) -> Summary {
    let no_blockers = || Computed::new(false, reasons::NO_BLOCKERS, "");
    match progress {
        Progress::Ready { message } => Summary {
            ready: Computed::new(
                true,
                reasons::READY,
                if message.is_empty() {
                    format!("the {} is available", nouns.resource)
                } else {
                    message.clone()
                },
            ),
            reconciling: Computed::new(false, reasons::CONVERGED, ""),
            stalled: no_blockers(),
        },
        Progress::InProgress { reason, message } => Summary {
            ready: Computed::new(false, *reason, message.clone()),
            reconciling: Computed::new(true, *reason, message.clone()),
            stalled: no_blockers(),
        },
        Progress::Paced { message, .. } => Summary {
            ready: Computed::new(false, reasons::AWS_CALLS_PACED, message.clone()),
            reconciling: Computed::new(true, reasons::AWS_CALLS_PACED, message.clone()),
            stalled: no_blockers(),
        },
        Progress::Transient { message, .. } => Summary {
            ready: Computed::new(false, reasons::TRANSIENT_ERROR, message.clone()),
            reconciling: Computed::new(true, reasons::TRANSIENT_ERROR, message.clone()),
            stalled: no_blockers(),
        },
        Progress::Stalled {
            reason, message, ..
        } => Summary::stalled(reason, message.clone(), ""),
    }
}

/// The three kstatus conditions for `progress`, carrying the transition times of
/// `previous` over.
pub fn conditions<S: WithConditions>(
    generation: Option<i64>,
    progress: &Progress,
    previous: Option<&S>,
    nouns: &Nouns,
    now: &Time,
) -> Vec<Condition> {
    let previous = previous.map(WithConditions::conditions).unwrap_or_default();
    kstatus::conditions(previous, generation, summary(progress, nouns), now)
}

/// The status while `spec.deletionProtection` holds the deletion: the previous one,
/// `Stalled` with what to do.
pub fn deletion_held<S: WithConditions + Default>(
    generation: Option<i64>,
    previous: Option<&S>,
    nouns: &Nouns,
    now: &Time,
) -> S {
    let progress = Progress::Stalled {
        reason: reasons::DELETION_PROTECTED,
        category: Category::DeletionProtected,
        message: format!(
            "deletion is held because spec.deletionProtection is true; set it to false to let tiered delete the {} (deletionPolicy applies)",
            nouns.resource
        ),
    };
    with_progress(generation, previous, nouns, &progress, now)
}

/// The status while the finalizer waits for AWS to delete the resource: the previous
/// one, `Reconciling` with reason `Deleting` and `message` (what AWS is doing). Without
/// it a status that said the deletion was held kept saying so after the hold was
/// lifted, until the object went.
pub fn deleting<S: WithConditions + Default>(
    generation: Option<i64>,
    previous: Option<&S>,
    nouns: &Nouns,
    message: String,
    now: &Time,
) -> S {
    let progress = Progress::InProgress {
        reason: reasons::DELETING,
        message,
    };
    with_progress(generation, previous, nouns, &progress, now)
}

/// `previous` with the conditions of `progress` at `generation`.
pub fn with_progress<S: WithConditions + Default>(
    generation: Option<i64>,
    previous: Option<&S>,
    nouns: &Nouns,
    progress: &Progress,
    now: &Time,
) -> S {
    let mut status = previous.cloned().unwrap_or_default();
    *status.conditions_mut() = conditions(generation, progress, previous, nouns, now);
    *status.observed_generation_mut() = generation;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CacheClusterStatus;
    use crate::api::conditions::{READY, RECONCILING, STALLED};
    use crate::controllers::data_tier::testing::assert_mentions;
    use k8s_openapi::jiff::Timestamp;

    const NOUNS: &Nouns = &Nouns {
        resource: "replication group",
        resources: "replication groups",
        adopt_field: "spec.adopt.replicationGroupId",
        credential: "AUTH token",
        credential_reset: "none for a CacheCluster",
    };

    fn kstatus_conditions(
        generation: Option<i64>,
        progress: &Progress,
        previous: &[Condition],
        now: &Time,
    ) -> Vec<Condition> {
        let previous = CacheClusterStatus {
            conditions: previous.to_vec(),
            ..CacheClusterStatus::default()
        };
        conditions(generation, progress, Some(&previous), NOUNS, now)
    }

    #[test]
    fn a_ready_status_leaves_the_reconcile_to_go_on_and_others_stop_it() {
        assert_eq!(
            status_progress("DB instance db", "available", Phase::Ready, ""),
            None
        );
        assert_eq!(
            status_progress("DB instance db", "modifying", Phase::InProgress, ""),
            Some(Progress::aws_in_progress(
                "DB instance db is modifying".into()
            ))
        );
        assert!(matches!(
            status_progress("DB instance db", "storage-full", Phase::Stalled, "grow it"),
            Some(Progress::Stalled { reason, message, .. })
                if reason == reasons::AWS_INVALID_REQUEST
                    && message == "DB instance db is storage-full: grow it"
        ));
    }

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn find<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn every_progress_gives_all_three_conditions_with_one_summary() {
        let cases = [
            (
                Progress::Ready {
                    message: String::new(),
                },
                ["True", "False", "False"],
                "Ready",
            ),
            (
                Progress::aws_in_progress("creating".into()),
                ["False", "True", "False"],
                "AwsInProgress",
            ),
            (
                Progress::Transient {
                    category: Category::Transient,
                    message: "x".into(),
                },
                ["False", "True", "False"],
                "TransientError",
            ),
            (
                Progress::Stalled {
                    reason: reasons::OWNED_ELSEWHERE,
                    category: Category::Internal,
                    message: "y".into(),
                },
                ["False", "False", "True"],
                "OwnedElsewhere",
            ),
        ];
        for (progress, statuses, ready_reason) in cases {
            let conditions = kstatus_conditions(Some(2), &progress, &[], &at(1));
            let got: Vec<&str> = [READY, RECONCILING, STALLED]
                .iter()
                .map(|t| find(&conditions, t).status.as_str())
                .collect();
            assert_eq!(got, statuses, "{progress:?}");
            assert_eq!(find(&conditions, READY).reason, ready_reason);
            assert!(conditions.iter().all(|c| c.observed_generation == Some(2)));
        }
    }

    #[test]
    fn transition_time_changes_only_when_the_status_flips() {
        let first = kstatus_conditions(None, &Progress::aws_in_progress("a".into()), &[], &at(1));
        let again =
            kstatus_conditions(None, &Progress::aws_in_progress("b".into()), &first, &at(2));
        assert_eq!(find(&again, READY).last_transition_time, at(1));
        let ready = Progress::Ready {
            message: String::new(),
        };
        let flipped = kstatus_conditions(None, &ready, &again, &at(3));
        assert_eq!(find(&flipped, READY).last_transition_time, at(3));
        assert_eq!(find(&flipped, STALLED).last_transition_time, at(1));
    }

    #[test]
    fn statuses_differing_only_in_transition_times_count_as_the_same() {
        let status = |seconds, generation| CacheClusterStatus {
            observed_generation: Some(generation),
            conditions: kstatus_conditions(
                Some(generation),
                &Progress::aws_in_progress("x".into()),
                &[],
                &at(seconds),
            ),
            ..CacheClusterStatus::default()
        };
        assert_ne!(status(1, 1), status(2, 1));
        assert!(kstatus::same_ignoring_transition_times(
            &status(1, 1),
            &status(2, 1)
        ));
        assert!(!kstatus::same_ignoring_transition_times(
            &status(1, 1),
            &status(1, 2)
        ));
    }

    /// A status that names the replication group `id` and nothing else.
    fn of_group(id: &str) -> CacheClusterStatus {
        CacheClusterStatus {
            identifier: Some(id.into()),
            ..CacheClusterStatus::default()
        }
    }

    #[test]
    fn held_deletion_stalls_and_keeps_the_rest_of_the_status() {
        let held: CacheClusterStatus = deletion_held(Some(3), Some(&of_group("g")), NOUNS, &at(1));
        assert_eq!(held.identifier.as_deref(), Some("g"));
        assert_eq!(held.observed_generation, Some(3));
        let stalled = find(&held.conditions, STALLED);
        assert_eq!(stalled.reason, reasons::DELETION_PROTECTED);
        assert_mentions(&stalled.message, &["delete the replication group"]);
    }

    /// Found by the outside trial of session 8: once `deletionProtection` was turned off,
    /// the status kept saying the deletion was held until the object went.
    #[test]
    fn a_deletion_under_way_replaces_the_hold_with_deleting() {
        let held: CacheClusterStatus = deletion_held(Some(3), Some(&of_group("g")), NOUNS, &at(1));
        let deleting: CacheClusterStatus = deleting(
            Some(4),
            Some(&held),
            NOUNS,
            "deleting replication group g".into(),
            &at(2),
        );
        assert_eq!(deleting.identifier.as_deref(), Some("g"));
        assert_eq!(deleting.observed_generation, Some(4));
        let ready = find(&deleting.conditions, READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reasons::DELETING)
        );
        assert_eq!(ready.message, "deleting replication group g");
        assert_eq!(find(&deleting.conditions, RECONCILING).status, "True");
        assert!(
            deleting
                .conditions
                .iter()
                .all(|c| c.type_ != STALLED || c.status == "False"),
            "the hold is lifted: {:?}",
            deleting.conditions
        );
    }
}
