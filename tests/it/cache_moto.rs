//! The CacheCluster reconcile and cleanup against ElastiCache in a private
//! `moto_server`, where ElastiCache differs from RDS: drift of its own fields, the
//! deletion policies that delete, and the connection Secret's contents. What both kinds
//! share is in `data_tier_moto`.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use serde_json::json;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::secret::{connection_details, connection_secret_data};
use tiered::controllers::data_tier::cleanup::Cleanup;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::{
    Kind, OnMoto, assert_waited_on_final_snapshot, delete_until_done, ready_on_moto,
    reconcile_once, resource,
};
use support::moto::MotoServer;

fn ready() -> Progress {
    Progress::Ready {
        message: String::new(),
    }
}

#[tokio::test]
async fn changing_node_type_and_retention_modifies_only_those_fields() {
    let cache = ready_on_moto::<ElastiCache>("cache", &json!({})).await;
    let after = ElastiCache::spec(&json!({
        "nodeType": "cache.t4g.small",
        "snapshot": {"retentionDays": 7, "window": "04:00-05:00"}
    }));
    let changed = cache
        .assert_modifies_only("cache", &after, "nodeType, snapshot.retentionDays")
        .await;
    assert_eq!(changed.cache_node_type(), Some("cache.t4g.small"));
    assert_eq!(changed.snapshot_retention_limit(), Some(7));
    assert_eq!(changed.member_clusters().len(), 3, "untouched");
}

#[tokio::test]
async fn snapshot_policy_deletes_the_group_naming_the_final_snapshot() {
    let cache = ready_on_moto::<ElastiCache>("cache", &json!({})).await;
    let OnMoto {
        ctx, spec, report, ..
    } = &cache;
    let steps = delete_until_done(ctx, "cache", spec).await;
    assert_waited_on_final_snapshot(&steps, &report.id);
    // moto keeps a deleted group in `deleting` for ever and ignores the final
    // snapshot (tests/it/aws_moto.rs); cache_mocks pins the request itself.
    let deleting = resource(ctx, &report.id).await.expect("moto keeps it");
    assert_eq!(deleting.status(), Some("deleting"));
}

#[tokio::test]
async fn delete_policy_deletes_without_a_snapshot() {
    let cache = ready_on_moto::<ElastiCache>("cache", &json!({"deletionPolicy": "Delete"})).await;
    let OnMoto {
        ctx, spec, report, ..
    } = &cache;
    let steps = delete_until_done(ctx, "cache", spec).await;
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Cleanup::Waiting { snapshot: None, .. })),
        "{steps:?}"
    );
    assert_eq!(
        resource(ctx, &report.id)
            .await
            .and_then(|g| g.status().map(str::to_owned))
            .as_deref(),
        Some("deleting")
    );
}

#[tokio::test]
async fn connection_secret_carries_a_rediss_url_that_parses_back_to_the_parts() {
    let cache = ready_on_moto::<ElastiCache>("cache", &json!({})).await;
    let report = &cache.report;
    let token = ElastiCache::credential();
    let details = connection_details(true, &report.observed, Some(token.clone()));
    let data = connection_secret_data(&details);
    let text = |key: &str| String::from_utf8(data[key].0.clone()).expect("utf-8");
    let host = text("host");
    assert!(host.starts_with("master."), "{host}");
    assert_eq!(text("port"), "6379");
    assert_eq!(text("authToken"), token.expose());

    let url = url::Url::parse(&text("url")).expect("url parses");
    assert_eq!(url.scheme(), "rediss");
    assert_eq!(url.host_str(), Some(host.as_str()));
    assert_eq!(url.port(), Some(6379));
    assert_eq!(url.username(), "");
    let decoded = percent_encoding::percent_decode_str(url.password().expect("token"))
        .decode_utf8()
        .expect("utf-8");
    assert_eq!(decoded, token.expose());
}

#[tokio::test]
async fn without_transit_encryption_the_url_is_plain_redis_without_a_token() {
    let server = MotoServer::start();
    let ctx = ElastiCache::on(&server);
    let spec = ElastiCache::spec(&json!({"transitEncryption": false}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(report.progress, ready());
    let data = connection_secret_data(&connection_details(false, &report.observed, None));
    let url = url::Url::parse(std::str::from_utf8(&data["url"].0).unwrap()).unwrap();
    assert_eq!(url.scheme(), "redis");
    assert_eq!(url.password(), None);
    assert!(!data.contains_key("authToken"));
}
