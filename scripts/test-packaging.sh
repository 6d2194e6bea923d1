#!/usr/bin/env bash
# The packaging test layer (scripts/test.sh packaging runs it with the venv's bin on
# PATH): the Helm chart lints and renders (helm-python-sdk, the Helm v4 Go SDK), its
# values validate against values.schema.json (check-jsonschema), the rendered objects
# are accepted by kubectl (client and server dry run) against the project's
# kube-emulator, the generated files (chart CRDs, deploy/) are in sync with
# scripts/generate.sh, every object `tiered render` prints passes kubernetes-validate
# --strict for Kubernetes 1.33, the IAM policy covers the code's RDS calls, the Argo CD
# health check gives the expected {status, message} for each fixture under lua5.1, and
# the real Helm installs, upgrades and uninstalls the chart (scripts/helm_install.py).
#
# Ends with "packaging: N passed, M failed"; exits non-zero when a check failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VIRTUAL_ENV:-$ROOT/.venv}"
PYTHON="$VENV/bin/python"
KUBECTL="${KUBECTL:-$VENV/bin/kubectl}"
CHECK_JSONSCHEMA="$VENV/bin/check-jsonschema"
KUBERNETES_VALIDATE="$VENV/bin/kubernetes-validate"
# The oldest Kubernetes minor the rendered objects must fit (EKS standard support).
KUBERNETES_VERSION="1.33.0"
CHART="charts/tiered-operator"

for tool in "$PYTHON" "$KUBECTL" "$CHECK_JSONSCHEMA" "$KUBERNETES_VALIDATE"; do
    if [[ ! -x "$tool" ]]; then
        echo "missing $tool: run scripts/test.sh (it installs the test tools)" >&2
        exit 1
    fi
done
if ! command -v lua5.1 >/dev/null; then
    echo "missing lua5.1: run scripts/test.sh (it installs Debian's lua5.1)" >&2
    exit 1
