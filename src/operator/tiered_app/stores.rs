//! Reflector stores of the children tiered manages (a `managed-by=tiered` watch per
//! kind): the live state the reconcile diffs against and prunes from, and the trigger
//! streams the Controller `owns`.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// One store per child kind.
#[derive(Clone)]
pub struct ChildStores {
    /// Deployments.
    pub deployments: Store<Deployment>,
    /// Services.
    pub services: Store<Service>,
    /// HorizontalPodAutoscalers.
    pub hpas: Store<HorizontalPodAutoscaler>,
    /// PodDisruptionBudgets.
    pub pdbs: Store<PodDisruptionBudget>,
    /// NetworkPolicies.
    pub network_policies: Store<NetworkPolicy>,
    /// Ingresses.
    pub ingresses: Store<Ingress>,
}

impl ChildStores {
    /// Waits until every store has its first full list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        wait_until_ready(&self.deployments).await?;
        wait_until_ready(&self.services).await?;
        wait_until_ready(&self.hpas).await?;
        wait_until_ready(&self.pdbs).await?;
        wait_until_ready(&self.network_policies).await?;
        wait_until_ready(&self.ingresses).await
    }
}

/// `Store::wait_until_ready`, safe with several waiters on one store.
///
/// kube-runtime 5's `DelayedInit` keeps only the waker of the latest poll, so when the
/// Controller waits on the same store (it does, before running reconciles), our waiter's
/// wake-up is lost and it waits forever. Re-polling on a short timer works around it: a
/// fresh `wait_until_ready` on an initialised store returns at once.
pub async fn wait_until_ready<K>(store: &Store<K>) -> Result<(), reflector::store::WriterDropped>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        if let Ok(result) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            store.wait_until_ready(),
        )
        .await
        {
            return result;
        }
    }
}

/// A reflected watch of one kind: its store and its stream of touched objects.
pub fn reflected<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        // managedFields are most of a child's bytes and nothing here reads them: drop
        // them before the cache keeps thousands of children (operator RSS at scale).
        .modify(|object| kube::ResourceExt::managed_fields_mut(object).clear())
        .reflect(writer)
        .touched_objects()
        .boxed();
    (reader, stream)
}
