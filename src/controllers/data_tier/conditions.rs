//! kstatus conditions of a data-tier object from its [`Progress`]: `Ready` (the
//! summary), `Reconciling` and `Stalled`, all three from the first write. Pure;
//! `lastTransitionTime` is carried over unless a condition's status flips, so an
//! unchanged object computes an identical status and the caller can skip the write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::conditions::reasons;
use crate::runtime::kstatus::{self, Computed, Summary};
pub use crate::runtime::kstatus::{WithConditions, same_ignoring_transition_times};

use crate::controllers::data_tier::progress::Progress;

/// The three kstatus conditions for `progress`; `ready_message` is the `Ready`
/// message when the progress carries none (e.g. "the DB instance is available").
pub fn kstatus_conditions(
    generation: Option<i64>,
    progress: &Progress,
    previous: &[Condition],
    ready_message: &str,
    now: &Time,
) -> Vec<Condition> {
    kstatus::conditions(previous, generation, summary(progress, ready_message), now)
}

/// The kstatus [`Summary`] of `progress`.
pub fn summary(progress: &Progress, ready_message: &str) -> Summary {
    let no_blockers = || Computed::new(false, reasons::NO_BLOCKERS, "");
    match progress {
        Progress::Ready { message } => Summary {
            ready: Computed::new(
                true,
                reasons::READY,
                if message.is_empty() {
                    ready_message.to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CacheClusterStatus;
    use crate::api::conditions::{READY, RECONCILING, STALLED};
    use crate::runtime::error::Category;
    use k8s_openapi::jiff::Timestamp;

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
            let conditions = kstatus_conditions(Some(2), &progress, &[], "ok", &at(1));
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
        let first = kstatus_conditions(
            None,
            &Progress::aws_in_progress("a".into()),
            &[],
            "",
            &at(1),
        );
        let again = kstatus_conditions(
            None,
            &Progress::aws_in_progress("b".into()),
            &first,
            "",
            &at(2),
        );
        assert_eq!(find(&again, READY).last_transition_time, at(1));
        let ready = Progress::Ready {
            message: String::new(),
        };
        let flipped = kstatus_conditions(None, &ready, &again, "", &at(3));
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
                "",
                &at(seconds),
            ),
            ..CacheClusterStatus::default()
        };
        assert_ne!(status(1, 1), status(2, 1));
        assert!(same_ignoring_transition_times(&status(1, 1), &status(2, 1)));
        assert!(!same_ignoring_transition_times(
            &status(1, 1),
            &status(1, 2)
        ));
    }
}
