//! The ElastiCache calls a CacheCluster makes on a fresh account, for `tiered render`
//! (issue 13 part 5): the owned cache parameter group of `spec.parameters`
//! (CreateCacheParameterGroup, ModifyCacheParameterGroup), CreateReplicationGroup (with
//! `SnapshotName` for a restore; AddTagsToResource instead for an adoption), and one
//! CreateSnapshot per `spec.snapshots` name, filled in by the controller's own request
//! builders where it has them (never sent). The AUTH token is [`REDACTED`]; values only
//! ElastiCache knows are named in angle brackets. Pure: the offline client has no
//! credentials and is never used to send.

use serde_norway::{Mapping, Value};

use crate::api::CacheClusterSpec;
use crate::aws::elasticache_actions::{
    ADD_TAGS_TO_RESOURCE, CREATE_CACHE_PARAMETER_GROUP, CREATE_REPLICATION_GROUP, CREATE_SNAPSHOT,
    MODIFY_CACHE_PARAMETER_GROUP,
};
use crate::aws::naming::{elasticache_replication_group_id, stored_identifier};
use crate::aws::tags::resource_tags;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::listing::{
    Parameters, REDACTED, claim_call, offline_config, offline_owner, strings,
};
use crate::controllers::data_tier::secret::Password;

use crate::controllers::cache_cluster::desired::{DesiredGroup, create_group_request};
use crate::controllers::cache_cluster::parameters::{group_description, wanted_parameters};
use crate::controllers::cache_cluster::restore::restore_request;
use crate::controllers::cache_cluster::snapshots::{SnapshotSource, create_snapshot_request};

/// The plan of one CacheCluster, ready to print as YAML.
#[derive(Clone, Debug, PartialEq)]
pub struct CachePlan {
    /// The replication group id.
    pub id: String,
    /// `{action, parameters}` per AWS call, in order.
    pub calls: Vec<Value>,
}

/// An ElastiCache client that only builds requests ([`offline_config`]), for the plan
/// and the request builders' tests.
pub(crate) fn client() -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::new(&offline_config())
}

/// The plan of `spec` for the object `namespace/name` in `cluster`.
///
/// # Errors
/// [`InvalidSpec`] when the spec asks for what the controller refuses.
pub fn cache_plan(
    spec: &CacheClusterSpec,
    cluster: &str,
    namespace: &str,
    name: &str,
) -> Result<CachePlan, InvalidSpec> {
    let owner = offline_owner(cluster, namespace, name);
    let id = match &spec.adopt {
        Some(adopt) => stored_identifier(&adopt.replication_group_id),
        None => elasticache_replication_group_id(cluster, namespace, name),
    };
    let desired = DesiredGroup::from_spec(spec, id.clone(), resource_tags(&owner, &spec.tags))?;
    let client = client();
    let mut calls = Vec::new();
    if let Some((group, family)) = &desired.owned_parameter_group {
        calls.extend(parameter_calls(&desired, group, family));
    }
    if spec.adopt.is_some() {
        let group = format!("replication group {id}");
        calls.push(claim_call(
            ADD_TAGS_TO_RESOURCE,
            &group,
            &desired.common.tags,
        ));
    } else {
        calls.push(create_call(&client, spec, &desired, name, namespace));
    }
    let source = if desired.cluster_mode() {
        SnapshotSource::Group(id.clone())
    } else {
        SnapshotSource::Node(format!("<a replica node of {id}, from ElastiCache>"))
    };
    for snapshot in &desired.snapshots {
        let request =
            create_snapshot_request(client.create_snapshot(), &desired, &source, snapshot);
        let input = request.as_input();
        let mut p = Parameters::new();
        p.put("SnapshotName", input.get_snapshot_name());
        p.put("ReplicationGroupId", input.get_replication_group_id());
        p.put("CacheClusterId", input.get_cache_cluster_id());
        p.tags(input.get_tags().as_ref());
        calls.push(p.call(CREATE_SNAPSHOT));
    }
    Ok(CachePlan { id, calls })
}

/// CreateCacheParameterGroup and ModifyCacheParameterGroup of the owned group.
fn parameter_calls(desired: &DesiredGroup, group: &str, family: &str) -> Vec<Value> {
    let mut create = Parameters::new();
    create.put("CacheParameterGroupName", Some(group));
    create.put("CacheParameterGroupFamily", Some(family));
    create.put("Description", Some(group_description(&desired.id)));
    create.tag_map(&desired.common.tags);
    let values: Mapping = wanted_parameters(desired)
        .into_iter()
        .map(|(name, value)| (Value::from(name), Value::from(value)))
        .collect();
    let mut modify = Parameters::new();
    modify.put("CacheParameterGroupName", Some(group));
    modify.put("ParameterNameValues", Some(Value::Mapping(values)));
    vec![
        create.call(CREATE_CACHE_PARAMETER_GROUP),
        modify.call(MODIFY_CACHE_PARAMETER_GROUP),
    ]
}

