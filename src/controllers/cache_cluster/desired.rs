//! The replication group a CacheCluster asks for ([`DesiredGroup`]), the checks only
//! the operator can make, and the CreateReplicationGroup request built from it. Pure:
//! the request builder fills in a fluent builder and never sends it.

use std::collections::BTreeMap;

use aws_sdk_elasticache::operation::create_replication_group::builders::CreateReplicationGroupFluentBuilder;
use aws_sdk_elasticache::types::ClusterMode;

use crate::api::CacheClusterSpec;
use crate::api::cache_cluster::CacheEngine;
use crate::aws::tags::to_elasticache_tags;
use crate::controllers::data_tier::desired::Common;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::secret::Password;
use crate::controllers::data_tier::spec::SharedSpec;

use crate::controllers::cache_cluster::parameters::owned_group;
use crate::controllers::cache_cluster::version::cluster_mode_parameter_group;

/// The port of a Valkey / Redis OSS replication group.
pub const DEFAULT_PORT: i32 = 6379;

/// The owned settings of the replication group, as ElastiCache names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredGroup {
    /// Replication group id.
    pub id: String,
    /// The engine (creation only).
    pub engine: CacheEngine,
    /// Engine version; `None` takes ElastiCache's default at creation and is never
    /// changed afterwards.
    pub engine_version: Option<String>,
    /// Cache parameter group at creation: the spec's; in cluster mode without one,
    /// `default.<family>.cluster.on` for the engine version. Not compared afterwards
    /// (see `spec.parameterGroupName`).
    pub parameter_group: Option<String>,
    /// Node type.
    pub node_type: String,
    /// Number of shards (node groups); more than 1 is cluster mode.
    pub shards: i32,
    /// Replicas in each shard.
    pub replicas_per_shard: i32,
    /// Automatic failover.
    pub automatic_failover: bool,
    /// Multi-AZ.
    pub multi_az: bool,
    /// TLS in transit (creation only).
    pub transit_encryption: bool,
    /// AUTH token (creation only).
    pub auth_token: bool,
    /// Encryption at rest (creation only).
    pub at_rest_encryption: bool,
    /// Subnet group, security groups, maintenance window, apply now, tags.
    pub common: Common,
    /// Snapshot retention in days; `None` leaves it as it is.
    pub snapshot_retention_days: Option<i32>,
    /// Snapshot window; `None` leaves it as it is.
    pub snapshot_window: Option<String>,
    /// Names of the manual snapshots to take once (`spec.snapshots`).
    pub snapshots: Vec<String>,
    /// Engine parameters (`spec.parameters`).
    pub parameters: BTreeMap<String, String>,
    /// The cache parameter group tiered owns for them (name, family); `None` without
    /// parameters.
    pub owned_parameter_group: Option<(String, String)>,
}

