//! ManagedDatabase spec rules that the API server enforces (issue 10 part 4), on the
//! emulator, which evaluates the CRD's CEL rules as kube-apiserver does, through the
//! real kubectl.

use crate::harness_kubectl::emulator_with_crds;

const DATABASE: &str = r"
apiVersion: tiered.io/v1alpha1
kind: ManagedDatabase
metadata: {name: db, namespace: default}
spec:
  engine: postgres
  instanceClass: db.t4g.micro
  storage: {allocatedGiB: 20}
  highAvailability: {readReplicas: 1}
  databaseName: app
  masterUsername: app
  credentials: {source: AWSManaged}
";

/// Source: issue 10 part 4 ("Read replicas with `credentials.source: AWSManaged` are
/// refused by CEL with the reason"), from RDS' "Password management with Amazon RDS
/// and AWS Secrets Manager" limitations: no read replica of an instance whose master
/// password Secrets Manager manages. The same object without `engineVersion` (optional
/// now) and with `Generated` credentials, or without replicas, goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_replicas_with_aws_managed_credentials_are_refused_with_the_reason() {
    let (_emulator, kubectl) = emulator_with_crds().await;

    let stderr = kubectl.refused(DATABASE).await;
    for part in [
        "spec.highAvailability.readReplicas",
        "AWSManaged",
        "Secrets Manager",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }

    kubectl
        .accepted(&DATABASE.replace("source: AWSManaged", "source: Generated"))
        .await;
    kubectl
        .accepted(&DATABASE.replace("readReplicas: 1", "readReplicas: 0"))
        .await;
}

/// Issue 13 parts 3 and 4: snapshot names are unique and make a valid RDS snapshot
/// identifier (no double or trailing hyphen), and parameter names are engine-parameter
/// shaped; the API server refuses the rest before tiered sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_parameter_names_are_checked_by_the_api_server() {
    let (_emulator, kubectl) = emulator_with_crds().await;
    let base = DATABASE.replace("readReplicas: 1", "readReplicas: 0");
    let with = |extra: &str| format!("{base}  {extra}\n");
    for (extra, field) in [
        (
            "snapshots: [{name: nightly}, {name: nightly}]",
            "spec.snapshots",
        ),
        (
            "snapshots: [{name: two--hyphens}]",
            "spec.snapshots[0].name",
        ),
        ("snapshots: [{name: trailing-}]", "spec.snapshots[0].name"),
        (
            "parameters: {\"max connections\": \"200\"}",
            "spec.parameters",
        ),
    ] {
        let stderr = kubectl.refused(&with(extra)).await;
        assert!(stderr.contains(field), "{field}: {stderr}");
    }
    kubectl
        .accepted(&with(
            "snapshots: [{name: before-upgrade}, {name: nightly-1}]\n  parameters: {max_connections: \"200\", rds.force_ssl: \"1\"}",
        ))
        .await;
}
