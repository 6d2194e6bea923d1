//! `CacheCluster`: an Amazon ElastiCache (Valkey or Redis OSS) replication group that
//! tiered provisions and keeps in line, with its connection details in a Secret.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parameters::ParameterGroupStatus;
use super::shared::{
    AWS_IDENTIFIER, AwsNetwork, DAILY_WINDOW, DeletionPolicy, ENGINE_VERSION, Endpoint,
    WEEKLY_WINDOW, kind_status,
};
use super::snapshots::{SnapshotRequest, SnapshotStatus};

/// Desired state of an Amazon ElastiCache replication group.
#[serde_with::skip_serializing_none]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tiered.io",
    version = "v1alpha1",
    kind = "CacheCluster",
    namespaced,
    status = "CacheClusterStatus",
    shortname = "cc",
    category = "tiered",
    doc = "An Amazon ElastiCache replication group (Valkey or Redis OSS) provisioned and kept in line by tiered, with its connection details in the Secret <name>-connection.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".status.endpoint.address"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        description = "What the Ready condition says: what is going on, or what to do",
        priority = "1"
    ),
    validation = Rule::new("size(self.metadata.name) <= 242").message("metadata.name must have at most 242 characters: the connection Secret <name>-connection must be a valid name (at most 253)")
)]
#[x_kube(validation = Rule::new("!has(self.authToken) || !self.authToken || self.transitEncryption").message("authToken needs transitEncryption: true; ElastiCache accepts AUTH only over TLS").field_path(".authToken"))]
#[x_kube(validation = Rule::new("!self.multiAZ || self.automaticFailover").message("multiAZ needs automaticFailover: true").field_path(".multiAZ"))]
#[x_kube(validation = Rule::new("!self.automaticFailover || self.replicasPerShard >= 1").message("automaticFailover (on by default) needs replicasPerShard of at least 1: set replicasPerShard, or automaticFailover: false for a group without replicas").field_path(".automaticFailover"))]
#[x_kube(validation = Rule::new("self.shards == 1 || self.automaticFailover").message("more than one shard (cluster mode) needs automaticFailover: true").field_path(".shards"))]
#[x_kube(validation = Rule::new("self.shards == 1 || has(self.engineVersion) || has(self.parameterGroupName)").message("more than one shard (cluster mode) needs engineVersion or parameterGroupName: the default cluster-mode parameter group default.<family>.cluster.on depends on the engine version").field_path(".engineVersion"))]
#[x_kube(validation = Rule::new("!has(oldSelf.adopt) || (has(self.adopt) && self.adopt == oldSelf.adopt)").message("adopt cannot be changed or removed once set").field_path(".adopt"))]
#[x_kube(validation = Rule::new("has(self.parameterGroupName) == has(oldSelf.parameterGroupName)").message("parameterGroupName is used when the replication group is created: it cannot be added to or removed from an existing CacheCluster; create a new CacheCluster to change it").field_path(".parameterGroupName"))]
#[x_kube(validation = Rule::new("!has(self.tags) || self.tags.all(k, !k.startsWith('tiered.io/') && !k.lowerAscii().startsWith('aws:'))").message("tag keys starting with tiered.io/ or aws: (in any case) are reserved").field_path(".tags"))]
#[x_kube(validation = Rule::new("!has(self.tags) || self.tags.all(k, size(k) <= 128 && k.matches('^[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]+$') && size(self.tags[k]) <= 256 && self.tags[k].matches('^[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]*$'))").message("AWS tag keys have at most 128 and values at most 256 characters, each a letter, digit, space or one of _ . : / = + - @").field_path(".tags"))]
#[x_kube(validation = Rule::new("!has(self.adopt) || !has(self.deletionPolicy) || self.deletionPolicy != 'Delete'").message("adopt cannot be combined with deletionPolicy: Delete: tiered never deletes a resource it adopted; use Retain (the default when adopting) or Snapshot").field_path(".deletionPolicy"))]
#[x_kube(validation = Rule::new("has(self.restoreFrom) == has(oldSelf.restoreFrom)").message("restoreFrom is creation-only: it cannot be added to or removed from an existing CacheCluster; create a new one to restore").field_path(".restoreFrom"))]
#[x_kube(validation = Rule::new("!has(self.restoreFrom) || !has(self.adopt)").message("restoreFrom cannot be combined with adopt: a restore creates a new replication group, adopt takes over an existing one").field_path(".restoreFrom"))]
#[x_kube(validation = Rule::new("!has(self.parameters) || size(self.parameters) == 0 || !has(self.parameterGroupName)").message("parameters cannot be combined with parameterGroupName: with parameters tiered creates and owns the cache parameter group; remove one of them").field_path(".parameters"))]
#[x_kube(validation = Rule::new("!has(self.parameters) || size(self.parameters) == 0 || has(self.engineVersion)").message("parameters needs engineVersion: the family of the cache parameter group tiered creates (e.g. valkey8, redis7) depends on it").field_path(".parameters"))]
#[serde(rename_all = "camelCase")]
pub struct CacheClusterSpec {
    /// Cache engine: `valkey` or `redis`. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("engine is immutable; create a new CacheCluster to change it"))]
    pub engine: CacheEngine,
    /// Engine version, e.g. `8.0` (or `6.x` for Redis OSS 6). Omitted: ElastiCache's
    /// default at creation, recorded in `status.engineVersion` and never changed by
    /// tiered. A running version that is the same or a newer minor or patch of the same
    /// major version (ElastiCache's automatic minor upgrades) satisfies it; a newer
    /// major version is not downgraded (`Stalled`).
    #[schemars(length(min = 1, max = 32), regex(pattern = ENGINE_VERSION))]
    pub engine_version: Option<String>,
    /// Node type, e.g. `cache.r7g.large`.
    #[schemars(length(max = 64), regex(pattern = r"^cache\.[a-z0-9-]+\.[a-z0-9]+$"))]
    pub node_type: String,
    /// Replicas in each shard (0 to 5).
    #[serde(default = "default_replicas_per_shard")]
    #[schemars(range(min = 0, max = 5))]
    pub replicas_per_shard: i32,
    /// Number of shards (node groups); more than 1 enables cluster mode.
    #[serde(default = "default_shards")]
    #[schemars(range(min = 1, max = 500))]
    pub shards: i32,
    /// Promote a replica automatically when the primary fails.
    #[serde(default = "default_true")]
    pub automatic_failover: bool,
    /// Place replicas in other Availability Zones than the primary.
    #[serde(rename = "multiAZ", default = "default_true")]
    pub multi_az: bool,
    /// TLS between clients and the cache.
    #[serde(default = "default_true")]
    pub transit_encryption: bool,
    /// Generate an AUTH token into the connection Secret. Defaults to
    /// `transitEncryption`; needs `transitEncryption: true`.
    pub auth_token: Option<bool>,
    /// Encrypt data at rest.
    #[serde(default = "default_true")]
    pub at_rest_encryption: bool,
    /// Cache parameter group the replication group is created with. Omitted:
    /// ElastiCache's default for the engine version, and in cluster mode (more than one
    /// shard) `default.<family>.cluster.on` (e.g. `default.valkey8.cluster.on`), which
    /// cluster mode needs. A group named here must be a cluster-mode one when `shards`
    /// is above 1. Used at creation only: tiered does not change the parameter group of
    /// an existing replication group.
    #[x_kube(validation = Rule::new("self == oldSelf").message("parameterGroupName is used when the replication group is created; create a new CacheCluster to change it"))]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z][A-Za-z0-9.-]*$")
    )]
    pub parameter_group_name: Option<String>,
    /// Subnet group and security groups of the cache.
    pub network: Option<AwsNetwork>,
    /// Automatic snapshots.
    pub snapshot: Option<SnapshotPolicy>,
    /// Weekly maintenance window in UTC, e.g. `sun:05:00-sun:06:00`.
    #[schemars(regex(pattern = WEEKLY_WINDOW))]
    pub maintenance_window: Option<String>,
    /// Apply changes now instead of in the next maintenance window.
    #[serde(default)]
    pub apply_immediately: bool,
    /// What happens to the replication group when this object is deleted: `Snapshot`
    /// (default), `Retain` (default for adopted groups) or `Delete`.
    pub deletion_policy: Option<DeletionPolicy>,
    /// Take over an existing replication group instead of creating one.
    pub adopt: Option<AdoptCache>,
    /// Extra AWS tags. Keys under `tiered.io/` and `aws:` (in any case) are reserved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    // maxLength on the values, not only the CEL rule's size(): the API server estimates
    // a rule's cost from the declared bounds, and a matches() on a value of unbounded
    // length (taken as the 3 MiB request) over 40 tags exceeds the per-rule budget, which
    // refuses the whole CRD at install (apiextensions' StaticEstimatedCostLimit).
    #[schemars(extend("maxProperties" = 40, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    pub tags: BTreeMap<String, String>,
    /// Create the replication group from an ElastiCache snapshot instead of an empty
    /// cache. Creation-only. The snapshot must have been made by tiered for this
    /// namespace in this cluster, or carry the AWS account administrator's tag
    /// `tiered.io/restorable=<namespace>/<name>` for this object; any other is refused
    /// (`Stalled`, `NotOptedIn`). The restored group is tagged and owned like any other, and
    /// gets the AUTH token tiered generates when it is created (the snapshot holds data,
    /// not the token), so the connection Secret works from the start.
    #[x_kube(validation = Rule::new("self == oldSelf").message("restoreFrom is creation-only: a restore happens once, when the replication group is created; create a new CacheCluster to restore again"))]
    pub restore_from: Option<CacheRestoreFrom>,
    /// Manual snapshots to take on demand, each once (ElastiCache CreateSnapshot,
    /// tagged as tiered's), named `<replication group id>-snap-<name>`: add a name to
    /// take one. `status.snapshots` shows their state. They follow `deletionPolicy`:
    /// kept with `Snapshot` and `Retain`, deleted with `Delete` once the group is gone
    /// (those listed here that this object took). A name removed from the list leaves
    /// its snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[x_kube(validation = Rule::new("self.all(s, self.exists_one(t, t.name == s.name))").message("snapshot names must be unique"))]
    pub snapshots: Vec<SnapshotRequest>,
    /// Engine parameters, name to value (e.g. `maxmemory-policy: allkeys-lru`). tiered
    /// creates and owns a cache parameter group for the engine family
    /// (`<replication group id>-valkey8`), with `cluster-enabled: "yes"` when `shards`
    /// is above 1, and attaches it. A parameter removed here goes back to the family
    /// default. `status.parameterGroup.pendingReboot` says when ElastiCache waits for a
    /// reboot to apply one. A parameter ElastiCache refuses is `Stalled` naming
    /// `spec.parameters.<name>`. Needs `engineVersion`; not with `parameterGroupName`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 100))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[A-Za-z][A-Za-z0-9_.:-]{0,127}$'))").message("parameter names are letters, digits and _ . : - (at most 128), starting with a letter"))]
    #[x_kube(validation = Rule::new("!('cluster-enabled' in self)").message("cluster-enabled is set by tiered from shards (yes above 1 shard); remove it from parameters"))]
    pub parameters: BTreeMap<String, String>,
}

