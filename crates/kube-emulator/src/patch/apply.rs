//! Server-side apply and the ownership bookkeeping of other writes, after
//! structured-merge-diff's `Updater.Apply` / `Updater.Update`: merge the applied
//! configuration into the live object, prune what the manager stopped applying, then move
//! ownership of every changed field, reporting conflicts unless the apply is forced.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fields::{
    self, FieldSet, Path, field, field_set, flatten, has_descendant, item_element,
};
use super::managed::{self, APPLY, Entry, UPDATE};
use super::shape::{ListKind, Shape, split_gvk};
use super::{ApplyConflict, ApplyOptions, PatchError};

/// Metadata the server owns; an applied configuration cannot set it.
const SYSTEM_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

pub(crate) fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    options: &ApplyOptions<'_>,
) -> Result<Value, PatchError> {
    let shape = Shape::for_object(options.gvk, options.schema);
    let config = clean_config(applied)?;
    validate_lists(&config, shape, &mut Vec::new())?;

    // managedFields stays in place (field sets never include it, see `fields::flatten`),
    // so the key keeps its position and a no-op apply returns `live` byte for byte.
    let live = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let original_managed = managed::of(&live).cloned();
    let mut entries = managed::read(original_managed.as_ref());
    let mine = position_or_insert(&mut entries, options.manager, APPLY, options.subresource);
    let last_set = entries[mine].fields.clone();
    let new_set = field_set(&config, shape);

    let mut merged = merge(&live, &config, shape);
    let owned_by_others: FieldSet = entries
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != mine)
        .flat_map(|(_, entry)| entry.fields.iter().cloned())
        .collect();
    let keep: FieldSet = new_set.union(&owned_by_others).cloned().collect();
    let remove: FieldSet = last_set.difference(&keep).cloned().collect();
    if !remove.is_empty() {
        prune(&mut merged, shape, &mut Vec::new(), &remove, &keep);
    }

    let (changed, removed) = compare(&live, &merged, shape);
    let mut conflicts = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if index == mine {
            continue;
        }
        for path in entry.fields.intersection(&changed) {
            conflicts.push(ApplyConflict {
                manager: entry.manager.clone(),
                field: fields::display(path),
            });
        }
    }
    if !options.force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.field).cmp(&(&b.manager, &b.field)));
        conflicts.dedup();
        return Err(PatchError::Conflict(conflicts));
    }
    for (index, entry) in entries.iter_mut().enumerate() {
        if index != mine {
            entry.give_up(&changed, &removed);
        }
    }
    let api_version = api_version_of(options.gvk);
    // The real server stamps the applier's entry on every apply and then drops the new
    // timestamp when nothing else in the object changed; the net effect is this rule.
    let object_changed = !changed.is_empty() || !removed.is_empty();
    if entries[mine].set_fields(new_set)
        || entries[mine].api_version != api_version
        || object_changed
    {
        entries[mine].touch(&api_version);
    }
    managed::write(&mut merged, original_managed.as_ref(), entries);
    Ok(merged)
}

pub(crate) fn record_update(
    old: Option<&Value>,
    mut new: Value,
    manager: &str,
    subresource: Option<&str>,
    schema: Option<&Value>,
) -> Value {
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or_default();
    let shape = Shape::for_object(&format!("{api_version}/{kind}"), schema);

    let old = old.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    // Like the real server: managed fields sent by the client replace the stored ones
    // when they differ (that is how a client resets them); otherwise the stored ones stay.
    let base = match managed::of(&new) {
        Some(sent) if sent.as_array().is_some_and(|a| !a.is_empty()) => Some(sent.clone()),
        _ => managed::of(&old).cloned(),
    };
    let mut entries = managed::read(base.as_ref());

    let (changed, removed) = compare(&old, &new, shape);
    for entry in &mut entries {
        if !entry.is(manager, UPDATE, subresource) {
            entry.give_up(&changed, &removed);
        }
    }
    let mine = position_or_insert(&mut entries, manager, UPDATE, subresource);
    let fields: FieldSet = entries[mine]
        .fields
        .union(&changed)
        .filter(|path| !removed.contains(*path))
        .cloned()
        .collect();
    // Upstream stamps the updater's entry when the write took any field (changed or added).
    if entries[mine].set_fields(fields) || !changed.is_empty() {
        entries[mine].touch(&api_version);
    }
    managed::write(&mut new, base.as_ref(), entries);
    new
}

