//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas of the
//! operator can run and only one reconciles.
//!
//! Built on `kube-lease-manager` 0.13 (maintained, built on kube 5 and k8s-openapi
//! 0.29; `kube-leader-election` 0.44 still depends on kube 4 and does not build here).
//! The manager acquires the lease when it is free or expired, renews it `grace` seconds
//! before expiry, writes with server-side apply so that two candidates cannot both win
//! (each under its own field manager, [`lease_field_manager`]; under one shared manager
//! the later claim silently wins), and releases it when its channel is dropped. This
//! module adds the process policy: wait for the lease before starting the controllers,
//! and stop everything (the process exits and is restarted) when the lease is lost, never
//! run on as a stale leader.
//!
//! Lost includes not renewed: the manager retries a failed renewal for ever and goes on
//! reporting this process as the holder, so a leader cut off from the API server (or
//! whose renewals fail) would keep reconciling, and calling AWS, next to the replica
//! that took the expired Lease over. `confirm_holding` reads the Lease as stored and
//! stops the process once it names someone else, or its own hold has run out, or it
//! cannot be read for a whole lease duration (what client-go's renew deadline does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::process::shutdown::{Shutdown, StopReason};
use crate::runtime::health::{Health, LeaderState};
use crate::runtime::text::distinct_within;

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
/// One per candidate, as `kube-lease-manager`'s own default is: its claim of a free Lease
/// is a server-side apply without force, so the API server answers 409 to a second
/// candidate that applies `holderIdentity` after the first did, but only when the two
/// applies come from different field managers. With one shared manager the later apply
/// silently wins, and the first candidate, which had already read itself back as the
/// holder, leads next to it until `confirm_holding` notices (up to `grace` seconds).
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
    /// Seconds the lease is valid after a renewal.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_seconds: u64,
}

impl LeaderConfig {
    /// Lease timings that tolerate a few seconds of clock skew: valid 15 s, renewed
    /// 5 s before expiry (about every ttl/3 … 2·ttl/3).
    pub fn new(lease_name: String, lease_namespace: String, identity: String) -> Self {
        Self {
            lease_name,
            lease_namespace,
            identity,
            duration_seconds: 15,
            grace_seconds: 5,
        }
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

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be read or created.
    #[error("failed to set up the lease {namespace}/{name}")]
    Setup {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The cause.
        #[source]
        source: LeaseManagerError,
    },
    /// The elector task stopped before this process became leader.
    #[error("failed to acquire the lease: the elector stopped")]
    ElectorStopped,
}

/// A held (or abandoned) lease; [`Leadership::release`] gives it back.
#[derive(Debug)]
pub struct Leadership {
    state: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    monitor: Option<JoinHandle<()>>,
}

/// How often a standby reads the Lease to see whether its holder released it: client-go's
/// `RetryPeriod` (2 s), at which its standbys try for the lease.
const STANDBY_POLL: Duration = Duration::from_secs(2);

type Elector = (
    watch::Receiver<bool>,
    JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
);

/// A running `kube-lease-manager` candidate for `config`'s Lease (created when absent).
async fn elector(client: &kube::Client, config: &LeaderConfig) -> Result<Elector, LeaderError> {
    let manager = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
        .with_namespace(&config.lease_namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_seconds)
        .with_grace(config.grace_seconds)
        .with_field_manager(lease_field_manager(&config.identity))
        .build()
        .await
        .map_err(|source| LeaderError::Setup {
            namespace: config.lease_namespace.clone(),
            name: config.lease_name.clone(),
            source,
        })?;
    Ok(manager.watch().await)
}

/// Whether a stored Lease was released: it has no holder, which is what a leader of this
/// process writes on a clean stop. An empty `holderIdentity` (an edit by hand) is not a
/// release: `kube-lease-manager` reads it as a holder until its hold runs out, so a fresh
/// candidate would not claim it either, and its leader may still be running until it
/// reads the Lease again.
fn released(spec: Option<&LeaseSpec>) -> bool {
    spec.is_none_or(|spec| spec.holder_identity.is_none())
}

/// Whether a standby should start a fresh candidate now, given what it read of the Lease:
/// released, or absent for a whole lease duration. A Lease deleted by hand is claimed only
/// then, because its leader goes on until it next reads the Lease (every `grace` seconds,
/// or a lease duration when it cannot); `kube-lease-manager` creates a Lease only when a
/// candidate starts, so without this no one would lead until a process restarted.
async fn vacant(
    leases: &Api<Lease>,
    config: &LeaderConfig,
    missing_since: &mut Option<Instant>,
) -> Option<&'static str> {
    match leases.get_opt(&config.lease_name).await {
        Ok(Some(lease)) => {
            *missing_since = None;
            released(lease.spec.as_ref()).then_some("the leader lease was released; claiming it")
        }
        Ok(None) => {
            let since = *missing_since.get_or_insert_with(Instant::now);
            (since.elapsed() >= Duration::from_secs(config.duration_seconds)).then_some(
                "the leader lease has been deleted for a lease duration; creating and claiming it",
            )
        }
        Err(_) => None,
    }
}

