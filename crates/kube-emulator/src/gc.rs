//! The garbage collector: a background task that, shortly after a delete or a write of
//! an object with owner references (the real collector watches every object), removes
//! dependents whose owners are all gone (Background propagation), drops dangling owner
//! references when some owner remains, finishes Foreground deletions, and empties
//! terminating namespaces — as kube-controller-manager's garbage collector and
//! namespace controller do.
//!
//! A delete (and a CRD write, which can make owner kinds resolvable) makes it look at
//! every stored object; a write of an object with owner references only at the objects
//! written since it last ran, finding their owners through the store's uid index
//! ([`World::by_uid`]), so that a stream of owned writes does not rescan the whole store
//! under its lock each time. A written object whose owner or namespace is being deleted
//! falls back to looking at everything.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::Notify;

use super::Shared;
use super::lifecycle::{self, NAMESPACE_KEY, NamespaceState};
use super::meta;
use super::store::{World, namespace_and_name};

/// Written objects the collector keeps by name before it looks at everything instead.
const WRITTEN_LIMIT: usize = 10_000;

/// What the collector has to look at when it next runs.
#[derive(Debug, Default)]
struct Pending {
    /// Every stored object (after a delete or a CRD write).
    everything: bool,
    /// Objects with owner references written since it last ran: (store key, namespace,
    /// name).
    written: BTreeSet<(String, String, String)>,
}

/// Wakes the collector and tells it what to look at.
#[derive(Debug, Default)]
pub struct Wakeups {
    notify: Notify,
    pending: Mutex<Pending>,
}

impl Wakeups {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After a delete: the next run looks at every stored object.
    pub fn everything(&self) {
        let mut pending = self.pending();
        pending.everything = true;
        pending.written.clear();
        drop(pending);
        self.notify.notify_one();
    }

    /// After a write that stored an object with owner references (`key` is its
    /// [`super::resources::ResourceType::store_key`]): the next run looks at that object.
    pub fn written(&self, key: &str, namespace: &str, name: &str) {
        let mut pending = self.pending();
        if !pending.everything {
            pending
                .written
                .insert((key.to_owned(), namespace.to_owned(), name.to_owned()));
            if pending.written.len() > WRITTEN_LIMIT {
                pending.everything = true;
                pending.written.clear();
            }
        }
        drop(pending);
        self.notify.notify_one();
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending())
    }
}

/// One thing the collector decided to do.
enum Action {
    /// Delete (or mark for deletion) an object.
    Delete {
        key: String,
        namespace: String,
        name: String,
    },
    /// Store an object with changed owner references or finalizers.
    Rewrite { key: String, object: Value },
    /// Remove an object for good.
    Remove {
        key: String,
        namespace: String,
        name: String,
    },
}

fn uid(object: &Value) -> Option<&str> {
    object["metadata"]["uid"].as_str()
}

fn delete(key: &str, object: &Value) -> Action {
    let (namespace, name) = namespace_and_name(object);
    Action::Delete {
        key: key.to_owned(),
        namespace,
        name,
    }
}

/// Deletes of the `objects` not already being deleted.
fn delete_live(objects: Vec<(&String, &Value)>) -> impl Iterator<Item = Action> {
    objects
        .into_iter()
        .filter(|(_, o)| !meta::is_deleting(o))
        .map(|(k, o)| delete(k, o))
}

/// Whether every owner reference of `object` names a kind this server serves.
///
/// The real collector resolves each reference's `apiVersion` and `kind` through its REST
/// mapper before it asks whether the owner exists; a reference it cannot resolve (a
/// custom resource whose CRD is not installed, a group/version that does not exist)
/// makes it log and retry the dependent, never delete it (kube-controller-manager,
/// `pkg/controller/garbagecollector`: `isDangling` returns the `restMappingError`,
/// `attemptToDeleteWorker` requeues). The dependent stays until the kind is served.
fn owners_resolvable(world: &World, object: &Value) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|reference| {
            let api_version = reference["apiVersion"].as_str().unwrap_or_default();
            let kind = reference["kind"].as_str().unwrap_or_default();
            world.registry.find_kind(api_version, kind).is_some()
        })
}

