//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas of the
//! operator can run and only one reconciles: the process policy over the Lease protocol
//! of [`lease`] (client-go's, with every write conditional on the `resourceVersion` read).
//!
//! A candidate tries for the Lease every 2 s (client-go's `RetryPeriod`) and starts the
//! controllers once it holds it. The leader renews every 2 s; when no renewal has
//! succeeded for the renew deadline (10 s of the 15 s lease, client-go's
//! `RenewDeadline`), or the Lease names someone else or is gone, it stops the
//! controllers at once (reconciles in flight are dropped) and the process exits
//! non-zero, to restart as a candidate: never run on as a stale leader. A standby takes
//! a held Lease over only once it has seen it unchanged for a whole lease duration on its
//! own clock, so a cut-off leader has stopped at least 5 s before (clock skew between
//! nodes does not enter). A clean stop releases the Lease, and the standby takes it over
//! about a second after it sees that; a lost Lease is never released.

pub mod lease;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::process::shutdown::{Shutdown, StopReason};
use crate::runtime::health::{Health, LeaderState};
use crate::runtime::text::distinct_within;
use lease::{Acquire, LeaseLock, Renewal};

/// Prefix of the field manager of the Lease writes; [`lease_field_manager`] adds the
/// candidate's identity.
pub const LEASE_FIELD_MANAGER: &str = "tiered-leader-election";

/// Longest field manager the API server accepts, in bytes (upstream
/// `apimachinery/pkg/api/validation.FieldManagerMaxLength`; kube's `PatchParams` refuses
/// longer ones before sending).
const FIELD_MANAGER_MAX_BYTES: usize = 128;

/// Whether the API server takes `c` in a field manager: Go's `unicode.IsPrint` refuses
/// control characters and every space but U+0020 (an approximation: it also refuses
/// unassigned code points, which no pod name holds).
fn printable(c: char) -> bool {
    !(c.is_control() || (c.is_whitespace() && c != ' '))
}

/// The field manager of one candidate's Lease writes: `tiered-leader-election-<identity>`.
///
/// One per candidate, so that the Lease's `managedFields` say which candidate wrote what,
/// and so that a server-side apply of `holderIdentity` by another candidate (what the
/// previous release of tiered sent to claim a free Lease) conflicts (409) with the
/// holder's instead of silently winning, as it did under one shared manager.
///
/// An identity that would make the name longer than 128 bytes, or that holds a character
/// the API server refuses in a field manager (not printable), is cut and followed by the
/// first 16 hex digits of its SHA-256, so that two long identities still differ.
pub fn lease_field_manager(identity: &str) -> String {
    let room = FIELD_MANAGER_MAX_BYTES - LEASE_FIELD_MANAGER.len() - 1;
    format!(
        "{LEASE_FIELD_MANAGER}-{}",
        distinct_within(identity, room, printable)
    )
}

/// Where the lease lives and how long it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// This candidate's identity (the pod name, or host name and process id).
    pub identity: String,
    /// Seconds a hold lasts (`leaseDurationSeconds`): how long a standby waits, after it
    /// last saw the Lease change, before it takes it over.
    pub duration_seconds: u64,
    /// Seconds the leader goes on without a successful renewal before it stops (client-go's
    /// `RenewDeadline`); less than `duration_seconds`, the difference being the margin by
    /// which a cut-off leader stops before anyone can take over.
    pub renew_deadline_seconds: u64,
}

impl LeaderConfig {
    /// client-go's defaults for controllers: valid 15 s, renew deadline 10 s (renewed
    /// every 2 s).
    pub fn new(lease_name: String, lease_namespace: String, identity: String) -> Self {
        Self {
            lease_name,
            lease_namespace,
            identity,
            duration_seconds: 15,
            renew_deadline_seconds: 10,
        }
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_seconds)
    }

    /// The renew deadline, kept below the duration.
    fn renew_deadline(&self) -> Duration {
        Duration::from_secs(
            self.renew_deadline_seconds
                .min(self.duration_seconds.saturating_sub(1)),
        )
    }

    /// How often a candidate tries and the leader renews: client-go's `RetryPeriod` (2 s),
    /// or a quarter of shorter lease durations.
    fn retry_period(&self) -> Duration {
        Duration::from_secs(2).min(self.duration() / 4)
    }
}

