//! kstatus conditions of a data-tier object from its [`Progress`]: `Ready` (the
//! summary), `Reconciling` and `Stalled`, all three from the first write. Pure;
//! `lastTransitionTime` is carried over unless a condition's status flips, so an
//! unchanged object computes an identical status and the caller can skip the write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::conditions::{READY, RECONCILING, STALLED, reasons};
use crate::api::{CacheClusterStatus, ManagedDatabaseStatus};

use crate::controllers::data_tier::progress::Progress;

/// A status with kstatus conditions.
pub trait WithConditions: Clone + PartialEq {
    /// The conditions, for rewriting.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
}

impl WithConditions for ManagedDatabaseStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

impl WithConditions for CacheClusterStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

/// The three kstatus conditions for `progress`; `ready_message` is the `Ready`
/// message when the progress carries none (e.g. "the DB instance is available").
pub fn kstatus_conditions(
    generation: Option<i64>,
    progress: &Progress,
    previous: &[Condition],
    ready_message: &str,
    now: &Time,
) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match progress {
        Progress::Ready { message } => (
            (
                true,
                reasons::READY,
                if message.is_empty() {
                    ready_message.to_owned()
                } else {
                    message.clone()
                },
            ),
            (false, reasons::CONVERGED, String::new()),
            (false, reasons::NO_BLOCKERS, String::new()),
        ),
        Progress::InProgress { reason, message } => (
            (false, *reason, message.clone()),
            (true, *reason, message.clone()),
            (false, reasons::NO_BLOCKERS, String::new()),
        ),
        Progress::Transient { message, .. } => (
            (false, reasons::TRANSIENT_ERROR, message.clone()),
            (true, reasons::TRANSIENT_ERROR, message.clone()),
            (false, reasons::NO_BLOCKERS, String::new()),
        ),
        Progress::Stalled {
            reason, message, ..
        } => (
            (false, *reason, message.clone()),
            (false, *reason, String::new()),
            (true, *reason, message.clone()),
        ),
    };
    [
        (READY, ready),
        (RECONCILING, reconciling),
        (STALLED, stalled),
    ]
    .into_iter()
    .map(|(type_, (status, reason, message))| {
        condition(previous, generation, type_, status, reason, message, now)
    })
    .collect()
}

/// A condition; its `lastTransitionTime` is the previous one unless the status flips.
pub fn condition(
    previous: &[Condition],
    generation: Option<i64>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_owned();
    let last_transition_time = previous
        .iter()
        .find(|condition| condition.type_ == type_ && condition.status == status)
        .map_or_else(
            || now.clone(),
            |condition| condition.last_transition_time.clone(),
        );
    Condition {
        type_: type_.to_owned(),
        status,
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// Whether two statuses are the same apart from conditions' `lastTransitionTime`
/// (the status write is skipped then).
pub fn same_ignoring_transition_times<S: WithConditions>(a: &S, b: &S) -> bool {
    let strip = |status: &S| {
        let mut status = status.clone();
        for condition in status.conditions_mut() {
            condition.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        status
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
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
