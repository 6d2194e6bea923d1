//! Custom resources validated against their CRD's `OpenAPI` schema: 422 Invalid `Status`
//! objects in the real shape (message, reason, details.causes), and pruning of unknown
//! fields, as apiextensions-apiserver does.

use kube::api::{DynamicObject, PostParams};
use kube::{Api, Error};
use kube_emulator::EmulatorHandle;
use serde_json::json;

use crate::support::{create, install_crd, start};

async fn start_with_tiered_apps() -> (EmulatorHandle, Api<DynamicObject>) {
    let emu = start().await;
    let version = json!({"subresources": {"status": {}}, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "tiers": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535}
            }}}
        }},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    }}}});
    let api = install_crd(
        &emu,
        ("tiered.io", "v1alpha1", "TieredApp", "tieredapps"),
        version,
    )
    .await;
    (emu, api)
}

fn app(port: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp", "metadata": {"name": "x"},
        "spec": {"tiers": [{"name": "web", "port": port, "unknownField": true}]}
    }))
    .unwrap()
}

// Upstream: `apierrors.NewInvalid` — 422, reason Invalid, message
// `TieredApp.tiered.io "x" is invalid: <path>: Invalid value: ...`, one cause per error.
#[tokio::test]
async fn an_out_of_range_field_is_422_invalid_in_the_real_shape() {
    let (_emu, api) = start_with_tiered_apps().await;
    match api.create(&PostParams::default(), &app(70000)).await {
        Err(Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message.starts_with(
                    "TieredApp.tiered.io \"x\" is invalid: spec.tiers[0].port: Invalid value: 70000"
                ),
                "{}",
                s.message
            );
            let details = s.details.unwrap();
            assert_eq!(
                (
                    details.name.as_str(),
                    details.kind.as_str(),
                    details.group.as_str()
                ),
                ("x", "TieredApp", "tiered.io")
            );
            let cause = &details.causes[0];
            assert_eq!(
                (cause.reason.as_str(), cause.field.as_str()),
                ("FieldValueInvalid", "spec.tiers[0].port")
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

// Upstream: fields the structural schema does not know are pruned before storing.
#[tokio::test]
async fn unknown_fields_are_pruned() {
    let (_emu, api) = start_with_tiered_apps().await;
    let created = create(&api, &app(8080)).await;
    assert!(
        created.data["spec"]["tiers"][0]
            .get("unknownField")
            .is_none()
    );
    assert_eq!(created.data["spec"]["tiers"][0]["port"], 8080);
}
