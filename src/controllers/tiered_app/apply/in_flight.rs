//! Applies of a TieredApp's children that the reflector stores have not shown yet
//! ([`InFlight`]): the stores learn of a write only when its watch event arrives, which
//! is often after the next reconcile of the same app has started, so that reconcile
//! does not apply the same object again. In memory only; touches no API.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an apply the stores have not shown yet holds back the same apply.
pub const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(15);

/// Kind, namespace and name of a child.
pub(super) type ChildKey = (String, String, String);

/// Applies sent but not yet seen in the stores: child → (hash applied, when).
#[derive(Debug, Default)]
pub struct InFlight {
    applies: Mutex<HashMap<ChildKey, (String, Instant)>>,
}

impl InFlight {
    pub(super) fn record(&self, key: ChildKey, hash: String) {
        let mut applies = self.lock();
        // Entries of children that never show up (their app was deleted) would stay:
        // drop the expired ones now and then, at a cost spread over many applies.
        if applies.len() % 1024 == 1023 {
            applies.retain(|_, (_, at)| at.elapsed() < IN_FLIGHT_WINDOW);
        }
        applies.insert(key, (hash, Instant::now()));
    }

    /// The store shows `key` at some hash: an apply of that hash has landed.
    pub(super) fn seen(&self, key: &ChildKey, hash: &str) {
        let mut applies = self.lock();
        if applies.get(key).is_some_and(|(sent, _)| sent == hash) {
            applies.remove(key);
        }
    }

    /// Whether `hash` was applied to `key` within [`IN_FLIGHT_WINDOW`].
    pub(super) fn pending(&self, key: &ChildKey, hash: &str) -> bool {
        let mut applies = self.lock();
        match applies.get(key) {
            Some((sent, at)) if sent == hash && at.elapsed() < IN_FLIGHT_WINDOW => true,
            Some((_, at)) if at.elapsed() >= IN_FLIGHT_WINDOW => {
                applies.remove(key);
                false
            }
            _ => false,
        }
    }

    /// Whether anything was applied to `key` within [`IN_FLIGHT_WINDOW`] (whatever hash).
    pub(super) fn sent(&self, key: &ChildKey) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|(_, at)| at.elapsed() < IN_FLIGHT_WINDOW)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChildKey, (String, Instant)>> {
        self.applies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
