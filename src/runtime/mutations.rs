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
//!
//! Across restarts: the budgets live in this process, and a new process cannot know
//! the calls the one before it made (the chaos run saw 13 mutating calls of one object
//! in a minute across operator kills). So an object that existed before this process's
//! controllers started gets no mutating call in their first [`WINDOW`]
//! ([`Refusal::Restarted`]); one created since cannot have had calls from an earlier
//! process and starts with an empty window. Then no minute holds calls of two processes
//! (the earlier one was gone before this one started, and this one waits a whole
//! window), and each process keeps its own to [`PER_MINUTE`]: the rule holds across any
//! number of restarts and leader changes. Why not the window recorded in the object's
//! status and restored on start: the status is written after a pass, so the calls of
//! the pass a kill interrupted (up to the whole window) are never recorded and the
//! rule would still break; writing the status before every call would double the
//! writes of every change. The cost here is bounded and said in the status: after a
//! restart, changes to objects that existed wait at most one minute.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::runtime::aws_calls::mutating_operation;

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

/// Why a mutating call was not sent: the rule, in words a user reads in the object's
/// status ([`Held`] adds which call and until when). No counts that change from one
/// retry to the next, so a condition that quotes it is not rewritten on every retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The object used its [`PER_MINUTE`] calls.
    #[error(
        "tiered sends at most {PER_MINUTE} changing AWS calls per object in any minute, a guard against loops when AWS misbehaves, and this object made {PER_MINUTE} in the last minute"
    )]
    Window {
        /// When a call may go again.
        retry_after: Duration,
    },
    /// The same call was sent moments ago and AWS did not accept it (throttled,
    /// failed, or its answer was lost).
    #[error(
        "the identical call was sent moments ago and AWS did not accept it (throttled, failed, or its answer was lost); tiered sends an identical call again only after {} s",
        FIRST_REPEAT.as_secs()
    )]
    Retry {
        /// When it may go again.
        retry_after: Duration,
    },
    /// The same call was sent moments ago and AWS accepted it, yet it is asked for
    /// again: its change does not show.
    #[error(
        "the identical call was accepted by AWS moments ago but its change does not show yet; tiered repeats an accepted call only after a growing wait (5 s, 10 s, 20 s, … up to 5 min), so that a change that never shows cannot become a loop"
    )]
    Repeat {
        /// How often it was sent.
        repeats: u32,
        /// When it may go again.
        retry_after: Duration,
    },
    /// The operator started less than a [`WINDOW`] ago and the object existed before:
    /// the calls the previous process made for it are unknown.
    #[error(
        "the operator restarted less than a minute ago and cannot know which calls the previous process made for this object, so it counts that minute as used (at most {PER_MINUTE} changing AWS calls per object in any minute)"
    )]
    Restarted {
        /// When a call may go again.
        retry_after: Duration,
    },
}

impl Refusal {
    /// How long until the call may go.
    pub const fn retry_after(&self) -> Duration {
        match self {
            Self::Window { retry_after }
            | Self::Retry { retry_after }
            | Self::Repeat { retry_after, .. }
            | Self::Restarted { retry_after } => *retry_after,
        }
    }
}

/// A mutating call held back, as the SDK call fails with it: the [`Refusal`] and the
/// wall-clock second the call may go (rounded up, so retries within one wait quote the
/// same time and do not rewrite the status).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("waits until {until}: {refusal}")]
pub struct Held {
    /// Why.
    pub refusal: Refusal,
    /// When the call may go.
    pub until: k8s_openapi::jiff::Timestamp,
}

impl Held {
    /// `refusal`, decided at the wall-clock time `now`.
    pub fn new(refusal: Refusal, now: SystemTime) -> Self {
        let at = now + refusal.retry_after();
        let second = k8s_openapi::jiff::Timestamp::try_from(at)
            .map(|t| t.as_second() + i64::from(t.subsec_nanosecond() > 0))
            .unwrap_or_default();
        Self {
            refusal,
            until: k8s_openapi::jiff::Timestamp::from_second(second).unwrap_or_default(),
        }
    }

    /// The [`Held`] somewhere in `error`'s chain of causes, if a call was held back.
    pub fn in_chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(held) = error.downcast_ref::<Self>() {
                return Some(held);
            }
            cause = error.source();
        }
        None
    }
}

