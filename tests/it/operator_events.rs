//! What the TieredApp controller tells users through `events.k8s.io/v1` Events (created,
//! updated and pruned children, failures; never a secret value), and how it survives a
//! TieredApp that the API server accepted but the operator cannot read.

use crate::operator_tiered_app::{names, set_tiers};
use crate::support;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube_emulator::{Emulator, EmulatorOptions, Matcher};
use serde_json::json;
use support::moto::{MotoServer, aws_config};
use support::operator::{
    condition, events, eventually, eventually_event, has_event, launch, secret_text,
    start_with_aws, test_config, two_tier_app,
};
use tiered::api::{ManagedDatabase, TieredApp};

const NS: &str = "shop";

/// A ManagedDatabase `newsread-db`, provisioned in moto by the operator's own database
/// controller and Ready; returns the generated password from its connection Secret.
async fn ready_database(client: &kube::Client) -> String {
    let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), NS);
    let db: ManagedDatabase = serde_norway::from_str(&format!(
        r#"
apiVersion: tiered.io/v1alpha1
kind: ManagedDatabase
metadata: {{name: newsread-db, namespace: {NS}}}
spec:
  engine: postgres
  engineVersion: "16.4"
  instanceClass: db.r6g.large
  storage: {{allocatedGiB: 20}}
  databaseName: news
  masterUsername: app
  deletionPolicy: Delete
"#
    ))
    .unwrap();
    databases.create(&PostParams::default(), &db).await.unwrap();
    eventually("the database is Ready", || async {
        let db = databases.get("newsread-db").await.unwrap();
        db.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True")
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    secret_text(&secrets.get("newsread-db-connection").await.unwrap())["password"].clone()
}

/// No Event carries `password` (plain or base64), every Event is reported by tiered,
/// and the child Events are about the TieredApp.
fn assert_events_are_clean(events: &[Event], password: &str) {
    let encoded = serde_json::to_string(&ByteString(password.as_bytes().to_vec()))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    for event in events {
        let text = serde_json::to_string(event).unwrap();
        assert!(
            !text.contains(password) && !text.contains(&encoded),
            "an Event carries a secret: {text}"
        );
        assert_eq!(event.reporting_controller.as_deref(), Some("tiered"));
        // The ManagedDatabase controller runs in the same process and may report on the
        // database fixture; the child Events are the TieredApp's.
        if matches!(
            event.reason.as_deref(),
            Some("Created" | "Updated" | "Pruned" | "ApplyFailed")
        ) {
            let regarding = event.regarding.as_ref().unwrap();
            assert_eq!(
                (regarding.kind.as_deref(), regarding.name.as_deref()),
                (Some("TieredApp"), Some("newsread"))
            );
        }
    }
}

#[tokio::test]
async fn children_created_updated_and_pruned_and_failures_are_published_as_events_without_secrets()
{
    let moto = MotoServer::start();
    let op = start_with_aws(&[NS], &aws_config(&moto)).await;
    let password = ready_database(&op.client).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].database = Some(tiered::api::shared::LocalRef {
        name: "newsread-db".to_owned(),
    });
    let app = apps.create(&PostParams::default(), &app).await.unwrap();
    eventually("Created Events for both Deployments", || async {
        let events = events(&op.client, NS).await;
        has_event(&events, "Normal", "Created", "Deployment/newsread-api")
            && has_event(&events, "Normal", "Created", "Deployment/newsread-web")
    })
    .await;
    let created: Vec<_> = events(&op.client, NS)
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Created"))
        .collect();
    assert_eq!(
        created.len(),
        1,
        "one Created Event lists the app's children: {created:?}"
    );
    let note = created[0].note.clone().unwrap_or_default();
    assert!(note.starts_with("Created "), "{note}");
    assert!(
        note.contains("Service/newsread-api") && note.contains("Ingress/newsread-web"),
        "{note}"
    );

    let mut tiers = app.spec.tiers.clone();
    tiers[1].image = "ghcr.io/acme/api:2.0.0".to_owned();
    tiers.retain(|t| t.name != "web");
    set_tiers(&apps, &tiers).await;
    eventually("Updated and Pruned Events", || async {
        let events = events(&op.client, NS).await;
        has_event(&events, "Normal", "Updated", "Deployment/newsread-api")
            && has_event(&events, "Normal", "Pruned", "Deployment/newsread-web")
            && has_event(&events, "Normal", "Pruned", "Ingress/newsread-web")
    })
    .await;

    op.emulator
        .faults()
        .fail(Matcher::on("patch", "deployments"), 500, 2);
    tiers[0].image = "ghcr.io/acme/api:3.0.0".to_owned();
    set_tiers(&apps, &tiers).await;
    eventually_event(
        "a Warning Event for the failed apply",
        &op.client,
        NS,
        "Warning",
        "ApplyFailed",
        "failed to apply Deployment newsread-api",
    )
    .await;
    eventually(
        "the repeated failure is one Event with a series of two",
        || async {
            let failures: Vec<_> = events(&op.client, NS)
                .await
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("ApplyFailed"))
                .collect();
            failures.len() == 1 && failures[0].series.as_ref().is_some_and(|s| s.count == 2)
        },
    )
    .await;

    assert_events_are_clean(&events(&op.client, NS).await, &password);
    op.stop().await;
}

