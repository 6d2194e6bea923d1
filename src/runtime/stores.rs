//! Reflector stores of the children tiered manages (a `managed-by=tiered` watch per
//! kind): the live state the reconcile diffs against and prunes from, and the trigger
//! streams the Controller `owns`. Objects are kept as [`Cached`] (metadata typed, the
//! rest as JSON text), and an index by controller owner lets a reconcile find its own
//! children without walking every child of every app (which made reconciles cost grow
//! with the number of apps).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::runtime::cached::Cached;

/// One store per child kind.
#[derive(Clone)]
pub struct ChildStores {
    /// PersistentVolumeClaims (shared volumes).
    pub claims: Indexed<PersistentVolumeClaim>,
    /// ServiceAccounts.
    pub service_accounts: Indexed<ServiceAccount>,
    /// Deployments.
    pub deployments: Indexed<Deployment>,
    /// Services.
    pub services: Indexed<Service>,
    /// HorizontalPodAutoscalers.
    pub hpas: Indexed<HorizontalPodAutoscaler>,
    /// PodDisruptionBudgets.
    pub pdbs: Indexed<PodDisruptionBudget>,
    /// NetworkPolicies.
    pub network_policies: Indexed<NetworkPolicy>,
    /// Ingresses.
    pub ingresses: Indexed<Ingress>,
}

impl ChildStores {
    /// Waits until every store has its first full list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        wait_until_ready(&self.claims.store).await?;
        wait_until_ready(&self.service_accounts.store).await?;
        wait_until_ready(&self.deployments.store).await?;
        wait_until_ready(&self.services.store).await?;
        wait_until_ready(&self.hpas.store).await?;
        wait_until_ready(&self.pdbs.store).await?;
        wait_until_ready(&self.network_policies.store).await?;
        wait_until_ready(&self.ingresses.store).await
    }
}

/// The live objects of one kind, and which of them each controller owner has.
pub struct Indexed<K: Resource<DynamicType = ()> + 'static> {
    /// Live objects by namespace and name.
    pub store: Store<Cached<K>>,
    owned: OwnerIndex,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Indexed<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            owned: self.owned.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + 'static> Indexed<K> {
    /// The live object `name` in `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Cached<K>>> {
        self.store
            .get(&ObjectRef::<Cached<K>>::new(name).within(namespace))
    }

    /// The live objects whose controller owner has `uid`, in name order.
    pub fn owned_by(&self, uid: &str) -> Vec<Arc<Cached<K>>> {
        self.owned
            .keys(uid)
            .into_iter()
            .filter_map(|(namespace, name)| self.get(&namespace, &name))
            .collect()
    }
}

/// Namespace and name of an object.
type Key = (String, String);

/// Objects by the uid of their controller owner, kept beside a reflector store from the
/// same watch events (a `Store` can only be walked whole).
#[derive(Clone, Default)]
struct OwnerIndex {
    inner: Arc<RwLock<Owners>>,
}

#[derive(Default)]
struct Owners {
    by_owner: HashMap<String, BTreeSet<Key>>,
    owner_of: HashMap<Key, String>,
    /// The next contents while a (re-)list is under way.
    relisting: Option<Box<Owners>>,
}

impl Owners {
    fn insert<K: Resource>(&mut self, object: &K) {
        let key = (object.namespace().unwrap_or_default(), object.name_any());
        self.remove(&key);
        let owner = object
            .owner_references()
            .iter()
            .find(|r| r.controller == Some(true));
        if let Some(owner) = owner {
            self.by_owner
                .entry(owner.uid.clone())
                .or_default()
                .insert(key.clone());
            self.owner_of.insert(key, owner.uid.clone());
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(uid) = self.owner_of.remove(key)
            && let Some(keys) = self.by_owner.get_mut(&uid)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_owner.remove(&uid);
            }
        }
    }
}

impl OwnerIndex {
    fn keys(&self, uid: &str) -> Vec<Key> {
        let owners = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        owners
            .by_owner
            .get(uid)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Follows one watch event the way the reflector store does: a re-list replaces the
    /// contents when it is done.
    fn apply<K: Resource>(&self, event: &watcher::Event<K>) {
        let mut owners = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(object) => owners.insert(object),
            watcher::Event::Delete(object) => {
                owners.remove(&(object.namespace().unwrap_or_default(), object.name_any()));
            }
            watcher::Event::Init => owners.relisting = Some(Box::default()),
            watcher::Event::InitApply(object) => {
                owners
                    .relisting
                    .get_or_insert_with(Box::default)
                    .insert(object);
            }
            watcher::Event::InitDone => {
                if let Some(next) = owners.relisting.take() {
                    *owners = *next;
                }
            }
        }
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

/// A reflected, owner-indexed watch of one kind: its store and its stream of touched
/// objects.
pub fn reflected<K>(
    api: Api<Cached<K>>,
    config: watcher::Config,
) -> (
    Indexed<K>,
    impl Stream<Item = Result<Cached<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let owned = OwnerIndex::default();
    let index = owned.clone();
    let stream = watcher(api, config)
        .default_backoff()
        .map_ok(move |event| {
            index.apply(&event);
            event
        })
        .reflect(writer)
        .touched_objects()
        .boxed();
    (Indexed { store, owned }, stream)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;

    fn service(name: &str, owner: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                owner_references: Some(vec![OwnerReference {
                    uid: owner.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Service::default()
        }
    }

    fn keys(index: &OwnerIndex, uid: &str) -> Vec<String> {
        index.keys(uid).into_iter().map(|(_, name)| name).collect()
    }

    #[test]
    fn the_owner_index_follows_applies_deletes_and_owner_changes() {
        let index = OwnerIndex::default();
        index.apply(&watcher::Event::Apply(service("a-web", "a")));
        index.apply(&watcher::Event::Apply(service("a-api", "a")));
        index.apply(&watcher::Event::Apply(service("b-web", "b")));
        assert_eq!(keys(&index, "a"), ["a-api", "a-web"]);
        index.apply(&watcher::Event::Delete(service("a-web", "a")));
        assert_eq!(keys(&index, "a"), ["a-api"]);
        index.apply(&watcher::Event::Apply(service("a-api", "b")));
        assert!(keys(&index, "a").is_empty());
        assert_eq!(keys(&index, "b"), ["a-api", "b-web"]);
    }

    #[test]
    fn a_relist_replaces_the_index_when_it_is_done() {
        let index = OwnerIndex::default();
        index.apply(&watcher::Event::Apply(service("a-web", "a")));
        index.apply(&watcher::Event::<Service>::Init);
        index.apply(&watcher::Event::InitApply(service("a-api", "a")));
        assert_eq!(
            keys(&index, "a"),
            ["a-web"],
            "the old contents serve until the list is done"
        );
        index.apply(&watcher::Event::<Service>::InitDone);
        assert_eq!(keys(&index, "a"), ["a-api"]);
    }
}
