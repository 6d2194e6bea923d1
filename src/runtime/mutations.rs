//! AWS failing must never make a loop: the mutating AWS calls of one object are held
//! to at most [`PER_MINUTE`] in any minute, and an identical call (same operation,
//! same request) is repeated only after a wait ([`repeat_delay`]: 5 s, then 10 s,
//! 20 s, … up to [`MAX_REPEAT`] as AWS keeps accepting it). A repeat of a call AWS
//! accepted means its change does not show (a describe that lags behind, a bug in a
//! convergence rule): that is the loop, and its wait grows. A call AWS refused
//! (throttled, failed) or whose answer was lost waits the first 5 s before it goes
//! again, without growing: growing waits there only slow a convergence that 20 %
//! failed calls already slow (the chaos run left a database unready for minutes
//! behind a tag removal that had failed three times), and the window bounds it.
//!
//! The rule is enforced where every call passes, an SDK interceptor on the clients
//! ([`LimitMutations`]), so no call site can forget it: each attempt of a mutating
//! operation (SDK retries included, since AWS sees each) is admitted or refused by the
//! [`Budget`] of the object being reconciled. The data-tier reconcile runs each object
//! inside [`for_object`], which makes that object's budget the current one (a tokio
//! task-local: the SDK runs interceptors in the caller's task); calls made outside a
//! reconcile are not limited. A refused attempt never reaches AWS and fails like a
//! dispatch failure, which the operator classifies as transient and backs off from.
//!
//! Why a sliding window and not a token bucket (`governor`'s GCRA): a bucket of 6 that
//! refills 6 a minute lets 11 calls through in some 60 s window; "at most 6 in any
//! minute" is exactly a window of the last 6 send times, a few lines of code.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::runtime::aws_calls::is_read_only;

/// Most mutating calls of one object in any [`WINDOW`].
pub const PER_MINUTE: usize = 6;
/// The window of [`PER_MINUTE`].
pub const WINDOW: Duration = Duration::from_mins(1);
/// The wait before the first repeat of an identical call.
pub const FIRST_REPEAT: Duration = Duration::from_secs(5);
/// The longest wait between identical calls.
pub const MAX_REPEAT: Duration = Duration::from_mins(5);
/// An identical call not seen for this long starts over at [`FIRST_REPEAT`].
pub const FORGET_AFTER: Duration = Duration::from_mins(15);

/// The wait before repeat number `repeats` (1-based) of an identical call: 5 s, 10 s,
/// 20 s, … capped at [`MAX_REPEAT`].
pub fn repeat_delay(repeats: u32) -> Duration {
    let exponent = repeats.saturating_sub(1).min(16);
    FIRST_REPEAT
        .saturating_mul(1_u32 << exponent)
        .min(MAX_REPEAT)
}

/// Why a mutating call was not sent. The messages carry no counts or times, so a
/// condition that quotes them does not change (and is not rewritten) on every retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The object used its [`PER_MINUTE`] calls.
    #[error(
        "tiered held the call back: {PER_MINUTE} mutating AWS calls for this object in the last minute"
    )]
    Window {
        /// When a call may go again.
        retry_after: Duration,
    },
    /// The same call was sent moments ago.
    #[error(
        "tiered held the call back: the identical call was sent moments ago; it is repeated after a growing wait"
    )]
    Repeat {
        /// How often it was sent.
        repeats: u32,
        /// When it may go again.
        retry_after: Duration,
    },
}

/// The recent mutating calls of one object.
#[derive(Debug, Default)]
pub struct Budget {
    sent: VecDeque<Instant>,
    /// By fingerprint: how often AWS accepted the call, and when it was last sent.
    identical: HashMap<u64, (u32, Instant)>,
}

impl Budget {
    /// Admits (and records) the call `fingerprint` at `now`, or says why not.
    ///
    /// # Errors
    /// The [`Refusal`] when the window is full or the identical call must wait.
    pub fn admit(&mut self, now: Instant, fingerprint: u64) -> Result<(), Refusal> {
        while self
            .sent
            .front()
            .is_some_and(|sent| now.duration_since(*sent) >= WINDOW)
        {
            self.sent.pop_front();
        }
        self.identical
            .retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
        if self.sent.len() >= PER_MINUTE
            && let Some(oldest) = self.sent.front()
        {
            return Err(Refusal::Window {
                retry_after: WINDOW.saturating_sub(now.duration_since(*oldest)),
            });
        }
        if let Some((accepted, last)) = self.identical.get(&fingerprint) {
            let repeats = (*accepted).max(1);
            let wait = repeat_delay(repeats);
            let waited = now.duration_since(*last);
            if waited < wait {
                return Err(Refusal::Repeat {
                    repeats,
                    retry_after: wait.saturating_sub(waited),
                });
            }
        }
        self.sent.push_back(now);
        self.identical
            .entry(fingerprint)
            .and_modify(|(_, last)| *last = now)
            .or_insert((0, now));
        Ok(())
    }

