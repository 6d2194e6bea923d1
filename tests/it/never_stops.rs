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

/// Found by the outside trial of session 8: with stdout and stderr a pipe whose reader
/// is gone (`tiered run … | head`, a log collector that died), tracing-subscriber
/// reported the failed log write on stderr, that report panicked on the closed pipe in
/// the task that logged: the SIGTERM handler's panic left the operator running after
/// SIGTERM (seen by the tester), or a panic ended it with status 101 (this test, without
/// the fix). A log line that cannot be written is now dropped, and the stop fires before
/// it is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_operator_when_its_log_pipe_is_closed() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let emulator = emulator(&["default"], false).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = emulator.write_kubeconfig(dir.path()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tiered"))
        .args(["run", "--cluster-name", "t", "--leader-election", "false"])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &kubeconfig)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(first.contains("serving /metrics"), "{first}");
    drop(stderr); // both readers gone, as after `| head -1`
    tokio::time::sleep(Duration::from_secs(2)).await; // it logs into the closed pipe

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        exit.is_some_and(|status| status.success()),
        "SIGTERM with the log pipe closed ends the operator with status 0, got {exit:?} (None: still running after 10 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_stops_on_request_when_the_crds_are_not_installed() {
    // `tiered run` started before `kubectl apply -f crds/` (or with crds.install=false
    // and no CRDs): its watches cannot list. A stop (SIGTERM, Ctrl-C) must still stop
    // it, instead of leaving it running until the kubelet's SIGKILL.
    let emulator = kube_emulator::Emulator::start(kube_emulator::EmulatorOptions::default())
        .await
        .unwrap();
    let operator = crate::support::operator::launch(
        emulator.client(),
        crate::support::operator::test_config(&[]),
    )
    .await;
    // Let the watches fail their first lists.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // Panics unless the operator ends within 10 s, cleanly.
    operator.stop().await;
}
