//! No input stops the operator, and when the process itself cannot go on it says why:
//! the whole cause chain reaches standard error (not only "failed to run the operator").

use std::process::Command;

use crate::support::operator::emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_exits_non_zero_naming_the_address_and_the_os_error() {
    let emulator = emulator(&["default"], false).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = emulator.write_kubeconfig(dir.path()).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tiered"))
            .args(["run", "--cluster-name", "t", "--leader-election", "false"])
            .args(["--metrics-addr", &addr])
            .env("KUBECONFIG", &kubeconfig)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    drop(taken);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exited 0; stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    assert!(
        line.contains("failed to bind the metrics address 127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("in use"), "the OS error is missing: {line}");
}
