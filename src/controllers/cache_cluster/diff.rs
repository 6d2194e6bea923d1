//! Desired vs observed replication group: the ModifyReplicationGroup to send, holding
//! only the owned fields that differ (pending changes count as done), the replica and
//! shard changes, and what cannot change in place. Pure; table-tested in
//! `diff_tests`.

use aws_sdk_elasticache::operation::modify_replication_group::builders::ModifyReplicationGroupFluentBuilder;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, MultiAzStatus, NodeGroup,
    PendingAutomaticFailoverStatus, ReplicationGroup, SecurityGroupMembership,
};

use crate::controllers::data_tier::error::UnsupportedChange;

use crate::controllers::cache_cluster::desired::{DesiredGroup, engine_name};
use crate::controllers::cache_cluster::version::{VersionCheck, check_version};

/// The owned fields to change; `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modification {
    /// New node type.
    pub node_type: Option<String>,
    /// New engine version.
    pub engine_version: Option<String>,
    /// New automatic failover setting.
    pub automatic_failover: Option<bool>,
    /// New Multi-AZ setting.
    pub multi_az: Option<bool>,
    /// New snapshot retention.
    pub snapshot_retention_days: Option<i32>,
    /// New snapshot window.
    pub snapshot_window: Option<String>,
    /// New maintenance window.
    pub maintenance_window: Option<String>,
    /// New security groups.
    pub security_group_ids: Option<Vec<String>>,
    /// Apply now rather than in the maintenance window.
    pub apply_immediately: bool,
}

impl Modification {
    /// The names of the fields this modification changes, for Events and logs.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let Self {
            node_type,
            engine_version,
            automatic_failover,
            multi_az,
            snapshot_retention_days,
            snapshot_window,
            maintenance_window,
            security_group_ids,
            apply_immediately: _,
        } = self;
        [
            ("nodeType", node_type.is_some()),
            ("engineVersion", engine_version.is_some()),
            ("automaticFailover", automatic_failover.is_some()),
            ("multiAZ", multi_az.is_some()),
            ("snapshot.retentionDays", snapshot_retention_days.is_some()),
            ("snapshot.window", snapshot_window.is_some()),
            ("maintenanceWindow", maintenance_window.is_some()),
            ("network.securityGroupIds", security_group_ids.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// Fills in ModifyReplicationGroup for group `id`.
    pub fn request(
        &self,
        request: ModifyReplicationGroupFluentBuilder,
        id: &str,
    ) -> ModifyReplicationGroupFluentBuilder {
        request
            .replication_group_id(id)
            .set_cache_node_type(self.node_type.clone())
            .set_engine_version(self.engine_version.clone())
            .set_automatic_failover_enabled(self.automatic_failover)
            .set_multi_az_enabled(self.multi_az)
            .set_snapshot_retention_limit(self.snapshot_retention_days)
            .set_snapshot_window(self.snapshot_window.clone())
            .set_preferred_maintenance_window(self.maintenance_window.clone())
            .set_security_group_ids(self.security_group_ids.clone())
            .apply_immediately(self.apply_immediately)
    }
}

/// A change ElastiCache cannot make in place (or not cheaply and safely).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The engine of a group is fixed.
    #[error(
        "failed to change spec.engine from {observed} to {desired}: ElastiCache fixes the engine of a replication group at creation; set it back to {observed} or create a new CacheCluster"
    )]
    Engine {
        /// Engine ElastiCache reports.
        observed: String,
        /// Engine in the spec.
        desired: String,
    },
    /// An encryption switch that is fixed at creation.
    #[error(
        "failed to turn {setting} {desired}: it is fixed when the replication group is created; set it back to {observed} or create a new CacheCluster"
    )]
    CreationOnly {
        /// The spec field.
        setting: &'static str,
        /// What ElastiCache reports.
        observed: bool,
        /// What the spec asks for.
        desired: bool,
    },
    /// AUTH asked of a group without in-transit encryption: ElastiCache adds AUTH only
    /// over TLS, and TLS is fixed at creation.
    #[error(
        "failed to turn AUTH on: ElastiCache adds an AUTH token only to a replication group with in-transit encryption, and this group was created without it (in-transit encryption is fixed at creation); set spec.transitEncryption and spec.authToken back to false, or create a new CacheCluster"
    )]
    AuthNeedsTransit,
    /// AUTH turned off: ElastiCache removes a token only when the group moves to RBAC
    /// user groups (`AuthTokenUpdateStrategy=DELETE`), which tiered does not manage.
    #[error(
        "failed to turn AUTH off: ElastiCache removes an AUTH token only when the replication group moves to RBAC user groups, which tiered does not manage; set spec.authToken back to true or create a new CacheCluster"
    )]
    AuthOff,
    /// The group runs a newer engine version than the spec allows: ElastiCache does
    /// not downgrade (crossplane-contrib/provider-aws#622).
    #[error(
        "failed to run engine version {desired}: the replication group already runs {observed} and ElastiCache cannot downgrade; set spec.engineVersion to {observed} (or a version it satisfies, e.g. its major.minor) or create a new CacheCluster"
    )]
    Downgrade {
        /// Version ElastiCache reports.
        observed: String,
        /// Version in the spec.
        desired: String,
    },
    /// Cluster mode cannot be switched on or off by changing the shard count: that is
    /// a migration through the `compatible` cluster mode with client changes, not a
    /// reconcile step.
    #[error(
        "failed to change shards from {observed} to {desired}: that switches cluster mode on or off, which tiered does not do in place; keep shards {side} 1 or create a new CacheCluster"
    )]
    ClusterMode {
        /// Shards ElastiCache reports.
        observed: usize,
        /// Shards in the spec.
        desired: i32,
        /// "above" or "at".
        side: &'static str,
    },
}

