//! Proof that the harness is real: the real `kubectl` registers the three CRDs in the
//! emulator, applies the example app, reads it back, and is refused invalid manifests
//! with messages naming the field, as a real API server would refuse them.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kube::Api;
use kube::api::ListParams;
use kube_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use tiered::api::{CacheCluster, ManagedDatabase, TieredApp};

/// The real kubectl with a kubeconfig for one emulator (in a temporary directory that
/// lives as long as this value). The other kubectl-driven tests use it too.
pub(crate) struct Kubectl {
    pub(crate) kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    pub(crate) fn new(emulator: &EmulatorHandle) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = emulator.write_kubeconfig(dir.path()).unwrap();
        Self {
            kubeconfig,
            _dir: dir,
        }
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        support::tools::kubectl(&self.kubeconfig, args, stdin).await
    }

    /// Runs kubectl and expects success; returns stdout.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stdin(args, None).await
    }

    /// Runs kubectl with `stdin` and expects success; returns stdout.
    pub(crate) async fn ok_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Applies a manifest from stdin and expects it to go through.
    pub(crate) async fn accepted(&self, manifest: &str) {
        self.ok_with_stdin(&["apply", "-f", "-"], Some(manifest))
            .await;
    }

    /// Applies a manifest from stdin and expects a refusal; returns stderr.
    pub(crate) async fn refused(&self, manifest: &str) -> String {
        let out = self.run(&["apply", "-f", "-"], Some(manifest)).await;
        assert!(
            !out.status.success(),
            "kubectl apply accepted an invalid manifest:\n{manifest}"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// An emulator with the three CRDs applied by kubectl and established, and the
/// `newsread` namespace; the kubectl-driven tests start from it.
pub(crate) async fn emulator_with_crds() -> (EmulatorHandle, Kubectl) {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let kubectl = Kubectl::new(&emulator);
    kubectl.ok(&["apply", "-f", &repo("crds")]).await;
    kubectl
        .ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=20s",
            "crd/tieredapps.tiered.io",
            "crd/manageddatabases.tiered.io",
            "crd/cacheclusters.tiered.io",
        ])
        .await;
    // `kubectl create namespace` would send protobuf, which the emulator does not speak.
    kubectl
        .accepted("apiVersion: v1\nkind: Namespace\nmetadata: {name: newsread}\n")
        .await;
    (emulator, kubectl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_crds_and_the_example_and_kube_reads_them_back() {
    let (emulator, kubectl) = emulator_with_crds().await;
    let applied = kubectl
        .ok(&["apply", "-f", &repo("deploy/examples/newsread.yaml")])
        .await;
    for created in [
        "tieredapp.tiered.io/newsread created",
        "manageddatabase.tiered.io/newsread-db created",
        "cachecluster.tiered.io/newsread-cache created",
    ] {
        assert!(applied.contains(created), "{applied}");
    }

    let yaml = kubectl
        .ok(&["get", "ta", "newsread", "-n", "newsread", "-o", "yaml"])
        .await;
    assert!(
        yaml.contains("image: ghcr.io/acme/newsread-web:1.4.2"),
        "{yaml}"
    );
    let listed = kubectl
        .ok(&["get", "tiered", "-n", "newsread", "-o", "name"])
        .await;
    for name in [
        "tieredapp.tiered.io/newsread",
        "manageddatabase.tiered.io/newsread-db",
        "cachecluster.tiered.io/newsread-cache",
    ] {
        assert!(
            listed.contains(name),
            "kubectl get tiered misses {name}: {listed}"
        );
    }

    let client = emulator.client();
    let app = Api::<TieredApp>::namespaced(client.clone(), "newsread")
        .get("newsread")
        .await
        .unwrap();
    assert_eq!(app.spec.tiers.len(), 3);
    assert_eq!(
        app.spec.tiers[1].database.as_ref().unwrap().name,
        "newsread-db"
    );
    let db = Api::<ManagedDatabase>::namespaced(client.clone(), "newsread")
        .get("newsread-db")
        .await
        .unwrap();
    assert_eq!(db.spec.storage.allocated_gib, 100);
    let cache = Api::<CacheCluster>::namespaced(client.clone(), "newsread")
        .get("newsread-cache")
        .await
        .unwrap();
    assert!(cache.spec.transit_encryption);

    kubectl
        .ok(&[
            "delete",
            "-f",
            &repo("deploy/examples/newsread.yaml"),
            "--wait=false",
        ])
        .await;
    let left = Api::<TieredApp>::namespaced(client, "newsread")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        left.items.is_empty(),
        "the TieredApp survived kubectl delete"
    );
}

const VALID_APP: &str = "apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {name: bad, namespace: newsread}
spec:
  tiers:
    - {name: web, role: presentation, image: web:1, port: 8080, calls: [api]}
    - {name: api, role: application, image: api:1, port: 5000}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_is_refused_invalid_manifests_with_the_field_named() {
    let (_emulator, kubectl) = emulator_with_crds().await;

    let port = kubectl
        .refused(&VALID_APP.replace("port: 8080", "port: 70000"))
        .await;
    assert!(port.contains("spec.tiers[0].port"), "{port}");
    assert!(port.contains("65535"), "{port}");

    let duplicate = kubectl
        .refused(
            &VALID_APP
                .replace("name: api, role", "name: web, role")
                .replace("calls: [api]", "calls: []"),
        )
        .await;
    assert!(duplicate.contains("spec.tiers"), "{duplicate}");
    assert!(
        duplicate.contains("Duplicate value") || duplicate.contains("unique"),
        "{duplicate}"
    );

    let scaling = kubectl
        .refused(&VALID_APP.replace(
            "port: 5000}",
            "port: 5000, autoscaling: {minReplicas: 5, maxReplicas: 2}}",
        ))
        .await;
    for part in [
        "spec.tiers[1].autoscaling.minReplicas",
        "minReplicas must not be greater than maxReplicas",
    ] {
        assert!(scaling.contains(part), "{scaling}");
    }

    let calls = kubectl
        .refused(&VALID_APP.replace("calls: [api]", "calls: [billing]"))
        .await;
    assert!(
        calls.contains("every entry of calls must name a tier"),
        "{calls}"
    );

    // The valid manifest goes through, so the refusals above are about the fields.
    kubectl.accepted(VALID_APP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_and_never_shrinking_database_fields_are_enforced_on_update() {
    let (emulator, kubectl) = emulator_with_crds().await;
    kubectl
        .ok(&["apply", "-f", &repo("deploy/examples/newsread.yaml")])
        .await;
    let example = std::fs::read_to_string(repo("deploy/examples/newsread.yaml")).unwrap();
    let database = example.split("---").next().unwrap();

    let engine = kubectl
        .refused(&database.replace("engine: postgres", "engine: mysql"))
        .await;
    assert!(
        engine.contains("spec.engine") && engine.contains("engine is immutable"),
        "{engine}"
    );
    let shrink = kubectl
        .refused(&database.replace("allocatedGiB: 100", "allocatedGiB: 50"))
        .await;
    assert!(shrink.contains("never shrink"), "{shrink}");

    // Growing storage is allowed.
    kubectl
        .accepted(&database.replace("allocatedGiB: 100", "allocatedGiB: 200"))
        .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let db = Api::<ManagedDatabase>::namespaced(emulator.client(), "newsread")
        .get("newsread-db")
        .await
        .unwrap();
    assert_eq!(db.spec.storage.allocated_gib, 200);
}
