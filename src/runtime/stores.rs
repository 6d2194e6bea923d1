//! Reflector stores of the children tiered manages (a `managed-by=tiered` watch per
//! kind): the live state the reconcile diffs against and prunes from, and the trigger
//! streams the Controller `owns`. Objects are kept as [`Cached`] (metadata typed, the
//! rest as JSON text), and an index by controller owner lets a reconcile find its own
//! children without walking every child of every app (which made reconciles cost grow
//! with the number of apps).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use futures::{Stream, StreamExt, TryStreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::runtime::cached::Cached;
use crate::runtime::children::{ChildKinds, PerKind};

/// The reflector store of each child kind.
pub type ChildStores = ChildKinds<Stores>;

/// A store per kind: [`ChildStores`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stores;

impl PerKind for Stores {
    type Of<K: Resource<DynamicType = ()> + 'static> = Indexed<K>;
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

/// The uid of the controller owner of `object`.
fn controller_uid<K: Resource>(object: &K) -> Option<&str> {
    object
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// Objects by the uid of their controller owner, kept beside a reflector store from the
/// same watch events (a `Store` can only be walked whole).
///
/// Per owner only the namespace and the sorted names of its children (a child is always
/// in its owner's namespace): the owner an object had before an event is read from the
/// store, which the event has not reached yet, instead of a second map. The operator
/// benchmark keeps 15 children per app; a B-tree set of (namespace, name) pairs per owner
/// and kind, and the reverse map, were by estimate (not yet measured) about a sixth of
/// the caches' bytes.
#[derive(Clone, Default)]
struct OwnerIndex {
    inner: Arc<RwLock<Owners>>,
}

/// The children of one owner: their namespace and names, sorted.
type Children = (Box<str>, Vec<Box<str>>);

#[derive(Default)]
struct Owners {
    by_owner: HashMap<Box<str>, Children>,
    /// The next contents while a (re-)list is under way.
    relisting: Option<Box<Owners>>,
}

impl Owners {
    fn insert(&mut self, uid: &str, namespace: &str, name: &str) {
        let (_, names) = self
            .by_owner
            .entry(uid.into())
            .or_insert_with(|| (namespace.into(), Vec::new()));
        if let Err(at) = names.binary_search_by(|n| (**n).cmp(name)) {
            names.insert(at, name.into());
        }
    }

    fn remove(&mut self, uid: &str, name: &str) {
        if let Some((_, names)) = self.by_owner.get_mut(uid) {
            if let Ok(at) = names.binary_search_by(|n| (**n).cmp(name)) {
                names.remove(at);
            }
            if names.is_empty() {
                self.by_owner.remove(uid);
            }
        }
    }

    /// `object` is now as given; its controller owner before was `before`.
    fn update<K: Resource>(&mut self, object: &K, before: Option<&str>) {
        let (namespace, name) = (object.namespace().unwrap_or_default(), object.name_any());
        let now = controller_uid(object);
        if before == now {
            if let Some(uid) = now {
                self.insert(uid, &namespace, &name);
            }
            return;
        }
        if let Some(uid) = before {
            self.remove(uid, &name);
        }
        if let Some(uid) = now {
            self.insert(uid, &namespace, &name);
        }
    }
}

impl OwnerIndex {
    fn keys(&self, uid: &str) -> Vec<Key> {
        let owners = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        owners
            .by_owner
            .get(uid)
            .map(|(namespace, names)| {
                names
                    .iter()
                    .map(|name| (namespace.to_string(), name.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Follows one watch event the way the reflector store does: a re-list replaces the
    /// contents when it is done. `owner_before` answers the uid of the controller owner
    /// the object with this namespace and name had before the event (the store's view).
    fn apply<K: Resource>(
        &self,
        event: &watcher::Event<K>,
        owner_before: impl Fn(&str, &str) -> Option<String>,
    ) {
        let before =
            |object: &K| owner_before(&object.namespace().unwrap_or_default(), &object.name_any());
        let mut owners = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(object) => {
                let before = before(object);
                owners.update(object, before.as_deref());
            }
            watcher::Event::Delete(object) => {
                let name = object.name_any();
                for uid in before(object)
                    .as_deref()
                    .into_iter()
                    .chain(controller_uid(object))
                {
                    owners.remove(uid, &name);
                }
            }
            watcher::Event::Init => owners.relisting = Some(Box::default()),
            watcher::Event::InitApply(object) => {
                owners
                    .relisting
                    .get_or_insert_with(Box::default)
                    .update(object, None);
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
    let (store, writer) = reflector::store::<Cached<K>>();
    let owned = OwnerIndex::default();
    let index = owned.clone();
    let before = store.clone();
    let stream = watcher(api, config)
        .default_backoff()
        .map_ok(move |event| {
            // The store has not seen this event yet (`reflect` comes next).
            index.apply(&event, |namespace, name| {
                let object = before.get(&ObjectRef::new(name).within(namespace))?;
                controller_uid(object.as_ref()).map(str::to_owned)
            });
            event
        })
        .reflect(writer)
        .touched_objects()
        .boxed();
    (Indexed { store, owned }, stream)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use k8s_openapi::api::core::v1::Service;
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

    /// The index beside a stand-in for the reflector store (name → controller uid),
    /// which takes each event after the index, as `reflect` does.
    #[derive(Default)]
    struct Beside {
        index: OwnerIndex,
        store: RefCell<HashMap<String, String>>,
        buffer: RefCell<Option<HashMap<String, String>>>,
    }

    impl Beside {
        fn apply(&self, event: &watcher::Event<Service>) {
            self.index
                .apply(event, |_, name| self.store.borrow().get(name).cloned());
            let entry = |s: &Service| (s.name_any(), controller_uid(s).map(str::to_owned));
            match event {
                watcher::Event::Apply(s) => {
                    let (name, uid) = entry(s);
                    let mut store = self.store.borrow_mut();
                    store.remove(&name);
                    store.extend(uid.map(|uid| (name, uid)));
                }
                watcher::Event::Delete(s) => {
                    self.store.borrow_mut().remove(&s.name_any());
                }
                watcher::Event::Init => *self.buffer.borrow_mut() = Some(HashMap::new()),
                watcher::Event::InitApply(s) => {
                    let (name, uid) = entry(s);
                    if let Some(buffer) = self.buffer.borrow_mut().as_mut() {
                        buffer.extend(uid.map(|uid| (name, uid)));
                    }
                }
                watcher::Event::InitDone => {
                    if let Some(next) = self.buffer.borrow_mut().take() {
                        *self.store.borrow_mut() = next;
                    }
                }
            }
        }

        fn keys(&self, uid: &str) -> Vec<String> {
            self.index
                .keys(uid)
                .into_iter()
                .map(|(_, name)| name)
                .collect()
        }
    }

    #[test]
    fn the_owner_index_follows_applies_deletes_and_owner_changes() {
        let index = Beside::default();
        index.apply(&watcher::Event::Apply(service("a-web", "a")));
        index.apply(&watcher::Event::Apply(service("a-api", "a")));
        index.apply(&watcher::Event::Apply(service("b-web", "b")));
        index.apply(&watcher::Event::Apply(service("a-web", "a")));
        assert_eq!(index.keys("a"), ["a-api", "a-web"]);
        index.apply(&watcher::Event::Delete(service("a-web", "a")));
        assert_eq!(index.keys("a"), ["a-api"]);
        index.apply(&watcher::Event::Apply(service("a-api", "b")));
        assert!(index.keys("a").is_empty());
        assert_eq!(index.keys("b"), ["a-api", "b-web"]);
        assert_eq!(index.index.keys("b")[0].0, "shop");
    }

    #[test]
    fn a_delete_finds_the_owner_the_store_knew() {
        let index = Beside::default();
        index.apply(&watcher::Event::Apply(service("a-web", "a")));
        let mut orphaned = service("a-web", "a");
        orphaned.metadata.owner_references = None;
        index.apply(&watcher::Event::Delete(orphaned));
        assert!(index.keys("a").is_empty());
        assert!(index.index.inner.read().unwrap().by_owner.is_empty());
    }

    #[test]
    fn a_relist_replaces_the_index_when_it_is_done() {
        let index = Beside::default();
        index.apply(&watcher::Event::Apply(service("a-web", "a")));
        index.apply(&watcher::Event::<Service>::Init);
        index.apply(&watcher::Event::InitApply(service("a-api", "a")));
        assert_eq!(
            index.keys("a"),
            ["a-web"],
            "the old contents serve until the list is done"
        );
        index.apply(&watcher::Event::<Service>::InitDone);
        assert_eq!(index.keys("a"), ["a-api"]);
        index.apply(&watcher::Event::Delete(service("a-api", "a")));
        assert!(index.keys("a").is_empty());
    }
}
