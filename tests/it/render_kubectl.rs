//! `tiered render` output is what kubectl accepts: the real kubectl applies it with
//! `--dry-run=client` and `--dry-run=server` against the emulator, object by object.

use crate::support;

use std::process::Command;

use kube_emulator::{Emulator, EmulatorOptions};

fn render_example() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tiered"))
        .args(["render", "-f"])
        .arg(support::tools::crate_root().join("deploy/examples/newsread.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let out = support::tools::kubectl(kubeconfig, args, Some(stdin)).await;
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_accepts_every_object_render_prints_for_the_example() {
    let rendered = render_example();
    let emulator = Emulator::start(EmulatorOptions {
        namespaces: vec!["default".into(), "newsread".into()],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, emulator.kubeconfig_yaml()).unwrap();

    let (ok, client_output) = kubectl(
        &kubeconfig,
        &["apply", "--dry-run=client", "-f", "-"],
        &rendered,
    )
    .await;
    assert!(ok, "kubectl refused the rendered objects:\n{client_output}");
    let (ok, server_output) = kubectl(
        &kubeconfig,
        &["apply", "--dry-run=server", "-f", "-"],
        &rendered,
    )
    .await;
    assert!(ok, "kubectl refused the rendered objects:\n{server_output}");

    for object in [
        "deployment.apps/newsread-web",
        "deployment.apps/newsread-api",
        "deployment.apps/newsread-worker",
        "service/newsread-web",
        "service/newsread-api",
        "horizontalpodautoscaler.autoscaling/newsread-web",
        "poddisruptionbudget.policy/newsread-web",
        "networkpolicy.networking.k8s.io/newsread-web",
        "ingress.networking.k8s.io/newsread-web",
    ] {
        assert!(
            client_output.contains(&format!("{object} created (dry run)")),
            "{object} missing:\n{client_output}"
        );
        assert!(
            server_output.contains(&format!("{object} created (server dry run)")),
            "{object} missing:\n{server_output}"
        );
    }
}
