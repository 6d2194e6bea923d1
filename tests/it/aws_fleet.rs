//! The shared fleet reads at scale (issue 12, part 2): the data-tier kinds against moto
//! through the recording `aws-faults` proxy (no rules), counting the describe calls
//! each reconcile makes. A change makes only the changed resource stale (RDS: a create
//! no longer re-reads every page of the fleet), CacheClusters read their groups and
//! members once per window, and an idle pass answers its ownership check from the tags
//! it read before, while a pass that changes anything proves ownership from a fresh
//! read first. Counts, never timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_faults::{Call, Proxy};
use serde_json::json;
use tiered::api::conditions::reasons;
use tiered::aws::cache_fleet::CacheFleet;
use tiered::aws::fleet::Fleet;
use tiered::aws::tags;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::managed_database::Rds;
use tiered::runtime::claims::RequireReadClaim;

use crate::support::data_tier::cache::elasticache_kind;
use crate::support::data_tier::{Kind, reconcile_once, reconcile_until_ready, stalled_message};
use crate::support::fixtures::CLUSTER;
use crate::support::moto::{MotoServer, aws_config_at};

const WINDOW: Duration = Duration::from_mins(5);

/// moto behind a proxy that records every call.
async fn recorded() -> (MotoServer, Proxy) {
    let moto = MotoServer::start();
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &moto.endpoint(),
        Vec::new(),
        1,
    )
    .await
    .expect("the proxy starts");
    (moto, proxy)
}

/// The kind on the proxy, with the shared fleet read of `window`.
fn rds_on(proxy: &Proxy, fleet: Arc<Fleet>) -> Rds {
    let mut rds = Rds::new(
        aws_sdk_rds::Client::new(&aws_config_at(&proxy.endpoint())),
        std::collections::BTreeSet::new(),
    );
    rds.fleet = Some(fleet);
    rds
}

/// The kind on the proxy as the operator configures it (the claim rule's interceptor),
/// with `fleet`.
fn elasticache_on(proxy: &Proxy, fleet: Arc<CacheFleet>) -> ElastiCache {
    let config = aws_sdk_elasticache::config::Builder::from(&aws_config_at(&proxy.endpoint()))
        .interceptor(RequireReadClaim)
        .build();
    let mut elasticache = elasticache_kind(
        aws_sdk_elasticache::Client::from_conf(config),
        std::collections::BTreeSet::new(),
    );
    elasticache.fleet = Some(fleet);
    elasticache
}

fn count(calls: &[Call], action: &str, resource: Option<&str>) -> usize {
    calls
        .iter()
        .filter(|call| call.action == action && resource.is_none_or(|id| call.resource == id))
        .count()
}

fn fleet_wide(calls: &[Call], action: &str) -> usize {
    count(calls, action, Some(""))
}

fn mutating(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|call| call.is_mutating()).collect()
}

