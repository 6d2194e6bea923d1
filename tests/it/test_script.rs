//! `scripts/test.sh` itself, where a fresh machine differs from ours: the parts of it
//! that must behave when a tool it installs is not there yet.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// On a machine without cargo-deny, `cargo deny --version` exits 101 ("no such
/// command"). Under `set -euo pipefail` the version probe used to carry that status into
/// `have="$(cargo_deny_version)"` and end the script there, before the install it was
/// probing for: `scripts/test.sh` failed its `deny` layer in 0 s on a fresh machine
/// (found by running it on one). The probe must answer "no version" instead.
#[test]
fn the_cargo_deny_probe_answers_nothing_when_cargo_deny_is_missing() {
    let bin = tempfile::tempdir().expect("a temporary directory");
    let cargo = bin.path().join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\necho 'error: no such command: `deny`' >&2\nexit 101\n",
    )
    .expect("write the stand-in cargo");
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755))
        .expect("make it executable");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test.sh");

    // The function as test.sh defines it, run under test.sh's own shell options.
    let probe = r#"set -euo pipefail
eval "$(sed -n '/^cargo_deny_version() {$/,/^}$/p' "$1")"
declare -F cargo_deny_version >/dev/null || { echo "no cargo_deny_version in $1" >&2; exit 3; }
have="$(cargo_deny_version)"
echo "version=[$have]""#;
    let output = Command::new("bash")
        .args(["-c", probe, "probe"])
        .arg(&script)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .output()
        .expect("run bash");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the probe ended the script ({}): {stderr}",
        output.status
    );
    assert_eq!(stdout.trim(), "version=[]", "stderr: {stderr}");
}
