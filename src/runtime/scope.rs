//! Where a controller of `tiered run` looks: one watched namespace, or all of them, the
//! shard's label selector, and how many reconciles it runs at once. Every controller
//! (TieredApp, ManagedDatabase, CacheCluster) runs once per scope.

use std::time::Duration;

use kube::runtime::watcher;
use kube::{Api, Resource};

/// How one controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Namespace to watch (`None`: all).
    pub namespace: Option<String>,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Requeue interval of a healthy object.
    pub resync: Duration,
    /// Label selector of this process's shard (`--watch-label-selector`, e.g.
    /// `tiered.io/shard=blue` or `!tiered.io/shard`): only TieredApps, ManagedDatabases
    /// and CacheClusters it selects are watched, so that several operator Deployments,
    /// each with its own Lease, share one cluster without reconciling the same object
    /// (Flux's horizontal sharding). `None`: every object.
    pub label_selector: Option<String>,
}

impl ControllerConfig {
    /// The watch of the controller's own kind: every object of the scope, or those the
    /// shard's label selector selects. Children, Secrets and referenced objects are
    /// watched whole: they carry no shard label, and a child of another shard's object
    /// maps to an owner this process does not hold, which the controller skips.
    pub fn primary_watch(&self) -> watcher::Config {
        match &self.label_selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        }
    }
}

/// An `Api` over `namespace`, or over all namespaces when `None`.
pub fn scoped<K>(client: kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}
