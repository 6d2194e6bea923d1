//! The ElastiCache side of a CacheCluster, behind the shared outline's [`DataTier`]
//! trait (wired in the kind's `mod.rs`): find the replication group and its first
//! member (from the shared fleet read when it shows them settled and unchanged since,
//! [`crate::aws::cache_fleet`]), its tags (a call of their own in ElastiCache,
//! remembered for idle passes), create, a new AUTH token
//! rotated in and then set, and the convergence that is ElastiCache's own in the order
//! of `plan`: what cannot change in place stalls, else a minimal
//! ModifyReplicationGroup, then replicas, then shards.
//! AWS only; what to send comes from the pure `desired` and `diff`.
//!
//! [`DataTier`]: crate::controllers::data_tier::DataTier

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, CacheCluster, ReplicationGroup};

use crate::api::CacheClusterSpec;

use crate::aws::cache_fleet::CacheFleet;
use crate::aws::elasticache_actions::{
    CREATE_REPLICATION_GROUP, DECREASE_REPLICA_COUNT, DESCRIBE_CACHE_CLUSTERS,
    DESCRIBE_REPLICATION_GROUPS, INCREASE_REPLICA_COUNT, MODIFY_REPLICATION_GROUP,
    MODIFY_SHARD_CONFIGURATION,
};
use crate::aws::errors::{AwsError, ErrorKind, not_found_is_none, sent};
use crate::controllers::data_tier::error::ConvergeError;
use crate::controllers::data_tier::kind::Target;
use crate::controllers::data_tier::secret::Password;
use crate::controllers::data_tier::status::Progress;
use crate::controllers::data_tier::tags::tag_calls;
use crate::runtime::claims;

use crate::controllers::cache_cluster::auth_token::{
    SET_PENDING_TAG, SET_PENDING_VALUE, TokenStep, auth_on_step, set_pending, token_step,
};
use crate::controllers::cache_cluster::desired::{DesiredGroup, create_group_request};
use crate::controllers::cache_cluster::diff::ReplicaChange;
use crate::controllers::cache_cluster::plan::{Step, next_step};
use crate::controllers::cache_cluster::restore::restore_request;
use crate::controllers::cache_cluster::status::{Observed, Report};

/// The ElastiCache client and the operator's settings of the CacheCluster controller.
#[derive(Clone, Debug)]
pub struct ElastiCache {
    /// ElastiCache client.
    pub elasticache: aws_sdk_elasticache::Client,
    /// The shared reads (groups, members, remembered tags); `None` describes each group,
    /// member and tag list on its own.
    pub fleet: Option<Arc<CacheFleet>>,
    /// Namespaces allowed to adopt existing groups; empty allows none.
    pub adoption_namespaces: BTreeSet<String>,
    /// Whether a group's tags, as the ownership check of this pass read them, owe a
    /// SET of its AUTH token; taken by [`ElastiCache::observe`] of the same pass.
    pub set_pending: SetPendingSeen,
}

/// Per replication group id: the SET-pending tag as the last tag read saw it. It spares
/// a second ListTagsForResource in every pass: the shared outline reads the tags for
/// the ownership check just before it asks the kind to observe the group. Only the
/// pass of that object writes and takes its entry (kube-runtime never runs two
/// reconciles of one object at once).
#[derive(Clone, Debug, Default)]
pub struct SetPendingSeen(Arc<Mutex<BTreeMap<String, bool>>>);

impl SetPendingSeen {
    fn record(&self, id: &str, pending: bool) {
        if let Ok(mut seen) = self.0.lock() {
            seen.insert(id.to_owned(), pending);
        }
    }

    /// What the last read saw, once; `None` when nothing was read since.
    fn take(&self, id: &str) -> Option<bool> {
        self.0.lock().ok().and_then(|mut seen| seen.remove(id))
    }
}

tag_calls!(
    ElastiCache,
    elasticache,
    aws_sdk_elasticache,
    elasticache_actions,
    to_elasticache_tags
);

fn pending_in(tags: &[(String, String)]) -> bool {
    set_pending(
        tags.iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    )
}

/// Whether the fleet read of `group` can stand for a describe: available, nothing
/// pending (a group on its way somewhere is described on its own, as it changes).
fn settled_group(group: &ReplicationGroup) -> bool {
    group.status() == Some("available")
        && group.pending_modified_values().is_none_or(|pending| {
            *pending
                == aws_sdk_elasticache::types::ReplicationGroupPendingModifiedValues::builder()
                    .build()
        })
}

