//! The Kubernetes side of the CacheCluster controller, kept thin: the finalizer
//! wiring, the connection Secret (the AUTH token stored before any group can be
//! created with it) and the status, through the shared helpers of
//! `crate::data_tier::controller`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::CacheCluster;
use crate::aws::tags::Owner;
use crate::data_tier::controller::{
    Error, IN_PROGRESS_REQUEUE, TRANSIENT_REQUEUE, apply_secret, error_policy, kube_error, now,
    publish, requeue_for, write_status,
};
use crate::data_tier::credentials::{Password, generate_auth_token};

use super::delete::{Cleanup, cleanup};
use super::reconcile::{AuthToken, CacheContext, Observed, Target, reconcile};
use super::secret::{
    connection_details, connection_secret_name, desired_connection_secret, token_from_secret,
};
use super::status::compute_status;

/// The finalizer that guards the replication group.
pub const FINALIZER: &str = "tiered.io/cache";

/// What the controller shares between reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// ElastiCache client and settings.
    pub elasticache: CacheContext,
    /// Event recorder.
    pub recorder: Recorder,
    /// Resync period of converged objects.
    pub resync: Duration,
}

impl Context {
    /// A context; `reporter` names the controller in Events (e.g. the pod name).
    pub fn new(
        client: Client,
        elasticache: CacheContext,
        reporter: &str,
        resync: Duration,
    ) -> Self {
        let reporter = Reporter {
            controller: "tiered".into(),
            instance: Some(reporter.to_owned()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            elasticache,
            resync,
        }
    }
}

/// Runs the CacheCluster controller (all namespaces the client may see) until
/// `shutdown` resolves, then lets running reconciles finish.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let caches: Api<CacheCluster> = Api::all(ctx.client.clone());
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    Controller::new(caches, watcher::Config::default())
        .owns(
            secrets,
            watcher::Config::default().labels("app.kubernetes.io/component=cache"),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile_object, error_policy::<CacheCluster, Context>, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::warn!(error = %error, "CacheCluster reconcile failed");
            }
        })
        .await;
}

/// Reconciles one CacheCluster: the finalizer, then apply or cleanup.
#[tracing::instrument(skip_all, fields(namespace = cache.namespace(), name = cache.name_any()))]
pub async fn reconcile_object(
    cache: Arc<CacheCluster>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let namespace = cache.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<CacheCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    Box::pin(finalizer(&api, FINALIZER, cache, |event| async {
        match event {
            finalizer::Event::Apply(cache) => Box::pin(apply(&cache, &ctx)).await,
            finalizer::Event::Cleanup(cache) => Box::pin(delete(&cache, &ctx)).await,
        }
    }))
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

fn owner(cache: &CacheCluster, ctx: &Context) -> Result<Owner, Error> {
    Ok(Owner {
        cluster: ctx.elasticache.cluster.clone(),
        namespace: cache.namespace().ok_or(Error::MissingMetadata)?,
        name: cache.name_any(),
        uid: cache.uid().ok_or(Error::MissingMetadata)?,
    })
}

async fn apply(cache: &CacheCluster, ctx: &Context) -> Result<Action, Error> {
    let owner = owner(cache, ctx)?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &owner.namespace);
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
        &ctx.client,
        &ctx.recorder,
        cache,
        cache.status.as_ref(),
        &status,
        &status.conditions,
    )
    .await?;
    Ok(requeue_for(&report.progress, ctx.resync))
}

async fn delete(cache: &CacheCluster, ctx: &Context) -> Result<Action, Error> {
    let owner = owner(cache, ctx)?;
    let deleted_at = cache
        .meta()
        .deletion_timestamp
        .as_ref()
        .map_or_else(Timestamp::now, |time| time.0);
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
        Cleanup::Waiting { message, snapshot } => {
            if let Some(snapshot) = snapshot {
                let note = format!(
                    "final snapshot {snapshot} requested; the replication group is being deleted"
                );
                publish(
                    &ctx.recorder,
                    cache,
                    EventType::Normal,
                    "FinalSnapshot",
                    &note,
                )
                .await;
            }
            Err(Error::DeletionPending {
                message,
                requeue: IN_PROGRESS_REQUEUE,
            })
        }
    }
}
