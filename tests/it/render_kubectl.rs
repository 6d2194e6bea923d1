//! `tiered render` output is what kubectl accepts: the real kubectl applies it with
//! `--dry-run=client` and `--dry-run=server` against the emulator, object by object.

use crate::harness_kubectl::Kubectl;
use crate::support;

use std::process::Command;

use kube_emulator::{Emulator, EmulatorOptions};

fn render_example() -> String {
    let out = support::tools::output_of(
        Command::new(env!("CARGO_BIN_EXE_tiered"))
            .args(["render", "-f"])
            .arg(support::tools::crate_root().join("deploy/examples/newsread.yaml")),
        "render",
    );
    String::from_utf8(out.stdout).unwrap()
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
    let kubectl = Kubectl::new(&emulator);

    for (dry_run, said) in [
        ("--dry-run=client", "created (dry run)"),
        ("--dry-run=server", "created (server dry run)"),
    ] {
        let output = kubectl
            .ok_with_stdin(&["apply", dry_run, "-f", "-"], Some(&rendered))
            .await;
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
                output.contains(&format!("{object} {said}")),
                "{object} missing after {dry_run}:\n{output}"
            );
        }
    }
}
