//! Issue 13 with issue 10 part 3 (AWS failing never makes a loop): the day-2 calls
//! whose response gets lost (AWS acted, the client saw a 500), through the controller
//! of `tiered run` on the emulator and moto_server behind the `aws-faults` proxy: a
//! cross-region CreateDBInstanceReadReplica, a PromoteReadReplica and a
//! RestoreDBInstanceFromDBSnapshot. Each ends with exactly one instance, promoted
//! once, Ready, and no more mutating calls once converged. (The point-in-time restore
//! with every response lost is in `database_restore`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_faults::Rule;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tiered::api::ManagedDatabase;
use tiered::api::replication::ReplicationRole;
use tiered::aws::naming::rds_replica_of_identifier;
use tiered::aws::restore_source::RESTORABLE;
use tiered::controllers::managed_database::Rds;

use crate::support::data_tier::database::postgres_instance;
use crate::support::data_tier::operator::NS;
use crate::support::faults::{Faulty, aws_id, start};
use crate::support::moto::{MotoServer, aws_config, rds_client};
use crate::support::operator::eventually;

const RESYNC: Duration = Duration::from_secs(2);
const DR_REGION: &str = "eu-west-1";

fn rule(text: &str) -> Rule {
    Rule::parse(text).unwrap()
}

fn rds_in(moto: &MotoServer, region: &str) -> aws_sdk_rds::Client {
    let config = aws_sdk_rds::config::Builder::from(&aws_config(moto))
        .region(aws_sdk_rds::config::Region::new(region.to_owned()))
        .build();
    aws_sdk_rds::Client::from_conf(config)
}

