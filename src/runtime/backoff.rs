//! When a controller looks at an object again, one policy for all three controllers:
//! after a failure (a reconcile error, or a data-tier object whose AWS call failed in a
//! way worth retrying) an exponential backoff per object, 1 s, 2 s, 4 s, … capped at
//! [`MAX_BACKOFF`], forgotten at the first success; while AWS works, [`IN_PROGRESS`];
//! a stalled object (it cannot progress without a change to its spec, IAM or the AWS
//! resource, each of which arrives through a watch or is worth an occasional look),
//! [`STALLED`].
//!
//! Before, the data tier retried every failure after a fixed 15 s and the TieredApp
//! backed off exponentially; a fixed delay either hammers a failing API or waits
//! longer than needed for a blip, so the exponential one won. A data-tier deletion in
//! progress keeps its own requeue (its error carries it: AWS deleting, or deletion
//! protection holding it), because that is waiting, not failing.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Requeue while AWS works on a resource (never later than the resync).
pub const IN_PROGRESS: Duration = Duration::from_secs(30);
/// Re-check of a stalled object.
pub const STALLED: Duration = Duration::from_mins(10);
/// The longest wait after failures.
pub const MAX_BACKOFF: Duration = Duration::from_mins(2);

/// The wait after `failures` consecutive failures: 1 s, 2 s, 4 s, … capped at
/// [`MAX_BACKOFF`].
pub fn delay(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(7);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

/// Consecutive failures per object (`K`: the object's key, e.g. its `ObjectRef`).
#[derive(Debug)]
pub struct Backoff<K> {
    failures: Mutex<HashMap<K, u32>>,
}

impl<K> Default for Backoff<K> {
    fn default() -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq> Backoff<K> {
    /// Records a failure of `key`; returns how long to wait before the next attempt.
    pub fn failed(&self, key: K) -> Duration {
        let mut failures = self.lock();
        let count = failures.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        delay(*count)
    }

    /// Records a success of `key`: the next failure starts from 1 s again.
    pub fn succeeded(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, u32>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_backoff_doubles_from_one_second_and_is_capped_at_two_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(delay(0), Duration::from_secs(1));
        assert_eq!(delay(u32::MAX), Duration::from_mins(2));
    }

    #[test]
    fn failures_count_per_object_and_a_success_starts_over() {
        let backoff = Backoff::default();
        assert_eq!(backoff.failed("a"), Duration::from_secs(1));
        assert_eq!(backoff.failed("a"), Duration::from_secs(2));
        assert_eq!(backoff.failed("b"), Duration::from_secs(1), "per object");
        backoff.succeeded(&"a");
        assert_eq!(backoff.failed("a"), Duration::from_secs(1));
    }
}