impl ElastiCache {
    /// The replication group `id`; `None` when ElastiCache says it does not exist.
    pub async fn describe_group(&self, id: &str) -> Result<Option<ReplicationGroup>, AwsError> {
        let request = self
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id);
        let described = sent(DESCRIBE_REPLICATION_GROUPS, request.send()).await;
        not_found_is_none(described.map(|output| output.replication_groups().first().cloned()))
    }

    /// The replication group `id` for a reconcile: from the fleet read when it shows it
    /// available, with nothing pending and unchanged since the read, else described on
    /// its own.
    pub async fn find_group(&self, id: &str) -> Result<Option<ReplicationGroup>, AwsError> {
        if let Some(fleet) = &self.fleet {
            let view = fleet.groups(&self.elasticache).await?;
            if let Some(group) = view.read.get(id)
                && !view.is_stale(id)
                && settled_group(group)
            {
                return Ok(Some(group.clone()));
            }
        }
        self.describe_group(id).await
    }

    /// The member `member` of the group `group_id`: from the fleet read when it shows
    /// it available and nothing changed on the group since the read, else described on
    /// its own. A member the read does not hold does not exist when the read started
    /// after the groups' read that shows the group settled (moto lists no members of a
    /// replication group: it answers each on its own with "not found").
    async fn find_member(
        &self,
        group_id: &str,
        member: &str,
    ) -> Result<Option<CacheCluster>, AwsError> {
        if let Some(fleet) = &self.fleet {
            let groups = fleet.groups(&self.elasticache).await?;
            let members = fleet.members(&self.elasticache).await?;
            let group_settled = !groups.is_stale(group_id)
                && !members.is_stale(group_id)
                && groups.read.get(group_id).is_some_and(settled_group);
            match members.read.get(member) {
                Some(found)
                    if group_settled && found.cache_cluster_status() == Some("available") =>
                {
                    return Ok(Some(found.clone()));
                }
                None if group_settled && members.started() >= groups.started() => {
                    return Ok(None);
                }
                _ => {}
            }
        }
        self.describe_member(member).await
    }

    /// A mutating call was sent for the group `id`: the shared reads no longer show it,
    /// its members or its tags as they are.
    pub fn mark_stale(&self, id: &str) {
        if let Some(fleet) = &self.fleet {
            fleet.mark_stale(id);
        }
    }

    /// Forgets the remembered tags of the group `id`.
    pub fn forget_tags(&self, id: &str) {
        if let Some(fleet) = &self.fleet {
            fleet.forget_tags(id);
        }
    }

    /// The cache cluster `id` (a member of a group); `None` when not described.
    async fn describe_member(&self, id: &str) -> Result<Option<CacheCluster>, AwsError> {
        let request = self
            .elasticache
            .describe_cache_clusters()
            .cache_cluster_id(id);
        let described = sent(DESCRIBE_CACHE_CLUSTERS, request.send()).await;
        not_found_is_none(described.map(|output| output.cache_clusters().first().cloned()))
    }

    /// The tags of `group`, as key and value. Inside a pass ([`claims::in_scope`]) the
    /// tags remembered from an earlier read answer (and the pass is noted as acting on
    /// a remembered claim); else they are read now, and remembered.
    pub async fn group_tags(
        &self,
        group: &ReplicationGroup,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let Some(arn) = group.arn() else {
            return Ok(Vec::new());
        };
        let id = group.replication_group_id();
        if let (Some(fleet), Some(id), true) = (&self.fleet, id, claims::in_scope())
            && let Some(tags) = fleet.remembered_tags(id)
        {
            claims::note_remembered();
            self.set_pending.record(id, pending_in(&tags));
            return Ok(tags.as_ref().clone());
        }
        let tags = list_tags(&self.elasticache, arn).await?;
        claims::note_read();
        if let Some(id) = id {
            self.set_pending.record(id, pending_in(&tags));
            if let Some(fleet) = &self.fleet {
                fleet.remember_tags(id, tags.clone());
            }
        }
        Ok(tags)
    }

    /// Sends CreateReplicationGroup for `desired`, described as `target`'s.
    pub async fn create(
        &self,
        target: &Target<'_, CacheClusterSpec>,
        desired: &DesiredGroup,
        token: Option<&Password>,
    ) -> Result<Option<ReplicationGroup>, AwsError> {
        let description = format!(
            "tiered CacheCluster {}/{}",
            target.owner.namespace, target.owner.name
        );
        let request = restore_request(
            create_group_request(
                self.elasticache.create_replication_group(),
                desired,
                &description,
                token,
            ),
            target.spec,
        );
        let output = sent(CREATE_REPLICATION_GROUP, request.send()).await?;
        Ok(output.replication_group)
    }

    /// Gives an existing group `token` with the ROTATE strategy (clients that use the
    /// old token keep working), after tagging the group [`SET_PENDING_TAG`] so that a
    /// later pass, after any restart, sends the SET that retires the old token
    /// ([`auth_token`](crate::controllers::cache_cluster::auth_token)).
    pub async fn rotate_token(&self, id: &str, token: &Password) -> Result<(), AwsError> {
        // Sent after the pass (the step that holds the token): the shared reads of the
        // group go stale here too.
        self.mark_stale(id);
        if let Some(arn) = self
            .describe_group(id)
            .await?
            .and_then(|group| group.arn().map(str::to_owned))
        {
            let marker =
                BTreeMap::from([(SET_PENDING_TAG.to_owned(), SET_PENDING_VALUE.to_owned())]);
            add_tags(&self.elasticache, &arn, &marker).await?;
        }
        self.send_token(id, token, AuthTokenUpdateStrategyType::Rotate)
            .await
    }

    /// ModifyReplicationGroup with `token` and `strategy`, applied now. The SDK does not
    /// redact the token in the request's `Debug` (aws-sdk-elasticache 1.110): the
    /// request is never logged, and errors carry only AWS's code and message.
    async fn send_token(
        &self,
        id: &str,
        token: &Password,
        strategy: AuthTokenUpdateStrategyType,
    ) -> Result<(), AwsError> {
        self.mark_stale(id);
        let request = self
            .elasticache
            .modify_replication_group()
            .replication_group_id(id)
            .auth_token(token.expose())
            .auth_token_update_strategy(strategy)
            .apply_immediately(true);
        sent(MODIFY_REPLICATION_GROUP, request.send()).await?;
        Ok(())
    }

    /// Sends the SET that makes `token` (the connection Secret's) the group's only
    /// AUTH token when this pass reached it, then removes the tag that owed it. A SET
    /// that ElastiCache refuses as invalid means the ROTATE never happened (a crash
    /// between the tag and the ROTATE: SET is allowed only after ROTATE), so the ROTATE
    /// is sent again and the tag stays for the SET after it.
    pub async fn finish_token_change(
        &self,
        report: &Report,
        token: Option<&Password>,
    ) -> Result<(), AwsError> {
        if report.observed.auth_token_rotate_due
            && let Some(token) = token
        {
            tracing::info!(id = %report.id, "turning AUTH on: rotating the token in");
            return self.rotate_token(&report.id, token).await;
        }
        let (true, Some(group), Some(token)) = (
            report.observed.auth_token_set_due,
            report.observed.group.as_ref(),
            token,
        ) else {
            return Ok(());
        };
        let id = &report.id;
        match self
            .send_token(id, token, AuthTokenUpdateStrategyType::Set)
            .await
        {
            Ok(()) => {}
            Err(error) if error.kind == ErrorKind::InvalidInput => {
                tracing::info!(id = %id, "AUTH token SET refused; rotating the token in first");
                return self
                    .send_token(id, token, AuthTokenUpdateStrategyType::Rotate)
                    .await;
            }
            Err(error) => return Err(error),
        }
        tracing::info!(id = %id, "AUTH token set: the previous token no longer works");
        if let Some(arn) = group.arn() {
            remove_tags(&self.elasticache, arn, &[SET_PENDING_TAG]).await?;
        }
        Ok(())
    }

    /// The group and its first member cache cluster in `observed`.
    pub async fn observe(
        &self,
        group: &ReplicationGroup,
        observed: &mut Observed,
    ) -> Result<(), ConvergeError> {
        observed.group = Some(group.clone());
        observed.member = match (
            group.member_clusters().first(),
            group.replication_group_id(),
        ) {
            (Some(member), Some(id)) => self.find_member(id, member).await?,
            (Some(member), None) => self.describe_member(member).await?,
            (None, _) => None,
        };
        // Only a group with AUTH can owe a SET, and only an available one gets it. The
        // tags were read for the ownership check of this pass; read them only when not.
        let seen = group
            .replication_group_id()
            .and_then(|id| self.set_pending.take(id));
        if group.auth_token_enabled() == Some(true) && group.status() == Some("available") {
            observed.auth_token_set_pending = if let Some(pending) = seen {
                pending
            } else {
                let tags = self.group_tags(group).await?;
                if let Some(id) = group.replication_group_id() {
                    self.set_pending.take(id);
                }
                pending_in(&tags)
            };
        }
        Ok(())
    }

    /// Sends the one change that brings an available group closer to `desired`: what
    /// cannot change in place stalls; owned fields first, then replicas, then shards;
    /// `Ready` when nothing differs.
    pub async fn converge(
        &self,
        desired: &DesiredGroup,
        group: &ReplicationGroup,
        report: &mut Report,
    ) -> Result<Progress, ConvergeError> {
        let id = &desired.id;
        // A spec without AUTH has no token to SET (and stalls below as a creation-only
        // change).
        let mutated = report.mutations > 0;
        let step = match auth_on_step(desired.auth_token, group, mutated) {
            TokenStep::Nothing => token_step(
                desired.auth_token && report.observed.auth_token_set_pending,
                group,
                mutated,
            ),
            step => step,
        };
        match step {
            TokenStep::Nothing => {}
            TokenStep::Rotate => {
                // Sent by the step after the pass, which holds the Secret's token.
                report.observed.auth_token_rotate_due = true;
                report.mutations += 1;
                return Ok(Progress::aws_in_progress(format!(
                    "turning AUTH on for {id}: the token is added while clients without it still connect (ROTATE); then it is made required (SET)"
                )));
            }
            TokenStep::Wait => {
                return Ok(Progress::aws_in_progress(format!(
                    "waiting for {id} to take the new AUTH token before the old one (or access without one) is retired"
                )));
            }
            TokenStep::Set => {
                // Sent by the step after the pass (`DataTier::rotate`), which holds the
                // Secret's token; counted here, as this pass changes the group.
                report.observed.auth_token_set_due = true;
                report.mutations += 1;
                return Ok(Progress::aws_in_progress(format!(
                    "retiring the previous AUTH token of {id}"
                )));
            }
        }
        match next_step(desired, group, report.observed.member.as_ref())? {
            Step::Modify(modification) => {
                let fields = modification.changed_fields().join(", ");
                let request = modification.request(self.elasticache.modify_replication_group(), id);
                sent(MODIFY_REPLICATION_GROUP, request.send()).await?;
                report.mutations += 1;
                tracing::info!(id = %id, fields = %fields, "modified replication group");
                Ok(Progress::aws_in_progress(format!(
                    "modifying replication group {id}: {fields}"
                )))
            }
            Step::Replicas(change) => {
                let message = self.change_replicas(id, change).await?;
                report.mutations += 1;
                Ok(Progress::aws_in_progress(message))
            }
            Step::Shards(change) => {
                let remove = (!change.remove.is_empty()).then(|| change.remove.clone());
                let request = self
                    .elasticache
                    .modify_replication_group_shard_configuration()
                    .replication_group_id(id)
                    .node_group_count(change.count)
                    .set_node_groups_to_remove(remove)
                    .apply_immediately(true);
                sent(MODIFY_SHARD_CONFIGURATION, request.send()).await?;
                report.mutations += 1;
                Ok(Progress::aws_in_progress(format!(
                    "resharding {id} to {} shards",
                    change.count
                )))
            }
            Step::Wait(message) => Ok(Progress::aws_in_progress(format!("{id}: {message}"))),
            Step::Converged => Ok(Progress::Ready {
                message: String::new(),
            }),
        }
    }

    /// Sends the replica count change; returns what is happening.
    async fn change_replicas(&self, id: &str, change: ReplicaChange) -> Result<String, AwsError> {
        Ok(match change {
            ReplicaChange::Increase(count) => {
                let request = self
                    .elasticache
                    .increase_replica_count()
                    .replication_group_id(id)
                    .new_replica_count(count)
                    .apply_immediately(true);
                sent(INCREASE_REPLICA_COUNT, request.send()).await?;
                format!("adding replicas to {id}: {count} per shard")
            }
            ReplicaChange::Decrease(count) => {
                let request = self
                    .elasticache
                    .decrease_replica_count()
                    .replication_group_id(id)
                    .new_replica_count(count)
                    .apply_immediately(true);
                sent(DECREASE_REPLICA_COUNT, request.send()).await?;
                format!("removing replicas from {id}: {count} per shard")
            }
        })
    }
}
