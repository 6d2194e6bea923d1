//! The CacheCluster reconcile and cleanup against ElastiCache in a private
//! `moto_server`: create with tags and settings, drift, deletion policies, adoption
//! and its guard, crash safety, and the connection Secret's contents.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_elasticache::types::{AutomaticFailoverStatus, ReplicationGroup};
use tiered::api::CacheClusterSpec;
use tiered::api::conditions::reasons;
use tiered::aws::tags;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::cache_cluster::secret::{connection_details, connection_secret_data};
use tiered::controllers::cache_cluster::status::Report;
use tiered::controllers::data_tier::cleanup::{Cleanup, cleanup};
use tiered::controllers::data_tier::reconcile::{Credential, Target, sync};
use tiered::controllers::data_tier::secret::Password;
use tiered::controllers::data_tier::status::Progress;

use support::fixtures::{CLUSTER, deletion_time, owner, spec_from};
use support::moto::{MotoServer, elasticache_client};

fn spec(extra: &serde_json::Value) -> CacheClusterSpec {
    spec_from(
        serde_json::json!({
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.t4g.micro",
            "replicasPerShard": 2,
            "snapshot": {"retentionDays": 5, "window": "04:00-05:00"},
            "tags": {"team": "news"}
        }),
        extra,
    )
}

fn context(server: &MotoServer) -> ElastiCache {
    ElastiCache {
        elasticache: elasticache_client(server),
        adoption_namespaces: None,
    }
}

fn token() -> Password {
    Password::from_secret_value("Not-a-real-token-0123456789#&$".into())
}

async fn reconcile_once(ctx: &ElastiCache, name: &str, spec: &CacheClusterSpec) -> Report {
    let token = token();
    let target = Target {
        owner: owner(name),
        spec,
    };
    sync(
        ctx,
        &target,
        Credential {
            value: Some(&token),
            is_new: false,
        },
    )
    .await
}

async fn group(ctx: &ElastiCache, id: &str) -> Option<ReplicationGroup> {
    ctx.describe_group(id).await.expect("describe failed")
}

async fn tag(ctx: &ElastiCache, id: &str, key: &str) -> Option<String> {
    let group = group(ctx, id).await?;
    ctx.group_tags(&group)
        .await
        .expect("tags")
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value)
}

async fn group_count(ctx: &ElastiCache) -> usize {
    ctx.elasticache
        .describe_replication_groups()
        .send()
        .await
        .expect("describe failed")
        .replication_groups()
        .len()
}

fn ready() -> Progress {
    Progress::Ready {
        message: String::new(),
    }
}

#[tokio::test]
async fn reconcile_creates_a_tagged_group_with_the_spec_settings_and_then_makes_no_calls() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(report.progress, ready(), "moto is available at once");
    assert!(report.id.starts_with("test-shop-cache-"), "{}", report.id);
    let created = group(&ctx, &report.id).await.expect("group created");
    assert_eq!(created.engine(), Some("valkey"));
    assert_eq!(created.cache_node_type(), Some("cache.t4g.micro"));
    assert_eq!(
        created.member_clusters().len(),
        3,
        "a primary and 2 replicas"
    );
    assert_eq!(created.transit_encryption_enabled(), Some(true));
    assert_eq!(created.at_rest_encryption_enabled(), Some(true));
    assert_eq!(created.auth_token_enabled(), Some(true));
    assert_eq!(created.snapshot_retention_limit(), Some(5));
    assert_eq!(
        created.automatic_failover(),
        Some(&AutomaticFailoverStatus::Enabled)
    );
    for (key, value) in [
        (tags::CLUSTER, CLUSTER),
        (tags::NAMESPACE, "shop"),
        (tags::NAME, "cache"),
        (tags::UID, "uid-cache"),
        ("team", "news"),
    ] {
        assert_eq!(
            tag(&ctx, &report.id, key).await.as_deref(),
            Some(value),
            "{key}"
        );
    }

    let again = reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(
        again.mutations, 0,
        "a converged object makes no mutating AWS call"
    );
    assert_eq!(again.progress, ready());
}

