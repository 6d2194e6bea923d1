//! Snapshots on demand, the calls both kinds make in the same order, written once
//! (issue 13 part 3): taking the first snapshot the spec asks for that AWS does not
//! list yet, one a pass ([`take_next_snapshot`]), and deleting, under
//! `deletionPolicy: Delete`, those this very object took ([`delete_taken_snapshots`]).
//! Each kind describes, tags and deletes its snapshots through [`SnapshotCalls`], and
//! builds its own create request (what a snapshot is taken of differs); the pure rules
//! are in [`crate::controllers::data_tier::snapshots`].

use std::future::Future;

use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::tags::Owner;
use crate::controllers::data_tier::snapshots::{
    ListedSnapshot, listed_progress, snapshot_identifier, taken_by, to_take,
};
use crate::controllers::data_tier::status::Progress;

/// One kind's calls on its manual snapshots.
pub trait SnapshotCalls: Sync {
    /// A snapshot as the kind's service lists it.
    type Snapshot: ListedSnapshot + Clone + Send;
    /// How messages name a snapshot ("DB snapshot", "snapshot").
    const NOUN: &'static str;
    /// How status messages name the service ("RDS", "ElastiCache").
    const SERVICE: &'static str;

    /// The manual snapshots among `names` that AWS lists, whichever resource they were
    /// taken of (a name is unique in the account and Region); none and no call for no
    /// names.
    fn describe_snapshots(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Self::Snapshot>, AwsError>> + Send;
    /// The tags of `snapshot`, as key and value; `None` when they cannot be read (the
    /// snapshot is then left).
    fn snapshot_tags(
        &self,
        snapshot: &Self::Snapshot,
    ) -> impl Future<Output = Result<Option<Vec<(String, String)>>, AwsError>> + Send;
    /// Sends the delete call of the snapshot `name`.
    fn send_delete_snapshot(&self, name: &str)
    -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// With `deletionPolicy: Delete`, once the resource `id` is gone: deletes the
/// snapshots of `names` (the spec's requests) that this object (`owner`) took
/// ([`taken_by`], from each snapshot's tags); one already gone is fine. `Snapshot`
/// and `Retain` keep them.
///
/// # Errors
/// The first failed describe, tag read or delete.
pub async fn delete_taken_snapshots<C: SnapshotCalls>(
    calls: &C,
    id: &str,
    names: &[String],
    owner: &Owner,
) -> Result<(), AwsError> {
    let names = names
        .iter()
        .map(|name| snapshot_identifier(id, name))
        .collect();
    for snapshot in calls.describe_snapshots(names).await? {
        let Some(name) = snapshot.identifier() else {
            continue;
        };
        let Some(tags) = calls.snapshot_tags(&snapshot).await? else {
            continue;
        };
        let pairs = tags
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()));
        if !taken_by(pairs, owner) {
            tracing::info!(snapshot = %name, "left {}: not taken by this object", C::NOUN);
            continue;
        }
        match calls.send_delete_snapshot(name).await {
            Ok(()) => {
                tracing::info!(snapshot = %name, "deleted {} (deletionPolicy: Delete)", C::NOUN);
            }
            Err(error) if error.kind == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Where a pass records what it did: its count of mutating calls, and the snapshots
/// it saw (`status.snapshots` is computed from them).
pub struct Recorded<'a, S> {
    /// The pass's mutating calls.
    pub mutations: &'a mut u32,
    /// The snapshots the pass listed.
    pub snapshots: &'a mut Option<Vec<S>>,
}

/// Takes the first snapshot of `wanted` (the spec's requests) that the resource `id`
/// does not have among those AWS lists (each as `as_listed` shows it; all recorded in
/// `recorded`), with `create(name)`, which answers the snapshot when AWS describes it;
/// `None` when all are taken and none is still being taken. One at a time: AWS takes one snapshot of a resource at a time
/// (it is `backing-up` or `snapshotting` meanwhile), and the next pass describes
/// again. A snapshot that exists already (a lost response) counts as taken.
///
/// # Errors
/// The describe's, or the create call's but for a conflict.
pub async fn take_next_snapshot<C, F, Fut>(
    calls: &C,
    (id, wanted): (&str, &[String]),
    as_listed: impl Fn(C::Snapshot) -> C::Snapshot,
    recorded: Recorded<'_, C::Snapshot>,
    create: F,
) -> Result<Option<Progress>, AwsError>
where
    C: SnapshotCalls,
    F: FnOnce(&str) -> Fut,
    Fut: Future<Output = Result<Option<C::Snapshot>, AwsError>>,
{
    let names = wanted
        .iter()
        .map(|name| snapshot_identifier(id, name))
        .collect();
    let listed: Vec<C::Snapshot> = calls
        .describe_snapshots(names)
        .await?
        .into_iter()
        .map(as_listed)
        .collect();
    let missing = to_take(id, wanted, &listed);
    *recorded.snapshots = Some(listed.clone());
    let Some(name) = missing.first() else {
        return Ok(listed_progress(&listed, C::SERVICE));
    };
    let snapshot = snapshot_identifier(id, name);
    let result = create(name).await;
    *recorded.mutations += 1;
    match result {
        Ok(taken) => {
            tracing::info!(id = %id, snapshot = %snapshot, "taking snapshot");
            if let Some(taken) = taken {
                *recorded.snapshots = Some([listed, vec![taken]].concat());
            }
        }
        // The name exists though the describe did not list it: taken by an earlier
        // request whose response was lost, or another resource's snapshot of that name
        // (said as such once listed). The next pass lists it and tells which.
        Err(error) if error.kind == ErrorKind::Conflict => {
            tracing::info!(id = %id, snapshot = %snapshot, "the snapshot name exists already; the next pass lists whose it is");
        }
        Err(error) => return Err(error),
    }
    Ok(Some(Progress::aws_in_progress(format!(
        "taking snapshot {snapshot}"
    ))))
}
