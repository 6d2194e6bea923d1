#!/usr/bin/env bash
# Coverage-guided fuzzing of `tiered render`'s pipeline (deserialise → validate → build →
# AWS plan) with cargo-fuzz and libFuzzer. On demand, never in CI: findings land in
# fuzz/artifacts/render/, a crash reproduces with `scripts/fuzz.sh -- fuzz/artifacts/render/<file>`.
#
#   scripts/fuzz.sh              fuzz for 120 s (FUZZ_SECONDS to change)
#   scripts/fuzz.sh -- ARGS      pass ARGS to libFuzzer instead
#
# Needs: cargo-fuzz (installed from crates.io when missing) and a compiler that takes
# libFuzzer's nightly-only flags (-Zsanitizer=address): the default toolchain with
# RUSTC_BOOTSTRAP=1, or FUZZ_TOOLCHAIN=nightly for rustup's nightly. The first build compiles the whole
# dependency tree with the sanitizer in release mode: expect 15 minutes or more on 2 cores
# (fuzz/target/ keeps it for the next run). Prints how long it fuzzed and what it found.
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
cargo fuzz --version

# The default toolchain with RUSTC_BOOTSTRAP=1 (no nightly needed); FUZZ_TOOLCHAIN=nightly
# uses rustup's nightly instead (a separate build of everything).
toolchain=()
if [[ -n ${FUZZ_TOOLCHAIN:-} ]]; then
    toolchain=("+$FUZZ_TOOLCHAIN")
else
    export RUSTC_BOOTSTRAP=1
fi
echo "compiler: $(rustc "${toolchain[@]}" --version)${RUSTC_BOOTSTRAP:+ with RUSTC_BOOTSTRAP=1}"

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

build_start=$SECONDS
echo "building the fuzz target (release, address sanitizer)"
cargo "${toolchain[@]}" fuzz build --fuzz-dir fuzz render
echo "built in $((SECONDS - build_start)) s"

run_start=$SECONDS
status=0
cargo "${toolchain[@]}" fuzz run --fuzz-dir fuzz render "$corpus" -- "${args[@]}" || status=$?
echo "fuzzed target render for $((SECONDS - run_start)) s (libFuzzer arguments: ${args[*]}); corpus: $(find "$corpus" -type f | wc -l) inputs"
if compgen -G "fuzz/artifacts/render/*" >/dev/null; then
    echo "findings (reproduce with scripts/fuzz.sh -- <file>):"
    ls -l fuzz/artifacts/render/
fi
if ((status == 0)); then
    echo "no crash"
else
    echo "libFuzzer stopped with status $status: a crash, a leak or a timeout; see above" >&2
fi
exit "$status"