#[tokio::test]
async fn changing_node_type_and_retention_modifies_only_those_fields() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let report = reconcile_once(&ctx, "cache", &spec(&serde_json::json!({}))).await;
    let after = spec(&serde_json::json!({
        "nodeType": "cache.t4g.small",
        "snapshot": {"retentionDays": 7, "window": "04:00-05:00"}
    }));
    let modified = reconcile_once(&ctx, "cache", &after).await;
    match &modified.progress {
        Progress::InProgress { message, .. } => {
            assert!(
                message.ends_with("nodeType, snapshot.retentionDays"),
                "{message}"
            );
        }
        other => panic!("expected a modification, got {other:?}"),
    }
    let changed = group(&ctx, &report.id).await.expect("group");
    assert_eq!(changed.cache_node_type(), Some("cache.t4g.small"));
    assert_eq!(changed.snapshot_retention_limit(), Some(7));
    assert_eq!(changed.member_clusters().len(), 3, "untouched");
    let settled = reconcile_once(&ctx, "cache", &after).await;
    assert_eq!(settled.mutations, 0);
    assert_eq!(settled.progress, ready());
}

#[tokio::test]
async fn turning_encryption_at_rest_off_stalls_as_an_unsupported_change() {
    let server = MotoServer::start();
    let ctx = context(&server);
    reconcile_once(&ctx, "cache", &spec(&serde_json::json!({}))).await;
    let report = reconcile_once(
        &ctx,
        "cache",
        &spec(&serde_json::json!({"atRestEncryption": false})),
    )
    .await;
    match &report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(*reason, reasons::UNSUPPORTED_CHANGE);
            assert!(message.contains("spec.atRestEncryption"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert_eq!(report.mutations, 0);
}

#[tokio::test]
async fn a_crash_between_create_and_status_write_makes_no_second_group() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({}));
    let first = reconcile_once(&ctx, "cache", &spec).await;
    assert!(first.mutations > 0);
    let second = reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.mutations, 0);
    assert_eq!(group_count(&ctx).await, 1);
}

async fn create_untagged(ctx: &ElastiCache, id: &str) {
    ctx.elasticache
        .create_replication_group()
        .replication_group_id(id)
        .replication_group_description("legacy")
        .engine("valkey")
        .cache_node_type("cache.t4g.micro")
        .replicas_per_node_group(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .auth_token("legacy-token-0123456789")
        .snapshot_retention_limit(5)
        .snapshot_window("04:00-05:00")
        .send()
        .await
        .expect("CreateReplicationGroup failed");
}

#[tokio::test]
async fn an_untagged_group_is_adopted_and_tagged() {
    let server = MotoServer::start();
    let ctx = context(&server);
    create_untagged(&ctx, "legacy-cache").await;
    let adopt = spec(&serde_json::json!({"adopt": {"replicationGroupId": "legacy-cache"}}));
    let report = reconcile_once(&ctx, "cache", &adopt).await;
    assert_eq!(report.id, "legacy-cache");
    assert_eq!(report.progress, ready());
    assert_eq!(
        tag(&ctx, "legacy-cache", tags::NAME).await.as_deref(),
        Some("cache")
    );
    assert_eq!(group_count(&ctx).await, 1, "nothing new was created");
}

#[tokio::test]
async fn a_group_tagged_for_another_owner_is_refused_and_left_alone() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let theirs = reconcile_once(&ctx, "other", &spec(&serde_json::json!({}))).await;
    let adopt = spec(&serde_json::json!({
        "adopt": {"replicationGroupId": theirs.id},
        "nodeType": "cache.t4g.large"
    }));
    let report = reconcile_once(&ctx, "cache", &adopt).await;
    match &report.progress {
        Progress::Stalled {
            reason, message, ..
        } => {
            assert_eq!(*reason, reasons::OWNED_ELSEWHERE);
            assert!(message.contains("shop/other"), "{message}");
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert_eq!(report.mutations, 0);
    let left = group(&ctx, &theirs.id).await.expect("still there");
    assert_eq!(
        left.cache_node_type(),
        Some("cache.t4g.micro"),
        "not modified"
    );
    assert_eq!(
        tag(&ctx, &theirs.id, tags::NAME).await.as_deref(),
        Some("other")
    );
}

async fn delete_until_done(ctx: &ElastiCache, name: &str, spec: &CacheClusterSpec) -> Vec<Cleanup> {
    let target = Target {
        owner: owner(name),
        spec,
    };
    let at = deletion_time();
    let mut steps = Vec::new();
    for _ in 0..4 {
        let step = cleanup(ctx, &target, at).await.expect("cleanup failed");
        let done = matches!(step, Cleanup::Done { .. });
        steps.push(step);
        if done {
            return steps;
        }
    }
    panic!("cleanup did not finish: {steps:?}");
}

#[tokio::test]
async fn snapshot_policy_deletes_the_group_naming_the_final_snapshot() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    let steps = delete_until_done(&ctx, "cache", &spec).await;
    let expected = format!("{}-final-20260102030405", report.id);
    assert!(
        steps.iter().any(
            |s| matches!(s, Cleanup::Waiting { snapshot: Some(name), .. } if *name == expected)
        ),
        "{steps:?}"
    );
    // moto keeps a deleted group in `deleting` for ever and ignores the final
    // snapshot (tests/it/aws_moto.rs); cache_mocks pins the request itself.
    let deleting = group(&ctx, &report.id).await.expect("moto keeps it");
    assert_eq!(deleting.status(), Some("deleting"));
}

#[tokio::test]
async fn delete_policy_deletes_without_a_snapshot() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"deletionPolicy": "Delete"}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    let steps = delete_until_done(&ctx, "cache", &spec).await;
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Cleanup::Waiting { snapshot: None, .. })),
        "{steps:?}"
    );
    assert_eq!(
        group(&ctx, &report.id)
            .await
            .and_then(|g| g.status().map(str::to_owned))
            .as_deref(),
        Some("deleting")
    );
}

