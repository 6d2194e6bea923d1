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
//! stops the process once it names someone else, or no read has confirmed a renewal by
//! a fifth of the duration before the last confirmed hold ends (what client-go's renew
//! deadline does), so before a standby can take the Lease over. A lost Lease stops the
//! controllers at once, dropping the reconciles in flight.

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
    /// Lease timings that tolerate a few seconds of clock skew: valid 15 s (client-go's
    /// `LeaseDuration`), renewed 10 s before expiry, so every 5 s. A leader that cannot
    /// renew stops 3 s before its hold ends (`confirm_holding`), so a renewal has 7 s to
    /// land; renewed 5 s before expiry, as before, it had 2 s.
    pub fn new(lease_name: String, lease_namespace: String, identity: String) -> Self {
        Self {
            lease_name,
            lease_namespace,
            identity,
            duration_seconds: 15,
            grace_seconds: 10,
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
    tracing::error!(
        "{why}; stopping the controllers now, without waiting for the reconciles in flight"
    );
    health.set_leader(LeaderState::Failed);
    shutdown.trigger(StopReason::LeaseLost);
}

/// Share of the lease duration by which a leader stops before its last confirmed hold
/// runs out: a fifth (3 s of the shipped 15 s). It covers the clock skew between
/// replicas (a standby measures the hold by `renewTime`, written with the leader's clock)
/// and the last read, taken at the deadline itself and given a third of this margin.
const STOP_MARGIN_DIVISOR: u32 = 5;

/// Longest pause between two reads of the Lease by its leader: client-go's
/// `RetryPeriod` (2 s), or a quarter of shorter lease durations.
const HOLDING_READ_PERIOD: Duration = Duration::from_secs(2);

/// How long the hold recorded in `spec` still lasts for `identity` at wall time `now`,
/// given the `duration` it was written with; or why this process may no longer act as
/// the leader: the Lease names another holder (or none), or its hold has run out.
fn hold_left(
    spec: &LeaseSpec,
    identity: &str,
    duration: Duration,
    now: Timestamp,
) -> Result<Duration, &'static str> {
    if spec.holder_identity.as_deref() != Some(identity) {
        return Err("the leader lease names another holder");
    }
    let until = spec
        .renew_time
        .as_ref()
        .and_then(|renewed| renewed.0.checked_add(duration).ok());
    until
        .and_then(|until| Duration::try_from(until.duration_since(now)).ok())
        .filter(|left| !left.is_zero())
        .ok_or("the leader lease was not renewed in time")
}

/// Reads the Lease while this process leads and returns, once it may no longer act as
/// the leader, why: the Lease was deleted or names another holder (or none), or no read
/// confirmed a renewal before the last confirmed hold (`renewTime` + duration, both by
/// this process's clock) came within a fifth of the duration of its end.
///
/// A leader cut off from the API server must stop before the hold ends, as client-go's
/// `RenewDeadline` (10 s of 15) makes it, because a standby takes the Lease over at that
/// end. Stopping after a whole lease duration without a confirming read (what this did
/// before) let an outside trial, which cut only the leader off, see two leaders for about
/// 4.5 s. The Lease is read every 2 s (a read may take until just past the deadline) and
/// once more at the deadline, so a renewal that landed late still counts.
async fn confirm_holding(leases: Api<Lease>, config: LeaderConfig) -> &'static str {
    use tokio::time::Instant;
    let duration = Duration::from_secs(config.duration_seconds);
    let margin = duration / STOP_MARGIN_DIVISOR;
    let period = HOLDING_READ_PERIOD.min(duration / 4);
    // The claim or renewal that made this process the leader was written just before
    // `acquire` returned, so its hold ends no sooner than a duration before now.
    let mut deadline = Instant::now() + duration.saturating_sub(margin);
    loop {
        tokio::time::sleep_until((Instant::now() + period).min(deadline)).await;
        // A slow answer still counts until just past the deadline: the renewal it shows
        // was made by this process, so the hold it gives is sound however late it
        // arrives (a 2 s limit stopped every leader whose round trips took longer).
        let answer_by = deadline + margin / 3;
        match tokio::time::timeout_at(answer_by, leases.get_opt(&config.lease_name)).await {
            Ok(Ok(None)) => return "the leader lease was deleted",
            Ok(Ok(Some(lease))) => {
                let spec = lease.spec.unwrap_or_default();
                let left = hold_left(&spec, &config.identity, duration, Timestamp::now());
                match left.map(|left| left.checked_sub(margin)) {
                    Ok(Some(until_deadline)) if !until_deadline.is_zero() => {
                        deadline = Instant::now() + until_deadline;
                    }
                    Ok(_) => return "the leader lease was not renewed in time",
                    Err(why) => return why,
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "failed to read the leader lease");
            }
            Err(_) => tracing::warn!("failed to read the leader lease: no answer in time"),
        }
        if Instant::now() >= deadline {
            return "the leader lease could not be confirmed renewed before its hold ran out";
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

    /// Stops the elector without releasing the lease, for a lease this process lost.
    /// `kube-lease-manager` releases with a patch that empties `holderIdentity` whenever
    /// it last read itself as the holder and that read has not run out, without a
    /// precondition, so after a loss (the Lease taken over, or this process cut off and
    /// its release delivered later) it emptied the new holder's claim, and that leader
    /// stopped in turn. client-go releases only on a cancelled context
    /// (`ReleaseOnCancel`), never after a loss.
    pub async fn abandon(mut self) {
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
        // The elector releases when its last receiver is dropped: ours is kept until the
        // task has ended.
        self.task.abort();
        let _ = (&mut self.task).await;
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
    fn a_hold_lasts_until_its_renewal_plus_the_duration_and_only_for_its_holder() {
        let renewed: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let spec = |holder: Option<&str>, renew: Option<Timestamp>| LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            renew_time: renew.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime),
            ..LeaseSpec::default()
        };
        let duration = Duration::from_secs(15);
        let at = |seconds: i64| renewed + k8s_openapi::jiff::SignedDuration::from_secs(seconds);
        let ours = spec(Some("a"), Some(renewed));
        assert_eq!(
            hold_left(&ours, "a", duration, at(4)),
            Ok(Duration::from_secs(11))
        );
        assert_eq!(
            hold_left(&ours, "a", duration, at(15)),
            Err("the leader lease was not renewed in time")
        );
        assert_eq!(
            hold_left(&ours, "a", duration, at(40)),
            Err("the leader lease was not renewed in time")
        );
        assert_eq!(
            hold_left(&spec(Some("a"), None), "a", duration, at(0)),
            Err("the leader lease was not renewed in time")
        );
        for other in [spec(Some("b"), Some(renewed)), spec(None, Some(renewed))] {
            assert_eq!(
                hold_left(&other, "a", duration, at(1)),
                Err("the leader lease names another holder")
            );
        }
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
