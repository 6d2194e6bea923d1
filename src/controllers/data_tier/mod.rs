//! The shared AWS outline of the two data-tier controllers (ManagedDatabase on RDS,
//! CacheCluster on ElastiCache), written once: the [`DataTier`] trait each kind
//! implements (describe, ownership tags, create, the credential, delete with a final
//! snapshot, error classes, and its own convergence), one generic reconcile
//! ([`reconcile`](mod@reconcile)), one generic finalizer ([`cleanup`]), and the
//! kube-runtime wiring here ([`run`]). What differs per kind (modify, replicas,
//! shards, rotation) stays in the kind's folder, behind the trait; a new AWS-backed
//! kind is a folder with one `impl DataTier` and one line in `crate::process::run`.
//!
//! Step files as in every controller: [`reconcile`](mod@reconcile) (the pipeline),
//! [`desired`] and [`diff`] (pure: what both kinds' desired state and tags share),
//! [`apply`] (Kubernetes writes), [`status`] (pure, from the [`progress`] a pass
//! made), [`cleanup`] (the finalizer),
//! [`error`], and [`inspect`] (every read and check a pass makes before its first
//! write).
//! Three more, each for a reason: [`kind`] holds the trait and the types of its
//! signatures apart from the steps, so every step imports it and none imports another
//! back; [`secret`] is the connection Secret and its generated credential, which both
//! kinds write the same way; [`tags`] writes the tag calls both SDKs spell alike;
//! [`spec`] reads the spec fields both kinds spell alike;
//! [`snapshots`] and [`parameters`] are the pure parts of snapshots on demand and
//! engine parameters (issue 13), which both kinds share; [`listing`] is how `tiered
//! render` lists either kind's AWS calls.

pub mod apply;
pub mod cleanup;
pub mod desired;
pub mod diff;
pub mod error;
pub mod inspect;
pub mod kind;
pub mod listing;
pub mod parameter_calls;
pub mod parameter_groups;
pub mod parameters;
pub mod progress;
pub mod reconcile;
pub mod secret;
pub mod snapshot_calls;
pub mod snapshots;
pub mod spec;
pub mod status;
pub mod tags;
#[cfg(test)]
pub mod testing;

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::api::shared::RECONCILE_REQUESTED_AT_ANNOTATION;
use crate::runtime::backoff::STALLED;
use crate::runtime::context::Context;
use crate::runtime::error::{Category, ReconcileError};
use crate::runtime::mutations::for_object;
use crate::runtime::panic::contained;
use crate::runtime::scope::{ControllerConfig, scoped};
use crate::runtime::stores::{reflected, wait_until_ready};

use crate::controllers::data_tier::error::Error;
pub use crate::controllers::data_tier::kind::{DataTier, Key, Shared, Spec, Status};

/// Label selector of the connection Secrets of `K`.
pub fn secret_selector<K: DataTier>() -> String {
    format!(
        "app.kubernetes.io/managed-by=tiered,app.kubernetes.io/component={}",
        K::COMPONENT
    )
}

/// What of an object, when it changes, needs a reconcile: the spec (generation),
/// [`RECONCILE_REQUESTED_AT_ANNOTATION`] and the kind's trigger annotations, deletion and
/// the finalizers. Status writes and other metadata changes do not.
pub fn reconcile_trigger<K>(object: &DeserializeGuard<K>, annotations: &[&str]) -> Option<u64>
where
    K: Resource<DynamicType = ()>,
{
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    for annotation in [RECONCILE_REQUESTED_AT_ANNOTATION]
        .iter()
        .chain(annotations)
    {
        meta.annotations
            .as_ref()
            .and_then(|all| all.get(*annotation))
            .hash(&mut hasher);
    }
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs one controller of `kind` until `shutdown` resolves: one kube-runtime
/// `Controller` over a reflector of the primary kind (read through
/// `DeserializeGuard`, so one malformed object cannot stop the watch, and filtered to
/// changes that need work) and of the connection Secrets it owns (less its own writes
/// of them). Each reconcile runs with its object's budget of mutating AWS calls
/// ([`for_object`]). `synced` fires once both caches have their first full list.
pub async fn run<K: DataTier>(
    ctx: Context,
    kind: K,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let client = ctx.client.clone();
    let (reader, writer) = reflector::store::<DeserializeGuard<K::Object>>();
    let shared = Arc::new(Shared::new(ctx, kind, config.resync, reader.clone()));
    let ns = config.namespace.as_deref();
    let objects = watcher(
        scoped::<DeserializeGuard<K::Object>>(client.clone(), ns),
        config.primary_watch(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        |object: &DeserializeGuard<K::Object>| reconcile_trigger(object, K::TRIGGER_ANNOTATIONS),
        PredicateConfig::default(),
    );
    let (secrets, secret_events) = reflected::<Secret>(
        scoped(client, ns),
        watcher::Config::default().labels(&secret_selector::<K>()),
    );
    // A Secret write of our own never triggers the next reconcile of its object (it
    // would run at once, ahead of any backoff); a change by anyone else does.
    let own_secrets = Arc::clone(&shared.own_secrets);
    let secret_events = secret_events.filter(move |event| {
        let ours = event
            .as_ref()
            .is_ok_and(|secret| own_secrets.is_own(secret));
        std::future::ready(!ours)
    });

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
        .run(reconcile::<K>, error_policy::<K>, shared)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object, "reconciled"),
                // A deletion AWS is still carrying out is routine, not a warning.
                Err(controller::Error::ReconcilerFailed(error, object))
                    if error.category() == Category::DeletionPending =>
                {
                    tracing::info!(controller = K::CONTROLLER, object = %object, detail = %error.chain(), "deletion not finished; requeued");
                }
                Err(controller::Error::ReconcilerFailed(error, object)) => {
                    tracing::warn!(controller = K::CONTROLLER, object = %object, error = %error.chain(), category = %error.category(), "reconcile failed; requeued");
                }
                // A request for an object the cache does not hold: deleted since, or another
                // shard's (`--watch-label-selector`) reached through a child or Secret
                // watch. Nothing to do, and not worth a warning per object.
                Err(controller::Error::ObjectNotFound(object)) => {
                    tracing::debug!(controller = K::CONTROLLER, object = %object, "no such object in this process's cache; skipped");
                }
                Err(error) => tracing::warn!(controller = K::CONTROLLER, %error, "controller stream error"),
            }
        })
        .await;
}

