//! What the emulator's tests share: starting an emulator, fixtures (a `ConfigMap`, a
//! valid Deployment, a CRD), reading `422 Invalid` answers, and the real `kubectl`, from
//! `$KUBECTL` or the workspace's `.venv` (which `scripts/test.sh` installs). A missing
//! kubectl fails the test, saying how to install it; it never skips.

use std::path::{Path, PathBuf};
use std::process::Output;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::Status;
use kube::{Api, Error};
use kube_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// `kubectl`: `$KUBECTL`, else `<workspace>/.venv/bin/kubectl`.
pub fn kubectl_path() -> PathBuf {
    let path = match std::env::var_os("KUBECTL") {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/kubectl"),
    };
    assert!(
        path.is_file(),
        "kubectl not found at {}; run `scripts/test.sh` once: it installs the test tools into .venv",
        path.display()
    );
    path
}

/// Runs `kubectl --kubeconfig <kubeconfig> <args>` without blocking the async runtime
/// (the in-process emulator serves on it); kubectl's stdin is closed.
pub async fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .expect("kubectl runs")
}

/// Runs kubectl (as [`kubectl`]), which must succeed; returns its stdout.
pub async fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let output = kubectl(kubeconfig, args).await;
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The JSON kubectl prints for `args` (which end in `-o json`), which must succeed.
pub async fn kubectl_json(kubeconfig: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&kubectl_ok(kubeconfig, args).await).unwrap()
}

/// An emulator with the default options.
pub async fn start() -> EmulatorHandle {
    Emulator::start(EmulatorOptions::default()).await.unwrap()
}

/// An emulator with the default options, a temporary folder and, in it, a kubeconfig
/// for the emulator (the folder goes when its handle is dropped).
pub async fn start_for_kubectl() -> (EmulatorHandle, tempfile::TempDir, PathBuf) {
    let emu = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = emu.write_kubeconfig(dir.path()).unwrap();
    (emu, dir, kubeconfig)
}

/// Creates Namespace `name`; returns the Namespace API.
pub async fn create_namespace(emu: &EmulatorHandle, name: &str) -> Api<Namespace> {
    let namespaces: Api<Namespace> = Api::all(emu.client());
    namespaces
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
    namespaces
}

/// A typed object from JSON.
pub fn object<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// A `ConfigMap` with only a name.
pub fn config_map(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm
}

/// A valid apps/v1 Deployment `name` (label `app: <name>`, one container `web`) with
/// `spec` fields merged over it.
pub fn deployment_json(name: &str, spec: &Value) -> Value {
    let mut deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    });
    json_patch::merge(&mut deployment["spec"], spec);
    deployment
}

/// The `Status` of a failed request.
pub fn api_status(error: Error) -> Status {
    match error {
        Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The `Status` of a request the server refused as `422 Invalid`.
pub fn invalid<T: std::fmt::Debug>(result: Result<T, Error>) -> Status {
    let status = api_status(result.expect_err("the server accepted an invalid object"));
    assert_eq!(
        (status.code, status.reason.as_str()),
        (422, "Invalid"),
        "{}",
        status.message
    );
    status
}

/// `(field, reason, message)` of each cause of a `422 Invalid`.
pub fn causes(status: &Status) -> Vec<(String, String, String)> {
    status
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| (c.field.clone(), c.reason.clone(), c.message.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Installs a namespaced CRD for `kind` (`plural.group`, one served version with
/// `version_fields`, e.g. its schema and subresources) and returns the kind's API in
/// `default`.
pub async fn install_crd(
    emu: &EmulatorHandle,
    (group, version, kind, plural): (&str, &str, &str, &str),
    version_fields: Value,
) -> Api<DynamicObject> {
    let mut served = json!({"name": version, "served": true, "storage": true});
    json_patch::merge(&mut served, &version_fields);
    let crd: CustomResourceDefinition = object(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind},
            "versions": [served]}
    }));
    Api::<CustomResourceDefinition>::all(emu.client())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(emu.client(), "default", &ar)
}

/// The API of a built-in kind in `default`, untyped (to send what typed clients cannot).
pub fn dynamic(
    emu: &EmulatorHandle,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(emu.client(), "default", &ar)
}

/// Merge-patches `name` through `api` with `patch`, which must succeed; returns the
/// object the server answers.
pub async fn merge_patch<K>(api: &Api<K>, name: &str, patch: &Value) -> K
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap()
}

/// Merge-patches the status subresource of `name` through `api` with `patch`, which must
/// succeed; returns the object the server answers.
pub async fn merge_patch_status<K>(api: &Api<K>, name: &str, patch: &Value) -> K
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap()
}

/// Merge-patches the scale subresource of `name` through `api` with `patch`, which must
/// succeed; returns the `Scale` the server answers.
pub async fn merge_patch_scale<K>(api: &Api<K>, name: &str, patch: &Value) -> Scale
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_scale(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap()
}

/// Server-side applies `body` to `name` through `api` with `params`, twice, which must
/// succeed; returns both answers (to compare: a repeated apply changes nothing).
pub async fn apply_twice<K, B>(api: &Api<K>, name: &str, params: &PatchParams, body: &B) -> (K, K)
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
    B: serde::Serialize + std::fmt::Debug,
{
    let first = api.patch(name, params, &Patch::Apply(body)).await.unwrap();
    let again = api.patch(name, params, &Patch::Apply(body)).await.unwrap();
    (first, again)
}

/// A watch of the `default` namespace's ConfigMaps from the emulator's current
/// resourceVersion, ending after `timeout` seconds.
pub async fn watch_from_now(
    emu: &EmulatorHandle,
    timeout: u32,
) -> BoxStream<'static, kube::Result<WatchEvent<ConfigMap>>> {
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let rv = emu.resource_version().to_string();
    api.watch(&WatchParams::default().timeout(timeout), &rv)
        .await
        .unwrap()
        .boxed()
}

/// Creates `object` through `api`, which must succeed.
pub async fn create<K>(api: &Api<K>, object: &K) -> K
where
    K: Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), object).await.unwrap()
}

/// The `Status` of a create of `object` through `api`, which must fail.
pub async fn create_error<K>(api: &Api<K>, object: &K) -> Status
where
    K: Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api_status(
        api.create(&PostParams::default(), object)
            .await
            .expect_err("the create succeeded"),
    )
}

/// Creates `object` through `api`, which the server must refuse as `422 Invalid`.
pub async fn refused<K>(api: &Api<K>, object: &K) -> Status
where
    K: Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    invalid(api.create(&PostParams::default(), object).await)
}
