//! The next step for an available replication group, in the order ElastiCache
//! accepts: what cannot change in place stalls; then the owned fields
//! (ModifyReplicationGroup), with automatic failover and Multi-AZ held back until the
//! group has a replica; then replicas; then shards. One step per pass: the group is
//! `modifying` after each, and the next pass describes it again. Pure; the calls are
//! in `elasticache`.
//!
//! Why the order: ElastiCache refuses to enable automatic failover or Multi-AZ on a
//! group without a replica (`InvalidParameterCombination`), so going from 0 to 1
//! replica with both in one edit must add the replica first (pulumi/pulumi-aws#2227);
//! and it refuses to remove the last replica while either is on, so turning them off
//! comes first (the diff sends that before any replica change, and a group still
//! `disabling` is waited for).

use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, MultiAzStatus, ReplicationGroup,
};

use crate::controllers::cache_cluster::desired::DesiredGroup;
use crate::controllers::cache_cluster::diff::{
    Modification, ReplicaChange, ShardChange, Unsupported, diff, engine_downgrade,
    observed_replicas, replica_change, shard_change, unsupported,
};

/// What to do next with an available group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send ModifyReplicationGroup.
    Modify(Modification),
    /// Send Increase/DecreaseReplicaCount.
    Replicas(ReplicaChange),
    /// Send ModifyReplicationGroupShardConfiguration.
    Shards(ShardChange),
    /// Nothing to send until ElastiCache finishes what it is doing: why.
    Wait(String),
    /// The group matches the spec.
    Converged,
}

/// Whether automatic failover or Multi-AZ is still on (or on its way on or off).
fn failover_or_multi_az_on(group: &ReplicationGroup) -> bool {
    let failover = group
        .automatic_failover()
        .is_some_and(|status| *status != AutomaticFailoverStatus::Disabled);
    failover || group.multi_az() == Some(&MultiAzStatus::Enabled)
}