impl UnsupportedChange for Unsupported {
    fn field(&self) -> &'static str {
        match self {
            Self::Engine { .. } => "spec.engine",
            Self::CreationOnly { setting, .. } => setting,
            Self::AuthNeedsTransit => "spec.transitEncryption",
            Self::AuthOff => "spec.authToken",
            Self::ClusterMode { .. } => "spec.shards",
            Self::Downgrade { .. } => "spec.engineVersion",
        }
    }
}

/// A change of replicas per shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaChange {
    /// IncreaseReplicaCount to this many.
    Increase(i32),
    /// DecreaseReplicaCount to this many.
    Decrease(i32),
}

/// A change of the number of shards in cluster mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardChange {
    /// The new number of shards.
    pub count: i32,
    /// Node groups to remove when shrinking (the highest ids).
    pub remove: Vec<String>,
}

/// Settings that differ and that ElastiCache cannot change in place (fixed at
/// creation, or AUTH off): the group must be replaced, which the operator does not do.
/// Checked before anything is written ([`DataTier::check_in_place`]).
///
/// [`DataTier::check_in_place`]: crate::controllers::data_tier::DataTier::check_in_place
pub fn unsupported(desired: &DesiredGroup, group: &ReplicationGroup) -> Option<Unsupported> {
    if let Some(engine) = group.engine()
        && engine != engine_name(desired.engine)
    {
        return Some(Unsupported::Engine {
            observed: engine.to_owned(),
            desired: engine_name(desired.engine).to_owned(),
        });
    }
    // AUTH is not fixed at creation: ElastiCache turns it on in place (ROTATE, then
    // SET) on a group with in-transit encryption ("Modifying the AUTH token on an
    // existing cluster"), and off only towards RBAC.
    if group.auth_token_enabled() == Some(false)
        && desired.auth_token
        && group.transit_encryption_enabled() != Some(true)
    {
        return Some(Unsupported::AuthNeedsTransit);
    }
    let switches = [
        (
            "spec.transitEncryption",
            group.transit_encryption_enabled(),
            desired.transit_encryption,
        ),
        (
            "spec.atRestEncryption",
            group.at_rest_encryption_enabled(),
            desired.at_rest_encryption,
        ),
    ];
    for (setting, observed, wanted) in switches {
        if let Some(observed) = observed
            && observed != wanted
        {
            return Some(Unsupported::CreationOnly {
                setting,
                observed,
                desired: wanted,
            });
        }
    }
    if group.auth_token_enabled() == Some(true) && !desired.auth_token {
        return Some(Unsupported::AuthOff);
    }
    let shards = group.node_groups().len();
    let cluster_enabled = group.cluster_enabled().unwrap_or(shards > 1);
    if shards > 0 && cluster_enabled != desired.cluster_mode() {
        return Some(Unsupported::ClusterMode {
            observed: shards,
            desired: desired.shards,
            side: if cluster_enabled { "above" } else { "at" },
        });
    }
    None
}

