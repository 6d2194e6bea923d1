//! The Lease protocol of one candidate: client-go's `LeaderElector.tryAcquireOrRenew`
//! over a `coordination.k8s.io/v1` Lease (`resourcelock.LeaseLock`), written here.
//!
//! Why not a library: `kube-lease-manager` 0.13 (the maintained crate on kube 5) writes
//! its renewals and releases as patches without a precondition, and measures a hold by
//! `renewTime` on the reader's wall clock. An outside trial showed what that costs: a
//! cut-off leader's release, delivered after a standby had taken over, emptied the new
//! holder's claim (two leaders for 1.1–1.35 s with a third replica); a renewal delivered
//! late moved the new holder's `renewTime` back and it stopped; and on a link with 0.3 s
//! round trips a standby never took an expired Lease over. `kubert`'s lease module has
//! preconditions but is built on kube 1.1.
//!
//! Here, as in client-go, every write is an update carrying the `resourceVersion` that
//! was read (or a create), so the API server refuses (409) any write made from a stale
//! view; and a candidate measures a hold from the moment it saw the Lease change, on its
//! own monotonic clock, never by comparing another node's timestamps with its own.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

/// `leaseDurationSeconds` a release writes, so that a standby takes the Lease over a
/// second after it sees it released (client-go writes the same), while a holder emptied
/// by hand keeps its full duration.
const RELEASED_DURATION_SECONDS: i32 = 1;

/// [`RELEASED_DURATION_SECONDS`] as a duration.
const RELEASED_DURATION: Duration = Duration::from_secs(1);

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Renewed by a write sent at this instant.
    Renewed(Instant),
    /// Someone else wrote the Lease in between and it still names this process: try
    /// again at the next period.
    Raced,
    /// This process no longer holds the Lease, and why.
    Lost(&'static str),
}

/// What an attempt to acquire found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// This process holds the Lease, written by a request sent at this instant.
    Held(Instant),
    /// Not free yet; look again after at most this long.
    NotYet(Duration),
}

/// The Lease as last read or written, and when this process first saw it so.
#[derive(Debug, Clone)]
struct Observed {
    lease: Lease,
    since: Instant,
}

/// One candidate's handle on its Lease.
#[derive(Debug)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    field_manager: String,
    duration: Duration,
    observed: Option<Observed>,
    /// When this process first found the Lease absent after it had seen it.
    absent_since: Option<Instant>,
}

/// [`LeaseLock::wait_for`] for a candidate whose own lease duration is `own`.
fn takeover_wait(own: Duration, spec: Option<&LeaseSpec>) -> Duration {
    let recorded = spec
        .and_then(|spec| spec.lease_duration_seconds)
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs);
    if holder(spec).is_some() {
        recorded.unwrap_or(own).max(own)
    } else {
        recorded.unwrap_or(RELEASED_DURATION)
    }
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// The holder `spec` names, if any (an empty name counts as none).
fn holder(spec: Option<&LeaseSpec>) -> Option<&str> {
    spec?.holder_identity.as_deref().filter(|h| !h.is_empty())
}

impl LeaseLock {
    /// A handle on Lease `name` of `api`'s namespace for `identity`, writing under
    /// `field_manager` and holding for `duration`.
    pub fn new(
        api: Api<Lease>,
        name: String,
        identity: String,
        field_manager: String,
        duration: Duration,
    ) -> Self {
        Self {
            api,
            name,
            identity,
            field_manager,
            duration,
            observed: None,
            absent_since: None,
        }
    }

    /// How long a candidate waits, from when it saw the Lease as it is, before taking it:
    /// a held Lease its whole duration (never shorter than this process's own, so that a
    /// duration cut by hand cannot make it take over a leader still running); a released
    /// one the duration it was released with (1 s from this module; a holder emptied by
    /// hand keeps the full duration, as its leader may still run), or a second when it
    /// has none (released by the previous release of tiered, or never held).
    fn wait_for(&self, spec: Option<&LeaseSpec>) -> Duration {
        takeover_wait(self.duration, spec)
    }

    /// Records `lease` as read; its clock restarts when its `resourceVersion` changed.
    fn observe(&mut self, lease: Lease) {
        self.absent_since = None;
        let since = match &self.observed {
            Some(seen)
                if seen.lease.metadata.resource_version == lease.metadata.resource_version =>
            {
                seen.since
            }
            _ => Instant::now(),
        };
        self.observed = Some(Observed { lease, since });
    }

