//! What the emulator's tests call outside the crate: the real `kubectl`, from `$KUBECTL`
//! or the workspace's `.venv` (which `scripts/test.sh` installs). A missing kubectl fails
//! the test, saying how to install it; it never skips.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;

/// `kubectl`: `$KUBECTL`, else `<workspace>/.venv/bin/kubectl`.
pub fn kubectl_path() -> PathBuf {
    let path = match std::env::var_os("KUBECTL") {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/kubectl"),
    };
    assert!(
        path.is_file(),
        "kubectl not found at {}; run `scripts/test.sh` once: it installs the test tools into .venv",
        path.display()
    );
    path
}

/// Runs `kubectl --kubeconfig <kubeconfig> <args>` without blocking the async runtime
/// (the in-process emulator serves on it).
pub async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = tokio::process::Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut pipe = child.stdin.take().expect("kubectl's stdin");
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes())
            .await
            .expect("kubectl reads stdin");
    }
    drop(pipe);
    child.wait_with_output().await.expect("kubectl finishes")
}