/// The ids of the instances in `rds`'s region that start with `prefix`.
async fn instances(rds: &aws_sdk_rds::Client, prefix: &str) -> Vec<String> {
    let mut ids: Vec<String> = rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier())
        .filter(|id| id.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

/// What the proxy saw, for failure messages.
fn seen(f: &Faulty, id: &str) -> String {
    format!("{:?}", f.proxy.calls().by_action(id))
}

/// Mutating calls that reached moto, for any resource.
fn mutating(f: &Faulty) -> usize {
    f.proxy
        .calls()
        .all()
        .iter()
        .filter(|call| call.fate.reached_aws() && call.is_mutating())
        .count()
}

/// Waits up to `limit` until `name` is Ready; panics with its condition and the calls.
async fn ready_within(f: &Faulty, name: &str, id: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !f.is_ready::<Rds>(name).await {
        assert!(
            Instant::now() < deadline,
            "{name} not Ready within {limit:?}: {:?}; calls {}",
            f.ready_condition::<Rds>(name).await,
            seen(f, id)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts no mutating call reaches AWS over three resyncs.
async fn assert_quiet(f: &Faulty, what: &str) {
    let before = mutating(f);
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(
        mutating(f),
        before,
        "{what}: converged, no more mutating calls"
    );
}

async fn role(f: &Faulty, name: &str) -> Option<ReplicationRole> {
    let api: Api<ManagedDatabase> = Api::namespaced(f.op.client.clone(), NS);
    api.get(name)
        .await
        .unwrap()
        .status
        .and_then(|status| status.replication)
        .map(|replication| replication.role)
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
    let f = start(vec![rule("CreateDBInstanceReadReplica:lose=1")], 13, RESYNC).await;
    primary_and_replica(&f).await;
    let id = rds_replica_of_identifier("test", NS, "dr");
    ready_within(&f, "dr", &id, Duration::from_mins(1)).await;
    let west = rds_in(&f.moto, DR_REGION);
    assert_eq!(
        instances(&west, &id).await,
        std::slice::from_ref(&id),
        "one replica"
    );
    assert!(instances(&rds_client(&f.moto), &id).await.is_empty());
    let calls = f.proxy.calls();
    assert_eq!(
        calls.reached("CreateDBInstanceReadReplica", &id),
        1,
        "a lost create is described, not repeated: {}",
        seen(&f, &id)
    );
    assert_eq!(calls.count("DeleteDBInstance", &id), 0, "{}", seen(&f, &id));
    assert_eq!(role(&f, "dr").await, Some(ReplicationRole::Replica));
    f.proxy.set_rules(Vec::new());
    assert_quiet(&f, "the replica").await;
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
    ready_within(&f, "dr", &id, Duration::from_mins(1)).await;

    f.proxy.set_rules(vec![rule("PromoteReadReplica:lose=1")]);
    let api: Api<ManagedDatabase> = Api::namespaced(f.op.client.clone(), NS);
    api.patch(
        "dr",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicaOf": {"promote": true}}})),
    )
    .await
    .unwrap();
    eventually("the first promotion reached RDS", || async {
        f.proxy.calls().reached("PromoteReadReplica", &id) >= 1
    })
    .await;
    f.proxy.set_rules(Vec::new());

    let deadline = Instant::now() + Duration::from_secs(90);
    while !(f.is_ready::<Rds>("dr").await && role(&f, "dr").await == Some(ReplicationRole::Primary))
    {
        assert!(
            Instant::now() < deadline,
            "not a Ready primary: {:?}; calls {}",
            f.ready_condition::<Rds>("dr").await,
            seen(&f, &id)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let west = rds_in(&f.moto, DR_REGION);
    assert_eq!(
        instances(&west, &id).await,
        std::slice::from_ref(&id),
        "one instance"
    );
    let promoted = west
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .clone();
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
        seen(&f, &id)
    );
    assert_eq!(calls.count("DeleteDBInstance", &id), 0);
    assert_quiet(&f, "the promoted instance").await;
    assert_eq!(
        f.proxy.calls().reached("PromoteReadReplica", &id),
        promotions,
        "never again once recorded"
    );
    f.op.stop().await;
}

/// Source: issue 13 part 2 with issue 10 part 3.
#[tokio::test]
async fn a_snapshot_restore_with_every_response_lost_makes_one_instance() {
    let f = start(
        vec![
            rule("RestoreDBInstanceFromDBSnapshot:lose=1"),
            rule("ModifyDBInstance:lose=1"),
        ],
        5,
        RESYNC,
    )
    .await;
    let rds = rds_client(&f.moto);
    postgres_instance(&rds, "legacy-db", &[])
        .db_name("newsread")
        .send()
        .await
        .unwrap();
    rds.create_db_snapshot()
        .db_instance_identifier("legacy-db")
        .db_snapshot_identifier("nightly-1")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key(RESTORABLE)
                .value(format!("{NS}/restored"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    f.create::<Rds>(
        "restored",
        &json!({"restoreFrom": {"dbSnapshotIdentifier": "nightly-1"}}),
    )
    .await;
    let id = aws_id::<Rds>("restored");
    eventually(
        "the restored instance exists and its password was offered",
        || async {
            f.instances(&id).await == [id.clone()]
                && f.proxy.calls().count("ModifyDBInstance", &id) > 0
        },
    )
    .await;
    f.proxy.set_rules(Vec::new());
    ready_within(&f, "restored", &id, Duration::from_secs(75)).await;
    assert_eq!(
        f.instances(&id).await,
        std::slice::from_ref(&id),
        "one instance"
    );
    let calls = f.proxy.calls();
    assert_eq!(
        calls.reached("RestoreDBInstanceFromDBSnapshot", &id),
        1,
        "a lost restore is described, not repeated: {}",
        seen(&f, &id)
    );
    assert_eq!(calls.count("CreateDBInstance", &id), 0);
    let data = crate::database_restore::connection(&f, "restored")
        .await
        .unwrap();
    assert!(data.contains_key("password") && !data.contains_key("pendingPassword"));
    assert_quiet(&f, "the restored instance").await;
    f.op.stop().await;
}
