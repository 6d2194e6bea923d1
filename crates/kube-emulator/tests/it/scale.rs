//! The `/scale` subresource (autoscaling/v1 `Scale`): what the HPA controller, `kubectl
//! scale` and kube's `Api::get_scale`/`patch_scale`/`replace_scale` read and write.
//! Upstream: `pkg/registry/apps/deployment/storage` (`ScaleREST`, `scaleFromDeployment`)
//! and `apiextensions-apiserver/pkg/registry/customresource` (a CRD's
//! `subresources.scale`).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube_emulator::EmulatorHandle;
use serde_json::json;

use crate::support::{
    self, api_status, causes, config_map, create, deployment_json, install_crd, invalid,
    kubectl_json, kubectl_ok, merge_patch_scale, merge_patch_status, object, start,
};

/// Asserts that discovery of `group_version` lists `<plural>/scale` as autoscaling/v1
/// `Scale` with the verbs get, patch and update (what client-go's scale client reads).
async fn assert_scale_listed(emu: &EmulatorHandle, group_version: &str, plural: &str) {
    let listed = emu
        .client()
        .list_api_group_resources(group_version)
        .await
        .unwrap();
    let name = format!("{plural}/scale");
    let entry = listed
        .resources
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("discovery of {group_version} lists no {name}"));
    assert_eq!(
        (
            entry.group.as_deref(),
            entry.version.as_deref(),
            entry.kind.as_str(),
            entry.verbs.join(",")
        ),
        (
            Some("autoscaling"),
            Some("v1"),
            "Scale",
            "get,patch,update".to_owned()
        ),
        "{name}"
    );
}

fn scale_replicas(scale: &Scale) -> Option<i32> {
    scale.spec.as_ref().and_then(|s| s.replicas)
}

// Upstream `scaleFromDeployment`: name, namespace, uid, resourceVersion and
// creationTimestamp of the Deployment; spec.replicas; status.replicas and the selector
// as a string (`labels.Selector.String()`: requirements sorted by key).
#[tokio::test]
async fn a_deployments_scale_reads_its_replicas_and_selector_as_a_string() {
    let emu = start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(emu.client());
    let spec = json!({"replicas": 3, "selector": {
        "matchLabels": {"tier": "web", "app": "shop"},
        "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable", "canary"]}]},
        "template": {"metadata": {"labels": {"app": "shop", "tier": "web", "track": "stable"}}}});
    let created = create(&deployments, &object(deployment_json("shop", &spec))).await;
    merge_patch_status(&deployments, "shop", &json!({"status": {"replicas": 2}})).await;
    let current = deployments.get("shop").await.unwrap();

    let scale = deployments.get_scale("shop").await.unwrap();
    assert_eq!(scale.metadata.name.as_deref(), Some("shop"));
    assert_eq!(scale.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(scale.metadata.uid, created.metadata.uid);
    assert_eq!(
        scale.metadata.resource_version,
        current.metadata.resource_version
    );
    assert_eq!(
        scale.metadata.creation_timestamp,
        created.metadata.creation_timestamp
    );
    assert_eq!(scale_replicas(&scale), Some(3));
    let status = scale.status.unwrap();
    assert_eq!(status.replicas, 2);
    assert_eq!(
        status.selector.as_deref(),
        Some("app=shop,tier=web,track in (canary,stable)")
    );
}

// Upstream `ScaleREST.Update`: a write of the Scale sets the Deployment's spec.replicas
// (a spec change: generation moves) and nothing else; managedFields record the writer
// with `subresource: scale`; the answer is the new Scale.
#[tokio::test]
async fn patching_and_replacing_the_scale_sets_the_deployments_replicas() {
    let emu = start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(emu.client());
    create(
        &deployments,
        &object(deployment_json("web", &json!({"replicas": 2}))),
    )
    .await;

    let params = PatchParams {
        field_manager: Some("hpa".to_owned()),
        ..PatchParams::default()
    };
    let patched = deployments
        .patch_scale(
            "web",
            &params,
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    // autoscaling/v1 `spec.replicas` is `omitempty`: 0 is left out.
    assert_eq!(scale_replicas(&patched), None);
    let deployment = deployments.get("web").await.unwrap();
    assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(deployment.metadata.generation, Some(2));
    assert_eq!(
        patched.metadata.resource_version,
        deployment.metadata.resource_version
    );
    let entry = deployment
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.manager.as_deref() == Some("hpa"))
        .expect("the scale writer is recorded");
    assert_eq!(entry.subresource.as_deref(), Some("scale"));
    assert_eq!(entry.operation.as_deref(), Some("Update"));

    let mut scale = deployments.get_scale("web").await.unwrap();
    scale.spec.as_mut().unwrap().replicas = Some(4);
    let replaced = deployments
        .replace_scale("web", &PostParams::default(), &scale)
        .await
        .unwrap();
    assert_eq!(scale_replicas(&replaced), Some(4));
    let deployment = deployments.get("web").await.unwrap();
    assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(4));
    assert_eq!(deployment.metadata.generation, Some(3));
}

