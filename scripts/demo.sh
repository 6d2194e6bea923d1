#!/usr/bin/env bash
# The local sandbox, end to end, on a fresh machine: installs what it needs, builds,
# starts the Kubernetes API emulator (in sandbox mode) and moto_server (the AWS APIs),
# runs `tiered run` against both, applies the newsreader example with kubectl, waits
# for it, shows the result, and stops everything it started.
#
#   scripts/demo.sh            run the demo and stop
#   DEMO_KEEP=1 scripts/demo.sh  keep the sandbox running until Ctrl-C
#
# The emulator has no kubelet: in sandbox mode it marks Deployments available after a
# short delay and gives Ingresses a placeholder load-balancer address. Nothing runs pods.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
WORK="$ROOT/.tmp/demo"
KUBECTL="$VENV/bin/kubectl"
PIDS=()

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '\n==> %s\n' "$*"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.5
    done
}

say "installing what the demo needs (same set-up as scripts/test.sh)"
scripts/test.sh setup

say "building tiered and the kube emulator"
# `--bin` alone names only the root package of the workspace; the emulator is a crate of
# its own. The same command as scripts/test-packaging.sh, so the two share their build.
cargo build --quiet --workspace --bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

rm -rf "$WORK"
mkdir -p "$WORK"
export KUBECONFIG="$WORK/kubeconfig"

say "starting the Kubernetes API emulator (sandbox mode: no kubelet, Deployments become available after 1s)"
"$BIN/kube-emulator" --port 0 --kubeconfig "$KUBECONFIG" --sandbox --sandbox-delay-ms 1000 \
    >"$WORK/emulator.log" 2>&1 &
PIDS+=($!)
wait_for 20 "the emulator" test -s "$KUBECONFIG"
echo "API server: $(head -n1 "$WORK/emulator.log")"

MOTO_PORT="$(free_port)"
say "starting moto_server on 127.0.0.1:$MOTO_PORT (stands in for RDS and ElastiCache)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
wait_for 30 "moto_server" curl -sf "$AWS_ENDPOINT_URL/moto-api/"

say "preparing the sandbox AWS account: a VPC, two subnets, the subnet groups the example names"
# What a platform team has before tiered runs: networking is not the operator's job.
"$VENV/bin/python" - <<'PY'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnets = [
    ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
    for i, zone in enumerate("ab")
]
boto3.client("rds").create_db_subnet_group(
    DBSubnetGroupName="app-db", DBSubnetGroupDescription="newsread database", SubnetIds=subnets)
boto3.client("elasticache").create_cache_subnet_group(
    CacheSubnetGroupName="app-cache", CacheSubnetGroupDescription="newsread cache", SubnetIds=subnets)
print(f"vpc {vpc}, subnets {', '.join(subnets)}, subnet groups app-db and app-cache")
PY

say "registering the CRDs"
"$KUBECTL" apply -f crds/
"$KUBECTL" wait --for=condition=Established --timeout=20s crd --all

METRICS_PORT="$(free_port)"
say "running the operator: tiered run (metrics on 127.0.0.1:$METRICS_PORT)"
RUST_LOG=info "$BIN/tiered" run --cluster-name demo --leader-election=false \
    --metrics-addr "127.0.0.1:$METRICS_PORT" --log-format text >"$WORK/operator.log" 2>&1 &
PIDS+=($!)
wait_for 30 "the operator to be ready" curl -sf "http://127.0.0.1:$METRICS_PORT/readyz"

say "applying deploy/examples/newsread.yaml"
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: newsread}\n' | "$KUBECTL" apply -f -
"$KUBECTL" apply -f deploy/examples/newsread.yaml

say "waiting for the newsreader app to be Ready"
status=0
"$KUBECTL" wait --for=condition=Ready --timeout=90s -n newsread \
    manageddatabase/newsread-db cachecluster/newsread-cache tieredapp/newsread || status=$?

say "kubectl get tiered -n newsread"
"$KUBECTL" get tiered -n newsread -o custom-columns='KIND:.kind,NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message'
echo "public URL (the web tier's ingress host, set once the sandbox gives the ALB a placeholder address): $("$KUBECTL" get tieredapp newsread -n newsread -o jsonpath='{.status.url}')"
echo "ALB address (a placeholder in the sandbox): $("$KUBECTL" get ingress newsread-web -n newsread -o jsonpath='{.status.loadBalancer.ingress[0].hostname}')"
say "objects the app owns"
"$KUBECTL" get deployments,services,horizontalpodautoscalers,poddisruptionbudgets,networkpolicies,ingresses,secrets -n newsread
say "operator log (last 15 lines): $WORK/operator.log"
tail -n 15 "$WORK/operator.log"

if [[ -n "${DEMO_KEEP:-}" ]]; then
    say "sandbox running; KUBECONFIG=$KUBECONFIG. Ctrl-C stops everything."
    wait
fi
if ((status != 0)); then
    echo "the example did not become Ready; see the conditions above and $WORK/*.log" >&2
    exit "$status"
fi
say "done: the newsreader app is Ready. Everything the demo started is stopped on exit."