fi
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tiered-packaging.XXXXXX")"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
# build_binaries: every binary of the workspace, once, with the tests, so that cargo
# resolves the features `cargo test --workspace` does and reuses the tests layer's build
# (a plain `cargo run` or `cargo build --bins` resolves other features and recompiled
# about 50 crates and tiered: 170 s in CI).
BUILT=""
build_binaries() {
    [[ -n "$BUILT" ]] && return 0
    cargo build --quiet --locked --workspace --bins --tests || return 1
    BUILT=1
}
EMULATOR_PID=""
cleanup() {
    if [[ -n "$EMULATOR_PID" ]] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
        kill -TERM "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PASSED=0
FAILED=0
FAILURES=()

# check NAME COMMAND...: runs one check, prints its outcome and output when it fails.
# The command runs as an `if` condition, where `set -e` is off: functions given to
# check chain their steps with `|| return 1`.
check() {
    local name=$1 log="$WORK/check.log"
    shift
    if "$@" >"$log" 2>&1; then
        PASSED=$((PASSED + 1))
        echo "ok    $name"
    else
        FAILED=$((FAILED + 1))
        FAILURES+=("$name")
        echo "FAIL  $name"
        sed 's/^/      /' "$log"
    fi
}

# --- chart, values, generated files, IAM policy (scripts/packaging.py) ---------------

echo "== chart and generated files"
while IFS= read -r name; do
    check "$name" "$PYTHON" scripts/packaging.py check "$name"
done < <("$PYTHON" scripts/packaging.py list-checks)

echo "== values files against values.schema.json (check-jsonschema)"
check "values.yaml and ci/example-values.yaml match values.schema.json" \
    "$CHECK_JSONSCHEMA" --schemafile "$CHART/values.schema.json" \
    "$CHART/values.yaml" "$CHART/ci/example-values.yaml"

schema_rejects() {
    printf 'clusterName: c\nimage: {repository: r, tag: t, pulPolicy: Always}\n' >"$WORK/typo-values.yaml"
    if "$CHECK_JSONSCHEMA" --schemafile "$CHART/values.schema.json" "$WORK/typo-values.yaml"; then
        echo "check-jsonschema accepted image.pulPolicy: the schema lets a typo through"
        return 1
    fi
}
check "check-jsonschema rejects a misspelt nested key" schema_rejects

# --- tiered render against the Kubernetes schemas ----------------------------------------

echo "== tiered render output against the Kubernetes $KUBERNETES_VERSION schemas (kubernetes-validate --strict)"
render_validates() {
    local out="$WORK/render.yaml"
    build_binaries || return 1
    "$BIN/tiered" render -f deploy/examples/newsread.yaml >"$out" || return 1
    local kinds
    kinds=$(grep -c '^kind:' "$out")
    if [[ "$kinds" -lt 10 ]]; then
        echo "tiered render printed only $kinds objects"
        return 1
    fi
    # --strict rejects fields the schema does not know (a typo, or a field newer than
    # $KUBERNETES_VERSION); the tiered.io kinds are not in it and are skipped, so only
    # the built-in kinds the operator writes count, and each must say "passed".
    "$KUBERNETES_VALIDATE" --strict -k "$KUBERNETES_VERSION" "$out" >"$WORK/validate.log" 2>&1 || {
        cat "$WORK/validate.log"
        return 1
    }
    cat "$WORK/validate.log"
    local passed
    passed=$(grep -c ' passed for resource ' "$WORK/validate.log")
    if [[ "$passed" -lt 10 ]]; then
        echo "only $passed objects were validated"
        return 1
    fi
}
check "every object tiered render prints for deploy/examples/newsread.yaml passes kubernetes-validate --strict ($KUBERNETES_VERSION)" render_validates

rejects_unknown_field() {
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPrt: 3000}]}\n' >"$WORK/typo.yaml"
    if "$KUBERNETES_VALIDATE" --strict -k "$KUBERNETES_VERSION" "$WORK/typo.yaml"; then
        echo "kubernetes-validate --strict accepted spec.ports[0].targetPrt"
        return 1
    fi
}
check "kubernetes-validate --strict rejects a misspelt field" rejects_unknown_field