impl DesiredGroup {
    /// The desired group for `spec`, named `id`, carrying `tags`.
    pub fn from_spec(
        spec: &CacheClusterSpec,
        id: String,
        tags: BTreeMap<String, String>,
    ) -> Result<Self, InvalidSpec> {
        let auth_token = spec.auth_token.unwrap_or(spec.transit_encryption);
        let invalid = |field, reason: &str| {
            Err(InvalidSpec {
                field,
                reason: reason.to_owned(),
            })
        };
        if auth_token && !spec.transit_encryption {
            return invalid(
                "spec.authToken",
                "an AUTH token needs transitEncryption: true",
            );
        }
        if spec.multi_az && !spec.automatic_failover {
            return invalid("spec.multiAZ", "multiAZ needs automaticFailover: true");
        }
        if spec.automatic_failover && spec.replicas_per_shard < 1 {
            return invalid(
                "spec.replicasPerShard",
                "automaticFailover (on by default) needs at least 1 replica per shard: set replicasPerShard, or automaticFailover: false for a group without replicas",
            );
        }
        if spec.shards > 1 && !spec.automatic_failover {
            return invalid(
                "spec.shards",
                "more than one shard (cluster mode) needs automaticFailover: true",
            );
        }
        if !(0..=5).contains(&spec.replicas_per_shard) || spec.shards < 1 {
            return invalid(
                "spec.replicasPerShard",
                "replicasPerShard must be 0 to 5 and shards at least 1",
            );
        }
        let parameter_group = match (&spec.parameter_group_name, &spec.engine_version) {
            (Some(named), _) => Some(named.clone()),
            (None, _) if spec.shards <= 1 => None,
            (None, Some(version)) => Some(
                cluster_mode_parameter_group(spec.engine, version).ok_or_else(|| InvalidSpec {
                    field: "spec.engineVersion",
                    reason: format!(
                        "cluster mode needs the parameter group family of engine version {version}, which tiered cannot read; give major.minor (e.g. 7.1) or set spec.parameterGroupName"
                    ),
                })?,
            ),
            (None, None) => {
                return invalid(
                    "spec.engineVersion",
                    "more than one shard (cluster mode) needs engineVersion or parameterGroupName: the default cluster-mode parameter group default.<family>.cluster.on depends on the engine version",
                );
            }
        };
        // With spec.parameters (never with parameterGroupName, by the CRD's rules) the
        // group is created with the parameter group tiered owns.
        let owned_parameter_group = if spec.parameters.is_empty() {
            None
        } else {
            Some(owned_group(
                &id,
                spec.engine,
                spec.engine_version.as_deref(),
            )?)
        };
        let parameter_group = owned_parameter_group
            .as_ref()
            .map(|(name, _)| name.clone())
            .or(parameter_group);
        Ok(Self {
            id,
            engine: spec.engine,
            engine_version: spec.engine_version.clone(),
            parameter_group,
            node_type: spec.node_type.clone(),
            shards: spec.shards,
            replicas_per_shard: spec.replicas_per_shard,
            automatic_failover: spec.automatic_failover,
            multi_az: spec.multi_az,
            transit_encryption: spec.transit_encryption,
            auth_token,
            at_rest_encryption: spec.at_rest_encryption,
            common: Common::from_spec(spec.common(), tags),
            snapshot_retention_days: spec.snapshot.as_ref().map(|s| s.retention_days),
            snapshot_window: spec.snapshot.as_ref().and_then(|s| s.window.clone()),
            snapshots: crate::controllers::data_tier::snapshots::requested_names(&spec.snapshots),
            parameters: spec.parameters.clone(),
            owned_parameter_group,
        })
    }

    /// Whether the group runs in cluster mode (more than one shard).
    pub const fn cluster_mode(&self) -> bool {
        self.shards > 1
    }
}

/// The ElastiCache engine name.
pub const fn engine_name(engine: CacheEngine) -> &'static str {
    match engine {
        CacheEngine::Valkey => "valkey",
        CacheEngine::Redis => "redis",
    }
}