/// The next step for `group` (with its first member `member`) towards `desired`.
///
/// # Errors
/// What ElastiCache cannot change in place: the engine, creation-only switches,
/// cluster mode, an engine downgrade.
pub fn next_step(
    desired: &DesiredGroup,
    group: &ReplicationGroup,
    member: Option<&CacheCluster>,
) -> Result<Step, Unsupported> {
    if let Some(change) = unsupported(desired, group) {
        return Err(change);
    }
    if let Some(change) = engine_downgrade(desired, member) {
        return Err(change);
    }
    let replicas = replica_change(desired, group);
    if let Some(mut modification) = diff(desired, group, member) {
        // Failover and Multi-AZ need a replica: add it first (pulumi/pulumi-aws#2227).
        if observed_replicas(group).is_some_and(|count| count < 1) {
            if modification.automatic_failover == Some(true) {
                modification.automatic_failover = None;
            }
            if modification.multi_az == Some(true) {
                modification.multi_az = None;
            }
        }
        if !modification.changed_fields().is_empty() {
            return Ok(Step::Modify(modification));
        }
    }
    match replicas {
        Some(ReplicaChange::Decrease(0)) if failover_or_multi_az_on(group) => {
            return Ok(Step::Wait(
                "waiting for automatic failover and Multi-AZ to be off before removing the last replica".to_owned(),
            ));
        }
        Some(change) => return Ok(Step::Replicas(change)),
        None => {}
    }
    Ok(shard_change(desired, group).map_or(Step::Converged, Step::Shards))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controllers::cache_cluster::desired::tests::desired;
    use crate::controllers::cache_cluster::diff::tests::{group_with, member_running};
    use crate::controllers::data_tier::error::UnsupportedChange;
    use crate::controllers::data_tier::testing::assert_mentions;

    fn kind(step: &Step) -> String {
        match step {
            Step::Modify(modification) => {
                format!("modify {}", modification.changed_fields().join(","))
            }
            Step::Replicas(ReplicaChange::Increase(n)) => format!("increase {n}"),
            Step::Replicas(ReplicaChange::Decrease(n)) => format!("decrease {n}"),
            Step::Shards(change) => format!("shards {}", change.count),
            Step::Wait(_) => "wait".to_owned(),
            Step::Converged => "converged".to_owned(),
        }
    }

    /// Source: pulumi/pulumi-aws#2227 (0 → 1 replica with automatic failover and
    /// Multi-AZ in one update: ElastiCache refused ModifyReplicationGroup with
    /// `InvalidParameterCombination`), and the ElastiCache guide "Minimizing downtime
    /// with Multi-AZ" (Multi-AZ and automatic failover need at least one replica).
    #[test]
    fn table_of_failover_and_replica_steps_in_the_order_elasticache_accepts() {
        use AutomaticFailoverStatus as F;
        use MultiAzStatus as M;
        let on = json!({"replicasPerShard": 1, "automaticFailover": true, "multiAZ": true});
        let off = json!({"replicasPerShard": 0, "automaticFailover": false, "multiAZ": false});
        let cases = [
            // 0 → 1 replica with failover and Multi-AZ: the replica first …
            (&on, group_with(0, F::Disabled, M::Disabled), "increase 1"),
            // … then, once it is there, failover and Multi-AZ.
            (
                &on,
                group_with(1, F::Disabled, M::Disabled),
                "modify automaticFailover,multiAZ",
            ),
            (&on, group_with(1, F::Enabled, M::Enabled), "converged"),
            // 1 → 0: failover and Multi-AZ off first …
            (
                &off,
                group_with(1, F::Enabled, M::Enabled),
                "modify automaticFailover,multiAZ",
            ),
            // … wait while ElastiCache is still turning failover off …
            (&off, group_with(1, F::Disabling, M::Disabled), "wait"),
            // … then remove the replica.
            (&off, group_with(1, F::Disabled, M::Disabled), "decrease 0"),
            (&off, group_with(0, F::Disabled, M::Disabled), "converged"),
        ];
        for (extra, group, expected) in cases {
            let step = next_step(&desired(extra), &group, None).unwrap();
            assert_eq!(kind(&step), expected, "{extra} against {group:?}");
        }
    }

    #[test]
    fn other_drift_goes_first_and_failover_waits_for_the_replica() {
        let extra = json!({"replicasPerShard": 1, "nodeType": "cache.r7g.xlarge"});
        let step = next_step(
            &desired(&extra),
            &group_with(
                0,
                AutomaticFailoverStatus::Disabled,
                MultiAzStatus::Disabled,
            ),
            None,
        )
        .unwrap();
        assert_eq!(kind(&step), "modify nodeType");
    }

    /// Source: crossplane-contrib/provider-aws#622 (the provider sent the spec's
    /// version on every reconcile, a downgrade after AWS's minor upgrade).
    #[test]
    fn table_of_engine_versions_gives_no_loop_and_no_downgrade() {
        let cases = [
            ("7.0", "7.1.0", Ok("converged")),
            ("6.x", "6.2.6", Ok("converged")),
            ("8.0", "8.0.1", Ok("converged")),
            ("7.1", "7.0.7", Ok("modify engineVersion")),
            ("8.0", "7.1.0", Ok("modify engineVersion")),
            ("7.0", "8.0.1", Err("spec.engineVersion")),
            ("6.x", "7.1.0", Err("spec.engineVersion")),
        ];
        let matching = group_with(2, AutomaticFailoverStatus::Enabled, MultiAzStatus::Enabled);
        for (wanted, running, expected) in cases {
            let desired = desired(&json!({"engineVersion": wanted}));
            let step = next_step(&desired, &matching, Some(&member_running(running)));
            let found = step.as_ref().map(kind).map_err(Unsupported::field);
            assert_eq!(
                found,
                expected.map(str::to_owned),
                "spec {wanted}, AWS {running}"
            );
        }
    }

    #[test]
    fn a_downgrade_says_which_version_runs_and_what_to_set() {
        let desired = desired(&json!({"engineVersion": "7.0"}));
        let matching = group_with(2, AutomaticFailoverStatus::Enabled, MultiAzStatus::Enabled);
        let error = next_step(&desired, &matching, Some(&member_running("8.0.1"))).unwrap_err();
        assert_mentions(&error.to_string(), &["8.0.1", "spec.engineVersion"]);
    }

    /// `engineVersion` omitted: ElastiCache's default runs and is never "upgraded".
    #[test]
    fn without_a_spec_version_the_running_one_is_never_changed() {
        let mut desired = desired(&json!({}));
        desired.engine_version = None;
        let matching = group_with(2, AutomaticFailoverStatus::Enabled, MultiAzStatus::Enabled);
        for running in ["7.1.0", "8.0.1", "6.2.6"] {
            let step = next_step(&desired, &matching, Some(&member_running(running))).unwrap();
            assert_eq!(kind(&step), "converged", "{running}");
        }
    }
}
