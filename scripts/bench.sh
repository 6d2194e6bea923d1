#!/usr/bin/env bash
# Benchmarks (TESTING.md layer 5): figures printed on demand, never asserted in CI.
# Builds `tiered` and `tiered-bench` in release (crates/tiered-bench links the emulator;
# the release image compiles neither), runs the benchmark, prints the figures and a
# summary table, and stops everything it started (the operator process is a child of
# tiered-bench).
#
#   scripts/bench.sh                         emulator throughput + 1,000 apps, 60 s steady state
#   scripts/bench.sh emulator                only the emulator throughput
#   scripts/bench.sh operator --apps 100 --steady 10s   a quick operator run
#   scripts/bench.sh all --help              every flag
#
# It installs nothing: it needs the Rust toolchain that `scripts/test.sh setup` checks.
# Release builds go to CARGO_TARGET_DIR (default: target/); the first build of every
# dependency takes several minutes on two cores.
#
# Figures measured on the shared 2-core machine (release build; README "Benchmarks"):
#   emulator: 6,758 simple req/s at concurrency 8, p50 0.68 ms
#   1,000 apps x 3 tiers: all children after 9.2-11.1 s; floor 7.4-7.6 s; ratio 1.21-1.45;
#   17.0 requests per app; 0 writes in 60 s steady state; operator peak RSS 83-84 MiB
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

CHILD_PID=""
# shellcheck disable=SC2317  # run by the EXIT trap
stop_child() {
    if [[ -n "$CHILD_PID" ]] && kill -0 "$CHILD_PID" 2>/dev/null; then
        # setsid made tiered-bench a process-group leader: stop it and its operator.
        kill -TERM -- "-$CHILD_PID" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$CHILD_PID" 2>/dev/null || true
    fi
}
trap stop_child EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${1:-}" in
emulator | operator | all) ;;
"") set -- all ;;
*) set -- all "$@" ;;
esac

echo "==> building tiered and tiered-bench (release)"
cargo build --release --locked --package tiered --package tiered-bench --bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

echo "==> tiered-bench $*"
setsid --wait "$BIN/tiered-bench" "$@" &
CHILD_PID=$!
status=0
wait "$CHILD_PID" || status=$?
CHILD_PID=""
exit "$status"
