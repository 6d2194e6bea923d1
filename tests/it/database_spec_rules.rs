//! ManagedDatabase spec rules that the API server enforces (issue 10 part 4), on the
//! emulator, which evaluates the CRD's CEL rules as kube-apiserver does, through the
//! real kubectl.

use crate::harness_kubectl::{Kubectl, emulator_with_crds};

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

/// [`DATABASE`] without read replicas, which the API server takes: the base the other
/// rules are tried on.
fn without_replicas() -> String {
    DATABASE.replace("readReplicas: 1", "readReplicas: 0")
}

/// The smallest CacheCluster, for the rules both kinds share.
const CACHE: &str = concat!(
    "\napiVersion: tiered.io/v1alpha1\nkind: CacheCluster\n",
    "metadata: {name: cache, namespace: default}\n",
    "spec:\n  engine: valkey\n  nodeType: cache.t4g.micro\n",
);

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
    kubectl.accepted(&without_replicas()).await;
}

/// Issue 13 parts 3 and 4: snapshot names are unique and make a valid RDS snapshot
/// identifier (no double or trailing hyphen), and parameter names are engine-parameter
/// shaped; the API server refuses the rest before tiered sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_parameter_names_are_checked_by_the_api_server() {
    let (_emulator, kubectl) = emulator_with_crds().await;
    let base = without_replicas();
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

/// Applies `base` (a manifest that ends in its `spec`) with `spec.tags` set to each of
/// `refused` in turn (flow-style YAML maps), checking that the API server refuses each
/// naming `spec.tags` and saying `said`; then with `accepted`, which it must take.
async fn assert_tags_checked(
    kubectl: &Kubectl,
    base: &str,
    refused: &[String],
    said: &str,
    accepted: &str,
) {
    let with = |tags: &str| format!("{base}  tags: {tags}\n");
    for tags in refused {
        let stderr = kubectl.refused(&with(tags)).await;
        assert!(
            stderr.contains("spec.tags") && stderr.contains(said),
            "{tags}: {stderr}"
        );
    }
    kubectl.accepted(&with(accepted)).await;
}

/// Found by the outside trial: `spec.tags` took any key and value, and AWS refuses a
/// tag key over 128 characters, a value over 256, or one with characters outside
/// letters, digits, spaces and `_ . : / = + - @` (RDS' and ElastiCache's tag rules), so
/// the refusal came from CreateDBInstance without naming the field. The API server
/// refuses them now, on both kinds; Unicode letters, as AWS allows, go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_that_aws_refuses_are_refused_by_the_api_server_on_both_kinds() {
    let (_emulator, kubectl) = emulator_with_crds().await;
    let refused = [
        format!("{{team: \"{}\"}}", "x".repeat(257)),
        format!("{{\"{}\": x}}", "k".repeat(129)),
        "{team: \"news!\"}".to_owned(),
        "{\"team#1\": news}".to_owned(),
    ];
    let accepted = format!(
        "{{team: \"ñandú équipe_1.2:3/4=5+6-7@x\", cost-center: \"{}\", \"{}\": \"\"}}",
        "v".repeat(256),
        "k".repeat(128)
    );
    for base in [without_replicas().as_str(), CACHE] {
        // The long value is refused by the schema's maxLength (which keeps the rule's
        // estimated cost in budget), the rest by the rule; both say the limit, 256.
        assert_tags_checked(&kubectl, base, &refused, "256", &accepted).await;
    }
}

/// Found by the outside trial: RDS reserves tag keys starting with `rds:` as well as
/// `aws:` ("Tagging Amazon RDS resources"), and the ManagedDatabase CRD let them through
/// to a CreateDBInstance that RDS refuses without naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_key_rds_reserves_is_refused_by_the_api_server() {
    let (_emulator, kubectl) = emulator_with_crds().await;
    assert_tags_checked(
        &kubectl,
        &without_replicas(),
        &["{\"rds:team\": news}".to_owned()],
        "rds:",
        "{\"team:rds\": news}",
    )
    .await;
}

/// Found from outside: the tag rules checked `aws:` case-sensitively, so `AWS:owner` was
/// accepted and sent to AWS, whose tagging rules reserve the prefix in any upper or lower
/// case. RDS' `rds:` likewise. Both kinds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_tag_prefixes_are_refused_in_any_case_on_both_kinds() {
    let (_emulator, kubectl) = emulator_with_crds().await;
    let database = without_replicas();
    let keys: [(&str, &[&str]); 2] = [
        (
            database.as_str(),
            &["AWS:owner", "Aws:x", "RDS:x", "tiered.io/x"],
        ),
        (CACHE, &["AWS:owner", "aWs:x", "tiered.io/x"]),
    ];
    let tag = |key: &str| format!("{{\"{key}\": v}}");
    for (base, reserved) in keys {
        let refused: Vec<String> = reserved.iter().map(|key| tag(key)).collect();
        assert_tags_checked(&kubectl, base, &refused, "reserved", &tag("owner")).await;
    }
}
