//! Issue 13, "done when each point works against moto_server through the `tiered run`
//! binary": the real binary as a child process against the emulator and one
//! moto_server, driven by `kubectl apply` like a GitOps repository would. It walks a
//! primary with engine parameters and an on-demand snapshot, a cross-region replica of
//! it, then (second commit of the repository) the promotion of the replica by its field,
//! a restore from the snapshot and a point-in-time restore of the primary; and checks
//! the outcome in status, in the connection Secrets and in moto (regions, tags, the
//! parameter group, the snapshot), and that the converged set makes no more AWS calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};
use tiered::api::ManagedDatabase;
use tiered::api::replication::ReplicationRole;
use tiered::aws::naming::{rds_instance_identifier, rds_replica_of_identifier};
use tiered::controllers::managed_database::Rds;

use crate::harness_kubectl::Kubectl;
use crate::support::aws_reads::{
    db_snapshot, has_parameter_group, instance, parameter_values, rds_in, rds_tag,
};
use crate::support::data_tier::{Kind, merged, object};
use crate::support::moto::{MotoServer, rds_client};
use crate::support::operator::{emulator, secret_text};
use crate::support::process::OperatorProcess;

const NS: &str = "shop";
/// `TIERED_CLUSTER_NAME` of [`OperatorProcess`].
const CLUSTER: &str = "e2e";
const DR_REGION: &str = "eu-west-1";
const SNAPSHOT: &str = "before-migration";

/// The ManagedDatabase `name` with the operator tests' spec and `extra`, as YAML.
fn manifest(name: &str, extra: &Value) -> String {
    let spec = merged(<Rds as Kind>::manifest_spec(), extra);
    serde_norway::to_string(&object::<Rds>(NS, name, &spec)).unwrap()
}

struct Day2 {
    databases: Api<ManagedDatabase>,
    secrets: Api<Secret>,
}

impl Day2 {
    fn new(client: &kube::Client) -> Self {
        Self {
            databases: Api::namespaced(client.clone(), NS),
            secrets: Api::namespaced(client.clone(), NS),
        }
    }

    async fn get(&self, name: &str) -> Option<ManagedDatabase> {
        self.databases.get_opt(name).await.unwrap()
    }

    async fn ready(&self, name: &str) -> bool {
        self.get(name)
            .await
            .and_then(|db| db.status)
            .and_then(|status| status.conditions.into_iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|ready| ready.status == "True")
    }

    /// The Ready condition of each of `names`, for failure messages.
    async fn conditions(&self, names: &[&str]) -> String {
        let mut out = String::new();
        for name in names {
            let ready = self
                .get(name)
                .await
                .and_then(|db| db.status)
                .and_then(|status| status.conditions.into_iter().find(|c| c.type_ == "Ready"))
                .map(|c| format!("{} {}: {}", c.status, c.reason, c.message));
            let _ = write!(out, "\n  {name}: {ready:?}");
        }
        out
    }

    async fn role(&self, name: &str) -> Option<ReplicationRole> {
        self.get(name)
            .await
            .and_then(|db| db.status?.replication)
            .map(|replication| replication.role)
    }

    async fn connection(&self, name: &str) -> BTreeMap<String, String> {
        self.secrets
            .get_opt(&format!("{name}-connection"))
            .await
            .unwrap()
            .map(|secret| secret_text(&secret))
            .unwrap_or_default()
    }