/// What the collector does about `object`'s own owner references: delete it when every
/// owner is gone, drop the references of the gone ones when some remain.
fn plan_owners(world: &World, key: &str, object: &Value, actions: &mut Vec<Action>) {
    let owners = meta::owner_uids(object);
    if owners.is_empty() || !owners_resolvable(world, object) {
        return;
    }
    let dangling: Vec<String> = owners
        .iter()
        .filter(|u| world.by_uid(u).is_none())
        .cloned()
        .collect();
    if dangling.len() == owners.len() {
        if !meta::is_deleting(object) {
            actions.push(delete(key, object));
        }
    } else if !dangling.is_empty() {
        let mut rewritten = object.clone();
        meta::drop_owner_refs(&mut rewritten, &dangling);
        actions.push(Action::Rewrite {
            key: key.to_owned(),
            object: rewritten,
        });
    }
}

/// Whether [`plan`] would act on `object` for another object's sake, or on other
/// objects for its sake: it is a namespace or a Foreground deletion being finished, it
/// lives in a terminating namespace, or an owner of it is being deleted in the
/// Foreground. Looking at only the written objects is not enough then.
fn needs_everything(world: &World, key: &str, object: &Value) -> bool {
    let foreground = |o: &Value| {
        meta::is_deleting(o)
            && meta::finalizers(o)
                .iter()
                .any(|f| f == "foregroundDeletion")
    };
    if foreground(object) || (key == NAMESPACE_KEY && meta::is_deleting(object)) {
        return true;
    }
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    if !namespace.is_empty()
        && lifecycle::namespace_state(world, namespace) == NamespaceState::Terminating
    {
        return true;
    }
    meta::owner_uids(object).iter().any(|owner| {
        world
            .by_uid(owner)
            .and_then(|(k, ns, name)| world.get(k, ns, name))
            .is_some_and(foreground)
    })
}

/// The actions for the objects `written` since the last run, or `None` when one of
/// them needs every object looked at ([`needs_everything`]).
fn plan_written(
    world: &World,
    written: &BTreeSet<(String, String, String)>,
) -> Option<Vec<Action>> {
    let mut actions = Vec::new();
    for (key, namespace, name) in written {
        let Some(object) = world.get(key, namespace, name) else {
            continue;
        };
        if needs_everything(world, key, object) {
            return None;
        }
        plan_owners(world, key, object, &mut actions);
    }
    Some(actions)
}

fn plan(world: &World) -> Vec<Action> {
    let mut actions = Vec::new();
    for (key, object) in world.iter_all() {
        plan_owners(world, key, object, &mut actions);
        if meta::is_deleting(object)
            && meta::finalizers(object)
                .iter()
                .any(|f| f == "foregroundDeletion")
        {
            let owner = uid(object).unwrap_or_default();
            let dependents: Vec<(&String, &Value)> = world
                .iter_all()
                .filter(|(_, o)| meta::owner_uids(o).iter().any(|u| u == owner))
                .collect();
            if dependents.is_empty() {
                let mut released = object.clone();
                meta::remove_finalizer(&mut released, "foregroundDeletion");
                actions.push(Action::Rewrite {
                    key: key.clone(),
                    object: released,
                });
            } else {
                actions.extend(delete_live(dependents));
            }
        }
        if key == NAMESPACE_KEY && meta::is_deleting(object) {
            let (_, namespace) = namespace_and_name(object);
            let contents: Vec<(&String, &Value)> = world
                .iter_all()
                .filter(|(k, o)| {
                    *k != NAMESPACE_KEY
                        && o["metadata"]["namespace"].as_str() == Some(namespace.as_str())
                })
                .collect();
            if contents.is_empty() && meta::finalizers(object).is_empty() {
                actions.push(Action::Remove {
                    key: key.clone(),
                    namespace: String::new(),
                    name: namespace,
                });
            } else {
                actions.extend(delete_live(contents));
            }
        }
    }
    actions
}

/// Runs the collector over every stored object until nothing is left to do; returns how
/// many actions it took.
pub fn collect(world: &mut World) -> usize {
    let mut total = 0;
    for _ in 0..64 {
        let actions = plan(world);
        if actions.is_empty() {
            break;
        }
        total += actions.len();
        act(world, actions);
    }
    total
}

/// Runs the collector for the objects in `written` (store key, namespace, name): what
/// [`collect`] would do about them, without looking at the other objects unless one of
/// them needs it or an action was taken (a delete can leave dependents of its own).
/// Returns how many actions it took.
fn collect_written(world: &mut World, written: &BTreeSet<(String, String, String)>) -> usize {
    match plan_written(world, written) {
        None => collect(world),
        Some(actions) if actions.is_empty() => 0,
        Some(actions) => {
            let taken = actions.len();
            act(world, actions);
            taken + collect(world)
        }
    }
}

