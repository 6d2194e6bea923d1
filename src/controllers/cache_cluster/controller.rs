//! The Kubernetes side of the CacheCluster controller, kept thin: its names and
//! context for the shared data-tier runner in `crate::controllers::data_tier::runner` (one
//! kube-runtime `Controller` per watched namespace, `DeserializeGuard`, the trigger
//! predicate, owned Secrets, metrics, the finalizer), the connection Secret (the AUTH
//! token stored before any group can be created with it) and the status, through the
//! shared helpers of `crate::controllers::data_tier::apply`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use crate::api::CacheCluster;
use crate::aws::tags::Owner;
use crate::controllers::data_tier::apply::{
    Error, TRANSIENT_REQUEUE, apply_secret, deletion_time, deletion_under_way, kube_error, now,
    requeue_for, write_status,
};
use crate::controllers::data_tier::credentials::{Password, generate_auth_token};
use crate::controllers::data_tier::runner::{self, DataTier};
use crate::runtime::context::Context;
use crate::runtime::scope::ControllerConfig;

use crate::controllers::cache_cluster::cleanup::{Cleanup, cleanup};
use crate::controllers::cache_cluster::reconcile::{
    AuthToken, CacheContext, Observed, Target, reconcile,
};
use crate::controllers::cache_cluster::secret::{
    connection_details, connection_secret_name, desired_connection_secret, token_from_secret,
};
use crate::controllers::cache_cluster::status::compute_status;

/// The finalizer that guards the replication group.
pub const FINALIZER: &str = "tiered.io/cache";
/// The `controller` label of this controller's metrics.
pub const CONTROLLER: &str = "cachecluster";
/// Label selector of the connection Secrets the controller owns.
pub const SECRET_SELECTOR: &str =
    "app.kubernetes.io/managed-by=tiered,app.kubernetes.io/component=cache";

/// What the reconciles of one CacheCluster controller share.
pub struct CacheClusterContext {
    /// The process-wide context (client, metrics, Event publisher, AWS clients).
    pub ctx: Context,
    /// ElastiCache client and settings.
    pub elasticache: CacheContext,
    /// Resync period of converged objects.
    pub resync: Duration,
}

impl CacheClusterContext {
    /// The context of a controller of `ctx`'s process.
    pub fn new(ctx: Context, resync: Duration) -> Self {
        let elasticache = CacheContext {
            elasticache: ctx.aws.elasticache.clone(),
            cluster: ctx.cluster_name.clone(),
            adoption_namespaces: ctx.adoption_namespaces(),
        };
        Self {
            ctx,
            elasticache,
            resync,
        }
    }
}

impl DataTier for CacheClusterContext {
    type Object = CacheCluster;
    const CONTROLLER: &'static str = CONTROLLER;
    const FINALIZER: &'static str = FINALIZER;
    const SECRET_SELECTOR: &'static str = SECRET_SELECTOR;
    const TRIGGER_ANNOTATIONS: &'static [&'static str] = &[];

    fn operator(&self) -> &Context {
        &self.ctx
    }

    async fn apply(&self, cache: &CacheCluster) -> Result<Action, Error> {
        Box::pin(apply(cache, self)).await
    }

    async fn cleanup(&self, cache: &CacheCluster) -> Result<Action, Error> {
        Box::pin(delete(cache, self)).await
    }
}

/// Runs one CacheCluster controller until `shutdown` resolves, then lets running
/// reconciles finish. `synced` fires once its caches (CacheClusters and connection
/// Secrets) have their first full list.
pub async fn run(
    ctx: Context,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let context = Arc::new(CacheClusterContext::new(ctx, config.resync));
    runner::run(context, config, shutdown, synced).await;
}

fn owner(cache: &CacheCluster, ctx: &CacheClusterContext) -> Result<Owner, Error> {
    Ok(Owner {
        cluster: ctx.elasticache.cluster.clone(),
        namespace: cache.namespace().ok_or(Error::MissingMetadata)?,
        name: cache.name_any(),
        uid: cache.uid().ok_or(Error::MissingMetadata)?,
    })
}

async fn apply(cache: &CacheCluster, ctx: &CacheClusterContext) -> Result<Action, Error> {
    let owner = owner(cache, ctx)?;
    let secrets: Api<Secret> = Api::namespaced(ctx.ctx.client.clone(), &owner.namespace);
    let secret_name = connection_secret_name(&owner.name);
    let existing = secrets
        .get_opt(&secret_name)
        .await
        .map_err(kube_error("read the connection Secret"))?;
    let spec = &cache.spec;
    let uses_token = spec.auth_token.unwrap_or(spec.transit_encryption);

    // The token is stored before any group can be created with it, so a crash never
    // leaves a group whose token nobody knows.
    let mut token: Option<Password> = None;
    let mut is_new = false;
    if uses_token {
        token = existing.as_ref().and_then(token_from_secret);
        if token.is_none() {
            let fresh = generate_auth_token().map_err(Error::Password)?;
            let details = connection_details(
                spec.transit_encryption,
                &Observed::default(),
                Some(fresh.clone()),
            );
            let desired = desired_connection_secret(cache, &details).0;
            apply_secret(&secrets, &desired, existing.as_ref()).await?;
            token = Some(fresh);
            is_new = true;
        }
    }

    let target = Target { owner, spec };
    let report = Box::pin(reconcile(
        &ctx.elasticache,
        &target,
        AuthToken {
            token: token.as_ref(),
            is_new,
        },
    ))
    .await;

    let details = connection_details(spec.transit_encryption, &report.observed, token);
    let existing = if is_new {
        secrets.get_opt(&secret_name).await.ok().flatten()
    } else {
        existing
    };
    let desired = desired_connection_secret(cache, &details).0;
    apply_secret(&secrets, &desired, existing.as_ref()).await?;

    let status = compute_status(
        cache.meta().generation,
        &report,
        Some(secret_name),
        cache.status.as_ref(),
        &now(),
    );
    write_status(
        &ctx.ctx.client,
        &ctx.ctx.events,
        cache,
        cache.status.as_ref(),
        &status,
        &status.conditions,
    )
    .await?;
    Ok(requeue_for(&report.progress, ctx.resync))
}

async fn delete(cache: &CacheCluster, ctx: &CacheClusterContext) -> Result<Action, Error> {
    let owner = owner(cache, ctx)?;
    let deleted_at = deletion_time(cache);
    let target = Target {
        owner,
        spec: &cache.spec,
    };
    let step = match cleanup(&ctx.elasticache, &target, deleted_at).await {
        Ok(step) => step,
        Err(error) => {
            return Err(Error::DeletionPending {
                message: error.to_string(),
                requeue: TRANSIENT_REQUEUE,
            });
        }
    };
    match step {
        Cleanup::Done { message } => {
            tracing::info!(message = %message, "CacheCluster cleanup done");
            Ok(Action::await_change())
        }
        Cleanup::Waiting { message, snapshot } => Err(deletion_under_way(
            &ctx.ctx.events,
            cache,
            "replication group",
            message,
            snapshot,
            ctx.resync,
        )
        .await),
    }
}
