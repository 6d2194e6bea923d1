//! Object lifecycle shared by the handlers and the garbage collector: storing with
//! side effects (a CRD registers its kinds) and etcd's size limit, deleting (finalizers
//! hold an object with `deletionTimestamp` set; a removed CRD takes its kinds and objects
//! with it).

use serde_json::{Value, json};

use super::meta;
use super::resources::{ResourceType, kinds_of_crd};
use super::status::ApiError;
use super::store::{World, now_timestamp};

/// Store key of `CustomResourceDefinitions`.
pub const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";
/// Store key of Namespaces.
pub const NAMESPACE_KEY: &str = "/namespaces";

/// What a delete did.
#[derive(Debug, Clone, PartialEq)]
pub enum Deleted {
    /// The object is gone; its last state.
    Gone(Value),
    /// Finalizers hold it; its state with `deletionTimestamp`.
    Pending(Value),
}

/// Sets the status a real API server gives an accepted CRD.
pub fn establish_crd(crd: &mut Value, now: &str) {
    let names = crd["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted["singular"].as_str().is_none_or(str::is_empty) {
        accepted["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if accepted["listKind"].as_str().is_none_or(str::is_empty) {
        accepted["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    crd["status"] = json!({
        "acceptedNames": accepted,
        "storedVersions": stored,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    });
}

/// A CRD object's `spec.group` and `spec.names.plural`: which kinds it serves.
fn crd_group_and_plural(crd: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&crd["spec"]["group"]),
        text(&crd["spec"]["names"]["plural"]),
    )
}

/// etcd's default `--max-request-bytes` (1.5 MiB), which EKS keeps: a write whose object
/// is larger is refused by etcd ([`ApiError::etcd_request_too_large`]). Measured here on
/// the object's compact JSON, which is what etcd stores for custom resources; built-in
/// kinds are stored as protobuf, usually smaller, so for them the emulator refuses a
/// little earlier than a real cluster would.
pub const MAX_STORED_OBJECT_BYTES: usize = 1536 * 1024;

/// Refuses an object etcd would refuse for its size (see [`MAX_STORED_OBJECT_BYTES`]).
pub fn check_stored_size(object: &Value) -> Result<(), ApiError> {
    let size = serde_json::to_vec(object).map_or(0, |bytes| bytes.len());
    if size > MAX_STORED_OBJECT_BYTES {
        return Err(ApiError::etcd_request_too_large());
    }
    Ok(())
}

/// Stores an object and applies its side effects on the served kinds.
pub fn store(world: &mut World, key: &str, object: Value) -> Value {
    let (namespace, name) = super::store::namespace_and_name(&object);
    if key == CRD_KEY {
        let (group, plural) = crd_group_and_plural(&object);
        world
            .registry
            .set_custom(&group, &plural, kinds_of_crd(&object));
    }
    world.put(key, &namespace, &name, object)
}

/// Removes an object for good, with side effects (a CRD drops its kinds and objects).
pub fn remove(world: &mut World, key: &str, namespace: &str, name: &str) -> Option<Value> {
    let object = world.remove(key, namespace, name)?;
    if key == CRD_KEY {
        let (group, plural) = crd_group_and_plural(&object);
        world.registry.remove_custom(&group, &plural);
        world.remove_bucket(&format!("{group}/{plural}"));
    }
    Some(object)
}

/// Whether a kind keeps `metadata.generation`, by store key.
fn tracks_generation(world: &World, key: &str) -> bool {
    world
        .registry
        .all()
        .iter()
        .any(|r| r.store_key() == key && r.tracks_generation)
}

/// Deletes an object: removes it when no finalizer holds it, otherwise sets
/// `deletionTimestamp` (once). Namespaces always wait for their contents.
pub fn delete(
    world: &mut World,
    key: &str,
    namespace: &str,
    name: &str,
    foreground: bool,
) -> Option<Deleted> {
    let mut object = world.get(key, namespace, name)?.clone();
    if foreground
        && !meta::finalizers(&object)
            .iter()
            .any(|f| f == "foregroundDeletion")
    {
        let mut list = meta::finalizers(&object);
        list.push("foregroundDeletion".to_owned());
        object["metadata"]["finalizers"] = json!(list);
    }
    let holds = !meta::finalizers(&object).is_empty() || key == NAMESPACE_KEY;
    if !holds {
        return remove(world, key, namespace, name).map(Deleted::Gone);
    }
    if meta::is_deleting(&object) && !foreground {
        return Some(Deleted::Pending(object));
    }
    if !meta::is_deleting(&object) {
        meta::mark_deleting(tracks_generation(world, key), &mut object, &now_timestamp());
        if key == NAMESPACE_KEY {
            object["status"]["phase"] = json!("Terminating");
        }
    }
    Some(Deleted::Pending(store(world, key, object)))
}

/// After an update of an object being deleted: removes it once no finalizer is left.
pub fn finish_if_released(world: &mut World, rt: &ResourceType, object: &Value) -> Option<Value> {
    if rt.kind != "Namespace" && meta::is_deleting(object) && meta::finalizers(object).is_empty() {
        let (namespace, name) = super::store::namespace_and_name(object);
        return remove(world, &rt.store_key(), &namespace, &name);
    }
    None
}

/// Where a namespace stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceState {
    /// Exists and accepts new objects.
    Active,
    /// Being deleted: no new objects.
    Terminating,
    /// Does not exist.
    Missing,
}

/// Whether a namespace exists and is not terminating.
pub fn namespace_state(world: &World, namespace: &str) -> NamespaceState {
    match world.get(NAMESPACE_KEY, "", namespace) {
        Some(ns) if meta::is_deleting(ns) => NamespaceState::Terminating,
        Some(_) => NamespaceState::Active,
        None => NamespaceState::Missing,
    }
}
