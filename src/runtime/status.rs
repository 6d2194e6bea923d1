//! Writing a status: one server-side apply of `{apiVersion, kind, status}` on the
//! `/status` subresource under the one field manager ([`FIELD_MANAGER`]), for every
//! kind and every controller (typed, or untyped for an object the operator cannot read).
//! Deciding whether to write (nothing changed → no write) is the caller's, from its pure
//! status computation.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
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
