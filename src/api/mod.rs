//! The public API of tiered: the three custom resources of `tiered.io/v1alpha1` and the
//! condition types and reasons they report. Types only; no client code lives here.

// kube-derive printcolumn attributes repeat `type_ = "string"`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod cache_cluster;
pub mod conditions;
pub mod managed_database;
pub mod parameters;
pub mod replication;
pub mod shared;
pub mod snapshots;
pub mod tiered_app;

pub use cache_cluster::{CacheCluster, CacheClusterSpec, CacheClusterStatus};
pub use managed_database::{ManagedDatabase, ManagedDatabaseSpec, ManagedDatabaseStatus};
pub use tiered_app::{TieredApp, TieredAppSpec, TieredAppStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every tiered kind.
pub const GROUP: &str = "tiered.io";
/// API version of every tiered kind.
pub const VERSION: &str = "v1alpha1";

/// The CustomResourceDefinitions of all three kinds, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        TieredApp::crd(),
        ManagedDatabase::crd(),
        CacheCluster::crd(),
    ]
}
