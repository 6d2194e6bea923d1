//! Proves the test harness is real: the Rust AWS SDK drives RDS and ElastiCache in a
//! private `moto_server`, and the tools that `scripts/test.sh` installs run.
//!
//! These tests also pin the moto behaviour that the operator's tests lean on, quirks
//! included (each is marked "moto quirk"), so that a moto upgrade that changes one
//! fails here first, with a name that says which.

// Helpers outside `#[test]` functions are test code too; clippy.toml's
// allow-*-in-tests covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::expect_used, clippy::panic)]

use crate::support;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use aws_sdk_elasticache::types::{AutomaticFailoverStatus, MultiAzStatus};
use aws_sdk_rds::types::DbInstance;
use support::aws_reads::{
    db_snapshot, elasticache_tags, instance, replication_group, replication_groups,
};
use support::data_tier::cache::valkey_group;
use support::data_tier::database::postgres_instance;
use support::moto::{
    ACCOUNT_ID, MotoServer, REGION, assert_no_cache_parameter_groups, elasticache_client,
    rds_client, tag_pairs,
};

const DB_ID: &str = "tiered-test-newsread-db";
const CACHE_ID: &str = "tiered-test-newsread";

// ---------------------------------------------------------------- the harness itself

#[test]
fn moto_server_stops_when_its_handle_is_dropped() {
    let server = MotoServer::start();
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port()));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok(),
        "moto_server should listen on {addr} once started"
    );
    drop(server);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "moto_server still listens on {addr} after its handle was dropped"
    );
}

#[tokio::test]
async fn two_moto_servers_share_no_state() {
    let first = MotoServer::start();
    let second = MotoServer::start();
    assert_ne!(first.port(), second.port());
    create_postgres_instance(&rds_client(&first), DB_ID).await;

    assert_no_instance(
        &rds_client(&second),
        DB_ID,
        "the second server must not know the first server's instance",
    )
    .await;
}

#[test]
fn kubectl_from_the_test_tools_runs() {
    let output = Command::new(support::tools::kubectl_path())
        .args(["version", "--client=true", "--output=json"])
        .output()
        .expect("failed to run kubectl");
    assert!(output.status.success(), "kubectl failed: {output:?}");
    let version: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("kubectl printed no JSON");
    let minor = version["clientVersion"]["minor"]
        .as_str()
        .unwrap_or_default();
    assert!(
        minor.parse::<u32>().is_ok_and(|m| m >= 30),
        "expected a recent kubectl, got {version}"
    );
}

// ---------------------------------------------------------------------------- RDS

/// The one instance `id` as DescribeDBInstances reports it.
async fn described_instance(rds: &aws_sdk_rds::Client, id: &str) -> DbInstance {
    instance(rds, id)
        .await
        .unwrap_or_else(|| panic!("expected the instance {id}"))
}

/// Checks that DescribeDBInstances of `id` answers DBInstanceNotFound (`why` it must).
async fn assert_no_instance(rds: &aws_sdk_rds::Client, id: &str, why: &str) {
    let err = rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .expect_err(why);
    assert!(err.into_service_error().is_db_instance_not_found_fault());
}

async fn create_postgres_instance(rds: &aws_sdk_rds::Client, id: &str) {
    postgres_instance(
        rds,
        id,
        &[("tiered.io/name", "newsread-db"), ("team", "news")],
    )
    .db_name("newsread")
    .multi_az(true)
    .storage_encrypted(true)
    .send()
    .await
    .expect("CreateDBInstance failed");
}

/// A private moto holding the instance [`DB_ID`], with an RDS client on it.
async fn moto_with_an_instance() -> (MotoServer, aws_sdk_rds::Client) {
    let server = MotoServer::start();
    let rds = rds_client(&server);
    create_postgres_instance(&rds, DB_ID).await;
    (server, rds)
}