fn act(world: &mut World, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Delete {
                key,
                namespace,
                name,
            } => {
                lifecycle::delete(world, &key, &namespace, &name, false);
            }
            Action::Rewrite { key, object } => {
                if meta::is_deleting(&object)
                    && meta::finalizers(&object).is_empty()
                    && key != NAMESPACE_KEY
                {
                    let (namespace, name) = namespace_and_name(&object);
                    lifecycle::remove(world, &key, &namespace, &name);
                } else {
                    lifecycle::store(world, &key, object);
                }
            }
            Action::Remove {
                key,
                namespace,
                name,
            } => {
                lifecycle::remove(world, &key, &namespace, &name);
            }
        }
    }
}

/// The collector task: wakes on every delete and every write that sets owner references
/// ([`Wakeups`]), waits `gc_delay`, collects (everything, or the written objects).
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            () = shared.gc.notify.notified() => {}
            _ = shutdown.recv() => return,
        }
        tokio::time::sleep(shared.options.gc_delay).await;
        let pending = shared.gc.take();
        let mut world = shared.store.lock();
        if pending.everything {
            collect(&mut world);
        } else {
            collect_written(&mut world, &pending.written);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::{collect_written, lifecycle};
    use crate::store::{Store, World};

    const SECRETS: &str = "/secrets";

    fn secret(name: &str, uid: &str, owners: &[&str]) -> Value {
        let references: Vec<Value> = owners
            .iter()
            .map(|owner| json!({"apiVersion": "v1", "kind": "Secret", "name": "o", "uid": owner}))
            .collect();
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": name, "namespace": "default", "uid": uid, "ownerReferences": references,
        }})
    }

    fn world_with(objects: Vec<Value>) -> Store {
        let store = Store::new(100);
        {
            let mut world = store.lock();
            let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "default", "uid": "ns"}});
            lifecycle::store(&mut world, lifecycle::NAMESPACE_KEY, namespace);
            for object in objects {
                lifecycle::store(&mut world, SECRETS, object);
            }
        }
        store
    }

    fn written(names: &[&str]) -> BTreeSet<(String, String, String)> {
        names
            .iter()
            .map(|n| (SECRETS.to_owned(), "default".to_owned(), (*n).to_owned()))
            .collect()
    }

    fn exists(world: &World, name: &str) -> bool {
        world.contains(SECRETS, "default", name)
    }

    #[test]
    fn written_dependents_are_collected_by_their_owners_alone() {
        let store = world_with(vec![
            secret("owner", "u-owner", &[]),
            secret("orphan", "u-orphan", &["u-gone"]),
            secret("child", "u-child", &["u-owner"]),
            secret("half", "u-half", &["u-owner", "u-gone"]),
        ]);
        let mut world = store.lock();

        let taken = collect_written(&mut world, &written(&["orphan", "child", "half"]));

        assert_eq!(taken, 2);
        assert!(!exists(&world, "orphan"));
        assert!(exists(&world, "child"));
        let half = world.get(SECRETS, "default", "half").unwrap();
        assert_eq!(half["metadata"]["ownerReferences"][0]["uid"], "u-owner");
        assert_eq!(
            half["metadata"]["ownerReferences"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    // Nothing to do for the written objects: the others are not looked at (a dangling
    // dependent nobody wrote waits for a run that looks at everything, after a delete).
    #[test]
    fn written_dependents_of_live_owners_cost_no_action() {
        let store = world_with(vec![
            secret("owner", "u-owner", &[]),
            secret("child", "u-child", &["u-owner"]),
            secret("unwritten", "u-unwritten", &["u-gone"]),
        ]);
        let mut world = store.lock();

        assert_eq!(
            collect_written(&mut world, &written(&["child", "missing"])),
            0
        );
        assert!(exists(&world, "unwritten"));
    }

    // The owner's Foreground deletion deletes its dependents, a newly written one too:
    // looking at the written object alone would miss it, so the run looks at everything.
    #[test]
    fn a_dependent_written_under_a_foreground_deletion_is_deleted() {
        let mut owner = secret("owner", "u-owner", &[]);
        owner["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        owner["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        let store = world_with(vec![owner, secret("child", "u-child", &["u-owner"])]);
        let mut world = store.lock();

        assert!(collect_written(&mut world, &written(&["child"])) > 0);
        assert!(!exists(&world, "child"));
        assert!(!exists(&world, "owner"));
    }
}
