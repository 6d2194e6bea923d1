//! The CacheCluster controller of `tiered run`, in-process against the emulator and a
//! private `moto_server`: create (finalizer, tagged replication group, connection
//! Secret, status), zero writes when converged, deletion, and a TieredApp tier that
//! waits for its cache and then gets `REDIS_URL` from the Secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::moto::{MotoServer, aws_config, elasticache_client};
use support::operator::{
    Running, app_using, assert_converged, env_from_secret, eventually, find_condition, metric,
    secret_text, start_with_aws, wait_for_app_reason,
};
use tiered::api::{CacheCluster, TieredApp};
use tiered::aws::tags;

const NS: &str = "shop";
const CACHE: &str = "shop-cache";

fn cache_cluster() -> CacheCluster {
    serde_json::from_value(json!({
        "apiVersion": "tiered.io/v1alpha1",
        "kind": "CacheCluster",
        "metadata": {"name": CACHE, "namespace": NS},
        "spec": {
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.t4g.micro",
            "replicasPerShard": 1,
            "transitEncryption": true,
            "applyImmediately": true,
            "deletionPolicy": "Delete",
            "tags": {"team": "news"}
        },
    }))
    .unwrap()
}

struct Setup {
    op: Running,
    moto: MotoServer,
    caches: Api<CacheCluster>,
}

async fn setup() -> Setup {
    let moto = MotoServer::start();
    let op = start_with_aws(&[NS], &aws_config(&moto)).await;
    let caches = Api::namespaced(op.client.clone(), NS);
    Setup { op, moto, caches }
}

fn condition(cache: &CacheCluster, type_: &str) -> Option<(String, String, String)> {
    find_condition(&cache.status.as_ref()?.conditions, type_)
}

async fn wait_ready(s: &Setup) -> CacheCluster {
    eventually("the CacheCluster is Ready", || async {
        s.caches
            .get(CACHE)
            .await
            .is_ok_and(|c| condition(&c, "Ready").is_some_and(|r| r.0 == "True"))
    })
    .await;
    s.caches.get(CACHE).await.unwrap()
}

/// The status of the replication group `id` in moto (`None`: absent).
async fn group_status(s: &Setup, id: &str) -> Option<String> {
    let groups = elasticache_client(&s.moto)
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .ok()?;
    groups
        .replication_groups()
        .first()
        .and_then(|g| g.status().map(str::to_owned))
}

async fn group_tags(s: &Setup, arn: &str) -> BTreeMap<String, String> {
    elasticache_client(&s.moto)
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap()
        .tag_list()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect()
}

#[tokio::test]
async fn a_cache_gets_a_finalizer_a_tagged_group_a_connection_secret_and_ready_status() {
    let s = setup().await;
    s.caches
        .create(&PostParams::default(), &cache_cluster())
        .await
        .unwrap();
    let cache = wait_ready(&s).await;

    assert!(cache.finalizers().contains(&"tiered.io/cache".to_owned()));
    let status = cache.status.clone().unwrap();
    assert_eq!(status.observed_generation, cache.metadata.generation);
    assert_eq!(
        status.connection_secret.as_deref(),
        Some("shop-cache-connection")
    );
    for type_ in ["Ready", "Reconciling", "Stalled"] {
        assert!(condition(&cache, type_).is_some(), "{type_} in {status:?}");
    }
    let endpoint = status.endpoint.clone().expect("endpoint in status");
    let identifier = status.identifier.clone().unwrap();
    assert!(
        group_status(&s, &identifier).await.is_some(),
        "group in moto"
    );
    let found = group_tags(&s, status.arn.as_deref().unwrap()).await;
    assert_eq!(found.get(tags::CLUSTER).map(String::as_str), Some("test"));
    assert_eq!(found.get(tags::NAMESPACE).map(String::as_str), Some(NS));
    assert_eq!(found.get(tags::NAME).map(String::as_str), Some(CACHE));
    assert_eq!(found.get(tags::UID), cache.uid().as_ref());
    assert_eq!(found.get("team").map(String::as_str), Some("news"));

    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let secret = secrets.get("shop-cache-connection").await.unwrap();
    assert_eq!(secret.owner_references()[0].uid, cache.uid().unwrap());
    assert_eq!(
        secret
            .labels()
            .get("app.kubernetes.io/component")
            .map(String::as_str),
        Some("cache")
    );
    let data = secret_text(&secret);
    assert_eq!(data["host"], endpoint.address);
    assert_eq!(data["port"], endpoint.port.to_string());
    assert!(!data["authToken"].is_empty());
    let url = url::Url::parse(&data["url"]).expect("the url parses");
    assert_eq!(url.scheme(), "rediss");
    assert_eq!(url.host_str(), Some(endpoint.address.as_str()));
    s.op.stop().await;
}

