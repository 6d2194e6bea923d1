//! What Helm and kubectl read before they write: `/version`, `/openapi/v3` and its
//! per-group-version documents with real schemas (`kubectl explain`), the RBAC kinds a
//! chart installs, and `fieldValidation=Strict` on built-in kinds, which client-go relies
//! on once the document says the server supports it.

use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams, ValidationDirective};
use serde_json::{Value, json};

use crate::support::{
    self, api_status, create_namespace, deployment_json, dynamic, kubectl_ok, object,
};

async fn raw(kubeconfig: &std::path::Path, path: &str) -> Value {
    serde_json::from_str(&kubectl_ok(kubeconfig, &["get", "--raw", path]).await).unwrap()
}

/// Every `$ref` of `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

// Upstream: /version reports the server's Kubernetes version; Helm checks a chart's
// `kubeVersion` (`>=1.27.0-0` for ours) against it.
#[tokio::test]
async fn version_is_a_current_kubernetes() {
    let emu = support::start().await;
    let info = emu.client().apiserver_version().await.unwrap();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "33"));
    assert!(
        info.git_version.starts_with("v1.33."),
        "{}",
        info.git_version
    );
}

// Upstream: /openapi/v3 indexes every served group version; each document carries the
// kinds' schemas in `components.schemas`, tagged with `x-kubernetes-group-version-kind`,
// self-contained (every `$ref` resolves in the same document), and a PATCH operation with
// the `fieldValidation` parameter (client-go's QueryParamVerifierV3).
#[tokio::test]
async fn openapi_v3_serves_real_schemas_of_built_in_kinds() {
    let (_emu, _dir, kubeconfig) = support::start_for_kubectl().await;
    let root = raw(&kubeconfig, "/openapi/v3").await;
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        assert!(root["paths"].get(gv).is_some(), "{gv} missing from {root}");
    }
    let apps = raw(&kubeconfig, "/openapi/v3/apis/apps/v1").await;
    let schemas = apps["components"]["schemas"].as_object().unwrap();
    let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
    );
    let spec = &schemas["io.k8s.api.apps.v1.DeploymentSpec"];
    assert!(
        spec["properties"]["replicas"]["description"]
            .as_str()
            .unwrap()
            .contains("Number of desired pods"),
        "{spec}"
    );
    let mut all = Vec::new();
    refs(&apps, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            schemas.contains_key(name),
            "{r} does not resolve in apps/v1"
        );
    }
    assert!(
        all.len() > 50,
        "only {} references: the schemas are not real",
        all.len()
    );
    let patch = apps["paths"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|p| p.get("patch"))
        .find(|op| op["x-kubernetes-group-version-kind"]["kind"] == "Deployment")
        .expect("a PATCH operation for Deployments");
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"),
        "{patch}"
    );
    let explained = kubectl_ok(&kubeconfig, &["explain", "deployment.spec.replicas"]).await;
    assert!(explained.contains("Number of desired pods"), "{explained}");
}

// Upstream: a CRD version's schema is published as `<reversed group>.<version>.<Kind>`
// with `metadata` as ObjectMeta, so `kubectl explain` reads a custom kind's fields.
#[tokio::test]
async fn openapi_v3_publishes_a_crd_schema_for_kubectl_explain() {
    let (emu, _dir, kubeconfig) = support::start_for_kubectl().await;
    support::install_crd(
        &emu,
        ("example.io", "v1", "Widget", "widgets"),
        json!({"schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"size": {"type": "integer", "description": "How big the widget is."}}}}}}}),
    )
    .await;
    let doc = raw(&kubeconfig, "/openapi/v3/apis/example.io/v1").await;
    let widget = &doc["components"]["schemas"]["io.example.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        json!([{"group": "example.io", "version": "v1", "kind": "Widget"}])
    );
    assert!(
        doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object()
    );
    let explained = kubectl_ok(&kubeconfig, &["explain", "widgets.spec.size"]).await;
    assert!(explained.contains("How big the widget is."), "{explained}");
}

// Upstream: with `fieldValidation=Strict` (what Helm 4 and `kubectl apply` send) a field
// the kind does not declare fails the write with the strict decoding error, at any
// depth; without it the write goes through.
#[tokio::test]
async fn strict_field_validation_refuses_unknown_fields_of_built_in_kinds() {
    let emu = support::start().await;
    let api = dynamic(&emu, "apps", "v1", "Deployment", "deployments");
    let strict = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::apply("test")
    };
    let apply = |name: &str, spec: Value| Patch::Apply(deployment_json(name, &spec));
    let status = api_status(
        api.patch("typo", &strict, &apply("typo", json!({"replicass": 2})))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 400, "{}", status.message);
    assert!(
        status
            .message
            .contains("strict decoding error: unknown field \"spec.replicass\""),
        "{}",
        status.message
    );
    let nested = json!({"template": {"spec": {"containers": [
        {"name": "web", "image": "web:1", "imagePullPolicyy": "Always"}]}}});
    let status = api_status(
        api.patch("nested", &strict, &apply("nested", nested))
            .await
            .unwrap_err(),
    );
    assert!(
        status
            .message
            .contains("unknown field \"spec.template.spec.containers[0].imagePullPolicyy\""),
        "{}",
        status.message
    );
    api.patch(
        "lenient",
        &PatchParams::apply("test"),
        &apply("lenient", json!({"replicass": 2})),
    )
    .await
    .unwrap();
    let fine: DynamicObject = api
        .patch("fine", &strict, &apply("fine", json!({"replicas": 2})))
        .await
        .unwrap();
    assert_eq!(fine.data["spec"]["replicas"], 2);
}

// Upstream: rbac.authorization.k8s.io/v1 serves ClusterRoles and ClusterRoleBindings
// (cluster-scoped) and Roles and RoleBindings (namespaced); their names follow
// `ValidateRBACName` (path segments: `system:controller:x` is valid).
#[tokio::test]
async fn rbac_kinds_are_served_with_their_scope_and_name_rule() {
    let emu = support::start().await;
    let cluster_roles: Api<ClusterRole> = Api::all(emu.client());
    let role: ClusterRole = object(json!({
        "metadata": {"name": "system:controller:tiered"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]
    }));
    support::create(&cluster_roles, &role).await;
    create_namespace(&emu, "team").await;
    let roles: Api<Role> = Api::namespaced(emu.client(), "team");
    let namespaced: Role = object(json!({"metadata": {"name": "leases"}, "rules": []}));
    support::create(&roles, &namespaced).await;
    let bad: Role = object(json!({"metadata": {"name": "a/b"}}));
    let status = support::refused(&roles, &bad).await;
    assert!(
        status.message.contains("may not contain '/'"),
        "{}",
        status.message
    );
}
