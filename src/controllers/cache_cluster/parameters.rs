//! Engine parameters of a CacheCluster (issue 13 part 4): `spec.parameters` in a cache
//! parameter group tiered creates and owns for the engine family
//! (`<replication group id>-<family>`, e.g. `…-valkey8`, tagged as ours), with
//! `cluster-enabled: yes` when the group has more than one shard (cluster mode needs
//! it, and a reset must never take it away). A new group is created with it
//! ([`ElastiCache::prepare_parameter_group`] runs before CreateReplicationGroup); an
//! existing one gets it attached by ModifyReplicationGroup. Each pass reads the group's
//! user-set parameters (DescribeCacheParameters, `Source=user`), sets what differs
//! (ModifyCacheParameterGroup, at most 20 a call) and resets what the spec no longer
//! names (ResetCacheParameterGroup: the family default). ElastiCache applies each
//! parameter as its `ChangeType` says; whether a reboot is pending is the node's
//! `ParameterApplyStatus` (`pending-reboot`), reported in status: tiered never reboots
//! a cache node. A parameter ElastiCache refuses is `Stalled` naming
//! `spec.parameters.<name>` and ElastiCache's words. The group is deleted once the
//! replication group is gone (`Snapshot`, `Delete`), never before, and kept with
//! `Retain`. moto 5.2.5 has no cache parameter groups: the calls are tested with
//! aws-smithy-mocks (tests/it/cache_parameters.rs). The steps both kinds take on their
//! group (claim, ownership, set and reset in batches) are
//! `crate::controllers::data_tier::parameter_calls`.

use std::collections::BTreeMap;

use aws_sdk_elasticache::types::{CacheCluster, ParameterNameValue};

use crate::api::cache_cluster::CacheEngine;
use crate::api::parameters::ParameterGroupStatus;
use crate::aws::elasticache_actions::{
    CREATE_CACHE_PARAMETER_GROUP, DELETE_CACHE_PARAMETER_GROUP, DESCRIBE_CACHE_PARAMETER_GROUPS,
    DESCRIBE_CACHE_PARAMETERS, MODIFY_CACHE_PARAMETER_GROUP, MODIFY_REPLICATION_GROUP,
    RESET_CACHE_PARAMETER_GROUP,
};
use crate::aws::errors::{AwsError, ErrorKind, sent};
use crate::aws::pages::all_pages;
use crate::aws::tags::{Owner, to_elasticache_tags};
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::parameter_calls::{
    GroupPass, GroupStep, ParameterCalls, Refused, apply_changes, applying, attaching,
    converge_group, values,
};
use crate::controllers::data_tier::parameter_groups::{
    self, Claim, Retirement, claim_group, group_calls,
};
use crate::controllers::data_tier::parameters::{
    self, foreign_group_message, parameter_changes, parameter_group_name,
};
use crate::controllers::data_tier::status::Progress;

use crate::controllers::cache_cluster::desired::DesiredGroup;
use crate::controllers::cache_cluster::elasticache::ElastiCache;
use crate::controllers::cache_cluster::status::Report;
use crate::controllers::cache_cluster::version::parameter_group_family;

/// The parameter cluster mode needs in a custom group.
pub const CLUSTER_ENABLED: &str = "cluster-enabled";
pub use crate::controllers::data_tier::parameters::PENDING_REBOOT;
/// How ElastiCache is named in messages.
const SERVICE: &str = "ElastiCache";

/// The cache parameter group tiered owns for `id`: its name and family, for `engine`
/// at `version`.
///
/// # Errors
/// [`InvalidSpec`] on `spec.engineVersion` when its family cannot be read.
pub fn owned_group(
    id: &str,
    engine: CacheEngine,
    version: Option<&str>,
) -> Result<(String, String), InvalidSpec> {
    let family = version
        .and_then(|version| parameter_group_family(engine, version))
        .ok_or_else(|| InvalidSpec {
            field: "spec.engineVersion",
            reason: format!(
                "spec.parameters needs the cache parameter group family of engineVersion {}, which tiered cannot read; give major.minor (e.g. 7.1)",
                version.unwrap_or("(unset)")
            ),
        })?;
    Ok((parameter_group_name(id, &family), family))
}

/// The description of the group tiered owns for the replication group `id`.
pub fn group_description(id: &str) -> String {
    format!("tiered: spec.parameters of replication group {id}")
}

/// The parameters the owned group holds: the spec's, and `cluster-enabled: yes` in
/// cluster mode.
pub fn wanted_parameters(desired: &DesiredGroup) -> BTreeMap<String, String> {
    let mut wanted = desired.parameters.clone();
    if desired.cluster_mode() {
        wanted.insert(CLUSTER_ENABLED.to_owned(), "yes".to_owned());
    }
    wanted
}

