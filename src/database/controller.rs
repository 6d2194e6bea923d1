//! The ManagedDatabase controller's wiring, kept thin: one kube-runtime `Controller` per
//! watched namespace (or one for all), over a reflector of ManagedDatabases (read through
//! `DeserializeGuard`, so one malformed object cannot stop the watch, and filtered to
//! changes that need work) and of the connection Secrets it owns; metrics around every
//! reconcile; the finalizer. What a reconcile does to Kubernetes is in
//! [`super::apply`], to AWS in `reconcile` / `delete`.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector;
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::api::ManagedDatabase;
use crate::api::managed_database::ROTATE_PASSWORD_ANNOTATION;
use crate::operator::context::Context;
use crate::operator::tiered_app::stores::{reflected, wait_until_ready};
use crate::operator::tiered_app::{ControllerConfig, scoped};

use super::apply::{apply, delete};
use super::reconcile::RdsContext;

pub use crate::data_tier::controller::{Error, FIELD_MANAGER};
use crate::data_tier::controller::{STALLED_REQUEUE, TRANSIENT_REQUEUE};
/// The finalizer that guards the DB instance.
pub const FINALIZER: &str = "tiered.io/database";
/// The `controller` label of this controller's metrics.
pub const CONTROLLER: &str = "manageddatabase";
/// Label selector of the connection Secrets the controller owns.
pub const SECRET_SELECTOR: &str =
    "app.kubernetes.io/managed-by=tiered,app.kubernetes.io/component=database";

/// What the reconciles of one ManagedDatabase controller share.
pub struct DatabaseContext {
    /// The process-wide context (client, metrics, recorder, AWS clients).
    pub ctx: Context,
    /// RDS client and settings, with the process' shared fleet read.
    pub rds: RdsContext,
    /// Resync period of converged objects.
    pub resync: Duration,
}

impl DatabaseContext {
    /// The context of a controller of `ctx`'s process.
    pub fn new(ctx: Context, resync: Duration) -> Self {
        let adoption_namespaces = (!ctx.adopt_namespaces.is_empty()).then(|| {
            ctx.adopt_namespaces
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
        });
        let rds = RdsContext {
            rds: ctx.aws.rds.clone(),
            cluster: ctx.cluster_name.clone(),
            fleet: Some(Arc::clone(&ctx.aws.rds_fleet)),
            adoption_namespaces,
        };
        Self { ctx, rds, resync }
    }
}

/// What of a ManagedDatabase, when it changes, needs a reconcile: the spec
/// (generation), a rotation request, deletion and the finalizers. Status writes and
/// other metadata changes do not.
pub fn reconcile_trigger(database: &DeserializeGuard<ManagedDatabase>) -> Option<u64> {
    let meta = database.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.annotations
        .as_ref()
        .and_then(|annotations| annotations.get(ROTATE_PASSWORD_ANNOTATION))
        .hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs one ManagedDatabase controller until `shutdown` resolves. `synced` fires once
/// its caches (ManagedDatabases and connection Secrets) have their first full list.
pub async fn run(
    ctx: Context,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let client = ctx.client.clone();
    let ns = config.namespace.as_deref();
    let (reader, writer) = reflector::store::<DeserializeGuard<ManagedDatabase>>();
    let databases = watcher(
        scoped::<DeserializeGuard<ManagedDatabase>>(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(reconcile_trigger, PredicateConfig::default());
    let (secrets, secret_events) = reflected::<Secret>(
        scoped(client, ns),
        watcher::Config::default().labels(SECRET_SELECTOR),
    );

    let sync_databases = reader.clone();
    tokio::spawn(async move {
        if wait_until_ready(&sync_databases).await.is_ok()
            && wait_until_ready(&secrets).await.is_ok()
        {
            let _ = synced.send(());
        }
    });

    let context = Arc::new(DatabaseContext::new(ctx, config.resync));
    Controller::for_stream(databases, reader)
        .owns_stream(secret_events)
        .with_config(controller::Config::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object, "reconciled"),
                Err(controller::Error::ReconcilerFailed(error, object)) => {
                    tracing::warn!(object = %object, error = %error, category = error.category(), "ManagedDatabase reconcile failed; requeued");
                }
                Err(error) => tracing::warn!(%error, "controller stream error"),
            }
        })
        .await;
}

/// Reconciles one ManagedDatabase, measured in the `manageddatabase` metrics.
pub async fn reconcile(
    guard: Arc<DeserializeGuard<ManagedDatabase>>,
    ctx: Arc<DatabaseContext>,
) -> Result<Action, Error> {
    let _measure = ctx.ctx.metrics.reconcile_started(CONTROLLER);
    let result = match &guard.0 {
        Ok(database) => Box::pin(reconcile_object(Arc::new(database.clone()), &ctx)).await,
        Err(error) => Err(Error::Malformed {
            message: error.to_string(),
        }),
    };
    if let Err(error) = &result {
        ctx.ctx
            .metrics
            .reconcile_failed(CONTROLLER, error.category());
    }
    result
}

/// Reconciles one ManagedDatabase: the finalizer, then apply or cleanup.
#[tracing::instrument(skip_all, fields(namespace = database.namespace(), name = database.name_any()))]
pub async fn reconcile_object(
    database: Arc<ManagedDatabase>,
    ctx: &DatabaseContext,
) -> Result<Action, Error> {
    let namespace = database.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<ManagedDatabase> = Api::namespaced(ctx.ctx.client.clone(), &namespace);
    Box::pin(finalizer(&api, FINALIZER, database, |event| async {
        match event {
            finalizer::Event::Apply(database) => Box::pin(apply(&database, ctx)).await,
            finalizer::Event::Cleanup(database) => Box::pin(delete(&database, ctx)).await,
        }
    }))
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// Requeue policy for failed reconciles.
pub fn error_policy(
    _database: Arc<DeserializeGuard<ManagedDatabase>>,
    error: &Error,
    _ctx: Arc<DatabaseContext>,
) -> Action {
    match error {
        Error::Finalizer(inner) => match &**inner {
            finalizer::Error::CleanupFailed(Error::DeletionPending { requeue, .. }) => {
                Action::requeue(*requeue)
            }
            _ => Action::requeue(TRANSIENT_REQUEUE),
        },
        Error::Malformed { .. } => Action::requeue(STALLED_REQUEUE),
        _ => Action::requeue(TRANSIENT_REQUEUE),
    }
}