    /// Records that AWS accepted the call `fingerprint` (a 2xx answer): its next
    /// repeat waits longer.
    pub fn accepted(&mut self, fingerprint: u64) {
        if let Some((accepted, _)) = self.identical.get_mut(&fingerprint) {
            *accepted = accepted.saturating_add(1);
        }
    }
}

/// The fingerprint of the attempt in flight, kept in the SDK's per-attempt state from
/// `read_before_attempt` to `read_after_attempt`.
#[derive(Clone, Copy, Debug)]
struct Attempted(u64);

impl Storable for Attempted {
    type Storer = StoreReplace<Self>;
}

/// The budgets of a controller's objects, by key; cheap to share.
#[derive(Debug)]
pub struct Budgets<K> {
    by_object: Mutex<HashMap<K, Arc<Mutex<Budget>>>>,
}

impl<K> Default for Budgets<K> {
    fn default() -> Self {
        Self {
            by_object: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq> Budgets<K> {
    /// The budget of `key`, kept across reconciles.
    pub fn of(&self, key: K) -> Arc<Mutex<Budget>> {
        let mut all = self
            .by_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(all.entry(key).or_default())
    }

    /// Forgets `key` (the object is gone).
    pub fn forget(&self, key: &K) {
        self.by_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

tokio::task_local! {
    static CURRENT: Arc<Mutex<Budget>>;
}

/// Runs `work` with `budget` as the budget of the mutating AWS calls it makes.
pub async fn for_object<F: Future>(budget: Arc<Mutex<Budget>>, work: F) -> F::Output {
    CURRENT.scope(budget, work).await
}

/// Whether the current object's budget let a mutating call go at or after `since`
/// (sent, whatever its answer: a lost or failed response may still have changed AWS).
/// `false` outside [`for_object`].
pub fn sent_since(since: Instant) -> bool {
    CURRENT
        .try_with(|budget| {
            budget
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sent
                .back()
                .is_some_and(|last| *last >= since)
        })
        .unwrap_or(false)
}

/// The fingerprint of a call: its operation and the request body (every parameter of a
/// query-protocol call), hashed.
pub fn fingerprint(operation: &str, body: Option<&[u8]>) -> u64 {
    let mut hasher = DefaultHasher::new();
    operation.hash(&mut hasher);
    body.hash(&mut hasher);
    hasher.finish()
}

/// The SDK interceptor that holds each attempt of a mutating call to the current
/// object's [`Budget`].
#[derive(Clone, Debug, Default)]
pub struct LimitMutations;

impl Intercept for LimitMutations {
    fn name(&self) -> &'static str {
        "tiered::LimitMutations"
    }

    fn read_before_attempt(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let operation = metadata.name();
        if is_read_only(operation) {
            return Ok(());
        }
        let call = fingerprint(operation, context.request().body().bytes());
        let admitted = CURRENT.try_with(|budget| {
            budget
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .admit(Instant::now(), call)
        });
        match admitted {
            // Outside a reconcile: not an object's call.
            Err(_) => Ok(()),
            Ok(Ok(())) => {
                cfg.interceptor_state().store_put(Attempted(call));
                Ok(())
            }
            Ok(Err(refusal)) => {
                tracing::info!(operation, %refusal, "mutating AWS call held back");
                Err(Box::new(refusal))
            }
        }
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Attempted(call)) = cfg.load::<Attempted>().copied() else {
            return Ok(());
        };
        cfg.interceptor_state().unset::<Attempted>();
        if context
            .response()
            .is_some_and(|response| response.status().is_success())
        {
            let _ = CURRENT.try_with(|budget| {
                budget
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .accepted(call);
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn identical_calls_wait_five_ten_twenty_seconds_and_longer_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| repeat_delay(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(repeat_delay(u32::MAX), MAX_REPEAT);
    }

    #[test]
    fn an_identical_call_is_refused_until_its_wait_is_over_and_then_waits_longer() {
        let start = Instant::now();
        let mut budget = Budget::default();
        assert_eq!(budget.admit(start, 1), Ok(()));
        budget.accepted(1);
        assert!(matches!(
            budget.admit(at(start, 4), 1),
            Err(Refusal::Repeat { repeats: 1, .. })
        ));
        assert_eq!(budget.admit(at(start, 4), 2), Ok(()), "another call goes");
        assert_eq!(budget.admit(at(start, 5), 1), Ok(()));
        budget.accepted(1);
        assert!(
            budget.admit(at(start, 14), 1).is_err(),
            "10 s after the 2nd"
        );
        assert_eq!(budget.admit(at(start, 15), 1), Ok(()));
    }

    #[test]
    fn a_call_aws_refused_or_whose_answer_was_lost_waits_five_seconds_without_growing() {
        let start = Instant::now();
        let mut budget = Budget::default();
        // Sent every 5 s, never accepted (throttled, failed, lost): always the first wait.
        for second in [0, 5, 10, 15, 20, 25] {
            assert_eq!(budget.admit(at(start, second), 7), Ok(()), "at {second} s");
            assert!(
                budget.admit(at(start, second + 4), 7).is_err(),
                "held 4 s later"
            );
        }
        // The window still holds: a 7th call in the same minute waits.
        assert!(matches!(
            budget.admit(at(start, 30), 7),
            Err(Refusal::Window { .. })
        ));
    }

    #[test]
    fn no_more_than_six_mutating_calls_in_any_minute_whatever_they_are() {
        let start = Instant::now();
        let mut budget = Budget::default();
        let mut admitted = Vec::new();
        for second in 0..180 {
            // A different call every second: only the window holds them.
            if budget.admit(at(start, second), second).is_ok() {
                admitted.push(second);
            }
        }
        assert_eq!(admitted[..7], [0, 1, 2, 3, 4, 5, 60]);
        for (n, first) in admitted.iter().enumerate() {
            let in_minute = admitted[n..].iter().filter(|s| **s < first + 60).count();
            assert!(in_minute <= PER_MINUTE, "{admitted:?}");
        }
        assert_eq!(
            budget.admit(at(start, 180), 999),
            Ok(()),
            "a quiet minute later calls go again"
        );
    }

    #[tokio::test]
    async fn sent_since_sees_only_calls_let_go_inside_the_objects_scope() {
        let budget = Arc::new(Mutex::new(Budget::default()));
        let before = Instant::now();
        assert!(!sent_since(before), "outside any object's scope");
        let seen = for_object(Arc::clone(&budget), async {
            let nothing_yet = sent_since(before);
            budget
                .lock()
                .unwrap()
                .admit(Instant::now(), fingerprint("RemoveTagsFromResource", None))
                .unwrap();
            (nothing_yet, sent_since(before))
        })
        .await;
        assert_eq!(seen, (false, true));
        let later = Instant::now() + Duration::from_secs(1);
        assert!(!for_object(budget, async move { sent_since(later) }).await);
    }

    #[test]
    fn a_call_not_repeated_for_fifteen_minutes_starts_over() {
        let start = Instant::now();
        let mut budget = Budget::default();
        for (second, expected) in [(0, true), (5, true), (15, true), (35, true), (36, false)] {
            assert_eq!(
                budget.admit(at(start, second), 7).is_ok(),
                expected,
                "{second}"
            );
        }
        assert!(budget.admit(at(start, 35 + 15 * 60), 7).is_ok());
        assert!(
            budget.admit(at(start, 35 + 15 * 60 + 5), 7).is_ok(),
            "5 s again"
        );
    }

    #[test]
    fn the_fingerprint_tells_calls_apart_by_operation_and_parameters() {
        let create = fingerprint("CreateDBInstance", Some(b"DBInstanceIdentifier=a"));
        assert_eq!(
            create,
            fingerprint("CreateDBInstance", Some(b"DBInstanceIdentifier=a"))
        );
        assert_ne!(
            create,
            fingerprint("CreateDBInstance", Some(b"DBInstanceIdentifier=b"))
        );
        assert_ne!(
            create,
            fingerprint("DeleteDBInstance", Some(b"DBInstanceIdentifier=a"))
        );
    }

    #[tokio::test]
    async fn each_object_has_its_own_budget_kept_across_reconciles() {
        let budgets = Budgets::<&str>::default();
        let a = budgets.of("a");
        for n in 0..6 {
            a.lock().unwrap().admit(Instant::now(), n).unwrap();
        }
        assert!(
            budgets
                .of("a")
                .lock()
                .unwrap()
                .admit(Instant::now(), 99)
                .is_err()
        );
        assert!(
            budgets
                .of("b")
                .lock()
                .unwrap()
                .admit(Instant::now(), 99)
                .is_ok()
        );
        budgets.forget(&"a");
        assert!(
            budgets
                .of("a")
                .lock()
                .unwrap()
                .admit(Instant::now(), 99)
                .is_ok()
        );
        let inside = for_object(budgets.of("c"), async { CURRENT.try_with(|_| ()).is_ok() }).await;
        assert!(inside && CURRENT.try_with(|_| ()).is_err());
    }
}
