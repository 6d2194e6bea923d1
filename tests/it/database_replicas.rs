//! Read replicas as AWS really behaves (issue 10, parts 2 and 3), against moto and
//! mocked RDS: replicas follow their primary (class, tags, storage ceiling), are
//! identified by their own tags and deterministic ids (never counted twice from the
//! primary's `ReadReplicaDBInstanceIdentifiers`), and a replica already gone is said
//! so, not reported deleted.

// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbInstance;
use aws_smithy_mocks::mock;
use serde_json::{Value, json};
use tiered::api::ManagedDatabaseSpec;
use tiered::aws::tags::{resource_tags, to_rds_tags};
use tiered::controllers::managed_database::Rds;

use support::data_tier::database::{aws_error, described, instance};
use support::data_tier::{
    Kind, in_progress_message, mock_owner, reconcile_as, reconcile_once, reconcile_until_ready,
};
use support::moto::MotoServer;

fn spec(extra: &Value) -> ManagedDatabaseSpec {
    Rds::spec(extra)
}

fn tags_of(instance: &DbInstance) -> std::collections::BTreeMap<String, String> {
    instance
        .tag_list()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect()
}

async fn describe(ctx: &Rds, id: &str) -> DbInstance {
    support::data_tier::resource(ctx, id).await.expect("exists")
}

/// Source: issue 10 part 2 ("after changing `instanceClass` from `db.t3.micro` to
/// `db.t3.small` on a database with one replica, the replica stays micro; tags,
/// storage ceiling and class must follow").
#[tokio::test]
async fn a_read_replica_follows_its_primarys_class_tags_and_storage_ceiling() {
    let server = MotoServer::start();
    let ctx = Rds::on(&server);
    let ha = json!({"multiAZ": false, "readReplicas": 1});
    let micro = spec(&json!({
        "instanceClass": "db.t3.micro", "highAvailability": ha,
        "tags": {"team": "news", "cost-center": "42"}
    }));
    let report = reconcile_until_ready(&ctx, "db", &micro).await;
    let replica_id = format!("{}-r1", report.id);
    assert_eq!(
        describe(&ctx, &replica_id).await.db_instance_class(),
        Some("db.t3.micro")
    );

    let small = spec(&json!({
        "instanceClass": "db.t3.small", "highAvailability": ha,
        "storage": {"allocatedGiB": 20, "maxAllocatedGiB": 100, "type": "gp3"},
        "applyImmediately": true,
        "tags": {"team": "web"}
    }));
    let report = reconcile_until_ready(&ctx, "db", &small).await;
    assert_eq!(report.observed.replicas.len(), 1);
    let replica = describe(&ctx, &replica_id).await;
    assert_eq!(
        replica.db_instance_class(),
        Some("db.t3.small"),
        "class follows"
    );
    assert_eq!(
        replica.max_allocated_storage(),
        Some(100),
        "ceiling follows"
    );
    let tags = tags_of(&replica);
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("web"),
        "{tags:?}"
    );
    assert!(
        !tags.contains_key("cost-center"),
        "dropped tag removed: {tags:?}"
    );
    assert_eq!(
        tags_of(&describe(&ctx, &report.id).await)
            .get("team")
            .map(String::as_str),
        Some("web")
    );

    let again = reconcile_once(&ctx, "db", &small).await;
    assert_eq!(again.mutations, 0, "converged: {again:?}");
}

