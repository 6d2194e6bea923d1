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
#   scripts/bench.sh operator --apps 10000 --timeout 30m  10,000 apps (150,000 children)
#   scripts/bench.sh data-tier               1,000 ManagedDatabases + 300 CacheClusters
#                                            against moto_server, 10 idle minutes
#   scripts/bench.sh data-tier --databases 100 --caches 30 --idle 2m   a quick one
#   scripts/bench.sh all --help              every flag
#
# It installs nothing: it needs the Rust toolchain that `scripts/test.sh setup` checks,
# and for `data-tier` moto_server from .venv (`scripts/test.sh setup`), which it starts
# on a free port and stops on exit.
# Release builds go to CARGO_TARGET_DIR (default: target/); the first build of every
# dependency takes several minutes on two cores.
#
# Figures measured on the shared 2-core machine (release build; README "Benchmarks"):
#   emulator: 6,758 simple req/s at concurrency 8, p50 0.68 ms
#   1,000 apps x 3 tiers: all children after 9.2-11.1 s; floor 7.4-7.6 s; ratio 1.21-1.45;
#   17.0 requests per app; 0 writes in 60 s steady state; operator peak RSS 83-84 MiB
#   (issue 12, 30 Nov 2026, session 7, load 2-6: 1,000 apps ratio 1.66-1.82, peak RSS
#   70.9-71.4 MiB; 10,000 apps ratio 1.59-2.42, peak RSS 435 MiB; data tier 1,000 + 300
#   Ready in 29.8 s, 0 mutating calls and 0 writes in 10 idle minutes: README)
#   1 Dec 2026, session 14, load 2-3 from another session: 1,000 apps after the
#   emulator GC fix: all children 27.8-35.6 s, floor 13.0-19.4 s, ratio 1.84-2.14,
#   32.0 requests per app, peak RSS 68.7-68.9 MiB (before it: 173.4 s, floor 69.5 s);
#   emulator 1,900-2,900 req/s, p99 18-30 ms at load 2-3.4, 4,400-4,500 req/s, p99
#   12 ms at load 1.2-2 (README "Benchmarks")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

CHILD_PID=""
MOTO_PID=""
WORK_DIR=""
# shellcheck disable=SC2317  # run by the EXIT trap
stop_child() {
    local pid
    for pid in "$CHILD_PID" "$MOTO_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            # setsid made it a process-group leader: stop it and what it started.
            kill -TERM -- "-$pid" 2>/dev/null || true
            sleep 2
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "$WORK_DIR" ]]; then
        rm -rf "$WORK_DIR"
    fi
}
trap stop_child EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${1:-}" in
emulator | operator | all | data-tier) ;;
"") set -- all ;;
*) set -- all "$@" ;;
esac

echo "==> building tiered and tiered-bench (release)"
cargo build --release --locked --package tiered --package tiered-bench --bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

if [[ "$1" == data-tier ]]; then
    MOTO="${MOTO_SERVER:-$ROOT/.venv/bin/moto_server}"
    [[ -x "$MOTO" ]] || {
        echo "moto_server not found at $MOTO: run scripts/test.sh setup first" >&2
        exit 1
    }
    WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tiered-bench.XXXXXX")"
    echo "==> moto_server"
    setsid "$MOTO" --host 127.0.0.1 --port 0 >"$WORK_DIR/moto.log" 2>&1 &
    MOTO_PID=$!
    for ((i = 0; i < 300; i++)); do
        MOTO_LINE="$(grep -m1 -E 'Running on http://127.0.0.1:[0-9]+' "$WORK_DIR/moto.log" || true)"
        [[ -n "$MOTO_LINE" ]] && break
        sleep 0.1
    done
    [[ -n "$MOTO_LINE" ]] || {
        echo "moto_server did not start within 30 s:" >&2
        cat "$WORK_DIR/moto.log" >&2
        exit 1
    }
    MOTO_ENDPOINT="http://127.0.0.1:$(sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/' <<<"$MOTO_LINE")"
    export MOTO_ENDPOINT
    echo "moto_server: $MOTO_ENDPOINT"
fi

echo "==> tiered-bench $*"
setsid --wait "$BIN/tiered-bench" "$@" &
CHILD_PID=$!
status=0
wait "$CHILD_PID" || status=$?
CHILD_PID=""
exit "$status"