# The IAM statement `tiered render` prints for a tier that reads an AWSManaged database
# password passes parliament (actions, resource type and condition key exist and fit).
identity_statement_lints() {
    sed 's/credentials: {source: Generated}/credentials: {source: AWSManaged}/' \
        deploy/examples/newsread.yaml >"$WORK/managed.yaml"
    build_binaries || return 1
    "$BIN/tiered" render --cluster-name prod -f "$WORK/managed.yaml" >"$WORK/managed-render.yaml" 2>/dev/null || return 1
    "$PYTHON" - "$WORK/managed-render.yaml" <<'PY' || return 1
import json, sys
from parliament import analyze_policy_string, enhance_finding
lines = open(sys.argv[1]).read().split("\n")
start = next(i for i, line in enumerate(lines) if line.startswith("# tier api: ManagedDatabase"))
body = []
for line in lines[start + 2:]:
    if not line.startswith("#   "):
        break
    body.append(line[4:])
statement = json.loads("\n".join(body))
assert statement["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], statement
findings = [enhance_finding(f) for f in analyze_policy_string(json.dumps({"Version": "2012-10-17", "Statement": [statement]})).findings]
for finding in findings:
    print(finding.severity, finding.issue, finding.detail)
sys.exit(1 if findings else 0)
PY
}
check "the IAM statement tiered render prints for an AWSManaged password passes parliament" identity_statement_lints

# --- Argo CD health check ----------------------------------------------------------------

echo "== Argo CD health check (lua5.1)"
while IFS= read -r name; do
    check "argocd health: $name" "$PYTHON" scripts/packaging.py lua-case "$name"
done < <("$PYTHON" scripts/packaging.py lua-cases)

# --- kubectl against the kube emulator --------------------------------------------------

start_emulator() {
    # Every binary of the workspace (`--bin kube-emulator` alone would look for it in
    # the root package only).
    build_binaries || return 1
    local bin="$BIN/kube-emulator" i
    export KUBECONFIG="$WORK/kubeconfig"
    "$bin" --port 0 --kubeconfig "$KUBECONFIG" >"$WORK/emulator.log" 2>&1 &
    EMULATOR_PID=$!
    for ((i = 0; i < 100; i++)); do
        if [[ -s "$KUBECONFIG" ]] && "$KUBECTL" get namespaces >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$EMULATOR_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "kube-emulator did not start:"
    cat "$WORK/emulator.log"
    return 1
}

# The CRDs (crds/, which the chart templates) are applied for real so that server dry runs of the custom resources work.
install_crds() {
    "$KUBECTL" apply --server-side -f crds/ || return 1
    "$KUBECTL" wait --for=condition=Established --timeout=20s crd --all || return 1
    local ns
    # shop and newsread: the watched namespaces of ci/example-values.yaml, where its Roles go.
    for ns in tiered-system newsread shop argocd; do
        printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$ns" |
            "$KUBECTL" apply -f - || return 1
    done
}

# dry_run FILE: kubectl accepts FILE's objects that the emulator serves, both ways.
dry_run() {
    local served
    served="$WORK/served-$(basename "$1")"
    "$PYTHON" scripts/packaging.py served-only "$1" "$served" || return 1
    "$KUBECTL" apply --dry-run=client -f "$served" || return 1
    "$KUBECTL" apply --dry-run=server --server-side -f "$served" || return 1
}

render() {
    "$PYTHON" scripts/packaging.py render "$1" "$2"
}

# helm_lifecycle: the real Helm installs, upgrades (a CRD gains a field) and uninstalls the
# chart on a kube-emulator of its own, and `tiered run` starts from the installed
# Deployment's args and env (scripts/helm_install.py says what is checked).
helm_lifecycle() {
    local target="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
    "$PYTHON" scripts/helm_install.py "$target/kube-emulator" "$target/tiered" "$KUBECTL" >"$WORK/helm.out" 2>&1
    local rc=$?
    cat "$WORK/helm.out"
    return $rc
}

if check "kube-emulator starts (cargo build --bin kube-emulator)" start_emulator; then
    echo "== helm install / upgrade / uninstall against kube-emulator (helm-python-sdk)"
    check "helm install, tiered run from the installed Deployment, upgrade with a new CRD field, uninstall keeps CRDs and custom resources" helm_lifecycle
    if [[ -s "$WORK/helm.out" ]] && ! grep -q FAILED "$WORK/helm.out"; then
        sed 's/^/      /' "$WORK/helm.out"
    fi
    echo "== kubectl apply --dry-run against kube-emulator"
    check "the chart's CRDs install and become Established" install_crds
    check "render with default values + clusterName" render - "$WORK/default.yaml"
    check "render with ci/example-values.yaml" render "$CHART/ci/example-values.yaml" "$WORK/example.yaml"
    check "kubectl accepts the default render" dry_run "$WORK/default.yaml"
    check "kubectl accepts the example render" dry_run "$WORK/example.yaml"
    check "kubectl accepts deploy/tiered-operator.yaml" dry_run deploy/tiered-operator.yaml
    check "kubectl accepts deploy/argocd/argocd-cm-health.yaml" dry_run deploy/argocd/argocd-cm-health.yaml
    check "kubectl accepts deploy/argocd/newsread/newsread.yaml" dry_run deploy/argocd/newsread/newsread.yaml
fi

echo
if ((FAILED > 0)); then
    printf 'failed:\n'
    printf '  %s\n' "${FAILURES[@]}"
fi
echo "packaging: $PASSED passed, $FAILED failed"
((FAILED == 0))
