//! The form in which the child caches keep a live object: its metadata, typed, and the
//! rest of it as compact JSON text, parsed again only when a reconcile reads it.
//!
//! A typed k8s-openapi object spends most of its bytes on the inline `Option` fields of
//! everything the API could hold (a `Deployment` with one container is several kB), and
//! every label or annotation map is a B-tree node of about half a kB however few entries
//! it has; the operator caches every child of every app. So the typed part is only what
//! the watch machinery and the reconcile read without parsing (name, namespace,
//! resourceVersion, owners, deletion), plus the labels as a short list and the applied
//! hash. Measured with the operator benchmark (1,000 apps, 15,000 children, release
//! build): fully typed caches put the operator at 141.6 MiB RSS; README "Benchmarks"
//! has the figure with this form. `managedFields` are dropped on the way in (they are
//! often the largest part of an object), after they have said which fields our own
//! apply owns: the `spec` is kept only as far as those go ([`crate::runtime::owned`]),
//! which is all that drift detection compares.

use std::borrow::Cow;
use std::fmt::Debug;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::runtime::context::FIELD_MANAGER;
use crate::runtime::owned::{applied_fields, project};

/// Annotation with the hash of the last applied desired object: the controller writes
/// it on every child it applies, the cache keeps it apart so a reconcile can compare
/// without parsing the object.
pub const APPLIED_HASH: &str = "tiered.io/applied-hash";

/// Kinds kept whole: the claims' immutability check reads live `spec` fields the API
/// server may have filled in (`storageClassName`), and claims are few.
const KEPT_WHOLE: [&str; 1] = ["PersistentVolumeClaim"];

/// Cuts every part of `object` but `apiVersion`, `kind`, `metadata` and `status` down to
/// the fields in `fields`, our apply's `fieldsV1` ([`project`]); `spec.replicas` stays,
/// whoever owns it (an HPA, once a tier autoscales): the reconcile reads it to carry the
/// count over a switch to or from autoscaling, and the tier status reads it.
fn cut_to_owned(object: &mut Value, fields: &Value) {
    let Some(parts) = object.as_object_mut() else {
        return;
    };
    let replicas = parts
        .get("spec")
        .and_then(|spec| spec.get("replicas"))
        .cloned();
    parts.retain(|name, value| {
        if matches!(name.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            return true;
        }
        match fields.get(format!("f:{name}")) {
            Some(owned) => {
                *value = project(value, owned);
                true
            }
            None => false,
        }
    });
    if let Some(replicas) = replicas
        && let Some(spec) = parts
            .entry("spec")
            .or_insert_with(|| Value::Object(serde_json::Map::new()))
            .as_object_mut()
    {
        spec.insert("replicas".to_owned(), replicas);
    }
}

/// A live object of kind `K` as the child caches keep it.
pub struct Cached<K> {
    /// Name, namespace, uid, resourceVersion, generation, creationTimestamp,
    /// ownerReferences and deletionTimestamp; labels and annotations are in `labels`,
    /// `applied_hash` and `json`.
    metadata: ObjectMeta,
    /// The labels as `key\0value\0key\0value`, one allocation however many there are (a
    /// list of boxed pairs was two allocations per label, by estimate a tenth of a child's
    /// bytes; not yet measured).
    /// Label keys and values cannot hold a NUL (the API server's syntax rules).
    labels: Box<str>,
    applied_hash: Option<Box<str>>,
    /// The object without `managedFields` and without what the fields above keep (the
    /// metadata's typed fields, the labels, the applied hash), its `spec` (and any other
    /// part but `metadata` and `status`) cut to the fields our apply owns, as compact
    /// JSON. [`Cached::value`] puts the metadata back together.
    json: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Cached<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            labels: self.labels.clone(),
            applied_hash: self.applied_hash.clone(),
            json: self.json.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Debug for Cached<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("metadata", &self.metadata)
            .field("labels", &self.labels().collect::<Vec<_>>())
            .field("applied_hash", &self.applied_hash)
            .field("bytes", &self.json.len())
            .finish_non_exhaustive()
    }
}