/// The group's status on the node `member`: its apply status, whether a reboot is
/// pending.
pub fn group_status(
    member: Option<&CacheCluster>,
    name: &str,
    family: &str,
) -> ParameterGroupStatus {
    let apply_status = member
        .and_then(CacheCluster::cache_parameter_group)
        .filter(|group| group.cache_parameter_group_name() == Some(name))
        .and_then(|group| group.parameter_apply_status().map(str::to_owned));
    parameters::group_status(name, family, apply_status)
}

/// Whether the node `member` uses the group `name`.
fn attached(member: Option<&CacheCluster>, name: &str) -> bool {
    member
        .and_then(CacheCluster::cache_parameter_group)
        .and_then(|group| group.cache_parameter_group_name())
        == Some(name)
}

/// Whether `error` says the cache parameter group does not exist. ElastiCache answers
/// `CacheParameterGroupNotFound`, which the shared classification counts as an invalid
/// spec (a group the spec names that is missing); for the group tiered owns it means
/// not made yet, or gone.
fn group_missing(error: &AwsError) -> bool {
    error.kind == ErrorKind::NotFound
        || error
            .code
            .as_deref()
            .is_some_and(|code| code.starts_with("CacheParameterGroupNotFound"))
}

/// The error of a refused ModifyCacheParameterGroup at creation, naming the fields.
fn refused_at_creation(refused: Refused) -> AwsError {
    let Refused { names, mut error } = refused;
    let fields: Vec<String> = names
        .iter()
        .map(|name| format!("spec.parameters.{name}"))
        .collect();
    error.message = Some(format!(
        "{}: {SERVICE} refused the parameter ({}); fix or remove it",
        fields.join(", "),
        error.aws_message()
    ));
    error
}

/// What [`foreign_group`] calls the group.
const KIND: &str = "cache parameter group";

/// The refusal of a foreign group of our name before CreateReplicationGroup, as
/// CreateCacheParameterGroup would refuse the name (`Conflict`), in the words of
/// [`foreign_group`].
fn foreign_group_error(group: &str) -> AwsError {
    let message = foreign_group_message(KIND, group);
    AwsError {
        kind: ErrorKind::Conflict,
        operation: CREATE_CACHE_PARAMETER_GROUP,
        code: Some("CacheParameterGroupAlreadyExists".to_owned()),
        message: Some(message.clone()),
        source: Box::new(std::io::Error::other(message)),
    }
}

impl ElastiCache {
    /// Before CreateReplicationGroup: the owned group exists and holds the wanted
    /// parameters, so the replication group starts with them. Nothing without
    /// `spec.parameters`.
    ///
    /// # Errors
    /// A refused parameter as an invalid request naming `spec.parameters.<name>`.
    pub async fn prepare_parameter_group(&self, desired: &DesiredGroup) -> Result<(), AwsError> {
        let Some((group, family)) = desired.owned_parameter_group.as_ref() else {
            return Ok(());
        };
        match claim_group(
            self,
            group,
            family,
            group_description(&desired.id),
            &desired.common.tags,
        )
        .await?
        {
            Claim::Created | Claim::Ours => {}
            // Refused as CreateCacheParameterGroup would be (the name is taken), with
            // the words of the stall a later pass gives.
            Claim::Foreign => return Err(foreign_group_error(group)),
        }
        let current = self.user_parameters(group).await?;
        let changes = parameter_changes(&wanted_parameters(desired), &values::<Self>(&current));
        let mut mutations = 0;
        match apply_changes(self, group, &current, &changes, &mut mutations).await? {
            None => Ok(()),
            Some(refused) => Err(refused_at_creation(refused)),
        }
    }

