//! The checks an existing replication group passes before a CacheCluster adopts it:
//! its engine, cluster mode, and the settings ElastiCache fixes at creation (at-rest
//! and in-transit encryption) must be what the spec says. They run before the claim,
//! so a group that does not match is never tagged as ours (issue 9: every adoption
//! check before the first mutating call), and the message says what to set to adopt
//! it, since the user only named the group.

use aws_sdk_elasticache::types::ReplicationGroup;

use crate::api::cache_cluster::CacheClusterSpec;
use crate::controllers::cache_cluster::desired::engine_name;
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::inspect::check_adopted_engine;

/// Checks that `group` is what `spec` describes, before it is adopted.
///
/// # Errors
/// [`InvalidSpec`] naming the first field that differs and the value to set to adopt
/// the group as it is.
pub fn check_adoptable(
    spec: &CacheClusterSpec,
    group: &ReplicationGroup,
) -> Result<(), InvalidSpec> {
    let id = group.replication_group_id().unwrap_or_default();
    let engine = engine_name(spec.engine);
    let fix = |running: &str| format!("set engine: {running} to adopt it");
    check_adopted_engine(
        &format!("replication group {id}"),
        group.engine(),
        engine,
        fix,
    )?;
    let fixed = [
        (
            "spec.shards",
            group.cluster_enabled(),
            spec.shards > 1,
            "cluster mode",
            "set shards to its number of node groups",
        ),
        (
            "spec.atRestEncryption",
            group.at_rest_encryption_enabled(),
            spec.at_rest_encryption,
            "at-rest encryption",
            "set atRestEncryption to match",
        ),
        (
            "spec.transitEncryption",
            group.transit_encryption_enabled(),
            spec.transit_encryption,
            "in-transit encryption",
            "set transitEncryption to match",
        ),
    ];
    for (field, running, wanted, what, fix) in fixed {
        if let Some(running) = running
            && running != wanted
        {
            let state = |on: bool| if on { "on" } else { "off" };
            return Err(InvalidSpec {
                field,
                reason: format!(
                    "replication group {id} has {what} {}, the spec asks for {}; ElastiCache sets it only at creation: {fix} to adopt it",
                    state(running),
                    state(wanted)
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::data_tier::testing::assert_mentions;

    fn spec() -> CacheClusterSpec {
        serde_json::from_value(serde_json::json!({
            "engine": "redis", "engineVersion": "7.1", "nodeType": "cache.t4g.micro",
            "atRestEncryption": true, "transitEncryption": true
        }))
        .unwrap()
    }

    fn group() -> ReplicationGroup {
        ReplicationGroup::builder()
            .replication_group_id("legacy-cache")
            .engine("redis")
            .cluster_enabled(false)
            .at_rest_encryption_enabled(true)
            .transit_encryption_enabled(true)
            .build()
    }

    /// Found from outside (a new user's trial): a group without at-rest encryption was
    /// tagged as ours before the stall, whose message told the user to set back a field
    /// they had never set.
    #[test]
    fn each_setting_fixed_at_creation_is_checked_and_named_with_the_value_to_set() {
        assert_eq!(check_adoptable(&spec(), &group()), Ok(()));
        let mut plain = group();
        plain.at_rest_encryption_enabled = Some(false);
        let refused = check_adoptable(&spec(), &plain).unwrap_err();
        assert_eq!(refused.field, "spec.atRestEncryption");
        assert_mentions(&refused.reason, &["at-rest encryption off"]);
        let mut clustered = group();
        clustered.cluster_enabled = Some(true);
        assert_eq!(
            check_adoptable(&spec(), &clustered).unwrap_err().field,
            "spec.shards"
        );
        let mut valkey = group();
        valkey.engine = Some("valkey".to_owned());
        assert_eq!(
            check_adoptable(&spec(), &valkey).unwrap_err().field,
            "spec.engine"
        );
        let mut unknown = group();
        unknown.transit_encryption_enabled = None;
        assert_eq!(
            check_adoptable(&spec(), &unknown),
            Ok(()),
            "what AWS does not say is not checked"
        );
    }
}