/// The identity of this process: `POD_NAME`, else `HOSTNAME`, else `tiered` (an empty
/// variable counts as unset), then the process id and 8 random hex digits drawn at start.
///
/// The process id alone does not tell two processes apart: in a container it is 1, so two
/// containers given the same `POD_NAME` (or the same host name) had one identity, both read
/// themselves back as the Lease's holder and both led (every sample for 3 s, measured). The
/// random part is why a process restarted in the same container waits for its old hold to
/// run out instead of taking it back at once (controller-runtime adds a UUID likewise).
pub fn default_identity() -> String {
    let set = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let host = set("POD_NAME")
        .or_else(|| set("HOSTNAME"))
        .unwrap_or_else(|| "tiered".to_owned());
    format!("{host}-{}-{}", std::process::id(), start_nonce())
}

/// 8 hex digits from the OS CSPRNG, or from the clock's nanoseconds if it fails.
fn start_nonce() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        bytes = nanos.to_le_bytes();
    }
    hex::encode(bytes)
}

/// A held lease; [`Leadership::release`] gives it back, [`Leadership::abandon`] lets a
/// lost one run out.
#[derive(Debug)]
pub struct Leadership {
    lock: Arc<Mutex<LeaseLock>>,
    renewer: JoinHandle<()>,
}

/// Waits until this process holds the lease, or until `shutdown` fires (then `None`).
/// While standing by, readiness says so; once leading, a task renews the Lease and fires
/// `shutdown` with [`StopReason::LeaseLost`] when it is lost. Errors of the API server
/// are logged and retried every period, as client-go does.
pub async fn acquire(
    client: kube::Client,
    config: &LeaderConfig,
    health: Arc<Health>,
    shutdown: &Shutdown,
) -> Option<Leadership> {
    let api: Api<Lease> = Api::namespaced(client, &config.lease_namespace);
    let mut lock = LeaseLock::new(
        api,
        config.lease_name.clone(),
        config.identity.clone(),
        lease_field_manager(&config.identity),
        config.duration(),
    );
    health.set_leader(LeaderState::Standby);
    tracing::info!(lease = %config.lease_name, namespace = %config.lease_namespace, identity = %config.identity, "waiting for the leader lease");
    let period = config.retry_period();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let first_renewal = loop {
        let pause = tokio::select! {
            attempt = lock.try_acquire(period) => match attempt {
                Ok(Acquire::Held(sent)) => break sent,
                Ok(Acquire::NotYet(wait)) => wait.min(period),
                Err(error) => {
                    tracing::warn!(error = %crate::runtime::error::chain(&error), lease = %config.lease_name, "failed to read or write the leader lease; retrying");
                    period
                }
            },
            // A standby holds nothing: there is nothing to release.
            () = &mut stop => return None,
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = &mut stop => return None,
        }
    };
    health.set_leader(LeaderState::Leading);
    tracing::info!(identity = %config.identity, "acquired the leader lease");
    let lock = Arc::new(Mutex::new(lock));
    let renewer = tokio::spawn(keep_renewing(
        Arc::clone(&lock),
        config.clone(),
        first_renewal,
        health,
        shutdown.clone(),
    ));
    Some(Leadership { lock, renewer })
}

