//! End to end, as a user runs it: the `tiered run` binary as its own process against the
//! emulator (sandbox mode) and `moto_server`, the newsreader example applied with the
//! real kubectl. The database, the cache and the app become Ready with their connection
//! Secrets; deleting the database leaves a final snapshot in RDS and nothing running.

use crate::harness_kubectl::Kubectl;
use crate::support;

use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use support::moto::{MotoServer, rds_client};
use support::operator::{condition, emulator, eventually, eventually_gone, secret_text};
use support::process::OperatorProcess;
use tiered::api::{CacheCluster, ManagedDatabase, TieredApp};
use tiered::controllers::tiered_app::build::Child;

const NS: &str = "newsread";

/// What a platform team has before tiered runs: a VPC, two subnets and the subnet
/// groups the example names (networking is not the operator's job).
pub(crate) fn prepare_account(moto: &MotoServer) {
    let script = r#"
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
boto3.client("rds").create_db_subnet_group(DBSubnetGroupName="app-db", DBSubnetGroupDescription="db", SubnetIds=subnets)
boto3.client("elasticache").create_cache_subnet_group(CacheSubnetGroupName="app-cache", CacheSubnetGroupDescription="cache", SubnetIds=subnets)
"#;
    support::tools::output_of(
        Command::new(support::tools::venv_python())
            .args(["-c", script])
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing"),
        "preparing moto",
    );
}

fn ready(conditions: Option<(String, String, String)>) -> bool {
    conditions.is_some_and(|(status, _, _)| status == "True")
}

