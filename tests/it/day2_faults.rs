//! Issue 13 with issue 10 part 3 (AWS failing never makes a loop): the day-2 calls
//! whose response gets lost (AWS acted, the client saw a 500), through the controller
//! of `tiered run` on the emulator and moto_server behind the `aws-faults` proxy: a
//! cross-region CreateDBInstanceReadReplica and a PromoteReadReplica. Each ends with
//! exactly one instance, promoted once, Ready, and no more mutating calls once
//! converged. (The restores with every response lost are in `database_restore`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::json;
use tiered::api::replication::ReplicationRole;
use tiered::aws::naming::rds_replica_of_identifier;
use tiered::controllers::managed_database::Rds;

use crate::support::aws_reads::{instance, instance_ids, rds_in};
use crate::support::data_tier::operator::NS;
use crate::support::faults::{Faulty, rules, start};
use crate::support::moto::rds_client;
use crate::support::operator::eventually;

const RESYNC: Duration = Duration::from_secs(2);
const DR_REGION: &str = "eu-west-1";

/// Checks that [`DR_REGION`] holds `id` and no other instance of its name (`what` it
/// is); its client there.
async fn the_only_one_in_dr_region(f: &Faulty, id: &str, what: &str) -> aws_sdk_rds::Client {
    let west = rds_in(&f.moto, DR_REGION);
    assert_eq!(instance_ids(&west, id).await, [id], "{what}");
    west
}

/// A primary `primary` Ready, and the replica `dr` of it in [`DR_REGION`] asked for.
async fn primary_and_replica(f: &Faulty) {
    f.create::<Rds>("primary", &json!({})).await;
    eventually("the primary is Ready", || f.is_ready::<Rds>("primary")).await;
    f.create::<Rds>(
        "dr",
        &json!({"region": DR_REGION, "replicaOf": {"managedDatabase": "primary"}}),
    )
    .await;
}

/// Source: issue 13 part 1 with issue 10 part 3 ("a crash between create and record
/// never makes a second instance"; lost responses never make a loop).
#[tokio::test]
async fn a_lost_cross_region_replica_create_ends_with_one_replica_in_its_region() {
    let f = start(rules(&["CreateDBInstanceReadReplica:lose=1"]), 13, RESYNC).await;
    primary_and_replica(&f).await;
    let id = rds_replica_of_identifier("test", NS, "dr");
    f.wait_ready_within::<Rds>("dr", Duration::from_mins(1))
        .await;
    the_only_one_in_dr_region(&f, &id, "one replica").await;
    assert!(instance_ids(&rds_client(&f.moto), &id).await.is_empty());
    let calls = f.proxy.calls();
    assert_eq!(
        calls.reached("CreateDBInstanceReadReplica", &id),
        1,
        "a lost create is described, not repeated: {}",
        f.figures::<Rds>("dr")
    );
    assert_eq!(
        calls.count("DeleteDBInstance", &id),
        0,
        "{}",
        f.figures::<Rds>("dr")
    );
    assert_eq!(f.role("dr").await, Some(ReplicationRole::Replica));
    f.proxy.set_rules(Vec::new());
    f.assert_quiet(RESYNC * 3, "the replica").await;
    f.op.stop().await;
}

/// Source: issue 13 part 1 ("Promotion is idempotent across crashes and never happens
/// by itself") with issue 10 part 3. RDS promoted on the first call; the answer was
/// lost. RDS refuses a second PromoteReadReplica of a promoting or promoted instance
/// (`InvalidDBInstanceState`, which tiered takes as done); moto 5.2.5 answers it with
/// success and changes nothing. Either way one promotion, recorded once, then Ready.
#[tokio::test]
async fn a_lost_promotion_answer_promotes_once_and_ends_ready_as_a_primary() {
    let f = start(Vec::new(), 13, RESYNC).await;
    primary_and_replica(&f).await;
    let id = rds_replica_of_identifier("test", NS, "dr");
    f.wait_ready_within::<Rds>("dr", Duration::from_mins(1))
        .await;

    f.proxy.set_rules(rules(&["PromoteReadReplica:lose=1"]));
    f.promote("dr").await;
    eventually("the first promotion reached RDS", || async {
        f.proxy.calls().reached("PromoteReadReplica", &id) >= 1
    })
    .await;
    f.proxy.set_rules(Vec::new());

    f.wait_ready_and::<Rds, _, _>("dr", Duration::from_secs(90), || async {
        f.role("dr").await == Some(ReplicationRole::Primary)
    })
    .await;
    let west = the_only_one_in_dr_region(&f, &id, "one instance").await;
    let promoted = instance(&west, &id).await.expect("the promoted instance");
    let tags: Vec<_> = promoted
        .tag_list()
        .iter()
        .filter(|tag| tag.key() == Some("tiered.io/promoted"))
        .collect();
    assert_eq!(tags.len(), 1, "recorded once: {tags:?}");
    let calls = f.proxy.calls();
    let promotions = calls.reached("PromoteReadReplica", &id);
    assert!(
        (1..=2).contains(&promotions),
        "the lost promotion is asked again at most once: {}",
        f.figures::<Rds>("dr")
    );
    assert_eq!(calls.count("DeleteDBInstance", &id), 0);
    f.assert_quiet(RESYNC * 3, "the promoted instance").await;
    assert_eq!(
        f.proxy.calls().reached("PromoteReadReplica", &id),
        promotions,
        "never again once recorded"
    );
    f.op.stop().await;
}
