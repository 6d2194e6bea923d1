//! Ownership of the connection Secret `<name>-connection` with the operator on the
//! emulator and a private `moto_server`: one controlling owner per Secret (a
//! ManagedDatabase and a CacheCluster of one name: the later is `Stalled`
//! `SecretConflict`), and a Secret someone else made is neither written nor read (it
//! never chooses the master password; the database is not created at all).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use tiered::api::CacheCluster;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::managed_database::Rds;

use support::data_tier::cache::all_groups;
use support::data_tier::database::all_instances;
use support::data_tier::operator::{NS, condition, setup};
use support::data_tier::{Kind, object};
use support::operator::{create_foreign, eventually, secret_text};

async fn snapshot(secrets: &Api<Secret>, name: &str) -> Value {
    serde_json::to_value(secrets.get(name).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_database_and_a_cache_of_one_name_the_later_stalls_and_the_secret_stays_the_databases() {
    let s = setup::<Rds>().await;
    s.create(&json!({})).await;
    s.wait_ready().await;
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let name = format!("{}-connection", Rds::OBJECT);
    let before = snapshot(&secrets, &name).await;
    assert!(secret_text(&secrets.get(&name).await.unwrap()).contains_key("password"));

    let caches: Api<CacheCluster> = Api::namespaced(s.op.client.clone(), NS);
    let cache = object::<ElastiCache>(NS, Rds::OBJECT, &ElastiCache::manifest_spec());
    caches.create(&PostParams::default(), &cache).await.unwrap();
    eventually("the cache is Stalled SecretConflict", || async {
        caches.get(Rds::OBJECT).await.is_ok_and(|cache| {
            condition::<ElastiCache>(&cache, "Stalled")
                .is_some_and(|(status, reason, _)| status == "True" && reason == "SecretConflict")
        })
    })
    .await;
    let cache = caches.get(Rds::OBJECT).await.unwrap();
    let (ready, _, message) = condition::<ElastiCache>(&cache, "Ready").unwrap();
    assert_eq!(ready, "False");
    assert!(
        message.contains(&format!("Secret {name}"))
            && message.contains(&format!("ManagedDatabase/{}", Rds::OBJECT)),
        "{message}"
    );
    // Give the cache's controller a few passes: it never writes the Secret.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(snapshot(&secrets, &name).await, before);
    let database = s.objects.get(Rds::OBJECT).await.unwrap();
    assert_eq!(condition::<Rds>(&database, "Ready").unwrap().0, "True");
    assert!(all_groups(&ElastiCache::on(&s.moto)).await.is_empty());
    s.op.stop().await;
}

#[tokio::test]
async fn a_connection_secret_made_beforehand_by_someone_else_never_chooses_the_password() {
    let s = setup::<Rds>().await;
    let name = format!("{}-connection", Rds::OBJECT);
    let (secrets, _) = create_foreign::<Secret>(
        &s.op.client,
        NS,
        json!({
            "metadata": {"name": name},
            "stringData": {"password": "chosen-by-someone-else"}
        }),
    )
    .await;
    let before = snapshot(&secrets, &name).await;

    s.create(&json!({})).await;
    let database = s.wait_for("Stalled", "True", Some("SecretConflict")).await;
    let (_, _, message) = condition::<Rds>(&database, "Stalled").unwrap();
    assert!(
        message.contains(&format!("Secret {name}")) && message.contains("not managed by tiered"),
        "{message}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        all_instances(&Rds::on(&s.moto)).await.is_empty(),
        "no instance is created while the Secret is someone else's"
    );
    assert_eq!(snapshot(&secrets, &name).await, before);
    s.op.stop().await;
}