fn position_or_insert(
    entries: &mut Vec<Entry>,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
) -> usize {
    if let Some(at) = entries
        .iter()
        .position(|entry| entry.is(manager, operation, subresource))
    {
        return at;
    }
    entries.push(Entry::new(manager, operation, subresource));
    entries.len() - 1
}

/// `group/version` of a `group/version/Kind` string.
fn api_version_of(gvk: &str) -> String {
    match split_gvk(gvk) {
        ("", version, _) => version.to_owned(),
        (group, version, _) => format!("{group}/{version}"),
    }
}

/// The applied configuration without `null`s and without server-owned metadata.
fn clean_config(applied: &Value) -> Result<Value, PatchError> {
    let Value::Object(_) = applied else {
        return Err(PatchError::Invalid(
            "an applied configuration must be an object".to_owned(),
        ));
    };
    let mut config = drop_nulls(applied);
    if let Some(metadata) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in SYSTEM_METADATA {
            metadata.remove(*key);
        }
    }
    Ok(config)
}

fn drop_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key.clone(), drop_nulls(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(drop_nulls).collect()),
        other => other.clone(),
    }
}

/// Keyed lists of an applied configuration need their key fields and unique keys.
fn validate_lists(value: &Value, shape: Shape<'_>, path: &mut Path) -> Result<(), PatchError> {
    match value {
        Value::Object(map) if !shape.is_atomic_map() || path.is_empty() => {
            for (name, child) in map {
                path.push(field(name));
                validate_lists(child, shape.field(name), path)?;
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = shape.list_kind();
            if kind == ListKind::Atomic {
                return Ok(());
            }
            let mut seen = std::collections::BTreeSet::new();
            for (index, item) in items.iter().enumerate() {
                let element = item_element(&kind, index, item);
                let where_ = fields::display(path);
                if element.starts_with("i:") || (kind != ListKind::Set && !item.is_object()) {
                    return Err(PatchError::Invalid(format!(
                        "{where_}: associative list with keys has an element that omits all key fields or is not an object"
                    )));
                }
                if !seen.insert(element.clone()) {
                    return Err(PatchError::Invalid(format!(
                        "{where_}: duplicate entries for key {element}"
                    )));
                }
                if matches!(kind, ListKind::Map { .. }) {
                    path.push(element);
                    validate_lists(item, shape.item(), path)?;
                    path.pop();
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Merges `config` into `live`: maps field by field, keyed lists item by item (keeping
/// both orders where they agree, live first), sets by value, everything else replaced.
fn merge(live: &Value, config: &Value, shape: Shape<'_>) -> Value {
    match (live, config) {
        (Value::Object(live_map), Value::Object(config_map)) if !shape.is_atomic_map() => {
            let mut out = live_map.clone();
            for (key, value) in config_map {
                let merged = match out.get(key) {
                    Some(existing) => merge(existing, value, shape.field(key)),
                    None => value.clone(),
                };
                match out.get_mut(key) {
                    Some(slot) => *slot = merged,
                    None => {
                        out.insert(key.clone(), merged);
                    }
                }
            }
            Value::Object(out)
        }
        (Value::Array(live_items), Value::Array(config_items)) => match shape.list_kind() {
            ListKind::Atomic => config.clone(),
            ListKind::Set => {
                let mut out = live_items.clone();
                for item in config_items {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            kind @ ListKind::Map { .. } => {
                Value::Array(merge_keyed(live_items, config_items, &kind, shape.item()))
            }
        },
        _ => config.clone(),
    }
}

fn merge_keyed(live: &[Value], config: &[Value], kind: &ListKind, item: Shape<'_>) -> Vec<Value> {
    let keys_of = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .enumerate()
            .map(|(index, value)| item_element(kind, index, value))
            .collect()
    };
    let (live_keys, config_keys) = (keys_of(live), keys_of(config));
    let live_by_key: BTreeMap<&String, &Value> = live_keys.iter().zip(live).collect();
    let config_by_key: BTreeMap<&String, &Value> = config_keys.iter().zip(config).collect();
    let mut done = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(live.len() + config.len());
    let (mut l, mut c) = (0, 0);
    while l < live.len() || c < config.len() {
        if l < live.len() && done.contains(&live_keys[l]) {
            l += 1;
            continue;
        }
        let take_live = l < live.len()
            && (c >= config.len()
                || (live_keys[l] != config_keys[c] && !config_by_key.contains_key(&live_keys[l])));
        if take_live {
            out.push(live[l].clone());
            done.insert(live_keys[l].clone());
            l += 1;
            continue;
        }
        let key = &config_keys[c];
        out.push(match live_by_key.get(key) {
            Some(existing) => merge(existing, &config[c], item),
            None => config[c].clone(),
        });
        done.insert(key.clone());
        c += 1;
    }
    out
}

/// Removes the paths in `remove` from `value`, except where `keep` still owns something
/// below them; containers emptied by the removal disappear, key fields of kept items stay.
fn prune(value: &mut Value, shape: Shape<'_>, path: &mut Path, remove: &FieldSet, keep: &FieldSet) {
    match value {
        Value::Object(map) if !shape.is_atomic_map() || path.is_empty() => {
            let names: Vec<String> = map.keys().cloned().collect();
            for name in names {
                path.push(field(&name));
                if touches(remove, path) {
                    let drop = match map.get_mut(&name) {
                        Some(_) if remove.contains(path) && !has_descendant(keep, path) => true,
                        Some(child) => prune_child(child, shape.field(&name), path, remove, keep),
                        None => false,
                    };
                    if drop {
                        map.remove(&name);
                    }
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = shape.list_kind();
            if kind == ListKind::Atomic {
                return;
            }
            let mut kept = Vec::with_capacity(items.len());
            for (index, mut item) in std::mem::take(items).into_iter().enumerate() {
                path.push(item_element(&kind, index, &item));
                let mut drop = remove.contains(path) && !has_descendant(keep, path);
                if let (false, true, ListKind::Map { keys, .. }) =
                    (drop, touches(remove, path), &kind)
                {
                    let key_fields: Vec<(String, Value)> = keys
                        .iter()
                        .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                        .collect();
                    drop = prune_child(&mut item, shape.item(), path, remove, keep);
                    if let (false, Value::Object(map)) = (drop, &mut item) {
                        map.extend(key_fields);
                    }
                }
                path.pop();
                if !drop {
                    kept.push(item);
                }
            }
            *items = kept;
        }
        _ => {}
    }
}

/// Prunes below `child`; true when that emptied a non-empty map or list.
fn prune_child(
    child: &mut Value,
    shape: Shape<'_>,
    path: &mut Path,
    remove: &FieldSet,
    keep: &FieldSet,
) -> bool {
    let was_empty = is_empty_container(child);
    prune(child, shape, path, remove, keep);
    !was_empty && is_empty_container(child)
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Whether `set` holds `path` or anything below it.
fn touches(set: &FieldSet, path: &Path) -> bool {
    set.range(path.clone()..)
        .next()
        .is_some_and(|first| first.starts_with(path))
}

/// structured-merge-diff's `Compare`: paths modified or added, and paths removed.
fn compare(before: &Value, after: &Value, shape: Shape<'_>) -> (FieldSet, FieldSet) {
    let (before, after) = (flatten(before, shape), flatten(after, shape));
    let changed = after
        .iter()
        .filter(|(path, value)| before.get(*path) != Some(*value))
        .map(|(path, _)| path.clone())
        .collect();
    let removed = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .cloned()
        .collect();
    (changed, removed)
}