/// The instance in RDS carries the ownership tags and the example's settings.
async fn assert_rds_instance(rds: &aws_sdk_rds::Client) {
    // The instance in RDS carries the ownership tags and the example's settings.
    let instances = rds.describe_db_instances().send().await.unwrap();
    let primary = instances
        .db_instances()
        .iter()
        .find(|i| i.read_replica_source_db_instance_identifier().is_none())
        .expect("a primary instance");
    assert_eq!(primary.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(primary.allocated_storage(), Some(100));
    let tags: Vec<_> = primary
        .tag_list()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert!(tags.contains(&("tiered.io/namespace", NS)), "{tags:?}");
    assert!(
        tags.contains(&("tiered.io/name", "newsread-db")),
        "{tags:?}"
    );
    assert!(tags.contains(&("team", "news")), "{tags:?}");
    assert_eq!(
        instances.db_instances().len(),
        2,
        "one primary and the example's one read replica"
    );
}

/// The connection Secrets are complete and the tiers get them; returns the password.
async fn assert_connection_secrets(client: &kube::Client) -> String {
    // The connection Secrets are complete and the tiers get them.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let db_secret = secret_text(&secrets.get("newsread-db-connection").await.unwrap());
    for key in [
        "host",
        "port",
        "username",
        "password",
        "database",
        "url",
        "readerHost",
    ] {
        assert!(
            db_secret.get(key).is_some_and(|v| !v.is_empty()),
            "database Secret lacks {key}"
        );
    }
    assert!(
        db_secret["url"].starts_with("postgresql://app:"),
        "{}",
        db_secret["url"].split('@').next_back().unwrap_or_default()
    );
    let cache_secret = secret_text(&secrets.get("newsread-cache-connection").await.unwrap());
    assert!(cache_secret["url"].starts_with("rediss://"));
    let api = Api::<Deployment>::namespaced(client.clone(), NS)
        .get("newsread-api")
        .await
        .unwrap();
    let template = api.spec.unwrap().template;
    assert!(
        template
            .metadata
            .unwrap()
            .annotations
            .unwrap()
            .contains_key("tiered.io/secret-hash")
    );
    let env: Vec<String> = template.spec.unwrap().containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    assert!(
        env.contains(&"DATABASE_URL".to_owned()) && env.contains(&"REDIS_URL".to_owned()),
        "{env:?}"
    );

    db_secret["password"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newsreader_example_becomes_ready_and_its_database_leaves_a_final_snapshot() {
    let moto = MotoServer::start();
    prepare_account(&moto);
    let emulator = emulator(&[NS], true).await;
    let kubectl = Kubectl::new(&emulator);
    let operator = OperatorProcess::start_on_moto(&kubectl.kubeconfig, &moto).await;

    let example = support::tools::crate_root().join("deploy/examples/newsread.yaml");
    let applied = kubectl
        .ok(&["apply", "-f", example.to_str().unwrap()])
        .await;
    assert!(
        applied.contains("tieredapp.tiered.io/newsread created"),
        "{applied}"
    );

    let client = emulator.client();
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), NS);
    let caches: Api<CacheCluster> = Api::namespaced(client.clone(), NS);
    eventually("the database, the cache and the app are Ready", || async {
        let db = databases.get("newsread-db").await.unwrap();
        let cache = caches.get("newsread-cache").await.unwrap();
        let app = apps.get("newsread").await.unwrap();
        let db_ready = db
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let cache_ready = cache
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        db_ready && cache_ready && ready(condition(&app, "Ready"))
    })
    .await;

    let rds = rds_client(&moto);
    assert_rds_instance(&rds).await;
    let db_password = assert_connection_secrets(&client).await;
    assert_api_identity(&client).await;
    drop_api_identity(&kubectl, &client).await;

    // No secret value reaches the operator's logs.
    let logs = operator.stdout_lines().join("\n") + &operator.stderr_lines().join("\n");
    assert!(
        !logs.contains(&db_password),
        "the database password is in the operator's logs"
    );

    // Deleting the database (policy Snapshot) leaves a final snapshot and no instance.
    delete_until_gone(&kubectl, &databases, "manageddatabase", "newsread-db").await;
    let left = rds.describe_db_instances().send().await.unwrap();
    assert!(
        left.db_instances().is_empty(),
        "instances left behind: {:?}",
        left.db_instances()
    );
    let snapshots = rds.describe_db_snapshots().send().await.unwrap();
    assert!(
        snapshots.db_snapshots().iter().any(|s| s
            .db_snapshot_identifier()
            .is_some_and(|id| id.contains("-final-"))),
        "no final snapshot: {:?}",
        snapshots.db_snapshots()
    );
    remove_a_tier_and_the_cache(&kubectl, &client).await;
    drop(operator);

    assert_rbac_matches_what_the_binary_used(&emulator);
}

/// The api tier (IRSA in the example) runs under its own annotated ServiceAccount and
/// mounts its token; the web tier, without identity, mounts none.
async fn assert_api_identity(client: &kube::Client) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    let account = accounts.get("newsread-api").await.unwrap();
    assert_eq!(
        account
            .metadata
            .annotations
            .unwrap_or_default()
            .get("eks.amazonaws.com/role-arn")
            .map(String::as_str),
        Some("arn:aws:iam::123456789012:role/newsread-api")
    );
    assert!(accounts.get_opt("newsread-web").await.unwrap().is_none());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let pod = |deployment: Deployment| deployment.spec.unwrap().template.spec.unwrap();
    let api = pod(deployments.get("newsread-api").await.unwrap());
    assert_eq!(api.service_account_name.as_deref(), Some("newsread-api"));
    assert_eq!(api.automount_service_account_token, Some(true));
    let web = pod(deployments.get("newsread-web").await.unwrap());
    assert_eq!(web.service_account_name, None);
    assert_eq!(web.automount_service_account_token, Some(false));
}

