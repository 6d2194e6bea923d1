//! Snapshots on demand (issue 13 part 3): the `spec.snapshots` requests of a
//! ManagedDatabase and what `status.snapshots` records of them. Types only.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a snapshot request's name: lower-case letters, digits and single hyphens,
/// starting with a letter, so that `<instance id>-snap-<name>` is a valid RDS snapshot
/// identifier (no double or trailing hyphen).
pub const SNAPSHOT_NAME: &str = r"^[a-z]([a-z0-9]|-[a-z0-9])*$";

/// A manual snapshot to take, once. The name makes it: tiered takes the snapshot
/// `<instance identifier>-snap-<name>` the first time it sees the name, and never
/// again while the snapshot exists. Removing the entry stops tracking it in status; the
/// snapshot stays in AWS. Listed snapshots follow the deletion policy: kept with
/// `Snapshot` and `Retain`, deleted with `Delete` once the resource is gone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct SnapshotRequest {
    /// Name of the snapshot, unique in the list, e.g. `before-upgrade-2026-11`.
    #[schemars(length(min = 1, max = 63), regex(pattern = SNAPSHOT_NAME))]
    pub name: String,
}

/// A requested snapshot as AWS reports it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    /// The request's name (`spec.snapshots[].name`).
    pub name: String,
    /// The snapshot's identifier in AWS.
    pub identifier: String,
    /// Its state as AWS reports it (`creating`, `available`, `failed`, …), or
    /// `pending` while the instance is not ready to take it. Two states say that the
    /// snapshot of this identifier is not this object's, and that tiered neither takes
    /// it again nor deletes it: `of-earlier-resource` (taken of an earlier resource of
    /// the same name) and `of-another-resource` (taken of another resource); request one
    /// under another name.
    pub state: String,
    /// When AWS took it (RFC 3339), once known.
    pub created_at: Option<String>,
}