/// Source: issue 10 part 3 ("moto lists a retried id twice and keeps a stale one after
/// deletion; read replicas by their own tags instead"): with the primary listing its
/// replica twice, and a replica that no longer exists, the reconcile sees one replica,
/// deletes nothing and creates nothing.
#[tokio::test]
async fn a_replica_listed_twice_or_stale_is_counted_once() {
    let replica_id = "legacy-db-r1";
    let mut primary = instance("available");
    primary.read_replica_db_instance_identifiers = Some(vec![
        replica_id.to_owned(),
        replica_id.to_owned(),
        "legacy-db-r2".to_owned(),
    ]);
    let describe_primary = mock!(Client::describe_db_instances)
        .match_requests(|request| request.filters().is_empty())
        .then_output(move || described(primary.clone()));
    let describe_replicas = mock!(Client::describe_db_instances)
        .match_requests(|request| !request.filters().is_empty())
        .then_output(move || {
            // RDS answers each existing instance once; r2 is gone.
            described(replica(replica_id))
        });
    let delete = mock!(Client::delete_db_instance).then_output(|| {
        aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput::builder().build()
    });
    let create = mock!(Client::create_db_instance_read_replica).then_output(|| {
        aws_sdk_rds::operation::create_db_instance_read_replica::CreateDbInstanceReadReplicaOutput::builder().build()
    });
    let ctx = Rds::mocked(&[&describe_primary, &describe_replicas, &delete, &create]);
    let mut spec = Rds::mock_spec();
    spec.high_availability = Some(serde_json::from_value(json!({"readReplicas": 1})).unwrap());
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert_eq!(delete.num_calls(), 0, "{:?}", report.progress);
    assert_eq!(create.num_calls(), 0, "{:?}", report.progress);
    assert_eq!(report.observed.replicas.len(), 1);
    assert_eq!(report.mutations, 0);
}

fn replica(id: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_status("available")
        .db_instance_class("db.t4g.small")
        .allocated_storage(20)
        .read_replica_source_db_instance_identifier("legacy-db")
        .set_tag_list(Some(to_rds_tags(&resource_tags(
            &mock_owner(),
            &std::collections::BTreeMap::new(),
        ))))
        .build()
}

/// Source: issue 10 part 3 ("'already gone' is logged as 'deleted'"): a replica whose
/// DeleteDBInstance answers DBInstanceNotFound is reported already gone.
#[tokio::test]
async fn a_replica_already_gone_on_delete_is_said_to_be_gone_not_deleted() {
    let replica_id = "legacy-db-r1";
    let mut primary = instance("available");
    primary.read_replica_db_instance_identifiers = Some(vec![replica_id.to_owned()]);
    let describe_primary = mock!(Client::describe_db_instances)
        .match_requests(|request| request.filters().is_empty())
        .then_output(move || described(primary.clone()));
    let describe_replicas = mock!(Client::describe_db_instances)
        .match_requests(|request| !request.filters().is_empty())
        .then_output(move || described(replica(replica_id)));
    let delete = mock!(Client::delete_db_instance)
        .sequence()
        .http_status(404, Some(aws_error("DBInstanceNotFound", "gone")))
        .build();
    let ctx = Rds::mocked(&[&describe_primary, &describe_replicas, &delete]);
    let report = reconcile_as(&ctx, mock_owner(), &Rds::mock_spec()).await;
    assert_eq!(delete.num_calls(), 1);
    let message = in_progress_message(&report.progress);
    assert!(message.contains("already gone"), "{message}");
    assert!(!message.contains("deleting"), "{message}");
}

/// The operator's path: replicas found in the shared fleet read by their own tags and
/// deterministic ids, scaled up, converged with no calls, and scaled down.
#[tokio::test]
async fn replicas_are_found_in_the_fleet_read_by_their_own_identity() {
    let server = MotoServer::start();
    let mut ctx = Rds::on(&server);
    ctx.fleet = Some(std::sync::Arc::new(tiered::aws::fleet::Fleet::new(
        support::fixtures::CLUSTER,
        std::time::Duration::from_mins(5),
    )));
    let one = spec(&json!({"highAvailability": {"multiAZ": false, "readReplicas": 1}}));
    let report = reconcile_until_ready(&ctx, "db", &one).await;
    assert_eq!(report.observed.replicas.len(), 1);
    let converged = reconcile_once(&ctx, "db", &one).await;
    assert_eq!(converged.mutations, 0, "{converged:?}");
    assert_eq!(converged.observed.replicas.len(), 1);

    let none = spec(&json!({"highAvailability": {"multiAZ": false, "readReplicas": 0}}));
    let report = reconcile_until_ready(&ctx, "db", &none).await;
    assert!(report.observed.replicas.is_empty());
    assert!(
        support::data_tier::resource(&ctx, &format!("{}-r1", report.id))
            .await
            .is_none()
    );
}