/// CreateReplicationGroup as the controller fills it in, the AUTH token redacted.
fn create_call(
    client: &aws_sdk_elasticache::Client,
    spec: &CacheClusterSpec,
    desired: &DesiredGroup,
    name: &str,
    namespace: &str,
) -> Value {
    let redacted = Password::from_secret_value(REDACTED.to_owned());
    let request = restore_request(
        create_group_request(
            client.create_replication_group(),
            desired,
            &format!("tiered CacheCluster {namespace}/{name}"),
            Some(&redacted),
        ),
        spec,
    );
    let input = request.as_input();
    let mut p = Parameters::new();
    p.put("ReplicationGroupId", input.get_replication_group_id());
    p.put(
        "ReplicationGroupDescription",
        input.get_replication_group_description(),
    );
    p.put("SnapshotName", input.get_snapshot_name());
    p.put("Engine", input.get_engine());
    p.put("EngineVersion", input.get_engine_version());
    p.put(
        "CacheParameterGroupName",
        input.get_cache_parameter_group_name(),
    );
    p.put("CacheNodeType", input.get_cache_node_type());
    p.put("NumNodeGroups", input.get_num_node_groups());
    p.put("ReplicasPerNodeGroup", input.get_replicas_per_node_group());
    p.put(
        "ClusterMode",
        input
            .get_cluster_mode()
            .as_ref()
            .map(|mode| mode.as_str().to_owned()),
    );
    p.put(
        "AutomaticFailoverEnabled",
        input.get_automatic_failover_enabled(),
    );
    p.put("MultiAZEnabled", input.get_multi_az_enabled());
    p.put(
        "TransitEncryptionEnabled",
        input.get_transit_encryption_enabled(),
    );
    p.put(
        "AtRestEncryptionEnabled",
        input.get_at_rest_encryption_enabled(),
    );
    p.put(
        "AuthToken",
        input.get_auth_token().as_ref().map(|_| REDACTED),
    );
    p.put("CacheSubnetGroupName", input.get_cache_subnet_group_name());
    p.put(
        "SecurityGroupIds",
        strings(input.get_security_group_ids().as_ref()),
    );
    p.put(
        "SnapshotRetentionLimit",
        input.get_snapshot_retention_limit(),
    );
    p.put("SnapshotWindow", input.get_snapshot_window());
    p.put(
        "PreferredMaintenanceWindow",
        input.get_preferred_maintenance_window(),
    );
    p.tags(input.get_tags().as_ref());
    p.call(CREATE_REPLICATION_GROUP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::cache_cluster::desired::tests::spec;

    fn actions(plan: &CachePlan) -> Vec<&str> {
        plan.calls
            .iter()
            .filter_map(|call| call["action"].as_str())
            .collect()
    }

    #[test]
    fn a_fresh_cache_plans_one_create_with_its_tags_and_a_redacted_token() {
        let plan = cache_plan(&spec(&serde_json::json!({})), "prod", "shop", "cache").unwrap();
        assert_eq!(actions(&plan), ["elasticache:CreateReplicationGroup"]);
        let create = &plan.calls[0]["parameters"];
        assert_eq!(create["ReplicationGroupId"], Value::from(plan.id.clone()));
        assert_eq!(create["AuthToken"], Value::from(REDACTED));
        assert_eq!(create["Tags"]["tiered.io/cluster"], Value::from("prod"));
        assert!(create.get("SnapshotName").is_none());
    }

    #[test]
    fn every_day_two_call_is_listed_in_order_and_the_token_never_shows() {
        let spec = spec(&serde_json::json!({
            "shards": 2,
            "parameters": {"maxmemory-policy": "allkeys-lru"},
            "snapshots": [{"name": "before-upgrade"}],
            "restoreFrom": {"snapshotName": "nightly-1"}
        }));
        let plan = cache_plan(&spec, "prod", "shop", "cache").unwrap();
        assert_eq!(
            actions(&plan),
            [
                "elasticache:CreateCacheParameterGroup",
                "elasticache:ModifyCacheParameterGroup",
                "elasticache:CreateReplicationGroup",
                "elasticache:CreateSnapshot"
            ]
        );
        let group = format!("{}-valkey8", plan.id);
        let modify = &plan.calls[1]["parameters"];
        assert_eq!(
            modify["CacheParameterGroupName"],
            Value::from(group.as_str())
        );
        assert_eq!(
            modify["ParameterNameValues"]["cluster-enabled"],
            Value::from("yes")
        );
        let create = &plan.calls[2]["parameters"];
        assert_eq!(create["SnapshotName"], Value::from("nightly-1"));
        assert_eq!(
            create["CacheParameterGroupName"],
            Value::from(group.as_str())
        );
        let snapshot = &plan.calls[3]["parameters"];
        assert_eq!(
            snapshot["SnapshotName"],
            Value::from(format!("{}-snap-before-upgrade", plan.id))
        );
        assert_eq!(snapshot["ReplicationGroupId"], Value::from(plan.id.clone()));
        let text = serde_norway::to_string(&plan.calls).unwrap();
        assert!(text.contains("AuthToken: <generated>"), "{text}");
    }
}