#[tokio::test]
async fn rds_instance_is_created_described_and_deleted_with_a_final_snapshot() {
    let (_server, rds) = moto_with_an_instance().await;

    let db = described_instance(&rds, DB_ID).await;
    // moto quirk: a new instance is `available` at once; real RDS goes through
    // `creating` (and `backing-up`) for minutes. Waiting states need aws-smithy-mocks.
    assert_eq!(db.db_instance_status(), Some("available"));
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(db.engine_version(), Some("16.4"));
    assert_eq!(db.db_name(), Some("newsread"));
    assert_eq!(db.master_username(), Some("app"));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(
        db.db_instance_arn(),
        Some(format!("arn:aws:rds:{REGION}:{ACCOUNT_ID}:db:{DB_ID}").as_str())
    );
    let endpoint = db
        .endpoint()
        .expect("an available instance has an endpoint");
    // moto quirk: the endpoint is a made-up name under rds.amazonaws.com; nothing listens.
    let address = endpoint.address().unwrap_or_default();
    assert!(address.starts_with(DB_ID), "endpoint {address:?}");
    assert_eq!(endpoint.port(), Some(5432));
    let mut tags = tag_pairs(db.tag_list());
    tags.sort_unstable();
    assert_eq!(tags, [("team", "news"), ("tiered.io/name", "newsread-db")]);

    let final_snapshot = format!("{DB_ID}-final-20260101000000");
    let deleted = rds
        .delete_db_instance()
        .db_instance_identifier(DB_ID)
        .skip_final_snapshot(false)
        .final_db_snapshot_identifier(&final_snapshot)
        .send()
        .await
        .expect("DeleteDBInstance failed");
    assert_eq!(
        deleted.db_instance().and_then(|d| d.db_instance_status()),
        Some("deleting")
    );

    let snapshot = db_snapshot(&rds, &final_snapshot).await;
    assert_eq!(snapshot.db_instance_identifier(), Some(DB_ID));
    assert_eq!(snapshot.snapshot_type(), Some("manual"));
    assert_eq!(snapshot.engine(), Some("postgres"));

    // moto quirk: the instance is gone at once (real RDS shows `deleting` for minutes).
    assert_no_instance(&rds, DB_ID, "the deleted instance should be gone").await;
}

#[tokio::test]
async fn rds_refuses_to_delete_an_instance_with_deletion_protection() {
    let (_server, rds) = moto_with_an_instance().await;
    rds.modify_db_instance()
        .db_instance_identifier(DB_ID)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .expect("ModifyDBInstance failed");

    let err = rds
        .delete_db_instance()
        .db_instance_identifier(DB_ID)
        .skip_final_snapshot(true)
        .send()
        .await
        .expect_err("deletion protection should block the delete");
    let message = format!("{:?}", err.into_service_error());
    assert!(message.contains("deletion protection"), "{message}");
}

// --------------------------------------------------------------------- ElastiCache

async fn create_valkey_group(cache: &aws_sdk_elasticache::Client, id: &str) {
    // What `replicasPerShard: 2` becomes: a primary and two replicas in one shard.
    valkey_group(cache, id, &[("tiered.io/name", "newsread-cache")])
        .replication_group_description("newsread cache")
        .engine_version("8.0")
        .cache_node_type("cache.r7g.large")
        .auth_token("not-a-secret-auth-token-0123456789")
        .send()
        .await
        .expect("CreateReplicationGroup failed");
}

/// A private moto holding the replication group [`CACHE_ID`], with an ElastiCache
/// client on it.
async fn moto_with_a_group() -> (MotoServer, aws_sdk_elasticache::Client) {
    let server = MotoServer::start();
    let cache = elasticache_client(&server);
    create_valkey_group(&cache, CACHE_ID).await;
    (server, cache)
}

#[tokio::test]
async fn elasticache_replication_group_is_created_and_described_with_its_tags() {
    let (_server, cache) = moto_with_a_group().await;

    let group = replication_group(&cache, CACHE_ID).await;
    // moto quirk: `available` at once, like RDS (real ElastiCache: `creating`).
    assert_eq!(group.status(), Some("available"));
    // moto quirk: any engine name is accepted and echoed back; moto does not check
    // engine versions or node types either.
    assert_eq!(group.engine(), Some("valkey"));
    assert_eq!(
        group.member_clusters(),
        [
            format!("{CACHE_ID}-001"),
            format!("{CACHE_ID}-002"),
            format!("{CACHE_ID}-003")
        ]
    );
    assert_eq!(
        group
            .automatic_failover()
            .map(AutomaticFailoverStatus::as_str),
        Some("enabled")
    );
    assert_eq!(group.multi_az().map(MultiAzStatus::as_str), Some("enabled"));
    assert_eq!(group.transit_encryption_enabled(), Some(true));
    assert_eq!(group.auth_token_enabled(), Some(true));
    assert_eq!(group.snapshot_retention_limit(), Some(5));
    let [node_group] = group.node_groups() else {
        panic!(
            "cluster mode disabled means one node group, got {:?}",
            group.node_groups()
        );
    };
    let primary = node_group.primary_endpoint().expect("a primary endpoint");
    assert!(primary.address().is_some_and(|a| a.starts_with("master.")));
    assert_eq!(primary.port(), Some(6379));
    // moto quirk: no ReaderEndpoint in the node group (real ElastiCache has one when
    // cluster mode is off). Each member's ReadEndpoint is there; `readerHost` in the
    // connection Secret needs aws-smithy-mocks for its real-AWS shape.
    assert_eq!(node_group.reader_endpoint(), None);
    let roles: Vec<_> = node_group
        .node_group_members()
        .iter()
        .map(|m| (m.current_role(), m.read_endpoint().is_some()))
        .collect();
    assert_eq!(
        roles,
        [
            (Some("primary"), true),
            (Some("replica"), true),
            (Some("replica"), true)
        ]
    );

    let arn = group.arn().expect("a replication group has an ARN");
    assert_eq!(
        arn,
        format!("arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:replicationgroup:{CACHE_ID}")
    );
    let tags = elasticache_tags(&cache, arn).await;
    assert_eq!(
        tags,
        [("tiered.io/name".to_owned(), "newsread-cache".to_owned())]
    );
}

