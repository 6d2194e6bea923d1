#!/usr/bin/env bash
# Takes a fresh clone to green: installs what the tests need, then runs every test layer.
# CI runs exactly this (.ci/run). Safe to rerun: each install step is skipped when done.
#
#   scripts/test.sh            all default layers (shell fmt clippy deny tests chaos packaging)
#   scripts/test.sh tests      only the named layers
#   scripts/test.sh release    the optional layer: the release binary (not a default layer:
#                              a cold release build took 15m04s on a busy 2-core machine,
#                              1024 s of CPU; later builds reuse target/release)
#
# Ends with "tests: N passed, M failed, K skipped" (summed over cargo's result lines and
# whatever a layer reports with add_counts): the plain closing line CI reads, where
# cargo's own last line would be its doc-tests, often "0 passed".
#
# Environment it honours: CARGO_TARGET_DIR (shared target dir), CI (non-empty: no
# incremental compilation, which only costs time on a cold build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# lua5.1: Argo CD health checks (Argo CD runs them in gopher-lua, a Lua 5.1)
# and the linter of the shell layer, shellcheck; curl for scripts/demo.sh
APT_PACKAGES=(lua5.1 shellcheck curl)
RUST_COMPONENTS=(rustfmt clippy)
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/requirements-test.txt"
VENV_STAMP="$VENV/.requirements.sha256"  # inside .venv, so it goes when the venv goes
LAYERS=(shell fmt clippy deny tests chaos packaging)
# Layers that run only when named: `scripts/test.sh release`.
OPTIONAL_LAYERS=(release)
# cargo-deny for the `deny` layer: the prebuilt wheel that requirements-test.txt pins puts
# it in .venv/bin (seconds); where no wheel is published, it is installed from crates.io
# once (a cold `cargo install --locked cargo-deny` took 8 to 17 minutes on 2 cores), then
# found in ~/.cargo/bin on every later run. deny.toml needs 0.18 or later.
CARGO_DENY_VERSION=0.20.2
CARGO_DENY_MINIMUM=0.18.0

if [[ -n "${CI:-}" ]]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# --- bookkeeping -------------------------------------------------------------------

SCRIPT_START=$SECONDS
SUMMARY=()
CHILD_PID=""
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tiered-test.XXXXXX")"
# Test counts over all layers, for the closing "N passed, M failed" line (CI reads it).
TESTS_PASSED=0
TESTS_FAILED=0
TESTS_SKIPPED=0

# add_counts PASSED FAILED SKIPPED: a layer reports the tests it ran.
add_counts() {
    TESTS_PASSED=$((TESTS_PASSED + $1))
    TESTS_FAILED=$((TESTS_FAILED + $2))
    TESTS_SKIPPED=$((TESTS_SKIPPED + $3))
}

# count_cargo_results FILE: adds up libtest's "test result:" lines in FILE.
count_cargo_results() {
    local line passed failed ignored
    while IFS= read -r line; do
        [[ $line =~ ([0-9]+)\ passed\;\ ([0-9]+)\ failed\;\ ([0-9]+)\ ignored ]] || continue
        passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]} ignored=${BASH_REMATCH[3]}
        add_counts "$passed" "$failed" "$ignored"
    done < <(grep '^test result:' "$1" || true)
}

print_counts() {
    if ((TESTS_PASSED + TESTS_FAILED + TESTS_SKIPPED > 0)); then
        echo "tests: $TESTS_PASSED passed, $TESTS_FAILED failed, $TESTS_SKIPPED skipped"
    fi
}

# Every command that may run for long goes through `run`: it starts in its own process
# group, so that on INT/TERM (or any exit) the trap stops it and everything under it
# (cargo, rustc, test binaries, the moto_server they started).
run() {
    setsid --wait "$@" &
    CHILD_PID=$!
    local status=0
    wait "$CHILD_PID" || status=$?
    CHILD_PID=""
    return "$status"
}

stop_children() {
    if [[ -n "$CHILD_PID" ]] && kill -0 "$CHILD_PID" 2>/dev/null; then
        # setsid made the child a process-group leader: signal the whole group.
        kill -TERM -- "-$CHILD_PID" "$CHILD_PID" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$CHILD_PID" "$CHILD_PID" 2>/dev/null || true
    fi
}

