//! The CacheCluster controller: an Amazon ElastiCache (Valkey or Redis OSS)
//! replication group, run by the shared data-tier outline
//! (`crate::controllers::data_tier`: one reconcile, one finalizer). This file wires the
//! kind into it ([`DataTier`] for [`ElastiCache`]); the steps that are ElastiCache's
//! own sit in their files: [`desired`], [`diff`], [`plan`] (the order of the steps),
//! [`version`] (engine versions, parameter group families) and [`auth_token`] (the
//! ROTATE-then-SET of a new token), all pure; [`elasticache`] (describe, create,
//! modify, replicas, shards, the AUTH token), [`cleanup`] (delete with the final
//! snapshot), [`status`] and [`secret`] (pure); issue 13's day-2 operations in
//! [`restore`] (from a snapshot, pure), [`snapshots`] (on demand) and [`parameters`]
//! (an owned cache parameter group); [`render_plan`] is what `tiered render` prints.

pub mod adoption;
pub mod auth_token;
pub mod cleanup;
pub mod desired;
pub mod diff;
pub mod elasticache;
pub mod parameters;
pub mod plan;
pub mod render_plan;
pub mod restore;
pub mod secret;
pub mod snapshots;
pub mod status;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticache::types::ReplicationGroup;
use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;

use crate::api::{CacheCluster, CacheClusterSpec, CacheClusterStatus};
use crate::aws::errors::AwsError;
use crate::aws::naming::elasticache_replication_group_id;
use crate::aws::tags::Owner;
use crate::controllers::data_tier::error::{ConvergeError, InvalidSpec, Nouns};
use crate::controllers::data_tier::kind::Deletion;
use crate::controllers::data_tier::kind::Target;
use crate::controllers::data_tier::secret::{Password, RandomError, generate_auth_token};
use crate::controllers::data_tier::snapshots::requested_statuses;
use crate::controllers::data_tier::spec::shared_spec;
use crate::controllers::data_tier::status::{Phase, Progress};
use crate::controllers::data_tier::{self, DataTier};
use crate::runtime::context::Context;
use crate::runtime::events::Publisher;
use crate::runtime::scope::ControllerConfig;

use crate::controllers::cache_cluster::desired::DesiredGroup;
pub use crate::controllers::cache_cluster::elasticache::ElastiCache;
use crate::controllers::cache_cluster::status::{NOUNS, Observed, Report};

/// The finalizer that guards the replication group.
pub const FINALIZER: &str = "tiered.io/cache";
/// The `controller` label of this controller's metrics.
pub const CONTROLLER: &str = "cachecluster";

/// Runs one CacheCluster controller until `shutdown` resolves, then lets running
/// reconciles finish. `synced` fires once its caches (CacheClusters and connection
/// Secrets) have their first full list.
pub async fn run(
    ctx: Context,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let elasticache = ElastiCache {
        elasticache: ctx.aws.elasticache.clone(),
        fleet: Some(std::sync::Arc::clone(&ctx.aws.cache_fleet)),
        adoption_namespaces: ctx.adoption_namespaces(),
        set_pending: elasticache::SetPendingSeen::default(),
    };
    data_tier::run(ctx, elasticache, config, shutdown, synced).await;
}

shared_spec!(CacheClusterSpec);

impl DataTier for ElastiCache {
    type Object = CacheCluster;
    type Resource = ReplicationGroup;
    type Desired = DesiredGroup;
    type Observed = Observed;
    type Rotation = ();