/// The metadata fields [`Cached`] keeps typed, taken out of the JSON text.
const TYPED_METADATA: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "ownerReferences",
    "deletionTimestamp",
];

impl<K: Resource<DynamicType = ()>> Cached<K> {
    /// The cached object from its JSON form; drops `metadata.managedFields` and fills in
    /// `apiVersion` and `kind`, which the items of a list leave out.
    ///
    /// # Errors
    /// When `object` has no readable `metadata`.
    pub fn from_value(mut object: Value) -> Result<Self, serde_json::Error> {
        let managed_fields = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|metadata| metadata.remove("managedFields"));
        if !KEPT_WHOLE.contains(&&*K::kind(&()))
            && let Some(fields) = managed_fields
                .as_ref()
                .and_then(|managed| applied_fields(managed, FIELD_MANAGER))
        {
            cut_to_owned(&mut object, fields);
        }
        if let Some(fields) = object.as_object_mut() {
            fields
                .entry("apiVersion")
                .or_insert_with(|| Value::String(K::api_version(&()).into_owned()));
            fields
                .entry("kind")
                .or_insert_with(|| Value::String(K::kind(&()).into_owned()));
        }
        let full = ObjectMeta::deserialize(object.get("metadata").unwrap_or(&Value::Null))?;
        let mut labels = String::new();
        for (key, value) in full.labels.unwrap_or_default() {
            labels.extend([key.as_str(), "\0", value.as_str(), "\0"]);
        }
        let applied_hash = full
            .annotations
            .and_then(|mut annotations| annotations.remove(APPLIED_HASH))
            .map(String::into_boxed_str);
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            for typed in TYPED_METADATA.into_iter().chain(["labels"]) {
                metadata.remove(typed);
            }
            if let Some(annotations) = metadata
                .get_mut("annotations")
                .and_then(Value::as_object_mut)
            {
                annotations.remove(APPLIED_HASH);
                if annotations.is_empty() {
                    metadata.remove("annotations");
                }
            }
        }
        let metadata = ObjectMeta {
            name: full.name,
            namespace: full.namespace,
            uid: full.uid,
            resource_version: full.resource_version,
            generation: full.generation,
            creation_timestamp: full.creation_timestamp,
            owner_references: full.owner_references,
            deletion_timestamp: full.deletion_timestamp,
            ..ObjectMeta::default()
        };
        Ok(Self {
            metadata,
            labels: labels.into_boxed_str(),
            applied_hash,
            json: object.to_string().into_boxed_str(),
            kind: PhantomData,
        })
    }
}

impl<K> Cached<K> {
    /// The labels, in key order.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut parts = self.labels.split('\0');
        std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
    }

    /// The `tiered.io/applied-hash` annotation.
    pub fn applied_hash(&self) -> Option<&str> {
        self.applied_hash.as_deref()
    }

    /// The object as JSON (what the TieredApp controller compares with what it applies),
    /// its metadata put back together from the typed fields.
    ///
    /// # Errors
    /// Never for text this type wrote; the parser's error otherwise.
    pub fn value(&self) -> Result<Value, serde_json::Error> {
        let mut object: Value = serde_json::from_str(&self.json)?;
        let typed = serde_json::to_value(&self.metadata)?;
        if let Some(parts) = object.as_object_mut() {
            let metadata = parts
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let (Some(metadata), Value::Object(typed)) = (metadata.as_object_mut(), typed) {
                metadata.extend(typed);
                let labels: Map<String, Value> = self
                    .labels()
                    .map(|(key, value)| (key.to_owned(), Value::String(value.to_owned())))
                    .collect();
                if !labels.is_empty() {
                    metadata.insert("labels".to_owned(), Value::Object(labels));
                }
                if let Some(hash) = &self.applied_hash
                    && let Some(annotations) = metadata
                        .entry("annotations")
                        .or_insert_with(|| Value::Object(Map::new()))
                        .as_object_mut()
                {
                    annotations.insert(APPLIED_HASH.to_owned(), Value::String(hash.to_string()));
                }
            }
        }
        Ok(object)
    }
}

