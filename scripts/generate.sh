#!/usr/bin/env bash
# Regenerates every generated file, then `git diff` shows what changed:
#   crds/                              CRDs from the Rust types (`tiered crd`)
#   charts/tiered-operator/templates/crds/  crds/ as chart templates (crds.install, crds.keep):
#                                      templates upgrade with the release, crds/ would not
#   deploy/tiered-operator.yaml        the chart rendered with clusterName=my-cluster
#   deploy/argocd/argocd-cm-health.yaml  the Argo CD health check for each kind
#   deploy/argocd/newsread/            deploy/examples/newsread.yaml with Argo CD sync waves
#   docs/reference.md                  the field reference of the kinds (`tiered crd --reference`)
# scripts/test-packaging.sh, tests/it/crds_in_sync.rs and tests/it/docs.rs fail when these drift.
# Needs the venv of scripts/test.sh (helm-python-sdk): run `scripts/test.sh setup` once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="$ROOT/.venv/bin/python"
if [[ ! -x "$PYTHON" ]]; then
    echo "missing $PYTHON: run scripts/test.sh setup first" >&2
    exit 1
fi
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

echo "crds/ from the Rust types"
cargo run --quiet -- crd --output-dir crds
echo "docs/reference.md from the CRD schemas"
cargo run --quiet -- crd --reference >docs/reference.md
echo "charts/tiered-operator/templates/crds/ and deploy/ (rendered chart, Argo CD files)"
"$PYTHON" scripts/packaging.py generate --crds-from crds --out "$ROOT"
git status --short -- crds charts/tiered-operator/templates/crds deploy docs/reference.md