    /// Writes `lease` (as read, with its `resourceVersion`) naming this process, renewed
    /// now; `None` when the API server refused it as written from a stale view (409).
    async fn write(&mut self, mut lease: Lease) -> Result<Option<Instant>, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if holder(Some(spec)) != Some(self.identity.as_str()) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(seconds(self.duration));
        spec.renew_time = Some(now);
        // Left out, the API server keeps the stored managedFields and updates them.
        lease.metadata.managed_fields = None;
        let sent = Instant::now();
        match self.api.replace(&self.name, &self.params(), &lease).await {
            Ok(stored) => {
                self.observed = Some(Observed {
                    lease: stored,
                    since: Instant::now(),
                });
                Ok(Some(sent))
            }
            Err(error) if is_conflict(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn params(&self) -> PostParams {
        PostParams {
            field_manager: Some(self.field_manager.clone()),
            ..PostParams::default()
        }
    }

    /// Creates the Lease held by this process; `None` when another candidate created it
    /// first (409).
    async fn create(&mut self) -> Result<Option<Instant>, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(seconds(self.duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let sent = Instant::now();
        match self.api.create(&self.params(), &lease).await {
            Ok(stored) => {
                self.observe(stored);
                Ok(Some(sent))
            }
            Err(error) if is_conflict(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A candidate's attempt: takes the Lease when it is free (released, or held and
    /// unchanged for its duration since this process saw it so), creates it when it does
    /// not exist (after it has been absent for a lease duration, if this process had seen
    /// it: its leader may still run until it next renews).
    ///
    /// # Errors
    /// The API server's error when the Lease cannot be read or written (a 409 from a
    /// competing candidate is not an error: the answer is then [`Acquire::NotYet`]).
    pub async fn try_acquire(&mut self, period: Duration) -> Result<Acquire, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            if self.observed.is_some() || self.absent_since.is_some() {
                let since = *self.absent_since.get_or_insert_with(Instant::now);
                self.observed = None;
                let waited = since.elapsed();
                if waited < self.duration {
                    return Ok(Acquire::NotYet(self.duration.saturating_sub(waited)));
                }
            }
            return Ok(self
                .create()
                .await?
                .map_or(Acquire::NotYet(period), Acquire::Held));
        };
        self.observe(lease.clone());
        let wait = self.wait_for(lease.spec.as_ref());
        let seen = self
            .observed
            .as_ref()
            .map_or(Duration::ZERO, |seen| seen.since.elapsed());
        let ours = holder(lease.spec.as_ref()) == Some(self.identity.as_str());
        if !ours && seen < wait {
            return Ok(Acquire::NotYet(wait.saturating_sub(seen)));
        }
        Ok(self
            .write(lease)
            .await?
            .map_or(Acquire::NotYet(period), Acquire::Held))
    }

    /// The leader's renewal: writes the Lease it last wrote, renewed now. When someone
    /// else wrote in between (409) it reads the Lease and renews only if it still names
    /// this process.
    ///
    /// # Errors
    /// The API server's error when the Lease cannot be read or written.
    pub async fn renew(&mut self) -> Result<Renewal, kube::Error> {
        if let Some(seen) = self.observed.clone()
            && holder(seen.lease.spec.as_ref()) == Some(self.identity.as_str())
        {
            match self.write(seen.lease).await {
                Ok(Some(sent)) => return Ok(Renewal::Renewed(sent)),
                Ok(None) => {}
                // Found from outside: the update's 404 went up as an error, and a leader
                // whose Lease was deleted led on until its renew deadline.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    return Ok(Renewal::Lost("the leader lease was deleted"));
                }
                Err(error) => return Err(error),
            }
        }
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            return Ok(Renewal::Lost("the leader lease was deleted"));
        };
        self.observe(lease.clone());
        if holder(lease.spec.as_ref()) != Some(self.identity.as_str()) {
            return Ok(Renewal::Lost("the leader lease names another holder"));
        }
        Ok(self
            .write(lease)
            .await?
            .map_or(Renewal::Raced, Renewal::Renewed))
    }

    /// Gives the Lease up if it still names this process: no holder, duration 1 s, written
    /// over the `resourceVersion` it was read at. A Lease someone else has written since is
    /// left alone (the API server refuses the stale write, and a read shows whether it
    /// still names this process: a renewal of its own may have landed after the last
    /// answer), so a late release never empties a new holder's claim.
    ///
    /// # Errors
    /// The API server's error other than that refusal.
    pub async fn release(&mut self) -> Result<bool, kube::Error> {
        let mut seen = self.observed.as_ref().map(|seen| seen.lease.clone());
        // Twice at most: as last written, then as read after a refusal.
        for _ in 0..2 {
            let Some(mut lease) = seen.take() else {
                return Ok(false);
            };
            if holder(lease.spec.as_ref()) != Some(self.identity.as_str()) {
                return Ok(false);
            }
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(RELEASED_DURATION_SECONDS);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            lease.metadata.managed_fields = None;
            match self.api.replace(&self.name, &self.params(), &lease).await {
                Ok(_) => return Ok(true),
                Err(error) if is_conflict(&error) => {
                    seen = self.api.get_opt(&self.name).await?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, seconds: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: seconds,
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_held_lease_is_waited_for_its_duration_never_less_than_our_own() {
        let own = Duration::from_secs(15);
        let wait = |holder, seconds| takeover_wait(own, Some(&spec(holder, seconds)));
        assert_eq!(wait(Some("b"), Some(15)), Duration::from_secs(15));
        assert_eq!(wait(Some("b"), Some(3600)), Duration::from_hours(1));
        // Cut by hand to 1 s: still our own 15 s.
        assert_eq!(wait(Some("b"), Some(1)), Duration::from_secs(15));
        assert_eq!(wait(Some("b"), None), Duration::from_secs(15));
        // Released by us (1 s), emptied by hand (its 15 s kept), released by the
        // previous release or never held (no duration).
        assert_eq!(wait(None, Some(1)), Duration::from_secs(1));
        assert_eq!(wait(Some(""), Some(15)), Duration::from_secs(15));
        assert_eq!(wait(None, None), Duration::from_secs(1));
        assert_eq!(takeover_wait(own, None), Duration::from_secs(1));
    }
}
