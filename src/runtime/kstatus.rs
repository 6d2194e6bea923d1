//! kstatus conditions for every kind: `Ready` (the summary), `Reconciling` and `Stalled`,
//! all three from the first status write, from a [`Summary`] that each controller
//! computes its own way (a TieredApp from its rollout, a data-tier object from where
//! AWS stands). `lastTransitionTime` is carried over unless a condition's status
//! flips, so an unchanged object computes an identical status, and a status that
//! differs only in those times is not written again ([`changed`]). Pure.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{READY, RECONCILING, STALLED};
use crate::api::{CacheClusterStatus, ManagedDatabaseStatus, TieredAppStatus};
use crate::runtime::text::{CONDITION_MESSAGE_MAX_BYTES, truncated};

/// One condition as computed, before its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// `True` or `False`.
    pub status: bool,
    /// CamelCase reason: a constant of [`crate::api::conditions::reasons`] or of an error
    /// category, or the reason of a condition as stored (kept while retrying).
    pub reason: Cow<'static, str>,
    /// What is going on, or what to do.
    pub message: String,
}

impl Computed {
    /// A condition value.
    pub fn new(
        status: bool,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The three kstatus conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `Ready`.
    pub ready: Computed,
    /// `Reconciling`.
    pub reconciling: Computed,
    /// `Stalled`.
    pub stalled: Computed,
}

impl Summary {
    /// Stalled (kstatus: progress needs someone to act): `Ready=False` and `Stalled=True`
    /// with `reason` and `message`, and `Reconciling=False` saying what it waits for
    /// (`waiting_for`, e.g. "waiting for a change to the spec").
    pub fn stalled(reason: &'static str, message: String, waiting_for: impl Into<String>) -> Self {
        Self {
            ready: Computed::new(false, reason, message.clone()),
            reconciling: Computed::new(false, reason, waiting_for),
            stalled: Computed::new(true, reason, message),
        }
    }
}

/// `Ready`, `Reconciling` and `Stalled` for `summary`, stamped with `generation`; the
/// `lastTransitionTime` of each is the one in `previous` unless its status flips.
pub fn conditions(
    previous: &[Condition],
    generation: Option<i64>,
    summary: Summary,
    now: &Time,
) -> Vec<Condition> {
    let Summary {
        ready,
        reconciling,
        stalled,
    } = summary;
    [
        (READY, ready),
        (RECONCILING, reconciling),
        (STALLED, stalled),
    ]
    .into_iter()
    .map(|(type_, computed)| condition(previous, generation, type_, computed, now))
    .collect()
}

/// One condition; its `lastTransitionTime` is the previous one unless the status flips.
pub fn condition(
    previous: &[Condition],
    generation: Option<i64>,
    type_: &str,
    computed: Computed,
    now: &Time,
) -> Condition {
    let status = if computed.status { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|condition| condition.type_ == type_ && condition.status == status)
        .map_or_else(
            || now.clone(),
            |condition| condition.last_transition_time.clone(),
        );
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: computed.reason.into_owned(),
        // Cut to the API server's 32 KiB on a char boundary: messages carry user and
        // AWS text, and one refused status write would leave the object without status.
        message: if computed.message.len() <= CONDITION_MESSAGE_MAX_BYTES {
            computed.message
        } else {
            truncated(&computed.message, CONDITION_MESSAGE_MAX_BYTES)
        },
        observed_generation: generation,
        last_transition_time,
    }
}

/// A status with kstatus conditions and an `observedGeneration`.
pub trait WithConditions: Clone + PartialEq {
    /// The conditions.
    fn conditions(&self) -> &[Condition];
    /// The conditions, for rewriting.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// `observedGeneration`, for rewriting.
    fn observed_generation_mut(&mut self) -> &mut Option<i64>;
}

macro_rules! with_conditions {
    ($($status:ty),*) => {$(
        impl WithConditions for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn observed_generation_mut(&mut self) -> &mut Option<i64> {
                &mut self.observed_generation
            }
        }
    )*};
}

with_conditions!(TieredAppStatus, ManagedDatabaseStatus, CacheClusterStatus);

/// Whether two statuses are the same apart from the conditions' `lastTransitionTime`
/// and their order.
pub fn same_ignoring_transition_times<S: WithConditions>(a: &S, b: &S) -> bool {
    let strip = |status: &S| {
        let mut status = status.clone();
        let conditions = status.conditions_mut();
        for condition in conditions.iter_mut() {
            condition.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        status
    };
    strip(a) == strip(b)
}

/// Whether `next` must be written over `current` (none yet, or it differs in more
/// than the transition times).
pub fn changed<S: WithConditions>(current: Option<&S>, next: &S) -> bool {
    current.is_none_or(|current| !same_ignoring_transition_times(current, next))
}

/// Now, to the second (the precision of `metav1.Time` on the wire), so a time carried
/// over compares equal to the one read back.
pub fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The `Ready` condition among `conditions`, if any.
pub fn ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|condition| condition.type_ == READY)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! What the tests of status-writing code share (tests only: they panic).

    use super::*;

    /// The time `seconds` after the epoch.
    pub fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    /// The condition of type `type_` among `conditions`; panics when there is none.
    pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == type_).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{at, find};
    use super::*;
    use crate::api::conditions::reasons;

    #[test]
    fn a_huge_multi_byte_message_is_cut_to_32_kib_on_a_char_boundary() {
        let message = format!("x{}", "é".repeat(20_000));
        let written = condition(
            &[],
            Some(1),
            READY,
            Computed::new(false, reasons::READY, message.clone()),
            &at(1),
        );
        assert!(written.message.len() <= CONDITION_MESSAGE_MAX_BYTES);
        assert!(message.starts_with(written.message.trim_end_matches('…')));
    }

    fn summary(ready: bool) -> Summary {
        Summary {
            ready: Computed::new(ready, reasons::READY, "m"),
            reconciling: Computed::new(!ready, reasons::PROGRESSING, ""),
            stalled: Computed::new(false, reasons::NO_BLOCKERS, ""),
        }
    }

    #[test]
    fn all_three_conditions_carry_the_generation() {
        let conditions = conditions(&[], Some(2), summary(true), &at(1));
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, RECONCILING, STALLED]);
        assert!(conditions.iter().all(|c| c.observed_generation == Some(2)));
    }

    #[test]
    fn transition_time_changes_only_when_the_status_flips() {
        let first = conditions(&[], None, summary(false), &at(1));
        let again = conditions(&first, None, summary(false), &at(2));
        assert_eq!(
            again, first,
            "an unchanged object computes the same conditions"
        );
        let flipped = conditions(&again, None, summary(true), &at(3));
        assert_eq!(find(&flipped, READY).last_transition_time, at(3));
        assert_eq!(find(&flipped, STALLED).last_transition_time, at(1));
    }

    #[test]
    fn statuses_differing_only_in_transition_times_or_order_count_as_the_same() {
        let status = |seconds, generation| CacheClusterStatus {
            observed_generation: Some(generation),
            conditions: conditions(&[], Some(generation), summary(true), &at(seconds)),
            ..CacheClusterStatus::default()
        };
        assert_ne!(status(1, 1), status(2, 1));
        assert!(same_ignoring_transition_times(&status(1, 1), &status(2, 1)));
        let mut reversed = status(2, 1);
        reversed.conditions.reverse();
        assert!(!changed(Some(&status(1, 1)), &reversed));
        assert!(changed(Some(&status(1, 1)), &status(1, 2)));
        assert!(changed(None, &status(1, 1)), "no status yet: write");
    }
}
