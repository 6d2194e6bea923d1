#!/usr/bin/env python3
"""Install, upgrade and uninstall the chart with the real Helm (helm-python-sdk, Helm v4's
Go SDK) against kube-emulator, as scripts/test-packaging.sh runs it:

    helm_install.py EMULATOR_BIN TIERED_BIN KUBECTL

1. starts its own kube-emulator (a fresh API server: no CRDs applied by anyone else);
2. `helm install` with create-namespace; every object of the release manifest exists;
3. runs `tiered run` with the installed Deployment's args and env (downward-API values
   resolved as the kubelet would; the metrics address moved to 127.0.0.1:0, since port
   8080 on this shared machine may be taken) until /readyz answers 200 and it holds the
   leader Lease, then stops it;
4. a TieredApp with a field the CRD does not have is refused (strict field validation);
5. `helm upgrade` to a copy of the chart whose TieredApp CRD gained that field: the CRD is
   upgraded, and the same TieredApp is accepted and keeps the field;
6. `helm upgrade` with `sharding.shards` set, then empty again (the README's way to turn
   sharding on): each revision deployed, with a Deployment per shard;
7. `helm uninstall`: the CRDs stay (helm.sh/resource-policy: keep), the TieredApp is
   untouched (same uid and resourceVersion), every other object of the release is gone.

Helm keeps its release records where it does on a cluster, in Secrets (its default
`secret` driver, written in protobuf by client-go's typed client): revision 1 deployed,
then superseded by 2, none left after uninstall. Every process started here is stopped
on the way out.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
# scripts/packaging.py (render helpers, the CRD template), loaded under its own name: the
# venv's `packaging` distribution must stay importable as `packaging`.
_spec = importlib.util.spec_from_file_location("tiered_packaging", Path(__file__).resolve().parent / "packaging.py")
assert _spec is not None and _spec.loader is not None
packaging = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(packaging)

ROOT = packaging.ROOT
CHART = packaging.CHART
RELEASE = packaging.RELEASE
NAMESPACE = packaging.NAMESPACE
VALUES = {"clusterName": "helm-install-test"}
NEW_FIELD = "helmUpgradeProbe"
PROBE_NAMESPACE = "helm-probe"


class Failed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def wait_for(what: str, probe, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")


class Processes:
    """The processes this test starts, stopped (TERM, then KILL) in reverse order."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kwargs)
        self.started.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


class Cluster:
    def __init__(self, work: Path, kubectl: str, url: str) -> None:
        self.kubeconfig = work / "kubeconfig"
        self.kubectl_bin = kubectl
        self.url = url

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                                capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise Failed(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, doc: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess:
        return self.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(doc), check=check)


def start_emulator(processes: Processes, binary: str, work: Path, kubectl: str) -> Cluster:
    kubeconfig = work / "kubeconfig"
    log = (work / "emulator.log").open("w")
    emulator = processes.start([binary, "--port", "0", "--kubeconfig", str(kubeconfig)],
                               stdout=subprocess.PIPE, stderr=log, text=True)
    url = (emulator.stdout.readline() if emulator.stdout else "").strip()
    expect(url.startswith("http://"), f"kube-emulator printed no URL: {(work / 'emulator.log').read_text()}")
    wait_for("the emulator's kubeconfig", lambda: kubeconfig.exists() and kubeconfig.stat().st_size > 0)
    return Cluster(work, kubectl, url)


def release_objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def label(doc: dict[str, Any]) -> str:
    meta = doc["metadata"]
    return f"{doc['kind']}/{meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"


def write_manifest(work: Path, name: str, docs: list[dict[str, Any]]) -> Path:
    path = work / name
    path.write_text("".join("---\n" + yaml.safe_dump(d) for d in docs))
    return path


def check_installed(cluster: Cluster, work: Path, docs: list[dict[str, Any]]) -> None:
    listed = cluster.get_json("-f", str(write_manifest(work, "release.yaml", docs)))
    items = listed.get("items", [listed])
    found = {label(item) for item in items}
    missing = sorted({label(d) for d in docs} - found)
    expect(not missing, f"objects of the release missing from the server: {missing}")
    for item in items:
        annotations = item["metadata"].get("annotations", {})
        expect(annotations.get("meta.helm.sh/release-name") == RELEASE,
               f"{label(item)} does not carry Helm's release annotation")


def release_records(cluster: Cluster) -> dict[str, str]:
    """Helm's release Secrets of RELEASE: revision -> status (from their labels)."""
    secrets = cluster.get_json("secret", "-n", NAMESPACE, "-l", f"owner=helm,name={RELEASE}")["items"]
    for secret in secrets:
        expect(secret["type"] == "helm.sh/release.v1" and "release" in secret.get("data", {}),
               f"{secret['metadata']['name']} is not a Helm release record")
    return {s["metadata"]["labels"]["version"]: s["metadata"]["labels"]["status"] for s in secrets}