#[tokio::test]
async fn retain_policy_keeps_the_group_and_removes_only_our_tags() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"deletionPolicy": "Retain"}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    delete_until_done(&ctx, "cache", &spec).await;
    let kept = group(&ctx, &report.id).await.expect("retained");
    assert_eq!(kept.status(), Some("available"));
    assert_eq!(tag(&ctx, &report.id, "team").await.as_deref(), Some("news"));
    for key in tags::OWNERSHIP_KEYS {
        assert_eq!(tag(&ctx, &report.id, key).await, None, "{key} removed");
    }
}

#[tokio::test]
async fn a_group_not_tagged_as_ours_is_never_deleted() {
    let server = MotoServer::start();
    let ctx = context(&server);
    create_untagged(&ctx, "legacy-cache").await;
    let spec = spec(&serde_json::json!({
        "adopt": {"replicationGroupId": "legacy-cache"},
        "deletionPolicy": "Delete"
    }));
    let steps = delete_until_done(&ctx, "cache", &spec).await;
    assert!(matches!(&steps[..], [Cleanup::Done { .. }]), "{steps:?}");
    let left = group(&ctx, "legacy-cache").await.expect("still there");
    assert_eq!(left.status(), Some("available"));
}

#[tokio::test]
async fn connection_secret_carries_a_rediss_url_that_parses_back_to_the_parts() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    let details = connection_details(true, &report.observed, Some(token()));
    let data = connection_secret_data(&details);
    let text = |key: &str| String::from_utf8(data[key].0.clone()).expect("utf-8");
    let host = text("host");
    assert!(host.starts_with("master."), "{host}");
    assert_eq!(text("port"), "6379");
    assert_eq!(text("authToken"), token().expose());

    let url = url::Url::parse(&text("url")).expect("url parses");
    assert_eq!(url.scheme(), "rediss");
    assert_eq!(url.host_str(), Some(host.as_str()));
    assert_eq!(url.port(), Some(6379));
    assert_eq!(url.username(), "");
    let decoded = percent_encoding::percent_decode_str(url.password().expect("token"))
        .decode_utf8()
        .expect("utf-8");
    assert_eq!(decoded, token().expose());
}

#[tokio::test]
async fn without_transit_encryption_the_url_is_plain_redis_without_a_token() {
    let server = MotoServer::start();
    let ctx = context(&server);
    let spec = spec(&serde_json::json!({"transitEncryption": false}));
    let report = reconcile_once(&ctx, "cache", &spec).await;
    assert_eq!(report.progress, ready());
    let data = connection_secret_data(&connection_details(false, &report.observed, None));
    let url = url::Url::parse(std::str::from_utf8(&data["url"].0).unwrap()).unwrap();
    assert_eq!(url.scheme(), "redis");
    assert_eq!(url.password(), None);
    assert!(!data.contains_key("authToken"));
}
