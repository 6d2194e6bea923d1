//! CRUD through an unmodified `kube::Client` against the emulator, and the error
//! `Status` objects of the real API server (404 `NotFound`, 409 `AlreadyExists`, 409 `Conflict`
//! on a stale resourceVersion, namespaces that must exist).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_emulator::EmulatorHandle;

use crate::support::{api_status, create, create_error, create_namespace, start};

fn config_map(name: &str, value: &str) -> ConfigMap {
    let mut cm = crate::support::config_map(name);
    cm.data = Some(BTreeMap::from([("key".to_owned(), value.to_owned())]));
    cm
}

/// An emulator, the `ConfigMap` API in `default`, and `ConfigMap` `name` (`key: "1"`)
/// created there.
async fn with_config_map(name: &str) -> (EmulatorHandle, Api<ConfigMap>, ConfigMap) {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let created = create(&api, &config_map(name, "1")).await;
    (emu, api, created)
}

// Upstream: create returns 201 with uid, creationTimestamp and a resourceVersion;
// get/replace/delete round-trip; a deleted object is 404.
#[tokio::test]
async fn a_config_map_can_be_created_read_replaced_and_deleted() {
    let (_emu, api, created) = with_config_map("a").await;
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv = |cm: &ConfigMap| -> u64 { cm.resource_version().unwrap().parse().unwrap() };
    let rv1 = rv(&created);

    let mut fetched = api.get("a").await.unwrap();
    assert_eq!(fetched.data.as_ref().unwrap()["key"], "1");
    fetched.data = Some(BTreeMap::from([("key".to_owned(), "2".to_owned())]));
    let replaced = api
        .replace("a", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert!(
        rv(&replaced) > rv1,
        "every write bumps the global resourceVersion"
    );
    assert_eq!(replaced.metadata.uid, created.metadata.uid);

    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let status = api_status(api.get("a").await.unwrap_err());
    assert_eq!(status.code, 404);
}

// Upstream: `apierrors.NewNotFound` — message `configmaps "x" not found`, reason
// NotFound, details {name, kind: <resource>}.
#[tokio::test]
async fn a_missing_object_is_a_not_found_status_in_the_real_shape() {
    let emu = start().await;
    let (code, body) = emu
        .raw("GET", "/api/v1/namespaces/default/configmaps/nope", &[], "")
        .await
        .unwrap();
    assert_eq!(code, 404);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "configmaps \"nope\" not found", "reason": "NotFound",
            "details": {"name": "nope", "kind": "configmaps"}, "code": 404
        })
    );
}

// Upstream: `apierrors.NewAlreadyExists` (409, reason AlreadyExists).
#[tokio::test]
async fn creating_a_duplicate_is_409_already_exists() {
    let (_emu, api, _) = with_config_map("dup").await;
    let status = create_error(&api, &config_map("dup", "1")).await;
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(status.message, "configmaps \"dup\" already exists");
}

// Upstream: optimistic concurrency — a PUT or patch carrying an outdated
// metadata.resourceVersion fails with 409 Conflict and the well-known message.
#[tokio::test]
async fn a_write_with_a_stale_resource_version_is_409_conflict() {
    let (_emu, api, first) = with_config_map("c").await;
    let mut newer = first.clone();
    newer.data = Some(BTreeMap::from([("key".to_owned(), "2".to_owned())]));
    api.replace("c", &PostParams::default(), &newer)
        .await
        .unwrap();

    let mut stale = first.clone();
    stale.data = Some(BTreeMap::from([("key".to_owned(), "3".to_owned())]));
    let status = api_status(
        api.replace("c", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );

    let patch = serde_json::json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"key": "4"}});
    let status = api_status(
        api.patch("c", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 409);
    assert_eq!(api.get("c").await.unwrap().data.unwrap()["key"], "2");
}

// Upstream: a write that changes nothing is not persisted: same resourceVersion.
#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_resource_version() {
    let (_emu, api, created) = with_config_map("same").await;
    let patch = serde_json::json!({"data": {"key": "1"}});
    let patched = api
        .patch("same", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
}

// Upstream: objects cannot be created in a namespace that does not exist (404
// `namespaces "x" not found`); after the namespace is created they can.
#[tokio::test]
async fn objects_need_an_existing_namespace() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "shop");
    let status = create_error(&api, &config_map("x", "1")).await;
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "namespaces \"shop\" not found")
    );

    let namespaces = create_namespace(&emu, "shop").await;
    create(&api, &config_map("x", "1")).await;
    assert_eq!(
        namespaces
            .get("default")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Active")
    );
}

// Upstream: `generateName` gets a 5-character random suffix; `dryRun=All` validates
// without storing.
#[tokio::test]
async fn generate_name_and_dry_run_behave_like_upstream() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let mut cm = config_map("", "1");
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".to_owned());
    let created = create(&api, &cm).await;
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&dry, &config_map("dry", "1")).await.unwrap();
    assert_eq!(api_status(api.get("dry").await.unwrap_err()).code, 404);
}