/// Renews the Lease every period until it is lost, then stops the process.
async fn keep_renewing(
    lock: Arc<Mutex<LeaseLock>>,
    config: LeaderConfig,
    mut renewed: Instant,
    health: Arc<Health>,
    shutdown: Shutdown,
) {
    let why = loop {
        tokio::time::sleep(config.retry_period()).await;
        let deadline = renewed + config.renew_deadline();
        // However late a renewal answers, it counts until the deadline.
        match tokio::time::timeout_at(deadline, async { lock.lock().await.renew().await }).await {
            Ok(Ok(Renewal::Renewed(sent))) => renewed = sent,
            Ok(Ok(Renewal::Lost(why))) => break why,
            Ok(Err(error)) => {
                tracing::warn!(error = %crate::runtime::error::chain(&error), "failed to renew the leader lease");
            }
            // Raced: tried again at the next period; no answer: the deadline decides.
            Ok(Ok(Renewal::Raced)) | Err(_) => {}
        }
        if Instant::now() >= renewed + config.renew_deadline() {
            break "the leader lease could not be renewed within the renew deadline";
        }
    };
    // Also while a stop asked for another reason drains: the reconciles still running
    // are dropped now (another replica may lead), and the Lease is not released.
    tracing::error!(
        "{why}; stopping the controllers now, without waiting for the reconciles in flight"
    );
    health.set_leader(LeaderState::Failed);
    shutdown.trigger(StopReason::LeaseLost);
}

impl Leadership {
    /// Releases the lease so that a standby replica takes over at once; a Lease someone
    /// else has written since is left alone.
    pub async fn release(self) {
        self.renewer.abort();
        let _ = self.renewer.await;
        match self.lock.lock().await.release().await {
            Ok(true) => tracing::info!("released the leader lease"),
            Ok(false) => tracing::info!("the leader lease was no longer ours to release"),
            Err(error) => {
                tracing::warn!(error = %crate::runtime::error::chain(&error), "failed to release the leader lease");
            }
        }
    }

    /// Stops renewing without releasing, for a lease this process lost: a release could
    /// only be refused (the API server's `resourceVersion` check), or, sent from a stale
    /// view, be wrong.
    pub async fn abandon(self) {
        self.renewer.abort();
        let _ = self.renewer.await;
        tracing::info!("left the lost leader lease to run out, without releasing it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_candidate_writes_the_lease_under_its_own_field_manager() {
        assert_eq!(
            lease_field_manager("tiered-7d9f-abcde-1"),
            "tiered-leader-election-tiered-7d9f-abcde-1"
        );
        assert_ne!(lease_field_manager("a-1"), lease_field_manager("a-2"));
    }

    #[test]
    fn two_processes_with_one_pod_name_and_process_id_get_distinct_identities() {
        // Two containers given one POD_NAME: both are process 1, as this test's two calls
        // share one process id.
        let first = default_identity();
        let second = default_identity();
        assert_ne!(first, second);
        let pid = format!("-{}-", std::process::id());
        assert!(first.contains(&pid), "{first}");
    }

    #[test]
    fn the_shipped_timings_are_client_gos() {
        let config = LeaderConfig::new("l".to_owned(), "ns".to_owned(), "a".to_owned());
        assert_eq!(config.duration(), Duration::from_secs(15));
        assert_eq!(config.renew_deadline(), Duration::from_secs(10));
        assert_eq!(config.retry_period(), Duration::from_secs(2));
        let short = LeaderConfig {
            duration_seconds: 4,
            renew_deadline_seconds: 9,
            ..config
        };
        assert_eq!(short.renew_deadline(), Duration::from_secs(3));
        assert_eq!(short.retry_period(), Duration::from_secs(1));
    }

    #[test]
    fn a_long_or_unprintable_identity_gives_a_valid_distinct_field_manager() {
        let long = "ü".repeat(200);
        let other = format!("{long}x");
        for identity in [long.as_str(), other.as_str(), "tab\there"] {
            let manager = lease_field_manager(identity);
            assert!(manager.len() <= 128, "{manager}");
            assert!(manager.starts_with("tiered-leader-election-"), "{manager}");
            assert!(!manager.chars().any(char::is_control), "{manager:?}");
        }
        assert_ne!(lease_field_manager(&long), lease_field_manager(&other));
        assert_ne!(
            lease_field_manager("tab\there"),
            lease_field_manager("tabhere")
        );
    }
}
