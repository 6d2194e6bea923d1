//! PersistentVolumeClaim updates as upstream `ValidatePersistentVolumeClaimUpdate`
//! (kubernetes pkg/apis/core/validation) refuses them: the spec is immutable after
//! creation except `resources.requests` (storage growth) and `volumeAttributesClassName`
//! for Bound claims, a first `volumeName` and a first `storageClassName`; the requested
//! storage never goes below the previous value. 422 Invalid, `spec: Forbidden`.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{causes, create, invalid, merge_patch_status, object, start};

fn claim(name: &str, spec: &Value) -> PersistentVolumeClaim {
    object(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }))
}

fn efs_claim(name: &str) -> PersistentVolumeClaim {
    claim(
        name,
        &json!({
            "storageClassName": "efs-sc",
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": "5Gi"}},
        }),
    )
}

async fn merge(
    api: &Api<PersistentVolumeClaim>,
    name: &str,
    patch: &Value,
) -> kube::Result<PersistentVolumeClaim> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
}

fn storage(size: &str) -> Value {
    json!({"spec": {"resources": {"requests": {"storage": size}}}})
}

/// The claim is Bound, as the PV controller would mark it.
async fn bind(api: &Api<PersistentVolumeClaim>, name: &str) {
    merge_patch_status(
        api,
        name,
        &json!({"status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}}),
    )
    .await;
}

fn assert_spec_forbidden(status: &kube::core::Status) {
    assert!(
        status.message.contains(
            "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
        ),
        "{}",
        status.message
    );
    assert!(
        causes(status)
            .iter()
            .any(|(field, reason, _)| field == "spec" && reason == "FieldValueForbidden"),
        "{:?}",
        causes(status)
    );
}

#[tokio::test]
async fn a_claims_class_access_modes_and_pending_size_cannot_change() {
    let emu = start().await;
    let api: Api<PersistentVolumeClaim> = Api::default_namespaced(emu.client());
    create(&api, &efs_claim("files")).await;

    let modes = json!({"spec": {"accessModes": ["ReadWriteOnce"]}});
    assert_spec_forbidden(&invalid(merge(&api, "files", &modes).await));
    let class = json!({"spec": {"storageClassName": "gp3"}});
    let status = invalid(merge(&api, "files", &class).await);
    assert_spec_forbidden(&status);
    assert!(
        status.message.contains("storageClassName"),
        "{}",
        status.message
    );
    // Not bound yet: even growing is refused.
    assert_spec_forbidden(&invalid(merge(&api, "files", &storage("10Gi")).await));
    // Server-side apply is judged the same way.
    let applied = serde_json::to_value(claim(
        "files",
        &json!({"storageClassName": "efs-sc", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}),
    ))
    .unwrap();
    let apply = api
        .patch(
            "files",
            &PatchParams::apply("test").force(),
            &Patch::Apply(applied),
        )
        .await;
    assert_spec_forbidden(&invalid(apply));
    let stored = api.get("files").await.unwrap().spec.unwrap();
    assert_eq!(stored.access_modes, Some(vec!["ReadWriteMany".to_owned()]));
    assert_eq!(stored.storage_class_name.as_deref(), Some("efs-sc"));
}

#[tokio::test]
async fn a_bound_claim_may_grow_but_never_shrink() {
    let emu = start().await;
    let api: Api<PersistentVolumeClaim> = Api::default_namespaced(emu.client());
    create(&api, &efs_claim("files")).await;
    bind(&api, "files").await;

    let grown = merge(&api, "files", &storage("10Gi")).await.unwrap();
    assert_eq!(
        grown.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
        "10Gi"
    );
    let status = invalid(merge(&api, "files", &storage("8Gi")).await);
    assert!(
        causes(&status).iter().any(|(field, reason, message)| {
            field == "spec.resources.requests.storage"
                && reason == "FieldValueForbidden"
                && message == "Forbidden: field can not be less than previous value"
        }),
        "{:?}",
        causes(&status)
    );
    // Bound or not, the rest of the spec stays as created.
    let modes = json!({"spec": {"accessModes": ["ReadWriteOnce"]}});
    assert_spec_forbidden(&invalid(merge(&api, "files", &modes).await));
}

#[tokio::test]
async fn a_first_volume_name_and_a_first_storage_class_may_be_set_once() {
    let emu = start().await;
    let api: Api<PersistentVolumeClaim> = Api::default_namespaced(emu.client());
    create(
        &api,
        &claim(
            "data",
            &json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
        ),
    )
    .await;
    let class = json!({"spec": {"storageClassName": "gp3"}});
    merge(&api, "data", &class).await.unwrap();
    let volume = json!({"spec": {"volumeName": "pv-1"}});
    merge(&api, "data", &volume).await.unwrap();
    let again = json!({"spec": {"volumeName": "pv-2"}});
    assert_spec_forbidden(&invalid(merge(&api, "data", &again).await));
    let other_class = json!({"spec": {"storageClassName": "gp2"}});
    assert_spec_forbidden(&invalid(merge(&api, "data", &other_class).await));
}
