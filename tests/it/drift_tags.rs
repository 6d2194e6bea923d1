//! Tags follow the spec completely, for both data-tier kinds against moto (issue 10,
//! "Drift converges completely": tags removed from a spec stayed in AWS): a key tiered
//! set and the spec dropped is removed from the resource (the RDS primary and the
//! ElastiCache replication group; the RDS read replicas in `database_replicas`), and
//! nothing else is: not a tag someone else set, not the ownership tags.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;

use serde_json::json;
use tiered::aws::tags;
use tiered::controllers::data_tier::status::Progress;

use support::data_tier::{Kind, both_kinds, reconcile_once, reconcile_until_ready, resource};
use support::moto::MotoServer;

both_kinds!(a_tag_dropped_from_the_spec_is_removed_and_no_other_tag_is);

/// Source: issue 10 ("Tags removed from a spec stay in AWS today (primary, replicas,
/// replication group): remove exactly the keys tiered had set (the ownership tags
/// excepted)").
async fn a_tag_dropped_from_the_spec_is_removed_and_no_other_tag_is<K: Kind>() {
    let server = MotoServer::start();
    let ctx = K::on(&server);
    let before = K::spec(&json!({"tags": {"team": "news", "cost-center": "42"}}));
    let report = reconcile_until_ready(&ctx, K::NAME, &before).await;
    let arn = {
        let found = resource(&ctx, &report.id).await.expect("created");
        K::arn(&found).expect("an ARN").to_owned()
    };
    // Someone else tags the resource too (a cost-allocation tag in the console).
    ctx.add_tags(
        &arn,
        &BTreeMap::from([("owner-team".to_owned(), "billing".to_owned())]),
    )
    .await
    .expect("tagged by someone else");

    let after = K::spec(&json!({"tags": {"team": "news"}}));
    let changed = reconcile_once(&ctx, K::NAME, &after).await;
    assert!(changed.mutations > 0, "{changed:?}");
    let found = support::data_tier::tags(&ctx, &report.id).await;
    assert!(
        !found.contains_key("cost-center"),
        "dropped tag removed: {found:?}"
    );
    assert_eq!(found.get("team").map(String::as_str), Some("news"));
    assert_eq!(
        found.get("owner-team").map(String::as_str),
        Some("billing"),
        "a tag tiered did not set stays"
    );
    for key in tags::OWNERSHIP_KEYS {
        assert!(found.contains_key(key), "{key} stays");
    }

    let settled = reconcile_until_ready(&ctx, K::NAME, &after).await;
    let again = reconcile_once(&ctx, K::NAME, &after).await;
    assert!(matches!(settled.progress, Progress::Ready { .. }));
    assert_eq!(again.mutations, 0, "converged: {again:?}");

    // Dropping every user tag removes the last one, and still not the stranger's.
    let none = K::spec(&json!({"tags": {}}));
    reconcile_until_ready(&ctx, K::NAME, &none).await;
    let found = support::data_tier::tags(&ctx, &report.id).await;
    assert!(!found.contains_key("team"), "{found:?}");
    assert!(found.contains_key("owner-team"), "{found:?}");
}
