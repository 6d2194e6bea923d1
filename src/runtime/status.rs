//! Writing a status: one server-side apply of `{apiVersion, kind, status}` on the
//! `/status` subresource under the one field manager ([`FIELD_MANAGER`]), for every
//! kind and every controller, typed ([`apply_status`]) or untyped for an object the
//! operator cannot read ([`apply_unreadable_status`], with [`unreadable`] saying which
//! field is wrong). Deciding whether to write (nothing changed → no write) is the
//! caller's, from its pure status computation.

use std::fmt::Debug;

use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::context::FIELD_MANAGER;

/// Applies `status` to the object `name` of `api`'s kind (`dynamic_type` gives its
/// apiVersion and kind: `&()` for typed kinds). Returns the API server's answer.
///
/// Errors: the API call's, as is (404 when the object is gone, 409 never: the apply is
/// forced, 422 when the status breaks the CRD schema).
pub async fn apply_status<K, S>(
    api: &Api<K>,
    dynamic_type: &K::DynamicType,
    name: &str,
    status: &S,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(dynamic_type),
        "kind": K::kind(dynamic_type),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
}

/// The objects of kind `K` in `namespace` as untyped objects: the typed API would fail
/// to read the very object (and the answers about it).
fn untyped<K: Resource<DynamicType = ()>>(
    client: &kube::Client,
    namespace: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<K>(&()))
}

/// What is wrong with the stored object `name` that does not read as a `K` (an older
/// or hand-edited CRD let a wrong type through) and what to do: the field path and
/// what it should be (`spec.tiers: invalid type: string …, expected a sequence`) when
/// the object can be read again as JSON, else `fallback` (serde's own message).
pub async fn unreadable<K>(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    fallback: &str,
) -> String
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let detail = match untyped::<K>(client, namespace).get(name).await {
        Ok(raw) => serde_json::to_value(&raw)
            .ok()
            .and_then(|value| located::<K>(value).err())
            .unwrap_or_else(|| fallback.to_owned()),
        Err(_) => fallback.to_owned(),
    };
    format!(
        "the operator cannot read this {}: {detail}; correct the field and apply it again",
        K::kind(&())
    )
}

/// `Ok` when `value` reads as a `K`, else `path: message`.
fn located<K: DeserializeOwned>(value: serde_json::Value) -> Result<K, String> {
    serde_path_to_error::deserialize(value)
        .map_err(|error| format!("{}: {}", error.path(), error.inner()))
}

/// [`apply_status`] for the object `name` of kind `K` that does not read as a `K`,
/// read and written as an untyped object.
///
/// Errors: the API call's, as is.
pub async fn apply_unreadable_status<K, S>(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    apply_status(
        &untyped::<K>(client, namespace),
        &ApiResource::erase::<K>(&()),
        name,
        status,
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TieredApp;

    #[test]
    fn an_unreadable_object_is_located_by_the_field_path() {
        let value = serde_json::json!({
            "apiVersion": "tiered.io/v1alpha1",
            "kind": "TieredApp",
            "metadata": {"name": "broken", "namespace": "shop"},
            "spec": {"tiers": "web and api, please"}
        });
        let problem = located::<TieredApp>(value).err().unwrap_or_default();
        assert!(problem.starts_with("spec.tiers: "), "{problem}");
    }
}