/// The recent mutating calls of one object.
#[derive(Debug, Default)]
pub struct Budget {
    sent: VecDeque<Instant>,
    /// By fingerprint: how often AWS accepted the call, and when it was last sent.
    identical: HashMap<u64, (u32, Instant)>,
    /// Before this moment no call goes: an earlier process may have used the window.
    unknown_until: Option<Instant>,
}

impl Budget {
    /// The budget of an object that existed before a process whose controllers
    /// started at `started`: no call before `started` + [`WINDOW`].
    pub fn after_restart(started: Instant) -> Self {
        Self {
            unknown_until: started.checked_add(WINDOW),
            ..Self::default()
        }
    }

    /// Admits (and records) the call `fingerprint` at `now`, or says why not.
    ///
    /// # Errors
    /// The [`Refusal`] when the window is full or the identical call must wait.
    pub fn admit(&mut self, now: Instant, fingerprint: u64) -> Result<(), Refusal> {
        if let Some(until) = self.unknown_until {
            if now < until {
                return Err(Refusal::Restarted {
                    retry_after: until.saturating_duration_since(now),
                });
            }
            self.unknown_until = None;
        }
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
                let retry_after = wait.saturating_sub(waited);
                return Err(if *accepted == 0 {
                    Refusal::Retry { retry_after }
                } else {
                    Refusal::Repeat {
                        repeats,
                        retry_after,
                    }
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
    /// When the controller started (it starts once this process leads), monotonic and
    /// wall clock: objects created before may have had calls from an earlier process.
    started: (Instant, SystemTime),
}

impl<K> Default for Budgets<K> {
    /// The budgets of a controller starting now.
    fn default() -> Self {
        Self::started_at(Instant::now(), SystemTime::now())
    }
}

impl<K> Budgets<K> {
    /// The budgets of a controller that started at `started` (wall clock `wall`).
    /// `creationTimestamp` has whole seconds, so the wall clock is taken down to its
    /// second: an object created in the second the controller started counts as new
    /// (an earlier process, gone before this one started, would have had to create,
    /// reconcile and call AWS for it within that second).
    pub fn started_at(started: Instant, wall: SystemTime) -> Self {
        let second = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(wall, |since| {
                SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
            });
        Self {
            by_object: Mutex::new(HashMap::new()),
            started: (started, second),
        }
    }
}

impl<K: Hash + Eq> Budgets<K> {
    /// The budget of `key`, kept across reconciles; `created` is when the object was
    /// created (its `creationTimestamp`): one created before this controller started
    /// starts with [`Budget::after_restart`].
    pub fn of(&self, key: K, created: Option<SystemTime>) -> Arc<Mutex<Budget>> {
        let (started, wall) = self.started;
        let mut all = self
            .by_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(all.entry(key).or_insert_with(|| {
            let budget = if created.is_some_and(|created| created >= wall) {
                Budget::default()
            } else {
                Budget::after_restart(started)
            };
            Arc::new(Mutex::new(budget))
        }))
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
    with_current(|budget| budget.sent.back().is_some_and(|last| *last >= since)).unwrap_or(false)
}

/// Runs `f` on the current object's budget; `None` outside [`for_object`].
fn with_current<R>(f: impl FnOnce(&mut Budget) -> R) -> Option<R> {
    CURRENT
        .try_with(|budget| f(&mut budget.lock().unwrap_or_else(PoisonError::into_inner)))
        .ok()
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
        let Some(operation) = mutating_operation(cfg) else {
            return Ok(());
        };
        let call = fingerprint(operation, context.request().body().bytes());
        match with_current(|budget| budget.admit(Instant::now(), call)) {
            // Outside a reconcile: not an object's call.
            None => Ok(()),
            Some(Ok(())) => {
                cfg.interceptor_state().store_put(Attempted(call));
                Ok(())
            }
            Some(Err(refusal)) => {
                let held = Held::new(refusal, SystemTime::now());
                tracing::info!(operation, %held, "mutating AWS call held back");
                Err(Box::new(held))
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
            with_current(|budget| budget.accepted(call));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "mutations_tests.rs"]
mod tests;
