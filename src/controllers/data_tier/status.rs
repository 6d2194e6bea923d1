//! Where a data-tier object stands after one reconcile ([`Progress`]), what a
//! classified AWS error and the [`Phase`] of an AWS resource status mean for it (each
//! kind maps its own status strings to a phase), and the kstatus [`Summary`] and
//! conditions that follow, written by [`crate::runtime::kstatus`] with
//! `lastTransitionTime` carried over. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::conditions::reasons;
use crate::aws::adoption::AdoptionRefused;
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::restore_source::RestoreRefused;
use crate::controllers::data_tier::error::{ConvergeError, Nouns};
use crate::runtime::error::Category;
use crate::runtime::kstatus::{self, Computed, Summary, WithConditions};
use crate::runtime::mutations::{Held, Refusal};

/// Where the object stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Converged and available.
    Ready {
        /// Extra information (pending maintenance-window changes).
        message: String,
    },
    /// AWS is working, or the operator just asked it to: wait and look again.
    InProgress {
        /// Condition reason.
        reason: &'static str,
        /// What is happening.
        message: String,
    },
    /// A mutating AWS call was held back by the object's budget
    /// ([`crate::runtime::mutations`]): look again once it may go. Not a failure.
    Paced {
        /// Which call waits, until when, and the rule.
        message: String,
        /// When the call may go.
        retry_after: std::time::Duration,
        /// The held call is the repeat of one AWS did not accept (throttled, failed):
        /// back off as after a failure, rather than come back the moment it may go.
        after_failure: bool,
    },
    /// A retryable failure: back off and retry.
    Transient {
        /// Error category for metrics.
        category: Category,
        /// What failed.
        message: String,
    },
    /// Cannot progress without a change to the spec, IAM or the AWS resource.
    Stalled {
        /// Condition reason.
        reason: &'static str,
        /// Error category for metrics.
        category: Category,
        /// What is wrong and what to do.
        message: String,
    },
}

impl Progress {
    /// AWS is working on the resource (reason `AwsInProgress`).
    pub fn aws_in_progress(message: String) -> Self {
        Self::InProgress {
            reason: reasons::AWS_IN_PROGRESS,
            message,
        }
    }