#[tokio::test]
async fn a_converged_cache_makes_zero_kubernetes_writes_and_zero_mutating_aws_calls() {
    let s = setup().await;
    s.caches
        .create(&PostParams::default(), &cache_cluster())
        .await
        .unwrap();
    wait_ready(&s).await;
    let after = assert_converged(&s.op, "cachecluster").await;
    assert!(
        metric(
            &after,
            "tiered_aws_calls_total{service=\"elasticache\",operation=\"CreateReplicationGroup\"}"
        ) >= 1.0,
        "ElastiCache calls are counted by operation: {after}"
    );
    s.op.stop().await;
}

#[tokio::test]
async fn deleting_with_the_delete_policy_deletes_the_group_and_the_object_goes() {
    let s = setup().await;
    s.caches
        .create(&PostParams::default(), &cache_cluster())
        .await
        .unwrap();
    let identifier = wait_ready(&s).await.status.unwrap().identifier.unwrap();
    s.caches
        .delete(CACHE, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the object is gone", || async {
        s.caches.get_opt(CACHE).await.unwrap().is_none()
    })
    .await;
    let left = group_status(&s, &identifier).await;
    assert!(
        left.is_none() || left.as_deref() == Some("deleting"),
        "the group is deleted: {left:?}"
    );
    s.op.stop().await;
}

#[tokio::test]
async fn a_tier_waits_for_its_cache_then_rolls_out_with_redis_url_from_the_secret() {
    let s = setup().await;
    let apps: Api<TieredApp> = Api::namespaced(s.op.client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(s.op.client.clone(), NS);
    apps.create(&PostParams::default(), &app_using(NS, "cache", CACHE))
        .await
        .unwrap();
    wait_for_app_reason(&apps, "newsread", "WaitingForCache").await;
    assert!(
        deployments.get_opt("newsread-api").await.unwrap().is_none(),
        "the tier is not rolled out before its cache is Ready"
    );

    s.caches
        .create(&PostParams::default(), &cache_cluster())
        .await
        .unwrap();
    wait_ready(&s).await;
    eventually("the tier rolls out", || async {
        deployments.get_opt("newsread-api").await.unwrap().is_some()
    })
    .await;
    let deployment = deployments.get("newsread-api").await.unwrap();
    assert_eq!(
        env_from_secret(&deployment, "REDIS_URL"),
        ("shop-cache-connection".to_owned(), "url".to_owned())
    );
    s.op.stop().await;
}

#[tokio::test]
async fn a_stalled_cache_is_counted_as_a_reconcile_error() {
    let s = setup().await;
    let mut missing = cache_cluster();
    missing.spec.adopt = Some(tiered::api::cache_cluster::AdoptCache {
        replication_group_id: "no-such-group".into(),
    });
    s.caches
        .create(&PostParams::default(), &missing)
        .await
        .unwrap();
    eventually("Stalled: the group to adopt does not exist", || async {
        s.caches.get(CACHE).await.is_ok_and(|c| {
            condition(&c, "Stalled")
                .is_some_and(|(status, reason, _)| status == "True" && reason == "InvalidSpec")
        })
    })
    .await;
    eventually("the stall is in tiered_reconcile_errors_total", || async {
        let (_, text) = support::operator::http_get(s.op.http, "/metrics").await;
        metric(
            &text,
            "tiered_reconcile_errors_total{controller=\"cachecluster\",category=\"invalid_spec\"}",
        ) >= 1.0
    })
    .await;
    s.op.stop().await;
}
