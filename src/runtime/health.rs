//! Liveness and readiness state of the operator process, shared by the controllers, the
//! leader elector and the HTTP server. Plain atomics; touches no API.
//!
//! Readiness (`/readyz`) is decided here:
//!
//! - leader election off: ready once every controller's reflector caches have synced;
//! - leader election on and leading: the same;
//! - leader election on and standing by: ready once the Lease could be read (the elector
//!   is talking to the API server). A standby replica reports ready so that a rolling
//!   update of the two-replica Deployment can proceed; it serves `/metrics` and takes
//!   over when the leader's lease expires;
//! - the elector failed, or the lease was lost: not ready (the process then exits).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};

/// Where the process stands in leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LeaderState {
    /// `--leader-election=false`: this replica always runs the controllers.
    Disabled = 0,
    /// Waiting for the lease; the elector could talk to the API server.
    Standby = 1,
    /// Holding the lease.
    Leading = 2,
    /// The elector failed or the lease was lost.
    Failed = 3,
    /// The elector has not reached the API server yet.
    Starting = 4,
}

impl LeaderState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Disabled,
            1 => Self::Standby,
            2 => Self::Leading,
            3 => Self::Failed,
            _ => Self::Starting,
        }
    }
}

/// Shared health flags.
#[derive(Debug)]
pub struct Health {
    caches_synced: AtomicBool,
    leader: AtomicU8,
    /// Why the process is failing (a controller task ended), for `/healthz`.
    failure: Mutex<Option<String>>,
}

impl Health {
    /// Health of a process with leader election on (`Starting`) or off (`Disabled`).
    pub fn new(leader_election: bool) -> Self {
        let state = if leader_election {
            LeaderState::Starting
        } else {
            LeaderState::Disabled
        };
        Self {
            caches_synced: AtomicBool::new(false),
            leader: AtomicU8::new(state as u8),
            failure: Mutex::new(None),
        }
    }

    /// Records that the process is failing and why (the first reason is kept): `/healthz`
    /// then answers 503 with it until the process exits.
    pub fn set_failed(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert(reason);
    }

    /// Why the process is failing, if it is.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records that every controller's caches have synced (or not, after a restart).
    pub fn set_caches_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::SeqCst);
    }

    /// Records the leader-election state.
    pub fn set_leader(&self, state: LeaderState) {
        self.leader.store(state as u8, Ordering::SeqCst);
    }

    /// The leader-election state.
    pub fn leader(&self) -> LeaderState {
        LeaderState::from_u8(self.leader.load(Ordering::SeqCst))
    }

    /// Whether the caches have synced.
    pub fn caches_synced(&self) -> bool {
        self.caches_synced.load(Ordering::SeqCst)
    }

    /// Whether this replica runs the controllers: it holds the lease, or leader election
    /// is off (the `tiered_leader` gauge).
    pub fn leads(&self) -> bool {
        matches!(self.leader(), LeaderState::Disabled | LeaderState::Leading)
    }

    /// The `/readyz` decision (see the module documentation).
    pub fn ready(&self) -> bool {
        match self.leader() {
            LeaderState::Disabled | LeaderState::Leading => self.caches_synced(),
            LeaderState::Standby => true,
            LeaderState::Failed | LeaderState::Starting => false,
        }
    }
}