/// The TieredApp CRD with its spec schema opened up, as an older or hand-edited CRD
/// might be: the API server then stores specs the operator's types reject.
fn loose_tiered_app_crd() -> CustomResourceDefinition {
    let crd = tiered::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "TieredApp")
        .unwrap();
    let mut value = serde_json::to_value(crd).unwrap();
    for version in value["spec"]["versions"].as_array_mut().unwrap() {
        let schema = &mut version["schema"]["openAPIV3Schema"];
        schema["properties"]["spec"] =
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        // The root rules read spec.tiers; an old CRD had none.
        schema
            .as_object_mut()
            .unwrap()
            .remove("x-kubernetes-validations");
    }
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn a_tiered_app_the_operator_cannot_read_gets_a_warning_and_does_not_stop_the_others() {
    let emulator = Emulator::start(EmulatorOptions {
        namespaces: vec!["default".to_owned(), NS.to_owned()],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let client = emulator.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in tiered::api::crds() {
        let crd = if crd.spec.names.kind == "TieredApp" {
            loose_tiered_app_crd()
        } else {
            crd
        };
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let resource = ApiResource::erase::<TieredApp>(&());
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &resource);
    eventually("the TieredApp kind is served", || async {
        raw.list(&ListParams::default()).await.is_ok()
    })
    .await;
    let mut broken = DynamicObject::new("broken", &resource).within(NS);
    broken.data = json!({"spec": {"tiers": "web and api, please"}});
    raw.create(&PostParams::default(), &broken).await.unwrap();

    let operator = launch(client.clone(), test_config(&[NS])).await;
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    apps.create(&PostParams::default(), &two_tier_app(NS))
        .await
        .unwrap();
    eventually("the good app gets its children and conditions", || async {
        names::<Deployment>(&client).await.len() == 2
            && condition(&apps.get("newsread").await.unwrap(), "Ready").is_some()
    })
    .await;
    eventually("a Warning Event names the unreadable app", || async {
        events(&client, NS).await.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("InvalidObject")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("spec.tiers: "))
        })
    })
    .await;
    let stored = raw.get("broken").await.unwrap();
    let stalled = stored.data["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "Stalled"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(stalled["status"], "True", "{stored:?}");
    assert!(
        stalled["message"]
            .as_str()
            .is_some_and(|m| m.contains("spec.tiers: ")),
        "the Stalled message names the field: {stalled}"
    );
    assert!(
        names::<Deployment>(&client)
            .await
            .iter()
            .all(|name| name.starts_with("newsread-")),
        "nothing is built for the unreadable app"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let mut second = two_tier_app(NS);
    second.metadata.name = Some("later".to_owned());
    apps.create(&PostParams::default(), &second).await.unwrap();
    eventually("an app created afterwards is still reconciled", || async {
        deployments.get_opt("later-web").await.unwrap().is_some()
    })
    .await;
    assert!(!operator.task.is_finished(), "the controller keeps running");
    operator.stop().await;
}
