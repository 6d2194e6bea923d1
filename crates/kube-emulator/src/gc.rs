//! The garbage collector: a background task that, shortly after a delete or a write of
//! an object with owner references (the real collector watches every object), removes
//! dependents whose owners are all gone (Background propagation), drops dangling owner
//! references when some owner remains, finishes Foreground deletions, and empties
//! terminating namespaces — as kube-controller-manager's garbage collector and
//! namespace controller do.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::Shared;
use super::lifecycle::{self, NAMESPACE_KEY};
use super::meta;
use super::store::{World, namespace_and_name};

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

fn plan(world: &World) -> Vec<Action> {
    let uids: HashSet<&str> = world.iter_all().filter_map(|(_, o)| uid(o)).collect();
    let mut actions = Vec::new();
    for (key, object) in world.iter_all() {
        let owners = meta::owner_uids(object);
        if !owners.is_empty() && owners_resolvable(world, object) {
            let dangling: Vec<String> = owners
                .iter()
                .filter(|u| !uids.contains(u.as_str()))
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
                    key: key.clone(),
                    object: rewritten,
                });
            }
        }
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

/// Runs the collector until nothing is left to do; returns how many actions it took.
pub fn collect(world: &mut World) -> usize {
    let mut total = 0;
    for _ in 0..64 {
        let actions = plan(world);
        if actions.is_empty() {
            break;
        }
        total += actions.len();
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
    total
}

/// The collector task: wakes on every delete and every write that sets owner references,
/// waits `gc_delay`, collects.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            () = shared.gc.notified() => {}
            _ = shutdown.recv() => return,
        }
        tokio::time::sleep(shared.options.gc_delay).await;
        collect(&mut shared.store.lock());
    }
}