    const CONTROLLER: &'static str = CONTROLLER;
    const FINALIZER: &'static str = FINALIZER;
    const COMPONENT: &'static str = "cache";
    const TRIGGER_ANNOTATIONS: &'static [&'static str] = &[];
    const CREDENTIAL_KEY: &'static str = secret::AUTH_TOKEN_KEY;
    const NOUNS: &'static Nouns = NOUNS;

    fn adopt_id(spec: &CacheClusterSpec) -> Option<&str> {
        spec.adopt
            .as_ref()
            .map(|adopt| adopt.replication_group_id.as_str())
    }

    fn generates_credential(spec: &CacheClusterSpec) -> bool {
        spec.auth_token.unwrap_or(spec.transit_encryption)
    }

    fn generate_credential() -> Result<Password, RandomError> {
        generate_auth_token()
    }

    fn connection_data(
        spec: &CacheClusterSpec,
        observed: &Observed,
        credential: Option<&Password>,
    ) -> BTreeMap<String, ByteString> {
        let details =
            secret::connection_details(spec.transit_encryption, observed, credential.cloned());
        secret::connection_secret_data(&details)
    }

    fn compute_status(
        cache: &CacheCluster,
        report: &Report,
        connection_secret: String,
        (): (),
        now: &Time,
    ) -> CacheClusterStatus {
        let previous = cache.status.as_ref();
        let mut status = status::compute_status(
            cache.meta().generation,
            report,
            Some(connection_secret),
            previous,
            now,
        );
        status.snapshots =
            requested_statuses(cache, &report.id, report.observed.snapshots.as_deref());
        status.parameter_group = report
            .observed
            .parameter_group
            .clone()
            .or_else(|| previous.and_then(|status| status.parameter_group.clone()));
        status
    }

    fn deterministic_id(owner: &Owner) -> String {
        elasticache_replication_group_id(&owner.cluster, &owner.namespace, &owner.name)
    }

    fn desired(
        spec: &CacheClusterSpec,
        id: String,
        tags: BTreeMap<String, String>,
    ) -> Result<DesiredGroup, InvalidSpec> {
        DesiredGroup::from_spec(spec, id, tags)
    }

    fn check_adoption(
        spec: &CacheClusterSpec,
        group: &ReplicationGroup,
    ) -> Result<(), InvalidSpec> {
        adoption::check_adoptable(spec, group)
    }

    fn check_in_place(
        desired: &DesiredGroup,
        group: &ReplicationGroup,
    ) -> Result<(), ConvergeError> {
        diff::unsupported(desired, group).map_or(Ok(()), |change| Err(change.into()))
    }

    /// A restore's snapshot must be this namespace's or opted in for this object.
    async fn check_create(
        &self,
        target: &Target<'_, CacheClusterSpec>,
    ) -> Result<(), ConvergeError> {
        self.check_restore_source(target.spec, &target.owner).await
    }

    fn uses_credential(desired: &DesiredGroup) -> bool {
        desired.auth_token
    }

    fn arn(group: &ReplicationGroup) -> Option<&str> {
        group.arn()
    }

    fn aws_status(group: &ReplicationGroup) -> Option<&str> {
        group.status()
    }

    fn phase(status: &str) -> Phase {
        status::phase(status)
    }

    fn stalled_hint(status: &str) -> &'static str {
        status::stalled_hint(status)
    }

    fn creating(id: &str) -> ReplicationGroup {
        ReplicationGroup::builder()
            .replication_group_id(id)
            .status("creating")
            .build()
    }

    fn adoption_namespaces(&self) -> &BTreeSet<String> {
        &self.adoption_namespaces
    }

    async fn describe(&self, id: &str) -> Result<Option<ReplicationGroup>, AwsError> {
        self.describe_group(id).await
    }

    async fn find(&self, id: &str) -> Result<Option<ReplicationGroup>, AwsError> {
        self.find_group(id).await
    }

    async fn mutated(&self, id: &str) {
        self.mark_stale(id);
    }

    fn forget_claim(&self, id: &str) {
        self.forget_tags(id);
    }

    async fn tags(&self, group: &ReplicationGroup) -> Result<Vec<(String, String)>, AwsError> {
        self.group_tags(group).await
    }

    async fn create(
        &self,
        target: &Target<'_, CacheClusterSpec>,
        desired: &DesiredGroup,
        credential: Option<&Password>,
    ) -> Result<Option<ReplicationGroup>, AwsError> {
        // The owned parameter group first: the group starts with spec.parameters.
        self.prepare_parameter_group(desired).await?;
        ElastiCache::create(self, target, desired, credential).await
    }

    async fn set_credential(&self, id: &str, credential: &Password) -> Result<(), AwsError> {
        self.rotate_token(id, credential).await
    }

    async fn observe(
        &self,
        _target: &Target<'_, CacheClusterSpec>,
        group: &ReplicationGroup,
        observed: &mut Observed,
    ) -> Result<(), ConvergeError> {
        ElastiCache::observe(self, group, observed).await
    }

    async fn converge(
        &self,
        desired: &DesiredGroup,
        group: &ReplicationGroup,
        report: &mut Report,
    ) -> Result<Progress, ConvergeError> {
        let progress = ElastiCache::converge(self, desired, group, report).await?;
        if !matches!(progress, Progress::Ready { .. }) {
            return Ok(progress);
        }
        if let Some(progress) = self.converge_parameters(desired, report).await? {
            return Ok(progress);
        }
        if let Some(progress) = self.take_snapshots(desired, group, report).await? {
            return Ok(progress);
        }
        Ok(progress)
    }

    /// The ROTATE that turns AUTH on, or the SET that finishes an AUTH token change,
    /// when this pass reached it ([`auth_token`]); it needs the token of the connection
    /// Secret, which only this step after the pass holds.
    async fn rotate(
        &self,
        _events: &Publisher,
        _cache: &CacheCluster,
        report: &Report,
        credential: &mut Option<Password>,
    ) -> Result<(), data_tier::error::Error> {
        self.finish_token_change(report, credential.as_ref())
            .await
            .map_err(data_tier::error::Error::Rotation)
    }

    async fn delete(
        &self,
        group: &ReplicationGroup,
        _related: &[ReplicationGroup],
        snapshot: Option<&str>,
    ) -> Result<Deletion, AwsError> {
        ElastiCache::delete(self, group, snapshot).await
    }
}