/// The ModifyReplicationGroup for the owned fields that differ, or `None` when the
/// group matches. `member` is the group's first cache cluster, which reports engine
/// version, maintenance window and security groups; without it those are not
/// compared.
pub fn diff(
    desired: &DesiredGroup,
    group: &ReplicationGroup,
    member: Option<&CacheCluster>,
) -> Option<Modification> {
    let pending = member.and_then(CacheCluster::pending_modified_values);
    let group_pending = group.pending_modified_values();
    let differs = |observed: Option<&str>, pending: Option<&str>, wanted: &str| {
        observed != Some(wanted) && pending != Some(wanted)
    };
    let mut change = Modification {
        apply_immediately: desired.common.apply_immediately,
        ..Modification::default()
    };
    if differs(
        group.cache_node_type(),
        pending.and_then(|p| p.cache_node_type()),
        &desired.node_type,
    ) {
        change.node_type = Some(desired.node_type.clone());
    }
    if let Some(version) = engine_upgrade(desired, member) {
        change.engine_version = Some(version);
    }
    let failover_on = matches!(
        group.automatic_failover(),
        Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
    );
    let failover_pending = group_pending
        .and_then(|p| p.automatic_failover_status())
        .map(|status| *status == PendingAutomaticFailoverStatus::Enabled);
    if failover_pending.unwrap_or(failover_on) != desired.automatic_failover {
        change.automatic_failover = Some(desired.automatic_failover);
    }
    let multi_az_on = group.multi_az() == Some(&MultiAzStatus::Enabled);
    if group.multi_az().is_some() && multi_az_on != desired.multi_az {
        change.multi_az = Some(desired.multi_az);
    }
    if let Some(days) = desired.snapshot_retention_days
        && group.snapshot_retention_limit() != Some(days)
    {
        change.snapshot_retention_days = Some(days);
    }
    if let Some(window) = &desired.snapshot_window
        && group.snapshot_window() != Some(window.as_str())
    {
        change.snapshot_window = Some(window.clone());
    }
    if let (Some(member), Some(window)) = (member, &desired.common.maintenance_window)
        && member
            .preferred_maintenance_window()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some(window.as_str())
    {
        change.maintenance_window = Some(window.clone());
    }
    if let Some(member) = member
        && !desired.common.security_group_ids.is_empty()
    {
        let observed = sorted_ids(
            member.security_groups(),
            SecurityGroupMembership::security_group_id,
        );
        if observed != desired.common.security_group_ids {
            change.security_group_ids = Some(desired.common.security_group_ids.clone());
        }
    }
    (!change.changed_fields().is_empty()).then_some(change)
}

/// The engine version to send: the spec's, when the group's first member runs an
/// older one and none that satisfies the spec is pending. `None` without a spec
/// version (ElastiCache's default stays), without a member, when the running version
/// satisfies the spec (the same or a newer minor: AWS upgrades minors on its own), or
/// when it is newer (see [`engine_downgrade`]).
pub fn engine_upgrade(desired: &DesiredGroup, member: Option<&CacheCluster>) -> Option<String> {
    let wanted = desired.engine_version.as_deref()?;
    let member = member?;
    let running = member.engine_version()?;
    if check_version(wanted, running) != VersionCheck::Upgrade {
        return None;
    }
    let pending = member
        .pending_modified_values()
        .and_then(|p| p.engine_version());
    if pending.is_some_and(|pending| check_version(wanted, pending) != VersionCheck::Upgrade) {
        return None;
    }
    Some(wanted.to_owned())
}

/// A spec version older than the one the group runs (a downgrade ElastiCache refuses).
pub fn engine_downgrade(
    desired: &DesiredGroup,
    member: Option<&CacheCluster>,
) -> Option<Unsupported> {
    let wanted = desired.engine_version.as_deref()?;
    let running = member?.engine_version()?;
    (check_version(wanted, running) == VersionCheck::Downgrade).then(|| Unsupported::Downgrade {
        observed: running.to_owned(),
        desired: wanted.to_owned(),
    })
}

/// Replicas per shard as ElastiCache reports them: the fewest members of any node
/// group, less the primary.
pub fn observed_replicas(group: &ReplicationGroup) -> Option<i32> {
    let members = group
        .node_groups()
        .iter()
        .map(|node_group| node_group.node_group_members().len())
        .min()?;
    i32::try_from(members).ok().map(|members| members - 1)
}

/// The replica change to make, if any.
pub fn replica_change(desired: &DesiredGroup, group: &ReplicationGroup) -> Option<ReplicaChange> {
    let observed = observed_replicas(group)?;
    match observed.cmp(&desired.replicas_per_shard) {
        std::cmp::Ordering::Less => Some(ReplicaChange::Increase(desired.replicas_per_shard)),
        std::cmp::Ordering::Greater => Some(ReplicaChange::Decrease(desired.replicas_per_shard)),
        std::cmp::Ordering::Equal => None,
    }
}

/// The shard change to make in cluster mode, if any; removing drops the node groups
/// with the highest ids.
pub fn shard_change(desired: &DesiredGroup, group: &ReplicationGroup) -> Option<ShardChange> {
    if !desired.cluster_mode() || group.node_groups().len() < 2 {
        return None;
    }
    let observed = i32::try_from(group.node_groups().len()).ok()?;
    if observed == desired.shards {
        return None;
    }
    let mut ids = sorted_ids(group.node_groups(), NodeGroup::node_group_id);
    let keep = usize::try_from(desired.shards).unwrap_or(usize::MAX);
    let remove = if observed > desired.shards {
        ids.split_off(keep.min(ids.len()))
    } else {
        Vec::new()
    };
    Some(ShardChange {
        count: desired.shards,
        remove,
    })
}

/// The ids `id` reads from `items` (those that have one), sorted: ElastiCache's order is
/// not the spec's.
fn sorted_ids<T>(items: &[T], id: impl Fn(&T) -> Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .filter_map(|item| id(item).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
