//! A tier of a running app and its database's day-2 windows (found by the outside trial
//! of session 8): a ManagedDatabase of a running app is not Ready whenever RDS or tiered
//! works on it (a backup, a modification, a parameter change), and the tiers that use
//! it were frozen for as long as that lasted, so a fix to a tier's image was silently
//! not applied. DESIGN.md holds the first rollout until the database is Ready; a tier
//! already running on the database's current connection Secret now takes its own
//! changes meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tiered::api::{ManagedDatabase, TieredApp};

use support::moto::{MotoServer, aws_config};
use support::operator::{eventually, start_with_aws, two_tier_app};

const NS: &str = "shop";

async fn database_ready(databases: &Api<ManagedDatabase>) -> bool {
    let db = databases.get("newsread-db").await.unwrap();
    db.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

async fn api_image(deployments: &Api<Deployment>) -> Option<String> {
    deployments
        .get_opt("newsread-api")
        .await
        .unwrap()
        .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone())
}

#[tokio::test]
async fn a_rolled_out_tier_takes_an_image_fix_while_its_database_is_not_ready() {
    let moto = MotoServer::start();
    let op = start_with_aws(&[NS], &aws_config(&moto)).await;
    let databases: Api<ManagedDatabase> = Api::namespaced(op.client.clone(), NS);
    let db: ManagedDatabase = serde_json::from_value(json!({
        "apiVersion": "tiered.io/v1alpha1",
        "kind": "ManagedDatabase",
        "metadata": {"name": "newsread-db", "namespace": NS},
        "spec": {
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.r6g.large",
            "storage": {"allocatedGiB": 20},
            "databaseName": "news",
            "masterUsername": "app",
            "deletionPolicy": "Delete",
            "parameters": {"max_connections": "200", "work_mem": "4096"}
        }
    }))
    .unwrap();
    databases.create(&PostParams::default(), &db).await.unwrap();
    eventually("the database is Ready", || database_ready(&databases)).await;

    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].database = Some(tiered::api::shared::LocalRef {
        name: "newsread-db".to_owned(),
    });
    apps.create(&PostParams::default(), &app).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    eventually("the api tier is rolled out", || async {
        api_image(&deployments).await.is_some()
    })
    .await;

    // A day-2 change keeps the database not Ready while its instance serves: moto has
    // no ResetDBParameterGroup, so removing a parameter is retried (a stand-in for a
    // backup or a modification).
    databases
        .patch(
            "newsread-db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"parameters": {"work_mem": null}}})),
        )
        .await
        .unwrap();
    eventually("the database is not Ready", || async {
        !database_ready(&databases).await
    })
    .await;

    let fixed = "ghcr.io/acme/api:hotfix";
    apps.patch(
        "newsread",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "replace", "path": "/spec/tiers/1/image", "value": fixed}
            ]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while api_image(&deployments).await.as_deref() != Some(fixed) {
        assert!(
            Instant::now() < deadline,
            "the api tier's image fix was not applied in 20 s while its database was not Ready"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !database_ready(&databases).await,
        "the database must still be not Ready, else this shows nothing"
    );
    op.stop().await;
}