/// The ElastiCache snapshot a new replication group is restored from
/// (CreateReplicationGroup with `SnapshotName`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheRestoreFrom {
    /// Name of the snapshot to restore, in the operator's region (a manual or automatic
    /// snapshot, e.g. one `spec.snapshots` of another CacheCluster took).
    #[schemars(length(min = 1, max = 255))]
    pub snapshot_name: String,
}

fn default_true() -> bool {
    true
}

fn default_shards() -> i32 {
    1
}

fn default_replicas_per_shard() -> i32 {
    1
}

/// ElastiCache engine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheEngine {
    /// Valkey.
    Valkey,
    /// Redis OSS.
    Redis,
}

/// Automatic snapshots of a cache.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPolicy {
    /// Days to keep automatic snapshots (0 disables them; up to 35).
    #[schemars(range(min = 0, max = 35))]
    pub retention_days: i32,
    /// Daily snapshot window in UTC, e.g. `04:00-05:00`.
    #[schemars(regex(pattern = DAILY_WINDOW))]
    pub window: Option<String>,
}

/// An existing replication group to take over.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptCache {
    /// Replication group ID of the group to adopt.
    #[schemars(length(min = 1, max = 40), regex(pattern = AWS_IDENTIFIER))]
    pub replication_group_id: String,
}

kind_status! {
    /// Observed state of a CacheCluster.
    pub struct CacheClusterStatus {
        /// Replication group ID in ElastiCache.
        pub identifier: Option<String>,
        /// ARN of the replication group.
        pub arn: Option<String>,
        /// Primary endpoint (or configuration endpoint in cluster mode).
        pub endpoint: Option<Endpoint>,
        /// Reader endpoint.
        pub reader_endpoint: Option<Endpoint>,
        /// Engine version the group runs, as ElastiCache reports it.
        pub engine_version: Option<String>,
        /// Status of the replication group as ElastiCache reports it.
        pub aws_status: Option<String>,
        /// Name of the Secret with the connection details.
        pub connection_secret: Option<String>,
        /// The snapshots `spec.snapshots` asks for, with their state in ElastiCache.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub snapshots: Vec<SnapshotStatus>,
        /// The cache parameter group of `spec.parameters`, once tiered made one.
        pub parameter_group: Option<ParameterGroupStatus>,
    }
}