impl<K: DeserializeOwned> Cached<K> {
    /// The object, typed.
    ///
    /// # Errors
    /// When the kept JSON does not fit `K` (it came from the API server as a `K`).
    pub fn object(&self) -> Result<K, serde_json::Error> {
        serde_json::from_value(self.value()?)
    }
}

impl<'de, K: Resource<DynamicType = ()>> Deserialize<'de> for Cached<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(D::Error::custom)
    }
}

impl<K: Resource> Resource for Cached<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::ResourceExt;
    use serde_json::json;

    use super::*;

    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "shop-web",
                "namespace": "shop",
                "labels": {"app.kubernetes.io/managed-by": "tiered"},
                "annotations": {"tiered.io/applied-hash": "abc", "deployment.kubernetes.io/revision": "1"},
                "managedFields": [{"manager": "tiered", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
                "ownerReferences": [{"apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp", "name": "shop", "uid": "u1", "controller": true}]
            },
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
            "status": {"readyReplicas": 1}
        })
    }

    #[test]
    fn the_cache_keeps_metadata_typed_and_the_object_without_managed_fields() {
        let cached: Cached<Deployment> = serde_json::from_value(live()).unwrap();
        assert_eq!(cached.name_any(), "shop-web");
        assert_eq!(cached.label("app.kubernetes.io/managed-by"), Some("tiered"));
        assert_eq!(cached.label("app"), None);
        assert_eq!(cached.applied_hash(), Some("abc"));
        assert!(
            cached.meta().labels.is_none() && cached.meta().annotations.is_none(),
            "kept once, outside the typed metadata"
        );
        assert_eq!(cached.owner_references()[0].uid, "u1");
        assert!(cached.meta().managed_fields.is_none());
        let value = cached.value().unwrap();
        assert!(value["metadata"].get("managedFields").is_none());
        assert_eq!(value["spec"]["replicas"], 2);
        assert_eq!(
            value["metadata"]["annotations"]["tiered.io/applied-hash"],
            "abc"
        );
        let deployment = cached.object().unwrap();
        assert_eq!(deployment.status.unwrap().ready_replicas, Some(1));
        assert_eq!(Cached::<Deployment>::kind(&()), "Deployment");
        assert_eq!(Cached::<Deployment>::plural(&()), "deployments");
    }

    #[test]
    fn a_list_item_gets_its_api_version_and_kind_back() {
        let mut item = live();
        item.as_object_mut().unwrap().remove("apiVersion");
        item.as_object_mut().unwrap().remove("kind");
        let cached: Cached<Deployment> = serde_json::from_value(item).unwrap();
        let value = cached.value().unwrap();
        assert_eq!(
            (value["apiVersion"].as_str(), value["kind"].as_str()),
            (Some("apps/v1"), Some("Deployment"))
        );
    }

    #[test]
    fn the_value_puts_the_metadata_kept_apart_back_together() {
        let mut whole = live();
        let metadata = whole["metadata"].as_object_mut().unwrap();
        metadata.insert("managedFields".into(), json!([]));
        metadata.insert("uid".into(), json!("uid-9"));
        metadata.insert("resourceVersion".into(), json!("42"));
        metadata.insert("generation".into(), json!(3));
        metadata.insert("creationTimestamp".into(), json!("2026-11-30T08:00:00Z"));
        let cached: Cached<Deployment> = serde_json::from_value(whole.clone()).unwrap();
        whole["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(cached.value().unwrap(), whole);
        assert_eq!(cached.object().unwrap().metadata.generation, Some(3));
        for kept_apart in [
            "uid-9",
            "managed-by",
            "applied-hash",
            "shop-web",
            "TieredApp",
        ] {
            assert!(
                !cached.json.contains(kept_apart),
                "{kept_apart} is kept once"
            );
        }
        assert_eq!(
            cached.labels().collect::<Vec<_>>(),
            [("app.kubernetes.io/managed-by", "tiered")]
        );
    }

    #[test]
    fn an_object_without_readable_metadata_is_an_error() {
        let broken = json!({"metadata": {"name": 5}});
        assert!(serde_json::from_value::<Cached<Deployment>>(broken).is_err());
    }
}
