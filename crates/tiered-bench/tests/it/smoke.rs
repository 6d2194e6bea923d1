//! Smoke test of the benchmark binary (TESTING.md layer 5): a tiny `tiered-bench all` run
//! completes and prints every figure. It asserts no figure: benchmarks are not timed tests.

use std::path::PathBuf;
use std::process::Command;

/// The `tiered` binary of this workspace's build: cargo names only a package's own
/// binaries in `CARGO_BIN_EXE_*`, so it is found beside the test binary
/// (`target/<profile>/deps/it-…` → `target/<profile>/tiered`).
fn tiered_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("tiered");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo test --workspace` and scripts/test.sh do)",
        bin.display()
    );
    bin
}

#[test]
fn a_tiny_benchmark_run_completes_and_prints_every_figure() {
    let output = Command::new(env!("CARGO_BIN_EXE_tiered-bench"))
        .args(["all", "--emulator-objects", "20", "--apps", "5"])
        .args(["--steady", "1s", "--quiet", "500ms", "--resync", "1s"])
        .arg("--tiered-bin")
        .arg(tiered_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tiered-bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for figure in [
        "emulator: simple requests / s",
        "emulator: p50 / p99 latency",
        "operator: 5 apps, all children exist",
        "operator: floor (plain client)",
        "operator: ratio to floor",
        "operator: requests per app",
        "operator: writes in 1.00 s steady",
        "operator: peak RSS",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
}
