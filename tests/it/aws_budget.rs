//! The budget of mutating AWS calls per object (issue 10: at most 6 in any minute)
//! across an operator restart: the budgets live in the process, so a new process sends
//! no change for an object that existed before it in its first minute, and the
//! object's status says which call waits, until when and why (`AwsCallsPaced`). The
//! chaos run saw 13 mutating calls of one object in a minute across operator kills.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tiered::api::CacheCluster;
use tiered::api::conditions::reasons;
use tiered::controllers::cache_cluster::ElastiCache;

use support::data_tier::operator::{NS, condition, wire_status};
use support::data_tier::{Kind, object, resource};
use support::moto::{MotoServer, aws_config};
use support::operator::{emulator, eventually, launch_with_aws, test_config};

#[tokio::test]
async fn a_restarted_operator_holds_changes_to_existing_objects_for_a_minute_and_says_why() {
    let moto = MotoServer::start();
    let emulator = emulator(&[NS], false).await;
    let client = emulator.client();
    let aws = aws_config(&moto);
    let caches: Api<CacheCluster> = Api::namespaced(client.clone(), NS);
    let first = launch_with_aws(client.clone(), test_config(&[NS]), &aws).await;
    let spec = ElastiCache::manifest_spec();
    caches
        .create(
            &PostParams::default(),
            &object::<ElastiCache>(NS, ElastiCache::OBJECT, &spec),
        )
        .await
        .expect("create");
    let has = |type_: &'static str, status: &'static str, reason: Option<&'static str>| {
        let caches = caches.clone();
        move || {
            let caches = caches.clone();
            async move {
                caches.get(ElastiCache::OBJECT).await.is_ok_and(|cache| {
                    condition::<ElastiCache>(&cache, type_).is_some_and(|(s, r, _)| {
                        s == status && reason.is_none_or(|reason| r == reason)
                    })
                })
            }
        }
    };
    eventually("the cache is Ready", has("Ready", "True", None)).await;
    first.stop().await;
    // creationTimestamp has whole seconds, and an object created in the second the
    // controllers start counts as new (Budgets::started_at); moto makes the group
    // available at once, so without this the restart can fall in that same second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let second = launch_with_aws(client.clone(), test_config(&[NS]), &aws).await;
    caches
        .patch(
            ElastiCache::OBJECT,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodeType": "cache.t4g.small"}})),
        )
        .await
        .expect("patch");
    eventually(
        "the change waits for the budget",
        has("Reconciling", "True", Some(reasons::AWS_CALLS_PACED)),
    )
    .await;
    let cache = caches.get(ElastiCache::OBJECT).await.unwrap();
    let (_, _, message) = condition::<ElastiCache>(&cache, "Reconciling").unwrap();
    assert!(
        message.starts_with("elasticache:ModifyReplicationGroup waits until ")
            && message.contains("restarted less than a minute ago")
            && message.contains("at most 6 changing AWS calls per object in any minute"),
        "which call, until when and why: {message}"
    );
    let id = wire_status::<ElastiCache>(&cache)["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = resource(&ElastiCache::on(&moto), &id).await.unwrap();
    assert_eq!(
        group.cache_node_type(),
        Some("cache.t4g.micro"),
        "no change reached AWS in the restarted operator's first minute"
    );
    second.stop().await;
}
