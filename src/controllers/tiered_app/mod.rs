//! The TieredApp controller: wiring of the kube-runtime `Controller` (primary through a
//! generation predicate and `DeserializeGuard`, owned children through reflector
//! stores, ManagedDatabases and CacheClusters through a mapper over the TieredApp store)
//! and the reconcile pipeline in [`reconcile`]: [`validate`] (into [`validated`]) →
//! [`dependencies`] → [`build`] → [`apply`] (decided by [`diff`]) → [`status`], with
//! the errors in [`error`]. No `cleanup`: the children go with the app through their
//! ownerReferences, nothing lives outside Kubernetes.

pub mod apply;
pub mod build;
pub mod dependencies;
pub mod diff;
pub mod error;
pub mod reconcile;
pub mod status;
pub mod validate;
pub mod validated;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};

use crate::api::{CacheCluster, ManagedDatabase, TieredApp};
use crate::runtime::context::Context;
use crate::runtime::scope::{ControllerConfig, scoped};
use crate::runtime::stores::{self, ChildStores, Indexed, reflected};
use reconcile::{AppContext, error_policy};

/// How long a reconcile request waits for more of the same app: creating an app's
/// children, and their rollouts, come as bursts of watch events that one reconcile can
/// answer. Short enough not to be felt after an edit.
pub const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(250);

/// The TieredApps in `apps` that reference `name` in `namespace` as database or cache.
pub fn referencing_apps(
    apps: &Store<DeserializeGuard<TieredApp>>,
    kind: dependencies::DependencyKind,
    namespace: Option<&str>,
    name: &str,
) -> Vec<ObjectRef<DeserializeGuard<TieredApp>>> {
    apps.state()
        .into_iter()
        .filter(|guard| guard.namespace().as_deref() == namespace)
        .filter(|guard| {
            guard.0.as_ref().is_ok_and(|app| {
                app.spec.tiers.iter().any(|t| {
                    let dep = match kind {
                        dependencies::DependencyKind::Database => &t.database,
                        dependencies::DependencyKind::Cache => &t.cache,
                    };
                    dep.as_ref().is_some_and(|r| r.name == name)
                })
            })
        })
        .map(|guard| ObjectRef::from_obj(guard.as_ref()))
        .collect()
}

/// The TieredApp controller.
type AppController = Controller<DeserializeGuard<TieredApp>>;

/// The watches of the children (one per kind, on the `managed-by=tiered` label): each
/// [`ChildWatches::store`] starts one and keeps its trigger stream for
/// [`ChildWatches::owned_by`].
struct ChildWatches<'a> {
    client: &'a kube::Client,
    namespace: Option<&'a str>,
    config: watcher::Config,
    owns: Vec<Box<dyn FnOnce(AppController) -> AppController + Send>>,
}

impl ChildWatches<'_> {
    /// The store of the children of kind `K`, their changes kept to trigger their owner.
    fn store<K>(&mut self) -> Indexed<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Send + Sync + 'static,
    {
        let (store, events) = reflected(
            scoped(self.client.clone(), self.namespace),
            self.config.clone(),
        );
        self.owns
            .push(Box::new(move |controller| controller.owns_stream(events)));
        store
    }

    /// `controller`, triggered by every child watch started so far.
    fn owned_by(self, controller: AppController) -> AppController {
        self.owns
            .into_iter()
            .fold(controller, |controller, owns| owns(controller))
    }
}

/// Runs one TieredApp controller until `shutdown` resolves. `synced` fires once every
/// cache has its first full list.
pub async fn run(
    ctx: Context,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let client = ctx.client.clone();
    let ns = config.namespace.as_deref();
    let (app_reader, app_writer) = reflector::store::<DeserializeGuard<TieredApp>>();
    let apps = watcher(
        scoped::<DeserializeGuard<TieredApp>>(client.clone(), ns),
        config.primary_watch(),
    )
    .default_backoff()
    // Nothing reads the apps' managedFields (a nested map per field manager).
    .modify(|app| app.managed_fields_mut().clear())
    .reflect(app_writer)
    .applied_objects()
    .predicate_filter(predicates::generation, PredicateConfig::default());
    let mut watches = ChildWatches {
        client: &client,
        namespace: ns,
        config: watcher::Config::default().labels(&build::labels::managed_selector()),
        owns: Vec::new(),
    };
    let stores = ChildStores {
        claims: watches.store(),
        service_accounts: watches.store(),
        deployments: watches.store(),
        services: watches.store(),
        hpas: watches.store(),
        pdbs: watches.store(),
        network_policies: watches.store(),
        ingresses: watches.store(),
    };

    let sync_apps = app_reader.clone();
    let sync_stores = stores.clone();
    tokio::spawn(async move {
        if stores::wait_until_ready(&sync_apps).await.is_ok()
            && sync_stores.wait_until_ready().await.is_ok()
        {
            let _ = synced.send(());
        }
    });

    let db_apps = app_reader.clone();
    let cache_apps = app_reader.clone();
    let context = Arc::new(AppContext {
        ctx,
        stores,
        apps: app_reader.clone(),
        resync: config.resync,
        backoff: crate::runtime::backoff::Backoff::default(),
        in_flight: apply::InFlight::default(),
    });
    watches
        .owned_by(Controller::for_stream(apps, app_reader))
        .watches(
            scoped::<DeserializeGuard<ManagedDatabase>>(client.clone(), ns),
            watcher::Config::default(),
            move |db| {
                referencing_apps(&db_apps, dependencies::DependencyKind::Database, db.namespace().as_deref(), &db.name_any())
            },
        )
        .watches(
            scoped::<DeserializeGuard<CacheCluster>>(client, ns),
            watcher::Config::default(),
            move |cache| {
                referencing_apps(&cache_apps, dependencies::DependencyKind::Cache, cache.namespace().as_deref(), &cache.name_any())
            },
        )
        .with_config(
            controller::Config::default()
                .concurrency(config.concurrency)
                .debounce(DEBOUNCE),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object, "reconciled"),
                Err(controller::Error::ReconcilerFailed(error, object)) => {
                    tracing::debug!(object = %object, error = %error, "reconcile failed; requeued with backoff");
                }
                // Deleted since, or another shard's app reached through a child watch.
                Err(controller::Error::ObjectNotFound(object)) => {
                    tracing::debug!(object = %object, "no such app in this process's cache; skipped");
                }
                Err(error) => tracing::warn!(%error, "controller stream error"),
            }
        })
        .await;
}
