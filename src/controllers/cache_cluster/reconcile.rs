//! One CacheCluster against ElastiCache: describe the replication group by its
//! deterministic (or adopted) id, guard ownership, create it or correct drift with a
//! minimal ModifyReplicationGroup, then match replicas and shards. AWS only: the
//! Kubernetes side (Secret, status) is the caller's, in `controller`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, CacheCluster, ReplicationGroup};

use crate::api::CacheClusterSpec;
use crate::aws::elasticache_actions::{
    ADD_TAGS_TO_RESOURCE, CREATE_REPLICATION_GROUP, DECREASE_REPLICA_COUNT,
    DESCRIBE_CACHE_CLUSTERS, DESCRIBE_REPLICATION_GROUPS, INCREASE_REPLICA_COUNT,
    LIST_TAGS_FOR_RESOURCE, MODIFY_REPLICATION_GROUP, MODIFY_SHARD_CONFIGURATION,
};
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::naming::elasticache_replication_group_id;
use crate::aws::tags::{
    Owner, Ownership, elasticache_ownership, resource_tags, to_elasticache_tags,
};
use crate::controllers::data_tier::credentials::Password;
use crate::controllers::data_tier::progress::status_progress;

pub use crate::controllers::cache_cluster::outcome::{Error, Observed, Progress, Report};

use crate::controllers::cache_cluster::desired::{DesiredGroup, create_group_request};
use crate::controllers::cache_cluster::diff::{
    ReplicaChange, diff, replica_change, shard_change, unsupported,
};
use crate::controllers::cache_cluster::state::{phase, stalled_hint};

/// What every reconcile shares: the ElastiCache client and the operator's settings.
#[derive(Clone, Debug)]
pub struct CacheContext {
    /// ElastiCache client.
    pub elasticache: aws_sdk_elasticache::Client,
    /// Cluster name, the `tiered.io/cluster` tag and part of every id.
    pub cluster: String,
    /// Namespaces allowed to adopt existing groups; `None` allows all.
    pub adoption_namespaces: Option<BTreeSet<String>>,
}

/// The object being reconciled.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// Who claims the group.
    pub owner: Owner,
    /// The spec.
    pub spec: &'a CacheClusterSpec,
}

impl Target<'_> {
    /// The replication group id: the adopted one, else the deterministic one.
    pub fn id(&self) -> String {
        match &self.spec.adopt {
            Some(adopt) => adopt.replication_group_id.clone(),
            None => elasticache_replication_group_id(
                &self.owner.cluster,
                &self.owner.namespace,
                &self.owner.name,
            ),
        }
    }

    /// The tags the group carries.
    pub fn tags(&self) -> BTreeMap<String, String> {
        resource_tags(&self.owner, &self.spec.tags)
    }

    fn description(&self) -> String {
        format!(
            "tiered CacheCluster {}/{}",
            self.owner.namespace, self.owner.name
        )
    }
}

/// The AUTH token for this reconcile.
#[derive(Clone, Copy, Debug)]
pub struct AuthToken<'a> {
    /// The token (from the connection Secret); `None` without AUTH.
    pub token: Option<&'a Password>,
    /// The token was generated for this reconcile (the Secret had none): a group that
    /// already exists gets it (rotated in, so the old token keeps working).
    pub is_new: bool,
}

/// Reconciles `target` against ElastiCache once. Never fails: errors become
/// [`Progress`].
pub async fn reconcile(ctx: &CacheContext, target: &Target<'_>, token: AuthToken<'_>) -> Report {
    let mut report = Report {
        id: target.id(),
        observed: Observed::default(),
        progress: Progress::Ready {
            message: String::new(),
        },
        mutations: 0,
    };
    match Box::pin(run(ctx, target, token, &mut report)).await {
        Ok(progress) => report.progress = progress,
        Err(error) => report.progress = error.progress(),
    }
    report
}