/// Fills in CreateReplicationGroup for `desired`; `token` is the AUTH token (sent
/// only when `desired.auth_token`). The SDK does not redact the token in the request's
/// `Debug` (aws-sdk-elasticache 1.110): never log the request.
pub fn create_group_request(
    request: CreateReplicationGroupFluentBuilder,
    desired: &DesiredGroup,
    description: &str,
    token: Option<&Password>,
) -> CreateReplicationGroupFluentBuilder {
    let mut request = request
        .replication_group_id(&desired.id)
        .replication_group_description(description)
        .engine(engine_name(desired.engine))
        .set_engine_version(desired.engine_version.clone())
        .set_cache_parameter_group_name(desired.parameter_group.clone())
        .cache_node_type(&desired.node_type)
        .num_node_groups(desired.shards)
        .replicas_per_node_group(desired.replicas_per_shard)
        .automatic_failover_enabled(desired.automatic_failover)
        .multi_az_enabled(desired.multi_az)
        .transit_encryption_enabled(desired.transit_encryption)
        .at_rest_encryption_enabled(desired.at_rest_encryption)
        .set_cache_subnet_group_name(desired.common.subnet_group_name.clone())
        .set_snapshot_retention_limit(desired.snapshot_retention_days)
        .set_snapshot_window(desired.snapshot_window.clone())
        .set_preferred_maintenance_window(desired.common.maintenance_window.clone())
        .set_tags(Some(to_elasticache_tags(&desired.common.tags)));
    if desired.cluster_mode() {
        request = request.cluster_mode(ClusterMode::Enabled);
    }
    if !desired.common.security_group_ids.is_empty() {
        request = request.set_security_group_ids(Some(desired.common.security_group_ids.clone()));
    }
    if desired.auth_token {
        request = request.set_auth_token(token.map(|token| token.expose().to_owned()));
    }
    request
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controllers::data_tier::testing::assert_mentions;

    pub(crate) fn spec(extra: &serde_json::Value) -> CacheClusterSpec {
        let mut base = serde_json::json!({
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.r7g.large",
            "replicasPerShard": 2,
            "network": {"subnetGroupName": "app-cache", "securityGroupIds": ["sg-0bbb1234", "sg-0aaa1234"]},
            "snapshot": {"retentionDays": 5, "window": "04:00-05:00"},
            "maintenanceWindow": "Sun:05:00-Sun:06:00"
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                base.insert(key.clone(), value.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    pub(crate) fn desired(extra: &serde_json::Value) -> DesiredGroup {
        DesiredGroup::from_spec(
            &spec(extra),
            "test-shop-cache-1234abcd".into(),
            BTreeMap::new(),
        )
        .unwrap()
    }

    #[test]
    fn spec_becomes_elasticache_settings_with_defaults() {
        let desired = desired(&serde_json::json!({}));
        assert!(desired.transit_encryption && desired.at_rest_encryption);
        assert!(
            desired.auth_token,
            "authToken defaults to transitEncryption"
        );
        assert!(desired.automatic_failover && desired.multi_az);
        assert_eq!(desired.shards, 1);
        assert!(!desired.cluster_mode());
        assert_eq!(
            desired.common.security_group_ids,
            ["sg-0aaa1234", "sg-0bbb1234"]
        );
        assert_eq!(
            desired.common.maintenance_window.as_deref(),
            Some("sun:05:00-sun:06:00")
        );
        assert_eq!(desired.snapshot_retention_days, Some(5));
    }

    #[test]
    fn no_transit_encryption_means_no_auth_token_by_default() {
        let desired = desired(&serde_json::json!({"transitEncryption": false}));
        assert!(!desired.auth_token);
    }

    #[test]
    fn table_of_invalid_specs_names_the_field() {
        let cases = [
            (
                serde_json::json!({"transitEncryption": false, "authToken": true}),
                "spec.authToken",
            ),
            (
                serde_json::json!({"automaticFailover": false}),
                "spec.multiAZ",
            ),
            (
                serde_json::json!({"replicasPerShard": 0}),
                "spec.replicasPerShard",
            ),
            (
                serde_json::json!({"automaticFailover": false, "multiAZ": false, "shards": 2}),
                "spec.shards",
            ),
        ];
        for (extra, field) in cases {
            let error =
                DesiredGroup::from_spec(&spec(&extra), "x".into(), BTreeMap::new()).unwrap_err();
            assert_eq!(error.field, field, "{extra}");
        }
        // The user never set automaticFailover (on by default): the message says how to
        // do without replicas (found by an outside review).
        let error = DesiredGroup::from_spec(
            &spec(&serde_json::json!({"replicasPerShard": 0, "multiAZ": false})),
            "x".into(),
            BTreeMap::new(),
        )
        .unwrap_err();
        assert_mentions(&error.reason, &["automaticFailover: false"]);
    }
}
