//! The real kubectl against the emulator: discovery (`get ns`), client-side `apply`,
//! `get -o yaml` and `delete`. The kubectl binary comes from `support` (env `KUBECTL`
//! or `.venv/bin/kubectl`); a missing one fails the test, saying how to install it.

use crate::support::{self, kubectl_ok};

// Upstream: what kubectl needs from a server — discovery, /openapi/v3 for server-side
// field validation, create/patch/get/delete — works end to end.
#[tokio::test]
async fn kubectl_gets_applies_reads_and_deletes() {
    let (_emu, dir, kubeconfig) = support::start_for_kubectl().await;
    let manifest = dir.path().join("cm.yaml");

    let namespaces = kubectl_ok(&kubeconfig, &["get", "ns"]).await;
    assert!(
        namespaces.contains("default") && namespaces.contains("kube-system"),
        "{namespaces}"
    );

    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"1\"\n",
    )
    .unwrap();
    let created = kubectl_ok(&kubeconfig, &["apply", "-f", manifest.to_str().unwrap()]).await;
    assert!(created.contains("configmap/demo created"), "{created}");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"2\"\n",
    )
    .unwrap();
    let configured = kubectl_ok(&kubeconfig, &["apply", "-f", manifest.to_str().unwrap()]).await;
    assert!(
        configured.contains("configmap/demo configured"),
        "{configured}"
    );

    let yaml = kubectl_ok(&kubeconfig, &["get", "configmap", "demo", "-o", "yaml"]).await;
    assert!(
        yaml.contains("a: \"2\"") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );

    let deleted = kubectl_ok(&kubeconfig, &["delete", "configmap", "demo"]).await;
    assert!(deleted.contains("deleted"), "{deleted}");
    let missing = support::kubectl(&kubeconfig, &["get", "configmap", "demo"]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NotFound"));
}

// Upstream: kubectl asks for Table output; the emulator answers with the plain list and
// kubectl still prints NAME and AGE for a custom resource found by its short name.
#[tokio::test]
async fn kubectl_lists_custom_resources_by_short_name() {
    let (_emu, dir, kubeconfig) = support::start_for_kubectl().await;
    let crd = dir.path().join("crd.yaml");
    std::fs::write(
        &crd,
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.io\n\
         spec:\n  group: example.io\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}\n\
         \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
    )
    .unwrap();
    kubectl_ok(&kubeconfig, &["apply", "-f", crd.to_str().unwrap()]).await;
    let widget = dir.path().join("w.yaml");
    std::fs::write(
        &widget,
        "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: gizmo\nspec: {size: 1}\n",
    )
    .unwrap();
    kubectl_ok(&kubeconfig, &["apply", "-f", widget.to_str().unwrap()]).await;
    let listed = kubectl_ok(&kubeconfig, &["get", "wg"]).await;
    assert!(
        listed.contains("NAME") && listed.contains("gizmo"),
        "{listed}"
    );
}