on_exit() {
    local status=$?
    stop_children
    rm -rf "$WORK_DIR"
    if ((status != 0)); then
        [[ -z "$CURRENT_STEP" ]] || record FAIL
        print_summary
        echo "FAILED (exit $status) after $((SECONDS - SCRIPT_START))s" >&2
        print_counts
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

header() {
    printf '\n==> %s\n' "$*"
}

print_summary() {
    ((${#SUMMARY[@]} > 0)) || return 0
    printf '\n==> summary\n'
    printf '  %s\n' "${SUMMARY[@]}"
}

# step NAME FUNCTION: run one step with its header and duration, and record it.
# The function runs outside any `if`, so `set -e` stays in force inside it; a failure
# exits the script and the EXIT trap records the step as failed.
CURRENT_STEP=""
CURRENT_START=0
step() {
    CURRENT_STEP=$1
    CURRENT_START=$SECONDS
    header "$CURRENT_STEP"
    "$2"
    record ok
    CURRENT_STEP=""
}

record() {
    local took=$((SECONDS - CURRENT_START))
    SUMMARY+=("$(printf '%-24s %-4s %5ds' "$CURRENT_STEP" "$1" "$took")")
    echo "--> $CURRENT_STEP: $1 in ${took}s"
}

SUDO=()
if ((EUID != 0)) && command -v sudo >/dev/null; then
    SUDO=(sudo)
fi

# --- setup -------------------------------------------------------------------------

setup_apt() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    # python3 -m venv needs ensurepip; Debian's own python3 ships it separately.
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    if ((${#missing[@]} == 0)); then
        echo "Debian packages present: ${APT_PACKAGES[*]}"
        return 0
    fi
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    run "${SUDO[@]}" apt-get update -qq
    run "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

requirements_hash() {
    # The file's content, not its path: a venv shared between clones or worktrees (a
    # symlinked .venv) must not be rebuilt because the checkout lives elsewhere.
    { sha256sum <"$REQUIREMENTS"; python3 --version; } | sha256sum | cut -d' ' -f1
}

setup_venv() {
    local want
    want="$(requirements_hash)"
    if [[ -x "$VENV/bin/python" && -f "$VENV_STAMP" && "$(cat "$VENV_STAMP")" == "$want" ]]; then
        echo ".venv matches $(basename "$REQUIREMENTS"); nothing to install"
    else
        # Start from an empty venv, so that a pin removed from the file goes too.
        rm -rf "$VENV"
        run python3 -m venv "$VENV"
        run "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
            -r "$REQUIREMENTS"
        echo "$want" >"$VENV_STAMP"
    fi
    # The tools the tests call must be there and run.
    "$VENV/bin/kubectl" version --client=true
    "$VENV/bin/moto_server" --help >/dev/null
    "$VENV/bin/check-jsonschema" --version
    "$VENV/bin/python" -c 'import helm_python as h; print("helm SDK", h.helm_sdk_version())'
}

setup_rust() {
    local c missing=()
    for c in "${RUST_COMPONENTS[@]}"; do
        case $c in
        rustfmt) cargo fmt --version >/dev/null 2>&1 || missing+=("$c") ;;
        clippy) cargo clippy --version >/dev/null 2>&1 || missing+=("$c") ;;
        esac
    done
    if ((${#missing[@]} > 0)); then
        echo "adding Rust components: ${missing[*]}"
        run rustup component add "${missing[@]}" || {
            echo "rustup could not add ${missing[*]}; add them by hand where rustup reaches its server" >&2
            return 1
        }
    fi
    cargo --version
    cargo fmt --version
    cargo clippy --version
}

# --- test layers: one function each; add a layer by adding a function and a name in LAYERS

# `scripts/test.sh setup`: only the installs (scripts/demo.sh uses it). Not a default layer.
layer_setup() {
    echo "set-up done"
}

layer_shell() {
    local scripts=(.ci/run scripts/*.sh)
    run shellcheck --severity=style --external-sources "${scripts[@]}"
}

layer_fmt() {
    run cargo fmt --all --check
}

# clippy, then rustdoc's own lints (broken or ambiguous intra-doc links, links to private
# items) over the workspace's docs; rustdoc reuses the dependencies clippy checked.
layer_clippy() {
    run cargo clippy --workspace --all-targets --locked -- -D warnings
    RUSTDOCFLAGS="-D warnings" run cargo doc --workspace --no-deps --locked
}

# cargo_deny_version: the installed cargo-deny's version, or nothing. Without
# cargo-deny, `cargo deny` exits 101 ("no such command"); under pipefail and set -e that
# status would end the script at the first line reading the version, on exactly the
# fresh machine that needs the install below, so it is swallowed here.
cargo_deny_version() {
    { cargo deny --version 2>/dev/null || true; } | awk '{print $2}'
}

# ensure_cargo_deny: puts the venv's cargo-deny (the pinned wheel) first on PATH, where
# `cargo deny` finds it; without one (no wheel for this platform), installs it from
# crates.io unless a recent enough one is on PATH already (cargo install puts it in
# ~/.cargo/bin, so that is once per machine).
ensure_cargo_deny() {
    if [[ -x "$VENV/bin/cargo-deny" ]]; then
        # A folder of its own, not .venv/bin, so that no other venv tool shadows a
        # system one. Cargo searches ~/.cargo/bin before PATH unless PATH names it, so it
        # is named after this folder: an older cargo-deny there does not win.
        mkdir -p "$WORK_DIR/deny-bin"
        ln -sf "$VENV/bin/cargo-deny" "$WORK_DIR/deny-bin/cargo-deny"
        export PATH="$WORK_DIR/deny-bin:$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
        echo "cargo-deny from .venv (the prebuilt wheel requirements-test.txt pins)"
    fi
    local have
    have="$(cargo_deny_version)"
    if [[ -n "$have" ]] &&
        [[ "$(printf '%s\n%s\n' "$CARGO_DENY_MINIMUM" "$have" | sort -V | head -n1)" == "$CARGO_DENY_MINIMUM" ]]; then
        echo "cargo-deny $have present"
        return 0
    fi
    echo "installing cargo-deny $CARGO_DENY_VERSION from crates.io (once per machine; 8 minutes or more on 2 cores)"
    local start=$SECONDS
    run cargo install --locked "cargo-deny@$CARGO_DENY_VERSION"
    echo "cargo-deny installed in $((SECONDS - start))s"
}

layer_deny() {
    # Supply chain (deny.toml): licenses, banned crates and duplicate versions, sources.
    ensure_cargo_deny
    # cargo-deny's own `cargo metadata` resolves every platform and would download the
    # Windows and Android crates the lockfile names. The metadata of the platforms in
    # deny.toml's [graph] targets needs nothing that is not already in the cargo cache,
    # so these checks run offline.
    local targets=() target meta="$WORK_DIR/metadata.json" log="$WORK_DIR/deny.out"
    read -r -a targets < <(python3 -c 'import tomllib; print(" ".join(tomllib.load(open("deny.toml", "rb"))["graph"]["targets"]))')
    local filters=()
    for target in "${targets[@]}"; do
        filters+=(--filter-platform "$target")
    done
    cargo metadata --locked --offline --format-version 1 "${filters[@]}" >"$meta"
    local status=0
    run bash -o pipefail -c 'cargo deny --metadata-path "$1" check licenses bans sources 2>&1 | tee "$0"' \
        "$log" "$meta" || status=$?
    local duplicates
    duplicates="$(grep -c '^warning\[duplicate\]' "$log" || true)"
    echo "bans: $duplicates crates in more than one version (warnings, listed above; see deny.toml [bans])"
    ((status == 0)) || return "$status"

    # Advisories need the RustSec database from github.com: checked where it can be
    # fetched, and said plainly when it cannot.
    local fetch_log="$WORK_DIR/deny-fetch.out"
    if timeout 120 cargo deny fetch db >"$fetch_log" 2>&1; then
        run cargo deny --metadata-path "$meta" check --disable-fetch advisories
    else
        echo "advisories: SKIPPED, not checked: the RustSec advisory database could not be fetched here"
        echo "  ($( (grep -m1 '^fatal:' "$fetch_log" || grep -m1 -E 'error|ERROR' "$fetch_log") | cut -c1-200))"
        echo "  run \`cargo deny check advisories\` where github.com is reachable"
    fi
}

layer_release() {
    # The release binary as shipped (`--bin tiered`: the emulator and the bench are not
    # compiled): it starts, and its size. Optional: the cold build is long on 2 cores.
    local start=$SECONDS
    run cargo build --release --locked --bin tiered
    echo "release build: $((SECONDS - start))s"
    local binary="${CARGO_TARGET_DIR:-$ROOT/target}/release/tiered" version
    version="$("$binary" --version)"
    echo "$version"
    [[ "$version" == "tiered $(cargo metadata --no-deps --offline --format-version 1 |
        python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "tiered"))')" ]] || {
        echo "tiered --version printed '$version', not the crate's version" >&2
        return 1
    }
    local bytes
    bytes="$(stat -c %s "$binary")"
    echo "release binary: $binary, $bytes bytes ($((bytes / 1024 / 1024)) MiB)"
}

layer_tests() {
    # Unit, emulator, reconcile and end-to-end tests. tests/it/support finds the tools here.
    export MOTO_SERVER="$VENV/bin/moto_server"
    export KUBECTL="$VENV/bin/kubectl"
    # Four test threads on two cores (unless RUST_TEST_THREADS says otherwise): most
    # integration tests wait on the operator, the emulator and moto, not on the CPU.
    # tests/it took 451 s with two threads (CPU 100-120 %) and 289 s with four (174 %).
    export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
    local log="$WORK_DIR/cargo-test.out"
    local status=0
    run bash -o pipefail -c 'cargo test --workspace --locked --no-fail-fast | tee "$0"' "$log" ||
        status=$?
    count_cargo_results "$log"
    return "$status"
}

layer_chaos() {
    # The short chaos run (TESTING.md layer 4): 10 SIGKILLs of the operator at fixed-seed
    # moments, emulator 409s/500s/dropped watches, 20% of AWS calls throttled or failed
    # and 5% of answers lost; fails unless duplicates, orphans, missing final snapshots,
    # stuck objects, secret leaks and panics are all zero. It asserts outcomes, never
    # durations (each phase may take 300 s after its last kill: the mutating-call budget
    # holds every existing object for a minute after each restart).
    local status=0
    run env MOTO_SERVER="$VENV/bin/moto_server" bash "$ROOT/scripts/chaos.sh" --ci || status=$?
    if ((status == 0)); then add_counts 1 0 0; else add_counts 0 1 0; fi
    return "$status"
}

layer_packaging() {
    # CRD drift, chart lint/render, manifest schemas, Argo CD Lua health checks.
    local script="$ROOT/scripts/test-packaging.sh"
    if [[ ! -f "$script" ]]; then
        echo "skipped: $script does not exist yet"
        return 0
    fi
    local log="$WORK_DIR/packaging.out" status=0
    # shellcheck disable=SC2016  # $0 and $1 expand in the inner bash, on purpose
    run env PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" \
        bash -o pipefail -c 'bash "$1" | tee "$0"' "$log" "$script" || status=$?
    # Its closing line "packaging: N passed, M failed" goes into the overall count.
    local line
    line="$(grep -E '^packaging: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 || true)"
    if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        add_counts "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" 0
    fi
    return "$status"
}

# --- main --------------------------------------------------------------------------

main() {
    local layers=("$@") layer
    ((${#layers[@]} > 0)) || layers=("${LAYERS[@]}")
    for layer in "${layers[@]}"; do
        declare -F "layer_$layer" >/dev/null || {
            echo "unknown layer '$layer' (known: ${LAYERS[*]}; optional: ${OPTIONAL_LAYERS[*]})" >&2
            return 2
        }
    done

    step "setup: Debian packages" setup_apt
    step "setup: Python venv" setup_venv
    step "setup: Rust toolchain" setup_rust
    for layer in "${layers[@]}"; do
        step "layer: $layer" "layer_$layer"
    done

    print_summary
    echo "all layers passed in $((SECONDS - SCRIPT_START))s"
    print_counts
}

main "$@"
