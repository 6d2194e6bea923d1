//! Where a controller of `tiered run` looks: one watched namespace, or all of them, and
//! how many reconciles it runs at once. Every controller (TieredApp, ManagedDatabase,
//! CacheCluster) runs once per scope.

use std::time::Duration;

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
