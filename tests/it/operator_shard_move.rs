//! Moving an object between shards (`--watch-label-selector`) while its create is in
//! flight: the shard that lost it finishes its pass late (a slow CreateDBInstance whose
//! answer is lost, then the SDK's retry held), after the new shard has made the database
//! Ready. The late pass must not write its status over the new shard's: nobody would
//! correct it before the new shard's resync (5 minutes by default), and Argo CD would
//! wait on a Ready database all that time.

use crate::support;

use std::time::{Duration, Instant};

use aws_faults::{Calls, Proxy};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use support::data_tier::{Kind, merged, object};
use support::faults::rules;
use support::moto::{MotoServer, aws_config, aws_config_at};
use support::operator::{
    Instance, emulator, eventually, find_condition, launch_with_aws, test_config,
};
use tiered::api::ManagedDatabase;
use tiered::aws::naming::rds_instance_identifier;
use tiered::controllers::managed_database::Rds;

const NS: &str = "shop";
const NAME: &str = "orders";
const SHARD_LABEL: &str = "tiered.io/shard";
/// How long the blue shard's CreateDBInstance sits in the fault layer.
const SLOW_CREATE: Duration = Duration::from_secs(3);

/// An operator of shard `shard` on `aws`, resyncing converged objects only every
/// 5 minutes (the default), so that a wrong status is not hidden by a resync.
async fn shard(client: &kube::Client, shard: &str, aws: &aws_config::SdkConfig) -> Instance {
    let mut config = test_config(&[NS]);
    config.watch_label_selector = Some(format!("{SHARD_LABEL}={shard}"));
    config.resync = Duration::from_mins(5);
    launch_with_aws(client.clone(), config, aws).await
}

/// `(status, reason)` of the database's Ready condition.
async fn ready(databases: &Api<ManagedDatabase>) -> Option<(String, String)> {
    let status = databases.get(NAME).await.unwrap().status?;
    find_condition(&status.conditions, "Ready").map(|c| (c.0, c.1))
}

/// Whether the fault layer has seen the blue shard's CreateDBInstance of `id`.
fn create_seen(calls: &Calls, id: &str) -> bool {
    calls.count("CreateDBInstance", id) > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_of_the_shard_an_object_left_does_not_overwrite_the_new_shards_status() {
    let moto = MotoServer::start();
    // Blue's AWS is slow to create and loses the answer (AWS acted), so its pass ends
    // well after the object has moved; green talks to moto directly.
    let latency = format!(
        "CreateDBInstance:lose=1,latency={}s@1",
        SLOW_CREATE.as_secs()
    );
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &moto.endpoint(),
        rules(&[latency.as_str()]),
        1,
    )
    .await
    .unwrap();
    let emulator = emulator(&[NS], false).await;
    let client = emulator.client();
    let blue = shard(&client, "blue", &aws_config_at(&proxy.endpoint())).await;
    let green = shard(&client, "green", &aws_config(&moto)).await;

    let spec = merged(
        <Rds as Kind>::manifest_spec(),
        &json!({"deletionPolicy": "Delete"}),
    );
    let mut database = object::<Rds>(NS, NAME, &spec);
    database
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(SHARD_LABEL.to_owned(), "blue".to_owned());
    let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), NS);
    databases
        .create(&PostParams::default(), &database)
        .await
        .unwrap();
    let id = rds_instance_identifier("test", NS, NAME);
    eventually("the blue shard sends CreateDBInstance", || async {
        create_seen(proxy.calls(), &id)
    })
    .await;
    let seen = Instant::now();

    // While blue's create is in flight, the object moves to the green shard.
    let relabel = json!({"metadata": {"labels": {SHARD_LABEL: "green"}}});
    databases
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    eventually("the green shard makes the database Ready", || async {
        ready(&databases).await.is_some_and(|r| r.0 == "True")
    })
    .await;
    // Blue's create reaches AWS SLOW_CREATE after it was seen, its answer is lost and
    // the SDK's retry is held at once: the late pass ends moments later. The status
    // must stay green's through that and after.
    while seen.elapsed() < SLOW_CREATE + Duration::from_secs(4) {
        assert_eq!(
            ready(&databases).await,
            Some(("True".to_owned(), "Ready".to_owned())),
            "the status stays the green shard's; blue's late pass wrote over it"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        proxy.calls().count("CreateDBInstance", &id) == 1,
        "blue's retry of the lost create was held, not sent"
    );
    blue.stop().await;
    green.stop().await;
}
