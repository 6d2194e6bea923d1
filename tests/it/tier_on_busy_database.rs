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
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tiered::api::{ManagedDatabase, TieredApp};

use support::moto::{MotoServer, aws_config};
use support::operator::{Running, eventually, eventually_condition, start_with_aws, two_tier_app};

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

/// The operator on moto with the ManagedDatabase `newsread-db` (its spec: a small
/// PostgreSQL instance with `spec` merged over it) Ready, and the TieredApp `newsread`
/// whose `api` tier uses it rolled out.
struct Shop {
    _moto: MotoServer,
    op: Running,
    databases: Api<ManagedDatabase>,
    apps: Api<TieredApp>,
    deployments: Api<Deployment>,
}

impl Shop {
    async fn start(spec: serde_json::Value) -> Self {
        let moto = MotoServer::start();
        let op = start_with_aws(&[NS], &aws_config(&moto)).await;
        let databases: Api<ManagedDatabase> = Api::namespaced(op.client.clone(), NS);
        let mut db = json!({
            "apiVersion": "tiered.io/v1alpha1",
            "kind": "ManagedDatabase",
            "metadata": {"name": "newsread-db", "namespace": NS},
            "spec": {
                "engine": "postgres",
                "instanceClass": "db.t4g.micro",
                "storage": {"allocatedGiB": 20},
                "databaseName": "news",
                "masterUsername": "app",
                "deletionPolicy": "Delete"
            }
        });
        for (field, value) in spec.as_object().into_iter().flatten() {
            db["spec"][field] = value.clone();
        }
        let db: ManagedDatabase = serde_json::from_value(db).unwrap();
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
        Self {
            _moto: moto,
            op,
            databases,
            apps,
            deployments,
        }
    }
}

/// Merges `spec` into the spec of the database `newsread-db`.
async fn patch_database(databases: &Api<ManagedDatabase>, spec: serde_json::Value) {
    let patch = Patch::Merge(json!({ "spec": spec }));
    databases
        .patch("newsread-db", &PatchParams::default(), &patch)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rolled_out_tier_takes_an_image_fix_while_its_database_is_not_ready() {
    let shop = Shop::start(json!({
        "engineVersion": "16.4",
        "instanceClass": "db.r6g.large",
        "parameters": {"max_connections": "200", "work_mem": "4096"}
    }))
    .await;

    // A day-2 change keeps the database not Ready while its instance serves: moto has
    // no ResetDBParameterGroup, so removing a parameter is retried (a stand-in for a
    // backup or a modification).
    patch_database(&shop.databases, json!({"parameters": {"work_mem": null}})).await;
    eventually("the database is not Ready", || async {
        !database_ready(&shop.databases).await
    })
    .await;

    let fixed = "ghcr.io/acme/api:hotfix";
    shop.apps
        .patch(
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
    while api_image(&shop.deployments).await.as_deref() != Some(fixed) {
        assert!(
            Instant::now() < deadline,
            "the api tier's image fix was not applied in 20 s while its database was not Ready"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !database_ready(&shop.databases).await,
        "the database must still be not Ready, else this shows nothing"
    );
    shop.op.stop().await;
}

/// Found by the outside trial of session 9: an app whose database was being deleted
/// stayed Ready (Argo CD showed it Healthy) because its tier ran on the database's
/// current Secret, as in a day-2 window; once the database was gone the message said the
/// tier was "not rolled out" while its Deployment still ran. A deletion, unlike a day-2
/// window, does not end with the database back.
#[tokio::test]
async fn an_app_whose_database_is_being_deleted_is_not_ready() {
    let shop = Shop::start(json!({"deletionProtection": true})).await;
    crate::operator_tiered_app::mark_deployments_available(&shop.op.client).await;
    eventually_condition("the app is Ready", &shop.apps, "Ready", |c| c.0 == "True").await;

    // Deletion protection holds the ManagedDatabase with its deletionTimestamp set.
    shop.databases
        .delete("newsread-db", &DeleteParams::default())
        .await
        .unwrap();
    eventually_condition("the app is not Ready", &shop.apps, "Ready", |c| {
        c.0 == "False"
            && c.1 == "WaitingForDatabase"
            && c.2 == "tier api is rolled out, but ManagedDatabase newsread-db is being deleted"
    })
    .await;
    assert!(
        api_image(&shop.deployments).await.is_some(),
        "the tier keeps running"
    );

    // Once it is gone, the tier is held at its last rollout, not "not rolled out".
    patch_database(&shop.databases, json!({"deletionProtection": false})).await;
    eventually_condition("the app says the tier is held", &shop.apps, "Ready", |c| {
        c.0 == "False"
            && c.2 == "tier api is held at its last rollout: ManagedDatabase newsread-db does not exist"
    })
    .await;
    assert!(
        api_image(&shop.deployments).await.is_some(),
        "the tier keeps running"
    );
    shop.op.stop().await;
}