/// Reconciles one object, measured in the metrics of `K::CONTROLLER`.
pub async fn reconcile<K: DataTier>(
    guard: Arc<DeserializeGuard<K::Object>>,
    shared: Arc<Shared<K>>,
) -> Result<Action, Error> {
    let metrics = Arc::clone(&shared.ctx.metrics);
    let _measure = metrics.reconcile_started(K::CONTROLLER);
    let result = match &guard.0 {
        Ok(object) => {
            let key = ObjectRef::from_obj(guard.as_ref());
            // Every mutating AWS call of this reconcile counts against the object's budget.
            let created = object
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|time| std::time::SystemTime::from(time.0));
            let budget = shared.budgets.of(key.clone(), created);
            let work = reconcile_object(Arc::new(object.clone()), key, &shared);
            for_object(budget, Box::pin(work)).await
        }
        Err(error) => Err(Error::Malformed {
            message: error.to_string(),
        }),
    };
    // A deletion AWS is still carrying out (or one held by deletionProtection) is routine,
    // as a creation in progress is: not counted, so an alert on the error rate does not
    // fire on every deletion. A deletion AWS refuses is `CleanupFailed`, counted.
    if let Err(error) = &result
        && error.category() != Category::DeletionPending
    {
        metrics.reconcile_failed(K::CONTROLLER, error.category());
    }
    result
}

/// Reconciles one object: the finalizer, then the pipeline or the cleanup.
// The object's name is the span field `object`: tracing-subscriber's JSON writes the span's
// own name under `name`, and a second `name` key is a duplicate that JSON readers drop or
// refuse (Elasticsearch rejects the whole line).
#[tracing::instrument(skip_all, fields(controller = K::CONTROLLER, namespace = object.namespace(), object = object.name_any()))]
async fn reconcile_object<K: DataTier>(
    object: Arc<K::Object>,
    key: Key<K>,
    shared: &Shared<K>,
) -> Result<Action, Error> {
    let namespace = object.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<K::Object> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    Box::pin(finalizer(&api, K::FINALIZER, object, |event| async {
        match event {
            finalizer::Event::Apply(object) => {
                // A panic stays with this object (crate::runtime::panic).
                let progress = match contained(Box::pin(reconcile::apply(shared, &object))).await {
                    Ok(result) => result?,
                    Err(panicked) => {
                        tracing::error!(error = %panicked, "the reconcile panicked; the object is Stalled");
                        Box::pin(reconcile::stall_on_panic(shared, &object, &panicked)).await?
                    }
                };
                Ok(shared.requeue(&key, &progress))
            }
            finalizer::Event::Cleanup(object) => {
                let done = Box::pin(cleanup::finalize(shared, &key, &object)).await?;
                // The object is gone: a new one of its name starts with a fresh budget.
                shared.budgets.forget(&key);
                Ok(done)
            }
        }
    }))
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// Requeue policy for failed reconciles: a pending deletion at its own pace, a
/// malformed object rarely (a fix arrives through the watch), the rest with the
/// shared backoff.
#[allow(clippy::needless_pass_by_value)] // the signature kube-runtime calls
pub fn error_policy<K: DataTier>(
    object: Arc<DeserializeGuard<K::Object>>,
    error: &Error,
    shared: Arc<Shared<K>>,
) -> Action {
    if let Some(requeue) = error.deletion_requeue() {
        return Action::requeue(requeue);
    }
    match error {
        Error::Malformed { .. } => Action::requeue(STALLED),
        _ => Action::requeue(shared.backoff.failed(ObjectRef::from_obj(object.as_ref()))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::core::DeserializeGuard;

    use super::*;
    use crate::api::ManagedDatabase;

    fn with_annotations(pairs: &[(&str, &str)]) -> DeserializeGuard<ManagedDatabase> {
        let annotations: BTreeMap<String, String> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let object = serde_json::json!({
            "apiVersion": "tiered.io/v1alpha1",
            "kind": "ManagedDatabase",
            "metadata": {"name": "db", "namespace": "shop", "generation": 1, "annotations": annotations},
        });
        serde_json::from_value(object).unwrap()
    }

    #[test]
    fn a_new_reconcile_request_or_trigger_annotation_triggers_and_other_metadata_does_not() {
        let trigger = |pairs: &[(&str, &str)]| {
            reconcile_trigger(&with_annotations(pairs), &["tiered.io/rotate-password"])
        };
        let base = trigger(&[]);
        assert_eq!(base, trigger(&[("note", "anything")]), "other metadata");
        assert_ne!(base, trigger(&[(RECONCILE_REQUESTED_AT_ANNOTATION, "1")]));
        assert_ne!(
            trigger(&[(RECONCILE_REQUESTED_AT_ANNOTATION, "1")]),
            trigger(&[(RECONCILE_REQUESTED_AT_ANNOTATION, "2")]),
            "every new value"
        );
        assert_ne!(base, trigger(&[("tiered.io/rotate-password", "1")]));
    }
}
