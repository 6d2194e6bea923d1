//! Server-side printing, as kube-apiserver does it for `kubectl get`: a custom kind's
//! `additionalPrinterColumns` become the columns kubectl prints (upstream: the CRD
//! table convertor answers `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), for
//! a list, one object, and a watch (`kubectl get -w`); a kind without printer columns
//! prints NAME and AGE.

use std::time::Duration;

use kube::api::PostParams;
use kube_emulator::EmulatorHandle;
use serde_json::json;

use crate::support::{self, install_crd, object};

async fn gadgets(emu: &EmulatorHandle) {
    let schema = json!({"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}});
    let api = install_crd(
        emu,
        ("example.com", "v1", "Gadget", "gadgets"),
        json!({"schema": schema, "additionalPrinterColumns": [
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"},
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "URL", "type": "string", "jsonPath": ".status.url", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]}),
    )
    .await;
    let plain = install_crd(
        emu,
        ("example.com", "v1", "Plain", "plains"),
        json!({"schema": schema}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (name, status) in [
        (
            "one",
            json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Converged"}]}),
        ),
        ("two", json!({})),
    ] {
        api.create(
            &PostParams::default(),
            &object(json!({"apiVersion": "example.com/v1", "kind": "Gadget",
                "metadata": {"name": name}, "spec": {"size": 3}, "status": status})),
        )
        .await
        .unwrap();
    }
    plain
        .create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": "example.com/v1", "kind": "Plain", "metadata": {"name": "p"}}),
            ),
        )
        .await
        .unwrap();
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Checks that the first line of kubectl's `output` holds the column names `header`.
fn assert_header(output: &str, header: &[&str]) {
    assert_eq!(
        words(output.lines().next().unwrap_or_default()),
        header,
        "{output}"
    );
}

#[tokio::test]
async fn kubectl_get_prints_a_custom_kinds_printer_columns() {
    let (emu, _dir, kubeconfig) = support::start_for_kubectl().await;
    gadgets(&emu).await;
    let get = |args: &'static [&'static str]| {
        let kubeconfig = kubeconfig.clone();
        async move {
            let out = support::kubectl(&kubeconfig, args).await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };

    let list = get(&["get", "gadgets"]).await;
    let lines: Vec<&str> = list.lines().collect();
    assert_header(&list, &["NAME", "READY", "REASON", "SIZE", "AGE"]);
    assert_eq!(
        words(lines[1])[..4],
        ["one", "True", "Converged", "3"],
        "{list}"
    );
    // No Ready condition: the cells are null, which kubectl leaves blank.
    assert_eq!(words(lines[2])[..2], ["two", "3"], "{list}");
    assert!(words(lines[1])[4].ends_with('s'), "an age: {list}");

    let wide = get(&["get", "gadget", "one", "-o", "wide"]).await;
    assert_header(&wide, &["NAME", "READY", "REASON", "SIZE", "URL", "AGE"]);

    let plain = get(&["get", "plains"]).await;
    assert_header(&plain, &["NAME", "AGE"]);

    // A watch prints the same columns for the first rows and each change.
    let mut child = tokio::process::Command::new(support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "gadgets", "-w"])
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.start_kill().unwrap();
    let watched = child.wait_with_output().await.unwrap();
    let watched = String::from_utf8_lossy(&watched.stdout).into_owned();
    let lines: Vec<&str> = watched.lines().collect();
    assert_header(&watched, &["NAME", "READY", "REASON", "SIZE", "AGE"]);
    assert!(
        lines
            .iter()
            .any(|l| words(l).starts_with(&["one", "True", "Converged"])),
        "{watched}"
    );
}