/// Source: issue 12 ("the full 1,000 DBs run was stopped because `Fleet::invalidate`
/// forgets the whole RDS fleet read after every mutating call, so each create re-reads
/// all pages"). Six creates read the fleet once (each was followed by a whole new read,
/// six in all); afterwards an idle round describes nothing more, and a change to one
/// database makes that one describe itself while the others keep the read.
#[tokio::test]
async fn creates_read_the_rds_fleet_once_and_a_change_makes_only_its_instance_stale() {
    let (_moto, proxy) = recorded().await;
    let names: Vec<String> = (0..6).map(|n| format!("db-{n}")).collect();
    let spec = Rds::spec(&json!({}));
    let creating = rds_on(&proxy, Arc::new(Fleet::new(CLUSTER, WINDOW)));
    let mut ids = Vec::new();
    for name in &names {
        let report = reconcile_once(&creating, name, &spec).await;
        assert!(report.mutations > 0, "{report:?}");
        ids.push(report.id);
    }
    let calls = proxy.calls().all();
    assert_eq!(
        fleet_wide(&calls, "DescribeDBInstances"),
        1,
        "one fleet read for six creates: {:?}",
        calls
            .iter()
            .map(|c| (&c.action, &c.resource))
            .collect::<Vec<_>>()
    );
    for name in &names {
        reconcile_until_ready(&creating, name, &spec).await;
    }

    // A process whose fleet read is taken after the creates: idle rounds share it.
    let idle = rds_on(&proxy, Arc::new(Fleet::new(CLUSTER, WINDOW)));
    proxy.calls().clear();
    for _round in 0..2 {
        for name in &names {
            let report = reconcile_once(&idle, name, &spec).await;
            assert_eq!(report.mutations, 0, "{report:?}");
        }
    }
    let calls = proxy.calls().all();
    assert_eq!(fleet_wide(&calls, "DescribeDBInstances"), 1, "{calls:?}");
    assert_eq!(count(&calls, "DescribeDBInstances", None), 1, "{calls:?}");

    // One database changes: it alone describes itself until the next fleet read.
    let changed = Rds::spec(&json!({"tags": {"team": "search"}}));
    let report = reconcile_once(&idle, &names[1], &changed).await;
    assert!(report.mutations > 0, "{report:?}");
    proxy.calls().clear();
    for (name, id) in names.iter().zip(&ids) {
        let spec = if name == &names[1] { &changed } else { &spec };
        reconcile_once(&idle, name, spec).await;
        let calls = proxy.calls().all();
        let expected = usize::from(name == &names[1]);
        assert_eq!(
            count(&calls, "DescribeDBInstances", Some(id)),
            expected,
            "{name}: {calls:?}"
        );
    }
    let calls = proxy.calls().all();
    assert_eq!(fleet_wide(&calls, "DescribeDBInstances"), 0, "{calls:?}");
}

/// Three caches made Ready; the reads of a process that starts then.
async fn three_ready_caches() -> (MotoServer, Proxy, Vec<(String, String)>) {
    let (moto, proxy) = recorded().await;
    let setup = elasticache_on(&proxy, Arc::new(CacheFleet::new(WINDOW)));
    let spec = ElastiCache::spec(&json!({}));
    let mut caches = Vec::new();
    for name in ["cache-a", "cache-b", "cache-c"] {
        let report = reconcile_until_ready(&setup, name, &spec).await;
        caches.push((name.to_owned(), report.id));
    }
    proxy.calls().clear();
    (moto, proxy, caches)
}

/// The caches of [`three_ready_caches`], a fresh controller on them that has made one
/// [`idle_round`] (the calls of that round left in the proxy's record) and the spec they
/// were made with.
async fn three_caches_after_a_first_idle_round() -> (
    MotoServer,
    Proxy,
    Vec<(String, String)>,
    ElastiCache,
    tiered::api::CacheClusterSpec,
) {
    let (moto, proxy, caches) = three_ready_caches().await;
    let ctx = elasticache_on(&proxy, Arc::new(CacheFleet::new(WINDOW)));
    let spec = ElastiCache::spec(&json!({}));
    idle_round(&ctx, &caches, &spec).await;
    (moto, proxy, caches, ctx, spec)
}

/// One pass of each of `caches` with `spec`, none of which may change anything.
async fn idle_round(
    ctx: &ElastiCache,
    caches: &[(String, String)],
    spec: &tiered::api::CacheClusterSpec,
) {
    for (name, _) in caches {
        let report = reconcile_once(ctx, name, spec).await;
        assert_eq!(report.mutations, 0, "{report:?}");
        assert!(
            matches!(report.progress, Progress::Ready { .. }),
            "{report:?}"
        );
    }
}