async fn run(
    ctx: &CacheContext,
    target: &Target<'_>,
    token: AuthToken<'_>,
    report: &mut Report,
) -> Result<Progress, Error> {
    let id = report.id.clone();
    let desired = DesiredGroup::from_spec(target.spec, id.clone(), target.tags())?;
    let adopting = target.spec.adopt.is_some();
    if adopting
        && let Some(allowed) = &ctx.adoption_namespaces
        && !allowed.contains(&target.owner.namespace)
    {
        return Err(Error::AdoptionNotAllowed {
            id,
            namespace: target.owner.namespace.clone(),
        });
    }

    let group = match describe_group(&ctx.elasticache, &id).await? {
        Some(group) => {
            claim(ctx, target, &group, &desired, report).await?;
            if token.is_new && desired.auth_token {
                let token = token.token.ok_or(Error::MissingToken { id: id.clone() })?;
                rotate_token(ctx, &id, token).await?;
                report.mutations += 1;
            }
            group
        }
        None if adopting => return Err(Error::AdoptTargetMissing { id }),
        None => create(ctx, target, &desired, token.token, report).await?,
    };
    report.observed.group = Some(group.clone());
    report.observed.member = match group.member_clusters().first() {
        Some(member) => describe_member(&ctx.elasticache, member).await?,
        None => None,
    };

    let status = group.status().unwrap_or("unknown").to_owned();
    let resource = format!("replication group {id}");
    if let Some(waiting) =
        status_progress(&resource, &status, phase(&status), stalled_hint(&status))
    {
        return Ok(waiting);
    }
    if let Some(change) = unsupported(&desired, &group) {
        return Err(change.into());
    }
    converge(ctx, &desired, &group, report).await
}

/// Sends the one change that brings an available group closer to `desired`: owned
/// fields first, then replicas, then shards; `Ready` when nothing differs.
async fn converge(
    ctx: &CacheContext,
    desired: &DesiredGroup,
    group: &ReplicationGroup,
    report: &mut Report,
) -> Result<Progress, Error> {
    let id = desired.id.clone();
    if let Some(modification) = diff(desired, group, report.observed.member.as_ref()) {
        let fields = modification.changed_fields().join(", ");
        modification
            .request(ctx.elasticache.modify_replication_group(), &id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(MODIFY_REPLICATION_GROUP, e))?;
        report.mutations += 1;
        tracing::info!(id = %id, fields = %fields, "modified replication group");
        return Ok(Progress::aws_in_progress(format!(
            "modifying replication group {id}: {fields}"
        )));
    }

    if let Some(change) = replica_change(desired, group) {
        let message = match change {
            ReplicaChange::Increase(count) => {
                ctx.elasticache
                    .increase_replica_count()
                    .replication_group_id(&id)
                    .new_replica_count(count)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(INCREASE_REPLICA_COUNT, e))?;
                format!("adding replicas to {id}: {count} per shard")
            }
            ReplicaChange::Decrease(count) => {
                ctx.elasticache
                    .decrease_replica_count()
                    .replication_group_id(&id)
                    .new_replica_count(count)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(DECREASE_REPLICA_COUNT, e))?;
                format!("removing replicas from {id}: {count} per shard")
            }
        };
        report.mutations += 1;
        return Ok(Progress::aws_in_progress(message));
    }

    if let Some(change) = shard_change(desired, group) {
        let remove = (!change.remove.is_empty()).then(|| change.remove.clone());
        ctx.elasticache
            .modify_replication_group_shard_configuration()
            .replication_group_id(&id)
            .node_group_count(change.count)
            .set_node_groups_to_remove(remove)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(MODIFY_SHARD_CONFIGURATION, e))?;
        report.mutations += 1;
        return Ok(Progress::aws_in_progress(format!(
            "resharding {id} to {} shards",
            change.count
        )));
    }
    Ok(Progress::Ready {
        message: String::new(),
    })
}

/// The replication group `id`; `None` when ElastiCache says it does not exist.
pub async fn describe_group(
    client: &aws_sdk_elasticache::Client,
    id: &str,
) -> Result<Option<ReplicationGroup>, AwsError> {
    match client
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
    {
        Ok(output) => Ok(output.replication_groups().first().cloned()),
        Err(error) => not_found_is_none(AwsError::from_sdk(DESCRIBE_REPLICATION_GROUPS, error)),
    }
}

/// The cache cluster `id` (a member of a group); `None` when not described.
async fn describe_member(
    client: &aws_sdk_elasticache::Client,
    id: &str,
) -> Result<Option<CacheCluster>, AwsError> {
    match client
        .describe_cache_clusters()
        .cache_cluster_id(id)
        .send()
        .await
    {
        Ok(output) => Ok(output.cache_clusters().first().cloned()),
        Err(error) => not_found_is_none(AwsError::from_sdk(DESCRIBE_CACHE_CLUSTERS, error)),
    }
}