#[tokio::test]
async fn moto_keeps_a_deleted_replication_group_in_deleting_for_ever() {
    let (_server, cache) = moto_with_a_group().await;

    let deleted = cache
        .delete_replication_group()
        .replication_group_id(CACHE_ID)
        .send()
        .await
        .expect("DeleteReplicationGroup failed");
    assert_eq!(
        deleted.replication_group().and_then(|g| g.status()),
        Some("deleting")
    );
    // moto quirk: a deleted replication group never goes away; it stays `deleting` in
    // every later describe (real ElastiCache: gone after a few minutes). Operator tests
    // must treat `deleting` as deleted, as the operator itself does. Should this start
    // failing, moto now removes it: update the note in README.md.
    let after = replication_groups(&cache, CACHE_ID).await;
    let statuses: Vec<_> = after.iter().map(|g| g.status()).collect();
    assert_eq!(statuses, [Some("deleting")]);
}

#[tokio::test]
async fn moto_ignores_the_final_snapshot_of_a_deleted_replication_group_but_keeps_explicit_ones() {
    let (_server, cache) = moto_with_a_group().await;

    // What the operator can do instead of trusting FinalSnapshotIdentifier under moto:
    // take the snapshot explicitly, then delete.
    let explicit = format!("{CACHE_ID}-before-delete");
    cache
        .create_snapshot()
        .replication_group_id(CACHE_ID)
        .snapshot_name(&explicit)
        .send()
        .await
        .expect("CreateSnapshot failed");

    let final_snapshot = format!("{CACHE_ID}-final");
    cache
        .delete_replication_group()
        .replication_group_id(CACHE_ID)
        .final_snapshot_identifier(&final_snapshot)
        .send()
        .await
        .expect("DeleteReplicationGroup failed");

    let kept = cache
        .describe_snapshots()
        .snapshot_name(&explicit)
        .send()
        .await
        .expect("the explicit snapshot should exist");
    let [snapshot] = kept.snapshots() else {
        panic!("expected one snapshot, got {:?}", kept.snapshots());
    };
    assert_eq!(snapshot.replication_group_id(), Some(CACHE_ID));

    // moto quirk: DeleteReplicationGroup ignores FinalSnapshotIdentifier (moto 5.2.5).
    // Should this start failing, moto now takes it: update the note in README.md.
    let err = cache
        .describe_snapshots()
        .snapshot_name(&final_snapshot)
        .send()
        .await
        .expect_err("moto 5.2.5 takes no final snapshot on DeleteReplicationGroup");
    assert!(err.into_service_error().is_snapshot_not_found_fault());
}

#[tokio::test]
async fn moto_ignores_num_cache_clusters_and_counts_replicas_per_node_group_only() {
    let server = MotoServer::start();
    let cache = elasticache_client(&server);
    let created = cache
        .create_replication_group()
        .replication_group_id(CACHE_ID)
        .replication_group_description("three nodes, said the AWS way for cluster mode off")
        .engine("valkey")
        .cache_node_type("cache.t4g.micro")
        .num_cache_clusters(3)
        .send()
        .await
        .expect("CreateReplicationGroup failed");

    // moto quirk (5.2.5): with cluster mode disabled, NumCacheClusters is ignored and
    // the group gets 1 + ReplicasPerNodeGroup members (real ElastiCache: 3 here). The
    // operator sends ReplicasPerNodeGroup, which both understand.
    let members = created
        .replication_group()
        .map(|g| g.member_clusters().len());
    assert_eq!(members, Some(1));
}

/// moto quirk (5.2.5): RDS has no ResetDBParameterGroup, so a parameter removed from
/// `spec.parameters` is retried (the ManagedDatabase stays not Ready) on moto, where
/// real RDS resets it to the family default; ElastiCache has no cache parameter groups
/// at all. The operator's parameter tests use `aws-smithy-mocks` for both (found by the
/// outside trial of session 8, which met them in the demo).
#[tokio::test]
async fn moto_has_no_reset_db_parameter_group_and_no_cache_parameter_groups() {
    let server = MotoServer::start();
    let rds = rds_client(&server);
    rds.create_db_parameter_group()
        .db_parameter_group_name("tuned-postgres16")
        .db_parameter_group_family("postgres16")
        .description("a group to reset")
        .send()
        .await
        .expect("CreateDBParameterGroup failed");
    let reset = rds
        .reset_db_parameter_group()
        .db_parameter_group_name("tuned-postgres16")
        .reset_all_parameters(true)
        .send()
        .await;
    assert!(
        reset.is_err(),
        "moto now answers ResetDBParameterGroup: {reset:?}"
    );

    assert_no_cache_parameter_groups(&elasticache_client(&server)).await;
}
