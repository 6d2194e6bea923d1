//! Protobuf request bodies, as client-go's typed clients send them: kubectl's
//! `create namespace|secret|configmap` generators (and Helm's release storage) write
//! through them, and the objects read back as the JSON the same request would store.

use crate::support::{self, kubectl_json, kubectl_ok};

// Upstream: `kubectl create` sends `application/vnd.kubernetes.protobuf` for built-in
// kinds; a Secret's bytes arrive base64-encoded in `data`, labels and type intact.
#[tokio::test]
async fn kubectl_create_sends_protobuf_that_is_stored_as_json() {
    let (_emu, _dir, kubeconfig) = support::start_for_kubectl().await;
    let created = kubectl_ok(&kubeconfig, &["create", "namespace", "team"]).await;
    assert!(created.contains("namespace/team created"), "{created}");
    kubectl_ok(
        &kubeconfig,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team",
            "--from-literal=password=s3cret",
            "--type=example.io/creds",
        ],
    )
    .await;
    kubectl_ok(
        &kubeconfig,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team",
            "--from-literal=mode=fast",
        ],
    )
    .await;
    let secret: serde_json::Value = kubectl_json(
        &kubeconfig,
        &["get", "secret", "creds", "-n", "team", "-o", "json"],
    )
    .await;
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(secret["type"], "example.io/creds");
    let config_map: serde_json::Value = kubectl_json(
        &kubeconfig,
        &["get", "configmap", "settings", "-n", "team", "-o", "json"],
    )
    .await;
    assert_eq!(config_map["data"]["mode"], "fast");
    let namespace: serde_json::Value =
        kubectl_json(&kubeconfig, &["get", "namespace", "team", "-o", "json"]).await;
    assert_eq!(
        namespace["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
}
