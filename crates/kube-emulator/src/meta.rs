//! Metadata rules of writes, as the real registry strategies apply them: what a create
//! resets, what an update may not change, status subresource isolation, and when
//! `metadata.generation` moves. Pure functions over JSON.

use serde_json::{Map, Value, json};

use super::resources::ResourceType;

/// Characters `generateName` suffixes are drawn from (no vowels, as upstream).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A 5-character random suffix for `generateName`, derived from a uid's randomness.
pub fn name_suffix(uid: &str) -> String {
    uid.bytes()
        .filter(u8::is_ascii_hexdigit)
        .skip(8)
        .take(5)
        .enumerate()
        .map(|(i, b)| {
            let idx = (usize::from(b) * 7 + i * 13) % SUFFIX_ALPHABET.len();
            char::from(SUFFIX_ALPHABET[idx])
        })
        .collect()
}

/// The object as a create stores it: server-set metadata filled in, status reset when
/// the kind has a status subresource.
pub fn prepare_create(rt: &ResourceType, mut object: Value, uid: String, now: &str) -> Value {
    object["apiVersion"] = Value::String(rt.api_version());
    object["kind"] = Value::String(rt.kind.clone());
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.insert("uid".to_owned(), Value::String(uid));
        meta.insert(
            "creationTimestamp".to_owned(),
            Value::String(now.to_owned()),
        );
        for key in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
        ] {
            meta.remove(key);
        }
        if rt.tracks_generation {
            meta.insert("generation".to_owned(), json!(1));
        } else {
            meta.remove("generation");
        }
    }
    if rt.status_subresource
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    if rt.kind == "Namespace" && rt.group.is_empty() {
        object["status"] = json!({ "phase": "Active" });
        object["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    object
}

/// Metadata fields only the server sets; an update keeps the stored values.
const SERVER_OWNED_META: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "namespace",
    "name",
];

fn without(object: &Value, keys: &[&str]) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        for key in keys {
            map.remove(*key);
        }
    }
    copy
}

/// The object an update stores, from the stored `old` and the submitted `new`:
/// - on `/status`, everything but `status` (and `managedFields`) comes from `old`
///   (upstream `ResetObjectMetaForStatus` and the status strategies);
/// - on the main endpoint of a kind with a status subresource, `status` comes from `old`;
/// - server-owned metadata always comes from `old`;
/// - `generation` grows by one when anything outside `metadata` and `status` changed.
pub fn prepare_update(
    rt: &ResourceType,
    old: &Value,
    mut new: Value,
    subresource: Option<&str>,
) -> Value {
    if subresource == Some("status") {
        let mut merged = old.clone();
        match new.get("status") {
            Some(status) => merged["status"] = status.clone(),
            None => {
                if let Some(map) = merged.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        match new["metadata"].get("managedFields") {
            Some(mf) => merged["metadata"]["managedFields"] = mf.clone(),
            None => {
                if let Some(meta) = merged["metadata"].as_object_mut() {
                    meta.remove("managedFields");
                }
            }
        }
        return merged;
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    if rt.status_subresource {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    if !new["metadata"].is_object() {
        new["metadata"] = Value::Object(Map::new());
    }
    for key in SERVER_OWNED_META {
        match old["metadata"].get(*key) {
            Some(v) => new["metadata"][*key] = v.clone(),
            None => {
                if let Some(meta) = new["metadata"].as_object_mut() {
                    meta.remove(*key);
                }
            }
        }
    }
    if rt.tracks_generation
        && without(old, &["metadata", "status"]) != without(&new, &["metadata", "status"])
    {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        new["metadata"]["generation"] = json!(generation);
    }
    new
}

/// The strings of a JSON list (other items and a non-list are skipped).
pub fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.finalizers` as strings.
pub fn finalizers(object: &Value) -> Vec<String> {
    strings(&object["metadata"]["finalizers"])
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(object: &Value) -> bool {
    object["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Finalizers `new` adds that `old` did not have.
pub fn added_finalizers(old: &Value, new: &Value) -> Vec<String> {
    let before = finalizers(old);
    finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect()
}

/// Marks an object as being deleted (`deletionTimestamp`, grace period 0, generation + 1).
pub fn mark_deleting(rt_tracks_generation: bool, object: &mut Value, now: &str) {
    object["metadata"]["deletionTimestamp"] = Value::String(now.to_owned());
    object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    if rt_tracks_generation && let Some(g) = object["metadata"]["generation"].as_i64() {
        object["metadata"]["generation"] = json!(g + 1);
    }
}

/// The object with a finalizer removed.
pub fn remove_finalizer(object: &mut Value, finalizer: &str) {
    if let Some(list) = object["metadata"]["finalizers"].as_array_mut() {
        list.retain(|f| f.as_str() != Some(finalizer));
        if list.is_empty()
            && let Some(meta) = object["metadata"].as_object_mut()
        {
            meta.remove("finalizers");
        }
    }
}

/// Owner uids in `metadata.ownerReferences`.
pub fn owner_uids(object: &Value) -> Vec<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the ownerReferences that point at any of `uids`.
pub fn drop_owner_refs(object: &mut Value, uids: &[String]) {
    if let Some(refs) = object["metadata"]["ownerReferences"].as_array_mut() {
        refs.retain(|r| {
            r["uid"]
                .as_str()
                .is_none_or(|u| !uids.iter().any(|x| x == u))
        });
        if refs.is_empty()
            && let Some(meta) = object["metadata"].as_object_mut()
        {
            meta.remove("ownerReferences");
        }
    }
}
