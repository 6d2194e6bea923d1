#!/usr/bin/env bash
# Coverage-guided fuzzing of `tiered render`'s pipeline (deserialise → validate → build →
# AWS plan) with cargo-fuzz and libFuzzer. On demand, never in CI: findings land in
# fuzz/artifacts/render/, a crash reproduces with `scripts/fuzz.sh -- fuzz/artifacts/render/<file>`.
#
#   scripts/fuzz.sh              fuzz for 120 s (FUZZ_SECONDS to change)
#   scripts/fuzz.sh -- ARGS      pass ARGS to libFuzzer instead
#
# Installs cargo-fuzz from crates.io when missing. libFuzzer needs nightly-only compiler
# flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# Seed corpus: the example manifests.
corpus="fuzz/corpus/render"
mkdir -p "$corpus"
cp deploy/examples/*.yaml "$corpus/"

args=("$@")
if ((${#args[@]} == 0)); then
    args=("-max_total_time=${FUZZ_SECONDS:-120}")
elif [[ ${args[0]} == "--" ]]; then
    args=("${args[@]:1}")
fi
export RUSTC_BOOTSTRAP=1
exec cargo fuzz run --fuzz-dir fuzz render "$corpus" -- "${args[@]}"
