//! Server-side apply through `kube::Api::patch(Patch::Apply)`: creation by apply,
//! managedFields, removal of a field the manager no longer applies, conflicts between
//! managers, and the 415 for strategic merge on custom resources.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Error};
use serde_json::json;

use crate::support::{apply_twice, create, install_crd, start};

fn applied(data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("cfg".to_owned());
    cm.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    );
    cm
}

fn with_kind(cm: &ConfigMap) -> serde_json::Value {
    let mut value = serde_json::to_value(cm).unwrap();
    value["apiVersion"] = json!("v1");
    value["kind"] = json!("ConfigMap");
    value
}

// Upstream (structured-merge-diff): apply creates the object, records the manager in
// managedFields, and a later apply without a field removes it when no other manager owns it.
#[tokio::test]
async fn apply_removes_a_field_the_manager_no_longer_applies() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let params = PatchParams::apply("tiered").force();
    let first = api
        .patch(
            "cfg",
            &params,
            &Patch::Apply(with_kind(&applied(&[("a", "1"), ("b", "2")]))),
        )
        .await
        .unwrap();
    let managers = first.metadata.managed_fields.clone().unwrap();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some("tiered")
                && m.operation.as_deref() == Some("Apply"))
    );

    let second = api
        .patch(
            "cfg",
            &params,
            &Patch::Apply(with_kind(&applied(&[("a", "1")]))),
        )
        .await
        .unwrap();
    let data = second.data.unwrap();
    assert_eq!(data.get("a").map(String::as_str), Some("1"));
    assert!(
        !data.contains_key("b"),
        "b is no longer applied and must be removed"
    );
}

// Upstream: an identical apply changes nothing, so the resourceVersion stays.
#[tokio::test]
async fn an_identical_apply_does_not_bump_the_resource_version() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let params = PatchParams::apply("tiered").force();
    let body = with_kind(&applied(&[("a", "1")]));
    let (first, again) = apply_twice(&api, "cfg", &params, &body).await;
    assert_eq!(
        first.metadata.resource_version,
        again.metadata.resource_version
    );
}

// Upstream: applying a value another manager owns without force is 409 Conflict.
#[tokio::test]
async fn apply_without_force_conflicts_with_another_manager() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    api.patch(
        "cfg",
        &PatchParams::apply("one"),
        &Patch::Apply(with_kind(&applied(&[("a", "1")]))),
    )
    .await
    .unwrap();
    match api
        .patch(
            "cfg",
            &PatchParams::apply("two"),
            &Patch::Apply(with_kind(&applied(&[("a", "2")]))),
        )
        .await
    {
        Err(Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// Upstream: strategic merge patch is not supported for custom resources (415).
#[tokio::test]
async fn strategic_merge_patch_on_a_custom_resource_is_415() {
    let emu = start().await;
    let schema = json!({"schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
    let api = install_crd(&emu, ("example.io", "v1", "Widget", "widgets"), schema).await;
    let widget: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}),
    )
    .unwrap();
    create(&api, &widget).await;
    match api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"a": 1}})),
        )
        .await
    {
        Err(Error::Api(s)) => assert_eq!(s.code, 415),
        other => panic!("expected 415, got {other:?}"),
    }
}

// Upstream `ValidateFieldManager`: a fieldManager longer than 128 bytes, or with a
// character that is not printable, is refused (422) on apply, create and update alike.
// (kube's `PatchParams` refuses more than 128 bytes itself, so the requests are raw.)
#[tokio::test]
async fn a_field_manager_longer_than_128_bytes_or_not_printable_is_invalid() {
    let emu = start().await;
    let client = emu.client();
    let path = "/api/v1/namespaces/default/configmaps";
    let apply = |manager: &str| {
        axum::http::Request::patch(format!("{path}/cfg?fieldManager={manager}"))
            .header("content-type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(&with_kind(&applied(&[("a", "1")]))).unwrap())
            .unwrap()
    };
    client
        .request_text(apply(&"m".repeat(128)))
        .await
        .expect("128 bytes are accepted");
    match client.request_text(apply(&"m".repeat(129))).await {
        Err(Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert_eq!(
                s.message,
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes"
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let mut other = with_kind(&applied(&[("b", "2")]));
    other["metadata"]["name"] = json!("other");
    let create = axum::http::Request::post(format!("{path}?fieldManager=tab%09bed"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&other).unwrap())
        .unwrap();
    match client.request_text(create).await {
        Err(Error::Api(s)) => {
            assert_eq!(s.code, 422);
            assert!(
                s.message.starts_with(
                    "CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Invalid value"
                ),
                "{}",
                s.message
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    assert!(api.get_opt("other").await.unwrap().is_none());
}
