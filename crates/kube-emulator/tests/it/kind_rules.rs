//! Spec validation of the built-in kinds the operator writes, as kube-apiserver's
//! `pkg/apis/*/validation` does it: Ingress paths, Deployment selectors and containers,
//! Service ports, HPA and PDB bounds, Secret keys and type.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{causes, create, deployment_json, dynamic, invalid, object, refused, start};

/// The field paths of a refused write's causes.
fn fields(status: &kube::core::Status) -> Vec<String> {
    causes(status).into_iter().map(|c| c.0).collect()
}

// Upstream networking/v1 `validateHTTPIngressPath`: `pathType` is required in v1 (no
// default; a typed client sending `""` gets "Unsupported value"), and `Prefix`/`Exact`
// paths are absolute.
#[tokio::test]
async fn an_ingress_path_needs_a_path_type_and_an_absolute_path() {
    let emu = start().await;
    let api = dynamic(&emu, "networking.k8s.io", "v1", "Ingress", "ingresses");
    let ingress = |name: &str, path: Value| -> DynamicObject {
        let mut path = path;
        path["backend"] = json!({"service": {"name": "web", "port": {"number": 80}}});
        object(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": {"rules": [{"http": {"paths": [path]}}]}}),
        )
    };
    let status = refused(&api, &ingress("untyped", json!({"path": "/"}))).await;
    assert_eq!(
        status.message,
        "Ingress.networking.k8s.io \"untyped\" is invalid: spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    );
    for (name, path, cause) in [
        (
            "relative",
            json!({"path": "api", "pathType": "Prefix"}),
            "Invalid value: \"api\": must be an absolute path",
        ),
        (
            "odd",
            json!({"path": "/", "pathType": "Regex"}),
            "Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
        ),
    ] {
        let status = refused(&api, &ingress(name, path)).await;
        assert_eq!(causes(&status)[0].2, cause, "{name}");
    }
    create(
        &api,
        &ingress("ok", json!({"path": "/api", "pathType": "Prefix"})),
    )
    .await;
}

// Upstream apps/v1 `ValidateDeploymentSpec` / `ValidateDeploymentUpdate`: the selector must
// match the template's labels and never changes; containers have DNS-1123 label names.
#[tokio::test]
async fn a_deployment_selector_matches_its_template_and_never_changes() {
    let emu = start().await;
    let api: Api<Deployment> = Api::default_namespaced(emu.client());
    let mismatched = deployment_json(
        "web",
        &json!({"template": {"metadata": {"labels": {"app": "other"}}}}),
    );
    let status = refused(&api, &object(mismatched)).await;
    assert_eq!(fields(&status), ["spec.template.metadata.labels"]);
    assert!(
        status
            .message
            .ends_with("`selector` does not match template `labels`"),
        "{}",
        status.message
    );
    let badly_named = deployment_json(
        "web",
        &json!({"template": {"spec": {"containers": [{"name": "Web_1", "image": "web:1"}]}}}),
    );
    let status = refused(&api, &object(badly_named)).await;
    assert_eq!(fields(&status), ["spec.template.spec.containers[0].name"]);

    create(&api, &object(deployment_json("web", &json!({})))).await;
    let moved = Patch::Merge(
        json!({"spec": {"selector": {"matchLabels": {"app": "web", "v": "2"}},
        "template": {"metadata": {"labels": {"v": "2"}}}}}),
    );
    let status = invalid(api.patch("web", &PatchParams::default(), &moved).await);
    assert_eq!(fields(&status), ["spec.selector"]);
    assert!(
        status.message.ends_with("field is immutable"),
        "{}",
        status.message
    );
}

// Upstream `validateServicePort`: several ports each need a name, ports are 1–65535.
#[tokio::test]
async fn service_ports_are_named_when_several_and_in_range() {
    let emu = start().await;
    let api: Api<Service> = Api::default_namespaced(emu.client());
    let service: Service = object(
        json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}, {"port": 0, "name": "b"}]}}),
    );
    let status = refused(&api, &service).await;
    assert_eq!(
        fields(&status),
        [
            "spec.ports[0].name",
            "spec.ports[1].port",
            "spec.ports[1].targetPort"
        ]
    );
    assert_eq!(
        causes(&status)[1].2,
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    );
}

// Upstream autoscaling `validateHorizontalPodAutoscalerSpec` and policy
// `ValidatePodDisruptionBudgetSpec`.
#[tokio::test]
async fn hpa_and_pdb_bounds_are_checked() {
    let emu = start().await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::default_namespaced(emu.client());
    let hpa: HorizontalPodAutoscaler = object(
        json!({"metadata": {"name": "web"}, "spec": {"minReplicas": 5, "maxReplicas": 2,
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}),
    );
    let status = refused(&hpas, &hpa).await;
    assert_eq!(
        causes(&status)[0].2,
        "Invalid value: 2: must be greater than or equal to `minReplicas`"
    );
    let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(emu.client());
    let pdb: PodDisruptionBudget = object(
        json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "maxUnavailable": "150%"}}),
    );
    let status = refused(&pdbs, &pdb).await;
    assert_eq!(fields(&status), ["spec", "spec.maxUnavailable"]);
    assert!(
        causes(&status)[0]
            .2
            .ends_with("minAvailable and maxUnavailable cannot be both set")
    );
}

// Upstream `ValidateSecret` (`IsConfigMapKey` data keys) and `ValidateSecretUpdate`
// (the type is immutable).
#[tokio::test]
async fn secret_keys_are_config_keys_and_the_type_never_changes() {
    let emu = start().await;
    let api: Api<Secret> = Api::default_namespaced(emu.client());
    let bad: Secret = object(json!({"metadata": {"name": "s"}, "stringData": {"a b": "x"}}));
    let status = refused(&api, &bad).await;
    assert_eq!(fields(&status), ["data[a b]"]);
    create(
        &api,
        &object(json!({"metadata": {"name": "s"}, "stringData": {"a": "x"}})),
    )
    .await;
    let status = invalid(
        api.patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"type": "kubernetes.io/tls"})),
        )
        .await,
    );
    assert_eq!(fields(&status), ["type"]);
}
