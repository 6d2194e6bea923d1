//! The kube-runtime wiring that the data-tier controllers share, kept thin: one
//! `Controller` per watched namespace (or one for all) over a reflector of the primary
//! kind (read through `DeserializeGuard`, so one malformed object cannot stop the
//! watch, and filtered to changes that need work) and of the connection Secrets it
//! owns; metrics around every reconcile; the finalizer. What a reconcile does is the
//! kind's, behind [`DataTier`].

use std::fmt::Debug;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector;
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::context::Context;
use crate::runtime::error::ReconcileError;
use crate::runtime::scope::{ControllerConfig, scoped};
use crate::runtime::stores::{reflected, wait_until_ready};

use crate::controllers::data_tier::apply::{
    Error, STALLED_REQUEUE, error_policy as transient_policy,
};

/// One data-tier kind (ManagedDatabase, CacheCluster) as the shared runner sees it: its
/// names, what of its metadata needs a reconcile, and its apply and cleanup.
pub trait DataTier: Send + Sync + 'static {
    /// The primary kind.
    type Object: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static;
    /// The `controller` label of the metrics.
    const CONTROLLER: &'static str;
    /// The finalizer that guards the AWS resource.
    const FINALIZER: &'static str;
    /// Label selector of the connection Secrets the controller owns.
    const SECRET_SELECTOR: &'static str;
    /// Annotations whose changes need a reconcile (e.g. a rotation request).
    const TRIGGER_ANNOTATIONS: &'static [&'static str];

    /// The process-wide context.
    fn operator(&self) -> &Context;
    /// Brings AWS, the connection Secret and the status in line with the spec.
    fn apply(&self, object: &Self::Object) -> impl Future<Output = Result<Action, Error>> + Send;
    /// Deletes (or releases) the AWS resource; done when the finalizer may go.
    fn cleanup(&self, object: &Self::Object) -> impl Future<Output = Result<Action, Error>> + Send;
}

/// What of an object, when it changes, needs a reconcile: the spec (generation), the
/// kind's trigger annotations, deletion and the finalizers. Status writes and other
/// metadata changes do not.
pub fn reconcile_trigger<K>(object: &DeserializeGuard<K>, annotations: &[&str]) -> Option<u64>
where
    K: Resource<DynamicType = ()>,
{
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    for annotation in annotations {
        meta.annotations
            .as_ref()
            .and_then(|all| all.get(*annotation))
            .hash(&mut hasher);
    }
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs one controller of `T` until `shutdown` resolves. `synced` fires once its
/// caches (the primary objects and connection Secrets) have their first full list.
pub async fn run<T: DataTier>(
    context: Arc<T>,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let client = context.operator().client.clone();
    let ns = config.namespace.as_deref();
    let (reader, writer) = reflector::store::<DeserializeGuard<T::Object>>();
    let objects = watcher(
        scoped::<DeserializeGuard<T::Object>>(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        |object: &DeserializeGuard<T::Object>| reconcile_trigger(object, T::TRIGGER_ANNOTATIONS),
        PredicateConfig::default(),
    );
    let (secrets, secret_events) = reflected::<Secret>(
        scoped(client, ns),
        watcher::Config::default().labels(T::SECRET_SELECTOR),
    );

    let sync_objects = reader.clone();
    tokio::spawn(async move {
        if wait_until_ready(&sync_objects).await.is_ok()
            && wait_until_ready(&secrets.store).await.is_ok()
        {
            let _ = synced.send(());
        }
    });

    Controller::for_stream(objects, reader)
        .owns_stream(secret_events)
        .with_config(controller::Config::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<T>, error_policy::<T>, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object, "reconciled"),
                Err(controller::Error::ReconcilerFailed(error, object)) => {
                    tracing::warn!(controller = T::CONTROLLER, object = %object, error = %error, category = %error.category(), "reconcile failed; requeued");
                }
                Err(error) => tracing::warn!(controller = T::CONTROLLER, %error, "controller stream error"),
            }
        })
        .await;
}

/// Reconciles one object, measured in the metrics of `T::CONTROLLER`.
pub async fn reconcile<T: DataTier>(
    guard: Arc<DeserializeGuard<T::Object>>,
    ctx: Arc<T>,
) -> Result<Action, Error> {
    let metrics = Arc::clone(&ctx.operator().metrics);
    let _measure = metrics.reconcile_started(T::CONTROLLER);
    let result = match &guard.0 {
        Ok(object) => Box::pin(reconcile_object(Arc::new(object.clone()), &*ctx)).await,
        Err(error) => Err(Error::Malformed {
            message: error.to_string(),
        }),
    };
    if let Err(error) = &result {
        metrics.reconcile_failed(T::CONTROLLER, error.category());
    }
    result
}

/// Reconciles one object: the finalizer, then apply or cleanup.
#[tracing::instrument(skip_all, fields(controller = T::CONTROLLER, namespace = object.namespace(), name = object.name_any()))]
pub async fn reconcile_object<T: DataTier>(
    object: Arc<T::Object>,
    ctx: &T,
) -> Result<Action, Error> {
    let namespace = object.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<T::Object> = Api::namespaced(ctx.operator().client.clone(), &namespace);
    Box::pin(finalizer(&api, T::FINALIZER, object, |event| async {
        match event {
            finalizer::Event::Apply(object) => Box::pin(ctx.apply(&object)).await,
            finalizer::Event::Cleanup(object) => Box::pin(ctx.cleanup(&object)).await,
        }
    }))
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// Requeue policy for failed reconciles: malformed objects are re-checked rarely (a
/// fix arrives through the watch), the rest as [`crate::controllers::data_tier::apply::error_policy`].
pub fn error_policy<T: DataTier>(
    object: Arc<DeserializeGuard<T::Object>>,
    error: &Error,
    ctx: Arc<T>,
) -> Action {
    match error {
        Error::Malformed { .. } => Action::requeue(STALLED_REQUEUE),
        _ => transient_policy(object, error, ctx),
    }
}