    /// Brings the group's parameters to `desired`'s on an available group; `None`
    /// when they are (also when the spec has none and tiered made no group).
    pub async fn converge_parameters(
        &self,
        desired: &DesiredGroup,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        let version = desired.engine_version.as_deref().or_else(|| {
            report
                .observed
                .member
                .as_ref()
                .and_then(CacheCluster::engine_version)
        });
        let Ok((group, family)) = owned_group(&desired.id, desired.engine, version) else {
            return Ok(None);
        };
        let member = report.observed.member.clone();
        let is_attached = attached(member.as_ref(), &group);
        let wanted = wanted_parameters(desired);
        let description = group_description(&desired.id);
        let pass = GroupPass {
            group: &group,
            family: &family,
            wanted: &wanted,
            requested: !desired.parameters.is_empty(),
            attached: is_attached,
            description: &description,
            tags: &desired.common.tags,
        };
        let (mutated, changes) = match converge_group(self, pass, &mut report.mutations).await? {
            GroupStep::Stop(progress) => return Ok(progress),
            GroupStep::Applied { mutated, changes } => (mutated, changes),
        };
        let status = group_status(member.as_ref(), &group, &family);
        let pending_reboot = status.pending_reboot;
        report.observed.parameter_group = Some(status);
        if !is_attached && member.is_none() {
            // Which group the nodes use is known only from a node: attaching blind
            // would send ModifyReplicationGroup on every pass.
            return Ok(Some(Progress::aws_in_progress(format!(
                "waiting for ElastiCache to describe a node of {} before attaching cache parameter group {group}",
                desired.id
            ))));
        }
        if !is_attached {
            self.elasticache
                .modify_replication_group()
                .replication_group_id(&desired.id)
                .cache_parameter_group_name(&group)
                .apply_immediately(desired.common.apply_immediately)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(MODIFY_REPLICATION_GROUP, e))?;
            return Ok(Some(attaching::<Self>(
                &desired.id,
                &group,
                &mut report.mutations,
            )));
        }
        if mutated {
            return Ok(Some(applying::<Self>(&desired.id, &group, &changes)));
        }
        Ok(pending_reboot.then(|| Progress::Ready {
            message: format!(
                "cache parameter group {group} has changes that ElastiCache applies at the next reboot of the nodes (tiered does not reboot cache nodes)"
            ),
        }))
    }

    /// Deletes the cache parameter groups tiered made for the (deleted) replication
    /// group `id` whose tags name `owner` (the shared
    /// [`parameter_groups::retire_parameter_groups`]).
    ///
    /// # Errors
    /// The first failed list, describe, tag read or delete.
    pub async fn delete_parameter_groups(&self, id: &str, owner: &Owner) -> Result<(), AwsError> {
        parameter_groups::retire_parameter_groups(self, id, owner, Retirement::Delete).await
    }
}

/// ElastiCache's calls on the parameters of a cache parameter group, for the shared
/// steps.
impl ParameterCalls for ElastiCache {
    const SERVICE: &'static str = SERVICE;
    type Parameter = String;
    type ApplyTypes = ();

    fn value(parameter: &String) -> &str {
        parameter
    }

    async fn user_parameters(&self, group: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let parameters = all_pages(|marker| async move {
            let output = self
                .elasticache
                .describe_cache_parameters()
                .cache_parameter_group_name(group)
                .source("user")
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(DESCRIBE_CACHE_PARAMETERS, e))?;
            Ok((
                output.parameters().to_vec(),
                output.marker().map(str::to_owned),
            ))
        })
        .await?;
        Ok(parameters
            .iter()
            .filter_map(|parameter| {
                Some((
                    parameter.parameter_name()?.to_owned(),
                    parameter.parameter_value().unwrap_or_default().to_owned(),
                ))
            })
            .collect())
    }

    /// Nothing: ElastiCache applies each parameter as its `ChangeType` says.
    async fn apply_types(&self, _group: &str) -> Result<(), AwsError> {
        Ok(())
    }

    async fn send_set(
        &self,
        group: &str,
        batch: &[(String, String)],
        (): &(),
    ) -> Result<(), AwsError> {
        let values = batch
            .iter()
            .map(|(name, value)| {
                ParameterNameValue::builder()
                    .parameter_name(name)
                    .parameter_value(value)
                    .build()
            })
            .collect();
        let request = self
            .elasticache
            .modify_cache_parameter_group()
            .cache_parameter_group_name(group)
            .set_parameter_name_values(Some(values));
        sent(MODIFY_CACHE_PARAMETER_GROUP, request.send())
            .await
            .map(drop)
    }

    async fn send_reset(
        &self,
        group: &str,
        batch: &[String],
        _current: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let names = batch
            .iter()
            .map(|name| ParameterNameValue::builder().parameter_name(name).build())
            .collect();
        let request = self
            .elasticache
            .reset_cache_parameter_group()
            .cache_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameter_name_values(Some(names));
        sent(RESET_CACHE_PARAMETER_GROUP, request.send())
            .await
            .map(drop)
    }
}

// ElastiCache's calls on cache parameter groups, for the shared steps.
group_calls! {
    ElastiCache, elasticache, kind: KIND, tags: to_elasticache_tags,
    describe: describe_cache_parameter_groups(DESCRIBE_CACHE_PARAMETER_GROUPS)
        -> cache_parameter_groups,
    create: create_cache_parameter_group(CREATE_CACHE_PARAMETER_GROUP),
    delete: delete_cache_parameter_group(DELETE_CACHE_PARAMETER_GROUP),
    fields: cache_parameter_group_name, cache_parameter_group_family, arn,
    missing: group_missing,
}

#[cfg(test)]
#[path = "parameters_tests.rs"]
mod tests;
