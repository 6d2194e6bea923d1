//! A TieredApp the API server stored but the operator cannot read (an older or
//! hand-edited CRD let a wrong type through): it gets a Warning Event and a `Stalled`
//! status naming the field, e.g. `spec.tiers: invalid type: string …, expected a
//! sequence`, and nothing is built for it. The `DeserializeGuard` in the watch keeps it
//! from stopping the controller; this module says what to fix.

use kube::api::{ApiResource, DynamicObject};
use kube::core::DeserializeGuard;
use kube::{Api, Resource, ResourceExt};

use crate::api::tiered_app::TieredApp;
use crate::controllers::tiered_app::status;
use crate::runtime::context::Context;
use crate::runtime::status::apply_status;

/// TieredApps as untyped objects in the namespace of `object`: the typed API would
/// fail to read the very object (and the answers about it).
fn raw_api(ctx: &Context, object: &DeserializeGuard<TieredApp>) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<TieredApp>(&());
    let namespace = object.namespace().unwrap_or_default();
    Api::namespaced_with(ctx.client.clone(), &namespace, &resource)
}

/// What is wrong with `object` and what to do, with the field path when the stored
/// object can be read again; serde's own message (`fallback`) otherwise.
pub async fn problem(
    ctx: &Context,
    object: &DeserializeGuard<TieredApp>,
    fallback: &str,
) -> String {
    let api = raw_api(ctx, object);
    let detail = match api.get(&object.name_any()).await {
        Ok(raw) => serde_json::to_value(&raw)
            .ok()
            .and_then(|value| located(value).err())
            .unwrap_or_else(|| fallback.to_owned()),
        Err(_) => fallback.to_owned(),
    };
    format!(
        "the operator cannot read this TieredApp: {detail}; correct the field and apply it again"
    )
}

/// `Ok` when `value` reads as a TieredApp, else `path: message`.
fn located(value: serde_json::Value) -> Result<TieredApp, String> {
    serde_path_to_error::deserialize(value)
        .map_err(|error| format!("{}: {}", error.path(), error.inner()))
}

/// Writes `Stalled` (and `Ready`/`Reconciling` False) with `message` on the status of
/// `object`, read and written as an untyped object.
///
/// # Errors
/// The API error of the status write.
pub async fn write_stalled(
    ctx: &Context,
    object: &DeserializeGuard<TieredApp>,
    message: String,
) -> Result<(), kube::Error> {
    let api = raw_api(ctx, object);
    let next = status::build(
        None,
        object.meta().generation,
        status::stalled(message),
        Vec::new(),
        None,
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    apply_status(
        &api,
        &ApiResource::erase::<TieredApp>(&()),
        &object.name_any(),
        &next,
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_names_the_field() {
        let value = serde_json::json!({
            "apiVersion": "tiered.io/v1alpha1",
            "kind": "TieredApp",
            "metadata": {"name": "broken", "namespace": "shop"},
            "spec": {"tiers": "web and api, please"}
        });
        let problem = located(value).err().unwrap_or_default();
        assert!(problem.starts_with("spec.tiers: "), "{problem}");
    }
}