// Upstream: a Scale with a stale resourceVersion is a 409 Conflict on the Deployment
// (`deployment.ResourceVersion = scale.ResourceVersion`); a negative count is a 422 of
// kind `Scale.autoscaling` at `spec.replicas` (`ValidateScale`); a missing object is a
// 404 of the parent; a kind without a scale subresource has no such URL (404).
#[tokio::test]
async fn scale_writes_are_checked_like_the_real_server() {
    let emu = start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(emu.client());
    create(&deployments, &object(deployment_json("web", &json!({})))).await;

    let mut stale = deployments.get_scale("web").await.unwrap();
    merge_patch_scale(&deployments, "web", &json!({"spec": {"replicas": 3}})).await;
    stale.spec.as_mut().unwrap().replicas = Some(5);
    let conflict = api_status(
        deployments
            .replace_scale("web", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("deployments.apps \"web\""),
        "{}",
        conflict.message
    );

    let negative = invalid(
        deployments
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": -1}})),
            )
            .await,
    );
    assert!(
        negative
            .message
            .starts_with("Scale.autoscaling \"web\" is invalid"),
        "{}",
        negative.message
    );
    assert_eq!(causes(&negative)[0].0, "spec.replicas");
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );

    let missing = api_status(deployments.get_scale("gone").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "deployments.apps \"gone\" not found");

    let config_maps: Api<ConfigMap> = Api::default_namespaced(emu.client());
    create(&config_maps, &config_map("cm")).await;
    let no_route = api_status(config_maps.get_scale("cm").await.unwrap_err());
    assert_eq!(no_route.code, 404);
}

// Upstream `customresource.ScaleREST`: a CRD version with `subresources.scale` serves
// `/scale` from its specReplicasPath, statusReplicasPath and labelSelectorPath (a string
// field); a write sets the value at specReplicasPath.
#[tokio::test]
async fn a_custom_resource_with_a_scale_subresource_serves_it_from_its_paths() {
    let emu = start().await;
    let widgets = install_crd(
        &emu,
        ("example.io", "v1", "Widget", "widgets"),
        json!({
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "subresources": {"status": {}, "scale": {
                "specReplicasPath": ".spec.size", "statusReplicasPath": ".status.running",
                "labelSelectorPath": ".status.selector"}}
        }),
    )
    .await;
    widgets
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": "example.io/v1", "kind": "Widget",
                "metadata": {"name": "gizmo"}, "spec": {"size": 2}})),
        )
        .await
        .unwrap();
    merge_patch_status(
        &widgets,
        "gizmo",
        &json!({"status": {"running": 1, "selector": "app=gizmo"}}),
    )
    .await;

    assert_scale_listed(&emu, "example.io/v1", "widgets").await;

    let scale = widgets.get_scale("gizmo").await.unwrap();
    assert_eq!(scale_replicas(&scale), Some(2));
    let status = scale.status.unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (1, Some("app=gizmo"))
    );

    merge_patch_scale(&widgets, "gizmo", &json!({"spec": {"replicas": 5}})).await;
    let widget = widgets.get("gizmo").await.unwrap();
    assert_eq!(widget.data["spec"]["size"], 5);
}

// Upstream: discovery lists `deployments/scale` as autoscaling/v1 `Scale` (client-go's
// scale client finds the Scale kind there) and `kubectl scale` writes it.
#[tokio::test]
async fn kubectl_scales_a_deployment_to_zero_and_back() {
    let (emu, _dir, kubeconfig) = support::start_for_kubectl().await;
    assert_scale_listed(&emu, "apps/v1", "deployments").await;
    let deployments: Api<Deployment> = Api::default_namespaced(emu.client());
    create(
        &deployments,
        &object(deployment_json("web", &json!({"replicas": 2}))),
    )
    .await;

    let scaled = kubectl_ok(&kubeconfig, &["scale", "deployment/web", "--replicas=0"]).await;
    assert!(scaled.contains("deployment.apps/web scaled"), "{scaled}");
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(0)
    );
    let scale = kubectl_json(
        &kubeconfig,
        &["get", "deployment/web", "--subresource=scale", "-o", "json"],
    )
    .await;
    assert_eq!(
        (&scale["kind"], &scale["spec"], &scale["status"]["selector"]),
        (&json!("Scale"), &json!({}), &json!("app=web")),
        "{scale}"
    );

    kubectl_ok(&kubeconfig, &["scale", "deployment/web", "--replicas=3"]).await;
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
}