fn not_found_is_none<T>(error: AwsError) -> Result<Option<T>, AwsError> {
    if error.kind == ErrorKind::NotFound {
        Ok(None)
    } else {
        Err(error)
    }
}

/// The tags of the group, by key.
pub async fn group_tags(
    client: &aws_sdk_elasticache::Client,
    group: &ReplicationGroup,
) -> Result<Vec<aws_sdk_elasticache::types::Tag>, AwsError> {
    let Some(arn) = group.arn() else {
        return Ok(Vec::new());
    };
    let output = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(LIST_TAGS_FOR_RESOURCE, e))?;
    Ok(output.tag_list().to_vec())
}

/// Checks ownership of an existing group; adopts an untagged one when asked to, and
/// brings the tags up to date.
async fn claim(
    ctx: &CacheContext,
    target: &Target<'_>,
    group: &ReplicationGroup,
    desired: &DesiredGroup,
    report: &mut Report,
) -> Result<(), Error> {
    let id = desired.id.clone();
    let tags = group_tags(&ctx.elasticache, group).await?;
    match elasticache_ownership(&tags, &target.owner) {
        Ownership::Ours => {}
        Ownership::Unowned if target.spec.adopt.is_some() => {
            tracing::info!(id = %id, "adopting untagged replication group");
        }
        Ownership::Unowned => return Err(Error::NotOwned { id }),
        Ownership::OwnedElsewhere {
            cluster,
            namespace,
            name,
        } => {
            return Err(Error::OwnedElsewhere {
                id,
                cluster,
                namespace,
                name,
            });
        }
    }
    let current: BTreeMap<&str, &str> = tags
        .iter()
        .filter_map(|tag| Some((tag.key()?, tag.value().unwrap_or_default())))
        .collect();
    let missing: BTreeMap<String, String> = desired
        .tags
        .iter()
        .filter(|(key, value)| current.get(key.as_str()) != Some(&value.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let (false, Some(arn)) = (missing.is_empty(), group.arn()) {
        ctx.elasticache
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(to_elasticache_tags(&missing)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ADD_TAGS_TO_RESOURCE, e))?;
        report.mutations += 1;
    }
    Ok(())
}

/// Sets `token` on an existing group with the ROTATE strategy: clients that use the
/// old token keep working until it is rotated out.
async fn rotate_token(ctx: &CacheContext, id: &str, token: &Password) -> Result<(), AwsError> {
    ctx.elasticache
        .modify_replication_group()
        .replication_group_id(id)
        .auth_token(token.expose())
        .auth_token_update_strategy(AuthTokenUpdateStrategyType::Rotate)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(MODIFY_REPLICATION_GROUP, e))?;
    Ok(())
}

/// Creates the group; when it already exists (a crash after an earlier create, or a
/// lost response), describes it instead. The same steps as the database's `create`,
/// over another SDK's request, output and error types; a generic over both would hide
/// more than the few lines it saves, so each controller keeps its own.
async fn create(
    ctx: &CacheContext,
    target: &Target<'_>,
    desired: &DesiredGroup,
    token: Option<&Password>,
    report: &mut Report,
) -> Result<ReplicationGroup, Error> {
    let id = desired.id.clone();
    if desired.auth_token && token.is_none() {
        return Err(Error::MissingToken { id });
    }
    let created = create_group_request(
        ctx.elasticache.create_replication_group(),
        desired,
        &target.description(),
        token,
    )
    .send()
    .await;
    report.mutations += 1;
    match created {
        Ok(output) => {
            tracing::info!(id = %id, "created replication group");
            match output.replication_group {
                Some(group) => Ok(group),
                None => Ok(describe_group(&ctx.elasticache, &id)
                    .await?
                    .unwrap_or_else(|| {
                        ReplicationGroup::builder()
                            .replication_group_id(&id)
                            .status("creating")
                            .build()
                    })),
            }
        }
        Err(error) => {
            let error = AwsError::from_sdk(CREATE_REPLICATION_GROUP, error);
            if error.kind != ErrorKind::Conflict {
                return Err(error.into());
            }
            let group = describe_group(&ctx.elasticache, &id)
                .await?
                .ok_or(Error::Aws(error))?;
            claim(ctx, target, &group, desired, report).await?;
            Ok(group)
        }
    }
}