    /// Waits until every one of `names` is Ready and `more` holds.
    async fn all_ready<F, Fut>(&self, names: &[&str], limit: Duration, mut more: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        loop {
            let mut ready = true;
            for name in names {
                ready &= self.ready(name).await;
            }
            if ready && more().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not converged within {limit:?}:{}",
                self.conditions(names).await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `tiered_aws_calls_total` of the RDS `operation` (every region).
async fn aws_calls(operator: &OperatorProcess, operation: &str) -> u64 {
    operator.aws_calls("rds", |op| op == operation).await
}

/// The primary's owned parameter group: named for the family, attached, with the values.
async fn assert_parameters(
    east: &aws_sdk_rds::Client,
    primary_id: &str,
    status: &tiered::api::ManagedDatabaseStatus,
) {
    // Parameters: the owned group of the family, attached, with the spec's values.
    let group = status.parameter_group.clone().unwrap();
    assert_eq!(group.name, format!("{primary_id}-postgres16"));
    let primary = instance(east, primary_id).await.unwrap();
    has_parameter_group(&primary, &group.name).expect("the group is attached");
    let set = parameter_values(east, &group.name, Some("user")).await;
    assert_eq!(set.get("max_connections").map(String::as_str), Some("200"));
    assert_eq!(
        set.get("shared_preload_libraries").map(String::as_str),
        Some("pg_stat_statements")
    );
}

/// The snapshot on demand, in status and in RDS, tagged as tiered's; its identifier.
async fn assert_snapshot(
    east: &aws_sdk_rds::Client,
    primary_id: &str,
    status: &tiered::api::ManagedDatabaseStatus,
) -> String {
    // The snapshot on demand: in status and in RDS, tagged as tiered's.
    let taken = status
        .snapshots
        .iter()
        .find(|s| s.name == SNAPSHOT)
        .unwrap()
        .identifier
        .clone();
    let snapshot = db_snapshot(east, &taken).await;
    assert_eq!(snapshot.db_instance_identifier(), Some(primary_id));
    assert_eq!(snapshot.status(), Some("available"));
    assert_eq!(
        rds_tag(snapshot.tag_list(), "tiered.io/name"),
        Some("primary")
    );

    taken
}

/// Both restores: one instance each, by the restore calls, owned like any other.
async fn assert_restored(day2: &Day2, east: &aws_sdk_rds::Client, operator: &OperatorProcess) {
    // Both restores: one instance each, by the restore calls, owned like any other.
    assert_eq!(
        aws_calls(operator, "RestoreDBInstanceFromDBSnapshot").await,
        1
    );
    assert_eq!(
        aws_calls(operator, "RestoreDBInstanceToPointInTime").await,
        1
    );
    assert_eq!(
        aws_calls(operator, "CreateDBInstance").await,
        1,
        "the primary only"
    );
    for name in ["restored", "pitr"] {
        let id = rds_instance_identifier(CLUSTER, NS, name);
        let restored = instance(east, &id)
            .await
            .unwrap_or_else(|| panic!("{id} exists"));
        assert_eq!(rds_tag(restored.tag_list(), "tiered.io/name"), Some(name));
        assert_eq!(
            rds_tag(restored.tag_list(), "tiered.io/cluster"),
            Some(CLUSTER)
        );
        let status = day2.get(name).await.unwrap().status.unwrap();
        assert_eq!(status.identifier.as_deref(), Some(id.as_str()));
        let data = day2.connection(name).await;
        assert!(
            !data.contains_key("pendingPassword"),
            "{name}: {:?}",
            data.keys()
        );
        assert_eq!(data["database"], "newsread");
    }
}

/// The replica in its region with the primary's ARN and its own parameter group,
/// nothing in the home region, and its Secret pointing at it without a password.
async fn assert_replica(
    day2: &Day2,
    east: &aws_sdk_rds::Client,
    west: &aws_sdk_rds::Client,
    status: &tiered::api::ManagedDatabaseStatus,
) {
    let replica_id = rds_replica_of_identifier(CLUSTER, NS, "dr");
    let primary_arn = status.arn.clone().unwrap();
    let in_west = instance(west, &replica_id)
        .await
        .expect("the replica is in eu-west-1");
    assert_eq!(
        in_west.read_replica_source_db_instance_identifier(),
        Some(primary_arn.as_str())
    );
    assert_eq!(rds_tag(in_west.tag_list(), "tiered.io/name"), Some("dr"));
    assert!(instance(east, &replica_id).await.is_none());
    has_parameter_group(&in_west, &format!("{replica_id}-postgres16"))
        .expect("the replica has its own group in its region");
    let dr = day2.connection("dr").await;
    assert!(dr["host"].contains(DR_REGION), "{}", dr["host"]);
    assert!(!dr.contains_key("password"), "{:?}", dr.keys());
}

/// Source: issue 13 ("Done when each point works against moto_server through the
/// `tiered run` binary"): parts 1 (cross-region replica, promotion by the field),
/// 2 (restore from a DB snapshot, point-in-time restore), 3 (a snapshot on demand) and
/// 4 (engine parameters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_replica_promotion_restores_snapshots_and_parameters_on_moto() {
    let started = Instant::now();
    let moto = MotoServer::start();
    let emulator = emulator(&[NS], false).await;
    let kubectl = Kubectl::new(&emulator);
    let operator = OperatorProcess::start_on_moto(&kubectl.kubeconfig, &moto).await;
    let day2 = Day2::new(&emulator.client());
    let east = rds_client(&moto);
    let west = rds_in(&moto, DR_REGION);
    let primary_id = rds_instance_identifier(CLUSTER, NS, "primary");
    let replica_id = rds_replica_of_identifier(CLUSTER, NS, "dr");

    // First commit: the primary, tuned, with a snapshot request; its DR replica.
    let primary = json!({
        "deletionPolicy": "Delete",
        "parameters": {"max_connections": "200", "shared_preload_libraries": "pg_stat_statements"},
        "snapshots": [{"name": SNAPSHOT}]
    });
    // The replica has the primary's parameters in a group of its own region, so that it
    // behaves the same once promoted.
    let replica = |promote: bool| {
        json!({
            "deletionPolicy": "Delete",
            "region": DR_REGION,
            "replicaOf": {"managedDatabase": "primary", "promote": promote},
            "parameters": {"max_connections": "200"}
        })
    };
    kubectl
        .accepted(&format!(
            "{}---\n{}",
            manifest("primary", &primary),
            manifest("dr", &replica(false))
        ))
        .await;
    day2.all_ready(&["primary", "dr"], Duration::from_mins(1), || async {
        let snapshot_taken = day2
            .get("primary")
            .await
            .and_then(|db| db.status)
            .is_some_and(|status| {
                status.parameter_group.is_some()
                    && status.snapshots.iter().any(|s| s.state == "available")
            });
        snapshot_taken && day2.role("dr").await == Some(ReplicationRole::Replica)
    })
    .await;
    let phase_one = started.elapsed();

    let status = day2.get("primary").await.unwrap().status.unwrap();
    assert_parameters(&east, &primary_id, &status).await;
    let taken = assert_snapshot(&east, &primary_id, &status).await;
    assert_replica(&day2, &east, &west, &status).await;
    assert_eq!(
        aws_calls(&operator, "PromoteReadReplica").await,
        0,
        "never by itself"
    );

    // Second commit: promote the replica; restore the snapshot; restore a point in time.
    let phase_two = Instant::now();
    let restored = json!({
        "deletionPolicy": "Delete",
        "restoreFrom": {"dbSnapshotIdentifier": taken}
    });
    let pitr = json!({
        "deletionPolicy": "Delete",
        "restoreFrom": {"sourceDBInstanceIdentifier": primary_id, "useLatestRestorableTime": true}
    });
    kubectl
        .accepted(&format!(
            "{}---\n{}---\n{}---\n{}",
            manifest("primary", &primary),
            manifest("dr", &replica(true)),
            manifest("restored", &restored),
            manifest("pitr", &pitr)
        ))
        .await;
    let everything = ["primary", "dr", "restored", "pitr"];
    day2.all_ready(&everything, Duration::from_secs(150), || async {
        day2.role("dr").await == Some(ReplicationRole::Primary)
            && day2.connection("dr").await.contains_key("password")
            && day2.connection("restored").await.contains_key("password")
            && day2.connection("pitr").await.contains_key("password")
    })
    .await;
    let phase_two = phase_two.elapsed();

    // Promoted once, recorded on the instance, in its region.
    assert_eq!(aws_calls(&operator, "PromoteReadReplica").await, 1);
    let promoted = instance(&west, &replica_id).await.unwrap();
    assert!(rds_tag(promoted.tag_list(), "tiered.io/promoted").is_some());
    let dr = day2.connection("dr").await;
    assert!(!dr.contains_key("pendingPassword"), "{:?}", dr.keys());

    assert_restored(&day2, &east, &operator).await;

    // Converged: no more mutating calls across a few resyncs (TIERED_RESYNC=1s).
    operator
        .assert_quiet("rds", Duration::from_secs(4), "a converged day-2 set")
        .await;
    println!(
        "day-2 through the binary on moto: primary, parameters, snapshot and replica Ready in {phase_one:?}; promotion and both restores Ready in {phase_two:?}; total {:?}",
        started.elapsed()
    );
    drop(operator);
}
