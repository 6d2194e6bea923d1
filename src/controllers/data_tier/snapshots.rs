//! Snapshots on demand, the part both kinds share (issue 13 part 3): each name of
//! `spec.snapshots` becomes one manual snapshot with a deterministic identifier
//! (`<resource id>-snap-<name>`), taken once (the kinds describe before any create);
//! which names still need one ([`to_take`]), what `status.snapshots` shows
//! ([`requested_statuses`]), what the snapshots ask of the pass ([`listed_progress`]),
//! and which go with the resource ([`deleted_with`], [`taken_by`]).
//! Pure: a kind lists its snapshots as [`ListedSnapshot`]s (an RDS DB snapshot, an
//! ElastiCache snapshot) and makes the calls in its own `snapshots.rs`.

use kube::core::object::{HasSpec, HasStatus};

use crate::api::shared::DeletionPolicy;
use crate::api::snapshots::{SnapshotRequest, SnapshotStatus};
use crate::aws::tags::{Owner, Ownership, UID, ownership};
use crate::controllers::data_tier::spec::{SharedSpec, SharedStatus};
use crate::controllers::data_tier::status::Progress;

/// What separates the resource id from the request's name in a snapshot identifier
/// (the IAM policies grant on-demand snapshots on `snapshot:*-snap-*`).
pub const SNAPSHOT_INFIX: &str = "-snap-";

/// The state `status.snapshots` shows for a snapshot not taken yet.
pub const PENDING: &str = "pending";

/// The state `status.snapshots` shows for a snapshot of the requested identifier that
/// AWS took of an earlier resource of the same id (an object deleted and created again
/// under the same name gets the same id): it holds that resource's data, not this
/// one's, and the identifier cannot be taken again.
pub const OF_EARLIER_RESOURCE: &str = "of-earlier-resource";

/// The state `status.snapshots` shows for a snapshot of the requested identifier that
/// AWS took of another resource (someone else's snapshot under that identifier, a
/// snapshot identifier being unique in an account and Region): it holds that
/// resource's data, and the identifier cannot be taken for this one. Found from
/// outside: a ManagedDatabase asked RDS for such a snapshot every pass, forever (its
/// describe, filtered by instance, did not list it; the create answered
/// `DBSnapshotAlreadyExists`), and a CacheCluster showed it as its own.
pub const OF_ANOTHER_RESOURCE: &str = "of-another-resource";

/// A snapshot as the kind's AWS service lists it.
pub trait ListedSnapshot {
    /// Its identifier (RDS) or name (ElastiCache).
    fn identifier(&self) -> Option<&str>;
    /// Its state (`creating`, `available`, `failed`, …).
    fn state(&self) -> Option<&str>;
    /// When AWS took it (RFC 3339), once known.
    fn created_at(&self) -> Option<String>;
}

/// The identifier of the snapshot `name` of the resource `id`: at most 63 + 6 + 63
/// characters, within both services' limits, and valid as the schema restricts `name`
/// (no double or trailing hyphen).
pub fn snapshot_identifier(id: &str, name: &str) -> String {
    format!("{id}{SNAPSHOT_INFIX}{name}")
}

/// Whether the snapshots taken on request go with the resource: under the deletion
/// policy in force `policy` (issue 13: "snapshots tiered took follow the deletion
/// policy", kept with `Snapshot` and `Retain`), only with `Delete`.
pub fn deleted_with(policy: DeletionPolicy) -> bool {
    policy == DeletionPolicy::Delete
}

/// Whether a snapshot with `tags` is one this very object took: tagged for `owner`
/// (cluster, namespace, name) and with its UID, so a snapshot an earlier object of
/// the same name took (or one adopted or copied) is never deleted with this one.
pub fn taken_by<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    owner: &Owner,
) -> bool {
    ownership(tags.clone(), owner) == Ownership::Ours
        && tags
            .into_iter()
            .any(|(key, value)| key == UID && value == owner.uid)
}