def pod_env(container: dict[str, Any], pod_name: str, metrics_addr: str) -> dict[str, str]:
    """The container's env as the kubelet gives it: downward-API fields resolved,
    `$(VAR)` references expanded."""
    fields = {"metadata.namespace": NAMESPACE, "metadata.name": pod_name, "status.podIP": "127.0.0.1"}
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            value = entry["value"]
            for name, known in env.items():
                value = value.replace(f"$({name})", known)
            env[entry["name"]] = value
        else:
            path = entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            expect(path in fields, f"env {entry['name']} comes from {entry.get('valueFrom')}, unknown here")
            env[entry["name"]] = fields[path]
    expect("TIERED_METRICS_ADDR" in env, "the Deployment sets no TIERED_METRICS_ADDR")
    env["TIERED_METRICS_ADDR"] = metrics_addr
    return env


def run_operator(processes: Processes, cluster: Cluster, binary: str, work: Path,
                 docs: list[dict[str, Any]]) -> str:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    pod_name = f"{deployment['metadata']['name']}-7d9f8b6c5-x2x4z"
    env = pod_env(container, pod_name, "127.0.0.1:0")
    environment = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(cluster.kubeconfig),
                   # No AWS call is made without custom resources; the SDK still wants a region.
                   "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   **env}
    log = work / "tiered.log"
    args = container.get("args", [])
    started = time.monotonic()
    operator = processes.start([binary, *args], env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def bound() -> str | None:
        for line in log.read_text().splitlines():
            try:
                addr = json.loads(line).get("fields", {}).get("addr") or json.loads(line).get("addr")
            except json.JSONDecodeError:
                continue
            if addr:
                return str(addr).removeprefix("Some(").removesuffix(")")
        expect(operator.poll() is None, f"tiered run exited {operator.returncode}:\n{log.read_text()}")
        return None

    addr = wait_for("tiered run to log its HTTP address", bound)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://{addr}/readyz", timeout=2) as response:
                return response.status == 200
        except OSError:
            expect(operator.poll() is None, f"tiered run exited {operator.returncode}:\n{log.read_text()}")
            return False

    wait_for("/readyz to answer 200", ready, timeout=60)
    lease_name = env["TIERED_LEASE_NAME"]
    holder = wait_for("the leader Lease", lambda: cluster.get_json(
        "lease", lease_name, "-n", NAMESPACE).get("spec", {}).get("holderIdentity")
        if cluster.kubectl("get", "lease", lease_name, "-n", NAMESPACE, check=False).returncode == 0 else None)
    expect(pod_name in holder, f"the Lease is held by {holder}, not by {pod_name}")
    elapsed = time.monotonic() - started
    processes.stop(operator)
    expect(operator.returncode == 0, f"tiered run exited {operator.returncode} on SIGTERM:\n{log.read_text()}")
    return (f"tiered {' '.join(args)} with the Deployment's {len(env)} env vars: /readyz 200 and Lease "
            f"{lease_name} held by {holder} after {elapsed:.1f} s; exited 0 on SIGTERM")


def upgraded_chart(work: Path) -> Path:
    """A copy of the chart whose TieredApp CRD has a new spec field, version bumped."""
    chart = work / "chart-upgraded"
    shutil.copytree(CHART, chart)
    crd_file = ROOT / "crds" / "tieredapps.tiered.io.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    (version,) = crd["spec"]["versions"]
    version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][NEW_FIELD] = {
        "type": "string", "description": "A field added by the upgrade test."}
    template = chart / packaging.CRD_TEMPLATES.relative_to(Path("charts") / "tiered-operator")
    (template / crd_file.name).write_text(packaging.crd_template(crd_file.name, yaml.safe_dump(crd, sort_keys=False)))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "0.1.1-upgrade-test"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return chart