/// Source: issue 12 ("182 describe calls per resync because CacheClusters have no fleet
/// read (3 calls per cache per resync)"). Idle caches share one DescribeReplicationGroups
/// and one DescribeCacheClusters per window, read their tags once, then answer the
/// ownership check of idle passes from them: the second idle round makes no call at
/// all (it made 3 per cache: group, member, tags).
#[tokio::test]
async fn idle_caches_share_the_fleet_read_and_read_their_tags_once() {
    let (_moto, proxy, caches, ctx, spec) = three_caches_after_a_first_idle_round().await;
    let calls = proxy.calls().all();
    assert!(mutating(&calls).is_empty(), "{calls:?}");
    assert_eq!(
        fleet_wide(&calls, "DescribeReplicationGroups"),
        1,
        "{calls:?}"
    );
    assert_eq!(fleet_wide(&calls, "DescribeCacheClusters"), 1, "{calls:?}");
    assert_eq!(count(&calls, "ListTagsForResource", None), 3, "{calls:?}");
    assert_eq!(calls.len(), 5, "nothing described one by one: {calls:?}");

    proxy.calls().clear();
    idle_round(&ctx, &caches, &spec).await;
    let calls = proxy.calls().all();
    assert!(
        calls.is_empty(),
        "the second idle round makes no call: {calls:?}"
    );
}

/// A change on one cache (a new node type): its pass reads the tags afresh before the
/// Modify (ownership proven before any mutating call), and afterwards that cache
/// alone describes itself while the others keep the fleet read.
#[tokio::test]
async fn a_cache_change_reads_its_claim_first_and_makes_only_that_group_stale() {
    let (_moto, proxy, caches, ctx, spec) = three_caches_after_a_first_idle_round().await;
    let (name, id) = &caches[1];
    proxy.calls().clear();
    let larger = ElastiCache::spec(&json!({"nodeType": "cache.t4g.small"}));
    let report = reconcile_once(&ctx, name, &larger).await;
    assert!(report.mutations > 0, "{report:?}");
    let calls = proxy.calls().all();
    assert_eq!(
        count(&calls, "ModifyReplicationGroup", Some(id)),
        1,
        "{calls:?}"
    );
    assert_eq!(
        count(&calls, "ListTagsForResource", Some(id)),
        1,
        "the claim is read before the change: {calls:?}"
    );

    proxy.calls().clear();
    for (other, other_id) in &caches {
        let spec = if other == name { &larger } else { &spec };
        reconcile_once(&ctx, other, spec).await;
        let calls = proxy.calls().all();
        let described = count(&calls, "DescribeReplicationGroups", Some(other_id));
        assert_eq!(described, usize::from(other == name), "{other}: {calls:?}");
    }
    let calls = proxy.calls().all();
    assert_eq!(
        fleet_wide(&calls, "DescribeReplicationGroups"),
        0,
        "{calls:?}"
    );
}

/// Ownership is proven before any mutating call: tags remembered from an earlier read
/// say the group is ours, someone retags it for another object, and the spec changes.
/// The pass reads the tags afresh before the Modify, finds the group owned elsewhere,
/// and sends nothing (with the remembered tags alone it modified another's group).
#[tokio::test]
async fn a_cache_retagged_for_another_owner_since_its_tags_were_read_is_not_changed() {
    let (moto, proxy, caches, ctx, _spec) = three_caches_after_a_first_idle_round().await;
    let (name, id) = &caches[0];
    let admin = crate::support::moto::elasticache_client(&moto);
    let arn = crate::support::data_tier::resource(&ctx, id)
        .await
        .and_then(|group| group.arn().map(str::to_owned))
        .expect("the group");
    tiered::controllers::cache_cluster::elasticache::add_tags(
        &admin,
        &arn,
        &BTreeMap::from([(tags::NAME.to_owned(), "someone-else".to_owned())]),
    )
    .await
    .expect("retagged");

    proxy.calls().clear();
    let larger = ElastiCache::spec(&json!({"nodeType": "cache.t4g.small"}));
    let report = reconcile_once(&ctx, name, &larger).await;
    stalled_message(&report.progress, reasons::OWNED_ELSEWHERE);
    let calls = proxy.calls().all();
    assert!(mutating(&calls).is_empty(), "nothing changed: {calls:?}");
    assert_eq!(
        count(&calls, "ListTagsForResource", Some(id)),
        1,
        "{calls:?}"
    );
}
