//! Protobuf request bodies, as client-go's typed clients send them: kubectl's
//! `create namespace|secret|configmap` generators (and Helm's release storage) write
//! through them, and the objects read back as the JSON the same request would store.

use crate::support;

async fn kubectl_ok(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let output = support::kubectl(kubeconfig, args, None).await;
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// Upstream: `kubectl create` sends `application/vnd.kubernetes.protobuf` for built-in
// kinds; a Secret's bytes arrive base64-encoded in `data`, labels and type intact.
#[tokio::test]
async fn kubectl_create_sends_protobuf_that_is_stored_as_json() {
    let emu = support::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, emu.kubeconfig_yaml()).unwrap();
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
    let secret: serde_json::Value = serde_json::from_str(
        &kubectl_ok(
            &kubeconfig,
            &["get", "secret", "creds", "-n", "team", "-o", "json"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(secret["type"], "example.io/creds");
    let config_map: serde_json::Value = serde_json::from_str(
        &kubectl_ok(
            &kubeconfig,
            &["get", "configmap", "settings", "-n", "team", "-o", "json"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(config_map["data"]["mode"], "fast");
    let namespace: serde_json::Value = serde_json::from_str(
        &kubectl_ok(&kubeconfig, &["get", "namespace", "team", "-o", "json"]).await,
    )
    .unwrap();
    assert_eq!(
        namespace["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
}
