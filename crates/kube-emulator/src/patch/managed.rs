//! `metadata.managedFields` entries: reading them from an object, and writing them back in
//! the real server's wire format and order. Entries that did not change keep their original
//! JSON, so an operation that changes nothing leaves the object byte-identical.

use serde_json::{Map, Value};

use super::fields::{self, FieldSet};

/// `operation` of an entry written by server-side apply.
pub(crate) const APPLY: &str = "Apply";
/// `operation` of an entry written by any other write.
pub(crate) const UPDATE: &str = "Update";

/// One `managedFields` entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) subresource: Option<String>,
    pub(crate) api_version: String,
    pub(crate) time: Option<String>,
    pub(crate) fields: FieldSet,
    /// The entry as it was read; `None` once anything in it changed.
    raw: Option<Value>,
}

impl Entry {
    /// A new, empty entry for a manager's operation.
    pub(crate) fn new(manager: &str, operation: &str, subresource: Option<&str>) -> Self {
        Entry {
            manager: manager.to_owned(),
            operation: operation.to_owned(),
            subresource: subresource.map(str::to_owned),
            api_version: String::new(),
            time: None,
            fields: FieldSet::new(),
            raw: None,
        }
    }

    /// Whether this entry belongs to `manager`'s `operation` on `subresource` (the real
    /// server's manager identifier, without the API version).
    pub(crate) fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// Replaces the field set; the entry is re-encoded only if the set really changed.
    pub(crate) fn set_fields(&mut self, fields: FieldSet) -> bool {
        if fields == self.fields {
            return false;
        }
        self.fields = fields;
        self.raw = None;
        true
    }

    /// Drops the fields another write `changed` or `removed`: their ownership moves to
    /// that writer (or nobody).
    pub(crate) fn give_up(&mut self, changed: &FieldSet, removed: &FieldSet) {
        let kept = self
            .fields
            .iter()
            .filter(|path| !changed.contains(*path) && !removed.contains(*path))
            .cloned()
            .collect();
        self.set_fields(kept);
    }

    /// Marks the entry as written now by its manager, with the object's API version.
    pub(crate) fn touch(&mut self, api_version: &str) {
        api_version.clone_into(&mut self.api_version);
        self.time = Some(now());
        self.raw = None;
    }

    fn to_json(&self) -> Value {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut entry = Map::new();
        entry.insert("manager".to_owned(), Value::from(self.manager.as_str()));
        entry.insert("operation".to_owned(), Value::from(self.operation.as_str()));
        entry.insert(
            "apiVersion".to_owned(),
            Value::from(self.api_version.as_str()),
        );
        if let Some(time) = &self.time {
            entry.insert("time".to_owned(), Value::from(time.as_str()));
        }
        entry.insert("fieldsType".to_owned(), Value::from("FieldsV1"));
        entry.insert("fieldsV1".to_owned(), fields::encode(&self.fields));
        if let Some(subresource) = &self.subresource {
            entry.insert("subresource".to_owned(), Value::from(subresource.as_str()));
        }
        Value::Object(entry)
    }
}

/// The `metadata.managedFields` of `object`, if any.
pub(crate) fn of(object: &Value) -> Option<&Value> {
    object.pointer("/metadata/managedFields")
}

/// The entries of a `managedFields` list (malformed entries are skipped).
pub(crate) fn read(managed_fields: Option<&Value>) -> Vec<Entry> {
    let Some(Value::Array(entries)) = managed_fields else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|raw| {
            let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
            Some(Entry {
                manager: text("manager")?,
                operation: text("operation")?,
                subresource: text("subresource").filter(|s| !s.is_empty()),
                api_version: text("apiVersion").unwrap_or_default(),
                time: text("time"),
                fields: raw.get("fieldsV1").map(fields::decode).unwrap_or_default(),
                raw: Some(raw.clone()),
            })
        })
        .collect()
}

/// Writes `entries` into `object`'s `metadata.managedFields` (in place, keeping the key's
/// position), dropping entries whose field
/// set is empty, sorted like the real server (operation, time, manager, version, subresource).
/// When every entry is unchanged and none was added or dropped, the original JSON is kept.
pub(crate) fn write(object: &mut Value, original: Option<&Value>, mut entries: Vec<Entry>) {
    entries.retain(|entry| !entry.fields.is_empty());
    let unchanged = entries.iter().all(|entry| entry.raw.is_some())
        && original.and_then(Value::as_array).map(Vec::len) == Some(entries.len());
    let value = match original {
        Some(original) if unchanged => original.clone(),
        _ => {
            entries.sort_by(|a, b| {
                (
                    &a.operation,
                    &a.time,
                    &a.manager,
                    &a.api_version,
                    &a.subresource,
                )
                    .cmp(&(
                        &b.operation,
                        &b.time,
                        &b.manager,
                        &b.api_version,
                        &b.subresource,
                    ))
            });
            Value::Array(entries.iter().map(Entry::to_json).collect())
        }
    };
    let Value::Object(root) = object else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(metadata) = metadata {
        if value.as_array().is_some_and(Vec::is_empty) {
            metadata.remove("managedFields");
        } else if let Some(slot) = metadata.get_mut("managedFields") {
            *slot = value;
        } else {
            metadata.insert("managedFields".to_owned(), value);
        }
    }
}

/// The current time as the API server writes `metav1.Time`: RFC 3339, whole seconds, UTC.
/// Uses jiff through k8s-openapi's re-export (k8s-openapi 0.29 is built on jiff), so no
/// new dependency is needed.
pub(crate) fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