    /// What a failed AWS call means: stalled on invalid input, quota or IAM (naming
    /// the IAM action to grant), else transient.
    pub fn from_aws_error(error: &AwsError) -> Self {
        let source: &(dyn std::error::Error + 'static) = &*error.source;
        if let Some(held) = Held::in_chain(source) {
            return Self::Paced {
                message: format!("{} {held}", error.operation),
                retry_after: held.refusal.retry_after(),
                after_failure: matches!(held.refusal, Refusal::Retry { .. }),
            };
        }
        let category = Category::from_aws(error.kind);
        let stalled = |reason, message: String| Self::Stalled {
            reason,
            category,
            message,
        };
        match error.kind {
            ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::Conflict => stalled(
                reasons::AWS_INVALID_REQUEST,
                format!(
                    "AWS rejected {}: {}; fix the spec",
                    error.operation,
                    error.aws_message()
                ),
            ),
            ErrorKind::Quota => stalled(
                reasons::AWS_QUOTA_EXCEEDED,
                format!(
                    "{} hit a limit: {}; raise the quota or change the spec",
                    error.operation,
                    error.aws_message()
                ),
            ),
            ErrorKind::AccessDenied => stalled(
                reasons::AWS_ACCESS_DENIED,
                format!(
                    "the operator's IAM role may not call {}: {}; grant {} to the operator's role",
                    error.operation,
                    error.aws_message(),
                    error.operation
                ),
            ),
            ErrorKind::Transient | ErrorKind::Unknown => Self::Transient {
                category,
                message: format!(
                    "{} failed, retrying: {}",
                    error.operation,
                    error.aws_message()
                ),
            },
        }
    }
}

impl From<&ConvergeError> for Progress {
    /// Where the object stands after the AWS pass stopped with `error`: stalled on
    /// what only a person can change, transient on what a retry may fix.
    fn from(error: &ConvergeError) -> Self {
        let category = error.category();
        let stalled = |reason, message: String| Self::Stalled {
            reason,
            category,
            message,
        };
        match error {
            ConvergeError::Aws(aws) => Self::from_aws_error(aws),
            ConvergeError::InvalidSpec(invalid) => {
                stalled(reasons::INVALID_SPEC, invalid.to_string())
            }
            ConvergeError::Unsupported(change) => {
                stalled(reasons::UNSUPPORTED_CHANGE, change.to_string())
            }
            ConvergeError::OwnedElsewhere { .. } | ConvergeError::NotOwned { .. } => {
                stalled(reasons::OWNED_ELSEWHERE, error.to_string())
            }
            ConvergeError::Adoption(refused) => stalled(
                match refused {
                    AdoptionRefused::NamespaceNotAllowed { .. } => reasons::ADOPTION_NOT_ALLOWED,
                    AdoptionRefused::NotOptedIn { .. }
                    | AdoptionRefused::OptedInForAnother { .. } => reasons::NOT_OPTED_IN,
                    AdoptionRefused::OwnedElsewhere { .. } => reasons::OWNED_ELSEWHERE,
                },
                error.to_string(),
            ),
            ConvergeError::CredentialUnknown { .. } => {
                stalled(reasons::CREDENTIAL_UNKNOWN, error.to_string())
            }
            ConvergeError::RestoreSource(refused) => stalled(
                match refused {
                    RestoreRefused::NotFound { .. } => reasons::INVALID_SPEC,
                    RestoreRefused::NotOptedIn { .. }
                    | RestoreRefused::OptedInForAnother { .. } => reasons::NOT_OPTED_IN,
                },
                error.to_string(),
            ),
            ConvergeError::AdoptTargetMissing { .. } => {
                stalled(reasons::INVALID_SPEC, error.to_string())
            }
            ConvergeError::MissingCredential { .. } => Self::Transient {
                category,
                message: error.to_string(),
            },
        }
    }
}

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
            ready: Computed::new(false, reason, message.clone()),
            reconciling: Computed::new(true, reason, message.clone()),
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
        } => Summary {
            ready: Computed::new(false, reason, message.clone()),
            reconciling: Computed::new(false, reason, ""),
            stalled: Computed::new(true, reason, message.clone()),
        },
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
    let mut status = previous.cloned().unwrap_or_default();
    *status.conditions_mut() = conditions(generation, &progress, previous, nouns, now);
    *status.observed_generation_mut() = generation;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CacheClusterStatus;
    use crate::api::conditions::{READY, RECONCILING, STALLED};
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

    fn error(code: &str, status: u16) -> AwsError {
        AwsError {
            kind: crate::aws::errors::classify_code(Some(code), Some(status)),
            operation: "elasticache:CreateReplicationGroup",
            code: Some(code.into()),
            message: Some("says AWS".into()),
            source: "boom".into(),
        }
    }

    #[test]
    fn access_denied_stalls_and_names_the_iam_action_to_grant() {
        match Progress::from_aws_error(&error("AccessDenied", 403)) {
            Progress::Stalled {
                reason, message, ..
            } => {
                assert_eq!(reason, reasons::AWS_ACCESS_DENIED);
                assert!(
                    message.contains("grant elasticache:CreateReplicationGroup"),
                    "{message}"
                );
            }
            other => panic!("expected Stalled, got {other:?}"),
        }
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

    #[test]
    fn throttling_is_transient_and_quotas_stall() {
        assert!(matches!(
            Progress::from_aws_error(&error("Throttling", 400)),
            Progress::Transient { .. }
        ));
        assert!(matches!(
            Progress::from_aws_error(&error("NodeQuotaForCustomerExceeded", 400)),
            Progress::Stalled { reason, .. } if reason == reasons::AWS_QUOTA_EXCEEDED
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

    #[test]
    fn an_unsupported_change_stalls_naming_the_field() {
        let error = ConvergeError::from(crate::controllers::data_tier::error::Unsupported {
            field: "spec.storage.allocatedGiB",
            message: "failed to shrink storage".into(),
        });
        match Progress::from(&error) {
            Progress::Stalled {
                reason, message, ..
            } => {
                assert_eq!(reason, reasons::UNSUPPORTED_CHANGE);
                assert_eq!(
                    message,
                    "failed to shrink storage (spec.storage.allocatedGiB)"
                );
            }
            other => panic!("expected Stalled, got {other:?}"),
        }
    }

    #[test]
    fn each_adoption_refusal_stalls_with_its_reason() {
        use AdoptionRefused::{NamespaceNotAllowed, NotOptedIn, OptedInForAnother, OwnedElsewhere};
        let (resource, namespace, expected) = ("group g".to_owned(), "shop".to_owned(), "shop/c");
        let cases = [
            (
                NamespaceNotAllowed {
                    resource: resource.clone(),
                    namespace,
                },
                reasons::ADOPTION_NOT_ALLOWED,
            ),
            (
                NotOptedIn {
                    resource: resource.clone(),
                    expected: expected.into(),
                },
                reasons::NOT_OPTED_IN,
            ),
            (
                OptedInForAnother {
                    resource: resource.clone(),
                    expected: expected.into(),
                },
                reasons::NOT_OPTED_IN,
            ),
            (OwnedElsewhere { resource }, reasons::OWNED_ELSEWHERE),
        ];
        for (refusal, wanted) in cases {
            let progress = Progress::from(&ConvergeError::from(refusal));
            assert!(
                matches!(&progress, Progress::Stalled { reason, .. } if *reason == wanted),
                "{progress:?}"
            );
        }
    }

    #[test]
    fn held_deletion_stalls_and_keeps_the_rest_of_the_status() {
        let previous = CacheClusterStatus {
            identifier: Some("g".into()),
            ..CacheClusterStatus::default()
        };
        let held: CacheClusterStatus = deletion_held(Some(3), Some(&previous), NOUNS, &at(1));
        assert_eq!(held.identifier.as_deref(), Some("g"));
        assert_eq!(held.observed_generation, Some(3));
        let stalled = find(&held.conditions, STALLED);
        assert_eq!(stalled.reason, reasons::DELETION_PROTECTED);
        assert!(
            stalled.message.contains("delete the replication group"),
            "{}",
            stalled.message
        );
    }
}
