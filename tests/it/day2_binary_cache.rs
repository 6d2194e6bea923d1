//! Issue 13, "done when each point works against moto_server through the `tiered run`
//! binary", for the CacheCluster side that moto serves (parts 2 and 3: a snapshot on
//! demand and a restore from it; moto has no cache parameter groups, which the mocks of
//! cache_parameters.rs cover). The real binary as a child process against the emulator
//! and moto_server, driven by `kubectl apply` in two commits like a GitOps repository:
//! a cluster-mode cache asking for a snapshot, then a second cache restored from it.
//! Checked in status, the connection Secret, moto (tags) and the operator's own call
//! metrics (each create once, no mutating call once converged).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};
use tiered::api::CacheCluster;
use tiered::aws::naming::elasticache_replication_group_id;
use tiered::controllers::cache_cluster::ElastiCache;

use crate::harness_kubectl::Kubectl;
use crate::support::aws_reads::{elasticache_tags, has_tag, replication_group};
use crate::support::data_tier::{Kind, merged, object};
use crate::support::moto::{MotoServer, elasticache_client};
use crate::support::operator::{emulator, eventually, secret_text};
use crate::support::process::OperatorProcess;

const NS: &str = "shop";
/// `TIERED_CLUSTER_NAME` of [`OperatorProcess`].
const CLUSTER: &str = "e2e";

/// The CacheCluster `name` with the operator tests' spec and `extra`, as YAML.
fn manifest(name: &str, extra: &Value) -> String {
    let spec = merged(<ElastiCache as Kind>::manifest_spec(), extra);
    serde_norway::to_string(&object::<ElastiCache>(NS, name, &spec)).unwrap()
}

/// Source: issue 13 parts 2 and 3 for CacheCluster, through the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_a_cache_snapshot_on_request_and_restores_another_cache_from_it() {
    let moto = MotoServer::start();
    let emulator = emulator(&[NS], false).await;
    let kubectl = Kubectl::new(&emulator);
    let operator = OperatorProcess::start_on_moto(&kubectl.kubeconfig, &moto).await;
    let caches: Api<CacheCluster> = Api::namespaced(emulator.client(), NS);
    let ready = |name: &'static str| {
        let caches = caches.clone();
        async move {
            caches.get(name).await.is_ok_and(|cache| {
                crate::support::data_tier::operator::condition::<ElastiCache>(&cache, "Ready")
                    .is_some_and(|(status, _, _)| status == "True")
            })
        }
    };

    // First commit: a cluster-mode cache (moto snapshots by ReplicationGroupId) that
    // asks for a snapshot.
    let sessions =
        json!({"deletionPolicy": "Delete", "shards": 2, "snapshots": [{"name": "before-upgrade"}]});
    kubectl.accepted(&manifest("sessions", &sessions)).await;
    eventually("the cache is Ready with its snapshot available", || async {
        ready("sessions").await
            && caches.get("sessions").await.is_ok_and(|cache| {
                cache.status.is_some_and(|status| {
                    status.snapshots.len() == 1 && status.snapshots[0].state == "available"
                })
            })
    })
    .await;
    let group = elasticache_replication_group_id(CLUSTER, NS, "sessions");
    let taken = format!("{group}-snap-before-upgrade");
    let status = caches.get("sessions").await.unwrap().status.unwrap();
    assert_eq!(status.snapshots[0].identifier, taken);

    // Second commit: a cache restored from it (same namespace: no opt-in tag needed).
    let restored = json!({"deletionPolicy": "Delete", "restoreFrom": {"snapshotName": taken}});
    kubectl
        .accepted(&format!(
            "{}---\n{}",
            manifest("sessions", &sessions),
            manifest("restored", &restored)
        ))
        .await;
    eventually("the restored cache is Ready", || ready("restored")).await;
    let secrets: Api<Secret> = Api::namespaced(emulator.client(), NS);
    let data = secret_text(&secrets.get("restored-connection").await.unwrap());
    assert!(!data["authToken"].is_empty(), "{:?}", data.keys());

    // Owned like any other: tagged for its own object.
    let elasticache = elasticache_client(&moto);
    let restored_id = elasticache_replication_group_id(CLUSTER, NS, "restored");
    let restored = replication_group(&elasticache, &restored_id).await;
    let tags = elasticache_tags(&elasticache, restored.arn().unwrap()).await;
    assert!(has_tag(&tags, "tiered.io/name", "restored"), "{tags:?}");

    // Each create once; the snapshot taken once.
    let calls =
        |operation: &'static str| operator.aws_calls("elasticache", move |op| op == operation);
    assert_eq!(calls("CreateSnapshot").await, 1);
    assert_eq!(calls("CreateReplicationGroup").await, 2);
    // Converged: no more mutating calls across a few resyncs (TIERED_RESYNC=1s).
    operator
        .assert_quiet(
            "elasticache",
            Duration::from_secs(4),
            "a converged pair of caches",
        )
        .await;
    drop(operator);
}