def probe_app() -> dict[str, Any]:
    return {
        "apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp",
        "metadata": {"name": "probe", "namespace": PROBE_NAMESPACE},
        "spec": {NEW_FIELD: "kept", "tiers": [
            {"name": "web", "role": "presentation", "image": "ghcr.io/acme/web:1.0.0", "port": 8080}]},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    emulator_bin, tiered_bin, kubectl = argv
    helm = packaging.helm()
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="tiered-helm-"))
    started = time.monotonic()
    try:
        cluster = start_emulator(processes, emulator_bin, work, kubectl)
        with urllib.request.urlopen(f"{cluster.url}/version", timeout=5) as response:
            version = json.load(response)
        config = helm.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=NAMESPACE)

        release = config.install(str(CHART), RELEASE, VALUES, namespace=NAMESPACE, create_namespace=True, timeout=60)
        expect(release["status"] == "deployed" and release["revision"] == 1, f"install: {release['status']}")
        docs = release_objects(release["manifest"])
        check_installed(cluster, work, docs)
        expect(release_records(cluster) == {"1": "deployed"}, f"release Secrets: {release_records(cluster)}")
        kinds = sorted({d["kind"] for d in docs})
        print(f"install: revision 1 (release Secret deployed) on Kubernetes {version['gitVersion']}, all {len(docs)} objects exist "
              f"({', '.join(kinds)})")

        print(run_operator(processes, cluster, tiered_bin, work, docs))

        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PROBE_NAMESPACE}})
        refused = cluster.apply(probe_app(), check=False)
        expect(refused.returncode != 0 and f'unknown field "spec.{NEW_FIELD}"' in refused.stderr,
               f"before the upgrade, spec.{NEW_FIELD} was not refused: {refused.stdout}{refused.stderr}")

        chart = str(upgraded_chart(work))
        upgraded = config.upgrade(chart, RELEASE, VALUES, namespace=NAMESPACE, timeout=60)
        expect(upgraded["status"] == "deployed" and upgraded["revision"] == 2, f"upgrade: {upgraded['status']}")
        records = release_records(cluster)
        expect(records == {"1": "superseded", "2": "deployed"}, f"release Secrets after the upgrade: {records}")
        crd = cluster.get_json("crd", "tieredapps.tiered.io")
        spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        expect(NEW_FIELD in spec_schema["properties"], f"the upgraded CRD lacks spec.{NEW_FIELD}")
        cluster.apply(probe_app())
        app = cluster.get_json("tieredapp", "probe", "-n", PROBE_NAMESPACE)
        expect(app["spec"].get(NEW_FIELD) == "kept", f"spec.{NEW_FIELD} was pruned: the old schema is served")
        print(f"upgrade: revision 2 (Secrets: 1 superseded, 2 deployed); the CRD has spec.{NEW_FIELD} (refused before), a TieredApp using it is stored")

        # Sharding on and off again with `helm upgrade`, as the README shows it: the main
        # Deployment's selector is immutable, so it must be the same in both modes.
        for revision, shards in ((3, ["blue"]), (4, [])):
            values = {**VALUES, "sharding": {"shards": shards}}
            try:
                upgraded = config.upgrade(chart, RELEASE, values, namespace=NAMESPACE, timeout=60)
            except Exception as error:  # the SDK raises the API server's refusal
                raise Failed(f"upgrade to sharding.shards={shards}: {error}") from error
            expect(upgraded["status"] == "deployed" and upgraded["revision"] == revision,
                   f"upgrade to sharding.shards={shards}: {upgraded['status']}")
            wanted = sorted([RELEASE, *(f"{RELEASE}-{shard}" for shard in shards)])
            names = sorted(d["metadata"]["name"] for d in cluster.get_json("deployment", "-n", NAMESPACE)["items"])
            expect(names == wanted, f"sharding.shards={shards}: Deployments {names}, expected {wanted}")
        print("upgrade: revisions 3 and 4 turn sharding on (a Deployment per shard) and off again")

        result = config.uninstall(RELEASE, timeout=60)
        crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
        served = {c["metadata"]["name"] for c in cluster.get_json("crd")["items"]}
        expect(crds <= served, f"uninstall deleted CRDs: {sorted(crds - served)} ({result.get('info', '')})")
        after = cluster.get_json("tieredapp", "probe", "-n", PROBE_NAMESPACE)
        expect((after["metadata"]["uid"], after["metadata"]["resourceVersion"])
               == (app["metadata"]["uid"], app["metadata"]["resourceVersion"]), "uninstall touched the TieredApp")
        others = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
        left = cluster.kubectl("get", "-f", str(write_manifest(work, "others.yaml", others)),
                               "--ignore-not-found", "-o", "name").stdout.split()
        expect(not left, f"objects of the release left after uninstall: {left}")
        expect(not config.list(all_states=True), "the release is still listed after uninstall")
        expect(not release_records(cluster), f"release Secrets left: {release_records(cluster)}")
        print(f"uninstall: no release Secret left, {len(crds)} CRDs kept, TieredApp {PROBE_NAMESPACE}/probe untouched, "
              f"the other {len(others)} objects deleted")
        print(f"helm install/upgrade/uninstall: {time.monotonic() - started:.1f} s")
        return 0
    except (Failed, packaging.CheckFailed) as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