/// Taking the api tier's identity away prunes its ServiceAccount (while the database
/// is Ready: a tier waiting for its database keeps its objects as they are).
async fn drop_api_identity(kubectl: &Kubectl, client: &kube::Client) {
    patch_app(kubectl, r#"[{"op":"test","path":"/spec/tiers/1/name","value":"api"},{"op":"remove","path":"/spec/tiers/1/serviceAccount"}]"#).await;
    pruned::<ServiceAccount>(client, "newsread-api", "the api tier's identity").await;
}

/// Removing a tier prunes its children; deleting the cache ends the run (so the RBAC
/// check sees prune and cleanup requests too).
async fn remove_a_tier_and_the_cache(kubectl: &Kubectl, client: &kube::Client) {
    let caches: Api<CacheCluster> = Api::namespaced(client.clone(), NS);
    patch_app(kubectl, r#"[{"op":"remove","path":"/spec/tiers/0"}]"#).await;
    pruned::<Deployment>(client, "newsread-web", "the removed tier").await;
    pruned::<ServiceAccount>(client, "newsread-api", "the api tier's identity").await;
    delete_until_gone(kubectl, &caches, "cachecluster", "newsread-cache").await;
}

/// Waits until the child `name` of kind `K` (of `owner`, for messages) is pruned.
async fn pruned<K: Child>(client: &kube::Client, name: &str, owner: &str) {
    let api: Api<K> = Api::namespaced(client.clone(), NS);
    eventually_gone(
        &format!("{} {name} of {owner} is pruned", K::kind(&())),
        &api,
        name,
    )
    .await;
}

/// Applies the JSON patch `patch` to the example TieredApp with kubectl.
async fn patch_app(kubectl: &Kubectl, patch: &str) {
    kubectl
        .ok(&[
            "patch",
            "tieredapp",
            "newsread",
            "-n",
            NS,
            "--type=json",
            "-p",
            patch,
        ])
        .await;
}

/// Deletes `kind/name` with kubectl (not waiting) and waits until `api` has it no more
/// (the operator's finalizer has run).
async fn delete_until_gone<K>(kubectl: &Kubectl, api: &Api<K>, kind: &str, name: &str)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    kubectl
        .ok(&["delete", kind, name, "-n", NS, "--wait=false"])
        .await;
    eventually_gone(&format!("{kind}/{name} is gone"), api, name).await;
}

/// What the binary asked the API server for (its requests carry `User-Agent:
/// tiered/…`), plus the grants checked without a request of their own, equals
/// `tests/it/rbac_used.json` — the list scripts/packaging.py holds the chart's
/// ClusterRole and Roles to. A verb the chart grants but the code never uses fails here.
fn assert_rbac_matches_what_the_binary_used(emulator: &kube_emulator::EmulatorHandle) {
    use std::collections::{BTreeMap, BTreeSet};
    let mut used: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for record in emulator.requests().all() {
        if !record.user_agent.starts_with("tiered/") || record.verb == "discovery" {
            continue;
        }
        let resource = if record.subresource.is_empty() {
            record.resource.clone()
        } else {
            format!("{}/{}", record.resource, record.subresource)
        };
        let verbs = used.entry((record.group.clone(), resource)).or_default();
        verbs.insert(record.verb.clone());
        // Server-side apply (PATCH with a field manager) may create the object.
        if record.verb == "patch"
            && !record.field_manager.is_empty()
            && record.subresource.is_empty()
        {
            verbs.insert("create".to_owned());
        }
    }
    assert!(!used.is_empty(), "no request carried User-Agent tiered/…");
    // Owners of children and connection Secrets: blockOwnerDeletion needs update on
    // their finalizers.
    for owner in ["tieredapps", "manageddatabases", "cacheclusters"] {
        used.entry(("tiered.io".to_owned(), format!("{owner}/finalizers")))
            .or_default()
            .insert("update".to_owned());
    }
    let path = support::tools::crate_root().join("tests/it/rbac_used.json");
    let pinned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Code paths this run does not reach, each with its reason in the file.
    for rule in pinned["unexercised"].as_array().unwrap() {
        let key = (
            rule["apiGroup"].as_str().unwrap().to_owned(),
            rule["resource"].as_str().unwrap().to_owned(),
        );
        for verb in rule["verbs"].as_array().unwrap() {
            used.entry(key.clone())
                .or_default()
                .insert(verb.as_str().unwrap().to_owned());
        }
    }
    let used: Vec<serde_json::Value> = used
        .into_iter()
        .map(|((group, resource), verbs)| {
            serde_json::json!({"apiGroup": group, "resource": resource, "verbs": verbs})
        })
        .collect();
    assert_eq!(
        pinned["rules"],
        serde_json::Value::Array(used.clone()),
        "the permissions `tiered run` used differ from {}; if the change is intended, set its \"rules\" to\n{}\nand make the chart's RBAC match",
        path.display(),
        serde_json::to_string_pretty(&used).unwrap()
    );
}