/// Waits until this process holds the lease, or until `shutdown` fires (then `None`).
/// While standing by, readiness says so; once leading, a monitor task fires `shutdown`
/// with [`StopReason::LeaseLost`] if the lease is ever lost.
///
/// A standby of `kube-lease-manager` sleeps until the expiry it last read, so after a
/// clean release (a rolling update of the operator) no one led for up to a lease
/// duration (about 9 s measured with the shipped timings). Here a standby also reads the
/// Lease every 2 s (`STANDBY_POLL`); when it finds it released, it starts a fresh candidate,
/// which claims the free Lease at once (the field managers still settle a race between
/// standbys). A Lease deleted by hand is created and claimed the same way once it has been
/// absent for a lease duration.
pub async fn acquire(
    client: kube::Client,
    config: &LeaderConfig,
    health: Arc<Health>,
    shutdown: &Shutdown,
) -> Result<Option<Leadership>, LeaderError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &config.lease_namespace);
    let (mut state, mut task) = elector(&client, config).await?;
    health.set_leader(LeaderState::Standby);
    tracing::info!(lease = %config.lease_name, namespace = %config.lease_namespace, identity = %config.identity, "waiting for the leader lease");
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut poll =
        tokio::time::interval_at(tokio::time::Instant::now() + STANDBY_POLL, STANDBY_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut missing_since = None;
    loop {
        if *state.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    health.set_leader(LeaderState::Failed);
                    return Err(LeaderError::ElectorStopped);
                }
            }
            _ = poll.tick() => {
                if *state.borrow() {
                    continue;
                }
                let Some(why) = vacant(&leases, config, &mut missing_since).await else {
                    continue;
                };
                missing_since = None;
                tracing::info!(lease = %config.lease_name, "{why}");
                // The sleeping candidate goes first: it has this identity too, and once
                // the fresh one holds the Lease its release would give it back.
                Leadership { state, task, monitor: None }.release_inner().await;
                (state, task) = loop {
                    match elector(&client, config).await {
                        Ok(fresh) => break fresh,
                        Err(error) => {
                            tracing::warn!(error = %crate::runtime::error::chain(&error), "failed to start a candidate for the leader lease; retrying");
                            tokio::select! {
                                () = tokio::time::sleep(STANDBY_POLL) => {}
                                () = &mut stop => return Ok(None),
                            }
                        }
                    }
                };
            }
            () = &mut stop => {
                let mut leadership = Leadership { state, task, monitor: None };
                leadership.release_inner().await;
                return Ok(None);
            }
        }
    }
    health.set_leader(LeaderState::Leading);
    tracing::info!(identity = %config.identity, "acquired the leader lease");
    let monitor = tokio::spawn(watch_for_loss(
        state.clone(),
        confirm_holding(leases, config.clone()),
        health,
        shutdown.clone(),
    ));
    Ok(Some(Leadership {
        state,
        task,
        monitor: Some(monitor),
    }))
}

async fn watch_for_loss(
    mut state: watch::Receiver<bool>,
    unconfirmed: impl Future<Output = &'static str>,
    health: Arc<Health>,
    shutdown: Shutdown,
) {
    let why = tokio::select! {
        lost = state.wait_for(|leading| !*leading) => {
            if lost.is_ok() { "lost the leader lease" } else { "the leader elector stopped" }
        }
        why = unconfirmed => why,
    };
    if shutdown.reason().is_some() {
        return;
    }
    tracing::error!("{why}; stopping the controllers");
    health.set_leader(LeaderState::Failed);
    shutdown.trigger(StopReason::LeaseLost);
}

/// Reads the Lease every `grace` seconds while this process leads; returns why it may no
/// longer act as the leader: the Lease names another holder (or none), its own hold
/// (renewTime + duration, both written by this process's clock) has run out, or no read
/// confirmed the hold for a whole lease duration.
async fn confirm_holding(leases: Api<Lease>, config: LeaderConfig) -> &'static str {
    let duration = Duration::from_secs(config.duration_seconds);
    let period = Duration::from_secs(config.grace_seconds.max(1));
    let mut confirmed = Instant::now();
    loop {
        tokio::time::sleep(period).await;
        match tokio::time::timeout(period, leases.get_opt(&config.lease_name)).await {
            Ok(Ok(lease)) => {
                let Some(lease) = lease else {
                    return "the leader lease was deleted";
                };
                let spec = lease.spec.unwrap_or_default();
                if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
                    return "the leader lease names another holder";
                }
                let valid_until = spec
                    .renew_time
                    .and_then(|renewed| renewed.0.checked_add(duration).ok());
                if valid_until.is_none_or(|until| until <= Timestamp::now()) {
                    return "the leader lease was not renewed in time";
                }
                confirmed = Instant::now();
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "failed to read the leader lease");
            }
            Err(_) => tracing::warn!("failed to read the leader lease: no answer in time"),
        }
        if confirmed.elapsed() >= duration {
            return "the leader lease could not be confirmed for a whole lease duration";
        }
    }
}

impl Leadership {
    /// Whether the lease is still held.
    pub fn is_leading(&self) -> bool {
        *self.state.borrow()
    }

    async fn release_inner(&mut self) {
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
        let held = *self.state.borrow();
        // Dropping the last receiver makes the manager release the lease and return.
        let (_, placeholder) = watch::channel(false);
        drop(std::mem::replace(&mut self.state, placeholder));
        match (&mut self.task).await {
            Ok(Ok(_)) if held => tracing::info!("released the leader lease"),
            // A standby stopping has nothing to release.
            Ok(Ok(_)) => tracing::info!("stopped waiting for the leader lease"),
            Ok(Err(error)) => tracing::warn!(%error, "failed to release the leader lease"),
            Err(error) => tracing::warn!(%error, "the leader elector task failed"),
        }
    }

    /// Releases the lease so that a standby replica takes over at once.
    pub async fn release(mut self) {
        self.release_inner().await;
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
    fn only_a_lease_without_a_holder_counts_as_released() {
        let held = |holder: Option<&str>| LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            ..LeaseSpec::default()
        };
        assert!(released(None));
        assert!(released(Some(&held(None))));
        assert!(!released(Some(&held(Some("operator-a")))));
        // Emptied by hand: its leader may still run, and kube-lease-manager waits for the
        // hold to run out; claiming at once only restarted the candidate every 2 s.
        assert!(!released(Some(&held(Some("")))));
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