/// The requested names whose snapshot AWS does not list, in the spec's order.
pub fn to_take<'a, S: ListedSnapshot>(id: &str, names: &'a [String], listed: &[S]) -> Vec<&'a str> {
    names
        .iter()
        .filter(|name| {
            let wanted = snapshot_identifier(id, name);
            !listed
                .iter()
                .any(|snapshot| snapshot.identifier() == Some(wanted.as_str()))
        })
        .map(String::as_str)
        .collect()
}

/// The names `requests` (a spec's `snapshots`) ask for, in the spec's order.
pub fn requested_names(requests: &[SnapshotRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|request| request.name.clone())
        .collect()
}

/// `status.snapshots` of `object` after a pass on its resource `id` that listed
/// `listed` (`None`: it did not look): [`snapshot_statuses`] of the names its
/// `spec.snapshots` asks for, given what its status showed.
pub fn requested_statuses<O, S>(object: &O, id: &str, listed: Option<&[S]>) -> Vec<SnapshotStatus>
where
    O: HasSpec<Spec: SharedSpec> + HasStatus<Status: SharedStatus>,
    S: ListedSnapshot,
{
    let names = requested_names(object.spec().snapshot_requests());
    let previous = object.status().map_or(&[][..], SharedStatus::snapshots);
    snapshot_statuses(id, &names, listed, previous)
}

/// `status.snapshots` for the requested `names`: as AWS lists them when the pass
/// looked (`listed`), else as the previous status said (`pending` when it said
/// nothing).
pub fn snapshot_statuses<S: ListedSnapshot>(
    id: &str,
    names: &[String],
    listed: Option<&[S]>,
    previous: &[SnapshotStatus],
) -> Vec<SnapshotStatus> {
    names
        .iter()
        .map(|name| {
            let identifier = snapshot_identifier(id, name);
            let seen = listed.and_then(|listed| {
                listed
                    .iter()
                    .find(|snapshot| snapshot.identifier() == Some(&identifier))
            });
            let before = previous
                .iter()
                .find(|status| status.name == *name && status.identifier == identifier);
            match (seen, before) {
                (Some(snapshot), _) => SnapshotStatus {
                    name: name.clone(),
                    identifier,
                    state: snapshot.state().unwrap_or("unknown").to_owned(),
                    created_at: snapshot.created_at(),
                },
                (None, Some(before)) if listed.is_none() => before.clone(),
                (None, _) => SnapshotStatus {
                    name: name.clone(),
                    identifier,
                    state: PENDING.to_owned(),
                    created_at: None,
                },
            }
        })
        .collect()
}

/// What the snapshots ask of the pass once they are all listed: wait while one is
/// being taken; say which failed in `service`, or are not this object's (the resource
/// stays Ready: its data is fine).
pub fn listed_progress<S: ListedSnapshot>(listed: &[S], service: &str) -> Option<Progress> {
    if let Some(busy) = listed
        .iter()
        .find(|snapshot| snapshot.state() == Some("creating"))
    {
        return Some(Progress::aws_in_progress(format!(
            "taking snapshot {}",
            busy.identifier().unwrap_or_default()
        )));
    }
    // The states that leave a request without a snapshot of this object's data, each
    // with what it says after the identifiers; the first that any snapshot is in wins.
    let unusable = [
        ("failed", "failed"),
        (
            OF_EARLIER_RESOURCE,
            "was taken of an earlier resource of the same identifier, deleted since (before this object was created, or outside tiered), so it does not hold the data of the one there now",
        ),
        (
            OF_ANOTHER_RESOURCE,
            "is a snapshot of another resource under the identifier this object's request would take, so it does not hold this object's data and tiered leaves it alone",
        ),
    ];
    unusable.into_iter().find_map(|(state, what)| {
        let identifiers: Vec<&str> = listed
            .iter()
            .filter(|snapshot| snapshot.state() == Some(state))
            .filter_map(ListedSnapshot::identifier)
            .collect();
        (!identifiers.is_empty()).then(|| Progress::Ready {
            message: format!(
                "snapshot {} in {service} {what}: request a new one under another name in spec.snapshots",
                identifiers.join(", "),
            ),
        })
    })
}
