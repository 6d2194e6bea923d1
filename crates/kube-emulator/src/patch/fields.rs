//! Field paths and field sets as structured-merge-diff models them, with the `FieldsV1`
//! wire format of `metadata.managedFields` (`{"f:spec":{"f:replicas":{}}}`), and the
//! flattening of an object into its owned leaves that set computation and comparison use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::shape::{ListKind, Shape};

/// One step of a field path, in its `FieldsV1` spelling: `f:name`, `k:{"name":"web"}`
/// (key fields sorted, compact JSON), `v:"value"` for set items, `i:3` for positions.
pub(crate) type Element = String;
/// A path from the object root.
pub(crate) type Path = Vec<Element>;
/// A set of field paths (leaves and list items).
pub(crate) type FieldSet = BTreeSet<Path>;

/// Fields the server never records in managed fields (structured-merge-diff's strip set).
const STRIPPED: &[&[&str]] = &[
    &["f:apiVersion"],
    &["f:kind"],
    &["f:metadata", "f:name"],
    &["f:metadata", "f:namespace"],
    &["f:metadata", "f:creationTimestamp"],
    &["f:metadata", "f:selfLink"],
    &["f:metadata", "f:uid"],
    &["f:metadata", "f:clusterName"],
    &["f:metadata", "f:generation"],
    &["f:metadata", "f:managedFields"],
    &["f:metadata", "f:resourceVersion"],
];

/// The field path element of a field name.
pub(crate) fn field(name: &str) -> Element {
    format!("f:{name}")
}

/// The path element of a list item: by key for map lists (an absent key field with a
/// schema default counts as that default), by value for sets, by index otherwise (or
/// when a keyed item lacks every key field).
pub(crate) fn item_element(kind: &ListKind, index: usize, item: &Value) -> Element {
    match kind {
        ListKind::Map { keys, defaults, .. } => {
            let mut present: BTreeMap<&str, &Value> = keys
                .iter()
                .filter_map(|key| item.get(key).map(|value| (key.as_str(), value)))
                .collect();
            if present.is_empty() {
                return format!("i:{index}");
            }
            for (key, default) in defaults {
                present.entry(key.as_str()).or_insert(default);
            }
            let fields: Vec<String> = present
                .iter()
                .map(|(key, value)| format!("{}:{value}", Value::from(*key)))
                .collect();
            format!("k:{{{}}}", fields.join(","))
        }
        ListKind::Set => format!("v:{item}"),
        ListKind::Atomic => format!("i:{index}"),
    }
}

/// Flattens `value` into the paths structured-merge-diff would own: scalar leaves, atomic
/// lists and maps (with their values), and keyed or set list items (value `None`: owning an
/// item means owning its presence). Empty granular maps contribute nothing.
pub(crate) fn flatten<'v>(value: &'v Value, shape: Shape<'_>) -> BTreeMap<Path, Option<&'v Value>> {
    let mut out = BTreeMap::new();
    walk(value, shape, &mut Vec::new(), &mut out);
    out.retain(|path, _| !is_stripped(path));
    out
}

fn walk<'v>(
    value: &'v Value,
    shape: Shape<'_>,
    path: &mut Path,
    out: &mut BTreeMap<Path, Option<&'v Value>>,
) {
    match value {
        Value::Object(map) if !shape.is_atomic_map() || path.is_empty() => {
            for (name, child) in map {
                path.push(field(name));
                walk(child, shape.field(name), path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = shape.list_kind();
            if kind == ListKind::Atomic {
                out.insert(path.clone(), Some(value));
                return;
            }
            for (index, item) in items.iter().enumerate() {
                path.push(item_element(&kind, index, item));
                out.insert(path.clone(), None);
                if matches!(kind, ListKind::Map { .. }) {
                    walk(item, shape.item(), path, out);
                }
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone(), Some(value));
        }
    }
}

fn is_stripped(path: &Path) -> bool {
    let managed_fields = ["f:metadata", "f:managedFields"];
    path.starts_with(&managed_fields.map(str::to_owned))
        || STRIPPED.iter().any(|stripped| {
            path.len() == stripped.len() && path.iter().zip(stripped.iter()).all(|(a, b)| a == b)
        })
}

/// The field set of `value`.
pub(crate) fn field_set(value: &Value, shape: Shape<'_>) -> FieldSet {
    flatten(value, shape).into_keys().collect()
}

/// Whether `set` holds a path strictly below `path`.
pub(crate) fn has_descendant(set: &FieldSet, path: &Path) -> bool {
    set.range(path.clone()..)
        .take_while(|candidate| candidate.starts_with(path))
        .any(|candidate| candidate.len() > path.len())
}

/// Encodes a field set in the `FieldsV1` format: each member is `{}` or, when it also has
/// children, a `".": {}` entry beside them.
pub(crate) fn encode(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        insert_member(&mut root, path, has_descendant(set, path));
    }
    Value::Object(root)
}

fn insert_member(node: &mut Map<String, Value>, path: &[Element], has_children: bool) {
    let Some((first, rest)) = path.split_first() else {
        if has_children {
            node.insert(".".to_owned(), Value::Object(Map::new()));
        }
        return;
    };
    let child = node
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(child) = child {
        insert_member(child, rest, has_children);
    }
}

/// Decodes a `FieldsV1` value into a field set (malformed parts are ignored).
pub(crate) fn decode(fields: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    decode_into(fields, &mut Vec::new(), &mut set);
    set
}

fn decode_into(node: &Value, path: &mut Path, set: &mut FieldSet) {
    let Value::Object(map) = node else {
        return;
    };
    if map.is_empty() && !path.is_empty() {
        set.insert(path.clone());
    }
    for (element, child) in map {
        if element == "." {
            set.insert(path.clone());
            continue;
        }
        path.push(element.clone());
        decode_into(child, path, set);
        path.pop();
    }
}

/// A path as structured-merge-diff prints it in conflicts: `.spec.containers[name="web"].image`.
pub(crate) fn display(path: &Path) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let fields: Vec<String> = match serde_json::from_str::<Map<String, Value>>(key) {
                Ok(fields) => fields.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                Err(_) => vec![key.to_owned()],
            };
            let _ = write!(out, "[{}]", fields.join(","));
        } else if let Some(value) = element.strip_prefix("v:") {
            let _ = write!(out, "[={value}]");
        } else if let Some(index) = element.strip_prefix("i:") {
            let _ = write!(out, "[{index}]");
        } else {
            out.push_str(element);
        }
    }
    out
}
